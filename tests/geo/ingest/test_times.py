"""Times of day on import: time ranges in the time cell or in end columns, unknown times, bad ranges,
the stored columns (SQLite and PostgreSQL) and the migration's rule for rows stored before them."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from alembic import command
from sqlalchemy import text

from geo import analysis
from geo.errors import InputError
from geo.ingest.importer import import_file
from geo.store.models import alembic_config
from tests.conftest import DATA, NOW


def stored(engine) -> pd.DataFrame:
    with engine.connect() as conn:
        df = pd.read_sql(text("SELECT external_id, occurred_at, occurred_to, time_known, local_hour, local_weekday "
                              "FROM incident ORDER BY external_id"), conn)
    for c in ("occurred_at", "occurred_to"):
        df[c] = pd.to_datetime(df[c].map(lambda v: None if v is None else str(v)), utc=True, format="ISO8601")
    return df.set_index("external_id")


def utc(text_or_none):
    return pd.NaT if text_or_none is None else pd.Timestamp(text_or_none, tz="UTC")


# id: (start UTC, end UTC, time known, local hour, local weekday), worked out by hand (local = UTC + 7)
EXPECTED = {
    "T01": ("2025-03-10 15:00", "2025-03-10 23:00", True, 22, 0),   # Mon 22:00 → Tue 06:00
    "T02": ("2025-03-11 15:00", "2025-03-11 23:00", True, 22, 1),
    "T03": ("2025-03-12 15:00", "2025-03-12 23:00", True, 22, 2),   # "từ 22 giờ đến 6 giờ sáng"
    "T04": ("2025-03-13 07:30", "2025-03-13 09:00", True, 14, 3),   # 14h30, Đến giờ 16h
    "T05": ("2025-03-14 16:00", "2025-03-14 19:00", True, 23, 4),   # 23:00, Đến giờ 02:00 the next day
    "T06": ("2025-03-14 17:00", None, False, None, 5),               # no time: local midnight, unknown
    "T07": ("2025-03-16 01:15", None, True, 8, 6),
    "X01": ("2025-03-17 14:00", "2025-03-18 00:30", True, 21, 0),   # date and time cells, Đến ngày/Đến giờ
    "X02": ("2025-03-17 17:00", "2025-03-20 17:00", True, 0, 1),    # 18/03 to the end of 20/03
    "X03": ("2025-03-19 15:00", "2025-03-19 19:00", True, 22, 2),   # "22h-2h"
    "X04": ("2025-03-19 17:00", None, False, None, 3),
}


def test_ranges_unknown_times_and_stored_columns(engine):
    for name in ("times_ranges.csv", "times_ranges.xlsx"):
        r = import_file(engine, DATA / name, source="s", now=NOW)
        assert r.rejected == 0, r.rejects
    got = stored(engine)
    assert list(got.index) == sorted(EXPECTED)
    for ext, (start, end, known, hour, weekday) in EXPECTED.items():
        row = got.loc[ext]
        assert row.occurred_at == utc(start), ext
        assert (pd.isna(row.occurred_to) and end is None) or row.occurred_to == utc(end), ext
        assert bool(row.time_known) is known, ext
        assert (None if pd.isna(row.local_hour) else int(row.local_hour)) == hour, ext
        assert int(row.local_weekday) == weekday, ext


def test_the_aoristic_table_of_the_stored_ranges(engine):
    import_file(engine, DATA / "times_ranges.csv", source="s", now=NOW)
    res = analysis.hour_weekday(engine, boundary="hcmc-2025", start=dt.date(2025, 3, 10),
                                end=dt.date(2025, 3, 16), categories=())
    m = res["matrix"]
    assert (res["total"], res["unknown"]) == (7, 1)
    assert m.sum() == pytest.approx(6)
    # T01: Monday 22:00 to Tuesday 06:00, 8 hours: 1/8 each; T02 adds 1/8 to Tue 22–23, Wed 0–5
    assert m[0, 22] == pytest.approx(1 / 8) and m[1, 5] == pytest.approx(1 / 8)
    assert m[1, 22] == pytest.approx(1 / 8) and m[2, 0] == pytest.approx(1 / 8)
    # T04: Thursday 14:30–16:00, 90 minutes: 30 to 14h, 60 to 15h
    assert m[3, 14] == pytest.approx(1 / 3) and m[3, 15] == pytest.approx(2 / 3)
    # T05: Friday 23:00 to Saturday 02:00; T07 Sunday 08:15, a single time
    assert m[4, 23] == pytest.approx(1 / 3) and m[5, 1] == pytest.approx(1 / 3)
    assert m[6, 8] == 1.0


def test_bad_ranges_are_row_errors(engine):
    r = import_file(engine, DATA / "times_bad.csv", source="s", now=NOW)
    assert (r.accepted, r.rejected) == (1, 3)
    rej = r.rejects.set_index("row")
    assert rej.loc[3, "column"] == "Giờ xảy ra" and rej.loc[3, "value"] == "22h-25h"
    assert "22:00-06:00" in rej.loc[3, "reason"]  # the message shows the form expected
    assert rej.loc[4, "column"] == "Đến ngày" and "kết thúc" in rej.loc[4, "reason"]
    assert rej.loc[5, "column"] == "Đến giờ" and rej.loc[5, "value"] == "sáng"
    assert list(stored(engine).index) == ["B01"]


def test_a_file_of_bad_ranges_only_writes_nothing(engine, tmp_path):
    bad = pd.read_csv(DATA / "times_bad.csv", encoding="utf-8-sig", dtype=str).iloc[1:]
    path = tmp_path / "bad.csv"
    bad.to_csv(path, index=False)
    with pytest.raises(InputError, match="Giờ xảy ra"):
        import_file(engine, path, source="s", now=NOW)
    assert stored(engine).empty


def test_the_migration_fills_in_rows_stored_before(db_url, engine):
    import_file(engine, DATA / "times_ranges.csv", source="s", now=NOW)
    cfg = alembic_config(db_url)
    command.downgrade(cfg, "0010")
    command.upgrade(cfg, "head")
    got = stored(engine)
    # the rule: local time 00:00 → unknown; the ranges are gone with the column
    assert got["occurred_to"].isna().all()
    assert got["time_known"].astype(bool).to_dict() == {k: v[2] for k, v in EXPECTED.items() if k.startswith("T")}
    assert {k: None if pd.isna(v) else int(v) for k, v in got["local_hour"].items()} == {
        k: v[3] for k, v in EXPECTED.items() if k.startswith("T")}
    assert np.array_equal(got["local_weekday"].astype(int), [v[4] for k, v in EXPECTED.items() if k.startswith("T")])
