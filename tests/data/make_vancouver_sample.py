"""Samples of the Vancouver police file (/work/shared/data/vancouver, see its README) for the
category tests: python tests/data/make_vancouver_sample.py YEAR N SEED OUT.csv writes one."""
from __future__ import annotations

import sys

import geopandas as gpd
import pandas as pd
from pyproj import Transformer

from tests.conftest import ROOT

VANCOUVER = ROOT.parent / "shared" / "data" / "vancouver"
VPD = str(VANCOUVER / "vancouver_vpd" / "crimedata_csv_AllNeighbourhoods_{}.csv")
AREAS = str(VANCOUVER / "boundaries" / "vancouver_local_area_boundary.geojson")


def vancouver_sample(year: int, n: int, seed: int) -> pd.DataFrame:
    """``n`` rows of a VPD year with usable coordinates: id, a date-and-time column, the label and
    lon/lat converted from UTM 10N (EPSG:26910)."""
    df = pd.read_csv(VPD.format(year))
    df = df[(df["X"] > 0) & df["Y"].notna()].sample(n, random_state=seed).reset_index(drop=True)
    lon, lat = Transformer.from_crs("EPSG:26910", "EPSG:4326", always_xy=True).transform(df["X"], df["Y"])
    when = pd.to_datetime(dict(year=df.YEAR, month=df.MONTH, day=df.DAY, hour=df.HOUR, minute=df.MINUTE))
    return pd.DataFrame({"id": [f"vpd-{year}-{i}" for i in range(n)], "date": when.dt.strftime("%Y-%m-%d %H:%M"),
                         "type": df["TYPE"], "lon": lon, "lat": lat})


def points_in_areas(sample: pd.DataFrame) -> pd.DataFrame:
    """The sample's points with the code of the local area they lie in (geopandas, independently of the store)."""
    pts = gpd.GeoDataFrame(sample, geometry=gpd.points_from_xy(sample["lon"], sample["lat"]), crs="EPSG:4326")
    areas = gpd.read_file(AREAS)[["mapid", "geometry"]]
    return gpd.sjoin(pts, areas, predicate="within", how="inner")


if __name__ == "__main__":
    year, n, seed, out = sys.argv[1:5]
    vancouver_sample(int(year), int(n), int(seed)).to_csv(out, index=False)
