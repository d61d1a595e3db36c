"""The hot-spots page's spots on the demo store: compact by default (each within SPOT_MAX_SPAN_M and
a few wards), named from their main street and ward in the reader's language, the parameters used
said on the page, the same columns in the downloads."""
from __future__ import annotations

import io
import re

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import MultiPoint

from clustering.projection import metric_crs_for

pytestmark = pytest.mark.reads_demo  # see tests/conftest.py demo_app

Q = "boundary=hcmc-2025&period=2025"
API = "boundary=hcmc-2025&start=2025-01-01&end=2025-12-31"
MAX_WARDS = 6


def _spots(client, lang="vi"):
    body = client.get(f"/export/hotspots.geojson?{Q}&layer=spots&lang={lang}").get_data()
    return gpd.read_file(io.BytesIO(body))


def test_default_spots_are_compact_and_named_by_street_and_ward(demo_client):
    html = demo_client.get(f"/map/hotspots?{Q}").get_data(as_text=True)
    spots = _spots(demo_client)
    assert 5 <= len(spots) <= 200
    # spans measured independently: the polygons' extent in the metric CRS bounds each spot's span
    crs = metric_crs_for(spots)
    outline = spots.to_crs(crs)
    for row, geom in zip(spots.itertuples(), outline.geometry):
        hull = np.asarray(MultiPoint(list(geom.exterior.coords) if geom.geom_type == "Polygon" else
                                     [c for g in geom.geoms for c in g.exterior.coords]).convex_hull.exterior.coords)
        diameter = np.sqrt(((hull[:, None] - hull[None]) ** 2).sum(-1)).max()
        assert row.span_m <= 1500 and row.span_m <= diameter          # incidents lie inside the outline
        assert len(str(row.wards).split(", ")) <= MAX_WARDS
        assert re.fullmatch(r"Khu vực đường .+, Phường .+|Khu vực đường .+|Khu vực Phường .+", row.name), row.name
    assert spots["name"].str.startswith("Khu vực đường Số ").mean() > 0.8   # the demo's streets: "đường Số k"
    assert "Điểm nóng theo vụ việc: ít nhất" in html and "trong bán kính 100 m" in html


def test_english_page_names_spots_in_english_and_downloads_hold_the_table_columns(demo_client):
    en = _spots(demo_client, "en")
    vi = _spots(demo_client, "vi")
    assert (en["name"].str.startswith("Area of ")).all()
    # street and ward stay as written; only the frame is translated
    for e, v in zip(en["name"], vi["name"]):
        m = re.fullmatch(r"Khu vực đường (.+), (.+)", v)
        if m:
            assert e == f"Area of {m[1]} street, {m[2]}"
    assert {"name", "count", "wards", "categories", "first_date", "last_date", "span_m", "per_km2"} <= set(vi.columns)
    csv = pd.read_csv(io.BytesIO(demo_client.get(f"/export/hotspots.csv?{Q}").get_data()))
    assert len(csv) == len(vi) and csv.shape[1] == 9
    api = [f["properties"] for f in demo_client.get(f"/api/v1/dbscan?{API}").get_json()["features"]]
    assert sorted(s["count"] for s in api) == sorted(vi["count"])
    assert all(s["span_m"] <= 1500 and s["street"] for s in api)   # the API: street and ward code, no words
    assert not any("Khu vực" in str(v) for s in api for v in s.values())


def test_complex_area_spots_are_named_when_shown(demo_client):
    vi = [f["properties"] for f in demo_client.get(f"/api/v1/complex-areas?{API}&unit=spot").get_json()["features"]]
    en = [f["properties"] for f in demo_client.get(f"/api/v1/complex-areas?{API}&unit=spot&lang=en")
          .get_json()["features"]]
    assert vi and all(re.fullmatch(r"Khu vực đường Số \d+, Phường .+", p["name"]) for p in vi)
    by_code = {p["code"]: p for p in en}
    for p in vi:
        assert by_code[p["code"]]["name"] == f"Area of {p['street']} street, {p['ward_name']}"
