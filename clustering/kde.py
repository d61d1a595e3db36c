"""Kernel density of incidents on a grid in metres, with top-percent hot-spot outlines.

:func:`kde` bins the incidents onto a regular grid and convolves the bins with
the kernel by FFT, so the cost depends on the grid, not on the number of
incidents times the number of cells. :class:`KDEResult` holds the surface
(incidents per km²) and turns it into "top 1 % / 5 % / 10 %" polygons for the
map.
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS
from scipy.signal import fftconvolve

from .errors import N_, InputError
from .projection import WGS84, metric_points
from .projection import rows_text as _rows

__all__ = ["kde", "KDEResult", "default_bandwidth", "PARAMETER_CONSTRAINTS", "KERNELS"]

# Allowed parameter values, as data: (type, lower bound, bound is inclusive, None allowed).
PARAMETER_CONSTRAINTS = {
    "bandwidth_m": (numbers.Real, 0.0, False, True),   # > 0, or None for the default rule
    "cell_m": (numbers.Real, 0.0, False, True),        # > 0, or None for the default
    "max_cells": (numbers.Integral, 1, True, False),   # >= 1
}
KERNELS = ("quartic", "gaussian")
# Kernel support in bandwidths: the quartic kernel is 0 beyond h; the Gaussian
# is cut at 4 standard deviations (99.97 % of its mass in 2-D).
SUPPORT = {"quartic": 1.0, "gaussian": 4.0}
# Binning grid: at most bandwidth / 12 (see ``kde`` Notes), and at most this many cells.
FINE_PER_BANDWIDTH = 12
MAX_FINE_CELLS = 16_000_000
M2_PER_KM2 = 1e6


def _check_param(name, value):
    kind, low, inclusive, optional = PARAMETER_CONSTRAINTS[name]
    if value is None and optional:
        return None
    ok = (isinstance(value, kind) and not isinstance(value, bool)
          and np.isfinite(value) and (value >= low if inclusive else value > low))
    if not ok:
        bound = f">= {low}" if inclusive else f"> {low}"
        text = (N_("`%(name)s` was %(value)s but must be a whole number %(bound)s.") if kind is numbers.Integral
                else N_("`%(name)s` was %(value)s but must be a number of metres %(bound)s."))
        raise InputError(text, name=name, value=repr(value), bound=bound + (" or None" if optional else ""))
    return value


def _points_xy(points):
    if isinstance(points, gpd.GeoDataFrame) and len(points) == 0:
        raise InputError(N_("`points` is empty; the density needs at least one incident."))
    xy, crs = metric_points(points)
    bad = ~np.isfinite(xy).all(axis=1)
    if bad.any():
        raise InputError(f"{bad.sum()} points have no coordinates (rows {_rows(points.index, bad)}); "
                         f"drop them or geocode them first.")
    return xy, crs


def _weights(points, weights):
    if weights is None:
        return np.ones(len(points))
    if isinstance(weights, str):
        if weights not in points.columns:
            raise InputError(f"`weights` was {weights!r} but `points` has no such column; "
                             f"columns are {list(points.columns)}.")
        w = pd.to_numeric(points[weights], errors="coerce").to_numpy(dtype=float)
        name = f"points[{weights!r}]"
    else:
        w = np.asarray(weights, dtype=float)
        name = "weights"
        if w.shape != (len(points),):
            raise InputError(f"`weights` has shape {w.shape} but must hold one weight per point "
                             f"({len(points)},).")
    bad = ~np.isfinite(w) | (w < 0)
    if bad.any():
        raise InputError(f"`{name}` has {bad.sum()} missing, infinite or negative values "
                         f"(rows {_rows(points.index, bad)}); weights must be numbers >= 0.")
    if w.sum() <= 0:
        raise InputError(f"`{name}` sums to 0; at least one incident needs a positive weight.")
    return w


def default_bandwidth(xy, weights=None):
    """Bandwidth in metres by the spatial variant of Silverman's rule used by ArcGIS.

    ``h = 0.9 * min(SD, sqrt(1 / ln 2) * Dm) * n ** -0.2`` where ``SD`` is the
    standard distance of the points from their (weighted) mean centre, ``Dm``
    the (weighted) median of those distances and ``n`` the number of points
    (sum of weights).

    Parameters
    ----------
    xy : ndarray of shape (n, 2)
        Projected coordinates in metres.
    weights : ndarray of shape (n,), optional

    Returns
    -------
    float
        Bandwidth in metres; 0 when all points are at one place.

    References
    ----------
    .. [1] Silverman, B. W. (1986). Density Estimation for Statistics and
       Data Analysis. Chapman and Hall, London. Equation 3.31.
    .. [2] Esri. How Kernel Density works. ArcGIS Pro documentation, "Default
       search radius (bandwidth)".

    Examples
    --------
    >>> import numpy as np
    >>> xy = np.random.default_rng(0).normal(0, 1000, (10_000, 2))
    >>> round(default_bandwidth(xy), -1)
    200.0
    """
    xy = np.asarray(xy, dtype=float)
    w = np.ones(len(xy)) if weights is None else np.asarray(weights, dtype=float)
    n = w.sum()
    centre = (xy * w[:, None]).sum(axis=0) / n
    d = np.hypot(*(xy - centre).T)
    sd = np.sqrt((w * d * d).sum() / n)
    order = np.argsort(d)
    cum = np.cumsum(w[order])
    dm = d[order][np.searchsorted(cum, 0.5 * n)]
    return float(0.9 * min(sd, np.sqrt(1.0 / np.log(2.0)) * dm) * n ** -0.2)


def _kernel(kind, h, step, radius_cells):
    """Kernel values (per m²) at grid offsets ``-radius..radius`` cells of size ``step``."""
    off = np.arange(-radius_cells, radius_cells + 1) * step
    d2 = off[None, :] ** 2 + off[:, None] ** 2
    if kind == "quartic":
        u = 1.0 - d2 / (h * h)
        return np.where(u > 0, 3.0 / (np.pi * h * h) * u * u, 0.0)
    k = np.exp(-0.5 * d2 / (h * h)) / (2.0 * np.pi * h * h)
    return np.where(d2 <= (SUPPORT["gaussian"] * h) ** 2, k, 0.0)


def _bin(u, v, w, shape):
    """Linear binning of fractional grid positions (column u, row v) onto grid nodes."""
    i0 = np.floor(u).astype(np.intp)
    j0 = np.floor(v).astype(np.intp)
    fu, fv = u - i0, v - j0
    grid = np.zeros(shape[0] * shape[1])
    for dj, wj in ((0, 1 - fv), (1, fv)):
        for di, wi in ((0, 1 - fu), (1, fu)):
            flat = (j0 + dj) * shape[1] + (i0 + di)
            grid += np.bincount(flat, weights=w * wj * wi, minlength=grid.size)
    return grid.reshape(shape)


def _clip_geometry(clip, crs_points, crs_metric):
    if isinstance(clip, (gpd.GeoDataFrame, gpd.GeoSeries)):
        if clip.crs is None:
            raise InputError("`clip` has no CRS; call `.set_crs(...)` first.")
        geom = shapely.union_all(clip.to_crs(crs_metric).geometry.to_numpy())
    elif isinstance(clip, shapely.Geometry):
        geom = gpd.GeoSeries([clip], crs=crs_points).to_crs(crs_metric).iloc[0]
    else:
        raise InputError(f"`clip` must be a GeoDataFrame, GeoSeries or shapely geometry, "
                         f"got {type(clip).__name__}.")
    if geom is None or geom.is_empty or geom.area <= 0:
        raise InputError("`clip` has no area; pass the ward or district polygons to clip to.")
    return geom


@dataclass
class KDEResult:
    """A kernel density surface on a regular grid in a metric CRS.

    Attributes
    ----------
    density : ndarray of shape (rows, cols)
        Incidents per km² at the centre of each cell; row 0 is the northern
        edge. Cells outside ``clip`` are NaN.
    transform : tuple of 6 floats
        Affine ``(a, b, c, d, e, f)`` from (col, row) to (x, y), as in
        rasterio: ``x = c + a * col``, ``y = f + e * row`` at cell corners.
    bounds : tuple of 4 floats
        ``(xmin, ymin, xmax, ymax)`` of the grid, in ``crs``.
    crs : pyproj.CRS
        The metric CRS of the grid.
    cell_m, bandwidth_m : float
        Cell side and bandwidth in metres.
    kernel : str
    total_weight : float
        Number (sum of weights) of incidents.
    """

    density: np.ndarray
    transform: tuple
    bounds: tuple
    crs: CRS
    cell_m: float
    bandwidth_m: float
    kernel: str
    total_weight: float

    def centres(self):
        """x and y (2-D arrays, in ``crs``) of the cell centres."""
        rows, cols = self.density.shape
        xmin, _, _, ymax = self.bounds
        x = xmin + (np.arange(cols) + 0.5) * self.cell_m
        y = ymax - (np.arange(rows) + 0.5) * self.cell_m
        return np.meshgrid(x, y)

    def thresholds(self, levels=(0.01, 0.05, 0.10)):
        """Density (per km²) above which a cell is in the top ``level`` fraction of cells.

        The fraction counts the cells with a positive density (inside
        ``clip`` if one was given): the threshold for 0.01 is the 99th
        percentile of those cells' densities.
        """
        levels = self._check_levels(levels)
        values = self.density[np.isfinite(self.density) & (self.density > 0)]
        if values.size == 0:
            return {lv: np.inf for lv in levels}
        return {lv: float(np.quantile(values, 1.0 - lv)) for lv in levels}

    @staticmethod
    def _check_levels(levels):
        levels = tuple(levels)
        bad = [lv for lv in levels if not (isinstance(lv, numbers.Real) and 0 < lv < 1)]
        if not levels or bad:
            raise InputError(f"`levels` was {levels!r} but must be fractions of cells between 0 and "
                             f"1, for example (0.01, 0.05, 0.10).")
        return levels

    def contours(self, levels=(0.01, 0.05, 0.10)):
        """Hot-spot outlines: the cells in the top 1 %, 5 %, 10 % of density.

        For each level, the polygon is the union of the cells whose density
        is strictly above :meth:`thresholds` (the ``1 - level`` quantile of
        the cells with positive density), so its edges follow the grid.

        Parameters
        ----------
        levels : sequence of float, default=(0.01, 0.05, 0.10)
            Fractions of the cells with positive density.

        Returns
        -------
        GeoDataFrame
            One row per level, widest first (for drawing), in EPSG:4326, with
            ``level`` ("10%"), ``fraction``, ``threshold`` (incidents per km²),
            ``cells``, ``area_km2`` and a (Multi)Polygon, empty when no cell
            is above the threshold.
        """
        levels = sorted(self._check_levels(levels), reverse=True)
        thresholds = self.thresholds(levels)
        a, _, c, _, e, f = self.transform
        # Cell edges computed once, so neighbouring boxes share exact coordinates.
        xs = c + np.arange(self.density.shape[1] + 1) * a
        ys = f + np.arange(self.density.shape[0] + 1) * e
        rows = []
        for lv in levels:
            thr = thresholds[lv]
            with np.errstate(invalid="ignore"):
                r, col = np.nonzero(self.density > thr)
            boxes = shapely.box(xs[col], ys[r + 1], xs[col + 1], ys[r])
            shape = shapely.coverage_union_all(boxes) if len(boxes) else shapely.Polygon()
            shape = shapely.simplify(shape, 0.0)     # drop collinear cell corners
            rows.append({"level": f"{lv * 100:g}%", "fraction": float(lv), "threshold": thr,
                         "cells": int(len(r)), "area_km2": len(r) * a * a / M2_PER_KM2,
                         "geometry": shape})
        out = gpd.GeoDataFrame(rows, geometry="geometry", crs=self.crs)
        return out.to_crs(WGS84)

    def to_geojson(self, levels=(0.01, 0.05, 0.10)):
        """The :meth:`contours` as a GeoJSON FeatureCollection string."""
        return self.contours(levels).to_json()


def kde(points, *, bandwidth_m=None, cell_m=None, kernel="quartic", weights=None, clip=None,
        max_cells=4_000_000):
    """Kernel density of incidents (per km²) on a grid, by binning and FFT convolution.

    Parameters
    ----------
    points : GeoDataFrame
        Incidents as Point geometries with a CRS; projected to the UTM zone
        of their extent.
    bandwidth_m : float, optional
        Kernel radius (quartic) or standard deviation (Gaussian) in metres.
        Default: :func:`default_bandwidth`, the spatial Silverman rule of
        ArcGIS, ``0.9 * min(SD, sqrt(1/ln 2) * Dm) * n ** -0.2``.
    cell_m : float, optional
        Cell side in metres. Default: ``bandwidth_m / 4``, enlarged if needed
        so the grid has at most ``max_cells`` cells.
    kernel : {"quartic", "gaussian"}, default="quartic"
        Quartic (biweight) ``K(d) = 3 / (pi h²) (1 - d²/h²)²`` for ``d < h``,
        as in ArcGIS; or the Gaussian with standard deviation ``h``, cut at
        4 h.
    weights : str or array-like, optional
        Column name or one weight (>= 0) per incident.
    clip : GeoDataFrame, GeoSeries or shapely geometry, optional
        Area to keep (a bare geometry is in the CRS of ``points``). The grid
        is cropped to it and cells whose centre is outside become NaN. All
        incidents count, including those outside (no edge correction).
    max_cells : int, default=4_000_000
        Largest grid allowed.

    Returns
    -------
    KDEResult

    Raises
    ------
    InputError
        Empty points, points without coordinates or CRS, non-positive
        bandwidth or cell, or a grid larger than ``max_cells``.

    Notes
    -----
    The grid covers the incidents plus the kernel support (``h`` for the
    quartic kernel, ``4 h`` for the Gaussian), so without ``clip`` the
    density integrates to the number of incidents. Incidents are linearly
    binned (each split between the four nearest nodes) onto a grid of side
    at most ``h / 12`` that has a node at every output cell centre; the bins
    are convolved with the kernel sampled at the node offsets
    (:func:`scipy.signal.fftconvolve`) and the output cells are read off.
    Linear binning smooths by less than ``(h/12)² / 6`` of variance, which
    keeps the surface within about 1 % of the peak of an exact evaluation
    (Wand 1994).

    References
    ----------
    .. [1] Silverman, B. W. (1986). Density Estimation for Statistics and
       Data Analysis. Chapman and Hall, London. Section 4.2.3 (quartic
       kernel), equation 3.31 (bandwidth).
    .. [2] Wand, M. P. (1994). Fast computation of multivariate kernel
       estimators. Journal of Computational and Graphical Statistics 3(4),
       433-445.
    .. [3] Esri. How Kernel Density works. ArcGIS Pro documentation.

    Examples
    --------
    >>> import geopandas as gpd
    >>> pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy([0, 100, 120], [0, 50, 60]),
    ...                        crs="EPSG:32648")
    >>> res = kde(pts, bandwidth_m=200, cell_m=10)
    >>> res.density.shape
    (46, 52)
    >>> round(float(res.density.sum() * 10 * 10 / 1e6), 3)
    3.0
    """
    bandwidth_m = _check_param("bandwidth_m", bandwidth_m)
    cell_m = _check_param("cell_m", cell_m)
    max_cells = _check_param("max_cells", max_cells)
    if kernel not in KERNELS:
        raise InputError(f"`kernel` was {kernel!r} but is expected to be in {list(KERNELS)}.")
    xy, crs = _points_xy(points)
    w = _weights(points, weights)
    keep = w > 0
    xy, w = xy[keep], w[keep]

    h = float(bandwidth_m) if bandwidth_m is not None else default_bandwidth(xy, w)
    if not h > 0:
        raise InputError(N_("The default bandwidth is 0 because all incidents are at one place; "
                            "pass `bandwidth_m` (for example 250)."))
    pad = SUPPORT[kernel] * h
    lo = xy.min(axis=0) - pad
    hi = xy.max(axis=0) + pad
    extent = hi - lo

    def shape_for(cell):
        return np.maximum(np.ceil(extent / cell - 1e-9).astype(np.int64), 1)

    if cell_m is None:
        cell = h / 4.0
        cols, rows = shape_for(cell)
        if cols * rows > max_cells:
            cell = float(np.sqrt(extent[0] * extent[1] / max_cells)) * 1.001
            while np.prod(shape_for(cell)) > max_cells:
                cell *= 1.01
    else:
        cell = float(cell_m)
    cols, rows = (int(v) for v in shape_for(cell))
    if cols * rows > max_cells:
        need = float(np.sqrt(extent[0] * extent[1] / max_cells))
        while np.prod(shape_for(need)) > max_cells:
            need *= 1.01
        raise InputError(N_("`cell_m`=%(cell)s gives a grid of %(cols)s x %(rows)s = %(cells)s cells, above "
                            "max_cells=%(max_cells)s; use a cell of at least %(need)s m or raise `max_cells`."),
                         cell=f"{cell:g}", cols=cols, rows=rows, cells=f"{cols * rows:,}",
                         max_cells=f"{max_cells:,}", need=f"{np.ceil(need):.0f}")
    xmin, ymax = lo[0], lo[1] + rows * cell

    clip_geom = None
    if clip is not None:
        clip_geom = _clip_geometry(clip, points.crs, crs)

    # Binning grid: each output cell split into `sub` x `sub` (odd, so output
    # centres are nodes), with at most MAX_FINE_CELLS nodes.
    sub = max(1, int(np.ceil(cell * FINE_PER_BANDWIDTH / h - 1e-9)))
    sub += (sub + 1) % 2
    while sub > 1 and (cols * sub + 1) * (rows * sub + 1) > MAX_FINE_CELLS:
        sub -= 2
    step = cell / sub
    radius = int(np.ceil(pad / step))
    # Node (j, i) of the binning grid is at x = xmin + (i + 0.5) * step,
    # y = ymax - (j + 0.5) * step; the grid already holds the kernel's reach.
    fshape = (rows * sub, cols * sub)
    u = np.clip((xy[:, 0] - xmin) / step - 0.5, 0, fshape[1] - 1.000001)
    v = np.clip((ymax - xy[:, 1]) / step - 0.5, 0, fshape[0] - 1.000001)
    bins = _bin(u, v, w, fshape)
    smooth = fftconvolve(bins, _kernel(kernel, h, step, radius), mode="same")
    first = sub // 2
    density = smooth[first::sub, first::sub] * M2_PER_KM2
    # FFT round-off leaves values near 1e-16 of the peak where the density is 0.
    density[density <= 1e-12 * max(density.max(), 0.0)] = 0.0
    density = np.ascontiguousarray(density)

    if clip_geom is not None:
        density, xmin, ymax = _apply_clip(density, xmin, ymax, cell, clip_geom)
        rows, cols = density.shape
    bounds = (float(xmin), float(ymax - rows * cell), float(xmin + cols * cell), float(ymax))
    transform = (float(cell), 0.0, float(xmin), 0.0, -float(cell), float(ymax))
    return KDEResult(density=density, transform=transform, bounds=bounds, crs=crs,
                     cell_m=float(cell), bandwidth_m=h, kernel=kernel, total_weight=float(w.sum()))


def _apply_clip(density, xmin, ymax, cell, geom):
    """Crop the grid to ``geom``'s bounds and set cells whose centre is outside to NaN."""
    rows, cols = density.shape
    gx0, gy0, gx1, gy1 = geom.bounds
    c0 = max(int(np.floor((gx0 - xmin) / cell)), 0)
    c1 = min(int(np.ceil((gx1 - xmin) / cell)), cols)
    r0 = max(int(np.floor((ymax - gy1) / cell)), 0)
    r1 = min(int(np.ceil((ymax - gy0) / cell)), rows)
    if c1 <= c0 or r1 <= r0:
        raise InputError("`clip` does not overlap the incidents' grid; check that it covers the "
                         "same area (and has the right CRS).")
    out = density[r0:r1, c0:c1].copy()
    xmin, ymax = xmin + c0 * cell, ymax - r0 * cell
    x = xmin + (np.arange(out.shape[1]) + 0.5) * cell
    y = ymax - (np.arange(out.shape[0]) + 0.5) * cell
    shapely.prepare(geom)
    for r in range(out.shape[0]):
        inside = shapely.contains_xy(geom, x, np.full_like(x, y[r]))
        out[r, ~inside] = np.nan
    return out, xmin, ymax
