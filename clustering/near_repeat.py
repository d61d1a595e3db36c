"""Near repeats: the Knox test of space–time clustering, as Ratcliffe's Near Repeat Calculator does it.

Every pair of incidents falls in one cell of a table: rows are distance bands ("same location",
then 1 to 100 m, 101 to 200 m, … for a bandwidth of 100 m), columns are time bands (0 to 7 days,
8 to 14 days, … for a bandwidth of 7 days). The observed count of pairs in each cell is compared
with what the same incidents give when their dates are shuffled over their places (Monte Carlo
permutations): the Knox ratio is observed / the mean of the permutations, and the p-value of a
cell is (1 + permutations with at least the observed count) / (1 + permutations). A ratio above 1
with a small p-value near the origin is a near repeat: after an incident, others follow close by
soon after more often than chance says.

Distances are Euclidean in metres (the caller projects with
:func:`clustering.projection.metric_crs_for`, or uses :func:`metric_days`); times are whole days.
A distance d > 0 is in band k = ceil(d / bandwidth) (1 to 100 m is (0, 100]); a time difference
of t days is in band 0 for t <= bandwidth, else ceil(t / bandwidth) - 1 (0 to 7, 8 to 14, …).
Pairs beyond the last bands are not counted.

Why it is fast: the pairs within the largest distance are found once (``cKDTree.query_pairs``) and
their distance bands never change; a permutation only moves the dates, so each one is a gather of
the permuted days on those pairs, a table look-up of the time band and one ``np.bincount`` — no
distance is computed again. (No library offers the calculator's table; PySAL's
``pointpats.spacetime.knox`` gives one 2 × 2 cell with an analytic p-value.)
"""
from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from .errors import N_, InputError
from .projection import metric_points

__all__ = ["Knox", "knox", "metric_days", "DEFAULT_SEED", "ALPHA", "TABLE_COLUMNS"]

#: Fixed default seed, so that the same data give the same table. ``seed=None`` draws one.
DEFAULT_SEED = 12345
#: A cell is significant when its p-value is below ALPHA and its ratio above 1.
ALPHA = 0.05
#: At most this many pairs within the largest distance (about 56 bytes each while permuting).
MAX_PAIRS = 5_000_000
#: The long table of :meth:`Knox.table`, one row per cell.
TABLE_COLUMNS = ["distance_band", "distance_from", "distance_to", "day_band", "day_from", "day_to",
                 "observed", "expected", "ratio", "p_value", "significant"]


@dataclass
class Knox:
    """The Knox table of one set of incidents.

    ``observed`` (int), ``expected`` (mean of the permutations), ``ratio`` (observed / expected,
    NaN where nothing is expected) and ``p_value`` are arrays of (distance_bands + 1) rows — row 0 is
    "same location" — by ``day_bands`` columns; ``simulated`` holds each permutation's table
    (permutations × rows × columns)."""

    distance_m: float
    distance_bands: int
    days: int
    day_bands: int
    permutations: int
    seed: int | None
    n: int  # incidents tested
    pairs: int  # pairs within the largest distance
    observed: np.ndarray
    simulated: np.ndarray

    @property
    def expected(self) -> np.ndarray:
        return self.simulated.mean(axis=0) if self.permutations else np.full(self.observed.shape, np.nan)

    @property
    def ratio(self) -> np.ndarray:
        exp = self.expected
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(exp > 0, self.observed / np.where(exp > 0, exp, 1), np.nan)

    @property
    def p_value(self) -> np.ndarray:
        if not self.permutations:
            return np.full(self.observed.shape, np.nan)
        return (1 + (self.simulated >= self.observed).sum(axis=0)) / (1 + self.permutations)

    def significant(self, alpha: float = ALPHA) -> np.ndarray:
        """Cells with more pairs than chance: p-value < ``alpha`` and ratio > 1."""
        with np.errstate(invalid="ignore"):
            return (self.p_value < alpha) & (self.ratio > 1)

    def distance_edges(self) -> list[tuple[float, float]]:
        """(from, to) metres of each row: (0, 0) for the same location, then (1, 100), (101, 200), …
        as the calculator labels them (a band holds the distances above its lower neighbour's end)."""
        w = self.distance_m
        return [(0.0, 0.0)] + [(k * w + 1, (k + 1) * w) for k in range(self.distance_bands)]

    def day_edges(self) -> list[tuple[int, int]]:
        """(from, to) days of each column: (0, 7), (8, 14), …"""
        w = self.days
        return [(0 if k == 0 else k * w + 1, (k + 1) * w) for k in range(self.day_bands)]

    def table(self, alpha: float = ALPHA) -> pd.DataFrame:
        """One row per cell (:data:`TABLE_COLUMNS`), rows of the table first, then columns."""
        d, t = self.distance_edges(), self.day_edges()
        r, c = np.meshgrid(np.arange(len(d)), np.arange(len(t)), indexing="ij")
        r, c = r.ravel(), c.ravel()
        return pd.DataFrame({
            "distance_band": r, "distance_from": [d[i][0] for i in r], "distance_to": [d[i][1] for i in r],
            "day_band": c, "day_from": [t[j][0] for j in c], "day_to": [t[j][1] for j in c],
            "observed": self.observed.ravel(), "expected": self.expected.ravel(), "ratio": self.ratio.ravel(),
            "p_value": self.p_value.ravel(), "significant": self.significant(alpha).ravel()}, columns=TABLE_COLUMNS)

    def extent(self, alpha: float = ALPHA) -> dict | None:
        """The near-repeat window, or None when there is none.

        From the origin: the distance bands 1, 2, … significant in the first time band, one after
        the other (``radius_m``: the last one's outer edge; 0 when only "same location" is), and
        in the first of those rows the time bands 0, 1, … significant one after the other
        (``days``: the last one's end). ``ratio`` and ``p_value`` are those of all the pairs of that
        block (same location included), against the same permutations; ``rows``/``columns`` are
        the block's numbers of rows and columns.
        """
        sig = self.significant(alpha)
        near = _leading(sig[1:, 0])
        if near == 0 and not sig[0, 0]:
            return None
        row = 1 if near else 0
        cols = _leading(sig[row, :])
        rows = near + 1
        obs = int(self.observed[:rows, :cols].sum())
        sims = self.simulated[:, :rows, :cols].sum(axis=(1, 2))
        expected = float(sims.mean())
        return {"radius_m": near * self.distance_m, "days": cols * self.days, "rows": rows, "columns": cols,
                "observed": obs, "expected": expected, "ratio": obs / expected if expected > 0 else float("nan"),
                "p_value": float((1 + (sims >= obs).sum()) / (1 + self.permutations))}


def _leading(flags: np.ndarray) -> int:
    """How many of ``flags`` are true before the first false one."""
    off = np.flatnonzero(~np.asarray(flags, dtype=bool))
    return int(off[0]) if len(off) else len(flags)


def _whole(value, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
        raise InputError("`%(name)s` was %(value)s but must be a whole number from %(low)s to %(high)s.",
                         name=name, value=repr(value), low=low, high=high)
    return int(value)


def knox(xy, days, *, distance_m: float = 100.0, distance_bands: int = 5, day_bandwidth: int = 7,
         day_bands: int = 4, permutations: int = 99, seed: int | None = DEFAULT_SEED, max_pairs: int = MAX_PAIRS,
         progress=None) -> Knox:
    """The Knox table of incidents at ``xy`` (n × 2, metres) on ``days`` (n whole days).

    Permutation k shuffles the days with the k-th ``rng.permutation(n)`` of
    ``np.random.default_rng(seed)``: incident i takes the day of incident ``perm[i]``.
    ``progress(fraction)`` is told how far the permutations are. More than ``max_pairs`` pairs within
    the largest distance raise :class:`InputError` before any is listed.

    >>> xy = np.array([[0, 0], [0, 0], [50, 0], [5000, 0]])
    >>> k = knox(xy, [0, 3, 10, 1], permutations=9, seed=1)
    >>> k.observed.tolist()   # the same location 3 days apart; 50 m and 10 or 7 days apart
    [[1, 0, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]
    >>> k.distance_edges()[:3], k.day_edges()[:2]
    ([(0.0, 0.0), (1.0, 100.0), (101.0, 200.0)], [(0, 7), (8, 14)])
    """
    xy = np.asarray(xy, dtype=float)
    if xy.ndim != 2 or xy.shape[1] != 2:
        raise InputError(f"`xy` must be an array of n rows of (x, y) metres, got the shape {xy.shape}.")
    t = np.asarray(days, dtype=float)
    if t.shape != (len(xy),):
        raise InputError(f"`days` must hold one day per incident: {len(t)} days for {len(xy)} incidents.")
    if not (np.isfinite(xy).all() and np.isfinite(t).all()):
        raise InputError("`xy` and `days` must not hold missing values; drop the incidents without a place "
                         "or a date first.")
    if (t != np.round(t)).any():
        raise InputError("`days` must be whole days (the local date of each incident as a day number).")
    if not (np.isfinite(distance_m) and 0 < distance_m <= 100_000):
        raise InputError("`%(name)s` was %(value)s but must be a number > 0.", name="distance_m",
                         value=repr(distance_m))
    distance_bands = _whole(distance_bands, "distance_bands", 1, 100)
    day_bandwidth = _whole(day_bandwidth, "day_bandwidth", 1, 3650)
    day_bands = _whole(day_bands, "day_bands", 1, 100)
    permutations = _whole(permutations, "permutations", 0, 100_000)
    n = len(xy)
    rows, cols = distance_bands + 1, day_bands
    t = (t - (t.min() if n else 0)).astype(np.int64)

    # the pairs within the largest distance, once; each keeps its distance band for every permutation
    reach = distance_m * distance_bands
    pairs = np.empty((0, 2), dtype=np.int64)
    if n >= 2:
        tree = cKDTree(xy)
        many = (int(tree.count_neighbors(tree, reach)) - n) // 2  # ordered pairs, each point with itself
        if many > max_pairs:
            raise InputError(N_("%(pairs)s pairs of incidents lie within %(reach)s m of each other, at most "
                                "%(max)s can be compared: choose a shorter distance, fewer distance bands, a "
                                "shorter period or one category."), pairs=many, reach=f"{reach:g}", max=max_pairs)
        pairs = tree.query_pairs(r=reach, output_type="ndarray")
    i, j = pairs[:, 0], pairs[:, 1]
    d = np.hypot(*(xy[i] - xy[j]).T)
    band = np.where(d == 0, 0, np.ceil(d / distance_m)).astype(np.int64)
    keep = band <= distance_bands   # query_pairs' r is inclusive; a rounding may put one past it
    i, j, band = i[keep].astype(np.intp), j[keep].astype(np.intp), band[keep]
    # the cell of a pair is row * (cols + 1) + time band; time band ``cols`` holds the pairs too far apart in
    # time, dropped at the end. A look-up of the time band by day difference (0 … the whole span).
    offset = band * (cols + 1)
    lut = np.full(int(t.max()) + 1 if n else 1, cols, dtype=np.int64)
    within = np.arange(min(len(lut), day_bandwidth * day_bands + 1))
    lut[within] = np.maximum(within - 1, 0) // day_bandwidth
    size = rows * (cols + 1)

    def count(times: np.ndarray) -> np.ndarray:
        cell = offset + lut[np.abs(times[i] - times[j])]
        return np.bincount(cell, minlength=size).reshape(rows, cols + 1)[:, :cols]

    observed = count(t)
    rng = np.random.default_rng(seed)
    simulated = np.empty((permutations, rows, cols), dtype=np.int64)
    for k in range(permutations):
        simulated[k] = count(t[rng.permutation(n)])
        if progress is not None and (k + 1) % 10 == 0:
            progress((k + 1) / permutations)
    return Knox(float(distance_m), distance_bands, day_bandwidth, day_bands, permutations, seed, n, int(len(i)),
                observed, simulated)


def metric_days(incidents: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(xy, days, rows)`` of the incidents of a frame with ``lon``, ``lat`` (WGS 84) and
    ``local_date``: metres in the UTM zone of :func:`clustering.projection.metric_crs_for`, day
    numbers (days since 1970-01-01), and the positions of the rows used (those with a place and a
    date)."""
    missing = [c for c in ("lon", "lat", "local_date") if c not in incidents.columns]
    if missing:
        raise InputError(f"`incidents` lacks the columns {missing}; give one row per incident with lon, lat "
                         "and local_date.")
    dates = pd.to_datetime(incidents["local_date"])
    ok = (incidents["lon"].notna() & incidents["lat"].notna() & dates.notna()).to_numpy()
    rows = np.flatnonzero(ok)
    if not len(rows):
        return np.empty((0, 2)), np.empty(0, dtype=np.int64), rows
    sub = incidents.iloc[rows]
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(sub["lon"], sub["lat"]), crs="EPSG:4326")
    xy = metric_points(pts)[0]
    day = (dates.iloc[rows].dt.normalize() - pd.Timestamp("1970-01-01")) // pd.Timedelta(days=1)
    return xy, day.to_numpy(dtype=np.int64), rows
