"""Where to put ``k`` cameras or patrol teams: the maximal covering location problem.

The MCLP (Church and ReVelle 1974, "The maximal covering location problem", Papers of the Regional
Science Association 32) chooses ``k`` sites among candidates so that the incidents within
``radius_m`` of a chosen site weigh as much as possible. It is PySAL's ``spopt.locate.MCLP`` model
(its variables, its predefined-site and site-count constraints through ``FacilityModelBuilder``)
solved by COIN-OR CBC, the copy bundled with PuLP: no hand-written solver. CBC was the fastest open
solver on our sizes (one year of Gò Vấp, 2,972 incident points: the 1…10 camera curve at 75 m in
6.4 s against 12.0 s for HiGHS without presolve; 3 patrol sites at 400 m in 9.2 s against 31.5 s, and
51 s with HiGHS's presolve, whose probing alone took 11 s of a 12 s camera solve).

Three exact reductions keep the problem small (the optimum is unchanged by each):

* incidents at the same point are one demand point, and demand points covered by the same set of
  candidates are one (their weights add up);
* a candidate covering a subset of what another candidate (or an existing site) covers is dropped:
  a solution using it is never worse with the other one instead;
* demand that no candidate covers cannot be won and stays out of the model (it counts in the total).

Why the coverage constraints are written here and not by ``MCLP.from_cost_matrix``: spopt takes a
dense distance matrix and writes each demand point's constraint over every candidate, zeros
included (n_demand × n_candidates terms: 7.3 million for one year of Gò Vấp at 50 m, too slow to build
within a request); the same constraint over the candidates within the radius only is a few
thousand terms. ``tests/clustering/test_coverage.py`` checks the
result against a brute-force search over every set of sites and against spopt's own dense model.

Grid candidates are the centres of ``spacing_m`` cells (a lattice anchored at multiples of the
spacing, in the metric CRS of :func:`clustering.projection.metric_crs_for`) within ``radius_m`` of at
least one incident. Gateway sites ("cửa ngõ") are candidates within a distance of the border of the
area (:func:`near_border`).
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pulp
import scipy.sparse as sp
import shapely
from scipy.spatial import cKDTree
from spopt.locate import MCLP
from spopt.locate.base import FacilityModelBuilder

from .errors import N_, InputError

__all__ = ["Cover", "maximal_cover", "grid_candidates", "near_border", "assign", "busiest", "SOLVER"]

#: The solver's name as reports give it.
SOLVER = "CBC (PuLP), spopt MCLP"
SITE_COLUMNS = ["site", "x", "y", "fixed", "incidents", "weight", "share"]


@dataclass(frozen=True)
class Cover:
    """The chosen sites and what they cover.

    ``sites`` (:data:`SITE_COLUMNS`): ``site`` 1, 2, … (the new sites by the weight they cover, most
    first, then the existing ones), ``x``/``y`` (metres), ``fixed`` (an existing site), ``incidents``
    and ``weight`` it covers (each incident counted once, at its nearest chosen site) and ``share``
    of the total weight. ``site_of[i]``: the row of ``sites`` covering incident ``i`` (-1: none).
    ``curve``: for ``k`` = 0 (the existing sites alone), 1, 2, … the largest weight and share that
    ``k`` new sites can cover, each ``k`` solved on its own (the best sets need not be nested), the
    ``incidents`` that set covers, and ``gain``, the share the ``k``-th site adds. ``demand_points``/``candidates``: the size of the
    problem solved (after the reductions); ``seconds``: the time the solves took."""

    sites: pd.DataFrame
    site_of: np.ndarray
    curve: pd.DataFrame
    weight: float
    total: float
    demand_points: int
    candidates: int
    seconds: float
    solver: str = SOLVER

    @property
    def share(self) -> float:
        return self.weight / self.total if self.total > 0 else 0.0


def _xy(values, name: str) -> np.ndarray:
    a = np.asarray(values, dtype=float).reshape(-1, 2) if np.size(values) else np.zeros((0, 2))
    if not np.isfinite(a).all():
        raise InputError(N_("`%(name)s` holds missing or infinite coordinates; drop those rows first."), name=name)
    return a


def _positive(value, name: str) -> float:
    if not (isinstance(value, (int, float, np.integer, np.floating)) and np.isfinite(value) and value > 0):
        raise InputError(N_("`%(name)s` was %(value)s but must be a number > 0."), name=name, value=repr(value))
    return float(value)


def grid_candidates(xy, spacing_m: float = 50.0, radius_m: float = 75.0) -> np.ndarray:
    """Centres of the ``spacing_m`` grid cells within ``radius_m`` of at least one point of ``xy``
    (metres), as an (n, 2) array in row order of the cells.

    >>> grid_candidates([[10.0, 10.0]], spacing_m=50, radius_m=30).tolist()
    [[25.0, 25.0]]
    """
    xy, spacing, radius = _xy(xy, "xy"), _positive(spacing_m, "spacing_m"), _positive(radius_m, "radius_m")
    if not len(xy):
        return np.zeros((0, 2))
    pts = np.unique(xy, axis=0)
    cells = np.unique(np.floor(pts / spacing).astype(np.int64), axis=0)
    reach = int(np.ceil(radius / spacing)) + 1
    steps = np.arange(-reach, reach + 1)
    offsets = np.stack(np.meshgrid(steps, steps, indexing="ij"), axis=-1).reshape(-1, 2)
    near = np.unique((cells[:, None, :] + offsets[None, :, :]).reshape(-1, 2), axis=0)
    centres = (near + 0.5) * spacing
    distance, _ = cKDTree(pts).query(centres, distance_upper_bound=radius * (1 + 1e-12))
    return centres[np.isfinite(distance)]


def near_border(candidates_xy, area, distance_m: float) -> np.ndarray:
    """Which candidates lie within ``distance_m`` of the border of ``area`` (a shapely polygon in
    the candidates' metres), inside or outside it: the gateways into the area.

    >>> near_border([[5.0, 50.0], [50.0, 50.0]], shapely.box(0, 0, 100, 100), 10).tolist()
    [True, False]
    """
    xy, distance = _xy(candidates_xy, "candidates_xy"), _positive(distance_m, "distance_m")
    if area is None or area.is_empty:
        raise InputError(N_("The area has no shape: choose units with a boundary for gateway sites."))
    return shapely.distance(shapely.points(xy), area.boundary) <= distance if len(xy) else np.zeros(0, bool)


def assign(xy, sites_xy, radius_m: float) -> np.ndarray:
    """The nearest site within ``radius_m`` of each point (its row in ``sites_xy``; -1: none)."""
    xy, sites = _xy(xy, "xy"), _xy(sites_xy, "sites_xy")
    if not len(sites) or not len(xy):
        return np.full(len(xy), -1)
    distance, index = cKDTree(sites).query(xy, distance_upper_bound=_positive(radius_m, "radius_m") * (1 + 1e-12))
    return np.where(np.isfinite(distance), index, -1)


def maximal_cover(xy, candidates_xy, *, k: int, radius_m: float, weights=None, fixed_xy=None,
                  curve: bool = True, solver=None, progress=None) -> Cover:
    """Choose ``k`` of ``candidates_xy`` (metres) besides the existing ``fixed_xy`` (always chosen,
    not counted in ``k``) so that the ``weights`` of the incidents ``xy`` within ``radius_m`` of a
    chosen site add up to the most. ``curve``: solve every ``k`` from 1 (else only ``k``). Fewer
    than ``k`` new sites come back when fewer add anything (a site whose incidents all lie nearer
    another chosen site is not listed). ``solver``: a PuLP solver
    (default: PuLP's CBC). ``progress(fraction)`` hears how many of the solves are done.

    >>> c = maximal_cover([[0, 0], [1, 0], [100, 0]], [[0, 0], [100, 0]], k=1, radius_m=5)
    >>> c.sites[["site", "x", "incidents", "share"]].round(3).to_dict("records")
    [{'site': 1, 'x': 0.0, 'incidents': 2, 'share': 0.667}]
    >>> c.curve["share"].round(3).tolist()
    [0.0, 0.667]
    """
    xy, cand = _xy(xy, "xy"), _xy(candidates_xy, "candidates_xy")
    fixed = _xy([] if fixed_xy is None else fixed_xy, "fixed_xy")
    radius = _positive(radius_m, "radius_m")
    if not (isinstance(k, (int, np.integer)) and 1 <= k):
        raise InputError(N_("`%(name)s` was %(value)s but must be a whole number >= 1."), name="k", value=repr(k))
    w = np.ones(len(xy)) if weights is None else np.asarray(weights, dtype=float)
    if w.shape != (len(xy),) or not (np.isfinite(w).all() and (w >= 0).all()):
        raise InputError(N_("`weights` must give one number >= 0 per incident (%(n)s)."), n=len(xy))
    total = float(w.sum())

    # demand points: incidents at one point are one
    points, inverse = (np.unique(xy, axis=0, return_inverse=True) if len(xy) else (np.zeros((0, 2)), np.zeros(0, int)))
    inverse = np.asarray(inverse).ravel()
    demand_w = np.bincount(inverse, weights=w, minlength=len(points))
    sites = np.vstack([fixed, cand])  # the existing sites first
    n_fixed = len(fixed)
    cover = _coverage(points, sites, radius)  # demand × sites, 1 where covered
    keep = _undominated(cover, n_fixed)
    cover = cover[:, keep]
    site_xy = sites[keep]
    is_fixed = keep < n_fixed
    # demand covered by the same sites is one demand point; demand nobody covers stays out
    rows, weight = _demand_classes(cover, demand_w)
    t0 = time.perf_counter()
    free = int((~is_fixed).sum())
    ks = list(range(1, k + 1)) if curve else [k]
    demand_n = np.bincount(inverse, minlength=len(points)).astype(float)
    values, chosen = {}, None
    for n, j in enumerate(ks):
        p = min(j, free)
        chosen = _solve(rows, weight, is_fixed, p, solver) if p else is_fixed.copy()
        values[j] = (_covered(cover, chosen, demand_w), _covered(cover, chosen, demand_n))
        if progress:
            progress((n + 1) / len(ks))
    seconds = time.perf_counter() - t0
    base = (_covered(cover, is_fixed, demand_w), _covered(cover, is_fixed, demand_n))

    picked = np.flatnonzero(chosen)
    owner = assign(points, site_xy[picked], radius)
    of_incident = owner[inverse] if len(xy) else np.zeros(0, int)
    covered = of_incident >= 0
    n_inc = np.bincount(of_incident[covered], minlength=len(picked))
    w_inc = np.bincount(of_incident[covered], weights=w[covered], minlength=len(picked))
    table = pd.DataFrame({"x": site_xy[picked, 0], "y": site_xy[picked, 1], "fixed": is_fixed[picked],
                          "incidents": n_inc.astype(int), "weight": w_inc})
    table["share"] = table["weight"] / total if total > 0 else 0.0
    # a new site whose incidents all lie nearer another chosen site adds nothing: not listed
    table = table[table["fixed"] | (table["incidents"] > 0)]
    table = table.sort_values(["fixed", "weight", "x", "y"], ascending=[True, False, True, True], kind="stable")
    rank = np.full(len(picked) + 1, -1)  # the last entry: not covered
    rank[table.index.to_numpy()] = np.arange(len(table))
    site_of = rank[np.where(covered, of_incident, len(picked))]
    table = table.reset_index(drop=True)
    table.insert(0, "site", np.arange(1, len(table) + 1))
    frame = pd.DataFrame([(0, *base)] + [(j, *values[j]) for j in ks], columns=["k", "weight", "incidents"])
    frame["incidents"] = frame["incidents"].astype(int)
    frame["share"] = frame["weight"] / total if total > 0 else 0.0
    frame["gain"] = frame["share"].diff().fillna(frame["share"])
    return Cover(sites=table[SITE_COLUMNS], site_of=site_of, curve=frame, weight=float(w_inc.sum()), total=total,
                 demand_points=len(rows), candidates=free, seconds=seconds)


def _coverage(points: np.ndarray, sites: np.ndarray, radius: float) -> sp.csc_matrix:
    """Demand points × sites, 1 where the site is within ``radius`` (a sparse matrix)."""
    if not len(points) or not len(sites):
        return sp.csc_matrix((len(points), len(sites)))
    pairs = cKDTree(points).sparse_distance_matrix(cKDTree(sites), radius * (1 + 1e-12), output_type="coo_matrix")
    return sp.csc_matrix((np.ones(pairs.nnz), (pairs.row, pairs.col)), shape=(len(points), len(sites)))


def _undominated(cover: sp.csc_matrix, n_fixed: int) -> np.ndarray:
    """The sites kept: every existing one, and each candidate that covers demand no other site
    covers as well (of two candidates covering the same demand, the first is kept)."""
    n = cover.shape[1]
    size = np.asarray(cover.sum(axis=0)).ravel()
    overlap = (cover.T @ cover).tocoo()  # sites × sites: demand points both cover
    i, j = overlap.row, overlap.col       # does i dominate j?
    fixed_i = i < n_fixed
    dominates = ((overlap.data == size[j]) & (i != j) & (j >= n_fixed)
                 & ((size[i] > size[j]) | fixed_i | (i < j)))
    dropped = np.zeros(n, bool)
    dropped[j[dominates]] = True
    dropped[(size == 0) & (np.arange(n) >= n_fixed)] = True  # covers nothing
    return np.flatnonzero(~dropped)


def _demand_classes(cover: sp.csc_matrix, demand_w: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """The covering sites of each class of demand points covered by the same sites, and its weight."""
    csr = cover.tocsr()
    csr.sort_indices()
    keys = pd.Series([csr.indices[csr.indptr[r]:csr.indptr[r + 1]].tobytes() for r in range(csr.shape[0])])
    codes, uniques = pd.factorize(keys)
    weight = np.bincount(codes, weights=demand_w, minlength=len(uniques)) if len(codes) else np.zeros(0)
    rows = [np.frombuffer(u, dtype=csr.indices.dtype) for u in uniques]
    wanted = [r for r in range(len(rows)) if len(rows[r]) and weight[r] > 0]
    return [rows[r] for r in wanted], weight[wanted]


def _solve(rows, weight, is_fixed: np.ndarray, p: int, solver) -> np.ndarray:
    """spopt's MCLP over the demand classes ``rows`` (their covering sites), ``p`` new sites."""
    n_sites = len(is_fixed)
    model = MCLP("mclp", pulp.LpProblem("mclp", pulp.LpMaximize))
    FacilityModelBuilder.add_facility_integer_variable(model, range(n_sites), "x[{i}]")
    FacilityModelBuilder.add_client_integer_variable(model, range(len(rows)), "y[{i}]")
    x, y = model.fac_vars, model.cli_vars
    model.problem += pulp.LpAffineExpression([(y[i], float(weight[i])) for i in range(len(rows))]), "objective"
    if is_fixed.any():
        FacilityModelBuilder.add_predefined_facility_constraint(model, is_fixed.astype(int))
    for i, sites in enumerate(rows):  # spopt's maximal coverage constraint, over the covering sites only
        model.problem += pulp.LpAffineExpression([(x[s], 1) for s in sites] + [(y[i], -1)]) >= 0, f"cover_{i}"
    FacilityModelBuilder.add_facility_constraint(model, p + int(is_fixed.sum()))
    model.solve(solver or pulp.PULP_CBC_CMD(msg=False), results=False)
    return np.array([(v.value() or 0) > 0.5 for v in x], dtype=bool)


def _covered(cover: sp.csc_matrix, chosen: np.ndarray, demand_w: np.ndarray) -> float:
    """The weight of the demand points within reach of a chosen site."""
    if not chosen.any():
        return 0.0
    hit = np.asarray(cover[:, np.flatnonzero(chosen)].sum(axis=1)).ravel() > 0
    return float(demand_w[hit].sum())


def busiest(matrix, hours: int = 4, days: int = 2) -> tuple[int, int, tuple[int, ...]] | None:
    """The busiest ``hours`` consecutive hours of the day (across midnight too) and the ``days``
    busiest weekdays (0 = Monday, in weekday order) of a 7 × 24 weekday-hour matrix
    (:func:`clustering.aoristic.weekday_hour`), as (first hour, hour after the last, weekdays);
    None for an empty matrix. Ties go to the earliest.

    >>> m = np.zeros((7, 24)); m[5, 18:22] = 2; m[6, 20] = 3; m[0, 9] = 1
    >>> busiest(m)
    (18, 22, (5, 6))
    """
    m = np.asarray(matrix, dtype=float)
    if m.shape != (7, 24):
        raise InputError(N_("The weekday-hour matrix must be 7 × 24 (got %(shape)s)."), shape=m.shape)
    if m.sum() <= 0:
        return None
    by_hour = m.sum(axis=0)
    window = np.array([by_hour[(h + np.arange(hours)) % 24].sum() for h in range(24)])
    first = int(np.argmax(window))
    by_day = m.sum(axis=1)
    top = sorted(np.argsort(-by_day, kind="stable")[:days].tolist())
    return first, (first + hours) % 24, tuple(int(d) for d in top if by_day[d] > 0)
