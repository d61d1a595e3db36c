"""The map pages' tables and downloads in a real Chromium: sorting by a column, and the DBSCAN
spots' GeoJSON downloaded from the hot-spots page."""
from __future__ import annotations

import json
import re

import pytest

from tests.browser import screenshot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.reads_demo]
Q = "boundary=hcmc-2025&period=2025"


def column(page, i):
    """The machine values (data-sort) of column ``i`` of the result table, top to bottom, as numbers
    (an empty one, a missing figure, as the smallest)."""
    return [number(v) for v in page.eval_on_selector_all(f"#result-table tbody tr td:nth-child({i + 1})",
                                                         "cells => cells.map(c => c.dataset.sort)")]


def number(v):
    return float("-inf") if v in ("", None) else float(v)


def test_compare_table_sorts_by_a_column_both_ways(page, demo_server, demo_client):
    api = [f["properties"] for f in demo_client.get(
        "/api/v1/compare?boundary=hcmc-2025&start=2025-01-01&end=2025-12-31").get_json()["features"]]
    sign_in(page, demo_server, "viewer")
    page.goto(f"{demo_server}/map/compare?{Q}")
    page.wait_for_selector("#result-table[data-sortable=ready]")
    header = page.locator("#result-table thead th").nth(3)          # the base period's count
    assert header.get_attribute("tabindex") == "0"                  # reachable from the keyboard
    header.click()
    assert header.get_attribute("aria-sort") == "ascending"
    up = column(page, 3)
    # a viewer sees counts of 1 to 4 as "dưới 5" (MIN_PUBLISHED_COUNT): they sort as the smallest
    assert up == sorted(float("-inf") if 0 < p["base_count"] < 5 else p["base_count"] for p in api)
    assert page.locator("#result-table tbody tr").first.locator("td").nth(3).inner_text() == "dưới 5"
    header.focus()
    page.keyboard.press("Enter")
    assert header.get_attribute("aria-sort") == "descending"
    assert column(page, 3) == sorted(up, reverse=True)
    # "1.234,5" texts sort as numbers: the change in % (one decimal, comma) against the API's values
    pct = page.locator("#result-table thead th").nth(5)
    pct.click()
    pct.click()
    assert header.get_attribute("aria-sort") is None and pct.get_attribute("aria-sort") == "descending"
    values = column(page, 5)
    assert values == sorted(values, reverse=True)
    assert values[0] == pytest.approx(max(p["change_pct"] for p in api  # published figures only
                                          if p["change_pct"] is not None and min(p["count"], p["base_count"]) >= 5))
    texts = page.eval_on_selector_all("#result-table tbody tr td:nth-child(6)", "cs => cs.map(c => c.textContent)")
    shown = [(t, v) for t, v in zip(texts, values) if re.fullmatch(r"-?[\d.]+,\d", t)]   # "dưới 5" aside
    assert len(shown) > 100
    assert [float(t.replace(".", "").replace(",", ".")) for t, _v in shown] == pytest.approx(
        [v for _t, v in shown], abs=0.0501)  # half-way values round to even ("-11,2" for -11.25)
    screenshot(page, "compare_sorted")
    assert page.console_errors == [] and page.foreign_requests == []


def test_hotspots_spots_download_as_geojson_with_metadata(page, demo_server, demo_client):
    spots = demo_client.get("/api/v1/dbscan?boundary=hcmc-2025&start=2025-01-01&end=2025-12-31").get_json()
    sign_in(page, demo_server, "viewer")
    page.goto(f"{demo_server}/map/hotspots?{Q}")
    # computed in the background: the page reloads itself until the map is there
    page.wait_for_selector("#downloads a[data-layer=spots]", timeout=240_000)
    link = page.locator("#downloads a[data-layer=spots]")
    assert link.inner_text() == "Các cụm điểm (GeoJSON, mở bằng QGIS)"
    with page.expect_download() as info:
        link.click()
    body = json.loads(open(info.value.path(), encoding="utf-8").read())
    assert info.value.suggested_filename.endswith("_spots.geojson")
    assert len(body["features"]) == len(spots["features"])
    meta = body["metadata"]
    assert meta["layer"] == "spots" and meta["boundary"]["name"] == "hcmc-2025"
    assert meta["period"]["start"] == "2025-01-01" and meta["period"]["end"] == "2025-12-31"
    assert meta["parameters"]["eps_m"]["value"] == 100.0 and 5 <= meta["parameters"]["min_samples"]["value"] <= 100
    assert page.console_errors == [] and page.foreign_requests == []
