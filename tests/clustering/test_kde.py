import doctest
import json

import geopandas as gpd
import numpy as np
import pytest
import shapely
from numpy.testing import assert_allclose
from sklearn.neighbors import KernelDensity

import clustering.kde
from clustering.kde import KDEResult, default_bandwidth, kde
from geo.errors import InputError
from tests.conftest import SHARED_BOUNDARIES as BOUNDARIES  # noqa: E402

HCMC_WARDS = BOUNDARIES / "hcmc_wards_2025.geojson"
UTM48N = "EPSG:32648"
ORIGIN = np.array([686_000.0, 1_192_000.0])


def clustered(n, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0, 4_000, (5, 2))
    xy = np.r_[centres[rng.integers(0, 5, n - n // 4)] + rng.normal(0, 150, (n - n // 4, 2)),
               rng.uniform(0, 4_000, (n // 4, 2))]
    return xy + ORIGIN


def frame(xy, crs=UTM48N, **columns):
    return gpd.GeoDataFrame(columns, geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=crs)


def quartic_direct(xy, grid, h, w=None):
    """Quartic kernel sum evaluated point by point, per km²."""
    w = np.ones(len(xy)) if w is None else w
    out = np.zeros(len(grid))
    for start in range(0, len(grid), 2_000):
        g = grid[start:start + 2_000]
        d2 = ((g[:, None, :] - xy[None, :, :]) ** 2).sum(axis=2)
        k = np.where(d2 < h * h, 3 / (np.pi * h * h) * (1 - d2 / (h * h)) ** 2, 0.0)
        out[start:start + 2_000] = k @ w
    return out * 1e6


def grid_points(res):
    gx, gy = res.centres()
    return np.column_stack([gx.ravel(), gy.ravel()])


def test_gaussian_matches_sklearn_kernel_density():
    xy = clustered(3_000)
    res = kde(frame(xy), bandwidth_m=200, cell_m=80, kernel="gaussian")
    ref = np.exp(KernelDensity(kernel="gaussian", bandwidth=200).fit(xy)
                 .score_samples(grid_points(res))) * len(xy) * 1e6
    ref = ref.reshape(res.density.shape)
    assert np.abs(res.density - ref).max() <= 0.01 * ref.max()


@pytest.mark.parametrize("cell", [25.0, 60.0, 110.0])
def test_quartic_matches_direct_evaluation(cell):
    xy = clustered(800, seed=1)
    w = np.random.default_rng(2).integers(1, 4, len(xy)).astype(float)
    res = kde(frame(xy, n=w), bandwidth_m=250, cell_m=cell, weights="n")
    ref = quartic_direct(xy, grid_points(res), 250, w).reshape(res.density.shape)
    assert np.abs(res.density - ref).max() <= 0.01 * ref.max()


@pytest.mark.parametrize("kernel", ["quartic", "gaussian"])
def test_density_integrates_to_the_number_of_incidents(kernel):
    xy = clustered(2_000, seed=3)
    w = np.random.default_rng(4).uniform(0.5, 2, len(xy))
    res = kde(frame(xy), kernel=kernel, weights=w)
    total = res.density.sum() * res.cell_m ** 2 / 1e6
    assert_allclose(total, w.sum(), rtol=0.005)
    assert res.total_weight == pytest.approx(w.sum())


def test_grid_geometry_rows_run_north_to_south():
    xy = np.array([[0.0, 0.0], [0.0, 3_000.0]]) + ORIGIN
    w = np.array([1.0, 3.0])                 # the northern point weighs more
    res = kde(frame(xy), bandwidth_m=300, cell_m=50, weights=w)
    rows, cols = res.density.shape
    a, b, c, d, e, f = res.transform
    assert (a, b, d, e) == (50.0, 0.0, 0.0, -50.0)
    assert res.bounds == pytest.approx((c, f - rows * 50, c + cols * 50, f))
    assert res.bounds[0] <= xy[:, 0].min() - 300 and res.bounds[3] >= xy[:, 1].max() + 300
    peak_row, peak_col = np.unravel_index(np.argmax(res.density), res.density.shape)
    assert peak_row < rows / 2
    gx, gy = res.centres()
    assert np.hypot(gx[peak_row, peak_col] - xy[1, 0], gy[peak_row, peak_col] - xy[1, 1]) <= 50
    assert res.crs.to_epsg() == 32648 and res.kernel == "quartic" and res.bandwidth_m == 300


def test_points_in_degrees_are_projected():
    xy = clustered(500, seed=5)
    metric = kde(frame(xy), bandwidth_m=300, cell_m=60)
    degrees = kde(frame(xy).to_crs("EPSG:4326"), bandwidth_m=300, cell_m=60)
    assert degrees.crs.to_epsg() == 32648
    assert degrees.density.shape == metric.density.shape
    assert np.abs(degrees.density - metric.density).max() <= 1e-3 * metric.density.max()


def test_default_bandwidth_is_the_spatial_silverman_rule():
    xy = clustered(1_000, seed=6)
    centre = xy.mean(axis=0)
    d = np.hypot(*(xy - centre).T)
    sd = np.sqrt((d ** 2).mean())
    expected = 0.9 * min(sd, np.sqrt(1 / np.log(2)) * np.median(d)) * len(xy) ** -0.2
    assert default_bandwidth(xy) == pytest.approx(expected, rel=2e-3)
    res = kde(frame(xy))
    assert res.bandwidth_m == pytest.approx(default_bandwidth(xy))
    assert res.cell_m == pytest.approx(res.bandwidth_m / 4)


def test_default_cell_grows_to_fit_max_cells():
    xy = clustered(300, seed=7)
    res = kde(frame(xy), bandwidth_m=100, max_cells=2_000)
    assert res.density.size <= 2_000
    assert res.cell_m > 25


def test_contours_cover_the_top_cells():
    xy = clustered(3_000, seed=8)
    res = kde(frame(xy), bandwidth_m=250, cell_m=50)
    positive = res.density[res.density > 0]
    out = res.contours()
    assert out.crs == "EPSG:4326"
    assert out["level"].tolist() == ["10%", "5%", "1%"]
    for _, row in out.iterrows():
        threshold = np.quantile(positive, 1 - row["fraction"])
        assert row["threshold"] == pytest.approx(threshold)
        cells = int((res.density > threshold).sum())
        assert row["cells"] == cells
        assert cells == pytest.approx(row["fraction"] * positive.size, rel=0.02, abs=2)
        area = gpd.GeoSeries([row.geometry], crs="EPSG:4326").to_crs(UTM48N).area.iloc[0]
        assert_allclose(area, cells * 50 * 50, rtol=1e-4)
        assert_allclose(row["area_km2"], cells * 50 * 50 / 1e6)
    g = gpd.GeoSeries(out.geometry.to_numpy(), crs="EPSG:4326").to_crs(UTM48N)
    assert g.iloc[0].buffer(1).contains(g.iloc[1]) and g.iloc[1].buffer(1).contains(g.iloc[2])
    peak = np.unravel_index(np.argmax(res.density), res.density.shape)
    gx, gy = res.centres()
    assert g.iloc[2].contains(shapely.Point(gx[peak], gy[peak]))
    features = json.loads(res.to_geojson(levels=(0.02,)))["features"]
    assert len(features) == 1 and features[0]["properties"]["level"] == "2%"
    lon, lat = np.array(features[0]["geometry"]["coordinates"][0][0]).T if \
        features[0]["geometry"]["type"] == "MultiPolygon" else \
        np.array(features[0]["geometry"]["coordinates"][0]).T
    assert 106 < lon.mean() < 108 and 10 < lat.mean() < 11.5


def test_clip_to_a_polygon():
    xy = clustered(1_000, seed=9)
    square = shapely.box(*(ORIGIN + 1_000), *(ORIGIN + 2_500))
    full = kde(frame(xy), bandwidth_m=200, cell_m=50)
    res = kde(frame(xy), bandwidth_m=200, cell_m=50,
              clip=gpd.GeoDataFrame(geometry=[square], crs=UTM48N))
    rows, cols = res.density.shape
    assert rows <= 31 and cols <= 31
    x0, y0, x1, y1 = res.bounds
    assert x0 <= square.bounds[0] < x0 + 50 and x1 - 50 < square.bounds[2] <= x1
    assert y0 <= square.bounds[1] < y0 + 50 and y1 - 50 < square.bounds[3] <= y1
    gx, gy = res.centres()
    assert (np.isfinite(res.density) == shapely.contains_xy(square, gx, gy)).all()
    col0 = int(round((x0 - full.bounds[0]) / 50))
    row0 = int(round((full.bounds[3] - y1) / 50))
    same = full.density[row0:row0 + rows, col0:col0 + cols]
    inside = np.isfinite(res.density)
    assert_allclose(res.density[inside], same[inside])
    circle = kde(frame(xy), bandwidth_m=200, cell_m=50, clip=square.centroid.buffer(700))
    inside = np.isfinite(circle.density)
    assert 0.6 < inside.mean() < 0.9
    gx, gy = circle.centres()
    assert (np.hypot(gx - square.centroid.x, gy - square.centroid.y)[inside] <= 700).all()
    # Percent levels count only the cells inside the clip.
    values = circle.density[inside & (circle.density > 0)]
    assert circle.thresholds((0.1,))[0.1] == pytest.approx(np.quantile(values, 0.9))


def test_clip_to_wards():
    if not HCMC_WARDS.exists():
        pytest.skip(f"{HCMC_WARDS} not found; set BOUNDARY_SOURCE_DIR")
    wards = gpd.read_file(HCMC_WARDS)
    xy = clustered(1_000, seed=10)
    points = frame(xy).to_crs("EPSG:4326")
    ward = wards[wards.intersects(points.union_all().convex_hull)].iloc[[0]]
    res = kde(points, bandwidth_m=300, cell_m=100, clip=ward)
    gx, gy = res.centres()
    ward_m = ward.to_crs(res.crs).geometry.iloc[0]
    inside = shapely.contains_xy(ward_m, gx, gy)
    assert (np.isfinite(res.density) == inside).all()
    assert isinstance(res, KDEResult) and len(res.contours()) == 3


@pytest.mark.parametrize("kwargs, match", [
    ({"bandwidth_m": 0}, r"`bandwidth_m` was 0 but must be a number of metres > 0"),
    ({"bandwidth_m": -10.0}, r"`bandwidth_m` was -10.0"),
    ({"cell_m": 0}, r"`cell_m` was 0 but must be a number of metres > 0"),
    ({"kernel": "epanechnikov"}, r"`kernel` was 'epanechnikov' but is expected to be in"),
    ({"max_cells": 0}, r"`max_cells` was 0"),
    ({"weights": "n"}, r"`weights` was 'n' but `points` has no such column"),
    ({"weights": -np.ones(20)}, r"weights must be numbers >= 0"),
])
def test_bad_parameters(kwargs, match):
    with pytest.raises(InputError, match=match):
        kde(frame(clustered(20)), **kwargs)


def test_bad_input():
    with pytest.raises(InputError, match=r"`points` is empty"):
        kde(frame(np.empty((0, 2))))
    pts = frame(clustered(20))
    pts.loc[[4, 9, 12], "geometry"] = None
    with pytest.raises(InputError, match=r"^3 points have no coordinates \(rows 4, 9, 12\)"):
        kde(pts)
    with pytest.raises(InputError, match=r"`points` has no CRS"):
        kde(frame(clustered(20), crs=None))
    with pytest.raises(InputError, match=r"gives a grid of \d+ x \d+ = [\d,]+ cells, above "
                                         r"max_cells=4,000,000; use a cell of at least \d+ m"):
        kde(frame(clustered(200)), bandwidth_m=200, cell_m=1)
    with pytest.raises(InputError, match=r"all incidents are at one place; pass `bandwidth_m`"):
        kde(frame(np.tile(ORIGIN, (5, 1))))
    with pytest.raises(InputError, match=r"`levels` was \(5,\)"):
        kde(frame(clustered(20)), bandwidth_m=200).contours(levels=(5,))


def test_docstring_examples():
    assert doctest.testmod(clustering.kde).failed == 0
