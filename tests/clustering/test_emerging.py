import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy import stats

from clustering.emerging import (
    PATTERNS,
    EmergingHotSpots,
    classify_patterns,
    emerging_hot_spots,
    mann_kendall,
)
from clustering.getis_ord import HotSpots
from clustering.grid import make_grid, ward_weights
from geo.errors import InputError
from geo.render import palette

# --------------------------------------------------------------------------- Mann-Kendall


def test_mann_kendall_hand_worked_with_ties():
    x = [1, 2, 2, 3, 3, 3]
    r = mann_kendall(x)
    # pairs i<j: from 1: +5; from each 2: +3 (the other 2 ties); from the 3s: 0  -> S = 11
    assert r.S == 11
    # Var(S) = [6*5*17 - (2*1*9 + 3*2*11)] / 18 = (510 - 84) / 18
    assert_allclose(r.var_S, 426 / 18)
    assert_allclose(r.z, 10 / np.sqrt(426 / 18))
    # tau-b: n0 = 15, tied pairs = 1 + 3 = 4
    assert_allclose(r.tau, 11 / np.sqrt(15 * 11))
    assert_allclose(mann_kendall(x, continuity=False).z, 11 / np.sqrt(426 / 18))


def test_mann_kendall_matches_scipy_kendalltau():
    rng = np.random.default_rng(42)
    series = rng.integers(0, 6, size=(40, 24)).astype(float)      # many ties
    series[:10] += np.arange(24) * 0.3                              # some trends
    r = mann_kendall(series, continuity=False)
    t = np.arange(24)
    for i, x in enumerate(series):
        ref = stats.kendalltau(t, x, method="asymptotic")
        assert_allclose(r.tau[i], ref.statistic, atol=1e-12)
        assert_allclose(r.p[i], ref.pvalue, atol=1e-12)
        s = sum(np.sign(x[j] - x[k]) for k in range(24) for j in range(k + 1, 24))
        assert r.S[i] == s


def test_mann_kendall_no_variation():
    r = mann_kendall(np.ones((2, 5)))
    assert_array_equal(r.S, 0)
    assert_array_equal(r.z, 0)
    assert_array_equal(r.p, 1)


# --------------------------------------------------------------------------- patterns

N = 10
_ = False
H = "hot"
C = "cold"


def seq(**bins):
    """hot/cold boolean series of N bins from ``hot=[...]`` and ``cold=[...]`` indices."""
    hot = np.zeros(N, dtype=bool)
    cold = np.zeros(N, dtype=bool)
    hot[list(bins.get("hot", []))] = True
    cold[list(bins.get("cold", []))] = True
    return hot, cold


UP = np.linspace(2, 6, N)               # clustering getting stronger
DOWN = UP[::-1]
FLAT = np.array([4, 5, 4, 5, 4, 5, 4, 5, 4, 5.0])

CASES = [
    # code, hot bins, cold bins, Gi* z series (its Mann-Kendall trend)
    ("no_pattern", [], [], FLAT),
    ("no_pattern", [3, 4, 5], [], FLAT),                    # hot once, not any more
    ("new_hot", [9], [], FLAT),
    ("consecutive_hot", [7, 8, 9], [], UP),
    ("intensifying_hot", range(10), [], UP),
    ("intensifying_hot", range(1, 10), [], UP),             # exactly 90 %
    ("persistent_hot", range(10), [], FLAT),
    ("diminishing_hot", range(10), [], DOWN),
    ("sporadic_hot", [1, 4, 5, 9], [], FLAT),
    ("sporadic_hot", [2, 8, 9], [], FLAT),                  # a final run, but hot before it
    ("oscillating_hot", [6, 9], [2], FLAT),
    ("oscillating_hot", [9], [0, 1], FLAT),                 # once cold, now hot
    ("historical_hot", range(9), [], DOWN),
    ("new_cold", [], [9], -FLAT),
    ("consecutive_cold", [], [8, 9], -UP),
    ("intensifying_cold", [], range(10), -UP),
    ("persistent_cold", [], range(10), -FLAT),
    ("diminishing_cold", [], range(10), -DOWN),
    ("sporadic_cold", [], [0, 3, 9], -FLAT),
    ("oscillating_cold", [4], [7, 9], -FLAT),
    ("historical_cold", [], range(9), -FLAT),
]


@pytest.mark.parametrize("code, hot, cold, z", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_each_pattern(code, hot, cold, z):
    h, c = seq(hot=hot, cold=cold)
    trend = mann_kendall(z)
    assert classify_patterns(h, c, trend.z, trend.p).tolist() == [code]


def test_every_pattern_is_covered():
    assert set(PATTERNS["code"]) == {c[0] for c in CASES}
    assert len(PATTERNS) == 17


def test_ninety_percent_boundary():
    h, c = seq(hot=range(2, 10))                     # 8 of 10 hot, final run from bin 2
    assert classify_patterns(h, c, 0.0, 1.0).tolist() == ["consecutive_hot"]
    h, c = seq(hot=range(1, 10))                     # 9 of 10
    assert classify_patterns(h, c, 0.0, 1.0).tolist() == ["persistent_hot"]


def test_trend_alpha():
    h, c = seq(hot=range(10))
    assert classify_patterns(h, c, 2.0, 0.03).tolist() == ["intensifying_hot"]
    assert classify_patterns(h, c, 2.0, 0.03, trend_alpha=0.01).tolist() == ["persistent_hot"]


# --------------------------------------------------------------------------- cube


@pytest.fixture(scope="module")
def cube():
    """A 12 x 12 grid over 10 months with four planted 3 x 3 patterns in its corners."""
    grid = make_grid((0, 0, 1200, 1200), cell_m=100, shape="square", crs="EPSG:32648")
    rng = np.random.default_rng(2025)
    counts = 3.0 + rng.integers(0, 2, (len(grid), 10))   # a quiet background
    col, row = grid["col"].to_numpy(), grid["row"].to_numpy()
    block = {
        "nw": (col < 3) & (row >= 9), "ne": (col >= 9) & (row >= 9),
        "sw": (col < 3) & (row < 3), "se": (col >= 9) & (row < 3),
    }
    counts[block["nw"]] += 12                       # hot all along
    counts[np.ix_(block["ne"], [9])] += 12          # hot in the last month only
    counts[np.ix_(block["sw"], [7, 8, 9])] += 12    # hot for the last three months
    counts[np.ix_(block["se"], range(9))] += 12     # hot until the last month
    centre = {k: np.nonzero(v & (col % 3 == 1) & (row % 3 == 1))[0][0] for k, v in block.items()}
    return grid, counts, centre


def test_cube_patterns(cube):
    grid, counts, centre = cube
    ehs = EmergingHotSpots(counts, ward_weights(grid), permutations=999, seed=8)
    # Each month is compared within itself, so the always-hot corner loses ground when
    # the others heat up late: persistent or diminishing depending on the noise.
    assert ehs.codes[centre["nw"]] in ("persistent_hot", "diminishing_hot")
    assert ehs.hot[centre["nw"]].all()
    assert ehs.codes[centre["ne"]] == "new_hot"
    assert ehs.codes[centre["sw"]] == "consecutive_hot"
    assert ehs.codes[centre["se"]] == "historical_hot"
    assert ehs.labels[centre["se"]] == "Historical Hot Spot"
    assert palette.label(ehs.codes[centre["ne"]], locale="vi") == "Điểm nóng mới"


def test_cube_bins_are_per_bin_gi_star(cube):
    grid, counts, _ = cube
    w = ward_weights(grid)
    ehs = EmergingHotSpots(counts, w, permutations=99, seed=8)
    for t in (0, 9):
        hs = HotSpots(counts[:, t], w, permutations=99, seed=8 + t)
        assert_allclose(ehs.z[:, t], hs.Zs)
        assert_allclose(ehs.p[:, t], hs.p)
        assert_array_equal(ehs.bins[:, t], hs.bins)
    assert_array_equal(ehs.hot, (ehs.bins > 0))
    r = mann_kendall(ehs.z)
    assert_allclose(ehs.trend.z, r.z)


def test_overall_trend_and_frame(cube):
    grid, counts, _ = cube
    rising = counts + np.arange(10) * 0.5
    frame = emerging_hot_spots(pd.DataFrame(rising, index=grid["cell_id"]),
                               ward_weights(grid.set_index("cell_id")), permutations=0,
                               inference="normal")
    assert frame.index.tolist() == grid["cell_id"].tolist()
    assert frame.attrs["overall_trend"]["z"] > 3
    assert frame.attrs["overall_trend"]["p"] < 0.01
    assert set(frame.columns) >= {"pattern", "pattern_label", "trend_z", "trend_p",
                                  "n_hot", "n_cold", "last_bin"}


def test_bin_without_variation_is_not_significant(cube):
    grid, counts, _ = cube
    flat = counts.copy()
    flat[:, 4] = 3.0
    ehs = EmergingHotSpots(flat, ward_weights(grid), permutations=0, inference="normal")
    assert_array_equal(ehs.z[:, 4], 0)
    assert not ehs.hot[:, 4].any() and not ehs.cold[:, 4].any()


def test_errors(cube):
    grid, counts, _ = cube
    w = ward_weights(grid)
    with pytest.raises(InputError, match=r"`counts` has 2 time bin\(s\); a trend needs at least 3"):
        EmergingHotSpots(counts[:, :2], w)
    with pytest.raises(InputError, match=r"it must be 2-D"):
        EmergingHotSpots(counts[:, 0], w)
    with pytest.raises(InputError, match=r"`w` has 144 ids but `counts` has 10 rows"):
        EmergingHotSpots(counts[:10], w)
    holes = counts.copy()
    holes[0, 0] = np.nan
    with pytest.raises(InputError, match=r"1 missing or infinite values; a location without incidents"):
        EmergingHotSpots(holes, w)
    with pytest.raises(InputError, match=r"`trend_alpha` was 0 but must be"):
        EmergingHotSpots(counts, w, trend_alpha=0)
    with pytest.raises(InputError, match=r"cannot be both a hot and a cold spot"):
        classify_patterns([True, True, True], [True, False, False], 0, 1)
