"""Forecasts of where incidents will happen next, per grid cell and per ward, and their backtest.

"Dự báo chính xác tình hình" asks for a forecast per ward that can be checked. Each
method here scores the cells of a regular square grid (``cell_m`` metres, in the
metric CRS of the study area, clipped to it) from the incidents before a cutoff
date; a higher score means "more likely next period":

* :class:`NaiveKDE`: the kernel density (:func:`clustering.kde.kde`) of the
  incidents of the last few months.
* :class:`ProspectiveHotspot`: prospective hot-spotting (Bowers, Johnson & Pease
  2004), recent and near incidents weighted ``1/(1 + cells) * 1/(1 + weeks)``.
* :class:`RetrospectiveCounts`: the number of incidents per cell in a window,
  the simplest baseline.

``ward_scores`` adds the cell scores up per ward. :func:`backtest` refits every
method at a series of cutoffs (rolling origin) and scores each forecast on the
incidents of the following period: hit rate, PAI (Chainey, Tompson & Uhlig
2008) and RRI (Levine 2008) for the top 1 % ... 10 % of the cells
(:func:`hit_rate_curve`, :func:`pai`, :func:`rri`); :func:`summary` averages
them over the cutoffs.

Times are local (Asia/Ho_Chi_Minh). A cutoff is a date: the history is every
incident before 00:00 of that day, and the forecast period starts at it.

Examples
--------
>>> import datetime as dt, geopandas as gpd, shapely
>>> area = gpd.GeoSeries([shapely.box(0, 0, 1500, 1500)], crs="EPSG:32648")
>>> pts = gpd.GeoDataFrame(
...     {"occurred_at": pd.to_datetime(["2025-01-05", "2025-01-20", "2025-02-03"])},
...     geometry=gpd.points_from_xy([75, 80, 1400], [75, 70, 1400]), crs="EPSG:32648")
>>> model = RetrospectiveCounts(window="3M").fit(pts, dt.date(2025, 2, 1), study_area=area)
>>> model.grid_.n_cells, float(model.scores_.max())
(100, 2.0)
>>> top = model.to_frame().sort_values("rank").iloc[0]
>>> top["cell_id"], float(top["score"]), int(top["rank"])
('c0_r0', 2.0, 1)
"""
from __future__ import annotations

import datetime as dt
import math
import re
import time as _time
from dataclasses import dataclass
from numbers import Real

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS
from scipy import ndimage

from .errors import InputError
from .grid import make_grid, validate_parameters
from .kde import KERNELS, SUPPORT, kde
from .projection import metric_crs_for
from .projection import rows_text as _rows

__all__ = ["ForecastGrid", "forecast_grid", "NaiveKDE", "ProspectiveHotspot", "RetrospectiveCounts",
           "METHODS", "default_methods", "hit_rate_curve", "pai", "rri", "backtest", "summary",
           "COVERAGES"]

#: Coverage fractions scored by default: the top 1 %, 2 %, ..., 10 % of the study area's cells.
COVERAGES = tuple(round(k / 100, 2) for k in range(1, 11))
DEFAULT_CELL_M = 150.0
#: Largest forecast grid (about 6,700 km² of 2025 Hồ Chí Minh City is 300,000 cells of 150 m).
MAX_CELLS = 2_000_000
#: Columns looked for when ``time`` is not given, in this order.
TIME_COLUMNS = ("occurred_at", "local_date")
DISTANCES = ("chebyshev", "manhattan")
#: Named spans: (months, days).
NAMED_SPANS = {"day": (0, 1), "week": (0, 7), "month": (1, 0), "quarter": (3, 0), "year": (12, 0)}
_SPAN_UNITS = {"D": (0, 1), "W": (0, 7), "M": (1, 0), "Y": (12, 0)}
_WEEK_NS = 7 * 24 * 3600 * 10**9


def _parse_span(value, allow_all=False):
    """``(months, days)`` of a span spec ("month", "3M", "8W", "90D", "1Y"; "all" -> None), or False."""
    if isinstance(value, str):
        text = value.strip()
        if allow_all and text.lower() == "all":
            return None
        if text.lower() in NAMED_SPANS:
            return NAMED_SPANS[text.lower()]
        m = re.fullmatch(r"(\d+)\s*([DWMY])", text, flags=re.IGNORECASE)
        if m and int(m.group(1)) > 0:
            months, days = _SPAN_UNITS[m.group(2).upper()]
            return months * int(m.group(1)), days * int(m.group(1))
    return False


def _positive(v):
    return isinstance(v, Real) and not isinstance(v, bool) and math.isfinite(v) and v > 0


def _positive_int(v):
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v > 0


_SPAN_HELP = 'a span such as "month", "quarter", "3M", "8W" or "90D"'

# Allowed parameter values, declared as data: name -> (test, what is allowed).
_parameter_constraints = {
    "cell_m": (_positive, "a number of metres above 0 (150 by default)"),
    "bandwidth_m": (_positive, "a number of metres above 0, for example 300"),
    "bandwidth_cells": (_positive, "a number of cells above 0 (incidents fewer cells away count), "
                                   "for example 3"),
    "time_window_weeks": (_positive, "a number of weeks above 0 (incidents fewer whole weeks "
                                     "before the cutoff count), for example 8"),
    "kernel": (lambda v: v in KERNELS, f"one of {list(KERNELS)}"),
    "distance": (lambda v: v in DISTANCES, f"one of {list(DISTANCES)}"),
    "window": (lambda v: _parse_span(v, allow_all=True) is not False, _SPAN_HELP + ', or "all"'),
    "step": (lambda v: _parse_span(v) is not False, _SPAN_HELP),
    "horizon": (lambda v: _parse_span(v) is not False, _SPAN_HELP),
    "max_cells": (_positive_int, "an integer above 0"),
}


def _shift(day: dt.date, span, k: int = 1) -> dt.date:
    """``day`` moved by ``k`` times ``span`` ((months, days); negative ``k`` goes back)."""
    months, days = span
    out = pd.Timestamp(day) + pd.DateOffset(months=months * k) + pd.Timedelta(days=days * k)
    return out.date()


def _as_date(value, name: str) -> dt.date:
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            raise InputError(f"`{name}` was {value!r}, a time with a time zone; pass the local date "
                             "(e.g. `geo.periods.local_date(...)`).")
        if value.time() != dt.time(0):
            raise InputError(f"`{name}` was {value!r} but must be a date (periods start at 00:00); "
                             f"pass {value.date()!r}.")
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise InputError(f"`{name}` was {value!r} but must be a date, e.g. datetime.date(2025, 1, 1) "
                     "or '2025-01-01'.")


def _ns(day: dt.date) -> int:
    """Local midnight of ``day`` as nanoseconds since the epoch of naive local time."""
    return pd.Timestamp(day).as_unit("ns").value


# --------------------------------------------------------------------------- grid


@dataclass(frozen=True, eq=False)
class ForecastGrid:
    """The square cells of a study area on which forecasts are made and scored.

    Attributes
    ----------
    cells : GeoDataFrame
        One row per cell whose interior overlaps the study area, in the metric CRS:
        ``cell_id`` ("c{col}_r{row}"), ``col``, ``row`` and the square. Cell ``(col, row)``
        spans ``[col * cell_m, (col + 1) * cell_m)`` in x and the same in y, so grids
        with the same cell size and CRS share their cell ids (as in
        :func:`clustering.grid.make_grid`). The row order is the grid order that breaks
        ties in scores.
    cell_m : float
    crs : pyproj.CRS
    """

    cells: gpd.GeoDataFrame
    cell_m: float
    crs: CRS

    @property
    def n_cells(self) -> int:
        return len(self.cells)

    @property
    def area_km2(self) -> float:
        return self.n_cells * self.cell_m ** 2 / 1e6

    def _raster(self):
        cached = self.__dict__.get("_raster_cache")
        if cached is None:
            cols = self.cells["col"].to_numpy(np.int64)
            rows = self.cells["row"].to_numpy(np.int64)
            col0, row0 = int(cols.min()), int(rows.min())
            lookup = np.full((int(rows.max()) - row0 + 1, int(cols.max()) - col0 + 1), -1, np.int64)
            lookup[rows - row0, cols - col0] = np.arange(len(cols))
            cached = (col0, row0, lookup, cols, rows)
            object.__setattr__(self, "_raster_cache", cached)
        return cached

    def locate(self, xy) -> np.ndarray:
        """Position (row of :attr:`cells`) of the cell holding each point, -1 outside the grid.

        ``xy`` are coordinates in :attr:`crs`, shape (n, 2).
        """
        col0, row0, lookup, _, _ = self._raster()
        xy = np.asarray(xy, dtype=float).reshape(-1, 2)
        c = np.floor(xy[:, 0] / self.cell_m) - col0
        r = np.floor(xy[:, 1] / self.cell_m) - row0
        ok = (c >= 0) & (r >= 0) & (c < lookup.shape[1]) & (r < lookup.shape[0])
        out = np.full(len(xy), -1, dtype=np.int64)
        out[ok] = lookup[r[ok].astype(np.int64), c[ok].astype(np.int64)]
        return out

    def centres(self) -> np.ndarray:
        """Cell centres, shape (n_cells, 2), in :attr:`crs`."""
        _, _, _, cols, rows = self._raster()
        return np.column_stack([(cols + 0.5) * self.cell_m, (rows + 0.5) * self.cell_m])

    def counts(self, xy) -> np.ndarray:
        """Number of points in each cell (points outside the grid are left out)."""
        pos = self.locate(xy)
        return np.bincount(pos[pos >= 0], minlength=self.n_cells).astype(float)


def forecast_grid(study_area, *, cell_m: float = DEFAULT_CELL_M, max_cells: int = MAX_CELLS) -> ForecastGrid:
    """The forecast grid of a study area: square cells of ``cell_m`` metres that overlap it.

    Parameters
    ----------
    study_area : GeoDataFrame or GeoSeries
        Polygons with a CRS, e.g. the wards of a district or of the city. The grid is in
        the UTM zone of their extent (EPSG:32648 for Hồ Chí Minh City and Hà Nội).
    cell_m : float, default 150
    max_cells : int, default 2,000,000

    Returns
    -------
    ForecastGrid

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> g = forecast_grid(gpd.GeoSeries([shapely.box(0, 0, 450, 300)], crs="EPSG:32648"))
    >>> g.n_cells, g.area_km2
    (6, 0.135)
    """
    validate_parameters(_parameter_constraints, cell_m=cell_m, max_cells=max_cells)
    if not isinstance(study_area, (gpd.GeoDataFrame, gpd.GeoSeries)):
        raise InputError("`study_area` must be a GeoDataFrame or GeoSeries of polygons (e.g. the "
                         f"wards to forecast for), got {type(study_area).__name__}.")
    geoms = study_area.geometry if isinstance(study_area, gpd.GeoDataFrame) else study_area
    if len(geoms) and not geoms.dropna().geom_type.isin(["Polygon", "MultiPolygon"]).all():
        raise InputError("`study_area` must hold polygons (wards, a district); got "
                         f"{sorted(set(geoms.dropna().geom_type))}.")
    cells = make_grid(study_area, cell_m=float(cell_m), shape="square", clip=study_area,
                      max_cells=max_cells)
    cells = cells[["cell_id", "col", "row", "geometry"]].reset_index(drop=True)
    return ForecastGrid(cells=cells, cell_m=float(cell_m), crs=CRS.from_user_input(cells.crs))


# --------------------------------------------------------------------------- incidents


def _local_times(points, time) -> np.ndarray:
    """Incident times as int64 nanoseconds of naive local (Asia/Ho_Chi_Minh) time."""
    if time is None:
        time = next((c for c in TIME_COLUMNS if c in points.columns), None)
        if time is None:
            raise InputError(f"`points` has no time column ({' or '.join(TIME_COLUMNS)}); pass "
                             f"`time=` with the column that holds the incident times. Columns "
                             f"are {list(points.columns)}.")
    elif time not in points.columns:
        raise InputError(f"`time` was {time!r} but `points` has no such column; columns are "
                         f"{list(points.columns)}.")
    s = points[time]
    if not pd.api.types.is_datetime64_any_dtype(s.dtype):
        sample = s.dropna()
        if len(sample) and isinstance(sample.iloc[0], str):
            raise InputError(f"`points[{time!r}]` holds text; parse it first, e.g. "
                             f"`pd.to_datetime(points[{time!r}], format='%d/%m/%Y %H:%M')`.")
        aware = any(isinstance(v, dt.datetime) and v.tzinfo is not None for v in sample)
        if not aware:
            try:
                s = pd.to_datetime(s)
            except (TypeError, ValueError) as exc:
                raise InputError(f"`points[{time!r}]` must hold dates or times: {exc}") from None
    else:
        aware = isinstance(s.dtype, pd.DatetimeTZDtype)
    if aware:
        raise InputError(f"`points[{time!r}]` holds times with a time zone; convert them to local times "
                         f"first, e.g. `.dt.tz_convert('Asia/Ho_Chi_Minh').dt.tz_localize(None)` "
                         "(incidents are counted by their local date).")
    missing = s.isna().to_numpy()
    if missing.any():
        raise InputError(f"`points[{time!r}]` has {missing.sum()} missing times (rows "
                         f"{_rows(points.index, missing)}); drop those incidents first.")
    return s.to_numpy(dtype="datetime64[ns]").astype(np.int64)


def _events(points, crs, time):
    """Metric coordinates and local times of the incidents, sorted by time."""
    if not isinstance(points, gpd.GeoDataFrame):
        raise InputError(f"`points` must be a GeoDataFrame of incidents, got {type(points).__name__}.")
    if len(points) == 0:
        raise InputError("`points` is empty; a forecast needs incidents before the cutoff.")
    if points.crs is None:
        raise InputError("`points` has no CRS; call `.set_crs(...)` (EPSG:4326 for longitude, "
                         "latitude) first.")
    geom = points.geometry
    bad = (geom.isna() | geom.is_empty).to_numpy() | (geom.geom_type != "Point").to_numpy()
    if bad.any():
        raise InputError(f"`points` must hold one Point per incident; {bad.sum()} rows do not "
                         f"(rows {_rows(points.index, bad)}); drop or geocode them first.")
    t = _local_times(points, time)
    g = geom.to_crs(crs).to_numpy()
    xy = np.column_stack([shapely.get_x(g), shapely.get_y(g)])
    if not np.isfinite(xy).all():
        raise InputError("Some points have no finite coordinates in the grid's CRS; check their CRS.")
    order = np.argsort(t, kind="stable")
    return xy[order], t[order]


def _window(t, cut_ns, cutoff, span):
    """Slice of the (sorted) times in ``[cutoff - span, cutoff)``; all before the cutoff if None."""
    stop = int(np.searchsorted(t, cut_ns, side="left"))
    if span is None:
        return slice(0, stop)
    return slice(int(np.searchsorted(t, _ns(_shift(cutoff, span, -1)), side="left")), stop)


# --------------------------------------------------------------------------- methods


class _CellForecast:
    """Shared fitting of the cell forecasts: grid, incidents, cutoff, results."""

    _param_names: tuple = ()

    def __repr__(self):
        args = ", ".join(f"{k}={getattr(self, k)!r}" for k in self._param_names)
        return f"{type(self).__name__}({args})"

    def _validate(self):
        validate_parameters(_parameter_constraints, **{k: getattr(self, k) for k in self._param_names})

    def fit(self, points, cutoff, *, grid: ForecastGrid | None = None, study_area=None, time=None):
        """Score every cell from the incidents before ``cutoff``.

        Parameters
        ----------
        points : GeoDataFrame
            Incidents (Points with a CRS) and their times. Incidents on or after the
            cutoff are ignored, so the whole record can be passed.
        cutoff : datetime.date
            First day of the period forecast; the history ends at 00:00 of that day.
        grid : ForecastGrid, optional
            The cells to score (from :func:`forecast_grid`, with this ``cell_m``).
        study_area : GeoDataFrame or GeoSeries, optional
            Polygons to build the grid from when ``grid`` is not given. Without either,
            the grid covers the bounding box of ``points``.
        time : str, optional
            Column of ``points`` with the times (datetime, aware or local; or dates).
            Default: ``occurred_at``, else ``local_date``.

        Returns
        -------
        self
            With ``grid_``, ``scores_`` (one float per cell of ``grid_.cells``),
            ``cutoff_``, ``n_history_`` (incidents before the cutoff) and ``n_used_``
            (those that entered the forecast).
        """
        self._validate()
        grid = self._grid(grid, study_area, points)
        xy, t = _events(points, grid.crs, time)
        return self._fit_events(xy, t, _as_date(cutoff, "cutoff"), grid)

    def _grid(self, grid, study_area, points):
        if grid is not None:
            if not isinstance(grid, ForecastGrid):
                raise InputError(f"`grid` must be a ForecastGrid from forecast_grid(...), got "
                                 f"{type(grid).__name__}.")
            if grid.cell_m != float(self.cell_m):
                raise InputError(f"`grid` has cells of {grid.cell_m:g} m but this forecast has "
                                 f"cell_m={self.cell_m:g}; build the grid with "
                                 f"forecast_grid(study_area, cell_m={self.cell_m:g}).")
            return grid
        if study_area is not None:
            return forecast_grid(study_area, cell_m=self.cell_m)
        if not isinstance(points, gpd.GeoDataFrame) or len(points) == 0 or points.crs is None:
            _events(points, None, None)     # raises the error that fits
        crs = metric_crs_for(points)
        box = gpd.GeoSeries([shapely.box(*points.to_crs(crs).total_bounds)
                             .buffer(self.cell_m / 2, join_style="mitre")], crs=crs)
        return forecast_grid(box, cell_m=self.cell_m)

    def _fit_events(self, xy, t, cutoff, grid):
        cut_ns = _ns(cutoff)
        n_history = int(np.searchsorted(t, cut_ns, side="left"))
        if n_history == 0:
            first = (f"; the first incident is on {pd.Timestamp(int(t[0])):%d/%m/%Y}, so pick a "
                     f"later cutoff" if len(t) else "")
            raise InputError(f"No incident before the cutoff {cutoff:%d/%m/%Y}: the history is "
                             f"empty{first}.")
        scores, used = self._scores(xy, t, cut_ns, cutoff, grid)
        self.grid_ = grid
        self.scores_ = np.asarray(scores, dtype=float)
        self.cutoff_ = cutoff
        self.n_history_ = n_history
        self.n_used_ = int(used)
        return self

    def _check_fitted(self):
        if not hasattr(self, "scores_"):
            raise InputError(f"This {type(self).__name__} is not fitted yet; call `.fit(points, "
                             "cutoff, study_area=...)` first.")

    def to_frame(self) -> gpd.GeoDataFrame:
        """The grid cells with ``score`` and ``rank`` (1 = highest; ties in grid order)."""
        self._check_fitted()
        out = self.grid_.cells.copy()
        out["score"] = self.scores_
        rank = np.empty(len(out), dtype=np.int64)
        rank[_ranking(self.scores_)] = np.arange(1, len(out) + 1)
        out["rank"] = rank
        return out

    def ward_scores(self, wards, *, how: str = "sum", id_col: str = "code") -> pd.DataFrame:
        """The forecast per ward: the cell scores added up (or averaged) over each ward.

        A cell belongs to the ward that contains its centre; a cell whose centre is in
        no ward counts for none.

        Parameters
        ----------
        wards : GeoDataFrame
            Ward polygons with a CRS and an id column.
        how : {"sum", "mean"}, default "sum"
            ``"sum"``: the ward's total score (for counts, the ward's own count of
            incidents in the window, up to the cells that straddle its border);
            ``"mean"``: the score per cell, which compares wards of different size.
        id_col : str, default "code"

        Returns
        -------
        DataFrame
            One row per ward, highest score first: ``id_col``, ``name`` (when ``wards``
            has one), ``score``, ``cells`` and ``rank`` (1 = highest; ties by id).
        """
        self._check_fitted()
        if how not in ("sum", "mean"):
            raise InputError(f"`how` was {how!r} but is expected to be in ['sum', 'mean'].")
        if not isinstance(wards, gpd.GeoDataFrame) or wards.crs is None:
            raise InputError("`wards` must be a GeoDataFrame with a CRS; call `.set_crs(...)` first.")
        if id_col not in wards.columns:
            raise InputError(f"`id_col` was {id_col!r} but `wards` has no such column; columns are "
                             f"{list(wards.columns)}.")
        metric = wards.to_crs(self.grid_.crs).reset_index(drop=True)
        centres = shapely.points(self.grid_.centres())
        cell_idx, ward_idx = metric.sindex.query(centres, predicate="within")
        first = np.unique(cell_idx, return_index=True)[1]
        cell_idx, ward_idx = cell_idx[first], ward_idx[first]
        n_wards = len(metric)
        total = np.bincount(ward_idx, weights=self.scores_[cell_idx], minlength=n_wards)
        cells = np.bincount(ward_idx, minlength=n_wards)
        if how == "mean":
            with np.errstate(invalid="ignore", divide="ignore"):
                total = np.where(cells > 0, total / np.maximum(cells, 1), np.nan)
        out = pd.DataFrame({id_col: metric[id_col].to_numpy()})
        if "name" in metric.columns and id_col != "name":
            out["name"] = metric["name"].to_numpy()
        out["score"] = total
        out["cells"] = cells
        out = out.sort_values(["score", id_col], ascending=[False, True], na_position="last",
                              kind="stable").reset_index(drop=True)
        out["rank"] = np.arange(1, len(out) + 1)
        return out


class NaiveKDE(_CellForecast):
    """Kernel density of the incidents of the last ``window`` before the cutoff.

    The "hot-spot map of last quarter" forecast: :func:`clustering.kde.kde` of the
    incidents in ``[cutoff - window, cutoff)``, read at each cell centre (bilinear
    interpolation between the centres of the density grid, which has the same cell
    size but its own origin). Scores are incidents per km².

    Parameters
    ----------
    bandwidth_m : float, default 300
        Kernel radius (quartic) or standard deviation (Gaussian), in metres.
    cell_m : float, default 150
    window : str, default "3M"
        How far back the incidents are taken: "3M", "8W", "90D", "month", "all"...
    kernel : {"quartic", "gaussian"}, default "quartic"

    Attributes
    ----------
    grid_, scores_, cutoff_, n_history_, n_used_
        See :meth:`fit`.

    References
    ----------
    Chainey, S., Tompson, L., Uhlig, S. (2008). The utility of hotspot mapping for
    predicting spatial patterns of crime. *Security Journal* 21(1-2), 4-28 (KDE as the
    most accurate of the common hot-spot maps at predicting next period's crime).
    """

    _param_names = ("bandwidth_m", "cell_m", "window", "kernel")

    def __init__(self, *, bandwidth_m: float = 300.0, cell_m: float = DEFAULT_CELL_M, window: str = "3M",
                 kernel: str = "quartic"):
        self.bandwidth_m = bandwidth_m
        self.cell_m = cell_m
        self.window = window
        self.kernel = kernel

    def _scores(self, xy, t, cut_ns, cutoff, grid):
        part = xy[_window(t, cut_ns, cutoff, _parse_span(self.window, allow_all=True))]
        scores = np.zeros(grid.n_cells)
        # Incidents beyond the kernel's reach of every cell cannot change a score.
        reach = SUPPORT[self.kernel] * self.bandwidth_m + grid.cell_m
        x0, y0, x1, y1 = grid.cells.total_bounds
        near = ((part[:, 0] >= x0 - reach) & (part[:, 0] <= x1 + reach)
                & (part[:, 1] >= y0 - reach) & (part[:, 1] <= y1 + reach))
        part = part[near]
        if len(part) == 0:
            return scores, 0
        pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(part[:, 0], part[:, 1]), crs=grid.crs)
        res = kde(pts, bandwidth_m=float(self.bandwidth_m), cell_m=float(grid.cell_m), kernel=self.kernel)
        density = np.nan_to_num(res.density, nan=0.0)
        a, _, xmin, _, e, ymax = res.transform
        c = grid.centres()
        u = (c[:, 0] - xmin) / a - 0.5
        v = (c[:, 1] - ymax) / e - 0.5
        scores = ndimage.map_coordinates(density, [v, u], order=1, mode="constant", cval=0.0)
        return np.maximum(scores, 0.0), len(part)


class ProspectiveHotspot(_CellForecast):
    """Prospective hot-spotting: near and recent incidents, weighted by cells and weeks.

    The score of cell ``c`` at the cutoff is

    .. math::

        s(c) = \\sum_i \\frac{[d_i < B]\\,[w_i < T]}{(1 + d_i)(1 + w_i)}

    over the incidents ``i`` before the cutoff, where ``d_i`` is the distance in whole
    cells between ``c`` and the cell holding incident ``i`` (``"chebyshev"``:
    ``max(|dcol|, |drow|)``, so the 8 cells around a cell are 1 away; ``"manhattan"``:
    ``|dcol| + |drow|``), ``w_i = floor((cutoff - t_i) / 7 days)`` its age in whole weeks
    (an incident 6 days old is 0 weeks old), ``B`` = ``bandwidth_cells`` and ``T`` =
    ``time_window_weeks``. This is the grid algorithm of open_cp's
    ``prohotspot.ProspectiveHotSpot`` with its ``ClassicWeight``; it is computed as one
    correlation of the week-weighted counts per cell with the ``1/(1 + d)`` stencil.

    Parameters
    ----------
    bandwidth_cells : float, default 3
        Incidents fewer than this many cells away count (strict, as in open_cp).
    time_window_weeks : float, default 8
        Incidents fewer than this many whole weeks old count.
    cell_m : float, default 150
    distance : {"chebyshev", "manhattan"}, default "chebyshev"

    Attributes
    ----------
    grid_, scores_, cutoff_, n_history_, n_used_
        See :meth:`fit`.

    Notes
    -----
    Defaults. open_cp (``ClassicWeight``, ``ProspectiveHotSpot``) uses cells of 50 m,
    ``space_bandwidth = 400 / 50 = 8`` cells, ``time_bandwidth = 8`` weeks, both strict,
    whole weeks rounded down and the Chebyshev cell distance
    (``DistanceDiagonalsSame``). Here the weeks, the strict bounds, the rounding and
    the distance are the same; the cells are the project's 150 m, and
    ``bandwidth_cells = 3`` keeps about open_cp's reach in metres: incidents up to 2
    cells (300 m between centres) away count, against 7 cells (350 m) of 50 m in
    open_cp. ``bandwidth_cells=8`` keeps open_cp's number of cells instead (a reach of
    1,050 m at 150 m).

    References
    ----------
    Bowers, K. J., Johnson, S. D., Pease, K. (2004). Prospective hot-spotting: the
    future of crime mapping? *British Journal of Criminology* 44(5), 641-658.
    doi:10.1093/bjc/azh036.
    open_cp, ``open_cp/prohotspot.py`` (QuantCrimAtLeeds, University of Leeds),
    https://github.com/QuantCrimAtLeeds/PredictCode.
    """

    _param_names = ("bandwidth_cells", "time_window_weeks", "cell_m", "distance")

    def __init__(self, *, bandwidth_cells: float = 3, time_window_weeks: float = 8,
                 cell_m: float = DEFAULT_CELL_M, distance: str = "chebyshev"):
        self.bandwidth_cells = bandwidth_cells
        self.time_window_weeks = time_window_weeks
        self.cell_m = cell_m
        self.distance = distance

    def stencil(self) -> np.ndarray:
        """Spatial weights ``1/(1 + d)`` at cell offsets ``-R..R`` (``R = ceil(B) - 1``)."""
        validate_parameters(_parameter_constraints, bandwidth_cells=self.bandwidth_cells,
                            distance=self.distance)
        radius = max(math.ceil(self.bandwidth_cells) - 1, 0)
        off = np.abs(np.arange(-radius, radius + 1))
        d = (np.maximum(off[:, None], off[None, :]) if self.distance == "chebyshev"
             else off[:, None] + off[None, :])
        return np.where(d < self.bandwidth_cells, 1.0 / (1.0 + d), 0.0)

    def _scores(self, xy, t, cut_ns, cutoff, grid):
        stop = int(np.searchsorted(t, cut_ns, side="left"))
        weeks = (cut_ns - t[:stop]) // _WEEK_NS       # whole weeks, rounded down (exact integers)
        recent = weeks < self.time_window_weeks
        xy, weeks = xy[:stop][recent], weeks[recent]
        kernel = self.stencil()
        radius = kernel.shape[0] // 2
        col0, row0, lookup, cols, rows = grid._raster()
        c = np.floor(xy[:, 0] / grid.cell_m).astype(np.int64) - (col0 - radius)
        r = np.floor(xy[:, 1] / grid.cell_m).astype(np.int64) - (row0 - radius)
        shape = (lookup.shape[0] + 2 * radius, lookup.shape[1] + 2 * radius)
        ok = (c >= 0) & (r >= 0) & (c < shape[1]) & (r < shape[0])
        weighted = np.bincount(r[ok] * shape[1] + c[ok], weights=1.0 / (1.0 + weeks[ok]),
                               minlength=shape[0] * shape[1]).reshape(shape)
        smooth = ndimage.correlate(weighted, kernel, mode="constant", cval=0.0)
        return smooth[rows - row0 + radius, cols - col0 + radius], int(ok.sum())


class RetrospectiveCounts(_CellForecast):
    """Incidents per cell in the last ``window`` before the cutoff: "it will happen where it did".

    Parameters
    ----------
    window : str, default "3M"
        "1M", "3M", "12M", "8W", "month", "year", "all"...
    cell_m : float, default 150

    Attributes
    ----------
    grid_, scores_, cutoff_, n_history_, n_used_
        See :meth:`fit`; ``scores_`` are counts.
    """

    _param_names = ("window", "cell_m")

    def __init__(self, *, window: str = "3M", cell_m: float = DEFAULT_CELL_M):
        self.window = window
        self.cell_m = cell_m

    def _scores(self, xy, t, cut_ns, cutoff, grid):
        part = xy[_window(t, cut_ns, cutoff, _parse_span(self.window, allow_all=True))]
        pos = grid.locate(part)
        return np.bincount(pos[pos >= 0], minlength=grid.n_cells).astype(float), int((pos >= 0).sum())


#: The forecast methods by name.
METHODS = {"naive_kde": NaiveKDE, "prospective": ProspectiveHotspot, "counts": RetrospectiveCounts}


def default_methods(cell_m: float = DEFAULT_CELL_M) -> dict:
    """One instance of each method with its defaults, keyed by a readable name."""
    return {"NaiveKDE 3M, 300 m": NaiveKDE(cell_m=cell_m),
            "ProspectiveHotspot 3 cells, 8 weeks": ProspectiveHotspot(cell_m=cell_m),
            "RetrospectiveCounts 3M": RetrospectiveCounts(cell_m=cell_m)}


# --------------------------------------------------------------------------- scoring


def _ranking(scores) -> np.ndarray:
    """Cell positions from the highest score down; equal scores in grid order."""
    scores = np.asarray(scores, dtype=float)
    return np.lexsort((np.arange(len(scores)), -scores))


def _check_coverage(c):
    if not (isinstance(c, Real) and not isinstance(c, bool) and 0 < c <= 1):
        raise InputError(f"`coverage` was {c!r} but must be a fraction of the cells in (0, 1], "
                         "for example 0.05 for the top 5 %.")
    return float(c)


def _cells_for(coverage, n_cells) -> int:
    """Number of cells in the top ``coverage``: ``coverage * A`` rounded half up, at least 1."""
    return min(max(int(math.floor(coverage * n_cells + 0.5 + 1e-9)), 1), n_cells)


def _vector(x, name, n=None, counts=False):
    a = np.asarray(x, dtype=float).ravel()
    if a.size == 0:
        raise InputError(f"`{name}` is empty; pass one value per cell.")
    if n is not None and a.size != n:
        raise InputError(f"`{name}` has {a.size} values but `scores` has {n}; pass one value per cell, "
                         "in the same order.")
    if not np.isfinite(a).all():
        raise InputError(f"`{name}` has {(~np.isfinite(a)).sum()} missing or infinite values.")
    if counts and (a < 0).any():
        raise InputError(f"`{name}` has negative values; it must hold incident counts per cell.")
    return a


def hit_rate_curve(scores, observed, *, coverages=COVERAGES, previous=None) -> pd.DataFrame:
    """Hit rate, PAI and RRI of a forecast for several coverages.

    For coverage ``c`` the forecast's hot spot is the ``a = round(c * A)`` cells (at
    least 1) with the highest scores, where ``A`` is the number of cells of the study
    area; equal scores are taken in grid order (the order of ``scores``), so the
    selection is deterministic.

    Parameters
    ----------
    scores : array-like of float, shape (A,)
        The forecast, one score per cell.
    observed : array-like, shape (A,)
        Incidents per cell in the forecast period.
    coverages : sequence of float, default 0.01 ... 0.10
        Fractions of the cells, each in (0, 1].
    previous : array-like, shape (A,), optional
        Incidents per cell in the period before (as long as the forecast period), for
        the RRI.

    Returns
    -------
    DataFrame
        One row per coverage: ``coverage``, ``cells`` (``a``), ``area_share``
        (``a / A``), ``captured`` (``n``), ``total`` (``N``), ``hit_rate`` (``n / N``),
        ``pai`` (``(n / N) / (a / A)``) and ``pai_max`` (the PAI of a perfect forecast
        with ``a`` cells); with ``previous`` also ``previous_captured`` (``n1``),
        ``previous_total`` (``N1``) and ``rri`` (see :func:`rri`). Rates are NaN when
        their denominator is 0.

    References
    ----------
    Chainey, S., Tompson, L., Uhlig, S. (2008). The utility of hotspot mapping for
    predicting spatial patterns of crime. *Security Journal* 21(1-2), 4-28.
    Levine, N. (2008). The "hottest" part of a hotspot: comments on "The utility of
    hotspot mapping for predicting spatial patterns of crime". *Security Journal* 21(4),
    295-302.

    Examples
    --------
    >>> curve = hit_rate_curve([5, 4, 0, 0, 1, 0, 0, 0, 0, 0], [3, 0, 1, 0, 0, 0, 0, 0, 0, 0],
    ...                        coverages=(0.1, 0.2))
    >>> curve[["cells", "captured", "hit_rate", "pai"]].values.tolist()
    [[1.0, 3.0, 0.75, 7.5], [2.0, 3.0, 0.75, 3.75]]
    """
    scores = _vector(scores, "scores")
    n_cells = scores.size
    observed = _vector(observed, "observed", n_cells, counts=True)
    coverages = [_check_coverage(c) for c in np.atleast_1d(np.asarray(coverages, dtype=object))]
    if not coverages:
        raise InputError("`coverages` is empty; pass fractions such as (0.01, 0.05, 0.10).")
    k = np.array([_cells_for(c, n_cells) for c in coverages])
    order = _ranking(scores)
    captured = np.cumsum(observed[order])[k - 1]
    best = np.cumsum(np.sort(observed)[::-1])[k - 1]
    total = observed.sum()
    share = k / n_cells
    with np.errstate(invalid="ignore", divide="ignore"):
        hit = captured / total if total > 0 else np.full(len(k), np.nan)
        out = pd.DataFrame({"coverage": coverages, "cells": k, "area_share": share,
                            "captured": captured, "total": total, "hit_rate": hit,
                            "pai": hit / share,
                            "pai_max": (best / total if total > 0 else np.nan) / share})
        if previous is not None:
            previous = _vector(previous, "previous", n_cells, counts=True)
            n1 = np.cumsum(previous[order])[k - 1]
            n1_total = previous.sum()
            out["previous_captured"] = n1
            out["previous_total"] = n1_total
            out["rri"] = np.where((n1 > 0) & (total > 0), (captured / n1) / (total / n1_total), np.nan)
    return out


def pai(scores, observed, coverage) -> float:
    """Predictive accuracy index of a forecast at one coverage: ``(n / N) / (a / A)``.

    ``n`` of the ``N`` incidents of the forecast period fall in the ``a`` top-scored
    cells (:func:`hit_rate_curve`) out of the study area's ``A``. 1 is no better than
    cells drawn at random; the ceiling is ``A / a``, when every incident is captured.

    References
    ----------
    Chainey, S., Tompson, L., Uhlig, S. (2008). The utility of hotspot mapping for
    predicting spatial patterns of crime. *Security Journal* 21(1-2), 4-28.

    Examples
    --------
    >>> pai([9, 8, 7, 0, 0, 0, 0, 0, 0, 0], [2, 1, 1, 0, 0, 0, 0, 0, 0, 0], 0.3)
    3.3333333333333335
    """
    return float(hit_rate_curve(scores, observed, coverages=(_check_coverage(coverage),))["pai"].iloc[0])


def rri(scores, observed, previous, coverage) -> float:
    """Recapture rate index of a forecast at one coverage: ``(n2 / n1) / (N2 / N1)``.

    ``n2`` and ``n1`` are the incidents inside the forecast's hot spot (the ``a``
    top-scored cells) in the forecast period and in the period of the same length
    before it; ``N2`` and ``N1`` are all incidents of the study area in those periods.
    Equivalently, the hot spot's share of incidents now over its share before: above 1
    the selected cells take a larger share than they did, below 1 a smaller one. NaN
    when ``n1`` or ``N2`` is 0.

    Notes
    -----
    Levine (2008) proposed the index as a comment on Chainey et al. (2008): the crimes
    in the hot spot area in the second period over those in the first, corrected for
    the change in the total number of crimes. The form used here,
    ``(n2 / n1) / (N2 / N1)``, is the one the index is usually quoted with; it was not
    checked against the notation of the paper itself. The first period is always the
    ``horizon``-long period just before the cutoff, whatever history a method uses, so
    that all methods are compared on the same reference.

    References
    ----------
    Levine, N. (2008). The "hottest" part of a hotspot: comments on "The utility of
    hotspot mapping for predicting spatial patterns of crime". *Security Journal* 21(4),
    295-302.

    Examples
    --------
    >>> rri([9, 8, 0, 0], [3, 1, 2, 2], [2, 2, 1, 1], 0.5)   # (4 / 4) / (8 / 6)
    0.75
    """
    return float(hit_rate_curve(scores, observed, coverages=(_check_coverage(coverage),),
                                previous=previous)["rri"].iloc[0])


# --------------------------------------------------------------------------- backtest


def backtest(points, *, study_area, methods: dict, start, end, step: str = "month",
             horizon: str = "month", coverages=COVERAGES, time: str | None = None, progress=None) -> pd.DataFrame:
    """Rolling-origin backtest: refit each method at each cutoff, score it on the next period.

    The cutoffs are ``start``, ``start + step``, ``start + 2 step``, ... as long as the
    forecast period ``[cutoff, cutoff + horizon)`` ends by ``end`` (inclusive). At each
    cutoff every method is fitted on the incidents before it and its cells are ranked;
    the incidents of the forecast period inside the study area are the ones to capture
    (:func:`hit_rate_curve`), and those of the ``horizon``-long period before the cutoff
    are the RRI's reference.

    Parameters
    ----------
    points : GeoDataFrame
        Incidents with a CRS and times (see :meth:`NaiveKDE.fit`).
    study_area : GeoDataFrame or GeoSeries
        Polygons whose cells are forecast and scored (e.g. the wards of the city).
    methods : dict of str to forecast
        Name -> :class:`NaiveKDE`, :class:`ProspectiveHotspot` or
        :class:`RetrospectiveCounts` instance; each is refitted in place.
    start, end : datetime.date
        First cutoff, and last day that a forecast period may cover.
    step, horizon : str, default "month"
        Spacing of the cutoffs and length of the forecast period: "week", "month",
        "quarter", "year" or "2W", "3M", "90D"... Months are calendar months counted
        from ``start`` (start on the 15th for the statistical cut).
    coverages : sequence of float, default 0.01 ... 0.10
    time : str, optional
        Column with the incident times.
    progress : callable, optional
        Called with the fraction of the fits done (0..1) after each one, e.g. to show a job's progress.

    Returns
    -------
    DataFrame
        One row per (method, cutoff, coverage): ``method``, ``cutoff``, ``period_end``
        (last day of the forecast period), the columns of :func:`hit_rate_curve`,
        ``positive_cells`` (cells with a score above 0: beyond them the hot spot is
        filled in grid order), ``n_history``, ``n_used`` and ``fit_seconds``.

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> area = gpd.GeoSeries([shapely.box(0, 0, 1500, 1500)], crs="EPSG:32648")
    >>> days = pd.date_range("2025-01-01", "2025-03-31", freq="D")
    >>> pts = gpd.GeoDataFrame({"occurred_at": days},
    ...                        geometry=gpd.points_from_xy([75] * len(days), [75] * len(days)),
    ...                        crs="EPSG:32648")
    >>> frame = backtest(pts, study_area=area, methods={"counts": RetrospectiveCounts(window="1M")},
    ...                  start=dt.date(2025, 2, 1), end=dt.date(2025, 3, 31), coverages=(0.01,))
    >>> frame[["cutoff", "hit_rate", "pai"]].values.tolist()
    [[datetime.date(2025, 2, 1), 1.0, 100.0], [datetime.date(2025, 3, 1), 1.0, 100.0]]
    """
    validate_parameters(_parameter_constraints, step=step, horizon=horizon)
    step_span, horizon_span = _parse_span(step), _parse_span(horizon)
    start, end = _as_date(start, "start"), _as_date(end, "end")
    if end < start:
        raise InputError(f"`end` ({end:%d/%m/%Y}) is before `start` ({start:%d/%m/%Y}).")
    if not isinstance(methods, dict) or not methods:
        raise InputError("`methods` must be a non-empty dict of name -> forecast, e.g. "
                         "{'counts': RetrospectiveCounts(window='3M')}.")
    for name, m in methods.items():
        if not isinstance(m, _CellForecast):
            raise InputError(f"`methods[{name!r}]` must be a NaiveKDE, ProspectiveHotspot or "
                             f"RetrospectiveCounts instance, got {type(m).__name__}.")
        m._validate()
    coverages = [_check_coverage(c) for c in np.atleast_1d(np.asarray(coverages, dtype=object))]
    cutoffs = []
    while True:
        cut = _shift(start, step_span, len(cutoffs))
        if _shift(cut, horizon_span) > end + dt.timedelta(days=1):
            break
        cutoffs.append(cut)
    if not cutoffs:
        raise InputError(f"No forecast period of `horizon`={horizon!r} fits between {start:%d/%m/%Y} "
                         f"and {end:%d/%m/%Y}; move `end` later or shorten `horizon`.")

    grids = {}
    for m in methods.values():
        cell = float(m.cell_m)
        if cell not in grids:
            grids[cell] = forecast_grid(study_area, cell_m=cell)
    xy, t = _events(points, next(iter(grids.values())).crs, time)

    def counts(grid, a, b):
        lo, hi = np.searchsorted(t, [_ns(a), _ns(b)], side="left")
        return grid.counts(xy[lo:hi])

    frames, fits = [], len(cutoffs) * len(methods)
    for cut in cutoffs:
        stop = _shift(cut, horizon_span)
        observed = {c: counts(g, cut, stop) for c, g in grids.items()}
        previous = {c: counts(g, _shift(cut, horizon_span, -1), cut) for c, g in grids.items()}
        for name, m in methods.items():
            cell = float(m.cell_m)
            t0 = _time.perf_counter()
            m._fit_events(xy, t, cut, grids[cell])
            seconds = _time.perf_counter() - t0
            curve = hit_rate_curve(m.scores_, observed[cell], coverages=coverages,
                                   previous=previous[cell])
            curve.insert(0, "period_end", stop - dt.timedelta(days=1))
            curve.insert(0, "cutoff", cut)
            curve.insert(0, "method", name)
            curve["positive_cells"] = int((m.scores_ > 0).sum())
            curve["n_history"] = m.n_history_
            curve["n_used"] = m.n_used_
            curve["fit_seconds"] = seconds
            frames.append(curve)
            if progress is not None:
                progress(len(frames) / fits)
    return pd.concat(frames, ignore_index=True)


def summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean hit rate, PAI, PAI ceiling and RRI over the cutoffs, per (method, coverage).

    Cutoffs whose value is NaN (no incident to capture; RRI without reference) are left
    out of that mean; ``cutoffs`` counts them all. Methods keep their order in ``frame``.

    Examples
    --------
    >>> frame = pd.DataFrame({"method": ["a", "a"], "coverage": [0.01, 0.01],
    ...                       "hit_rate": [0.2, 0.4], "pai": [20.0, 40.0], "pai_max": [50.0, 60.0],
    ...                       "rri": [1.0, np.nan]})
    >>> summary(frame).round(2).values.tolist()
    [['a', 0.01, 2, 0.3, 30.0, 55.0, 1.0]]
    """
    need = ["method", "coverage", "hit_rate", "pai", "pai_max", "rri"]
    missing = [c for c in need if c not in frame.columns]
    if missing:
        raise InputError(f"`frame` lacks the columns {missing}; pass the result of backtest(...).")
    grouped = frame.groupby(["method", "coverage"], sort=False)
    out = grouped[["hit_rate", "pai", "pai_max", "rri"]].mean()
    out.insert(0, "cutoffs", grouped.size())
    return out.reset_index()
