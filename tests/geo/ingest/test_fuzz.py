"""Property-based checks of the file readers: any input is imported or refused cleanly."""
from __future__ import annotations

import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geo.errors import InputError
from geo.ingest.importer import import_file
from tests.conftest import NOW, table_counts

SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
HEADER = "Mã vụ,Ngày xảy ra,Giờ,Loại tội phạm,Mức độ,Đã khám phá,Kinh độ,Vĩ độ,Phường/Xã,Quận/Huyện"
cell = st.one_of(
    st.text(alphabet=string.printable + "ạđươăâêôơưĐàáảãấầẩẫậ,\";\t", max_size=12),
    st.sampled_from(["15/03/2024", "2024-03-15T10:00:00+07:00", "45370", "106.6981", "10,7725", "Phường 1",
                     "Trộm cắp tài sản", "Có", "Không", "26743", "=cmd|' /C calc'!A0", "1e308", "nan", "-0"]))


def _check(engine, path):
    before = table_counts(engine)
    try:
        r = import_file(engine, path, source="fuzz", now=NOW)
    except InputError:
        assert table_counts(engine) == before  # refused: nothing written
        return
    after = table_counts(engine)
    assert after["import_batch"] == before["import_batch"] + 1
    assert after["incident"] - before["incident"] == r.accepted


@SETTINGS
@given(data=st.binary(max_size=2000))
def test_any_bytes(engine, tmp_path_factory, data):
    path = tmp_path_factory.mktemp("fuzz") / "f.csv"
    path.write_bytes(data)
    _check(engine, path)


@SETTINGS
@given(rows=st.lists(st.lists(cell, min_size=0, max_size=12), max_size=8))
def test_any_rows_under_a_real_header(engine, tmp_path_factory, rows):
    import csv
    import io

    buf = io.StringIO()
    buf.write(HEADER + "\n")
    csv.writer(buf).writerows(rows)
    path = tmp_path_factory.mktemp("fuzz") / "rows.csv"
    path.write_text(buf.getvalue(), encoding="utf-8")
    _check(engine, path)


@SETTINGS
@given(data=st.binary(max_size=3000))
def test_any_bytes_as_excel_or_geojson(engine, tmp_path_factory, data):
    for suffix, prefix in ((".xlsx", b"PK\x03\x04"), (".geojson", b"{")):
        path = tmp_path_factory.mktemp("fuzz") / f"f{suffix}"
        path.write_bytes(prefix + data)
        _check(engine, path)
