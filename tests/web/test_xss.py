"""Hostile text in a boundary file and in incident rows shows as text; no script runs."""
from __future__ import annotations

import json

import pytest

from geo.ingest import boundaries as gb
from geo.ingest.importer import import_file
from tests.browser import screenshot, sign_in
from tests.conftest import NOW

pytestmark = pytest.mark.browser
PAYLOAD = '<img src=x onerror="alert(1)"><script>alert(2)</script>'


def test_payloads_in_names_and_rows_are_shown_as_text(page, live_server, engine, tmp_path):
    feats = [{"type": "Feature", "properties": {"code": f"X{i}", "name": f"{PAYLOAD} {i}"},
              "geometry": {"type": "Polygon", "coordinates": [[[106.69 + d, 10.77], [106.70 + d, 10.77],
                                                              [106.70 + d, 10.78], [106.69 + d, 10.78],
                                                              [106.69 + d, 10.77]]]}}
             for i, d in enumerate((0.0, 0.01))]
    layer = tmp_path / "evil.geojson"
    layer.write_text(json.dumps({"type": "FeatureCollection", "features": feats}), encoding="utf-8")
    gb.save_version(engine, gb.read_layer(layer), "evil", title=PAYLOAD, attribution=PAYLOAD,
                    valid_from="2020-01-01")
    rows = tmp_path / "evil.csv"
    rows.write_text("Mã vụ,Ngày xảy ra,Loại tội phạm,Kinh độ,Vĩ độ,Địa chỉ,Mô tả\n"
                    + "".join(f'E{i},15/03/2024,"{PAYLOAD.replace(chr(34), chr(39))}",106.695,10.775,'
                              f'"{PAYLOAD.replace(chr(34), chr(39))}","{PAYLOAD.replace(chr(34), chr(39))}"\n'
                              for i in range(3)), encoding="utf-8")
    assert import_file(engine, rows, source=PAYLOAD, now=NOW).accepted == 3
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    sign_in(page, live_server, "admin")
    page.goto(live_server + "/")
    assert PAYLOAD in page.locator("#versions").inner_text()  # the title, as text
    page.goto(live_server + "/map/overview?boundary=evil&period=2024")
    page.wait_for_selector(".leaflet-overlay-pane path.leaflet-interactive")
    page.locator(".leaflet-overlay-pane path.leaflet-interactive").first.hover()
    tip = page.locator(".leaflet-tooltip").first
    tip.wait_for()
    assert PAYLOAD in tip.inner_text()
    page.goto(live_server + "/admin/import")
    assert PAYLOAD in page.locator("table").last.inner_text()  # the source name, as text
    page.goto(live_server + "/admin/audit")
    screenshot(page, "xss_audit")
    assert dialogs == [] and page.console_errors == []
