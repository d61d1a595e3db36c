"""Emerging hot spots: Gi* in each time bin, a Mann-Kendall trend, and ArcGIS's 17 patterns."""
from __future__ import annotations

from collections import namedtuple
from numbers import Real

import numpy as np
import pandas as pd
from scipy import stats

from .errors import InputError
from .getis_ord import DEFAULT_SEED, PERMUTATIONS, HotSpots, category_table, confidence_bins
from .getis_ord import _parameter_constraints as _gi_constraints
from .grid import aligned_graph, validate_parameters


def _level(v):
    return isinstance(v, Real) and not isinstance(v, bool) and 0 < v < 1


# Allowed parameter values, declared as data: name -> (test, what is allowed).
_parameter_constraints = {
    **{k: _gi_constraints[k] for k in ("permutations", "seed", "fdr", "inference", "n_jobs")},
    "alpha": (_level, "a number between 0 and 1 (0.10 by default: 90 % confidence)"),
    "trend_alpha": (_level, "a number between 0 and 1 (0.05 by default)"),
    "continuity": (lambda v: isinstance(v, (bool, np.bool_)), "True or False"),
}

MIN_BINS = 3

#: The patterns: code and ArcGIS's name (labels for people: ``geo.render.palette``).
PATTERNS = pd.DataFrame(
    [("no_pattern", "No Pattern Detected"),
     ("new_hot", "New Hot Spot"),
     ("consecutive_hot", "Consecutive Hot Spot"),
     ("intensifying_hot", "Intensifying Hot Spot"),
     ("persistent_hot", "Persistent Hot Spot"),
     ("diminishing_hot", "Diminishing Hot Spot"),
     ("sporadic_hot", "Sporadic Hot Spot"),
     ("oscillating_hot", "Oscillating Hot Spot"),
     ("historical_hot", "Historical Hot Spot"),
     ("new_cold", "New Cold Spot"),
     ("consecutive_cold", "Consecutive Cold Spot"),
     ("intensifying_cold", "Intensifying Cold Spot"),
     ("persistent_cold", "Persistent Cold Spot"),
     ("diminishing_cold", "Diminishing Cold Spot"),
     ("sporadic_cold", "Sporadic Cold Spot"),
     ("oscillating_cold", "Oscillating Cold Spot"),
     ("historical_cold", "Historical Cold Spot")],
    columns=["code", "label"])


# --------------------------------------------------------------------------- Mann-Kendall

MannKendall = namedtuple("MannKendall", ["S", "var_S", "z", "p", "tau"])


def mann_kendall(x, *, continuity: bool = True) -> MannKendall:
    """Mann-Kendall trend test of each series (the last axis of ``x`` is time).

    ``S = sum over i < j of sign(x_j - x_i)``;
    ``Var(S) = [n(n-1)(2n+5) - sum over tie groups of t(t-1)(2t+5)] / 18``;
    ``z = (S - sign(S)) / sqrt(Var(S))`` with the continuity correction (``S / sqrt(Var(S))``
    without it), 0 when ``Var(S) = 0``; ``p = 2 * (1 - Φ(|z|))``, two-sided; and Kendall's
    ``tau = S / sqrt(n0 * (n0 - n1))`` with ``n0 = n(n-1)/2`` and ``n1`` the tied pairs
    (tau-b against time, which has no ties).

    Written out rather than calling ``scipy.stats.kendalltau`` once per series: that gives
    tau and p but neither S nor Var(S), has no continuity correction, and a Python loop
    over tens of thousands of grid cells is slow; here all series go at once.

    Parameters
    ----------
    x : array-like, shape (..., n)
    continuity : bool, default True

    Returns
    -------
    MannKendall
        Named tuple ``(S, var_S, z, p, tau)`` of arrays of shape ``x.shape[:-1]``.

    References
    ----------
    Mann, H. B. (1945). Nonparametric tests against trend. *Econometrica* 13(3), 245-259.
    Kendall, M. G. (1975). *Rank Correlation Methods*, 4th ed. Griffin, London.
    Hipel, K. W., McLeod, A. I. (1994). *Time Series Modelling of Water Resources and
    Environmental Systems*, ch. 23. Elsevier.

    Examples
    --------
    >>> r = mann_kendall([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    >>> int(r.S), float(r.var_S), round(float(r.z), 4), float(r.tau)
    (45, 125.0, 3.9355, 1.0)
    """
    x = np.asarray(x, dtype=float)
    if x.ndim == 0 or x.shape[-1] < 2:
        raise InputError("`x` needs at least 2 time steps for a trend test.")
    if not np.isfinite(x).all():
        raise InputError("`x` has missing or infinite values; fill or drop them first.")
    lead = x.shape[:-1]
    x2 = x.reshape(-1, x.shape[-1])
    m, n = x2.shape
    s = np.zeros(m)
    for lag in range(1, n):
        s += np.sign(x2[:, lag:] - x2[:, :-lag]).sum(axis=1)
    # tie groups: sizes t of runs of equal values in each sorted series
    xs = np.sort(x2, axis=1)
    new_group = np.ones_like(xs, dtype=bool)
    new_group[:, 1:] = xs[:, 1:] != xs[:, :-1]
    group_id = np.cumsum(new_group.ravel()) - 1
    sizes = np.bincount(group_id).astype(float)
    row_of_group = np.repeat(np.arange(m), new_group.sum(axis=1))
    tie_var = np.bincount(row_of_group, weights=sizes * (sizes - 1) * (2 * sizes + 5), minlength=m)
    tied_pairs = np.bincount(row_of_group, weights=sizes * (sizes - 1) / 2, minlength=m)
    var_s = (n * (n - 1) * (2 * n + 5) - tie_var) / 18.0
    num = s - np.sign(s) if continuity else s
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(var_s > 0, num / np.sqrt(var_s), 0.0)
        n0 = n * (n - 1) / 2.0
        tau = np.where(n0 - tied_pairs > 0, s / np.sqrt(n0 * (n0 - tied_pairs)), 0.0)
    p = 2 * stats.norm.sf(np.abs(z))
    return MannKendall(*(a.reshape(lead) for a in (s, var_s, z, p, tau)))


# --------------------------------------------------------------------------- patterns


def classify_patterns(hot, cold, trend_z, trend_p, *, trend_alpha: float = 0.05) -> np.ndarray:
    """The emerging hot spot pattern code of each location (see :class:`EmergingHotSpots`).

    Parameters
    ----------
    hot, cold : array-like of bool, shape (n_locations, n_bins) or (n_bins,)
        Whether each bin is a statistically significant hot / cold spot.
    trend_z, trend_p : array-like, shape (n_locations,) or scalar
        Mann-Kendall z and p of each location's Gi* z-scores over time.
    trend_alpha : float, default 0.05
        A trend is significant when ``trend_p <= trend_alpha``.

    Returns
    -------
    ndarray of str
        Codes from :data:`PATTERNS` (``"new_hot"``, ``"persistent_cold"``, …).

    Examples
    --------
    >>> hot = [False] * 9 + [True]
    >>> classify_patterns(hot, [False] * 10, 0.5, 0.6).tolist()
    ['new_hot']
    """
    hot = np.atleast_2d(np.asarray(hot, dtype=bool))
    cold = np.atleast_2d(np.asarray(cold, dtype=bool))
    if hot.shape != cold.shape:
        raise InputError(f"`hot` has shape {hot.shape} but `cold` has {cold.shape}; they must match.")
    if (hot & cold).any():
        raise InputError("A bin cannot be both a hot and a cold spot; check `hot` and `cold`.")
    n_loc, n_bins = hot.shape
    trend_z = np.broadcast_to(np.asarray(trend_z, dtype=float), (n_loc,))
    trend_p = np.broadcast_to(np.asarray(trend_p, dtype=float), (n_loc,))
    up = (trend_p <= trend_alpha) & (trend_z > 0)
    down = (trend_p <= trend_alpha) & (trend_z < 0)
    out = np.full(n_loc, "no_pattern", dtype=object)
    for kind, this, other, rising, falling in (("hot", hot, cold, up, down), ("cold", cold, hot, down, up)):
        n_this = this.sum(axis=1)
        mostly = 10 * n_this >= 9 * n_bins                     # at least 90 % of the bins
        last = this[:, -1]
        final_run = np.cumprod(this[:, ::-1], axis=1).sum(axis=1)
        other_before = other[:, :-1].any(axis=1)
        rules = [
            (last & mostly & rising, "intensifying"),
            (last & mostly & falling, "diminishing"),
            (last & mostly, "persistent"),
            (last & other_before, "oscillating"),
            (last & (n_this == 1), "new"),
            (last & (final_run >= 2) & (n_this == final_run), "consecutive"),
            (last, "sporadic"),
            (~last & ~other[:, -1] & mostly, "historical"),
        ]
        done = np.zeros(n_loc, dtype=bool)
        for mask, name in rules:
            pick = mask & ~done
            out[pick] = f"{name}_{kind}"
            done |= pick
    return out


class EmergingHotSpots:
    """Emerging hot spot analysis of a space-time cube of counts.

    The fit runs when the object is built:

    1. Gi* (:class:`clustering.getis_ord.HotSpots`) in each time bin, with the FDR
       correction over the locations of that bin. A bin is a significant hot (cold) spot
       when its Gi* is significant at ``alpha`` and its z-score is positive (negative).
    2. A Mann-Kendall test (:func:`mann_kendall`) on each location's series of Gi*
       z-scores: is the clustering of high (low) counts getting stronger or weaker?
    3. Each location gets one of the 17 patterns of ArcGIS's Emerging Hot Spot Analysis.

    The definitions below restate those of Esri's "How Emerging Hot Spot Analysis works"
    (ArcGIS Pro). "Hot spot" means a statistically significant hot spot; "90 %" means at
    least 90 % of the time bins. The cold-spot patterns are the same with hot and cold
    swapped, and "intensifying" meaning that the clustering of low counts gets stronger
    (a significant downward trend of the z-scores).

    - No Pattern Detected: none of the hot or cold spot patterns below.
    - New Hot Spot: a hot spot in the final time bin that has never been a hot spot before.
    - Consecutive Hot Spot: a single uninterrupted run of at least two hot spot bins at the
      end of the series; never a hot spot before that run; hot spot in less than 90 % of
      the bins.
    - Intensifying Hot Spot: a hot spot in 90 % of the bins, the final one included, and
      the intensity of clustering of high counts increases over time, significantly.
    - Persistent Hot Spot: a hot spot in 90 % of the bins with no discernible trend in the
      intensity of clustering over time.
    - Diminishing Hot Spot: a hot spot in 90 % of the bins, the final one included, and
      the intensity of clustering decreases over time, significantly.
    - Sporadic Hot Spot: a hot spot in the final bin, with a history of being an on-again,
      off-again hot spot; a hot spot in less than 90 % of the bins and never a
      significant cold spot.
    - Oscillating Hot Spot: a hot spot in the final bin that has been a significant cold
      spot in an earlier bin; a hot spot in less than 90 % of the bins.
    - Historical Hot Spot: not a hot spot in the final bin, but a hot spot in at least
      90 % of the bins.

    The definitions overlap at their edges; the rules are applied as a decision list, in
    this order for locations that are a hot spot in the final bin: Intensifying,
    Diminishing, Persistent (90 % hot; trend up, down, none), Oscillating (an earlier
    cold spot), New (the only hot bin), Consecutive (the final run of two or more is the
    only hot history), Sporadic (otherwise). Persistent, Intensifying and Diminishing
    therefore require the final bin to be hot; a location hot in 90 % of the bins but not
    in the final one is Historical (when the final bin is not a cold spot either). The
    same holds for cold spots. A trend is significant when its p-value is at most
    ``trend_alpha``.

    Parameters
    ----------
    counts : array-like or DataFrame, shape (n_locations, n_bins)
        Counts per location (row) and time bin (column, oldest first), e.g. incidents
        per ward and month. A DataFrame's index is matched to the ids of ``w``.
    w : libpysal Graph or W
        Neighbours of the locations, e.g. ``ward_weights(wards)``.
    permutations, seed, fdr, inference, n_jobs
        As in :class:`clustering.getis_ord.HotSpots`; bin ``t`` uses seed ``seed + t``.
    alpha : float, default 0.10
        Significance of a hot or cold spot bin: 0.10 counts every bin that ArcGIS's
        Gi_Bin marks as a hot or cold spot (90 % confidence or more).
    trend_alpha : float, default 0.05
        Significance of the Mann-Kendall trend.
    continuity : bool, default True
        Continuity correction of the Mann-Kendall z.
    progress : callable, optional
        Called with the fraction of the time bins done (0..1) after each bin.

    Attributes
    ----------
    z, p : ndarray, shape (n_locations, n_bins)
        Gi* z-score and the p-value used, per bin. A bin in which every location has the
        same count has no spatial pattern: z = 0 and p = 1 there.
    bins : ndarray of int, shape (n_locations, n_bins)
        ArcGIS's Gi_Bin per bin (99/95/90 % levels).
    hot, cold : ndarray of bool, shape (n_locations, n_bins)
    trend : MannKendall
        Mann-Kendall test of each location's z-scores (arrays of n_locations).
    overall_trend : MannKendall
        Mann-Kendall test of the total count per bin (the trend of the whole cube).
    codes, labels : ndarray of str
        Pattern of each location: code and ArcGIS's name.
    ids : pandas.Index
        Location ids (the ids of ``w``).

    Notes
    -----
    ArcGIS computes a space-time Gi*, whose neighbourhood also includes earlier time
    bins (Neighborhood Time Step), with the mean and variance of the whole cube. Here each
    bin is analysed on its own, so a bin's hot spots compare the locations within it.
    ArcGIS also asks for at least 10 time bins; fewer than 10 work here, but then "90 %"
    means every bin.

    References
    ----------
    Esri. How Emerging Hot Spot Analysis works. ArcGIS Pro tool reference.
    Getis, A., Ord, J. K. (1992). The analysis of spatial association by use of distance
    statistics. *Geographical Analysis* 24(3), 189-206.
    Mann, H. B. (1945). Nonparametric tests against trend. *Econometrica* 13(3), 245-259.
    Kendall, M. G. (1975). *Rank Correlation Methods*, 4th ed. Griffin, London.

    Examples
    --------
    >>> from clustering.grid import make_grid, ward_weights
    >>> grid = make_grid((0, 0, 1000, 1000), cell_m=100, shape="square", crs="EPSG:32648")
    >>> rng = np.random.default_rng(0)
    >>> counts = rng.poisson(2, (len(grid), 12)).astype(float)
    >>> corner = ((grid["col"] < 4) & (grid["row"] < 4)).to_numpy()
    >>> counts[corner] += 4 + np.arange(12)           # a hot corner heating up month by month
    >>> ehs = EmergingHotSpots(counts, ward_weights(grid), inference="normal", permutations=0)
    >>> ehs.codes[[0, 11, 99]].tolist()
    ['persistent_hot', 'intensifying_hot', 'no_pattern']
    >>> ehs.labels[11]
    'Intensifying Hot Spot'
    """

    def __init__(self, counts, w, *, permutations: int = PERMUTATIONS, seed: int | None = DEFAULT_SEED,
                 fdr: bool = True, alpha: float = 0.10, trend_alpha: float = 0.05,
                 inference: str = "permutation", n_jobs: int = 1, continuity: bool = True,
                 progress=None):
        validate_parameters(_parameter_constraints, permutations=permutations, seed=seed, fdr=fdr,
                            alpha=alpha, trend_alpha=trend_alpha, inference=inference,
                            n_jobs=n_jobs, continuity=continuity)
        if isinstance(counts, pd.DataFrame):
            graph = aligned_graph(w, counts.index, "counts")
            values = counts.to_numpy()
        else:
            values = counts
            graph = None
        try:
            values = np.asarray(values, dtype=float)
        except (TypeError, ValueError):
            raise InputError("`counts` must hold numbers (incidents per location and time bin).") from None
        if values.ndim != 2:
            raise InputError(f"`counts` has shape {values.shape}; it must be 2-D, one row per location "
                             "and one column per time bin.")
        n_loc, n_bins = values.shape
        if n_bins < MIN_BINS:
            raise InputError(f"`counts` has {n_bins} time bin(s); a trend needs at least {MIN_BINS} "
                             "(10 or more recommended), e.g. monthly bins over a year.")
        if not np.isfinite(values).all():
            raise InputError(f"`counts` has {int((~np.isfinite(values)).sum())} missing or infinite "
                             "values; a location without incidents in a bin has count 0.")
        if graph is None:
            graph = aligned_graph(w, _ids_of(w, n_loc), "counts")
        self.ids = graph.unique_ids
        self.z = np.zeros((n_loc, n_bins))
        self.p = np.ones((n_loc, n_bins))
        self.bins = np.zeros((n_loc, n_bins), dtype=np.int64)
        significant = np.zeros((n_loc, n_bins), dtype=bool)
        for t in range(n_bins):
            if progress is not None:  # a plain callable(fraction done) from the caller, e.g. a job's progress
                progress(t / n_bins)
            y = values[:, t]
            if np.ptp(y) == 0:
                continue
            hs = HotSpots(y, graph, permutations=permutations, fdr=fdr, inference=inference,
                          seed=None if seed is None else seed + t, n_jobs=n_jobs)
            self.z[:, t], self.p[:, t], self.bins[:, t] = hs.Zs, hs.p, hs.bins
            significant[:, t] = confidence_bins(hs.Zs, hs.p, alpha_levels=(alpha,), fdr=fdr)[0] != 0
        self.hot = significant & (self.z > 0)
        self.cold = significant & (self.z < 0)
        self.trend = mann_kendall(self.z, continuity=continuity)
        self.overall_trend = mann_kendall(values.sum(axis=0), continuity=continuity)
        self.codes = classify_patterns(self.hot, self.cold, self.trend.z, self.trend.p,
                                       trend_alpha=trend_alpha)
        table = PATTERNS.set_index("code")
        self.labels = table["label"].reindex(self.codes).to_numpy()

    def to_frame(self) -> pd.DataFrame:
        """One row per location: ``pattern`` (code), ``pattern_label`` (ArcGIS's name),
        ``trend_z``, ``trend_p``, ``trend_tau``, ``n_hot``, ``n_cold`` and ``last_bin``
        (the hot spot category of the final bin, e.g. ``hot_95``)."""
        last = category_table().set_index("bin")["code"].reindex(self.bins[:, -1]).to_numpy()
        return pd.DataFrame({
            "pattern": self.codes, "pattern_label": self.labels,
            "trend_z": self.trend.z, "trend_p": self.trend.p, "trend_tau": self.trend.tau,
            "n_hot": self.hot.sum(axis=1), "n_cold": self.cold.sum(axis=1), "last_bin": last,
        }, index=self.ids)


def _ids_of(w, n):
    ids = getattr(w, "unique_ids", None)
    if ids is None:
        ids = pd.Index(getattr(w, "id_order", range(n)))
    if len(ids) != n:
        raise InputError(f"`w` has {len(ids)} ids but `counts` has {n} rows; build `w` from the "
                         "same locations, in the same order.")
    return pd.Index(ids)


def emerging_hot_spots(counts, w, **kwargs) -> pd.DataFrame:
    """Emerging hot spot pattern of each location; ``EmergingHotSpots(...).to_frame()``.

    Parameters
    ----------
    counts : array-like or DataFrame, shape (n_locations, n_bins)
        Counts per location and time bin, oldest first.
    w : libpysal Graph or W
        Neighbours of the locations.
    **kwargs
        ``permutations``, ``seed``, ``fdr``, ``alpha``, ``trend_alpha``, ``inference``,
        ``n_jobs``, ``continuity``; see :class:`EmergingHotSpots`.

    Returns
    -------
    DataFrame
        Indexed by location id; see :meth:`EmergingHotSpots.to_frame`.
        ``attrs["overall_trend"]`` holds the Mann-Kendall test of the cube's total counts.

    References
    ----------
    Esri. How Emerging Hot Spot Analysis works. ArcGIS Pro tool reference.
    """
    ehs = EmergingHotSpots(counts, w, **kwargs)
    out = ehs.to_frame()
    out.attrs["overall_trend"] = {k: float(v) for k, v in ehs.overall_trend._asdict().items()}
    return out
