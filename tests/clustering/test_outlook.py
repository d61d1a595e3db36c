"""The outlook: honest choice, intervals that cover, the horizons, the learned method."""
import datetime as dt

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from sklearn.ensemble import HistGradientBoostingRegressor

from clustering.errors import InputError
from clustering.forecast import forecast_grid
from clustering.forecast_models import Panel, PoissonBoost
from clustering.outlook import _bootstrap, _bootstrap_incidents, outlook

CRS = "EPSG:32648"


def _wards(n=4, size=600):
    return gpd.GeoDataFrame({"code": [f"W{i}" for i in range(n)]},
                            geometry=[shapely.box(i * size, 0, (i + 1) * size, size) for i in range(n)], crs=CRS)


def _points(times, x, y):
    return gpd.GeoDataFrame({"occurred_at": pd.to_datetime(times)}, geometry=gpd.points_from_xy(x, y), crs=CRS)


def _poisson_field(rng, first="2023-01-01", last="2025-12-31", rate_per_day=40, size=2400):
    days = pd.date_range(first, last, freq="D")
    n = rng.poisson(rate_per_day, len(days))
    times = np.repeat(days.to_numpy(), n) + rng.integers(0, 86_400, n.sum()).astype("timedelta64[s]")
    return _points(times, rng.uniform(0, size, n.sum()), rng.uniform(0, 600, n.sum()))


def test_planted_rising_cell_is_ranked_first():
    rng = np.random.default_rng(1)
    base = _poisson_field(rng, first="2024-01-01", rate_per_day=3)
    # a cell of ward W2 that has had a growing number of incidents every month since mid 2025
    days = pd.date_range("2025-06-01", "2025-12-31", freq="D")
    k = np.linspace(1, 6, len(days)).round().astype(int)
    hot_t = np.repeat(days.to_numpy(), k)
    hot = _points(hot_t, np.full(len(hot_t), 1500.0 + 75), np.full(len(hot_t), 300.0 + 75))
    pts = pd.concat([base, hot], ignore_index=True)
    o = outlook(pts, wards=_wards(), start=dt.date(2026, 1, 1), horizon="month", periods=6)
    assert o.cells.iloc[0]["cell_id"] == "c10_r2"       # 1575 // 150, 375 // 150
    assert o.wards.iloc[0]["code"] == "W2"


def test_stationary_poisson_field_intervals_cover_80_and_95():
    rng = np.random.default_rng(7)
    pts = _poisson_field(rng, size=4800)
    o = outlook(pts, wards=_wards(8), start=dt.date(2026, 1, 1), horizon="month", periods=24,
                methods=["counts_prev", "counts_all"])
    assert o.interval_coverage["pairs"] == 8 * 23          # origins with an earlier one, times wards
    assert abs(o.interval_coverage["80"] - 0.80) <= 0.05
    assert abs(o.interval_coverage["95"] - 0.95) <= 0.04
    w = o.wards
    for lo, hi in (("low80", "high80"), ("low95", "high95")):
        assert (w[lo] >= 0).all() and (w[lo] <= w["expected"]).all() and (w["expected"] <= w[hi]).all()
        assert w[lo].dtype.kind == "i" and w[hi].dtype.kind == "i"
    assert (w["low95"] <= w["low80"]).all() and (w["high80"] <= w["high95"]).all()


def test_nothing_on_or_after_start_changes_anything():
    rng = np.random.default_rng(3)
    pts = _poisson_field(rng, first="2024-06-01", last="2026-06-30", rate_per_day=6)
    start = dt.date(2026, 1, 1)
    past = pts[pts["occurred_at"] < pd.Timestamp(start)]
    future = pts[pts["occurred_at"] >= pd.Timestamp(start)].copy()
    future = future.iloc[::2]                                               # delete half
    future = future.set_geometry(future.geometry.translate(300, 0))         # move the rest
    extra = _points(["2026-01-01 00:00"] * 50, [75.0] * 50, [75.0] * 50)   # add a burst at start
    altered = pd.concat([past, future, extra], ignore_index=True)
    a = outlook(pts, wards=_wards(), start=start, horizon="quarter", periods=4)
    b = outlook(altered, wards=_wards(), start=start, horizon="quarter", periods=4)
    assert a.chosen == b.chosen
    pd.testing.assert_frame_equal(a.backtest, b.backtest)
    pd.testing.assert_frame_equal(a.methods, b.methods)
    pd.testing.assert_frame_equal(a.wards, b.wards)
    pd.testing.assert_frame_equal(pd.DataFrame(a.cells.drop(columns="geometry")),
                                  pd.DataFrame(b.cells.drop(columns="geometry")))


def test_short_history_warns_and_uses_a_shorter_horizon():
    rng = np.random.default_rng(4)
    pts = _poisson_field(rng, first="2025-03-01", rate_per_day=5)
    o = outlook(pts, wards=_wards(), start=dt.date(2026, 1, 1), horizon="year", periods=12)
    codes = dict(o.warnings)
    assert codes["proxy_horizon"] == {"horizon": "quarter"}   # a year does not fit, 6 months neither
    assert "short_history" in codes and "no_last_year" in codes
    assert o.eval_horizon == "quarter" and len(o.cutoffs) > 0
    tiny = _points(["2025-12-20"], [100.0], [100.0])
    o = outlook(tiny, wards=_wards(), start=dt.date(2026, 1, 1), horizon="month")
    assert ("no_backtest", {}) in o.warnings and o.chosen == "counts_prev"
    with pytest.raises(InputError, match="No incident before"):
        outlook(tiny, wards=_wards(), start=dt.date(2025, 1, 1), horizon="month")


def test_half_from_the_15th_is_the_statistical_period():
    rng = np.random.default_rng(5)
    pts = _poisson_field(rng, first="2024-01-01", rate_per_day=4)
    o = outlook(pts, wards=_wards(), start=dt.date(2025, 12, 15), horizon="half", periods=3,
                methods=["counts_prev"])
    assert o.end == dt.date(2026, 6, 14)
    assert o.cutoffs == [dt.date(2025, 4, 15), dt.date(2025, 5, 15), dt.date(2025, 6, 15)]
    # the expected total is the count of the 6 months before, 15/06/2025 to 14/12/2025
    t = pts["occurred_at"]
    inside = ((t >= "2025-06-15") & (t < "2025-12-15")).sum()
    assert o.expected_total == pytest.approx(float(inside))


def test_bootstrap_equals_a_direct_numpy_percentile():
    v = np.array([0.2, 0.5, np.nan, 0.4, 0.9, 0.1, 0.3])
    finite = v[np.isfinite(v)]
    means = np.random.default_rng(11).choice(finite, size=(999, 6), replace=True).mean(axis=1)
    assert _bootstrap(v, 11) == (pytest.approx(np.percentile(means, 2.5)), pytest.approx(np.percentile(means, 97.5)))
    captured, total = np.array([3.0, 0.0, 5.0]), np.array([10.0, 0.0, 20.0])
    draws = np.random.default_rng(2).binomial([10, 20], [0.3, 0.25], size=(999, 2))
    m = (draws / np.array([10, 20])).mean(axis=1)
    lo, hi = _bootstrap_incidents(captured, total, 2)
    assert (lo, hi) == (pytest.approx(np.percentile(m, 2.5)), pytest.approx(np.percentile(m, 97.5)))


def _box(m, r, c, k):
    h = k // 2
    return m[max(r - h, 0):r + h + 1, max(c - h, 0):c + h + 1].sum()


def test_boosting_equals_sklearn_on_an_independent_feature_build():
    rng = np.random.default_rng(9)
    size = 750                                        # 5 × 5 cells of 150 m
    days = pd.date_range("2024-01-01", "2025-12-31", freq="D")
    n = rng.poisson(2.0, len(days))
    times = np.repeat(days.to_numpy(), n)
    x = rng.choice([75.0, 225.0, 375.0, 525.0, 675.0], n.sum(), p=[0.4, 0.25, 0.15, 0.1, 0.1])
    y = rng.choice([75.0, 225.0, 375.0, 525.0, 675.0], n.sum())
    pts = _points(times, x, y)
    area = gpd.GeoSeries([shapely.box(0, 0, size, size)], crs=CRS)
    cut = dt.date(2026, 1, 1)
    model = PoissonBoost(horizon="1M", training_origins=3).fit(pts, cut, study_area=area)

    # independent features: a 5 × 5 matrix of counts per window, box sums by slicing
    col, row = (x // 150).astype(int), (y // 150).astype(int)
    t = pd.to_datetime(times)

    def counts(a, b):
        m = np.zeros((5, 5))
        sel = (t >= a) & (t < b)
        np.add.at(m, (row[sel], col[sel]), 1)
        return m

    def feats(o):
        o = pd.Timestamp(o)
        wins = [(o - pd.DateOffset(months=1), o), (o - pd.DateOffset(months=3), o), (o - pd.DateOffset(months=12), o),
                (o - pd.DateOffset(months=12), o - pd.DateOffset(months=11))]
        rows = []
        for r in range(5):
            for c in range(5):
                rows.append([_box(counts(a, b), r, c, k) for a, b in wins for k in (1, 3, 7)])
        return np.array(rows, float)

    grid = forecast_grid(area)
    order = np.lexsort((grid.cells["col"], grid.cells["row"]))       # grid rows -> (row, col) order here
    assert (grid.cells["row"].to_numpy()[order] * 5 + grid.cells["col"].to_numpy()[order] == np.arange(25)).all()
    xs, ys = [], []
    for o in (dt.date(2025, 12, 1), dt.date(2025, 11, 1), dt.date(2025, 10, 1)):   # targets end by the cutoff
        xs.append(feats(o))
        end = pd.Timestamp(o) + pd.DateOffset(months=1)
        ys.append(counts(pd.Timestamp(o), end).ravel())
    ref = HistGradientBoostingRegressor(loss="poisson", max_iter=60, learning_rate=0.1, max_leaf_nodes=15,
                                        min_samples_leaf=40, early_stopping=False, random_state=0)
    ref.fit(np.vstack(xs), np.concatenate(ys))
    expected = ref.predict(feats(cut))
    got = np.empty(25)
    got[grid.cells["row"].to_numpy() * 5 + grid.cells["col"].to_numpy()] = model.scores_
    np.testing.assert_allclose(got, expected, rtol=1e-9)
    assert PoissonBoost.feature_names(False)[:3] == ["points_1M_1x1", "points_1M_3x3", "points_1M_7x7"]


def test_panel_counts_match_a_direct_count():
    pts = _points(["2025-01-05 00:00", "2025-01-31 23:59", "2025-02-01 00:00"], [10.0, 20.0, 160.0], [10.0, 10.0, 10.0])
    grid = forecast_grid(gpd.GeoSeries([shapely.box(0, 0, 300, 150)], crs=CRS))
    xy = np.column_stack([pts.geometry.x, pts.geometry.y])
    t = pts["occurred_at"].to_numpy().astype("datetime64[ns]").astype(np.int64)
    panel = Panel(xy, t, grid)
    assert panel.counts(dt.date(2025, 1, 1), dt.date(2025, 2, 1)).tolist() == [2.0, 0.0]
    assert panel.counts(None, dt.date(2025, 3, 1)).tolist() == [2.0, 1.0]



def test_the_learned_method_expects_about_as_many_incidents_as_follow():
    """Its cell scores are expected counts: on the demo's incidents of 30 wards, the quarter after 01/07/2025
    gets about as many as it had (1,517), not the runaway sums of an unpenalised Poisson boosting, whose
    leaves of a few surprising cells take huge steps (1,987 here, 5 × 10⁸ over the 168 wards)."""
    from geo.ingest.demo import generate
    from tests.conftest import HCMC_WARDS_FILE

    wards = gpd.read_file(HCMC_WARDS_FILE).iloc[:30]
    records, _truth = generate(wards, n=20_000)
    when = pd.to_datetime(records["Thời gian xảy ra"].str[:10], format="%d/%m/%Y")
    pts = gpd.GeoDataFrame({"occurred_at": when}, geometry=gpd.points_from_xy(records["Kinh độ"], records["Vĩ độ"]),
                           crs="EPSG:4326")
    seen = int(((when >= "2025-07-01") & (when < "2025-10-01")).sum())
    m = PoissonBoost(horizon="3M").fit(pts, dt.date(2025, 7, 1), study_area=wards)
    assert m.scores_.sum() == pytest.approx(seen, rel=0.1)



def test_the_ward_counts_come_from_the_method_that_shared_out_best():
    """Four wards with the same rate: a single month's counts share a total out with more noise than a year's,
    so the year's counts make the ward counts, each ward's share of the total being its share of the year."""
    rng = np.random.default_rng(5)
    pts = _poisson_field(rng, first="2024-01-01", rate_per_day=6, size=2400)
    o = outlook(pts, wards=_wards(), start=dt.date(2026, 1, 1), horizon="month", periods=6,
                methods=["counts_prev", "counts_12m"])
    assert o.count_method == "counts_12m"
    ward = np.minimum((pts.geometry.x.to_numpy() // 600).astype(int), 3)
    year = (pts["occurred_at"] >= "2025-01-01").to_numpy()
    share = np.bincount(ward[year], minlength=4) / year.sum()
    got = o.wards.set_index("code").loc[["W0", "W1", "W2", "W3"], "expected"].to_numpy()
    np.testing.assert_allclose(got, share * o.expected_total, rtol=1e-9)
