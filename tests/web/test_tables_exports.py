"""The map pages' tables and downloads on the demo store: the order a report reads, every row in
every format, the same numbers in the CSV for programs, the CSV for Vietnamese Excel and the XLSX,
and one GeoJSON per layer carrying what the layer is (period, boundary, categories, parameters)."""
from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import time
from html.parser import HTMLParser

import geopandas as gpd
import openpyxl
import pandas as pd
import pytest

from geo import methods

pytestmark = pytest.mark.reads_demo  # see tests/conftest.py demo_app

Q = "boundary=hcmc-2025&period=2025"
API = "boundary=hcmc-2025&start=2025-01-01&end=2025-12-31"
WARDS = 168


class Rows(HTMLParser):
    """The cells (text, data-sort) of the rows of ``<table id=…>``."""

    def __init__(self, table_id):
        super().__init__()
        self.id, self.inside, self.rows, self.cell = table_id, False, [], None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self.inside = a.get("id") == self.id
        elif self.inside and tag == "tr":
            self.rows.append([])
        elif self.inside and tag == "td":
            self.cell = ["", a.get("data-sort")]

    def handle_data(self, data):
        if self.cell is not None:
            self.cell[0] += data

    def handle_endtag(self, tag):
        if tag == "td" and self.cell is not None:
            self.rows[-1].append(tuple(self.cell))
            self.cell = None
        elif tag == "table":
            self.inside = False


def page_rows(client, url, table_id="result-table"):
    download(client, url)  # once a background job (hot spots, trends, forecast) has computed the page
    resp = client.get(url)
    assert resp.status_code == 200, resp.get_data(as_text=True)[:500]
    parser = Rows(table_id)
    parser.feed(resp.get_data(as_text=True))
    return [r for r in parser.rows if r], resp.get_data(as_text=True)


def download(client, url):
    """The download, once a background job (hot spots, forecast) has computed the page."""
    for _ in range(600):
        resp = client.get(url)
        if resp.status_code != 202:
            assert resp.status_code == 200, resp.get_data(as_text=True)[:500]
            return resp.data
        time.sleep(0.5)
    raise AssertionError(f"{url} still computing")


def xlsx_table(body, header_first):
    """The header block (label -> value) and the table under the header row starting ``header_first``."""
    ws = openpyxl.load_workbook(io.BytesIO(body)).worksheets[0]
    values = list(ws.iter_rows(values_only=True))
    at = next(i for i, r in enumerate(values) if r[0] == header_first)
    block = {r[0]: r[1] for r in values[1:at] if r[0]}
    return block, pd.DataFrame(values[at + 1:], columns=values[at]), ws


def pdf_text(body, tmp_path):
    path = tmp_path / "report.pdf"
    path.write_bytes(body)
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True,
                          text=True).stdout


@pytest.fixture
def compare_truth(demo_client):
    """The compare API's wards in the order a report reads, computed here with pandas."""
    api = pd.DataFrame([f["properties"] for f in demo_client.get(f"/api/v1/compare?{API}").get_json()["features"]])
    rank = {"significant_increase": 0, "significant_decrease": 1, "no_significant_change": 2}
    api = api.assign(r=api["change_class"].map(rank), size=-api["change"].abs()) \
        .sort_values(["r", "size", "code"]).reset_index(drop=True)
    assert len(api) == WARDS and (api["change_class"] == "significant_increase").sum() >= 3
    return api


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils (pdftotext) is not installed")
def test_compare_leads_with_the_significant_increases_in_every_format(demo_client, compare_truth, tmp_path):
    truth = compare_truth
    increases = truth[truth["change_class"] == "significant_increase"]
    assert increases["change"].is_monotonic_decreasing
    significant = truth[truth["change_class"] != "no_significant_change"]

    rows, _html = page_rows(demo_client, f"/map/compare?{Q}")
    assert [r[0][0] for r in rows] == truth["code"].tolist()         # all 168, in the report's order
    assert rows[0][5][1] == repr(float(increases.iloc[0]["change_pct"]))   # machine value for sorting

    machine = pd.read_csv(io.BytesIO(download(demo_client, f"/export/compare.csv?{Q}")),
                          encoding="utf-8-sig", dtype={"Mã": str})
    assert len(machine) == WARDS and machine["Mã"].tolist() == truth["code"].tolist()

    excel = pd.read_csv(io.BytesIO(download(demo_client, f"/export/compare.excel.csv?{Q}")), sep=";",
                        decimal=",", encoding="utf-8-sig", dtype={"Mã": str})
    assert len(excel) == WARDS and excel["Mã"].tolist() == truth["code"].tolist()
    for col in ("Kỳ này", "Tăng, giảm", "Tăng, giảm (%)", "p", "q"):
        assert pd.api.types.is_float_dtype(excel[col]) or pd.api.types.is_integer_dtype(excel[col])
        assert excel[col].tolist() == pytest.approx(machine[col].tolist(), nan_ok=True)

    block, sheet, ws = xlsx_table(download(demo_client, f"/export/compare.xlsx?{Q}"), "Mã")
    assert sheet["Mã"].tolist() == truth["code"].tolist()
    assert sheet["p"].tolist() == pytest.approx(machine["p"].tolist(), nan_ok=True)
    assert sheet["Tăng, giảm (%)"].tolist() == pytest.approx(machine["Tăng, giảm (%)"].tolist(), nan_ok=True)
    assert all(isinstance(v, (int, float)) for v in sheet["p"])            # numbers, not text
    assert block["Thời gian"] == "Năm 2025 (01/01/2025 – 31/12/2025)"
    assert block["Cùng kỳ"].startswith("Năm 2024")
    assert block["Phiên bản ranh giới"] != "hcmc-2025" and "Tất cả loại tội phạm" in block["Bộ lọc"]
    assert re.fullmatch(r"\d\d/\d\d/\d{4}", block["Ngày lập"])
    p_col = 1 + list(sheet.columns).index("p")
    first_data = next(r for r in range(1, ws.max_row + 1) if ws.cell(r, 1).value == "Mã") + 1
    assert ws.cell(first_data, p_col).number_format == "#,##0.0000"

    text = pdf_text(download(demo_client, f"/export/compare.pdf?{Q}"), tmp_path)
    at = [re.search(rf"^\s*{code}\s", text, re.M) for code in truth["code"]]
    assert all(at), "every ward is in the PDF"
    starts = [m.start() for m in at]
    assert starts == sorted(starts)                                  # in the page's order
    for code in significant["code"]:
        assert re.search(rf"^\s*{code}\s", text, re.M)
    assert "dòng khác" not in text and "hcmc-2025" not in text.split("\n", 5)[2]
    assert re.search(r"Trang 1/\d+", text)


def test_table_columns_keep_one_number_of_decimals(demo_client, compare_truth):
    rows, html = page_rows(demo_client, f"/map/compare?{Q}")
    pct = [r[5][0] for r in rows if r[5][0]]
    assert all(re.fullmatch(r"-?[\d.]+,\d", v) for v in pct), pct[:5]          # "-10,0" beside "-9,7"
    p = [r[6][0] for r in rows]
    assert all(re.fullmatch(r"\d,\d{4}", v) for v in p)
    assert all(re.fullmatch(r"-?[\d.]+", r[4][0]) for r in rows)              # counts: no decimals
    labels = {r[8][0] for r in rows}
    assert labels <= {"Tăng rõ rệt", "Giảm rõ rệt", "Không thay đổi rõ rệt"}
    assert 'class="data sortable"' in html and 'abbr class="glossary"' in html


def test_trends_lead_with_hot_patterns_and_hotspots_by_count(demo_client):
    truth = pd.DataFrame([f["properties"] for f in demo_client.get(
        f"/api/v1/emerging?{API}").get_json()["features"]])
    rows, html = page_rows(demo_client, f"/map/trends?{Q}")
    assert len(rows) == WARDS
    by_code = truth.set_index("code")
    patterns = [by_code.loc[r[0][0], "trend"] for r in rows]
    hot = [i for i, p in enumerate(patterns) if p.endswith("_hot")]
    cold = [i for i, p in enumerate(patterns) if p.endswith("_cold")]
    assert hot and hot == list(range(len(hot)))                     # hot patterns first
    assert all(i > hot[-1] for i in cold)
    assert "Xu hướng (z)" in html and "Mann-Kendall" not in html

    spots = [f["properties"] for f in demo_client.get(f"/api/v1/dbscan?{API}").get_json()["features"]]
    rows, html = page_rows(demo_client, f"/map/hotspots?{Q}")
    counts = [int(r[2][1].split(".")[0]) for r in rows]
    assert len(rows) == len(spots) and counts == sorted((s["count"] for s in spots), reverse=True)
    assert "Vụ đầu tiên" in html and "Vụ gần nhất" in html
    assert all(re.fullmatch(r"\d\d/\d\d/\d{4}", r[5][0]) for r in rows)
    assert not any(re.search(r"\b\d{5}\b", r[3][0]) for r in rows)           # ward names, not codes
    assert not any("_" in r[4][0] for r in rows)                             # category labels, not codes


@pytest.mark.parametrize("page, layers", [
    ("overview", {"wards": WARDS}), ("hotspots", {"gistar": WARDS, "spots": "dbscan", "contours": "kde"}),
    ("compare", {"wards": WARDS}), ("trends", {"wards": WARDS}), ("complex", {"areas": WARDS}),
    ("forecast", {"wards": WARDS, "cells": 3})])
def test_each_layer_downloads_as_geojson_with_its_metadata(demo_client, page, layers):
    html = download(demo_client, f"/map/{page}?{Q}").decode("utf-8")    # once computed
    assert re.findall(r'data-layer="(\w+)"', html) == list(layers)
    for layer, count in layers.items():
        body = download(demo_client, f"/export/{page}.geojson?{Q}&layer={layer}")
        gdf = gpd.read_file(io.BytesIO(body))
        if count == "dbscan":
            count = len(demo_client.get(f"/api/v1/dbscan?{API}").get_json()["features"])
        elif count == "kde":
            count = len(demo_client.get(f"/api/v1/kde?{API}").get_json()["features"])
        assert len(gdf) == count, layer
        assert gdf.crs.to_epsg() == 4326
        meta = json.loads(body)["metadata"]
        assert meta["layer"] == layer and meta["crs"] == "EPSG:4326"
        assert meta["period"] == {"label": "Năm 2025 (01/01/2025 – 31/12/2025)", "start": "2025-01-01",
                                  "end": "2025-12-31"}
        assert meta["boundary"]["name"] == "hcmc-2025" and meta["boundary"]["title"]
        assert meta["categories"] == {"codes": [], "labels": ["Tất cả loại tội phạm"]}
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+07:00", meta["generated_at"])
        expected = {p.keyword or p.name for p in methods.of_page(page)}
        assert expected <= set(meta["parameters"])
        if page == "hotspots":
            # the automatic values used (geo.render.layers: the page says them too)
            assert meta["parameters"]["eps_m"] == {"value": 100.0, "unit": "m", "label": "Bán kính DBSCAN (m)"}
            assert 5 <= meta["parameters"]["min_samples"]["value"] <= 100
            assert meta["parameters"]["bandwidth_m"]["value"] > 0 and meta["parameters"]["cell_m"]["unit"] == "m"
        if page == "compare":
            assert meta["base_period"]["start"] == "2024-01-01" and meta["base_period"]["end"] == "2024-12-31"
        if layer == "spots":
            assert {"count", "categories", "wards", "first_date", "last_date"} <= set(gdf.columns)
            assert not gdf["wards"].str.contains(r"\b\d{5}\b").any()
    if page == "forecast":  # the wards in the CSV, the backtest as the XLSX's second sheet
        book = openpyxl.load_workbook(io.BytesIO(download(demo_client, f"/export/forecast.xlsx?{Q}")))
        assert len(book.worksheets) == 2
        csv = pd.read_csv(io.BytesIO(download(demo_client, f"/export/forecast.csv?{Q}")), encoding="utf-8-sig")
        # every unit (Côn Đảo too), in rank order, each expected count inside its 80 % range
        assert csv["#"].tolist() == list(range(1, WARDS + 1)) and csv["Mã"].nunique() == WARDS
        assert (csv["Khoảng 80%: từ"] <= csv["Số vụ dự kiến"]).all()
        big = csv[csv["Số vụ dự kiến"] >= 1]
        assert (big["Số vụ dự kiến"] <= big["Khoảng 80%: đến"]).all()
        assert ("Phương pháp", "Phần diện tích được đánh dấu", "Tỷ lệ số vụ bắt được (%)") in \
            [r[:3] for r in book.worksheets[1].iter_rows(values_only=True)]


def test_unknown_layer_is_refused_with_the_layers_named(demo_client):
    resp = demo_client.get(f"/export/compare.geojson?{Q}&layer=spots")
    assert resp.status_code == 400
    assert "wards" in resp.get_data(as_text=True)
