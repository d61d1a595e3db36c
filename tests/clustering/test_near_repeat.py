"""The Knox table of near repeats against a direct double loop over every pair, the Monte Carlo
p-values against the same permutations counted pair by pair, and two synthetic processes: one with
near repeats (offspring within 100 m and 7 days) and one without."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from pyproj import Transformer

from clustering.errors import InputError
from clustering.near_repeat import Knox, knox, metric_days

# ten incidents in metres and days, chosen so that every kind of pair occurs: the same location
# (A, B, C at the origin), 1–100 m (D at 60 m, E at 100 m exactly), 101–200 m (F at 150 m), on a
# band edge (G at 200 m), beyond the last band (H at 260 m with 2 bands of 100 m, I far away), and
# time differences on the edges 7/8 and 14/15 days
POINTS = [  # (x, y, day)
    (0, 0, 0), (0, 0, 7), (0, 0, 8), (60, 0, 14), (0, 100, 15), (90, 120, 3),
    (200, 0, 22), (260, 0, 1), (5000, 5000, 2), (-60, 0, 29),
]
XY = np.array([p[:2] for p in POINTS], dtype=float)
DAYS = np.array([p[2] for p in POINTS])
SETTINGS = dict(distance_m=100.0, distance_bands=2, day_bandwidth=7, day_bands=3)


def band_of_distance(d: float, width: float, bands: int) -> int | None:
    """Row of a distance, as the calculator writes the bands: 0 m, then 1 to 100, 101 to 200, …"""
    if d == 0:
        return 0
    for k in range(1, bands + 1):
        if (k - 1) * width < d <= k * width:
            return k
    return None


def band_of_days(t: int, width: int, bands: int) -> int | None:
    """Column of a time difference: 0 to 7 days, 8 to 14, 15 to 21, …"""
    edges = [(0, width)] + [(k * width + 1, (k + 1) * width) for k in range(1, bands)]
    return next((k for k, (lo, hi) in enumerate(edges) if lo <= t <= hi), None)


def table_by_loop(xy, days, *, distance_m, distance_bands, day_bandwidth, day_bands) -> np.ndarray:
    out = np.zeros((distance_bands + 1, day_bands), dtype=int)
    n = len(xy)
    for a in range(n):
        for b in range(a + 1, n):
            r = band_of_distance(math.dist(xy[a], xy[b]), distance_m, distance_bands)
            c = band_of_days(abs(int(days[a]) - int(days[b])), day_bandwidth, day_bands)
            if r is not None and c is not None:
                out[r, c] += 1
    return out


def test_the_observed_table_is_the_count_of_every_pair():
    k = knox(XY, DAYS, permutations=0, **SETTINGS)
    expected = table_by_loop(XY, DAYS, **SETTINGS)
    assert k.observed.tolist() == expected.tolist()
    # by hand: same location A–B (7 days), A–C (8), B–C (1): two in 0–7 days, one in 8–14
    assert k.observed[0].tolist() == [2, 1, 0]
    # 1–100 m (A, B, C at the origin; D 60 m east; E 100 m north; F at (90, 120); G–H 60 m apart; J 60 m
    # west): B–D 7, C–D 6, C–E 7 days | A–D 14, B–E 8, E–F 12 | A–E 15, C–J 21, G–H 21; A–J 29 and
    # B–J 22 are beyond 21 days
    assert k.observed[1].tolist() == [3, 3, 3]
    within = sum(math.dist(XY[a], XY[b]) <= 200 for a in range(len(XY)) for b in range(a + 1, len(XY)))
    assert k.pairs == within
    assert k.distance_edges() == [(0.0, 0.0), (1.0, 100.0), (101.0, 200.0)]
    assert k.day_edges() == [(0, 7), (8, 14), (15, 21)]


def test_wider_bands_give_the_loops_table_too():
    rng = np.random.default_rng(7)
    xy = rng.uniform(0, 800, (60, 2))
    xy[10:15] = xy[0]  # some at one location
    days = rng.integers(0, 120, 60)
    settings = dict(distance_m=75.0, distance_bands=6, day_bandwidth=10, day_bands=5)
    assert knox(xy, days, permutations=0, **settings).observed.tolist() == \
        table_by_loop(xy, days, **settings).tolist()


def test_the_p_values_are_those_of_the_same_permutations_counted_pair_by_pair():
    permutations, seed = 49, 2024
    k = knox(XY, DAYS, permutations=permutations, seed=seed, **SETTINGS)
    rng = np.random.default_rng(seed)
    sims = []
    for _ in range(permutations):
        perm = rng.permutation(len(DAYS))
        sims.append(table_by_loop(XY, DAYS[perm], **SETTINGS))
    sims = np.array(sims)
    obs = table_by_loop(XY, DAYS, **SETTINGS)
    assert k.simulated.tolist() == sims.tolist()
    np.testing.assert_allclose(k.expected, sims.mean(axis=0))
    p = np.array([[(1 + sum(s[r, c] >= obs[r, c] for s in sims)) / (1 + permutations)
                   for c in range(obs.shape[1])] for r in range(obs.shape[0])])
    np.testing.assert_allclose(k.p_value, p)
    mean = sims.mean(axis=0)
    ratio = np.where(mean > 0, obs / np.where(mean > 0, mean, 1), np.nan)
    np.testing.assert_allclose(k.ratio, ratio, equal_nan=True)
    table = k.table()
    assert len(table) == 9 and table["observed"].sum() == obs.sum()
    row = table[(table["distance_band"] == 1) & (table["day_band"] == 0)].iloc[0]
    assert (row["distance_from"], row["distance_to"], row["day_from"], row["day_to"]) == (1, 100, 0, 7)
    assert row["observed"] == obs[1, 0] and row["p_value"] == pytest.approx(p[1, 0])


def synthetic(seed: int, offspring: bool, n: int = 400):
    """Poisson background over 4 × 4 km and a year; with ``offspring``, each incident has a 60 %
    chance of one more within 100 m and 1–7 days later (a near repeat)."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 4000, (n, 2))
    days = rng.integers(0, 365, n)
    if offspring:
        parents = np.flatnonzero(rng.random(n) < 0.6)
        angle, radius = rng.uniform(0, 2 * np.pi, len(parents)), 100 * np.sqrt(rng.uniform(0, 1, len(parents)))
        child = xy[parents] + np.column_stack([radius * np.cos(angle), radius * np.sin(angle)])
        xy = np.vstack([xy, child])
        days = np.concatenate([days, days[parents] + rng.integers(1, 8, len(parents))])
    return xy, days


def test_a_near_repeat_process_is_found_and_a_poisson_one_is_not():
    xy, days = synthetic(11, offspring=True)
    k = knox(xy, days, permutations=199, seed=5)
    assert k.ratio[1, 0] > 2 and k.p_value[1, 0] == pytest.approx(1 / 200)
    assert k.significant()[1, 0]
    ext = k.extent()
    assert ext["radius_m"] == 100 and ext["days"] == 7 and ext["ratio"] > 2 and ext["p_value"] < 0.05
    # far away and long after, the dates are as good as shuffled
    assert abs(k.ratio[5, 3] - 1) < 0.2

    xy, days = synthetic(11, offspring=False)
    k = knox(xy, days, permutations=199, seed=5)
    assert not k.significant()[1, 0] and k.p_value[1, 0] >= 0.05
    assert k.extent() is None
    assert np.nanmax(np.abs(k.ratio[1:] - 1)) < 0.6


def make(observed, simulated) -> Knox:
    observed, simulated = np.array(observed), np.array(simulated)
    rows, cols = observed.shape
    return Knox(100.0, rows - 1, 7, cols, len(simulated), 0, 10, int(observed.sum()), observed, simulated)


def test_the_extent_runs_from_the_origin_while_the_cells_stay_significant():
    # 39 permutations of 1 pair in every cell: a cell observing 3 is significant (p = 1/40), 1 is not
    sims = np.ones((39, 4, 3), dtype=int)
    obs = [[3, 3, 1], [3, 3, 3], [3, 1, 3], [1, 3, 3]]
    ext = make(obs, sims).extent()
    # 1–100 and 101–200 m in 0–7 days; along 1–100 m: 0–7, 8–14, 15–21 days, all significant
    assert (ext["radius_m"], ext["days"], ext["rows"], ext["columns"]) == (200, 21, 3, 3)
    assert ext["observed"] == 3 + 3 + 1 + 3 + 3 + 3 + 3 + 1 + 3 and ext["expected"] == 9.0
    assert ext["ratio"] == pytest.approx(23 / 9) and ext["p_value"] == pytest.approx(1 / 40)
    # only the same location: a radius of 0 m
    ext = make([[3, 3, 1], [1, 3, 3], [3, 3, 3], [3, 3, 3]], sims).extent()
    assert (ext["radius_m"], ext["days"]) == (0, 14)
    assert make([[1, 3, 3], [1, 3, 3], [3, 3, 3], [3, 3, 3]], sims).extent() is None
    # a ratio below 1 is never a near repeat, however small its p-value
    low = make([[0, 0, 0]] * 4, np.zeros((39, 4, 3), dtype=int))
    assert not low.significant().any() and low.extent() is None


def test_metric_days_projects_to_the_utm_zone_and_counts_days():
    to_wgs = Transformer.from_crs("EPSG:32648", "EPSG:4326", always_xy=True)
    lon, lat = to_wgs.transform([686_000.0, 686_150.0, 0.0], [1_191_000.0, 1_191_000.0, 0.0])
    frame = pd.DataFrame({"lon": [lon[0], lon[1], None], "lat": [lat[0], lat[1], 10.7],
                          "local_date": ["2025-01-01", "2025-01-09", "2025-02-01"]})
    xy, days, rows = metric_days(frame)
    assert rows.tolist() == [0, 1]
    np.testing.assert_allclose(xy, [[686_000.0, 1_191_000.0], [686_150.0, 1_191_000.0]], atol=1e-3)
    assert (days[1] - days[0]) == 8 and days[0] == (pd.Timestamp("2025-01-01") - pd.Timestamp("1970-01-01")).days
    assert knox(xy, days, permutations=0).observed[2, 1] == 1  # 150 m and 8 days


@pytest.mark.parametrize("kwargs, words", [
    (dict(distance_m=0.0), "distance_m"), (dict(distance_bands=0), "distance_bands"),
    (dict(day_bandwidth=2.5), "day_bandwidth"), (dict(day_bands=101), "day_bands"),
    (dict(permutations=-1), "permutations"),
])
def test_wrong_parameters_are_named(kwargs, words):
    with pytest.raises(InputError, match=words):
        knox(XY, DAYS, **kwargs)


def test_wrong_inputs_say_what_to_do():
    with pytest.raises(InputError, match="one day per incident"):
        knox(XY, DAYS[:3])
    with pytest.raises(InputError, match="whole days"):
        knox(XY, DAYS + 0.5)
    with pytest.raises(InputError, match="missing"):
        knox(np.vstack([XY[:-1], [np.nan, 0]]), DAYS)
    empty = knox(np.empty((0, 2)), [], permutations=5)
    assert empty.observed.sum() == 0 and empty.pairs == 0 and np.isnan(empty.ratio).all()


def test_too_many_pairs_are_refused_before_they_are_listed():
    xy, days = synthetic(3, offspring=False, n=200)
    within = sum(math.dist(xy[a], xy[b]) <= 500 for a in range(len(xy)) for b in range(a + 1, len(xy)))
    assert knox(xy, days, permutations=0, max_pairs=within).pairs == within
    with pytest.raises(InputError, match=f"{within} pairs of incidents lie within 500 m"):
        knox(xy, days, permutations=0, max_pairs=within - 1)
