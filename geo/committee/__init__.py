"""The committee's work: transformation plans, decisions, assessments, flags, programmes, reports.

Every year a crime-prevention committee (Ban Chỉ đạo 138 of the city, of a district
before 1 July 2025, or of a ward after) adopts a plan "chuyển hóa địa bàn trọng
điểm, phức tạp về trật tự, an toàn xã hội": it selects wards, or smaller spots,
and a year later assesses each one as transformed ("đạt") or not ("không đạt").
Areas that fail several years running ("nhiều năm liền") get special attention,
and a transformed area must not become complex again ("tái phức tạp").

One module per part of that work; import from the module that holds the function:

* :mod:`~geo.committee.plans` — a year's plan of a unit, its scope, the years to assess;
* :mod:`~geo.committee.candidates` — wards and DBSCAN spots ranked over the base year;
* :mod:`~geo.committee.areas` — the selected areas (ward, spot, drawn polygon) and the decisions;
* :mod:`~geo.committee.evidence` — incidents inside an area, the change in words, still hot or not;
* :mod:`~geo.committee.assessments` — the proposal of the data and the recorded result per year;
* :mod:`~geo.committee.flags` — repeat failures and relapses;
* :mod:`~geo.committee.programmes` — programme statuses per ward and phase;
* :mod:`~geo.committee.report` — the periodic report against cùng kỳ and its XLSX, CSV and PDF;
* :mod:`~geo.committee._checks` — the form checks and the audit hook the writers share.

Nothing is overwritten: a correction inserts a row whose ``supersedes_id`` names the
row it replaces, and the current value is the newest row. Writers take
``on_write(conn, action, target, detail)``, called inside the same transaction, so that
the web layer puts the change in the audit log atomically. Nothing here knows Flask;
texts for people come from the catalogue in the user's language (:mod:`geo.format`).
"""
