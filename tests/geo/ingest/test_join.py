"""Joining points to wards: known places, an independent shapely loop, borders, tolerance."""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from pyproj import Proj

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


def test_tolerance_is_metres_in_the_zone_of_the_wards():
    """A ward near Hoàng Sa (111.6°E, UTM zone 49N, 6° from zone 48's central meridian): 40 m
    outside is placed and its distance is 40 m there; 60 m outside is not (tolerance 50 m).
    Measured in zone 48N the 40 m would read 40 m times that zone's scale factor there (1.0058)."""
    utm49 = "EPSG:32649"
    x0, y0 = gpd.GeoSeries([shapely.Point(111.6, 16.5)], crs=4326).to_crs(utm49).iloc[0].coords[0]
    ward = gpd.GeoDataFrame({"code": ["1"], "name": ["Xã Hoàng Sa"]},
                            geometry=[shapely.box(x0, y0, x0 + 1000, y0 + 1000)], crs=utm49).to_crs(4326)
    east = x0 + 1000
    pts = gpd.GeoSeries(shapely.points([(east + 40, y0 + 500), (east + 60, y0 + 500)]), crs=utm49).to_crs(4326)
    a = assign_wards(pts.x.to_numpy(), pts.y.to_numpy(), ward, tolerance_m=50)
    assert a.index.tolist() == [0, -1] and a.method.tolist() == ["nearest", "outside"]
    assert a.distance_m[0] == pytest.approx(40.0, abs=0.01)
    # the same points measured in zone 48N: stretched by that projection's scale there (pyproj)
    in48 = assign_wards(pts.x.to_numpy(), pts.y.to_numpy(), ward, tolerance_m=50, metric_crs="EPSG:32648")
    k48 = Proj("EPSG:32648").get_factors(pts.x[0], pts.y[0]).meridional_scale
    assert k48 > 1.005 and in48.distance_m[0] == pytest.approx(40.0 * k48, abs=0.03)
