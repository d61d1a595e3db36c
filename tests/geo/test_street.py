"""Streets parsed from incident addresses as committees write them (hand-worked examples)."""
from __future__ import annotations

import pytest

from geo.names import main_street, spot_name, street_of


@pytest.mark.parametrize("address, street", [
    ("số 12 đường Quang Trung, Phường 10, Gò Vấp", "Quang Trung"),
    ("12 Quang Trung", "Quang Trung"),
    ("Đường Số 3", "Số 3"),
    ("45 đường số 3, Phường An Lạc", "Số 3"),
    ("QL1A", "QL1A"),
    ("Km 12 QL13", "QL13"),
    ("hẻm 12/3 Lê Văn Sỹ", "Lê Văn Sỹ"),
    ("123/4A Trần Hưng Đạo, Phường Cầu Ông Lãnh", "Trần Hưng Đạo"),
    ("12 Quang Trung P.10 Gò Vấp", "Quang Trung"),
    ("đ.Lê Lợi", "Lê Lợi"),
    ("12 Xa Lộ Hà Nội", "Xa Lộ Hà Nội"),
    ("so 12 duong quang trung", "Quang Trung"),
    ("Phường 7", None), ("xã Bình Chánh", None), ("12", None), ("", None), (None, None),
])
def test_street_of(address, street):
    assert street_of(address) == street


def test_main_street_compares_folded_and_writes_it_as_most_do():
    assert main_street(["1 Quang Trung", "2 quang trung", "3 Quang Trung", "4 Lê Lợi", "5 Lê Lợi", None]) \
        == "Quang Trung"
    assert main_street(["Phường 7", None]) is None


def test_spot_name_translates_the_frame_only():
    assert spot_name("Quang Trung", "Phường 10 (Gò Vấp)", 3, "vi") == "Khu vực đường Quang Trung, Phường 10 (Gò Vấp)"
    assert spot_name("Quang Trung", "Phường 10 (Gò Vấp)", 3, "en") == "Area of Quang Trung street, Phường 10 (Gò Vấp)"
    assert spot_name("", "Phường 10", 3, "vi") == "Khu vực Phường 10"
    assert spot_name(None, None, 3, "vi") == "Điểm 3"
