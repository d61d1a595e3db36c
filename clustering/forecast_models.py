"""Cell forecasts that share one location of the incidents: raster KDE, multi-scale KDE, blends, boosting.

The methods of :mod:`clustering.forecast` each re-read the incidents at every
cutoff. The forecasts here work on a :class:`Panel`: the incidents (and, when
given, every incident whatever its category, the *context*) located on the
forecast grid once, sorted by time, so that the counts of any window
``[a, b)`` are one ``bincount`` of a slice, and smoothing or neighbourhood sums
are sums over a fixed stencil of cell offsets. A backtest fits every method at
every origin on the same panel (:func:`clustering.outlook.outlook` does), so
nothing is located, projected or turned into a GeoDataFrame twice.

* :class:`RasterKDE`: the kernel density of the incidents of a window on the
  forecast grid itself: each cell's count spread over the cells whose centres
  are within the bandwidth with the quartic weights ``(1 - d²/h²)²`` (``d``
  between cell centres). This is :func:`clustering.kde.kde` binned at the cell
  size instead of ``h / 12``: the same ranking up to the binning, at a fraction
  of the cost. With ``h`` below the cell size it is the counts.
* :class:`MultiScaleKDE`: the mean of several :class:`RasterKDE` surfaces (e.g.
  100 to 800 m), each divided by its total first so that no scale dominates.
* :class:`Blend`: the mean of the window's counts and of its density, each as a
  share of its total.
* :class:`PoissonBoost`: a gradient-boosted Poisson regression
  (:class:`sklearn.ensemble.HistGradientBoostingRegressor`, ``loss="poisson"``) of
  the next period's count of a cell on its lagged counts at several scales (see
  :meth:`PoissonBoost.features`), trained at earlier origins only.

Every method is a :class:`clustering.forecast._CellForecast`: ``fit(points, cutoff,
study_area=...)`` and :func:`clustering.forecast.backtest` work as for the
others (they build a panel of the points on the fly).

References
----------
Chainey, S., Tompson, L., Uhlig, S. (2008). The utility of hotspot mapping for
predicting spatial patterns of crime. *Security Journal* 21(1-2), 4-28.

Examples
--------
>>> import datetime as dt, geopandas as gpd, shapely
>>> area = gpd.GeoSeries([shapely.box(0, 0, 1500, 1500)], crs="EPSG:32648")
>>> pts = gpd.GeoDataFrame({"occurred_at": pd.to_datetime(["2025-01-05", "2025-01-20"])},
...                        geometry=gpd.points_from_xy([75, 80], [75, 70]), crs="EPSG:32648")
>>> m = RasterKDE(bandwidth_m=250, window="3M").fit(pts, dt.date(2025, 2, 1), study_area=area)
>>> [round(float(s), 4) for s in m.scores_[:3]]      # 2 x (1 - 150²/250²)² at 150 m
[2.0, 0.8192, 0.0]
"""
from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor
from threadpoolctl import threadpool_limits

from .errors import InputError
from .forecast import DEFAULT_CELL_M, _CellForecast, _ns, _parse_span, _shift

__all__ = ["Panel", "RasterKDE", "MultiScaleKDE", "Blend", "PoissonBoost"]


class Panel:
    """Incidents located once on a forecast grid, for many windows and origins.

    Parameters
    ----------
    xy, t : ndarray
        Metric coordinates (in the grid's CRS) and int64 local times of the incidents,
        sorted by time (as :func:`clustering.forecast._events` returns them).
    grid : ForecastGrid
    context : tuple of (xy, t), optional
        Every incident whatever its category, sorted by time, for features that use the
        other categories.
    """

    def __init__(self, xy, t, grid, context=None):
        self.grid, self.t = grid, t
        self.pos = grid.locate(xy)
        col0, row0, lookup, cols, rows = grid._raster()
        self._lookup, self._rows, self._cols = lookup, rows - row0, cols - col0
        self.first = pd.Timestamp(int(t[0])).date() if len(t) else None
        self.context = None
        if context is not None:
            cxy, ct = context
            self.context = (grid.locate(cxy), ct)
        self._cache, self._cache_key = {}, None
        self.features_cache = {}

    def counts(self, a, b, source: str = "points") -> np.ndarray:
        """Incidents per cell in ``[a, b)`` (``a=None``: from the first); ``source="context"`` for all."""
        pos, t = (self.pos, self.t) if source == "points" else self.context
        lo = 0 if a is None else int(np.searchsorted(t, _ns(a), side="left"))
        hi = int(np.searchsorted(t, _ns(b), side="left"))
        p = pos[lo:hi]
        return np.bincount(p[p >= 0], minlength=self.grid.n_cells).astype(float)

    def spread(self, v, offsets: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """``out[c] = sum_o weights[o] * v[c + offsets[o]]`` over the cells of the grid.

        ``offsets`` are (drow, dcol) pairs; cells off the grid count 0. Only the non-zero
        cells of ``v`` are spread (counts are sparse), so the cost is their number times the
        stencil's size, whatever the extent of the grid.
        """
        nz = np.flatnonzero(v)
        if len(nz) == 0:
            return np.zeros(self.grid.n_cells)
        r = self._rows[nz][:, None] + offsets[:, 0][None, :]
        c = self._cols[nz][:, None] + offsets[:, 1][None, :]
        h, w = self._lookup.shape
        ok = (r >= 0) & (c >= 0) & (r < h) & (c < w)
        idx = np.full(r.shape, -1, np.int64)
        idx[ok] = self._lookup[r[ok], c[ok]]
        ok = idx >= 0
        wts = (v[nz][:, None] * weights[None, :])[ok]
        return np.bincount(idx[ok], weights=wts, minlength=self.grid.n_cells)

    def cached(self, key, make):
        """``make()`` computed once per ``key`` (the cache holds one origin's values at a time)."""
        origin = key[0]
        if origin != self._cache_key:
            self._cache, self._cache_key = {}, origin
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]


def box_stencil(k: int):
    """Offsets and unit weights of the ``k × k`` neighbourhood (``k`` odd) of a cell."""
    r = k // 2
    dr, dc = np.meshgrid(np.arange(-r, r + 1), np.arange(-r, r + 1), indexing="ij")
    return np.column_stack([dr.ravel(), dc.ravel()]), np.ones(k * k)


def quartic_stencil(bandwidth_m: float, cell_m: float):
    """Offsets and quartic weights ``(1 - d²/h²)²`` of the cells whose centres are within ``h``."""
    r = int(math.floor(bandwidth_m / cell_m))
    dr, dc = np.meshgrid(np.arange(-r, r + 1), np.arange(-r, r + 1), indexing="ij")
    d2 = (dr ** 2 + dc ** 2) * cell_m ** 2
    keep = d2 < bandwidth_m ** 2
    w = (1 - d2[keep] / bandwidth_m ** 2) ** 2
    return np.column_stack([dr[keep], dc[keep]]), w


def _window_start(cutoff, window):
    span = _parse_span(window, allow_all=True)
    return None if span is None else _shift(cutoff, span, -1)


class _PanelForecast(_CellForecast):
    """A cell forecast computed on a :class:`Panel` (shared when :attr:`panel` is set to one)."""

    panel = None

    def _scores(self, xy, t, cut_ns, cutoff, grid):
        panel = self.panel
        if panel is None or panel.t is not t or panel.grid is not grid:
            panel = Panel(xy, t, grid)
        scores = self._panel_scores(panel, cutoff)
        n_used = int(np.searchsorted(t, cut_ns, side="left"))
        return scores, n_used

    def _window_counts(self, panel, cutoff, window, source="points"):
        a = _window_start(cutoff, window)
        return panel.cached((cutoff, "counts", a, source), lambda: panel.counts(a, cutoff, source))

    def _density(self, panel, cutoff, window, bandwidth_m):
        def make():
            off, w = quartic_stencil(float(bandwidth_m), panel.grid.cell_m)
            return panel.spread(self._window_counts(panel, cutoff, window), off, w)
        return panel.cached((cutoff, "kde", _window_start(cutoff, window), float(bandwidth_m)), make)


def _share(v):
    s = v.sum()
    return v / s if s > 0 else v


class RasterKDE(_PanelForecast):
    """Quartic kernel density of the incidents of the last ``window``, on the forecast grid.

    Parameters
    ----------
    bandwidth_m : float, default 300
    window : str, default "3M"
        "1M", "3M", "12M", "all"...
    cell_m : float, default 150

    Notes
    -----
    Score of cell ``c``: ``sum_j n_j (1 - d_cj²/h²)²`` over the cells ``j`` whose centre
    is less than ``h`` from that of ``c``, with ``n_j`` the incidents of ``j`` in the
    window (unnormalised: the ranking is what is scored).
    """

    _param_names = ("bandwidth_m", "cell_m", "window")

    def __init__(self, *, bandwidth_m: float = 300.0, window: str = "3M", cell_m: float = DEFAULT_CELL_M):
        self.bandwidth_m, self.window, self.cell_m = bandwidth_m, window, cell_m

    def _panel_scores(self, panel, cutoff):
        return self._density(panel, cutoff, self.window, self.bandwidth_m)


class MultiScaleKDE(_PanelForecast):
    """The mean of :class:`RasterKDE` surfaces at several bandwidths, each as a share of its total.

    Parameters
    ----------
    bandwidths_m : tuple of float, default (100, 200, 400, 800)
    window : str, default "12M"
    cell_m : float, default 150
    """

    _param_names = ("cell_m", "window")

    def __init__(self, *, bandwidths_m=(100.0, 200.0, 400.0, 800.0), window: str = "12M",
                 cell_m: float = DEFAULT_CELL_M):
        self.bandwidths_m, self.window, self.cell_m = tuple(bandwidths_m), window, cell_m

    def _validate(self):
        super()._validate()
        if not self.bandwidths_m or not all(isinstance(b, (int, float)) and b > 0 for b in self.bandwidths_m):
            raise InputError(f"`bandwidths_m` was {self.bandwidths_m!r} but must be metres above 0, "
                             "e.g. (100, 200, 400, 800).")

    def _panel_scores(self, panel, cutoff):
        return np.mean([_share(self._density(panel, cutoff, self.window, b)) for b in self.bandwidths_m], axis=0)


class Blend(_PanelForecast):
    """``weight`` × the window's counts + (1 - ``weight``) × its density, each as a share of its total.

    Parameters
    ----------
    window : str, default "12M"
    bandwidth_m : float, default 300
    weight : float, default 0.5
    cell_m : float, default 150
    """

    _param_names = ("bandwidth_m", "cell_m", "window")

    def __init__(self, *, window: str = "12M", bandwidth_m: float = 300.0, weight: float = 0.5,
                 cell_m: float = DEFAULT_CELL_M):
        self.window, self.bandwidth_m, self.weight, self.cell_m = window, bandwidth_m, weight, cell_m

    def _panel_scores(self, panel, cutoff):
        counts = _share(self._window_counts(panel, cutoff, self.window))
        return self.weight * counts + (1 - self.weight) * _share(
            self._density(panel, cutoff, self.window, self.bandwidth_m))


#: Lag windows of the boosting features: name -> how to get [a, b) from the origin o and the horizon.
LAGS = ("1M", "3M", "12M", "season")
#: Neighbourhood sizes (k × k cells) of the boosting features.
SCALES = (1, 3, 7)


class PoissonBoost(_PanelForecast):
    """Gradient-boosted Poisson regression of next period's count on lagged multi-scale counts.

    At origin ``o`` every cell has the features of :meth:`features`. The model is
    trained at the ``training_origins`` origins ``o_j = o - horizon - j`` months
    (``j = 0, 1, ...``; each with at least a month of history), on the targets
    "incidents of the cell in ``[o_j, o_j + horizon)``", which all end by ``o``: no
    target reaches past the origin. The score of a cell is the model's expected count
    at ``o``.

    Only the *active* cells of an origin enter as rows: those with an incident (or a
    context incident) in their 7 × 7 neighbourhood before it. The other cells all have
    the features 0 (seasonal NaN or 0), so they enter as one row per origin, weighted by
    their number, with their mean target (for a Poisson loss this is the same fit as one
    row each), and they all score that row's prediction. Above ``max_rows`` active rows,
    a seeded uniform sample is kept with weights ``1 / rate``. Without any training
    origin the scores are the 12-month counts; a feature missing (NaN) in every training row
    is set to 0.

    Parameters
    ----------
    horizon : str, default "1M"
        Length of the forecast period ("1M", "3M", "6M", "12M").
    training_origins : int, default 3
    max_rows : int, default 40,000
    cell_m : float, default 150
    max_iter, learning_rate, max_leaf_nodes, min_samples_leaf, l2_regularization
        Passed to :class:`sklearn.ensemble.HistGradientBoostingRegressor` (with
        ``loss="poisson"``, ``early_stopping=False``, ``random_state=0``). Without the L2
        penalty, leaves of a few rows with counts where the model expected almost none took
        Newton steps of huge size: on the demo, one quarter's cells summed to 5 × 10⁸ expected
        incidents against 4,737 seen (the ranking was fine, the ward counts were not); with
        ``l2_regularization=10`` they sum to 4,578.
    """

    _param_names = ("cell_m", "horizon")

    def __init__(self, *, horizon: str = "1M", training_origins: int = 3, max_rows: int = 40_000,
                 cell_m: float = DEFAULT_CELL_M, max_iter: int = 60, learning_rate: float = 0.1,
                 max_leaf_nodes: int = 15, min_samples_leaf: int = 40, l2_regularization: float = 10.0):
        self.horizon, self.training_origins, self.max_rows, self.cell_m = horizon, training_origins, max_rows, cell_m
        self.max_iter, self.learning_rate = max_iter, learning_rate
        self.max_leaf_nodes, self.min_samples_leaf = max_leaf_nodes, min_samples_leaf
        self.l2_regularization = l2_regularization

    def regressor(self) -> HistGradientBoostingRegressor:
        """The unfitted regressor, with this forecast's settings."""
        return HistGradientBoostingRegressor(loss="poisson", max_iter=self.max_iter, learning_rate=self.learning_rate,
                                             max_leaf_nodes=self.max_leaf_nodes,
                                             min_samples_leaf=self.min_samples_leaf,
                                             l2_regularization=self.l2_regularization, early_stopping=False,
                                             random_state=0)

    @staticmethod
    def feature_names(context: bool) -> list[str]:
        sources = ("points", "context") if context else ("points",)
        return [f"{s}_{lag}_{k}x{k}" for s in sources for lag in LAGS for k in SCALES]

    def features(self, panel: Panel, origin: dt.date) -> np.ndarray:
        """Features of every cell at ``origin``, shape (cells, features), in :meth:`feature_names` order.

        For each source (the points, then the context when the panel has one), each lag
        window and each neighbourhood ``k × k`` (``k`` = 1, 3, 7 cells, the cell at the
        centre): the incidents of the window in the neighbourhood. The windows are
        ``[o - 1 month, o)``, ``[o - 3 months, o)``, ``[o - 12 months, o)`` and the
        seasonal ``[o - 12 months, o - 12 months + horizon)``, which is NaN when it starts
        before the first incident of the panel.
        """
        span = _parse_span(self.horizon)
        season_a = _shift(origin, (12, 0), -1)
        cols = []
        sources = ("points", "context") if panel.context is not None else ("points",)
        for source in sources:
            for lag in LAGS:
                if lag == "season":
                    a, b = season_a, _shift(season_a, span)
                else:
                    a, b = _shift(origin, _parse_span(lag), -1), origin
                v = panel.counts(a, b, source)
                no_history = lag == "season" and season_a < panel.first
                for k in SCALES:
                    col = v if k == 1 else panel.spread(v, *box_stencil(k))
                    cols.append(np.full(len(v), np.nan) if no_history else col)
        return np.column_stack(cols)

    def _rows(self, panel, origin):
        """(active cell positions, their features, the features of the other cells) at ``origin``."""
        key = (origin, self.horizon)
        if key not in panel.features_cache:
            x = self.features(panel, origin)
            ever = panel.counts(None, origin)
            if panel.context is not None:
                ever = ever + panel.counts(None, origin, "context")
            active = np.flatnonzero(panel.spread(ever, *box_stencil(7)) > 0)
            rest = np.where(np.isnan(x[0]), np.nan, 0.0) if len(x) else np.zeros(0)
            panel.features_cache[key] = (active, x[active].astype(np.float64), rest)
        return panel.features_cache[key]

    def training_set(self, panel, origin):
        """``X, y, sample_weight`` of the training origins before ``origin`` (see the class notes)."""
        span = _parse_span(self.horizon)
        xs, ys, ws, act = [], [], [], []
        n = panel.grid.n_cells
        for j in range(int(self.training_origins)):
            o = _shift(_shift(origin, span, -1), (1, 0), -j)
            if panel.first is None or _shift(o, (1, 0), -1) < panel.first:
                break
            active, x, rest = self._rows(panel, o)
            y = panel.counts(o, _shift(o, span))
            xs.append(x)
            ys.append(y[active])
            ws.append(np.ones(len(active)))
            act.append(np.ones(len(active), bool))
            if n > len(active):
                mask = np.ones(n, bool)
                mask[active] = False
                xs.append(rest[None, :])
                ys.append(np.array([y[mask].mean()]))
                ws.append(np.array([float(n - len(active))]))
                act.append(np.zeros(1, bool))
        if not xs:
            return None
        x, y, w, act = np.vstack(xs), np.concatenate(ys), np.concatenate(ws), np.concatenate(act)
        rows = np.flatnonzero(act)
        if len(rows) > self.max_rows:
            picked = np.random.default_rng(0).choice(rows, size=int(self.max_rows), replace=False)
            w[picked] = len(rows) / self.max_rows
            keep = np.sort(np.concatenate([picked, np.flatnonzero(~act)]))
            x, y, w = x[keep], y[keep], w[keep]
        return x, y, w

    def _panel_scores(self, panel, cutoff):
        data = self.training_set(panel, cutoff)
        if data is None or data[1].sum() <= 0:
            return panel.counts(_shift(cutoff, (12, 0), -1), cutoff)
        x_train, y, w = data
        empty = np.isnan(x_train).all(axis=0)       # e.g. no seasonal lag anywhere: the column is left at 0
        x_train = np.where(empty, 0.0, x_train)
        active, x, rest = self._rows(panel, cutoff)
        x, rest = np.where(empty, 0.0, x), np.where(empty, 0.0, rest)
        # One OpenMP thread: the fits are small (≤ 40,000 rows) and run beside the web workers; with the
        # default thread pool a fit took 0.9–1.7 s on a busy 2-core machine, with one thread 0.37 s.
        with threadpool_limits(limits=1, user_api="openmp"):
            model = self.regressor().fit(x_train, y, sample_weight=w)
            scores = np.full(panel.grid.n_cells, float(model.predict(rest[None, :])[0]))
            if len(active):
                scores[active] = model.predict(x)
        self.model_ = model
        return scores
