"""Metric projections: every distance, area and density is computed in metres."""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely
from pyproj import CRS

from .errors import InputError

WGS84 = "EPSG:4326"


def metric_crs_for(gdf: gpd.GeoDataFrame | gpd.GeoSeries) -> CRS:
    """The projected CRS in metres every distance, area and tolerance is measured in.

    The one rule of the service: the WGS 84 / UTM zone at the centre of the data's extent
    (EPSG:32648, zone 48N, for Hồ Chí Minh City, Hà Nội and Huế; EPSG:32649 east of 108°E,
    e.g. Đà Nẵng). A frame already in a projected CRS in metres is kept as it is.
    """
    if gdf.crs is None:
        raise InputError("`gdf` has no CRS; call `.set_crs(...)` first.")
    if gdf.crs.is_projected and gdf.crs.axis_info[0].unit_name == "metre":
        return gdf.crs
    minx, miny, maxx, maxy = gdf.to_crs(WGS84).total_bounds
    if not np.isfinite([minx, miny, maxx, maxy]).all():
        raise InputError("No geometry to measure: the layer is empty.")
    zone = int(((minx + maxx) / 2 + 180) // 6) % 60 + 1
    return CRS.from_epsg((32600 if (miny + maxy) / 2 >= 0 else 32700) + zone)


def to_metric(gdf: gpd.GeoDataFrame, crs=None) -> gpd.GeoDataFrame:
    """``gdf`` projected to ``crs`` or to the UTM zone of its extent."""
    return gdf.to_crs(crs or metric_crs_for(gdf))


def rows_text(index, mask, limit: int = 10) -> str:
    """The first row labels where ``mask`` holds, for error messages: "4, 9, 12, ..."."""
    labels = [str(v) for v in np.asarray(index)[mask][:limit]]
    return ", ".join(labels) + (", ..." if mask.sum() > limit else "")


def metric_points(points: gpd.GeoDataFrame) -> tuple[np.ndarray, CRS]:
    """Incident points as an (n, 2) array of metres in their UTM zone (NaN rows where a point
    has no geometry), with that CRS. Raises :class:`InputError` for a frame without CRS or
    with other geometries than points."""
    if not isinstance(points, gpd.GeoDataFrame):
        raise InputError(f"`points` must be a GeoDataFrame of incidents, got {type(points).__name__}.")
    if points.crs is None:
        raise InputError("`points` has no CRS; call `.set_crs(...)` (EPSG:4326 for longitude, "
                         "latitude) first.")
    geom = points.geometry
    missing = (geom.isna() | geom.is_empty).to_numpy()
    types = geom.geom_type.to_numpy()
    wrong = ~missing & (types != "Point")
    if wrong.any():
        raise InputError(f"`points` must hold Point geometries; {wrong.sum()} rows hold "
                         f"{sorted(set(types[wrong]))} (rows {rows_text(points.index, wrong)}).")
    metric = to_metric(points)
    xy = np.full((len(points), 2), np.nan)
    g = metric.geometry.to_numpy()
    xy[~missing, 0] = shapely.get_x(g[~missing])
    xy[~missing, 1] = shapely.get_y(g[~missing])
    return xy, CRS.from_user_input(metric.crs)
