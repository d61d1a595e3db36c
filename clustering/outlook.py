"""The forecast a committee reads: the method a backtest chose, expected counts per ward with ranges.

:mod:`clustering.forecast` scores grid cells by several methods and backtests them.
This module answers the planner's question for one horizon (a month, a quarter,
six months or a year, from ``start``):

1. Every method of :data:`REGISTRY` is refitted at the rolling origins before
   ``start`` (one a month, the latest ``periods`` whose forecast period ends by
   ``start``) and scored on what followed (:func:`clustering.forecast.backtest`).
   Nothing on or after ``start`` is read, so the choice cannot look at the period
   being forecast.
2. The method with the highest mean hit rate over the 1, 5 and 10 % coverages wins;
   PAI and hit rate get percentile bootstrap intervals over the origins, and the
   winner is "clear" when its interval at 5 % lies above the best simple baseline's.
3. The winner is refitted at ``start``; its cell scores summed per ward give each
   ward's share, times the expected total, the expected count. A negative binomial
   whose dispersion is estimated on the backtest's ward counts gives the 80 % and
   95 % intervals, and the share of backtest wards whose count fell inside them is
   reported as their coverage.

Short history never raises: with fewer origins than asked the result says so
(:attr:`Outlook.warnings`), and with none the previous-period counts are used as
they are.

Examples
--------
>>> import datetime as dt, geopandas as gpd, shapely
>>> wards = gpd.GeoDataFrame({"code": ["A", "B"]}, geometry=[shapely.box(0, 0, 600, 600),
...                          shapely.box(600, 0, 1200, 600)], crs="EPSG:32648")
>>> days = pd.date_range("2024-01-01", "2025-12-31", freq="D")
>>> pts = gpd.GeoDataFrame({"occurred_at": days}, geometry=gpd.points_from_xy(
...     [100.0] * len(days), [100.0] * len(days)), crs="EPSG:32648")
>>> o = outlook(pts, wards=wards, start=dt.date(2026, 1, 1), horizon="month", periods=3)
>>> o.end, list(o.wards["code"]), float(o.wards["expected"].iloc[0])
(datetime.date(2026, 1, 31), ['A', 'B'], 31.0)
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Callable

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import stats

from .errors import InputError
from .forecast import (
    DEFAULT_CELL_M,
    NaiveKDE,
    ProspectiveHotspot,
    RetrospectiveCounts,
    _as_date,
    _CellForecast,
    _events,
    _ns,
    _ranking,
    _shift,
    backtest,
    forecast_grid,
)

__all__ = ["HORIZONS", "MethodSpec", "REGISTRY", "Outlook", "outlook", "SELECTION_COVERAGES"]

#: Horizon name -> its span as (months, days).
HORIZONS = {"month": (1, 0), "quarter": (3, 0), "half": (6, 0), "year": (12, 0)}
#: Coverages that the choice averages over and the page shows.
SELECTION_COVERAGES = (0.01, 0.05, 0.10)
#: Coverages of the cell map (the top 1, 5 and 10 % of the area).
MAP_COVERAGES = (0.01, 0.05, 0.10)
BOOTSTRAP = 999


def _span_text(horizon: str) -> str:
    return f"{HORIZONS[horizon][0]}M"


@dataclass(frozen=True)
class MethodSpec:
    """One forecasting method of the registry.

    ``key`` names it in the API and the cache; ``label`` is its English name (the web
    layer translates it); ``baseline`` marks the simple baselines the others are judged
    against; ``make(horizon, cell_m)`` returns a fresh, unfitted cell forecast.
    """

    key: str
    label: str
    baseline: bool
    make: Callable[[str, float], _CellForecast]


REGISTRY: dict[str, MethodSpec] = {s.key: s for s in (
    MethodSpec("counts_prev", "Counts of the previous period", True,
               lambda h, c: RetrospectiveCounts(window=_span_text(h), cell_m=c)),
    MethodSpec("kde_prev", "Density (250 m) of the previous period", True,
               lambda h, c: NaiveKDE(bandwidth_m=250.0, window=_span_text(h), cell_m=c)),
    MethodSpec("counts_12m", "Counts of the last 12 months", False,
               lambda h, c: RetrospectiveCounts(window="12M", cell_m=c)),
    MethodSpec("counts_all", "Counts of the whole history", False,
               lambda h, c: RetrospectiveCounts(window="all", cell_m=c)),
    MethodSpec("kde_12m", "Density (300 m) of the last 12 months", False,
               lambda h, c: NaiveKDE(bandwidth_m=300.0, window="12M", cell_m=c)),
    MethodSpec("prospective", "Prospective hot spots (recent and near incidents)", False,
               lambda h, c: ProspectiveHotspot(cell_m=c)),
)}
#: Used as it is when no backtest is possible.
FALLBACK = "counts_prev"


@dataclass
class Outlook:
    """The forecast of one horizon. Frames are plain pandas; ``cells`` is in the grid's metric CRS.

    Attributes
    ----------
    horizon, start, end : the forecast period ``[start, end]`` (``end`` is its last day).
    cell_m : float
    chosen : str
        Key of the chosen method in :data:`REGISTRY`.
    clear : bool
        The chosen method's 5 % PAI interval lies above that of the best simple baseline
        (False when the chosen method is itself that baseline, or without a backtest).
    cutoffs : list of datetime.date
        The backtest's origins, oldest first.
    methods : DataFrame
        One row per method: ``method``, ``label``, ``baseline``, ``score`` (mean hit rate
        over :data:`SELECTION_COVERAGES` and origins), ``vs_baseline`` (score over the best
        baseline's, minus 1) and ``chosen``; best first.
    backtest : DataFrame
        One row per method × coverage: ``method``, ``coverage``, ``cutoffs``, ``hit_rate``,
        ``hit_low``, ``hit_high``, ``pai``, ``pai_low``, ``pai_high`` (95 % bootstrap
        intervals), ``pai_max`` (a perfect forecast's PAI) and ``chosen``.
    wards : DataFrame
        One row per ward, highest expected first: ``code`` (and ``name``), ``expected``,
        ``low80``, ``high80``, ``low95``, ``high95``, ``rank``, ``last_year`` (incidents of
        the same period a year earlier, NaN when the history does not reach it) and
        ``change`` (expected over last year, minus 1).
    cells : GeoDataFrame
        The top 10 % of the cells: ``cell_id``, ``score``, ``rank`` and ``top`` (the smallest
        of :data:`MAP_COVERAGES` that holds the cell).
    interval_coverage : dict
        ``{"80": share, "95": share, "pairs": n}``: the share of (ward, origin) counts of
        the backtest inside their intervals.
    warnings : list of (code, params)
        ``("short_history", {"cutoffs": n, "wanted": m})``, ``("no_backtest", {})``,
        ``("not_clear", {})``, ``("no_last_year", {})``.
    n_history : int
        Incidents before ``start``.
    """

    horizon: str
    start: dt.date
    end: dt.date
    cell_m: float
    chosen: str
    clear: bool
    cutoffs: list
    methods: pd.DataFrame
    backtest: pd.DataFrame
    wards: pd.DataFrame
    cells: gpd.GeoDataFrame
    interval_coverage: dict
    warnings: list = field(default_factory=list)
    n_history: int = 0


def _cutoffs(first_incident: dt.date, start: dt.date, span, periods: int) -> list[dt.date]:
    """Monthly origins before ``start`` whose forecast period ends by ``start`` and that have at least
    one horizon of history; the latest ``periods``, oldest first."""
    out = []
    k = 1
    while len(out) < periods:
        cut = _shift(start, (1, 0), -k)
        k += 1
        if _shift(cut, span, -1) < first_incident:
            break
        if _shift(cut, span) <= start:
            out.append(cut)
    return out[::-1]


def _bootstrap(values: np.ndarray, rng, reps: int = BOOTSTRAP) -> tuple[float, float]:
    """95 % percentile interval of the mean of ``values`` (NaN left out) by resampling them."""
    v = values[np.isfinite(values)]
    if len(v) == 0:
        return np.nan, np.nan
    if len(v) == 1:
        return float(v[0]), float(v[0])
    means = rng.choice(v, size=(reps, len(v)), replace=True).mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def _ward_index(wards: gpd.GeoDataFrame, grid) -> np.ndarray:
    """The ward (position) of each cell by its centre, -1 for none."""
    centres = shapely.points(grid.centres())
    cell_idx, ward_idx = wards.sindex.query(centres, predicate="within")
    out = np.full(grid.n_cells, -1, dtype=np.int64)
    first = np.unique(cell_idx, return_index=True)[1]
    out[cell_idx[first]] = ward_idx[first]
    return out


def _point_wards(wards: gpd.GeoDataFrame, xy: np.ndarray) -> np.ndarray:
    """The ward (position) of each point, -1 outside every ward (the lowest position on a border)."""
    pt_idx, ward_idx = wards.sindex.query(shapely.points(xy), predicate="intersects")
    out = np.full(len(xy), -1, dtype=np.int64)
    order = np.lexsort((ward_idx, pt_idx))
    pt_idx, ward_idx = pt_idx[order], ward_idx[order]
    first = np.unique(pt_idx, return_index=True)[1]
    out[pt_idx[first]] = ward_idx[first]
    return out


def _ward_sums(scores, cell_ward, n_wards) -> np.ndarray:
    ok = cell_ward >= 0
    return np.bincount(cell_ward[ok], weights=np.asarray(scores, float)[ok], minlength=n_wards)


def _expected(shares_score: np.ndarray, total: float) -> np.ndarray:
    s = shares_score.sum()
    if s <= 0:
        return np.full(len(shares_score), total / max(len(shares_score), 1))
    return total * shares_score / s


def _dispersion(y: np.ndarray, mu: np.ndarray) -> float:
    """Negative binomial ``alpha`` (Var = mu + alpha mu²) by the method of moments, 0 for Poisson."""
    if len(y) == 0 or (mu ** 2).sum() == 0:
        return 0.0
    return max(float(((y - mu) ** 2 - mu).sum() / (mu ** 2).sum()), 0.0)


def _interval(mu: np.ndarray, alpha: float, level: float) -> tuple[np.ndarray, np.ndarray]:
    lo_q, hi_q = (1 - level) / 2, 1 - (1 - level) / 2
    mu = np.maximum(np.asarray(mu, float), 1e-9)
    if alpha <= 1e-9:
        return stats.poisson.ppf(lo_q, mu), stats.poisson.ppf(hi_q, mu)
    n = 1.0 / alpha
    p = n / (n + mu)
    return stats.nbinom.ppf(lo_q, n, p), stats.nbinom.ppf(hi_q, n, p)


def outlook(points, *, wards, start, horizon: str = "month", cell_m: float = DEFAULT_CELL_M,
            periods: int = 12, methods=None, context=None, id_col: str = "code", time: str | None = None,
            seed: int = 0, progress=None) -> Outlook:
    """The forecast of ``horizon`` from ``start``, chosen by a rolling-origin backtest before it.

    Parameters
    ----------
    points : GeoDataFrame
        The incidents of the selection (Points with a CRS and times). Those on or after
        ``start`` are dropped first.
    wards : GeoDataFrame
        The units to forecast (polygons with a CRS and ``id_col``); their cells are the grid.
    start : datetime.date
        First day of the forecast period (the 1st, or the 15th for the statistical cut).
    horizon : {"month", "quarter", "half", "year"}
    cell_m : float, default 150
    periods : int, default 12
        How many monthly origins the backtest uses at most.
    methods : sequence of str, optional
        Keys of :data:`REGISTRY` to compare (default: all).
    context : GeoDataFrame, optional
        Every incident, whatever its category, for methods that use other categories.
    id_col : str, default "code"
    time : str, optional
        Column of ``points`` with the times.
    seed : int
        Seed of the bootstrap.
    progress : callable, optional
        Called with the fraction done (0..1).
    """
    if horizon not in HORIZONS:
        raise InputError(f"`horizon` was {horizon!r} but must be one of {list(HORIZONS)}.")
    keys = list(methods) if methods is not None else list(REGISTRY)
    unknown = [k for k in keys if k not in REGISTRY]
    if unknown or not keys:
        raise InputError(f"`methods` has {unknown or 'nothing'}; choose from {list(REGISTRY)}.")
    if not isinstance(wards, gpd.GeoDataFrame) or wards.crs is None or id_col not in wards.columns:
        raise InputError(f"`wards` must be a GeoDataFrame with a CRS and a {id_col!r} column.")
    start = _as_date(start, "start")
    span = HORIZONS[horizon]
    end = _shift(start, span) - dt.timedelta(days=1)
    progress = progress or (lambda x: None)

    grid = forecast_grid(wards, cell_m=cell_m)
    metric = wards.to_crs(grid.crs).reset_index(drop=True)
    xy, t = _events(points, grid.crs, time)
    keep = t < _ns(start)  # nothing of the forecast period (or after) is read from here on
    xy, t = xy[keep], t[keep]
    if len(t) == 0:
        raise InputError(f"No incident before {start:%d/%m/%Y}: there is nothing to forecast from.")
    pts = gpd.GeoDataFrame({"occurred_at": pd.to_datetime(t)}, geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]),
                           crs=grid.crs)
    first = pd.Timestamp(int(t[0])).date()
    cutoffs = _cutoffs(first, start, span, periods)
    warnings = []
    if not cutoffs:
        warnings.append(("no_backtest", {}))
    elif len(cutoffs) < periods:
        warnings.append(("short_history", {"cutoffs": len(cutoffs), "wanted": periods}))

    cell_ward = _ward_index(metric, grid)
    point_ward = _point_wards(metric, xy)
    n_wards = len(metric)

    def ward_counts(a: dt.date, b: dt.date) -> np.ndarray:
        lo, hi = np.searchsorted(t, [_ns(a), _ns(b)], side="left")
        w = point_ward[lo:hi]
        return np.bincount(w[w >= 0], minlength=n_wards).astype(float)

    def total_for(cut: dt.date) -> float:
        # expected total of the period from `cut`: the incidents of the period just before it
        return float(ward_counts(_shift(cut, span, -1), cut).sum())

    rng = np.random.default_rng(seed)
    rows, bt_rows, fitted = [], [], {}
    if cutoffs:
        models = {k: REGISTRY[k].make(horizon, float(cell_m)) for k in keys}
        frame = backtest(pts, study_area=metric, methods=models, start=cutoffs[0], end=start - dt.timedelta(days=1),
                         step="month", horizon=_span_text(horizon), coverages=SELECTION_COVERAGES,
                         progress=lambda x: progress(0.8 * x))
        frame = frame[frame["cutoff"].isin(cutoffs)]
        for k in keys:
            part = frame[frame["method"] == k]
            score = float(part["hit_rate"].mean()) if part["hit_rate"].notna().any() else 0.0
            rows.append({"method": k, "label": REGISTRY[k].label, "baseline": REGISTRY[k].baseline, "score": score})
            for c in SELECTION_COVERAGES:
                cp = part[np.isclose(part["coverage"], c)]
                hit, pai_ = cp["hit_rate"].to_numpy(float), cp["pai"].to_numpy(float)
                hl, hh = _bootstrap(hit, rng)
                pl, ph = _bootstrap(pai_, rng)
                bt_rows.append({"method": k, "coverage": c, "cutoffs": len(cp), "hit_rate": np.nanmean(hit)
                                if np.isfinite(hit).any() else np.nan, "hit_low": hl, "hit_high": hh,
                                "pai": np.nanmean(pai_) if np.isfinite(pai_).any() else np.nan, "pai_low": pl,
                                "pai_high": ph, "pai_max": float(cp["pai_max"].mean())})
        methods_frame = pd.DataFrame(rows)
        order = sorted(range(len(keys)), key=lambda i: (-rows[i]["score"], i))
        chosen = keys[order[0]]
    else:
        methods_frame = pd.DataFrame([{"method": k, "label": REGISTRY[k].label, "baseline": REGISTRY[k].baseline,
                                       "score": np.nan} for k in keys])
        chosen = FALLBACK if FALLBACK in keys else keys[0]
    bt = pd.DataFrame(bt_rows, columns=["method", "coverage", "cutoffs", "hit_rate", "hit_low", "hit_high", "pai",
                                        "pai_low", "pai_high", "pai_max"])
    bases = methods_frame[methods_frame["baseline"]]
    best_base = bases.sort_values("score", ascending=False)["method"].iloc[0] if len(bases) else None
    base_score = float(methods_frame.set_index("method").loc[best_base, "score"]) if best_base else np.nan
    with np.errstate(invalid="ignore", divide="ignore"):
        methods_frame["vs_baseline"] = methods_frame["score"] / base_score - 1 if base_score else np.nan
    methods_frame["chosen"] = methods_frame["method"] == chosen
    methods_frame = methods_frame.sort_values("score", ascending=False, kind="stable").reset_index(drop=True)
    bt["chosen"] = bt["method"] == chosen
    clear = False
    if cutoffs and best_base and chosen != best_base:
        at5 = bt[np.isclose(bt["coverage"], 0.05)].set_index("method")
        clear = bool(at5.loc[chosen, "pai_low"] > at5.loc[best_base, "pai_high"])
    if cutoffs and not clear:
        warnings.append(("not_clear", {}))

    # the count model: the chosen method's ward shares times the expected total; dispersion and the
    # intervals' coverage from the backtest's origins
    spec = REGISTRY[chosen]
    ys, mus = [], []
    for i, cut in enumerate(cutoffs):
        m = spec.make(horizon, float(cell_m))._fit_events(xy, t, cut, grid)
        mus.append(_expected(_ward_sums(m.scores_, cell_ward, n_wards), total_for(cut)))
        ys.append(ward_counts(cut, _shift(cut, span)))
        progress(0.8 + 0.15 * (i + 1) / len(cutoffs))
    y_all = np.concatenate(ys) if ys else np.array([])
    mu_all = np.concatenate(mus) if mus else np.array([])
    alpha = _dispersion(y_all, mu_all)
    coverage = {"80": np.nan, "95": np.nan, "pairs": int(len(y_all))}
    for level in (80, 95):
        if len(y_all):
            lo, hi = _interval(mu_all, alpha, level / 100)
            coverage[str(level)] = float(((y_all >= lo) & (y_all <= hi)).mean())

    model = spec.make(horizon, float(cell_m))._fit_events(xy, t, start, grid)
    expected = _expected(_ward_sums(model.scores_, cell_ward, n_wards), total_for(start))
    out = pd.DataFrame({id_col: metric[id_col].to_numpy()})
    if "name" in metric.columns:
        out["name"] = metric["name"].to_numpy()
    out["expected"] = expected
    for level in (80, 95):
        lo, hi = _interval(expected, alpha, level / 100)
        out[f"low{level}"], out[f"high{level}"] = lo, hi
    year_ago = _shift(start, (12, 0), -1)
    if year_ago >= first:
        out["last_year"] = ward_counts(year_ago, _shift(year_ago, span))
    else:
        out["last_year"] = np.nan
        warnings.append(("no_last_year", {}))
    with np.errstate(invalid="ignore", divide="ignore"):
        out["change"] = np.where(out["last_year"] > 0, out["expected"] / out["last_year"] - 1, np.nan)
    out = out.sort_values(["expected", id_col], ascending=[False, True], kind="stable").reset_index(drop=True)
    out["rank"] = np.arange(1, len(out) + 1)

    order = _ranking(model.scores_)
    cells = grid.cells.iloc[order[:max(1, round(max(MAP_COVERAGES) * grid.n_cells))]].copy()
    cells["score"] = model.scores_[order[:len(cells)]]
    cells["rank"] = np.arange(1, len(cells) + 1)
    bounds = [max(1, round(c * grid.n_cells)) for c in MAP_COVERAGES]
    cells["top"] = [next(c for c, b in zip(MAP_COVERAGES, bounds) if r <= b) for r in cells["rank"]]
    progress(1.0)
    return Outlook(horizon=horizon, start=start, end=end, cell_m=float(cell_m), chosen=chosen, clear=clear,
                   cutoffs=cutoffs, methods=methods_frame, backtest=bt, wards=out,
                   cells=cells[["cell_id", "score", "rank", "top", "geometry"]].reset_index(drop=True),
                   interval_coverage=coverage, warnings=warnings, n_history=int(len(t)))
