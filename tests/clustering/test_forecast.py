import datetime as dt
import doctest

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from numpy.testing import assert_allclose, assert_array_equal

import clustering.forecast
from clustering.forecast import (
    NaiveKDE,
    ProspectiveHotspot,
    RetrospectiveCounts,
    backtest,
    forecast_grid,
    hit_rate_curve,
    pai,
    rri,
    summary,
)
from geo.errors import InputError

UTM48N = "EPSG:32648"
CELL = 150.0
# A study area of 20 x 20 cells of 150 m, on the cell edges of UTM 48N near Hồ Chí Minh City.
X0, Y0 = 686_100.0, 1_191_900.0


def box_area(cols=20, rows=20):
    return gpd.GeoSeries([shapely.box(X0, Y0, X0 + cols * CELL, Y0 + rows * CELL)], crs=UTM48N)


def incidents(cells, times, jitter=None):
    """Incidents at the centres of the given (col, row) cells of the study area (plus a jitter)."""
    cells = np.asarray(cells, dtype=float).reshape(-1, 2)
    xy = np.column_stack([X0 + (cells[:, 0] + 0.5) * CELL, Y0 + (cells[:, 1] + 0.5) * CELL])
    if jitter is not None:
        xy = xy + jitter
    return gpd.GeoDataFrame({"occurred_at": pd.to_datetime(list(times))},
                            geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=UTM48N)


def position(grid, col, row):
    """Position in ``grid.cells`` of study-area cell (col, row)."""
    return int(grid.locate([[X0 + (col + 0.5) * CELL, Y0 + (row + 0.5) * CELL]])[0])


# --------------------------------------------------------------------------- grid


def test_grid_cells_cover_the_study_area_and_locate_points():
    grid = forecast_grid(box_area(), cell_m=CELL)
    assert grid.n_cells == 400
    assert_allclose(grid.area_km2, 400 * 0.0225)
    assert position(grid, 0, 0) >= 0 and position(grid, 19, 19) >= 0
    outside = grid.locate([[X0 - 10, Y0 + 10], [X0 + 20 * CELL + 1, Y0]])
    assert_array_equal(outside, [-1, -1])
    assert_allclose(grid.counts([[X0 + 1, Y0 + 1], [X0 + 149, Y0 + 149], [X0 + 151, Y0 + 1]]).sum(), 3)


# --------------------------------------------------------------------------- scoring by hand


def test_hit_rate_and_pai_by_hand():
    # 10 cells; the forecast ranks cells 0, 1, 4 first; 4 incidents next period.
    scores = [5, 4, 0, 0, 1, 0, 0, 0, 0, 0]
    observed = [3, 0, 1, 0, 0, 0, 0, 0, 0, 0]
    curve = hit_rate_curve(scores, observed, coverages=(0.1, 0.2, 0.3, 1.0))
    assert curve["cells"].tolist() == [1, 2, 3, 10]
    assert curve["captured"].tolist() == [3, 3, 3, 4]
    assert_allclose(curve["hit_rate"], [0.75, 0.75, 0.75, 1.0])
    # PAI = (n / N) / (a / A)
    assert_allclose(curve["pai"], [0.75 / 0.1, 0.75 / 0.2, 0.75 / 0.3, 1.0])
    # A perfect forecast puts cells 0 and 2 first.
    assert_allclose(curve["pai_max"], [7.5, 5.0, 1.0 / 0.3, 1.0])
    assert_allclose(pai(scores, observed, 0.2), 3.75)


def test_rri_by_hand():
    scores = [9, 8, 0, 0]
    observed = [3, 1, 2, 2]       # N2 = 8, n2 = 4 in the top 2 cells
    previous = [2, 2, 1, 1]       # N1 = 6, n1 = 4
    assert_allclose(rri(scores, observed, previous, 0.5), (4 / 4) / (8 / 6))
    curve = hit_rate_curve(scores, observed, coverages=(0.25, 0.5), previous=previous)
    assert curve["previous_captured"].tolist() == [2, 4]
    assert_allclose(curve["rri"], [(3 / 2) / (8 / 6), 0.75])
    # No incident in the hot spot before: no reference, NaN.
    assert np.isnan(rri(scores, observed, [0, 0, 1, 1], 0.5))


def test_ties_are_broken_in_grid_order():
    scores = [1, 0, 2, 2, 0, 0]
    observed = [0, 0, 0, 1, 0, 0]
    # Cells 2 and 3 tie; a single cell takes cell 2 (first in grid order), which is empty.
    curve = hit_rate_curve(scores, observed, coverages=(1 / 6, 2 / 6))
    assert curve["captured"].tolist() == [0, 1]
    # Among the zero scores, cell 1 comes before 4 and 5.
    curve = hit_rate_curve([0, 0, 0, 0, 0, 0], [0, 1, 0, 0, 0, 1], coverages=(2 / 6,))
    assert curve["captured"].tolist() == [1]
    again = hit_rate_curve([0, 0, 0, 0, 0, 0], [0, 1, 0, 0, 0, 1], coverages=(2 / 6,))
    pd.testing.assert_frame_equal(curve, again)


def test_no_incident_to_capture_gives_nan():
    curve = hit_rate_curve([1, 0], [0, 0], coverages=(0.5,))
    assert np.isnan(curve["hit_rate"].iloc[0]) and np.isnan(curve["pai"].iloc[0])


# --------------------------------------------------------------------------- constructed backtest


def test_same_three_cells_give_pai_of_a_over_three():
    hot = [(2, 3), (10, 10), (17, 5)]
    days = pd.date_range("2024-10-01", "2025-03-31", freq="D")
    cells = [hot[i % 3] for i in range(len(days))]
    pts = incidents(cells, days)
    A = 400
    frame = backtest(pts, study_area=box_area(), methods={"counts": RetrospectiveCounts(window="3M")},
                     start=dt.date(2025, 1, 1), end=dt.date(2025, 3, 31), coverages=(3 / A, 0.05))
    assert frame["cutoff"].unique().tolist() == [dt.date(2025, 1, 1), dt.date(2025, 2, 1),
                                                 dt.date(2025, 3, 1)]
    assert frame["period_end"].unique().tolist() == [dt.date(2025, 1, 31), dt.date(2025, 2, 28),
                                                     dt.date(2025, 3, 31)]
    three = frame[frame["cells"] == 3]
    assert len(three) == 3
    assert_allclose(three["hit_rate"], 1.0)
    assert_allclose(three["pai"], A / 3, rtol=1e-12)
    assert_allclose(three["pai_max"], A / 3, rtol=1e-12)
    # The same 3 cells hold every incident in both periods: RRI = 1.
    assert_allclose(three["rri"], 1.0)
    assert_allclose(frame.loc[frame["coverage"] == 0.05, "pai"], 1 / 0.05)
    assert three["total"].tolist() == [31, 28, 31]
    table = summary(frame)
    assert table[["method", "coverage", "cutoffs"]].values.tolist() == [["counts", 3 / A, 3],
                                                                        ["counts", 0.05, 3]]
    assert_allclose(table["pai"], [A / 3, 20.0])


def test_backtest_runs_every_method_on_one_grid():
    rng = np.random.default_rng(5)
    n = 600
    cells = np.column_stack([rng.integers(0, 20, n), rng.integers(0, 20, n)])
    cells[: n // 2] = [4, 4]                      # one hot cell
    days = pd.Timestamp("2024-11-01") + pd.to_timedelta(rng.uniform(0, 150, n), unit="D")
    pts = incidents(cells, days, jitter=rng.uniform(-60, 60, (n, 2)))
    methods = {"kde": NaiveKDE(bandwidth_m=300), "pro": ProspectiveHotspot(), "counts": RetrospectiveCounts()}
    frame = backtest(pts, study_area=box_area(), methods=methods, start=dt.date(2025, 1, 1),
                     end=dt.date(2025, 3, 31), step="month", horizon="month", coverages=(0.01,))
    assert frame["method"].unique().tolist() == ["kde", "pro", "counts"]
    assert len(frame) == 3 * 3                   # cutoffs 01/01, 01/02 and 01/03
    # Every method ranks the hot cell first, and its 4 top cells capture about half the incidents.
    assert (frame["hit_rate"] >= 0.4).all()
    for m in methods.values():
        assert m.cutoff_ == dt.date(2025, 3, 1)
        top = m.to_frame().sort_values("rank").iloc[0]
        assert (top["col"], top["row"]) == tuple(m.grid_.cells.loc[position(m.grid_, 4, 4), ["col", "row"]])


# --------------------------------------------------------------------------- prospective weights


def prospective_direct(grid, cells, ages_days, bandwidth, weeks, distance="chebyshev"):
    """Σ [d < B][w < T] / ((1 + d)(1 + w)), cell by cell and incident by incident."""
    col0, row0 = grid.cells["col"].min(), grid.cells["row"].min()
    out = np.zeros(grid.n_cells)
    for k, (col, row) in enumerate(zip(grid.cells["col"], grid.cells["row"])):
        for (c, r), age in zip(cells, ages_days):
            dc, dr = abs(col - (col0 + c)), abs(row - (row0 + r))
            d = max(dc, dr) if distance == "chebyshev" else dc + dr
            w = age // 7
            if d < bandwidth and w < weeks:
                out[k] += 1.0 / ((1 + d) * (1 + w))
    return out


@pytest.mark.parametrize("distance", ["chebyshev", "manhattan"])
def test_prospective_weights_on_a_five_by_five_grid(distance):
    cutoff = dt.date(2025, 3, 1)
    cells = [(2, 2), (0, 0), (4, 1), (5, 2), (1, 3), (1, 3)]
    ages = [3, 10, 60, 1, 20, 49]                  # days before the cutoff; 60 days = 8 weeks: out
    times = [pd.Timestamp(cutoff) - pd.Timedelta(days=a) for a in ages]
    pts = incidents(cells, times)
    model = ProspectiveHotspot(bandwidth_cells=3, time_window_weeks=8, distance=distance)
    model.fit(pts, cutoff, study_area=box_area(5, 5))
    grid = model.grid_
    assert grid.n_cells == 25
    assert_allclose(model.scores_, prospective_direct(grid, cells, ages, 3, 8, distance), rtol=1e-12)
    assert model.n_history_ == 6
    assert model.n_used_ == 5                      # the 60-day-old incident is too old
    if distance == "chebyshev":
        # Centre cell: its own incident (1), the corner one (d=2, 1 week: 1/6), the one at
        # (1, 3) twice (d=1; 2 weeks: 1/6, 7 weeks: 1/16); the one at (5, 2) is 3 cells away.
        assert_allclose(model.scores_[position(grid, 2, 2)], 1 + 1 / 6 + 1 / 6 + 1 / 16)
        # Cell (4, 2): the outside incident at (5, 2) next to it (1/2), the centre one (1/3).
        assert_allclose(model.scores_[position(grid, 4, 2)], 1 / 2 + 1 / 3)


def test_prospective_open_cp_defaults_reach_seven_cells():
    model = ProspectiveHotspot(bandwidth_cells=8)
    kernel = model.stencil()
    assert kernel.shape == (15, 15)
    assert_allclose(kernel[7, 7], 1.0)
    assert_allclose(kernel[0, 0], 1 / 8)
    assert_allclose(ProspectiveHotspot().stencil()[0], [1 / 3] * 5)


# --------------------------------------------------------------------------- KDE and counts


def test_naive_kde_reads_the_density_at_cell_centres():
    rng = np.random.default_rng(1)
    n = 400
    cells = rng.integers(5, 15, (n, 2))
    jitter = rng.uniform(-70, 70, (n, 2))
    days = pd.Timestamp("2025-01-01") + pd.to_timedelta(rng.uniform(0, 80, n), unit="D")
    pts = incidents(cells, days, jitter)
    model = NaiveKDE(bandwidth_m=450, window="all").fit(pts, dt.date(2025, 4, 1), study_area=box_area())
    xy = np.column_stack([pts.geometry.x, pts.geometry.y])
    centres = model.grid_.centres()
    d2 = ((centres[:, None, :] - xy[None, :, :]) ** 2).sum(axis=2)
    h = 450.0
    direct = np.where(d2 < h * h, 3 / (np.pi * h * h) * (1 - d2 / (h * h)) ** 2, 0.0).sum(axis=1) * 1e6
    assert np.abs(model.scores_ - direct).max() <= 0.02 * direct.max()
    assert model.n_used_ == n


def test_windows_keep_only_the_recent_incidents():
    times = ["2024-10-15 00:00", "2025-01-10 00:00", "2025-01-31 23:59", "2025-02-01 00:00"]
    pts = incidents([(1, 1), (1, 1), (3, 3), (5, 5)], times)
    grid = forecast_grid(box_area(), cell_m=CELL)
    model = RetrospectiveCounts(window="1M").fit(pts, dt.date(2025, 2, 1), grid=grid)
    assert model.scores_.sum() == 2
    assert model.scores_[position(grid, 1, 1)] == 1 and model.scores_[position(grid, 3, 3)] == 1
    assert model.n_history_ == 3
    everything = RetrospectiveCounts(window="all").fit(pts, dt.date(2025, 2, 1), grid=grid)
    assert everything.scores_[position(grid, 1, 1)] == 2


def test_times_are_read_in_local_time():
    # 18:00 UTC on 31/01 is 01:00 on 01/02 in Hồ Chí Minh City: not before the cutoff.
    pts = incidents([(1, 1), (2, 2)], ["2025-01-20", "2025-01-20"])
    utc = pd.to_datetime(["2025-01-20 00:00", "2025-01-31 18:00"]).tz_localize("UTC")
    pts["occurred_at"] = utc
    model = RetrospectiveCounts(window="1M")
    # the statistics take local times: the caller converts (the store keeps local dates)
    with pytest.raises(InputError, match=r"`points\['occurred_at'\]` holds times with a time zone"):
        model.fit(pts, dt.date(2025, 2, 1), study_area=box_area())
    pts["occurred_at"] = utc.tz_convert("Asia/Ho_Chi_Minh").tz_localize(None)
    model.fit(pts, dt.date(2025, 2, 1), study_area=box_area())
    assert model.n_history_ == 1
    pts["local_date"] = [dt.date(2025, 1, 20), dt.date(2025, 1, 31)]
    model.fit(pts.drop(columns="occurred_at"), dt.date(2025, 2, 1), study_area=box_area())
    assert model.n_history_ == 2


def test_grid_defaults_to_the_extent_of_the_points():
    pts = incidents([(0, 0), (9, 4)], ["2025-01-05", "2025-01-06"]).to_crs("EPSG:4326")
    model = RetrospectiveCounts().fit(pts, dt.date(2025, 2, 1))
    assert model.grid_.crs.to_epsg() == 32648
    assert model.scores_.sum() == 2
    assert 50 <= model.grid_.n_cells <= 72


def test_ward_scores_add_up_cells_by_centre():
    pts = incidents([(1, 1), (1, 2), (8, 8), (8, 8), (9, 9)], ["2025-01-05"] * 5)
    west = shapely.box(X0, Y0, X0 + 5 * CELL, Y0 + 10 * CELL)
    east = shapely.box(X0 + 5 * CELL, Y0, X0 + 10 * CELL, Y0 + 10 * CELL)
    wards = gpd.GeoDataFrame({"code": ["W", "E"], "name": ["Phường Tây", "Phường Đông"]},
                             geometry=[west, east], crs=UTM48N)
    model = RetrospectiveCounts(window="1M").fit(pts, dt.date(2025, 2, 1), study_area=wards)
    total = model.ward_scores(wards)
    assert total[["code", "name", "score", "cells", "rank"]].values.tolist() == [
        ["E", "Phường Đông", 3.0, 50, 1], ["W", "Phường Tây", 2.0, 50, 2]]
    mean = model.ward_scores(wards.to_crs("EPSG:4326"), how="mean")
    assert_allclose(mean.set_index("code")["score"].loc[["E", "W"]], [3 / 50, 2 / 50])


# --------------------------------------------------------------------------- errors


@pytest.fixture
def pts():
    return incidents([(1, 1), (2, 2)], ["2025-01-05", "2025-01-20"])


def test_empty_history_is_an_error(pts):
    with pytest.raises(InputError, match="No incident before the cutoff 01/01/2025.*05/01/2025"):
        RetrospectiveCounts().fit(pts, dt.date(2025, 1, 1), study_area=box_area())
    with pytest.raises(InputError, match="`points` is empty"):
        NaiveKDE().fit(pts.iloc[:0], dt.date(2025, 2, 1), study_area=box_area())
    with pytest.raises(InputError, match="No incident before the cutoff"):
        backtest(pts, study_area=box_area(), methods={"c": RetrospectiveCounts()},
                 start=dt.date(2024, 12, 1), end=dt.date(2025, 1, 31))


@pytest.mark.parametrize("coverage", [0, -0.1, 1.5, float("nan")])
def test_coverage_outside_zero_one(coverage, pts):
    with pytest.raises(InputError, match=r"`coverage` was .* must be a fraction of the cells in \(0, 1\]"):
        pai([1, 0], [1, 0], coverage)
    with pytest.raises(InputError, match="`coverage` was"):
        hit_rate_curve([1, 0], [1, 0], coverages=(0.05, coverage))
    with pytest.raises(InputError, match="`coverage` was"):
        backtest(pts, study_area=box_area(), methods={"c": RetrospectiveCounts()},
                 start=dt.date(2025, 2, 1), end=dt.date(2025, 2, 28), coverages=(coverage,))


@pytest.mark.parametrize("model, match", [
    (NaiveKDE(cell_m=0), "`cell_m` was 0 but must be a number of metres above 0"),
    (NaiveKDE(bandwidth_m=-300), "`bandwidth_m` was -300 but must be a number of metres above 0"),
    (ProspectiveHotspot(bandwidth_cells=0), "`bandwidth_cells` was 0 but must be a number of cells"),
    (ProspectiveHotspot(time_window_weeks=0), "`time_window_weeks` was 0 but must be a number of weeks"),
    (ProspectiveHotspot(cell_m=-150), "`cell_m` was -150"),
    (ProspectiveHotspot(distance="euclid"), "`distance` was 'euclid' but must be one of"),
    (RetrospectiveCounts(window="3 months"), "`window` was '3 months' but must be a span"),
    (RetrospectiveCounts(cell_m=float("nan")), "`cell_m` was nan"),
])
def test_bad_parameters(model, match, pts):
    with pytest.raises(InputError, match=match):
        model.fit(pts, dt.date(2025, 2, 1), study_area=box_area())
    with pytest.raises(InputError, match=match):
        backtest(pts, study_area=box_area(), methods={"m": model}, start=dt.date(2025, 2, 1),
                 end=dt.date(2025, 2, 28))


def test_other_bad_input(pts):
    area = box_area()
    with pytest.raises(InputError, match="`step` was 'fortnight'"):
        backtest(pts, study_area=area, methods={"c": RetrospectiveCounts()}, start=dt.date(2025, 2, 1),
                 end=dt.date(2025, 2, 28), step="fortnight")
    with pytest.raises(InputError, match="No forecast period"):
        backtest(pts, study_area=area, methods={"c": RetrospectiveCounts()}, start=dt.date(2025, 2, 1),
                 end=dt.date(2025, 2, 20))
    with pytest.raises(InputError, match="`methods` must be a non-empty dict"):
        backtest(pts, study_area=area, methods={}, start=dt.date(2025, 2, 1), end=dt.date(2025, 2, 28))
    with pytest.raises(InputError, match="holds text; parse it first"):
        RetrospectiveCounts().fit(pts.assign(occurred_at=["05/01/2025", "20/01/2025"]),
                                  dt.date(2025, 2, 1), study_area=area)
    with pytest.raises(InputError, match="no time column"):
        RetrospectiveCounts().fit(pts.drop(columns="occurred_at"), dt.date(2025, 2, 1), study_area=area)
    with pytest.raises(InputError, match="`grid` has cells of 150 m but this forecast has cell_m=100"):
        RetrospectiveCounts(cell_m=100).fit(pts, dt.date(2025, 2, 1), grid=forecast_grid(area))
    with pytest.raises(InputError, match="has no CRS"):
        RetrospectiveCounts().fit(pts.set_crs(None, allow_override=True), dt.date(2025, 2, 1),
                                  study_area=area)
    with pytest.raises(InputError, match="`cutoff` was"):
        RetrospectiveCounts().fit(pts, "1/2/2025", study_area=area)
    with pytest.raises(InputError, match="`observed` has 3 values but `scores` has 2"):
        hit_rate_curve([1, 0], [1, 0, 0])
    with pytest.raises(InputError, match="not fitted yet"):
        RetrospectiveCounts().ward_scores(gpd.GeoDataFrame({"code": ["W"]}, geometry=area.values))


def test_doctests():
    assert doctest.testmod(clustering.forecast).failed == 0
