"""Spatial units for the local statistics: regular grids, point counts and neighbour weights.

Everything is computed in a metric CRS (:func:`clustering.projection.metric_crs_for`), so
cell sizes, snapping tolerances and distance bands are in metres.
"""
from __future__ import annotations

import math
from numbers import Integral, Real

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from libpysal.graph import Graph
from libpysal.weights import W
from pyproj import CRS
from scipy import sparse
from scipy.spatial import cKDTree

from .errors import InputError
from .projection import metric_crs_for

SHAPES = ("hexagon", "square")
KINDS = ("queen", "distance")
ISLAND_RULES = ("nearest", "keep", "raise")
#: Largest gap (metres) between two areas that still makes them neighbours.
DEFAULT_SNAP_M = 2.0
#: Cells over the study area when the cell size comes from the area alone (no points).
TARGET_CELLS = 2_500
#: Area of one cell divided by ``cell_m ** 2``.
_AREA_FACTOR = {"square": 1.0, "hexagon": math.sqrt(3.0) / 2.0}


def _positive(v):
    return isinstance(v, Real) and not isinstance(v, bool) and math.isfinite(v) and v > 0


def _non_negative(v):
    return isinstance(v, Real) and not isinstance(v, bool) and math.isfinite(v) and v >= 0


def _positive_int(v):
    return isinstance(v, Integral) and not isinstance(v, bool) and v > 0


# Allowed parameter values, declared as data: name -> (test, what is allowed).
_parameter_constraints = {
    "cell_m": (lambda v: v is None or _positive(v), "None or a number of metres above 0"),
    "shape": (lambda v: v in SHAPES, f"one of {SHAPES}"),
    "max_cells": (_positive_int, "an integer above 0"),
    "kind": (lambda v: v in KINDS, f"one of {KINDS}"),
    "snap_m": (_non_negative, "a number of metres >= 0"),
    "threshold_m": (lambda v: v is None or _positive(v), "None or a number of metres above 0"),
    "islands": (lambda v: v in ISLAND_RULES, f"one of {ISLAND_RULES}"),
}


def validate_parameters(constraints: dict, **values) -> None:
    """Raise :class:`InputError` for the first value its constraint rejects.

    ``constraints`` maps a parameter name to ``(test, allowed)``; the message names the
    parameter, the value it got and what is allowed.
    """
    for name, value in values.items():
        test, allowed = constraints[name]
        if not test(value):
            raise InputError(f"`{name}` was {value!r} but must be {allowed}.")


# --------------------------------------------------------------------------- frames


def _check_frame(gdf, name: str) -> None:
    if not isinstance(gdf, (gpd.GeoDataFrame, gpd.GeoSeries)):
        raise InputError(f"`{name}` must be a GeoDataFrame or GeoSeries, got {type(gdf).__name__}.")
    if gdf.crs is None:
        raise InputError(f"`{name}` has no CRS; call `.set_crs(...)` first (EPSG:4326 for lon/lat).")
    if len(gdf) == 0:
        raise InputError(f"`{name}` is empty; it needs at least one feature.")


def _geoms(gdf) -> gpd.GeoSeries:
    return gdf.geometry if isinstance(gdf, gpd.GeoDataFrame) else gdf


def _metric(gdf, crs=None):
    return gdf.to_crs(crs or metric_crs_for(gdf))


# --------------------------------------------------------------------------- weights


def ward_weights(areas, *, kind: str = "queen", snap_m: float = DEFAULT_SNAP_M,
                 threshold_m: float | None = None, islands: str = "nearest") -> Graph:
    """Binary spatial weights between areas (wards, grid cells), as a libpysal ``Graph``.

    Parameters
    ----------
    areas : GeoDataFrame or GeoSeries
        Polygons (or points for ``kind="distance"``) with a CRS and a unique index. The
        graph's ids are ``areas.index``, in the same order.
    kind : {"queen", "distance"}
        ``"queen"``: two areas are neighbours when they share any part of their boundary,
        a corner included, with a tolerance of ``snap_m`` for digitising gaps.
        ``"distance"``: neighbours are areas whose centroids are at most ``threshold_m``
        metres apart (a fixed distance band).
    snap_m : float, default 2.0
        Largest gap, in metres, between two areas that still makes them queen neighbours.
        Each area is buffered by ``snap_m / 2`` before testing for intersection
        (``Graph.build_fuzzy_contiguity``). Real ward layers are not a clean coverage:
        neighbouring polygons leave sub-metre slivers and overlap a little, and their
        vertices do not coincide, so a vertex-based queen rule misses neighbours. ``0``
        tests plain intersection.
    threshold_m : float, optional
        Distance band in metres; required for ``kind="distance"``.
    islands : {"nearest", "keep", "raise"}, default "nearest"
        What to do with an area that has no neighbour (an island, e.g. Côn Đảo):
        ``"nearest"`` joins it to the one area with the nearest centroid, in both
        directions, so that every area has a neighbourhood; ``"keep"`` leaves it without
        neighbours (``graph.isolates`` lists it); ``"raise"`` raises :class:`InputError`.

    Returns
    -------
    libpysal.graph.Graph
        Binary weights (1 for a neighbour), no self-weights, ids in ``areas.index`` order.

    Notes
    -----
    On the 168 HCMC units of 2025 the queen rule with the default tolerance finds exactly
    one island, Đặc khu Côn Đảo, and ``islands="nearest"`` joins it to Phường Vũng Tàu
    (centroids about 191 km apart). On the 322 wards of 2019 it finds none, whereas a
    vertex-based queen rule (``libpysal.weights.Queen``) leaves Phường Linh Xuân without
    neighbours and misses about 150 pairs of neighbouring wards whose boundaries do not
    share vertices.

    References
    ----------
    Anselin, L. (1988). *Spatial Econometrics: Methods and Models*. Kluwer, ch. 3.
    Rey, S., Arribas-Bel, D., Wolf, L. (2023). *Geographic Data Science with Python*,
    ch. 4 "Spatial Weights". CRC Press.

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> cells = gpd.GeoDataFrame(geometry=[shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1),
    ...                                    shapely.box(5, 0, 6, 1)], crs="EPSG:32648")
    >>> g = ward_weights(cells)
    >>> g.cardinalities.tolist()
    [1, 2, 1]
    >>> ward_weights(cells, islands="keep").isolates.tolist()
    [2]
    """
    validate_parameters(_parameter_constraints, kind=kind, snap_m=snap_m,
                        threshold_m=threshold_m, islands=islands)
    _check_frame(areas, "areas")
    geoms = _geoms(areas)
    if not geoms.index.is_unique:
        raise InputError("`areas` has duplicate index labels; call `.reset_index(drop=True)` "
                         "or set a unique index (e.g. the ward code).")
    if geoms.isna().any() or geoms.is_empty.any():
        bad = geoms.index[geoms.isna() | geoms.is_empty][:5].tolist()
        raise InputError(f"`areas` has missing or empty geometries (index {bad}); drop or fix them.")
    metric = _metric(geoms)
    if len(metric) == 1:
        return Graph.from_sparse(_empty_sparse(1), ids=metric.index)

    if kind == "queen":
        graph = Graph.build_fuzzy_contiguity(metric, buffer=snap_m / 2 if snap_m > 0 else None)
    else:
        centroids = metric.centroid
        if threshold_m is None:
            nn = _nearest_distances(centroids)
            raise InputError(
                "`threshold_m` is required for kind='distance'. The smallest band that gives "
                f"every area a neighbour is {math.ceil(nn.max()):,} m; half of the areas have "
                f"their nearest neighbour within {math.ceil(np.median(nn)):,} m.")
        graph = Graph.build_distance_band(centroids, threshold_m, binary=True)

    isolates = graph.isolates
    if len(isolates) == 0 or islands == "keep":
        return graph
    if islands == "raise":
        names = _describe(areas, isolates)
        raise InputError(
            f"{len(isolates)} area(s) have no neighbour: {names}. Use islands='nearest' to join "
            "each to its nearest area, raise `snap_m`/`threshold_m`, or drop them.")
    return _attach_islands(graph, metric)


def _empty_sparse(n):
    return sparse.csr_array((n, n))


def _nearest_distances(points: gpd.GeoSeries) -> np.ndarray:
    xy = np.column_stack([points.x.to_numpy(), points.y.to_numpy()])
    d, _ = cKDTree(xy).query(xy, k=2)
    return d[:, 1]


def _describe(areas, ids) -> str:
    if isinstance(areas, gpd.GeoDataFrame) and "name" in areas.columns:
        return ", ".join(f"{areas.loc[i, 'name']} ({i})" for i in ids[:10])
    return ", ".join(str(i) for i in ids[:10])


def _attach_islands(graph: Graph, metric: gpd.GeoSeries) -> Graph:
    """Join every isolate to the area with the nearest centroid, symmetrically."""
    ids = graph.unique_ids
    centroids = metric.centroid.reindex(ids)
    xy = np.column_stack([centroids.x.to_numpy(), centroids.y.to_numpy()])
    tree = cKDTree(xy)
    matrix = graph.sparse.tocsr()
    matrix.eliminate_zeros()             # isolates are stored as a zero self-weight
    matrix = matrix.tolil()
    for pos in ids.get_indexer(graph.isolates):
        _, nearest = tree.query(xy[pos], k=2)
        other = nearest[1] if nearest[0] == pos else nearest[0]
        matrix[pos, other] = 1.0
        matrix[other, pos] = 1.0
    return Graph.from_sparse(matrix.tocsr(), ids=ids)


def as_graph(w, *, n: int | None = None, name: str = "areas") -> Graph:
    """A libpysal ``Graph`` from a ``Graph`` or ``W``; with ``n``, checked to have ``n`` ids."""
    if isinstance(w, W):
        w = Graph.from_W(w)
    if not isinstance(w, Graph):
        raise InputError(f"`w` must be a libpysal Graph or W (e.g. ward_weights({name})), "
                         f"got {type(w).__name__}.")
    if n is not None and w.n != n:
        raise InputError(f"`w` has {w.n} ids but `y` has {n} values; build `w` from the same features.")
    return w


def aligned_graph(w, index: pd.Index, name: str = "values") -> Graph:
    """``w`` as a ``Graph`` whose ids are ``index``, in that order.

    Accepts a libpysal ``Graph`` or ``W``. Raises :class:`InputError` when the ids are not
    the same labels as ``index``.
    """
    w = as_graph(w, name=name)
    ids = w.unique_ids
    if len(ids) == len(index) and (ids == index).all():
        return w
    if len(ids) != len(index) or not ids.isin(index).all() or not index.is_unique:
        missing = index[~index.isin(ids)][:5].tolist()
        raise InputError(
            f"`w` has {len(ids)} ids but `{name}` has {len(index)} rows (rows without an id in "
            f"`w`: {missing}); build `w` from the same frame, e.g. ward_weights({name}).")
    pos = ids.get_indexer(index)
    return Graph.from_sparse(w.sparse.tocsr()[pos][:, pos], ids=index)


# --------------------------------------------------------------------------- grids


def make_grid(extent_or_gdf, *, cell_m: float | None = None, shape: str = "hexagon",
              clip=None, max_cells: int = 50_000, crs=None) -> gpd.GeoDataFrame:
    """A regular grid of hexagons or squares in a metric CRS.

    Parameters
    ----------
    extent_or_gdf : GeoDataFrame, GeoSeries or (minx, miny, maxx, maxy)
        What the grid covers. Incident points also set the default cell size (below).
        A bounding box needs ``crs``.
    cell_m : float, optional
        Cell size in metres: the side of a square, or for a hexagon the distance between
        opposite edges, which is also the distance between the centres of two
        neighbouring hexagons (ArcGIS's convention). Default: the rule in the Notes.
    shape : {"hexagon", "square"}
        Flat-topped hexagons or squares.
    clip : GeoDataFrame or GeoSeries, optional
        Study area (e.g. the wards). The grid then covers the clip's extent and keeps only
        the whole cells whose interior overlaps it; cells are not cut at the boundary, so
        all cells keep the same area.
    max_cells : int, default 50,000
        Upper limit on the number of cells; above it :class:`InputError` says which cell
        size would fit.
    crs : CRS-like, optional
        CRS of a bounding-box ``extent_or_gdf``.

    Returns
    -------
    GeoDataFrame
        One row per cell: ``cell_id`` (``"c{col}_r{row}"``), ``col``, ``row`` and the
        polygon, in the metric CRS (the UTM zone of the data; EPSG:32648 for HCMC).
        Columns and rows count from the CRS origin, so two grids with the same cell size
        and CRS share their cell ids and can be compared over time. ``attrs`` holds
        ``cell_m``, ``shape``, ``cell_area_m2`` and ``cell_rule`` (how the size was chosen).

    Notes
    -----
    Default cell size. When ``extent_or_gdf`` holds points (incidents), the rule follows
    ArcGIS Optimized Hot Spot Analysis, which derives the fishnet cell size from the
    average nearest-neighbour distance of the incidents with locational outliers removed:

    1. Coincident incidents count once (distinct locations).
    2. ``d`` is each location's distance to its nearest other location; locations with
       ``d > mean(d) + 3 * std(d)`` are locational outliers and are left out.
    3. ``cell_m = 2 * mean(d)``, rounded up to a whole metre. For a random pattern of
       density λ the mean nearest-neighbour distance is ``1 / (2 * sqrt(λ))`` (Clark &
       Evans 1954), so a square cell of that side holds one incident on average.
    4. If that would give more than ``max_cells`` cells over the study area, the smallest
       size that fits is used instead (``cell_rule == "max_cells"``).

    Without points (a box, or polygons without ``cell_m``) the size gives about 2,500
    cells over the study area (the clip's area, else the extent's), rounded up to a
    whole metre. The exact multipliers are this project's choice, not ArcGIS's.

    References
    ----------
    Clark, P. J., Evans, F. C. (1954). Distance to nearest neighbor as a measure of spatial
    relationships in populations. *Ecology* 35(4), 445-453.
    Esri. How Optimized Hot Spot Analysis works. ArcGIS Pro tool reference.

    Examples
    --------
    >>> grid = make_grid((0, 0, 1000, 500), cell_m=250, shape="square", crs="EPSG:32648")
    >>> len(grid), grid.attrs["cell_area_m2"]
    (8, 62500.0)
    """
    validate_parameters(_parameter_constraints, cell_m=cell_m, shape=shape, max_cells=max_cells)
    points, bounds, metric_crs = _resolve_extent(extent_or_gdf, crs)
    study = shapely.box(*bounds)
    if clip is not None:
        _check_frame(clip, "clip")
        clip_geom = _geoms(clip).to_crs(metric_crs)
        clip_geom = clip_geom[~(clip_geom.isna() | clip_geom.is_empty)]
        if len(clip_geom) == 0:
            raise InputError("`clip` has no geometry; pass the study-area polygons.")
        study = shapely.union_all(clip_geom.values)
        bounds = tuple(clip_geom.total_bounds)
    minx, miny, maxx, maxy = bounds
    if not (maxx > minx and maxy > miny) or study.area == 0:
        raise InputError(f"The extent {bounds} has no area; pass a larger extent or a `clip`.")
    shapely.prepare(study)

    rule = "given"
    if cell_m is None:
        cell_m, rule = _default_cell(points, study.area, shape, max_cells)
        for _ in range(8):   # boundary cells can push a fitted size just over the limit
            cols, rows, count, exact = _grid_cells(study, cell_m, shape, max_cells)
            if count <= max_cells:
                break
            cell_m, rule = float(math.ceil(cell_m * 1.1)), "max_cells"
    else:
        cell_m = float(cell_m)
        cols, rows, count, exact = _grid_cells(study, cell_m, shape, max_cells)
    if count > max_cells:
        suggest = math.ceil(cell_m * math.sqrt(count / max_cells) * 1.1)
        raise InputError(
            f"A {shape} grid with cell_m={cell_m:g} m over this area would have "
            f"{'' if exact else 'at least '}{count:,} cells, more than max_cells={max_cells:,}. "
            f"Use cell_m={suggest:,} m or more, clip the grid to the study area, or raise "
            "`max_cells` (large grids make the permutation tests slow).")

    polys = _cell_polygons(cols, rows, cell_m, shape)
    grid = gpd.GeoDataFrame(
        {"cell_id": [f"c{c}_r{r}" for c, r in zip(cols, rows)], "col": cols, "row": rows},
        geometry=polys, crs=metric_crs)
    grid.attrs.update(cell_m=cell_m, shape=shape, cell_rule=rule,
                      cell_area_m2=cell_m * cell_m * _AREA_FACTOR[shape])
    return grid


def _resolve_extent(extent_or_gdf, crs):
    """(metric points or None, metric bounds, metric CRS)."""
    if isinstance(extent_or_gdf, (gpd.GeoDataFrame, gpd.GeoSeries)):
        _check_frame(extent_or_gdf, "extent_or_gdf")
        geoms = _geoms(extent_or_gdf)
        geoms = geoms[~(geoms.isna() | geoms.is_empty)]
        if len(geoms) == 0:
            raise InputError("`extent_or_gdf` has no geometry; pass incidents, areas or a box.")
        metric_crs = metric_crs_for(geoms)
        geoms = geoms.to_crs(metric_crs)
        points = geoms if (geoms.geom_type == "Point").all() else None
        return points, tuple(geoms.total_bounds), metric_crs
    if isinstance(extent_or_gdf, (tuple, list, np.ndarray)) and len(extent_or_gdf) == 4:
        if crs is None:
            raise InputError("`extent_or_gdf` is a bounding box; pass its CRS too, e.g. "
                             "crs='EPSG:32648' (metres) or crs='EPSG:4326' (lon/lat).")
        try:
            box = gpd.GeoSeries([shapely.box(*map(float, extent_or_gdf))], crs=CRS.from_user_input(crs))
        except (TypeError, ValueError) as exc:
            raise InputError(f"`extent_or_gdf` {extent_or_gdf!r} with crs={crs!r} is not a "
                             f"bounding box (minx, miny, maxx, maxy): {exc}") from None
        metric_crs = metric_crs_for(box)
        return None, tuple(box.to_crs(metric_crs).total_bounds), metric_crs
    raise InputError("`extent_or_gdf` must be a GeoDataFrame, a GeoSeries or a bounding box "
                     f"(minx, miny, maxx, maxy); got {type(extent_or_gdf).__name__}.")


def _default_cell(points, study_area, shape, max_cells):
    fit = math.sqrt(study_area / (max_cells * 0.95) / _AREA_FACTOR[shape])
    if points is not None:
        xy = np.unique(shapely.get_coordinates(points.values), axis=0)
        if len(xy) >= 2:
            d, _ = cKDTree(xy).query(xy, k=2)
            d = d[:, 1]
            d = d[d <= d.mean() + 3 * d.std()]
            cell = 2.0 * d.mean()
            if cell >= fit:
                return float(math.ceil(cell)), "nearest_neighbour"
            return float(math.ceil(fit)), "max_cells"
    return float(math.ceil(math.sqrt(study_area / TARGET_CELLS / _AREA_FACTOR[shape]))), "area"


def _index_ranges(bounds, cell, shape):
    """Column and row index ranges of the cells that can intersect ``bounds``."""
    minx, miny, maxx, maxy = bounds
    if shape == "square":
        return (math.floor(minx / cell), math.ceil(maxx / cell) - 1,
                math.floor(miny / cell), math.ceil(maxy / cell) - 1)
    side = cell / math.sqrt(3.0)
    dx = 1.5 * side
    return (math.floor((minx - side) / dx), math.ceil((maxx + side) / dx),
            math.floor(miny / cell) - 1, math.ceil(maxy / cell))


def _grid_cells(study, cell, shape, max_cells):
    """(cols, rows, count, exact) of the cells whose interior overlaps ``study``.

    ``study`` is a prepared polygon. The cells overlapping an area cover it, so when the
    area alone needs more than ``max_cells`` cells no cell is built and the count returned
    is that lower bound (``exact`` False).
    """
    lower_bound = math.ceil(study.area / (cell * cell * _AREA_FACTOR[shape]))
    if lower_bound > max_cells:
        return None, None, lower_bound, False
    ranges = [_index_ranges(tuple(shapely.bounds(part)), cell, shape)
              for part in shapely.get_parts(study)]
    cr = np.unique(np.vstack([
        np.stack(np.meshgrid(np.arange(c0, c1 + 1), np.arange(r0, r1 + 1)), -1).reshape(-1, 2)
        for c0, c1, r0, r1 in ranges]), axis=0)
    cols, rows = cr[:, 0], cr[:, 1]
    keep = shapely.contains_properly(study, _cell_polygons(cols, rows, cell, shape))
    rest = np.nonzero(~keep)[0]
    # A cell shrunk by a millionth overlaps the area exactly when the cell's interior does
    # (up to that millionth), which is much faster to test than the full DE-9IM relation.
    shrunk = _cell_polygons(cols[rest], rows[rest], cell, shape, scale=1 - 1e-6)
    keep[rest[shapely.intersects(study, shrunk)]] = True
    return cols[keep], rows[keep], int(keep.sum()), True


def _cell_polygons(cols, rows, cell, shape, scale: float = 1.0) -> np.ndarray:
    """Cell polygons, optionally scaled about their centres."""
    cols = np.asarray(cols, dtype=float)
    rows = np.asarray(rows, dtype=float)
    h = cell / 2.0
    if shape == "square":
        cx, cy = (cols + 0.5) * cell, (rows + 0.5) * cell
        offsets = np.array([(h, -h), (h, h), (-h, h), (-h, -h), (h, -h)])
    else:
        side = cell / math.sqrt(3.0)
        cx = cols * 1.5 * side
        cy = rows * cell + np.where(np.mod(cols, 2) == 1, h, 0.0)
        offsets = np.array([(side, 0), (side / 2, h), (-side / 2, h), (-side, 0),
                            (-side / 2, -h), (side / 2, -h), (side, 0)])
    offsets = offsets * scale
    ring = np.stack([cx[:, None] + offsets[:, 0], cy[:, None] + offsets[:, 1]], axis=-1)
    return shapely.polygons(ring)


# --------------------------------------------------------------------------- counts


def count_points(grid: gpd.GeoDataFrame, points, weights=None) -> gpd.GeoDataFrame:
    """Number of points (and optionally the sum of their weights) in each grid cell.

    Parameters
    ----------
    grid : GeoDataFrame
        Cells, e.g. from :func:`make_grid` (any polygons work, wards too).
    points : GeoDataFrame or GeoSeries
        Incident points with a CRS; they are projected to the grid's CRS.
    weights : str or array-like, optional
        Column of ``points`` or values aligned with ``points`` to add up per cell.

    Returns
    -------
    GeoDataFrame
        A copy of ``grid`` with ``count`` (int) and, with ``weights``, ``weight``. A point
        on the edge between cells counts once, in the first of them. Points outside every
        cell or without geometry are not counted; ``attrs["points_outside"]`` says how many.

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> grid = make_grid((0, 0, 200, 100), cell_m=100, shape="square", crs="EPSG:32648")
    >>> pts = gpd.GeoSeries(shapely.points([(10, 10), (20, 30), (150, 50)]), crs="EPSG:32648")
    >>> count_points(grid, pts)["count"].tolist()
    [2, 1]
    """
    _check_frame(grid, "grid")
    if isinstance(points, (gpd.GeoDataFrame, gpd.GeoSeries)) and points.crs is not None and len(points) == 0:
        out = _grid_frame(grid).copy()
        out["count"] = 0
        if weights is not None:
            out["weight"] = 0.0
        out.attrs["points_outside"] = 0
        return out
    _check_frame(points, "points")
    geoms = _geoms(points)
    present = ~(geoms.isna() | geoms.is_empty)
    if not (geoms[present].geom_type == "Point").all():
        raise InputError("`points` must hold points; for other shapes pass "
                         "`.representative_point()` or `.centroid` of them.")
    values = None
    if weights is not None:
        if isinstance(weights, str):
            if not isinstance(points, gpd.GeoDataFrame) or weights not in points.columns:
                raise InputError(f"`weights` names column {weights!r}, which `points` does not have.")
            values = pd.to_numeric(points[weights], errors="coerce").to_numpy(dtype=float)
        else:
            values = np.asarray(weights, dtype=float)
            if values.shape != (len(points),):
                raise InputError(f"`weights` has shape {values.shape} but `points` has "
                                 f"{len(points)} rows; pass one value per point.")
        if np.isnan(values[present.to_numpy()]).any():
            raise InputError("`weights` has missing or non-numeric values; fill them (e.g. "
                             "`.fillna(0)`) or drop those points.")
    cells = _grid_frame(grid)
    geoms = geoms.to_crs(cells.crs)
    pt_idx, cell_idx = cells.sindex.query(geoms.values, predicate="intersects")
    order = np.lexsort((cell_idx, pt_idx))
    pt_idx, cell_idx = pt_idx[order], cell_idx[order]
    first = np.ones(len(pt_idx), dtype=bool)
    first[1:] = pt_idx[1:] != pt_idx[:-1]
    pt_idx, cell_idx = pt_idx[first], cell_idx[first]
    out = cells.copy()
    out["count"] = np.bincount(cell_idx, minlength=len(cells)).astype(np.int64)
    if values is not None:
        out["weight"] = np.bincount(cell_idx, weights=values[pt_idx], minlength=len(cells))
    out.attrs["points_outside"] = int(len(geoms) - len(pt_idx))
    return out


def _grid_frame(grid) -> gpd.GeoDataFrame:
    return grid if isinstance(grid, gpd.GeoDataFrame) else gpd.GeoDataFrame(geometry=grid)
