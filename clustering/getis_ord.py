"""Hot and cold spots with the Getis-Ord Gi* statistic, classified as ArcGIS does."""
from __future__ import annotations

import os
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from numbers import Integral, Real
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import sparse, stats

from .errors import InputError
from .grid import aligned_graph, as_graph, validate_parameters, ward_weights

PERMUTATIONS = 999
#: Fixed default seed, so that the same data give the same map. ``seed=None`` draws one.
DEFAULT_SEED = 12345
ALPHA_LEVELS = (0.01, 0.05, 0.10)
INFERENCES = ("permutation", "normal")
#: Relative tolerance of p-value comparisons, to absorb floating-point rounding.
_P_RTOL = 1e-9


def _alpha_levels_ok(levels):
    try:
        levels = tuple(levels)
    except TypeError:
        return False
    return (len(levels) > 0 and len(set(levels)) == len(levels)
            and all(isinstance(a, Real) and not isinstance(a, bool) and 0 < a < 1 for a in levels))


# Allowed parameter values, declared as data: name -> (test, what is allowed).
_parameter_constraints = {
    "permutations": (lambda v: isinstance(v, Integral) and not isinstance(v, bool) and v >= 0,
                     "an integer >= 0 (999 by default)"),
    "seed": (lambda v: v is None or (isinstance(v, Integral) and not isinstance(v, bool) and v >= 0),
             "None or an integer >= 0"),
    "fdr": (lambda v: isinstance(v, (bool, np.bool_)), "True or False"),
    "alpha_levels": (_alpha_levels_ok, "a non-empty sequence of distinct numbers between 0 and 1"),
    "inference": (lambda v: v in INFERENCES, f"one of {INFERENCES}"),
    "n_jobs": (lambda v: isinstance(v, Integral) and not isinstance(v, bool) and (v >= 1 or v == -1),
               "an integer >= 1, or -1 for all cores"),
}


def _confidence(alpha: float) -> str:
    return f"{(1 - alpha) * 100:.10g}"


def category_table(alpha_levels=ALPHA_LEVELS) -> pd.DataFrame:
    """The hot/cold spot categories for ``alpha_levels``, coldest first (for legends).

    Columns: ``bin`` (ArcGIS's Gi_Bin: ±3 for 99 %, ±2 for 95 %, ±1 for 90 % with the
    default levels, 0 when not significant), ``code`` (``hot_99`` … ``not_significant`` …
    ``cold_99``) and ``label`` (ArcGIS's wording). Labels for people, in their language, are
    in ``geo.render.palette``.
    """
    levels = sorted(alpha_levels)            # strictest first
    rows = []
    for sign, code, en in ((-1, "cold", "Cold Spot"), (1, "hot", "Hot Spot")):
        for k, alpha in enumerate(levels):
            conf = _confidence(alpha)
            rows.append({"bin": sign * (len(levels) - k), "code": f"{code}_{conf}",
                         "label": f"{en} - {conf}% Confidence"})
    rows.append({"bin": 0, "code": "not_significant", "label": "Not Significant"})
    return pd.DataFrame(rows).sort_values("bin", ignore_index=True)


# --------------------------------------------------------------------------- p-values


def pseudo_p_value(observed, simulated, *, rtol: float = 1e-9, atol: float = 1e-12) -> np.ndarray:
    """One-tailed pseudo p-value with ties counted in both tails.

    ``(min(m_ge, m_le) + 1) / (R + 1)`` where, for each row, ``m_ge`` / ``m_le`` count the
    ``R`` simulated values at least / at most as large as the observed one. Values within
    ``atol + rtol * |observed|`` of it count as ties (the simulated statistics are summed in
    another order than the observed one).

    Parameters
    ----------
    observed : array-like, shape (n,)
    simulated : array-like, shape (n, R)

    References
    ----------
    Hope, A. C. A. (1968). A simplified Monte Carlo significance test procedure. *Journal
    of the Royal Statistical Society B* 30(3), 582-598.

    Examples
    --------
    >>> pseudo_p_value([0.0], [[0.0, 0.0, 1.0, 2.0]])
    array([0.6])
    """
    observed = np.asarray(observed, dtype=float)[:, None]
    simulated = np.asarray(simulated, dtype=float)
    tol = atol + rtol * np.abs(observed)
    m_ge = (simulated >= observed - tol).sum(axis=1)
    m_le = (simulated <= observed + tol).sum(axis=1)
    return (np.minimum(m_ge, m_le) + 1.0) / (simulated.shape[1] + 1.0)


# --------------------------------------------------------------------------- FDR


def fdr_threshold(p, alpha: float) -> float:
    """Benjamini-Hochberg critical p-value: the largest ``p_(k)`` with ``p_(k) <= k * alpha / n``.

    ``p_(1) <= … <= p_(n)`` are the sorted p-values of all ``n`` features. A feature is
    significant at ``alpha`` under the false discovery rate when its p-value is at most
    this value. Returns 0.0 when no p-value passes, so that nothing is significant.

    Examples
    --------
    >>> fdr_threshold([0.001, 0.008, 0.012, 0.045, 0.046, 0.068, 0.069, 0.085, 0.3, 0.9], 0.10)
    0.069
    """
    p = np.sort(np.asarray(p, dtype=float))
    n = len(p)
    if n == 0:
        return 0.0
    passed = np.nonzero(p <= np.arange(1, n + 1) * alpha / n * (1 + _P_RTOL))[0]
    return float(p[passed[-1]]) if len(passed) else 0.0


def fdr_qvalues(p) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q-values), in the input order.

    ``q_(k) = min over j >= k of n * p_(j) / j``, capped at 1. A feature is significant at
    ``alpha`` under the false discovery rate exactly when ``q <= alpha``.
    """
    p = np.asarray(p, dtype=float)
    n = len(p)
    order = np.argsort(p, kind="stable")
    scaled = p[order] * n / np.arange(1, n + 1)
    q = np.minimum.accumulate(scaled[::-1])[::-1]
    out = np.empty(n)
    out[order] = np.minimum(q, 1.0)
    return out


def confidence_bins(z, p, *, alpha_levels=ALPHA_LEVELS, fdr: bool = True):
    """ArcGIS's Gi_Bin: ``sign(z)`` times the number of ``alpha_levels`` at which p is significant.

    Without FDR a feature is significant at ``alpha`` when ``p <= alpha``. With FDR it is
    significant when ``p <= fdr_threshold(p, alpha)``, the Benjamini-Hochberg rule applied
    separately at each level, over all features. Because the thresholds grow with alpha, a
    feature significant at 0.01 is also significant at 0.05 and 0.10, and the bin is ±3,
    ±2, ±1 or 0 with the default levels.

    Returns
    -------
    bins : ndarray of int
    thresholds : dict
        The p-value threshold used at each level.
    """
    validate_parameters(_parameter_constraints, alpha_levels=alpha_levels, fdr=fdr)
    z = np.asarray(z, dtype=float)
    p = np.asarray(p, dtype=float)
    thresholds = {a: (fdr_threshold(p, a) if fdr else float(a)) for a in sorted(alpha_levels)}
    count = np.zeros(len(p), dtype=np.int64)
    for crit in thresholds.values():
        count += p <= crit * (1 + _P_RTOL)
    bins = (np.sign(np.nan_to_num(z)).astype(np.int64) * count)
    return bins, thresholds


# --------------------------------------------------------------------------- permutations
#
# Conditional permutation inference (Anselin 1995), written with numpy rather than
# through esda's ``crand``: without numba esda loops over the sites in Python and copies
# the n values for each one, and with numba it still copies them per site (n² work) after
# a JIT compilation of tens of seconds per process. Here the sums of all sites come from
# one draw matrix and a sparse cumulative sum, blocks of sites at a time. Measured on
# 10,000 grid cells with 999 permutations (bench/analysis_gistar.py): 22x faster than
# ``esda.G_Local`` and 11x than ``esda.Moran_Local`` as installed (no numba), and 7x / 4x
# faster than their numba path once compiled (numba and llvmlite would add 200 MB to the
# install and a minute of compilation to each new process). The draws are arranged as
# esda arranges them, so esda's own per-site code run on the same draw matrix gives the
# same simulated values (tests/clustering/test_getis_ord.py).

#: Sites per block of the permutation kernel: a block of simulated sums is
#: ``BLOCK_ROWS * permutations`` floats (0.5 MB with 999 permutations), small enough to
#: stay in the processor's cache.
BLOCK_ROWS = 64


def permutation_draws(n: int, k: int, permutations: int, seed=None) -> np.ndarray:
    """``permutations`` rows of ``k`` distinct indices into ``range(n - 1)``.

    A site's conditional permutation draws its neighbours from the ``n - 1`` values other
    than its own; one matrix serves every site, which takes the first ``c`` indices of each
    row when it has ``c`` neighbours (as esda's ``crand`` does). Each row is a uniformly
    random ordered sample without replacement: index ``j`` is drawn among the ``n - 1 - j``
    not yet taken and shifted past the ones taken before it.

    Examples
    --------
    >>> d = permutation_draws(5, 3, 4, seed=0)
    >>> d.shape, all(len(set(row)) == 3 for row in d), int(d.max()) <= 3
    ((4, 3), True, True)
    """
    if not 0 <= k <= n - 1:
        raise InputError(f"cannot draw {k} distinct neighbours among {n - 1} other areas.")
    rng = np.random.default_rng(seed)
    out = np.empty((permutations, k), dtype=np.int64)
    taken = np.empty((permutations, 0), dtype=np.int64)      # sorted within each row
    for j in range(k):
        v = rng.integers(0, n - 1 - j, permutations)
        for t in range(j):
            v += v >= taken[:, t]
        out[:, j] = v
        taken = np.sort(np.column_stack([taken, v]), axis=1)
    return out


def binary_neighbours(w) -> sparse.csr_matrix:
    """The neighbours of a libpysal ``Graph`` as a binary CSR matrix without self-links."""
    coo = w.sparse.tocoo()
    keep = (coo.row != coo.col) & (coo.data != 0)
    a = sparse.csr_matrix((np.ones(int(keep.sum())), (coo.row[keep], coo.col[keep])), shape=coo.shape)
    a.data[:] = 1.0                                           # duplicates were summed
    return a


def conditional_sums(v, cardinalities, draws, *, block_rows: int = BLOCK_ROWS):
    """Sums of conditionally permuted neighbour values, a block of sites at a time.

    For site ``i`` with ``c = cardinalities[i]`` neighbours and permutation ``p`` the sum is
    ``v_i'[draws[p, :c]].sum()``, where ``v_i'`` is ``v`` without ``v[i]`` (the draws index
    the other ``n - 1`` values). Yields ``(sites, sums)`` with ``sums`` of shape
    ``(len(sites), permutations)``; every site comes once.

    How: ``v_i'[m]`` is ``v[m]`` for ``m < i`` and ``v[m + 1]`` otherwise, so the sum is the
    sum ``v[draws[p, :c]]``, the same for every site with ``c`` neighbours, plus
    ``v[m + 1] - v[m]`` for each drawn ``m >= i``. Among the sites with ``c`` neighbours,
    taken in order, a draw ``m`` corrects a prefix of them, so the corrections of all of
    them are one cumulative sum from the last site backwards over a sparse matrix.
    Integer values are summed exactly.

    Examples
    --------
    >>> v = np.array([1.0, 2.0, 4.0, 8.0])
    >>> out = np.empty((4, 2))
    >>> for sites, sums in conditional_sums(v, [2, 2, 1, 0], np.array([[0, 2], [1, 0]])):
    ...     out[sites] = sums
    >>> out.tolist()
    [[10.0, 6.0], [9.0, 5.0], [1.0, 2.0], [0.0, 0.0]]
    """
    v = np.asarray(v, dtype=float)
    cardinalities = np.asarray(cardinalities)
    permutations = draws.shape[0]
    for c in np.unique(cardinalities):
        sites = np.flatnonzero(cardinalities == c)
        if c == 0:
            yield sites, np.zeros((len(sites), permutations))
            continue
        m = draws[:, :c]
        base = v[m].sum(axis=1)
        # site position r is corrected by draw m when sites[r] <= m, i.e. r <= last
        last = np.searchsorted(sites, m, side="right").ravel() - 1
        col = np.broadcast_to(np.arange(permutations)[:, None], m.shape).ravel()
        step = (v[m + 1] - v[m]).ravel()
        hit = last >= 0
        last, col, step = last[hit], col[hit], step[hit]
        # the sum at site r adds every correction with last >= r: per block, those of later
        # blocks (a carry per permutation) and those within it, each added to the rows of
        # the block up to its own (flat indices into the block, built for all at once)
        blocks = -(-len(sites) // block_rows)
        block = last // block_rows
        per_block = np.bincount(block * permutations + col, step, minlength=blocks * permutations)
        later = np.cumsum(per_block.reshape(blocks, permutations)[::-1], axis=0)[::-1]
        carry = base + np.vstack([later[1:], np.zeros((1, permutations))])
        order = np.argsort(block, kind="stable")
        last, col, step, block = last[order], col[order], step[order], block[order]
        rows = last - block * block_rows + 1                      # rows of its block it adds to
        ends = np.cumsum(rows)
        within = np.arange(ends[-1] if len(ends) else 0) - np.repeat(ends - rows, rows)
        flat = within * permutations + np.repeat(col, rows)
        added = np.repeat(step, rows)
        cut = np.r_[0, ends][np.searchsorted(block, np.arange(blocks + 1))]
        for b in range(blocks):
            r0, r1 = b * block_rows, min((b + 1) * block_rows, len(sites))
            sums = np.empty((r1 - r0, permutations))
            sums[:] = carry[b]
            np.add.at(sums.reshape(-1), flat[cut[b]:cut[b + 1]], added[cut[b]:cut[b + 1]])
            yield sites[r0:r1], sums


class Permuted(NamedTuple):
    """What conditional permutations say about each site (see :func:`permutation_test`)."""

    p_sim: np.ndarray
    p_perm: np.ndarray
    z_sim: np.ndarray


def permutation_test(v, neighbours, scale, observed, *, permutations: int, seed=None,
                     moments: bool = False, n_jobs: int = 1, rtol: float = 1e-9,
                     atol: float = 1e-12) -> Permuted:
    """Conditional permutation test of a local statistic linear in the neighbours' sum.

    The statistic of site ``i`` is ``scale[i] * S + shift[i]``, where ``S`` is the sum of
    ``v`` over its neighbours (binary ``neighbours``, CSR without self-links); ``observed``
    is its observed value. Each permutation gives each site as many values drawn without
    replacement from the others as it has neighbours (:func:`permutation_draws`,
    :func:`conditional_sums`).

    Returns ``p_sim`` (esda's directed pseudo p-value: the simulated values ``>=`` the
    observed one, or the rest when fewer), ``p_perm`` (ties within ``atol + rtol *
    |observed|`` counted in both tails, as :func:`pseudo_p_value`) and ``z_sim`` (the
    observed value against the mean and standard deviation of the simulated ones). They
    are compared on the scale of ``S``, where equal sums are equal, so that integer
    counts tie exactly.
    """
    v = np.asarray(v, dtype=float)
    scale = np.asarray(scale, dtype=float)
    n = len(v)
    cardinalities = np.diff(neighbours.indptr)
    observed_sums = neighbours @ v
    sign = np.sign(scale)
    with np.errstate(divide="ignore", invalid="ignore"):
        tau = (atol + rtol * np.abs(np.asarray(observed, dtype=float))) / np.abs(scale)
    draws = permutation_draws(n, int(cardinalities.max(initial=0)), permutations, seed)
    ge, le, larger = (np.empty(n, dtype=np.int64) for _ in range(3))
    mean, sq = np.full(n, np.nan), np.full(n, np.nan)

    def count(sites, d):
        # d: how far each simulated statistic lies above the observed one, in units of S
        d -= observed_sums[sites, None]
        if (sign[sites] != 1).any():
            d *= sign[sites, None]
        t = tau[sites, None]
        ge[sites] = np.count_nonzero(d >= -t, axis=1)
        le[sites] = np.count_nonzero(d <= t, axis=1)
        larger[sites] = np.count_nonzero(d >= 0, axis=1)
        if moments:
            mean[sites] = d.sum(axis=1) / permutations
            sq[sites] = np.einsum("ij,ij->i", d, d) / permutations

    blocks = conditional_sums(v, cardinalities, draws)
    if n_jobs == 1:
        for sites, d in blocks:
            count(sites, d)
    else:
        # numpy releases the GIL in these loops; a few blocks in flight bound the memory
        workers = os.cpu_count() if n_jobs == -1 else n_jobs
        with ThreadPoolExecutor(workers) as pool:
            pending = deque()
            for sites, d in blocks:
                pending.append(pool.submit(count, sites, d))
                if len(pending) > 2 * workers:
                    pending.popleft().result()
            for job in pending:
                job.result()
    p_perm = (np.minimum(ge, le) + 1.0) / (permutations + 1.0)
    larger = np.where(permutations - larger < larger, permutations - larger, larger)
    p_sim = (larger + 1.0) / (permutations + 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        z_sim = -mean / np.sqrt(np.maximum(sq - mean ** 2, 0.0))
    return Permuted(p_sim, p_perm, z_sim)


# --------------------------------------------------------------------------- Gi*


class HotSpots:
    """Getis-Ord local Gi* with permutation inference and ArcGIS's confidence bins.

    The fit runs when the object is built. Gi* has binary weights and a self-weight of 1
    (esda's ``G_Local(star=True, transform="B")``, whose formulas it uses), which is the Gi*
    of ArcGIS's Hot Spot Analysis: each feature counts in its own neighbourhood. The
    permutations are esda's conditional permutations, run by :func:`permutation_test`.

    Parameters
    ----------
    y : array-like, shape (n,)
        Values, e.g. incident counts per ward or grid cell.
    w : libpysal Graph or W
        Neighbours (binary; any weights are made binary), without self-weights.
    permutations : int, default 999
        Conditional permutations for the pseudo p-values. 0 only with ``inference="normal"``.
    seed : int or None, default 12345
        Seed of the permutations.
    fdr : bool, default True
        Apply the false discovery rate correction (see :func:`confidence_bins`).
    alpha_levels : sequence of float, default (0.01, 0.05, 0.10)
        Significance levels of the bins (99 %, 95 % and 90 % confidence).
    inference : {"permutation", "normal"}, default "permutation"
        Which p-value the bins use: the permutation pseudo p-value ``p_perm`` or the
        two-sided normal p-value of ``Zs`` (what ArcGIS's Hot Spot Analysis reports).
    n_jobs : int, default 1
        Threads for the permutations (-1: all cores). Results do not depend on it.

    Attributes
    ----------
    Gs, EGs, VGs, Zs : ndarray
        Gi*, its expectation, variance and z-score (Getis & Ord 1992; Ord & Getis 1995).
    p_sim : ndarray
        esda's pseudo p-value (see Notes on ties).
    p_perm : ndarray
        Pseudo p-value from the same permutations with ties counted in both tails,
        ``(min(m_ge, m_le) + 1) / (permutations + 1)`` where ``m_ge`` and ``m_le`` count the
        simulated Gi* at least / at most as large as the observed one (see Notes). It
        equals ``p_sim`` wherever no simulated value ties with the observed one.
    p_norm : ndarray
        Two-sided p-value of ``Zs`` under the normal approximation, ``2 * (1 - Φ(|Zs|))``;
        this is twice esda's one-sided ``p_norm`` and equals ArcGIS's GiPValue.
    p : ndarray
        The p-value the bins use (``p_perm`` or ``p_norm``).
    q : ndarray
        Benjamini-Hochberg q-values of ``p`` (:func:`fdr_qvalues`).
    bins : ndarray of int
        ArcGIS's Gi_Bin (−3 … 3).
    codes, labels : ndarray of str
        Category of each feature (``hot_99`` …) and ArcGIS's label.
    thresholds : dict
        P-value threshold used at each significance level.
    n_neighbors : ndarray of int
        Neighbours of each feature, itself not included.

    Notes
    -----
    Ties. esda's ``p_sim`` counts the simulated values ``>=`` the observed one, and when
    the observed value lies in the lower tail it uses ``permutations - that count``, i.e.
    only the values strictly below it. With counts, many simulated Gi* equal the observed
    one; a ward with no incidents among neighbours without incidents has the smallest
    possible Gi*, so every simulated value is ``>=`` it and esda reports the smallest
    p-value, ``1 / (permutations + 1)``, although a sixth or more of the simulations tie
    with it. Such areas would all come out as significant cold spots. ``p_perm`` counts
    ties in both tails and is what the bins use.

    FDR, as ArcGIS applies it (Caldas de Castro & Singer 2006). The p-values of all ``n``
    features are sorted, ``p_(1) <= … <= p_(n)``. For each level alpha in
    ``alpha_levels`` separately, ``k`` is the largest rank with ``p_(k) <= k * alpha / n``
    (Benjamini & Hochberg 1995), and a feature is significant at alpha when its p-value
    is at most ``p_(k)``; if no rank qualifies, nothing is significant at alpha. The bin
    is the number of levels at which the feature is significant, with the sign of its
    z-score: ±3 significant at 0.01 (and hence at 0.05 and 0.10), ±2 at 0.05 only, ±1 at
    0.10 only. Equivalently, with the q-values ``q``: ``|bin| >= 3`` exactly when
    ``q <= 0.01``, and so on. Without FDR a feature is significant at alpha when
    ``p <= alpha``.

    Direction. The pseudo p-value is one-tailed, in the tail where the observed value lies
    (esda's and GeoDa's convention), so at the same alpha it is about half a two-sided
    p-value: ``p <= 0.05`` corresponds roughly to ``|z| >= 1.645``. Choose
    ``inference="normal"`` to reproduce ArcGIS's bins, which use the two-sided normal
    p-value of the z-score.

    Resolution. A pseudo p-value is at least ``1 / (permutations + 1)``, 0.001 with 999
    permutations. With the FDR correction over ``n`` features a level alpha can only be
    reached when ``k`` features have ``p <= k * alpha / n``: on 168 wards a 99 % bin needs
    at least 17 features at p = 0.001, and on a grid of 10,000 cells 1,000 of them. On
    large grids use more permutations or ``inference="normal"`` for the strictest level.

    Permutations. Each feature keeps its own value and draws as many values as it has
    neighbours from the others, without replacement; one draw matrix serves all features
    (esda's ``crand``), so a seed gives the same p-values on every run. esda's own per-site
    code on the same draws gives the same simulated Gi*; with esda's random numbers the
    p-values differ by Monte Carlo error only. The simulated values are held for
    ``BLOCK_ROWS`` features at a time (0.5 MB with 999 permutations).

    References
    ----------
    Getis, A., Ord, J. K. (1992). The analysis of spatial association by use of distance
    statistics. *Geographical Analysis* 24(3), 189-206.
    Ord, J. K., Getis, A. (1995). Local spatial autocorrelation statistics. *Geographical
    Analysis* 27(4), 286-306.
    Benjamini, Y., Hochberg, Y. (1995). Controlling the false discovery rate. *Journal of
    the Royal Statistical Society B* 57(1), 289-300.
    Caldas de Castro, M., Singer, B. H. (2006). Controlling the false discovery rate: a new
    application to account for multiple and dependent tests in local statistics of spatial
    association. *Geographical Analysis* 38(2), 180-208.

    Examples
    --------
    >>> from clustering.grid import make_grid, ward_weights
    >>> grid = make_grid((0, 0, 1000, 1000), cell_m=100, shape="square", crs="EPSG:32648")
    >>> y = ((grid["col"] < 3) & (grid["row"] < 3)).astype(float) * 10 + 1
    >>> hs = HotSpots(y, ward_weights(grid), permutations=0, inference="normal")
    >>> hs.codes[0], hs.codes[-1]
    ('hot_99', 'not_significant')
    >>> round(float(hs.Zs[0]), 2)
    6.46
    """

    def __init__(self, y, w, *, permutations: int = PERMUTATIONS, seed: int | None = DEFAULT_SEED,
                 fdr: bool = True, alpha_levels=ALPHA_LEVELS, inference: str = "permutation",
                 n_jobs: int = 1):
        validate_parameters(_parameter_constraints, permutations=permutations, seed=seed, fdr=fdr,
                            alpha_levels=alpha_levels, inference=inference, n_jobs=n_jobs)
        if permutations == 0 and inference == "permutation":
            raise InputError("`permutations` was 0, which gives no pseudo p-values; use "
                             "permutations=999 or inference='normal'.")
        y = _values(y, "y")
        neighbours = binary_neighbours(as_graph(w, n=len(y)))
        n = len(y)
        # esda.G_Local's formulas with star=True, transform="B": binary weights, self-weight 1
        total = y.sum()
        card = np.diff(neighbours.indptr) + 1.0
        mean = total / n
        variance = (y ** 2).sum() / n - mean ** 2
        self.Gs = (neighbours @ y + y) / total
        self.EGs = card / n
        self.VGs = card * (n - card) / (n - 1) / n ** 2 * variance / mean ** 2
        self.Zs = (self.Gs - self.EGs) / np.sqrt(self.VGs)
        self.y = y
        self.permutations = permutations
        self.seed = seed
        self.fdr = fdr
        self.alpha_levels = tuple(sorted(alpha_levels))
        self.inference = inference
        if permutations:
            # Gi* of site i is (S + y_i) / total, S the sum over its neighbours
            sim = permutation_test(y, neighbours, np.full(n, 1.0 / total), self.Gs,
                                   permutations=permutations, seed=seed, n_jobs=n_jobs)
            self.p_sim, self.p_perm = sim.p_sim, sim.p_perm
        else:
            self.p_sim = self.p_perm = np.full(n, np.nan)
        self.p_norm = 2 * stats.norm.sf(np.abs(self.Zs))
        self.p = self.p_perm if inference == "permutation" else self.p_norm
        self.q = fdr_qvalues(self.p)
        self.bins, self.thresholds = confidence_bins(self.Zs, self.p, alpha_levels=self.alpha_levels,
                                                     fdr=fdr)
        table = category_table(self.alpha_levels).set_index("bin")
        self.codes = table["code"].reindex(self.bins).to_numpy()
        self.labels = table["label"].reindex(self.bins).to_numpy()
        self.n_neighbors = (card - 1).astype(np.int64)


def _values(y, name: str) -> np.ndarray:
    try:
        y = np.asarray(y, dtype=float).ravel()
    except (TypeError, ValueError):
        raise InputError(f"`{name}` must hold numbers (e.g. incident counts).") from None
    if not np.isfinite(y).all():
        raise InputError(f"`{name}` has {int((~np.isfinite(y)).sum())} missing or infinite values; "
                         "fill them (a ward without incidents has count 0) or drop those rows.")
    if len(y) < 3:
        raise InputError(f"`{name}` has {len(y)} values; a local statistic needs at least 3 areas.")
    if np.ptp(y) == 0:
        raise InputError(f"`{name}` has the same value ({y[0]:g}) everywhere, so there are no hot or "
                         "cold spots to find; check the column and the period.")
    return y


def column_values(values_gdf, column: str) -> pd.Series:
    """``values_gdf[column]`` as numbers, or :class:`InputError` naming what is wrong."""
    if not isinstance(values_gdf, pd.DataFrame):
        raise InputError(f"`values_gdf` must be a GeoDataFrame, got {type(values_gdf).__name__}.")
    if column not in values_gdf.columns:
        raise InputError(f"`column` was {column!r} but `values_gdf` has no such column; "
                         f"available: {list(values_gdf.columns)[:20]}.")
    values = pd.to_numeric(values_gdf[column], errors="coerce")
    bad = values.isna() & values_gdf[column].notna()
    if bad.any():
        example = values_gdf[column][bad].iloc[0]
        raise InputError(f"Column {column!r} has non-numeric values (e.g. {example!r}); convert "
                         "or drop them.")
    return values


def gi_star(values_gdf, column: str, *, w=None, permutations: int = PERMUTATIONS,
            seed: int | None = DEFAULT_SEED, fdr: bool = True, alpha_levels=ALPHA_LEVELS,
            inference: str = "permutation", n_jobs: int = 1):
    """Hot and cold spots of ``values_gdf[column]`` by Getis-Ord Gi*.

    Parameters
    ----------
    values_gdf : GeoDataFrame
        Areas (wards or grid cells) with a numeric column.
    column : str
        Column to analyse, e.g. ``"count"``.
    w : libpysal Graph or W, optional
        Neighbours with ids equal to ``values_gdf.index``. Default:
        ``ward_weights(values_gdf)`` (queen contiguity, islands joined to their nearest area).
    permutations, seed, fdr, alpha_levels, inference, n_jobs
        As in :class:`HotSpots`.

    Returns
    -------
    GeoDataFrame
        A copy of ``values_gdf`` with ``gi_z`` (z-score of Gi*), ``gi_p`` (the p-value the
        classification used: the permutation pseudo p-value with ties counted in both
        tails, ``HotSpots.p_perm``, or with ``inference="normal"`` ``gi_p_norm``),
        ``gi_p_sim`` (esda's pseudo p-value; see :class:`HotSpots` on ties), ``gi_p_norm``
        (two-sided normal p-value), ``gi_q`` (Benjamini-Hochberg q-value of ``gi_p``),
        ``gi_bin`` (ArcGIS's Gi_Bin, −3 … 3), ``hotspot`` (ArcGIS's label, e.g. "Hot Spot -
        99% Confidence"), ``hotspot_code`` (``hot_99`` … ``not_significant`` …
        ``cold_99``) and ``n_neighbors``.
        ``attrs["gi_star"]`` records the settings and the p-value threshold used at each
        level.

    References
    ----------
    Getis, A., Ord, J. K. (1992). The analysis of spatial association by use of distance
    statistics. *Geographical Analysis* 24(3), 189-206.
    Esri. How Hot Spot Analysis (Getis-Ord Gi*) works. ArcGIS Pro tool reference.

    Examples
    --------
    >>> from clustering.grid import make_grid
    >>> grid = make_grid((0, 0, 1000, 1000), cell_m=100, shape="square", crs="EPSG:32648")
    >>> grid["count"] = ((grid["col"] < 3) & (grid["row"] < 3)) * 10 + 1
    >>> out = gi_star(grid, "count", seed=1)
    >>> out.loc[0, ["hotspot", "hotspot_code"]].tolist()
    ['Hot Spot - 95% Confidence', 'hot_95']
    >>> float(out.loc[0, "gi_p"])
    0.001

    With 999 permutations no p-value is below 0.001, and with the FDR correction over
    100 cells a 99 % bin needs ten cells at that value (see :class:`HotSpots`, Notes).
    """
    values = column_values(values_gdf, column)
    graph = ward_weights(values_gdf) if w is None else aligned_graph(w, values_gdf.index, "values_gdf")
    hs = HotSpots(values.to_numpy(), graph, permutations=permutations, seed=seed, fdr=fdr,
                  alpha_levels=alpha_levels, inference=inference, n_jobs=n_jobs)
    out = values_gdf.copy()
    out["gi_z"] = hs.Zs
    out["gi_p"] = hs.p
    out["gi_p_sim"] = hs.p_sim
    out["gi_p_norm"] = hs.p_norm
    out["gi_q"] = hs.q
    out["gi_bin"] = hs.bins
    out["hotspot"] = hs.labels
    out["hotspot_code"] = hs.codes
    out["n_neighbors"] = hs.n_neighbors
    out.attrs["gi_star"] = {"column": column, "permutations": permutations, "seed": seed, "fdr": fdr,
                            "alpha_levels": hs.alpha_levels, "inference": inference,
                            "thresholds": hs.thresholds}
    return out
