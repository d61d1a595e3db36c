"""No user text is ever run: template, formula and HTML payloads in every field a user can write
(ward names and codes, boundary titles, incident rows, committee records, user and token names)
show as literal text on every page, in every map script and in every download."""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import zipfile
from urllib.parse import urlencode

import folium
import geopandas as gpd
import markupsafe
import openpyxl
import pandas as pd
import pytest
import shapely
from shapely.geometry import box
from sqlalchemy import text as sql

from geo.errors import InputError
from geo.ingest import boundaries as gb
from geo.ingest import demo
from geo.ingest.importer import import_file
from geo.render import maps
from geo.store.accounts import create_user, new_token
from geo.store.queries import load_areas
from tests.conftest import SHARED_BOUNDARIES, signed_in
from web import engine

FORMULA = '=HYPERLINK("http://x","y")'
CALC, STMT = "{{7*7}}", "{% if 1 %}x{% endif %}"
RCE = "{{ lipsum.__globals__.os.popen('echo PWNED').read() }}"
HTML = "<script>alert(1)</script>"
#: Printed by the shell if RCE ever ran; the payload itself only ever says "echo PWNED" (in a link's
#: query string "echo+PWNED" or "echo%20PWNED").
RAN = re.compile(r"(?<!echo )(?<!echo\+)(?<!echo%20)PWNED")


def mix(tag: str) -> str:
    """Every payload in one value, marked with ``tag``; it starts like a formula."""
    return f"{FORMULA} #{tag} {CALC} {STMT} {RCE} {HTML}"


def short(tag: str) -> str:
    """The formula and the two template payloads, for the fields of at most 100 characters
    (incident ids and sources, token names)."""
    return f"{FORMULA} #{tag} {CALC} {RCE}"


def plain(tag: str, value=mix) -> str:
    """The part of ``value(tag)`` that no HTML, JSON or JavaScript encoding changes: if a template
    engine had evaluated the value, this text would be gone (``49``, ``x``, the command's output)."""
    return " #" + value(tag).split(" #", 1)[1].split("'")[0]


#: Ward codes are at most 32 characters (programme and plan unit codes): one payload each.
SHORT = [CALC, STMT, FORMULA, HTML]
#: A user name is at most 64 characters: the two template payloads.
USERNAME = CALC + RCE
#: A boundary version name is at most 64 characters.
VERSION = f"{CALC} {STMT} {HTML}#v"


def _layer(tmp_path):
    """Eleven real wards of central Hồ Chí Minh City with hostile names, codes and districts."""
    raw = gpd.read_file(SHARED_BOUNDARIES / "hcmc_wards_2025.geojson")
    wards = raw[raw.intersects(box(106.685, 10.755, 106.71, 10.785))].reset_index(drop=True)
    assert len(wards) == 11
    layer = gpd.GeoDataFrame({"code": [f"{SHORT[i % 4]}c{i}" for i in range(len(wards))],
                              "name": [mix(f"w{i}") for i in range(len(wards))],
                              "district": [mix("district")] * len(wards)},
                             geometry=wards.geometry.values, crs=raw.crs)
    path = tmp_path / "evil.geojson"
    layer.to_file(path, driver="GeoJSON")
    return gb.read_layer(path, gb.FieldMap(parent_name="district"))


def _incidents(tmp_path, areas):
    """Synthetic incidents in those wards with hostile ids, categories, addresses and descriptions,
    and two rows that are rejected with their hostile cells."""
    records, _truth = demo.generate(areas, n=2500, start=dt.date(2023, 1, 1), end=dt.date(2025, 12, 31), seed=7)
    records = records.reset_index(drop=True)
    records["Mã vụ"] = [short(f"i{i}") for i in range(len(records))]
    records["Địa chỉ"] = mix("address")
    records["Mô tả"] = mix("description")
    records.loc[records.index % 50 == 0, "Loại tội phạm"] = mix("category")
    bad = records.iloc[:2].copy()
    bad["Mã vụ"] = [short("bad-a"), short("bad-b")]
    bad["Thời gian xảy ra"] = mix("rejected-date")
    path = tmp_path / "evil.csv"
    demo.write_csv(pd.concat([records, bad], ignore_index=True), path)
    return path


@pytest.fixture
def evil_app(app, engine, tmp_path):
    areas = _layer(tmp_path)
    gb.save_version(engine, areas, VERSION, title=mix("title"), attribution=mix("attribution"),
                    valid_from="2020-01-01")
    result = import_file(engine, _incidents(tmp_path, load_areas(engine, VERSION)), source=short("source"),
                         display_name=mix("file"), imported_by="analyst")
    assert result.accepted > 2000 and result.rejected == 2
    create_user(engine, USERNAME, "committee", password="correct horse battery")
    new_token(engine, "analyst", name=short("token"))
    app.config["WTF_CSRF_ENABLED"] = False
    return app, areas, result


def _committee_records(c, areas):
    """A plan, a ward and a drawn area selected with hostile texts, two failed years (a flag),
    a programme status; all through the committee's forms."""
    res = c.post("/committee/plans", data={"year": "2024", "level": "city", "boundary": VERSION,
                                           "unit_code": SHORT[0] + "u", "unit_name": mix("unit"),
                                           "title": mix("plan")})
    assert res.status_code == 302, res.get_data(as_text=True)
    plan_id = int(res.headers["Location"].rsplit("/", 1)[1])
    drawn = shapely.geometry.mapping(box(106.690, 10.765, 106.700, 10.775))
    res = c.post(f"/committee/plans/{plan_id}/select",
                 data={"choice": [f"ward:{areas['code'][0]}"], "target_pct": "10",
                       "responsible_unit": mix("unit-responsible"), "decided_by": mix("decided-by"),
                       "decided_on": "2024-02-01", "reason": mix("reason"), "polygon_name": mix("polygon"),
                       "polygon": json.dumps({"type": "Feature", "properties": {}, "geometry": drawn})})
    assert res.status_code == 302
    from geo.committee import areas as cm

    with c.application.app_context():
        area_ids = [a.id for a in cm.plan_areas(engine(), plan_id)]
    for area_id in area_ids:
        for year in (2024, 2025):
            res = c.post(f"/committee/areas/{area_id}/assessments",
                         data={"year": str(year), "result": "khong_dat", "note": mix("note")})
            assert res.status_code == 302
    res = c.post("/committee/programmes", data={"boundary": VERSION, "unit_code": areas["code"][1],
                                                "programme": mix("programme"), "phase": f"{CALC} {STMT} #phase",
                                                "status": "in_progress", "note": mix("programme-note")})
    assert res.status_code == 302
    return plan_id, area_ids


PAGES = ("overview", "hotspots", "compare", "trends", "complex", "forecast")
#: The pages whose downloaded table lists the wards by name.
NAMED_TABLES = ("overview", "compare", "complex")


def _csv(body: bytes) -> list[list[str]]:
    assert body.startswith("\ufeff".encode())
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))


def _number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def _check_csv_cells(rows: list[list[str]]) -> set[str]:
    """No cell a spreadsheet would run; returns the cells."""
    cells = {c for row in rows for c in row}
    for c in cells:
        assert not c.startswith(("=", "+", "@", "\t", "\r")), c
        assert not c.startswith("-") or _number(c), c
    return cells


def test_payloads_are_shown_as_text_everywhere(evil_app):
    app, areas, result = evil_app
    plan_id, area_ids = _committee_records(signed_in(app, USERNAME), areas)
    tag_of = {code: name.split(" #")[1].split(" ")[0] for code, name in zip(areas["code"], areas["name"])}
    wards = set(tag_of.values())
    q = urlencode({"boundary": VERSION, "period": "2024"})
    user = str(markupsafe.escape(USERNAME))
    expected = {  # url -> (tags whose value it shows, shows the hostile user name)
        "/": ({"title", "attribution"}, False),
        "/admin/import": ({"file"}, False),
        "/admin/audit": ({"polygon", "note", "programme"}, True),
        **{f"/map/{p}?{q}": ({"title"}, False) for p in PAGES},
        **{f"/maps/{p}.js?{q}": (wards, False) for p in PAGES},
        "/committee/": ({"plan", "title"}, True),
        f"/committee/plans/{plan_id}": ({"plan", "unit", "polygon", "reason", "decided-by", "unit-responsible",
                                         tag_of[areas["code"][0]]}, True),
        **{f"/committee/areas/{a}": ({"plan", "reason", "decided-by", "unit-responsible", "note"}, True)
           for a in area_ids},
        "/committee/flags": ({"polygon", tag_of[areas["code"][0]]}, False),
        "/committee/flags.js": ({"polygon", tag_of[areas["code"][0]]}, False),
        "/committee/programmes": ({"programme", "programme-note", tag_of[areas["code"][1]]}, True),
        f"/committee/report?{q}": (wards | {"district", "title"}, False),
    }
    admin = signed_in(app, "admin")
    for url, (tags, shows_user) in expected.items():
        res = admin.get(url)
        text = res.get_data(as_text=True)
        assert res.status_code == 200, url
        assert not RAN.search(text), url
        for tag in tags:
            assert plain(tag) in text, (url, tag)
        assert (user in text) == shows_user, url
    assert f"{CALC} {STMT} #phase" in admin.get("/committee/programmes").get_data(as_text=True)
    assert str(markupsafe.escape(VERSION)) in admin.get(f"/map/overview?{q}").get_data(as_text=True)
    for url in ("/", "/admin/import"):
        assert plain("source", short) in admin.get(url).get_data(as_text=True), url
    assert plain("token", short) in signed_in(app, "analyst").get("/account").get_data(as_text=True)
    # incident rows: kept as written; viewers see aggregates only, so no page shows them
    with app.app_context(), engine().connect() as conn:
        row = conn.execute(sql("SELECT external_id, source, address, description FROM incident "
                               "WHERE category_raw = :c"), {"c": mix("category")}).first()
    assert row is not None and (row.source, row.address, row.description) == (
        short("source"), mix("address"), mix("description")) and row.external_id.startswith(FORMULA)
    assert any(plain("category") in w for w in result.warnings)   # "filed as 'Khác'", on the import page

    # downloads: GeoJSON holds the names exactly, CSV cells are quoted, pictures are drawn
    names = {mix(t) for t in wards}
    for page in PAGES:
        res = admin.get(f"/export/{page}.geojson?{q}")
        assert res.status_code == 200 and not RAN.search(res.get_data(as_text=True))
        assert {f["properties"]["name"] for f in res.get_json()["features"]} == names
        res = admin.get(f"/export/{page}.csv?{q}")
        assert res.status_code == 200, page
        cells = _check_csv_cells(_csv(res.data))
        if page in NAMED_TABLES:
            assert {"'" + n for n in names} <= cells, page
        for fmt, magic in (("png", b"\x89PNG"), ("pdf", b"%PDF")):
            res = admin.get(f"/export/{page}.{fmt}?{q}")
            assert res.status_code == 200 and res.data.startswith(magic), (page, fmt)
    res = admin.get(f"/committee/report.csv?{q}")
    cells = _check_csv_cells(_csv(res.data))
    assert {"'" + n for n in names} | {"'" + mix("district")} <= cells
    assert {"'" + c for c in areas["code"] if c.startswith("=")} <= cells
    res = admin.get(f"/committee/report.pdf?{q}")
    assert res.status_code == 200 and res.data.startswith(b"%PDF")

    # the XLSX has text cells only where text was given, and no formula anywhere
    res = admin.get(f"/committee/report.xlsx?{q}")
    assert res.status_code == 200
    with zipfile.ZipFile(io.BytesIO(res.data)) as z:
        sheets = [n for n in z.namelist() if n.startswith("xl/worksheets/")]
        assert len(sheets) == 4 and not any("<f>" in z.read(n).decode() or "<f " in z.read(n).decode()
                                            for n in sheets)
    wb = openpyxl.load_workbook(io.BytesIO(res.data))
    values = set()
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (ws.title, cell.coordinate, cell.value)
                if isinstance(cell.value, str) and cell.value.startswith("="):
                    assert cell.data_type == "s" and cell.quotePrefix, cell.coordinate
                values.add(cell.value)
    assert names | {mix("district")} <= values
    assert mix("title") in values   # the header block names the version by its title, as text
    from geo.committee.report import XLSX_TABLE_ROW

    ws = wb.worksheets[0]
    head = [c.value for c in ws[XLSX_TABLE_ROW]]
    column = head.index("Vụ việc") + 1   # incidents
    counts = [r[0] for r in ws.iter_rows(min_row=XLSX_TABLE_ROW + 1, min_col=column, max_col=column, values_only=True)
              if r[0] is not None]
    assert counts and all(isinstance(v, int) for v in counts)

    # the rejected rows: the file's cells quoted, also for rows stored before they were quoted
    res = admin.get(f"/admin/import/{result.batch_id}/rejected.csv")
    rows = _csv(res.data)  # the file's own columns, then the row and the reasons in the importer's language
    assert rows[0][-2:] == ["Dòng trong tệp gốc", "Lý do bị từ chối"] and len(rows) == 3
    date_col = rows[0].index("Thời gian xảy ra")
    assert [r[date_col] for r in rows[1:]] == ["'" + mix("rejected-date")] * 2
    _check_csv_cells(rows)
    with app.app_context(), engine().begin() as conn:
        raw = result.rejects.to_csv(index=False)       # as a batch stored earlier held them
        conn.execute(sql("UPDATE import_batch SET rejected_csv = :t, rejected_format = '' WHERE id = :i"),
                     {"t": raw, "i": result.batch_id})
    again = _csv(admin.get(f"/admin/import/{result.batch_id}/rejected.csv").data)
    assert again[0] == ["row", "column", "value", "reason"]   # such a batch keeps the header it stored
    assert [r[2] for r in again[1:]] == ["'" + mix("rejected-date")] * 2


def test_cli_rejected_rows_file_is_formula_safe(app, tmp_path):
    rows = tmp_path / "rows.csv"
    with rows.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["Mã vụ", "Ngày xảy ra", "Loại tội phạm", "Kinh độ", "Vĩ độ"])
        w.writerow(["A1", "15/03/2024", "Trộm cắp tài sản", "106.695", "10.775"])
        w.writerow([short("cli-id"), FORMULA, "Trộm cắp tài sản", "106.695", "10.775"])
        w.writerow(["A3", "15/03/2024", "Trộm cắp tài sản", "@SUM(1)", "-3"])
    out = tmp_path / "rejected.csv"
    res = app.test_cli_runner().invoke(args=["import-incidents", str(rows), "--source", short("cli"),
                                             "--rejects-out", str(out)])
    assert res.exit_code == 0, res.output
    got = _csv(out.read_bytes())  # the file's rows as they were, formula-safe, then the row and the reasons
    assert [r[:6] for r in got[1:]] == [["'" + short("cli-id"), "'" + FORMULA, "Trộm cắp tài sản", "106.695", "10.775", "3"],
                                        ["A3", "15/03/2024", "Trộm cắp tài sản", "'@SUM(1)", "'-3", "4"]]
    _check_csv_cells(got)


# --------------------------------------------------------------------------- the pieces

def _map_with(name: str) -> dict:
    from tests.conftest import small_wards, static_url

    g = small_wards()
    g.loc[0, "name"] = name
    m = maps.base_map(g.total_bounds, static_url=static_url)
    out = maps.choropleth(m, g, "count", tooltip_fields=[("name", name)], legend_title=name)
    maps.outlines(m, g, lines=False, layer=out["layer"])
    maps.spots(m, g.iloc[:2].assign(spot_id=[1, 2]), tooltip_fields=[("name", name)])
    maps.points(m, g.assign(lon=106.61, lat=10.71)[["lon", "lat", "name"]], tooltip_fields=[("name", name)])
    return maps.parts(m)


def test_map_text_is_never_compiled_as_a_template():
    neutral = _map_with("QQQQ")
    for name in (CALC, STMT, "{%", "{{", "{#", "{% raw %}", "{% endraw %}", "{{ x }"):
        got = _map_with(name)
        assert got["script"] == neutral["script"].replace("QQQQ", name), name   # only the name differs
        assert got["html"] == neutral["html"], name
    script = _map_with(RCE)["script"]
    assert "lipsum.__globals__.os.popen(" in script and not RAN.search(script)


def test_an_element_folium_renders_its_own_way_is_refused():
    from tests.conftest import small_wards, static_url

    m = maps.base_map(small_wards().total_bounds, static_url=static_url)
    folium.Marker([10.71, 106.61], popup=CALC).add_to(m)   # folium.Popup renders Element(text)
    with pytest.raises(InputError, match=r"Popup renders itself .*geo.render.maps._BEFORE"):
        maps.parts(m)


def test_xlsx_cells_keep_text_as_text_and_numbers_as_numbers():
    from geo.render.exports import safe_cell, xlsx_cell

    ws = openpyxl.Workbook().active
    given = [FORMULA, "+1", "-3", -3, 2.5, "#N/A", "\uff1d1+1", "a\x01b", None]
    cells = [xlsx_cell(ws, 1, j, v) for j, v in enumerate(given, start=1)]
    assert [c.data_type for c in cells] == ["s", "s", "s", "n", "n", "s", "s", "s", "n"]
    assert [c.value for c in cells] == [FORMULA, "+1", "-3", -3, 2.5, "#N/A", "\uff1d1+1", "ab", None]
    assert [bool(c.quotePrefix) for c in cells] == [True, True, True, False, False, False, True, False, False]
    assert [safe_cell(v) for v in given[:4]] == ["'" + FORMULA, "'+1", "'-3", -3]
    assert safe_cell("\uff20SUM(1)") == "'\uff20SUM(1)" and safe_cell("Phường 1") == "Phường 1"
