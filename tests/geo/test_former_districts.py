"""geo.scope on the real boundaries: a former district's units through the crosswalk and through the polygons."""
from __future__ import annotations

import shutil

import geopandas as gpd
import pandas as pd
import pytest

from clustering.errors import InputError as StatisticsError
from geo import errors, scope
from geo.errors import InputError
from geo.store.models import make_engine
from tests.conftest import SHARED_BOUNDARIES

GO_VAP, DISTRICT_1 = "764", "760"


@pytest.fixture
def eng(store_template, tmp_path):
    path = tmp_path / "store.db"
    shutil.copyfile(store_template, path)
    return make_engine(f"sqlite:///{path}")


def overlay_shares(district_code: str) -> pd.Series:
    """The reference: each 2025 ward's share of area inside the district's 2019 wards, computed
    from the shipped files in UTM 48N (EPSG:32648), independently of the store."""
    old = gpd.read_file(SHARED_BOUNDARIES / "hcmc_wards_2019.geojson").to_crs(32648)
    new = gpd.read_file(SHARED_BOUNDARIES / "hcmc_wards_2025.geojson").to_crs(32648).set_index("code")
    share = new.geometry.intersection(old[old["district_code"] == district_code].union_all()).area / new.geometry.area
    return share[share > 0]


@pytest.mark.parametrize("district", [GO_VAP, DISTRICT_1])
def test_former_district_units_equal_an_independent_overlay(eng, district):
    ref = overlay_shares(district)
    expected = sorted(ref.index[ref >= 0.5])
    assert scope.former_units(eng, "hcmc-2025", "hcmc-2019", district) == expected
    polygons = scope.former_shares(eng, "hcmc-2025", "hcmc-2019", district, how="polygons")
    crosswalk = scope.former_shares(eng, "hcmc-2025", "hcmc-2019", district, how="crosswalk")
    # the polygon path is the overlay itself
    pd.testing.assert_series_equal(polygons.loc[expected], ref.loc[expected], check_names=False, atol=1e-6)
    # the crosswalk (shares of the old wards' areas, pairs under 1 % dropped) agrees within a few
    # percent: the thinned 2019 rings overlap, so the shares of old areas may add up to a bit more
    assert sorted(crosswalk.index[crosswalk >= 0.5]) == expected
    assert (crosswalk.loc[expected] - polygons.loc[expected]).abs().max() < 0.07


def test_go_vap_became_six_wards(eng):
    units = scope.former_units(eng, "hcmc-2025", "hcmc-2019", GO_VAP)
    assert units == ["26876", "26878", "26882", "26884", "26890", "26898"]
    # on its own version a district is its 16 wards
    assert len(scope.former_units(eng, "hcmc-2019", "hcmc-2019", GO_VAP)) == 16


def test_describe_in_both_languages(eng):
    units = scope.former_units(eng, "hcmc-2025", "hcmc-2019", GO_VAP)
    spec = f"hcmc-2019:{GO_VAP}"
    assert scope.describe(eng, "hcmc-2025", units, spec, locale="vi") == "địa bàn quận Gò Vấp cũ (6 phường)"
    assert scope.describe(eng, "hcmc-2025", units, spec, locale="en") == "the former quận Gò Vấp area (6 wards)"
    assert scope.describe(eng, "hcmc-2025", ["26743", "26737", "27610"], locale="vi") == \
        "3 phường, xã: Phường Bến Thành, Phường Tân Định, Xã Bình Lợi"
    assert scope.describe(eng, "hcmc-2025", (), locale="vi") == "toàn Thành phố Hồ Chí Minh"
    assert scope.describe(eng, "hcmc-2019", (), locale="vi") == "toàn địa bàn"


def test_unit_choices_fold_names_and_tell_same_names_apart(eng):
    rows = scope.unit_choices(eng, "hcmc-2019")
    names = [n for _c, n, _f in rows]
    assert len(names) == 322 and len(set(names)) == 322
    folded = dict((c, f) for c, _n, f in scope.unit_choices(eng, "hcmc-2025"))
    assert "ben thanh" in folded["26743"]


@pytest.mark.parametrize("spec, words", [
    ("nothing", "PHIÊN_BẢN:MÃ_QUẬN"),
    ("hcmc-1990:764", "chưa có phiên bản ranh giới 'hcmc-1990'"),
    ("hcmc-2025:79", "không có quận, huyện \\("),
    ("hcmc-2019:999", "không có quận, huyện nào mang mã '999'"),
    (f"hanoi-2025:{GO_VAP}", "không có quận, huyện \\("),
])
def test_a_bad_former_district_is_refused_with_what_to_do(eng, spec, words):
    """Outside a request the messages are in the default language, Vietnamese."""
    with pytest.raises(InputError, match=words):
        scope.check_former(eng, "hcmc-2025", spec)


def test_a_statistics_error_is_translated_where_it_reaches_users():
    from clustering.dbscan import _check_enough

    with pytest.raises(StatisticsError) as info:
        _check_enough(3.0, 3, 20, "points")
    assert str(info.value).startswith("`points` has 3 points")
    assert errors.message(info.value, "en") == str(info.value)
    assert errors.message(info.value, "vi") == ("Chỉ có 3 vụ việc (tổng trọng số 3) mà min_samples=20, nên không "
                                                "thể hình thành cụm; hãy giảm min_samples hoặc mở rộng khoảng ngày.")
