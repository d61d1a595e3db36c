"""The one metric-CRS rule: the UTM zone at the centre of the data (pyproj's zones as reference)."""
from __future__ import annotations

import geopandas as gpd
import pytest
import shapely
from pyproj import CRS
from pyproj.aoi import AreaOfInterest
from pyproj.database import query_utm_crs_info

from clustering.errors import InputError
from clustering.projection import metric_crs_for

PLACES = [  # (place, lon, lat, EPSG code worked by hand: 32600 + floor((lon + 180) / 6) + 1)
    ("Hồ Chí Minh City", 106.70, 10.78, 32648),
    ("Hà Nội", 105.85, 21.03, 32648),
    ("Huế", 107.59, 16.46, 32648),
    ("Đà Nẵng", 108.22, 16.05, 32649),
    ("Hoàng Sa", 111.60, 16.50, 32649),
    ("Jakarta", 106.85, -6.21, 32748),
]


@pytest.mark.parametrize("place, lon, lat, epsg", PLACES)
def test_zone_of_a_point_set(place, lon, lat, epsg):
    pts = gpd.GeoSeries(shapely.points([(lon - 0.05, lat - 0.05), (lon + 0.05, lat + 0.05)]), crs=4326)
    assert metric_crs_for(pts).to_epsg() == epsg, place
    # pyproj's database agrees: the zone holding the point is among the UTM zones it lists there
    listed = {int(i.code) for i in query_utm_crs_info("WGS 84", AreaOfInterest(lon, lat, lon, lat))}
    assert epsg in listed


def test_a_frame_in_metres_keeps_its_crs_and_an_empty_one_is_refused():
    metric = gpd.GeoSeries([shapely.box(0, 0, 10, 10)], crs=32649)
    assert metric_crs_for(metric) == CRS.from_epsg(32649)
    with pytest.raises(InputError, match="empty"):
        metric_crs_for(gpd.GeoSeries([], crs=4326))
    with pytest.raises(InputError, match="no CRS"):
        metric_crs_for(gpd.GeoSeries([shapely.Point(106, 10)]))
