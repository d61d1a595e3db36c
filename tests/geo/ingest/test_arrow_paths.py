"""CSV files are read by pyarrow and checked in Arrow memory: the same rows, values and rejects as
pandas' parser and the rules over Python objects (the cells as a workbook gives them)."""
from __future__ import annotations

import csv
import io

import numpy as np
import pandas as pd
import pytest

import geo.ingest.parsing as parsing
from geo.ingest.importer import _extent, _ward_indexes, load_versions
from geo.ingest.parsing import RawTable, is_arrow_text, read_table
from geo.ingest.validate import validate
from geo.store.models import make_engine
from tests.conftest import DATA, NOW

CSV_FILES = ["incidents_good.csv", "incidents_bad.csv", "incidents_all_bad.csv", "incidents_cp1258.csv",
             "incidents_utf16.txt", "incidents_vn2000.csv", "police_rejects_cp1258.csv", "police_swapped.csv",
             "police_vn2000_tm3.csv", "times_bad.csv", "times_ranges.csv"]

HEADER = ["Mã vụ", "Ngày xảy ra", "Giờ", "Đến giờ", "Loại tội phạm", "Mức độ", "Đã khám phá", "Kinh độ", "Vĩ độ",
          "Địa chỉ", "Phường/Xã", "Quận/Huyện"]
DATES = ["15/03/2024 14:30", "15/03/2024", "31/02/2024", "1/3/2024", "01/3/2024 7:05", "2024-03-15",
         "2024-03-15T10:00:00+07:00", "45370", "45370,75", "15-03-2024 14h30", "15.03.2024", " 15/03/2024 ",
         "15/03/1899", "15/03/2099", "", "   ", "\u300015/03/2024", "abc", "00/01/2024", "15/13/2024",
         "15/03/2024 24:00", "15/03/2024 23:60", "15/03/0999", "29/02/2023", "29/02/2024 00:00", "١٥/٠٣/٢٠٢٤"]
TIMES = ["", "07:05", "7:05", "24:00", "23:59", "14h30", "6h sáng", "22:00-06:00", "từ 22 giờ đến 6 giờ", "0.5",
         "abc", "12:5", " 08:00 ", "08:00:30", "０８:００"]
CATEGORIES = ["Trộm cắp tài sản", "Cướp giật tài sản", "Tai nạn giao thông", "", "  trộm cắp tài sản "]
SEVERITIES = ["", "1", "Nghiêm trọng", "rất rất nặng", "4"]
CLEARED = ["", "Có", "Không", "có lẽ"]
PLACES = [("106.6981", "10.7725"), ("106,6981", "10,7725"), ("10.7725", "106.6981"), ("", ""), ("abc", "10.77"),
          ("nan", "10.7725"), ("1e2", "10.77"), (" 106.6981 ", "10.7725"), ("106.6981", ""), ("+106.6981", "10.7725"),
          ("106.", "10.77"), ("106.6981e0", ".5"), ("inf", "10.77"), ("１０６.６９８１", "10.7725")]
ADDRESSES = ["1 Lê Lợi", '=HYPERLINK("x")', "'=1+2", "a\x00b", "x" * 300, "", "  ", "1 Lê Lợi\nQuận 1", "'-5 Nguyễn Huệ"]
WARDS = [("", ""), ("Phường Bến Thành", ""), ("Phường 1", "Quận Gò Vấp"), ("26743", "")]


def varied_csv(path, rows=2000, seed=3):
    """A file whose cells take every spelling the rules know, and mistakes."""
    rng = np.random.default_rng(seed)
    pick = lambda pool: pool[rng.integers(len(pool))]  # noqa: E731
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(HEADER)
    for i in range(rows):
        lon, lat = pick(PLACES)
        ward, district = pick(WARDS)
        ident = f"T{i}" if i % 97 else ("" if i % 2 else "T5")  # a missing and a duplicate id
        address = pick(ADDRESSES)
        if "\x00" in address and i < 100:  # a NUL in the first bytes makes the file binary
            address = ADDRESSES[0]
        w.writerow([ident, pick(DATES), pick(TIMES), pick(TIMES), pick(CATEGORIES), pick(SEVERITIES), pick(CLEARED),
                    lon, lat, address, ward, district])
    path.write_text(out.getvalue(), encoding="utf-8")
    return path


def objects(frame: pd.DataFrame) -> pd.DataFrame:
    """Every column as Python objects, every missing value as None."""
    return pd.DataFrame({c: pd.Series(frame[c].to_numpy(dtype=object, na_value=None), dtype=object)
                         for c in frame.columns})


def as_objects(raw):
    """``raw`` with its text columns as Python objects, as the rules read a workbook's cells."""
    out = RawTable(objects(raw.frame).astype({"_row": np.int64}), raw.columns, raw.unknown, raw.name, raw.crs,
                   raw.limits, raw.original, raw.layout)
    out.crs_conflict = raw.crs_conflict
    return out


def same(a: pd.DataFrame, b: pd.DataFrame):
    pd.testing.assert_frame_equal(objects(a), objects(b))


@pytest.fixture(scope="module")
def loaded(store_template):
    eng = make_engine(f"sqlite:///{store_template}")
    with eng.connect() as conn:
        versions = load_versions(conn)
    eng.dispose()
    return _extent(versions), _ward_indexes(versions)


@pytest.mark.parametrize("name", CSV_FILES + ["varied"])
def test_pyarrow_reads_the_file_as_pandas_does(name, tmp_path, monkeypatch):
    path = varied_csv(tmp_path / "varied.csv") if name == "varied" else DATA / name
    arrow = read_table(path)
    assert all(is_arrow_text(arrow.frame[c]) for c in arrow.columns)
    monkeypatch.setattr(parsing, "_arrow_csv", lambda *a: None)  # pandas' C parser reads every file
    pandas = read_table(path)
    same(arrow.frame, pandas.frame)
    same(arrow.original, pandas.original)
    assert (arrow.columns, arrow.unknown, arrow.layout, arrow.crs) == (pandas.columns, pandas.unknown,
                                                                       pandas.layout, pandas.crs)


def test_pyarrow_leaves_irregular_files_to_pandas(tmp_path):
    """Short rows (padded by pandas) and wide rows (refused) are pandas' to read."""
    short = tmp_path / "short.csv"
    short.write_text("Mã vụ,Ngày xảy ra,Loại tội phạm,Kinh độ,Vĩ độ\nA1,15/03/2024,Trộm cắp tài sản,106.6981\n"
                     "A2,15/03/2024,Trộm cắp tài sản,106.6981,10.7725\n", encoding="utf-8")
    raw = read_table(short)
    assert raw.frame["lat"].isna().tolist() == [True, False]
    assert parsing._arrow_csv(short.read_bytes(), 0, 5, ",") is None


@pytest.mark.parametrize("name", CSV_FILES + ["varied"])
def test_arrow_checks_give_what_the_rules_over_objects_give(name, tmp_path, loaded):
    extent, wards = loaded
    path = varied_csv(tmp_path / "varied.csv") if name == "varied" else DATA / name
    raw = read_table(path)
    fast = validate(raw, extent=extent, wards=wards, now=NOW)
    slow = validate(as_objects(raw), extent=extent, wards=wards, now=NOW)
    same(fast.rows, slow.rows)
    pd.testing.assert_frame_equal(fast.rejects, slow.rejects)
    assert fast.warnings == slow.warnings
    if name == "varied":  # the file reaches every rule: accepted rows and rejects of each kind
        assert len(fast.rows) > 100 and fast.rejects["column"].nunique() >= 10
        assert fast.rows["time_known"].any() and fast.rows["occurred_to"].notna().any()
