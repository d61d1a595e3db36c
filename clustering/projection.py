"""Metric projections: every distance, area and density is computed in metres."""
from __future__ import annotations

import geopandas as gpd
from pyproj import CRS

from geo.errors import InputError

WGS84 = "EPSG:4326"


def metric_crs_for(gdf: gpd.GeoDataFrame) -> CRS:
    """The WGS 84 / UTM zone at the centre of the data's extent (EPSG:32648 for HCMC and Hà Nội).

    A projected CRS in metres is kept as it is.
    """
    if gdf.crs is None:
        raise InputError("`gdf` has no CRS; call `.set_crs(...)` first.")
    if gdf.crs.is_projected and gdf.crs.axis_info[0].unit_name == "metre":
        return gdf.crs
    minx, miny, maxx, maxy = gdf.to_crs(WGS84).total_bounds
    zone = int(((minx + maxx) / 2 + 180) // 6) + 1
    return CRS.from_epsg((32600 if (miny + maxy) / 2 >= 0 else 32700) + zone)


def to_metric(gdf: gpd.GeoDataFrame, crs=None) -> gpd.GeoDataFrame:
    """``gdf`` projected to ``crs`` or to the UTM zone of its extent."""
    return gdf.to_crs(crs or metric_crs_for(gdf))
