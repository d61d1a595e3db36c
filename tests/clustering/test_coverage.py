"""The maximal covering sites against a brute-force search over every set of sites, and against
spopt's own dense MCLP model; the candidates, the gateway restriction and the busiest hours by hand."""
from __future__ import annotations

import itertools

import numpy as np
import pulp
import pytest
import shapely
from scipy.spatial.distance import cdist
from spopt.locate import MCLP

from clustering.coverage import assign, busiest, grid_candidates, maximal_cover, near_border
from clustering.errors import InputError

RADIUS = 30.0


def case(seed: int, n_demand: int = 12, n_cand: int = 8):
    """Demand points (some repeated), weights and candidates in a 100 m square."""
    rng = np.random.default_rng(seed)
    demand = rng.uniform(0, 100, (n_demand, 2)).round(1)
    demand[-2:] = demand[:2]  # two incidents at the places of two others
    weights = rng.integers(1, 6, n_demand).astype(float)
    cand = rng.uniform(0, 100, (n_cand, 2)).round(1)
    return demand, weights, cand


def covered_weight(demand, weights, sites, radius=RADIUS) -> float:
    if not len(sites):
        return 0.0
    near = (cdist(demand, np.asarray(sites)) <= radius).any(axis=1)
    return float(weights[near].sum())


def brute_force(demand, weights, cand, k, fixed=()):
    """The best covered weight of ``k`` candidates (with every fixed site), by trying every set."""
    fixed = [tuple(f) for f in fixed]
    return max(covered_weight(demand, weights, fixed + [tuple(cand[i]) for i in combo])
               for combo in itertools.combinations(range(len(cand)), k))


@pytest.mark.parametrize("seed", range(6))
def test_covered_weight_and_curve_equal_brute_force(seed):
    demand, weights, cand = case(seed)
    cover = maximal_cover(demand, cand, k=3, radius_m=RADIUS, weights=weights)
    best = [brute_force(demand, weights, cand, k) for k in (1, 2, 3)]
    curve = cover.curve.set_index("k")["weight"]
    assert curve.loc[0] == 0.0
    assert curve.loc[[1, 2, 3]].tolist() == pytest.approx(best)

    assert np.all(np.diff(cover.curve["weight"]) >= -1e-9)  # never less with one more site
    assert cover.weight == pytest.approx(best[-1])
    # the chosen sites are candidates and cover what they claim, each incident counted once
    sites = cover.sites[["x", "y"]].to_numpy()
    assert all(any(np.allclose(s, c) for c in cand) for s in sites)
    assert len(sites) <= 3
    assert covered_weight(demand, weights, sites) == pytest.approx(cover.weight)
    assert cover.sites["weight"].sum() == pytest.approx(cover.weight)
    assert cover.curve["incidents"].iloc[-1] == (cdist(demand, sites) <= RADIUS).any(axis=1).sum()
    assert cover.total == pytest.approx(weights.sum())
    assert cover.share == pytest.approx(best[-1] / weights.sum())
    assert cover.curve["share"].tolist() == pytest.approx(cover.curve["weight"] / weights.sum())
    assert cover.curve["gain"].sum() == pytest.approx(cover.curve["share"].iloc[-1])


@pytest.mark.parametrize("seed", range(4))
def test_each_incident_is_counted_at_its_nearest_chosen_site(seed):
    demand, weights, cand = case(seed)
    cover = maximal_cover(demand, cand, k=3, radius_m=RADIUS, weights=weights)
    sites = cover.sites[["x", "y"]].to_numpy()
    d = cdist(demand, sites)
    expected = np.where((d <= RADIUS).any(axis=1), d.argmin(axis=1), -1)
    assert cover.site_of.tolist() == expected.tolist()
    counts = np.bincount(expected[expected >= 0], minlength=len(sites))
    assert cover.sites["incidents"].tolist() == counts.tolist()
    assert cover.sites["site"].tolist() == list(range(1, len(sites) + 1))
    assert cover.sites["weight"].is_monotonic_decreasing


@pytest.mark.parametrize("seed", range(4))
def test_equal_to_spopt_dense_model(seed):
    """The same optimum as spopt's own MCLP.from_cost_matrix (dense distances, its constraints)."""
    demand, weights, cand = case(seed, n_demand=20, n_cand=10)
    for k in (1, 2, 4):
        dense = MCLP.from_cost_matrix(cdist(demand, cand), weights, RADIUS, k)
        dense.solve(pulp.PULP_CBC_CMD(msg=False))
        ours = maximal_cover(demand, cand, k=k, radius_m=RADIUS, weights=weights, curve=False)
        assert ours.weight == pytest.approx(pulp.value(dense.problem.objective))


@pytest.mark.parametrize("seed", range(4))
def test_fixed_sites_are_kept_and_not_counted_in_k(seed):
    demand, weights, cand = case(seed)
    fixed = np.array([[50.0, 50.0], [10.0, 90.0]])
    cover = maximal_cover(demand, cand, k=2, radius_m=RADIUS, weights=weights, fixed_xy=fixed)
    listed = cover.sites
    assert listed["fixed"].sum() == 2
    assert sorted(map(tuple, listed.loc[listed["fixed"], ["x", "y"]].to_numpy())) == sorted(map(tuple, fixed))
    assert (~listed["fixed"]).sum() <= 2
    assert listed["site"].tolist() == list(range(1, len(listed) + 1))
    assert not listed["fixed"].iloc[: (~listed["fixed"]).sum()].any()  # the new sites come first
    curve = cover.curve.set_index("k")["weight"]
    assert curve.loc[0] == pytest.approx(covered_weight(demand, weights, fixed))
    for k in (1, 2):
        assert curve.loc[k] == pytest.approx(brute_force(demand, weights, cand, k, fixed))
    assert cover.weight == pytest.approx(curve.loc[2])


def test_a_candidate_at_an_existing_site_adds_nothing_and_fewer_sites_come_back():
    demand = np.array([[0.0, 0.0], [5.0, 0.0], [200.0, 0.0]])
    cand = np.array([[0.0, 0.0], [1.0, 0.0], [200.0, 0.0]])
    cover = maximal_cover(demand, cand, k=3, radius_m=10, fixed_xy=[[0.0, 0.0]])
    new = cover.sites[~cover.sites["fixed"]]
    assert new[["x", "y"]].to_numpy().tolist() == [[200.0, 0.0]]
    assert cover.weight == 3.0
    assert cover.curve["weight"].tolist() == [2.0, 3.0, 3.0, 3.0]


@pytest.mark.parametrize("seed", range(4))
def test_gateway_candidates_only_near_the_border(seed):
    demand, weights, cand = case(seed, n_cand=10)
    cand[:3] = [[5.0, 40.0], [60.0, 95.0], [50.0, 50.0]]  # two near the border, one in the middle
    area = shapely.box(0, 0, 100, 100)
    gate = near_border(cand, area, 20.0)
    # independent: the distance to the nearest side of the square
    to_side = np.minimum.reduce([cand[:, 0], 100 - cand[:, 0], cand[:, 1], 100 - cand[:, 1]])
    assert gate.tolist() == (to_side <= 20.0).tolist()
    assert gate[:3].tolist() == [True, True, False]
    cover = maximal_cover(demand, cand[gate], k=2, radius_m=RADIUS, weights=weights)
    sites = cover.sites[["x", "y"]].to_numpy()
    side = np.minimum.reduce([sites[:, 0], 100 - sites[:, 0], sites[:, 1], 100 - sites[:, 1]])
    assert (side <= 20.0).all()
    assert cover.weight == pytest.approx(brute_force(demand, weights, cand[gate], 2))


def test_grid_candidates_equal_every_cell_centre_within_the_radius():
    rng = np.random.default_rng(5)
    pts = rng.uniform(1000, 1400, (40, 2))
    got = grid_candidates(pts, spacing_m=50, radius_m=75)
    # brute force: every centre of the lattice around the points, kept when a point is within 75 m
    xs = np.arange(800, 1600, 50) + 25.0
    every = np.array([(x, y) for x in xs for y in xs])
    want = every[(cdist(every, pts) <= 75).any(axis=1)]
    assert sorted(map(tuple, got)) == sorted(map(tuple, want))


def test_assign_and_busiest_by_hand():
    assert assign([[0, 0], [9, 0], [50, 0]], [[10, 0], [0, 0]], 5).tolist() == [1, 0, -1]
    m = np.zeros((7, 24))
    m[4, 22:24] = 3   # Friday night across midnight into Saturday
    m[5, 0:2] = 3
    m[2, 10] = 1
    assert busiest(m) == (22, 2, (4, 5))
    assert busiest(np.zeros((7, 24))) is None


def test_bad_input_is_named():
    with pytest.raises(InputError, match="k"):
        maximal_cover([[0, 0]], [[0, 0]], k=0, radius_m=10)
    with pytest.raises(InputError, match="radius_m"):
        maximal_cover([[0, 0]], [[0, 0]], k=1, radius_m=-1)
    with pytest.raises(InputError, match="weights"):
        maximal_cover([[0, 0]], [[0, 0]], k=1, radius_m=10, weights=[1, 2])
