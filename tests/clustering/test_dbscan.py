import doctest

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.cluster import DBSCAN

import clustering.dbscan
from clustering.dbscan import DBSCANSpots, find_spots
from geo.errors import InputError
from tests.conftest import SHARED_BOUNDARIES as BOUNDARIES  # noqa: E402

HCMC_WARDS = BOUNDARIES / "hcmc_wards_2025.geojson"
UTM48N = "EPSG:32648"


def assert_same_as_sklearn(X, eps, min_samples, w=None, algorithms=("kd_tree", "ball_tree")):
    ours = DBSCANSpots(eps_m=eps, min_samples=min_samples).fit(X, sample_weight=w)
    for algorithm in algorithms:
        ref = DBSCAN(eps=eps, min_samples=min_samples, algorithm=algorithm).fit(X, sample_weight=w)
        assert_array_equal(ours.labels_, ref.labels_, err_msg=algorithm)
        assert_array_equal(ours.core_sample_indices_, ref.core_sample_indices_, err_msg=algorithm)
    return ours


def random_set(rng, kind, n):
    if kind == "uniform":
        return rng.uniform(0, 100, (n, 2))
    if kind == "blobs":
        centres = rng.uniform(0, 200, (6, 2))
        return centres[rng.integers(0, 6, n)] + rng.normal(0, 4, (n, 2))
    if kind == "heavy_tails":
        centres = rng.uniform(0, 1000, (8, 2))
        return centres[rng.integers(0, 8, n)] + rng.standard_t(2, (n, 2)) * 20
    if kind == "lattice":            # many pairs exactly at eps
        return rng.integers(-15, 15, (n, 2)).astype(float)
    if kind == "utm_decimetres":     # UTM magnitudes on a 0.1 m lattice: ties up to rounding
        return rng.integers(0, 40, (n, 2)) * 0.1 + np.array([680_000.0, 1_190_000.0])
    if kind == "duplicates":         # many incidents at few addresses
        sites = rng.uniform(0, 300, (max(n // 8, 1), 2))
        return sites[rng.integers(0, len(sites), n)]
    if kind == "line":
        return np.column_stack([np.sort(rng.uniform(0, 500, n)), np.full(n, 3.0)])
    raise ValueError(kind)


KINDS = ["uniform", "blobs", "heavy_tails", "lattice", "utm_decimetres", "duplicates", "line"]
EPS = {"uniform": [3.0, 7.5], "blobs": [2.0, 5.0], "heavy_tails": [10.0, 30.0],
       "lattice": [1.0, 2.0, np.sqrt(2.0), 5.0], "utm_decimetres": [0.1, 0.2, 0.3],
       "duplicates": [5.0, 12.0], "line": [1.0, 4.0]}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("weights", ["none", "counts", "zeros", "negative", "fractional"])
def test_labels_identical_to_sklearn(kind, weights):
    rng = np.random.default_rng(abs(hash((kind, weights))) % 2**32)
    for trial in range(6):
        n = int(rng.integers(30, 700))
        X = random_set(rng, kind, n)
        eps = float(rng.choice(EPS[kind]))
        min_samples = int(rng.integers(1, 25))
        w = {"none": None,
             "counts": rng.integers(1, 5, n).astype(float),
             "zeros": rng.integers(0, 3, n).astype(float),
             "negative": rng.choice([-2.0, -1.0, 0.0, 1.0, 3.0], n),
             "fractional": rng.uniform(0.05, 2.0, n)}[weights]
        if (n if w is None else np.maximum(w, 0).sum()) < min_samples:
            continue
        assert_same_as_sklearn(X, eps, min_samples, w)


def test_larger_city_like_set_identical_to_sklearn():
    rng = np.random.default_rng(42)
    n = 30_000
    centres = rng.uniform(0, 5_000, (40, 2))
    X = np.r_[rng.uniform(0, 5_000, (n // 3, 2)),
              centres[rng.integers(0, 40, n // 3)] + rng.normal(0, 60, (n // 3, 2)),
              np.repeat(rng.uniform(0, 5_000, (n // 30, 2)), 10, axis=0)]
    X = np.round(X, 1) + [680_000.0, 1_190_000.0]
    X = X[rng.permutation(len(X))]
    ours = assert_same_as_sklearn(X, 50.0, 20, algorithms=("kd_tree",))
    assert ours.n_clusters_ > 5


def test_large_min_samples_and_small_batches(monkeypatch):
    # min_samples above the 32 nearest neighbours queried at once, and batches
    # of a few items, so every chunked path runs.
    monkeypatch.setattr(clustering.dbscan, "_BATCH", 50)
    monkeypatch.setattr(clustering.dbscan, "_PROBE_PAIRS", 0)
    rng = np.random.default_rng(11)
    X = np.r_[rng.normal(0, 3, (1500, 2)), rng.normal(0, 3, (500, 2)) + [12, 0],
              rng.uniform(-30, 30, (300, 2))]
    for min_samples in (40, 120):
        assert_same_as_sklearn(X, 2.0, min_samples, algorithms=("kd_tree",))
    assert_same_as_sklearn(X, 2.0, 40, w=rng.uniform(0.1, 1.5, len(X)), algorithms=("kd_tree",))


def test_wide_extent_uses_sparse_cell_lookup():
    rng = np.random.default_rng(12)
    sites = np.array([[0.0, 0.0], [9e5, 3e5], [4e5, 9e5]])
    X = sites[rng.integers(0, 3, 600)] + rng.normal(0, 2, (600, 2))
    ours = assert_same_as_sklearn(X, 1.0, 5, algorithms=("kd_tree",))
    assert ours.n_clusters_ >= 3


def test_cluster_numbering_follows_first_core_point():
    # Cluster B's first core point comes first in row order, so B is cluster 0.
    a = np.array([[0, 0], [1, 0], [2, 0]], dtype=float)
    b = np.array([[100, 0], [101, 0], [102, 0]], dtype=float)
    X = np.r_[b[:1], a, b[1:]]
    labels = DBSCANSpots(eps_m=1.5, min_samples=2).fit(X).labels_
    assert_array_equal(labels, [0, 1, 1, 1, 0, 0])
    assert_same_as_sklearn(X, 1.5, 2)


def test_shared_border_point_goes_to_lower_numbered_cluster():
    # Two chains of core points with one non-core point within eps of both.
    left = [[0, 0], [0.5, 0], [1, 0], [1.5, 0], [2, 0]]
    right = [[6, 0], [6.5, 0], [7, 0], [7.5, 0], [8, 0]]
    border = [[4, 0]]
    for X in (np.array(left + border + right, float), np.array(right + border + left, float),
              np.array(border + right + left, float)):
        ours = assert_same_as_sklearn(X, 2.0, 4)
        row = int(np.flatnonzero((X == [4, 0]).all(axis=1))[0])
        assert row not in ours.core_sample_indices_
        assert ours.labels_[row] == 0


def test_points_exactly_at_eps_are_neighbours():
    X = np.array([[0, 0], [3, 4], [6, 8], [9, 12]], dtype=float)   # 5 m apart
    assert_array_equal(DBSCANSpots(eps_m=5, min_samples=2).fit(X).labels_, [0, 0, 0, 0])
    assert_array_equal(DBSCANSpots(eps_m=4.999, min_samples=2).fit(X).labels_, [-1] * 4)


def test_repeated_address_is_one_cluster_when_heavy_enough():
    X = np.tile([[680_000.0, 1_190_000.0]], (25, 1))
    model = DBSCANSpots(eps_m=50, min_samples=20).fit(X)
    assert_array_equal(model.labels_, np.zeros(25))
    assert_array_equal(model.core_sample_indices_, np.arange(25))
    assert_array_equal(DBSCANSpots(eps_m=50, min_samples=30).fit(X, sample_weight=np.full(25, 2.0))
                       .labels_, np.zeros(25))


def test_weights_given_to_constructor():
    rng = np.random.default_rng(3)
    X = rng.uniform(0, 50, (200, 2))
    w = rng.integers(1, 4, 200).astype(float)
    a = DBSCANSpots(eps_m=4, min_samples=8, weights=w).fit(X)
    b = DBSCANSpots(eps_m=4, min_samples=8).fit(X, sample_weight=w)
    assert_array_equal(a.labels_, b.labels_)
    assert_allclose(a.components_, X[a.core_sample_indices_])
    assert_array_equal(a.fit_predict(X), a.labels_)


@pytest.mark.parametrize("params, match", [
    ({"eps_m": 0}, r"`eps_m` was 0 but must be a number > 0"),
    ({"eps_m": -5.0}, r"`eps_m` was -5.0"),
    ({"eps_m": "250"}, r"`eps_m` was '250'"),
    ({"min_samples": 0}, r"`min_samples` was 0 but must be a whole number >= 1"),
    ({"min_samples": 2.5}, r"`min_samples` was 2.5"),
])
def test_bad_parameters(params, match):
    X = np.zeros((30, 2))
    with pytest.raises(InputError, match=match):
        DBSCANSpots(**params).fit(X)


def test_bad_input():
    X = np.arange(40, dtype=float).reshape(20, 2)
    X[[4, 9, 12], 1] = np.nan
    with pytest.raises(InputError, match=r"^3 points have no coordinates \(rows 4, 9, 12\)"):
        DBSCANSpots(min_samples=2).fit(X)
    with pytest.raises(InputError, match=r"has shape \(10,\) but must be \(n, 2\)"):
        DBSCANSpots().fit(np.zeros(10))
    with pytest.raises(InputError, match=r"has 5 points \(total weight 5\) but min_samples=20"):
        DBSCANSpots(min_samples=20).fit(np.zeros((5, 2)))
    with pytest.raises(InputError, match=r"both as `weights` and as `sample_weight`"):
        DBSCANSpots(weights=np.ones(20)).fit(np.zeros((20, 2)), sample_weight=np.ones(20))
    with pytest.raises(InputError, match=r"`sample_weight` has shape \(3,\)"):
        DBSCANSpots(min_samples=2).fit(np.zeros((20, 2)), sample_weight=np.ones(3))
    with pytest.raises(InputError, match=r"below the precision"):
        DBSCANSpots(eps_m=1e-6, min_samples=1).fit(np.array([[0.0, 0.0], [1e7, 0.0]]))


def test_docstring_examples():
    assert doctest.testmod(clustering.dbscan).failed == 0


# ------------------------------------------------------------------------------------------
# find_spots
# ------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def wards():
    if not HCMC_WARDS.exists():
        pytest.skip(f"{HCMC_WARDS} not found; set BOUNDARY_SOURCE_DIR")
    return gpd.read_file(HCMC_WARDS)


def incidents_at(xy_metric, rng, **columns):
    n = len(xy_metric)
    data = {"category": rng.choice(["trom_cap_tai_san", "cuop_giat_tai_san", "ma_tuy"], n,
                                   p=[0.6, 0.3, 0.1]),
            "occurred_at": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 365, n), "D")}
    data.update(columns)
    return gpd.GeoDataFrame(data, geometry=gpd.points_from_xy(xy_metric[:, 0], xy_metric[:, 1]),
                            crs=UTM48N, index=pd.RangeIndex(1000, 1000 + n)).to_crs("EPSG:4326")


def border_point(wards):
    """A point (UTM 48N) on the border between the first ward and a neighbour."""
    metric = wards.to_crs(UTM48N)
    first = metric.geometry.iloc[0]
    for code, geom in zip(metric["code"].iloc[1:], metric.geometry.iloc[1:]):
        shared = first.boundary.intersection(geom.boundary)
        if shared.length > 500:
            p = shared.interpolate(0.5, normalized=True)
            return np.array([p.x, p.y]), {str(metric["code"].iloc[0]), str(code)}
    raise AssertionError("no neighbouring ward found")


def test_spot_across_a_ward_border_is_one_spot(wards):
    rng = np.random.default_rng(5)
    centre, codes = border_point(wards)
    xy = np.r_[centre + rng.normal(0, 40, (300, 2)), centre + rng.uniform(-4000, 4000, (100, 2))]
    points = incidents_at(xy, rng)
    labels, spots = find_spots(points, eps_m=60, min_samples=15, wards=wards)

    assert labels.index.equals(points.index) and labels.name == "cluster"
    assert list(spots.columns) == ["spot_id", "count", "weight", "categories", "first_date",
                                   "last_date", "ward_codes", "area_m2", "span_m", "wide", "geometry"]
    assert spots.crs == "EPSG:4326"
    big = spots.loc[spots["count"].idxmax()]
    assert big["count"] >= 250
    assert codes <= set(big["ward_codes"].split(","))
    assert (labels == big["spot_id"] - 1).sum() == big["count"]
    top = big["categories"].split(", ")[0]
    assert top.startswith("trom_cap_tai_san:")
    in_spot = points[labels == big["spot_id"] - 1]
    assert int(top.split(":")[1]) == (in_spot["category"] == "trom_cap_tai_san").sum()
    assert big["first_date"] == in_spot["occurred_at"].min().date().isoformat()
    assert big["last_date"] == in_spot["occurred_at"].max().date().isoformat()
    # The polygon holds every incident of the spot and its area is in square metres.
    polygon = gpd.GeoSeries([big.geometry], crs="EPSG:4326").to_crs(UTM48N).iloc[0]
    assert polygon.buffer(1).contains(shapely.multipoints(
        np.column_stack(shapely.get_coordinates(in_spot.to_crs(UTM48N).geometry).T)))
    assert_allclose(big["area_m2"], polygon.area, rtol=1e-3)


def test_labels_match_the_estimator_and_hulls():
    rng = np.random.default_rng(8)
    xy = np.r_[rng.normal(0, 30, (200, 2)), rng.normal(0, 30, (200, 2)) + [600, 0],
               rng.uniform(-2000, 2000, (50, 2))] + [686_000.0, 1_192_000.0]
    points = incidents_at(xy, rng)
    metric = points.to_crs(UTM48N)
    X = np.column_stack([metric.geometry.x, metric.geometry.y])
    expected = DBSCANSpots(eps_m=40, min_samples=10).fit(X).labels_
    concave_labels, concave = find_spots(points, eps_m=40, min_samples=10)
    buffer_labels, convex = find_spots(points, eps_m=40, min_samples=10, hull="buffer")
    assert_array_equal(concave_labels.to_numpy(), expected)
    assert_array_equal(buffer_labels.to_numpy(), expected)
    assert len(concave) == expected.max() + 1 == 2
    assert (concave["ward_codes"] == "").all()
    assert (concave["area_m2"] <= convex["area_m2"] + 1e-6).all()
    assert concave["spot_id"].tolist() == [1, 2]


def test_weights_column_and_hdbscan():
    rng = np.random.default_rng(9)
    xy = np.r_[rng.normal(0, 20, (60, 2)), rng.normal(0, 20, (60, 2)) + [1500, 0],
               rng.uniform(-3000, 3000, (30, 2))] + [686_000.0, 1_192_000.0]
    points = incidents_at(xy, rng, n=np.full(150, 2))
    _, plain = find_spots(points, eps_m=40, min_samples=20)
    _, doubled = find_spots(points, eps_m=40, min_samples=40, weights="n")
    assert_array_equal(plain["count"], doubled["count"])
    assert_allclose(doubled["weight"], 2 * doubled["count"])
    labels, spots = find_spots(points, min_samples=20, method="hdbscan")
    assert len(spots) >= 2 and labels.max() == len(spots) - 1
    assert spots["categories"].str.contains("trom_cap_tai_san:").all()


def test_find_spots_errors(wards):
    rng = np.random.default_rng(1)
    points = incidents_at(rng.normal(0, 50, (30, 2)) + [686_000.0, 1_192_000.0], rng)
    with pytest.raises(InputError, match=r"`method` was 'optics' but is expected to be in"):
        find_spots(points, method="optics")
    with pytest.raises(InputError, match=r"`hull` was 'alpha'"):
        find_spots(points, hull="alpha")
    with pytest.raises(InputError, match=r"`eps_m` was 0"):
        find_spots(points, eps_m=0)
    with pytest.raises(InputError, match=r"has 30 points \(total weight 30\) but min_samples=31"):
        find_spots(points, min_samples=31)
    with pytest.raises(InputError, match=r"`weights` was 'count' but `points` has no such column"):
        find_spots(points, weights="count")
    with pytest.raises(InputError, match=r"`points` has no CRS"):
        find_spots(points.set_crs(None, allow_override=True), min_samples=5)
    with pytest.raises(InputError, match=r"`wards` has no CRS"):
        find_spots(points, min_samples=5, wards=wards.set_crs(None, allow_override=True))
    holes = points.copy()
    holes.loc[[1004, 1009, 1012], "geometry"] = None
    with pytest.raises(InputError, match=r"3 points have no coordinates \(rows 1004, 1009, 1012\)"):
        find_spots(holes, min_samples=5)
