"""Joining points to wards: known places, an independent shapely loop, borders, tolerance."""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely

from geo.ingest.join import assign_wards
from tests.conftest import SHARED_BOUNDARIES


@pytest.fixture(scope="module")
def wards():
    out = {}
    for name in ("hcmc_wards_2025", "hcmc_wards_2019", "hanoi_wards_2025"):
        out[name] = gpd.read_file(SHARED_BOUNDARIES / f"{name}.geojson").sort_values("code").reset_index(drop=True)
    return out


LANDMARKS = [
    # (place, lon, lat, ward 2019, ward 2025): Phường Sài Gòn took in Bến Nghé in 2025
    ("Chợ Bến Thành", 106.6981, 10.7725, "Phường Bến Thành", "Phường Bến Thành"),
    ("Dinh Độc Lập", 106.6953, 10.7770, "Phường Bến Thành", "Phường Bến Thành"),
    ("Nhà thờ Đức Bà", 106.6990, 10.7798, "Phường Bến Nghé", "Phường Sài Gòn"),
    ("Bitexco", 106.7040, 10.7718, "Phường Bến Nghé", "Phường Sài Gòn"),
]


@pytest.mark.parametrize("place, lon, lat, w2019, w2025", LANDMARKS)
def test_landmarks_in_hcmc(wards, place, lon, lat, w2019, w2025):
    for key, expected in (("hcmc_wards_2019", w2019), ("hcmc_wards_2025", w2025)):
        a = assign_wards([lon], [lat], wards[key])
        assert wards[key]["name"].iloc[a.index[0]] == expected, (place, key)
        assert a.method[0] == "within"


def test_landmarks_in_hanoi(wards):
    w = wards["hanoi_wards_2025"]
    a = assign_wards([105.8523, 105.8342], [21.0288, 21.0368], w)  # Hồ Hoàn Kiếm, Lăng Bác
    assert w["name"].iloc[a.index].tolist() == ["Phường Hoàn Kiếm", "Phường Ba Đình"]


def test_agrees_with_an_independent_shapely_loop(wards):
    w = wards["hcmc_wards_2025"]
    rng = np.random.default_rng(7)
    lon = rng.uniform(106.55, 106.85, 3000)
    lat = rng.uniform(10.68, 10.92, 3000)
    a = assign_wards(lon, lat, w, tolerance_m=0)
    expected = np.full(len(lon), -1)
    for i, (x, y) in enumerate(zip(lon, lat)):
        p = shapely.Point(x, y)
        for j, g in enumerate(w.geometry):
            if g.covers(p):
                expected[i] = j
                break
    np.testing.assert_array_equal(a.index, expected)
    assert (a.index >= 0).sum() > 2500


def test_point_on_a_shared_border_goes_to_the_lowest_code(wards):
    w = wards["hcmc_wards_2025"]
    a, b = w.geometry.iloc[0], None
    for j in range(1, len(w)):
        inter = a.intersection(w.geometry.iloc[j])
        if not inter.is_empty and inter.length > 0:
            b = j
            break
    assert b is not None
    # a vertex both wards touch
    shared = shapely.get_coordinates(a.boundary.intersection(w.geometry.iloc[b].boundary))[0]
    covering = sorted(w["code"][w.geometry.covers(shapely.Point(*shared))])
    assert len(covering) >= 2
    res = assign_wards([shared[0]] * 3, [shared[1]] * 3, w)
    assert [w["code"].iloc[i] for i in res.index] == [covering[0]] * 3
    assert res.method.tolist() == ["within"] * 3
    # the rule follows the order of the layer given (callers sort it by code)
    rev = w.iloc[::-1].reset_index(drop=True)
    res = assign_wards([shared[0]], [shared[1]], rev)
    assert rev["code"].iloc[res.index[0]] == covering[-1]


def test_nan_coordinates_are_outside(wards):
    a = assign_wards([np.nan, 106.6981], [10.77, 10.7725], wards["hcmc_wards_2025"])
    assert a.index[0] == -1 and a.method[0] == "outside" and a.method[1] == "within"
