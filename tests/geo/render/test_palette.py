"""The map on screen, its PNG and its PDF share one palette and one classification."""
from __future__ import annotations

import io
import json
import re
import shutil
import subprocess

import geopandas as gpd
import numpy as np
import pytest
import shapely
from matplotlib.colors import to_hex, to_rgba
from matplotlib.image import imread

from geo import format
from geo.render import exports, maps, palette

Q = "boundary=hcmc-2025&period=custom&start=2025-01-01&end=2025-12-31"


def static_url(path: str) -> str:
    return "/static/" + path


def _screen_legend(html: str) -> list[tuple[float | None, float | None, str, str]]:
    """``(lower, upper, colour, label)`` of each row of a legend drawn by :mod:`geo.render.maps`."""
    rows = re.findall(r'<li([^>]*)><span class="hs-swatch" style="background:(#[0-9a-f]{6})"></span>'
                      r'<span class="hs-legend-label">([^<]*)</span>', html)
    out = []
    for attrs, colour, label in rows:
        lo, hi = re.search(r'data-lower="([^"]+)"', attrs), re.search(r'data-upper="([^"]+)"', attrs)
        out.append((float(lo[1]) if lo else None, float(hi[1]) if hi else None, colour, label))
    return out


def _printed_legend(fig) -> list[tuple[str, str]]:
    """``(colour, label)`` of each row of the legend of an exported map."""
    legend = fig.axes[0].get_legend()
    return [(to_hex(p.get_facecolor()), t.get_text()) for p, t in zip(legend.legend_handles, legend.get_texts())]


@pytest.mark.filterwarnings("ignore:Numba not installed")
def test_overview_legend_on_screen_equals_the_png_and_pdf_legend(demo_client):
    js = demo_client.get(f"/maps/overview.js?{Q}").get_data(as_text=True)
    screen = _screen_legend(json.loads(re.search(r'div\.innerHTML = ("(?:[^"\\]|\\.)*");', js)[1]))
    # the layer the export view draws (its GeoJSON download is that layer), classed and coloured by
    # the functions the PNG/PDF export calls, with the export's defaults
    res = demo_client.get(f"/export/overview.geojson?{Q}")
    assert res.status_code == 200
    layer = gpd.read_file(io.BytesIO(res.data))
    classes, zeros = exports.choropleth_classes(layer["count"])
    printed = _printed_legend(exports.map_figure(layer, "count", title="Số vụ", legend_title="Số vụ", lang="vi"))

    assert zeros.any() and screen[0][:3] == (0.0, 0.0, palette.ZERO_COLOUR)   # wards without incidents: white
    classed = screen[1:]
    assert [hi for _lo, hi, _c, _l in classed] == list(classes.bins)
    assert classed[0][0] == classes.lowest > 0                    # "2 – 89" on both, not "0 – 89" on paper
    assert [c for *_x, c, _l in screen] == [c for c, _l in printed]
    assert [lab for *_x, lab in screen] == [lab for _c, lab in printed]
    assert [c for c, _l in printed[1:]] == palette.ramp("YlOrRd", classes.k)
    png = demo_client.get(f"/export/overview.png?{Q}")
    assert png.status_code == 200 and png.data.startswith(b"\x89PNG")


@pytest.mark.filterwarnings("ignore:Numba not installed")
def test_many_values_get_the_same_natural_breaks_on_screen_and_on_paper():
    """More values than the natural-breaks sample: both sides sample the same order statistics."""
    n = 1500
    rng = np.random.default_rng(7)
    values = (rng.gamma(0.8, 40.0, n)).round()                   # counts with many zeros
    assert (values == 0).sum() > 10 and n > palette.NATURAL_BREAKS_SAMPLE
    cells = [shapely.box(i % 50, i // 50, i % 50 + 1, i // 50 + 1) for i in range(n)]
    gdf = gpd.GeoDataFrame({"v": values}, geometry=cells, crs=32648)
    m = maps.base_map(gdf.to_crs(4326).total_bounds, static_url=static_url)
    on_screen = maps.choropleth(m, gdf, "v", legend=False)
    classes, zeros = exports.choropleth_classes(gdf["v"])
    assert list(on_screen["bins"]) == list(classes.bins)
    assert on_screen["counts"] == list(classes.counts) and zeros.sum() == (values == 0).sum()
    printed = _printed_legend(exports.map_figure(gdf, "v", title="x", insets=False))
    screen = _screen_legend(on_screen["legend_html"])
    assert [c for *_x, c, _l in screen] == [c for c, _l in printed]
    assert [hi for _lo, hi, _c, _l in screen[1:]] == list(classes.bins)


def test_gi_star_colours_on_screen_equal_the_pdf_for_every_class():
    page = {code: colour for code, _label, colour in palette.classes("gi")}
    printed = exports.gistar_categories("vi")
    assert list(printed) == list(page) == list(palette.GI_COLOURS)
    for code, colour in page.items():
        assert printed[code][1] == colour == palette.GI_COLOURS[code], code
    assert printed["cold_90"][1] == "#b5c6df" and printed["not_significant"][1] == "#f7f7f7"
    # the screen legend of the hot spot page and the printed legend draw those colours in that order
    g = gpd.GeoDataFrame({"gi": list(page)}, geometry=[shapely.box(i, 0, i + 1, 1) for i in range(len(page))],
                         crs=32648)
    m = maps.base_map(g.to_crs(4326).total_bounds, static_url=static_url)
    screen = maps.categorical(m, g, "gi", maps.category_list("gi", lang="vi"))
    fig = exports.map_figure(g, "gi", title="Gi*", categorical=printed, insets=False)
    assert [c for *_x, c, _l in _screen_legend(screen["legend_html"])] == [c for c, _l in _printed_legend(fig)]
    assert [lab for *_x, lab in _screen_legend(screen["legend_html"])] == [lab for _c, lab in _printed_legend(fig)]
    assert [to_rgba(c) for c, _l in _printed_legend(fig)] == [to_rgba(c) for c in page.values()]


def test_change_and_pattern_colours_come_from_one_table():
    assert {c: col for c, _l, col in palette.classes("change")} == palette.CHANGE_COLOURS == maps.CHANGE_COLOURS
    assert {c: col for c, _l, col in palette.classes("emerging")} == palette.EMERGING_COLOURS
    assert maps.EMERGING_COLOURS is palette.EMERGING_COLOURS
    # each class has its label and colour in one place, in both languages
    for family, classes in palette.CLASSES.items():
        for code, (msgid, colour) in classes.items():
            assert palette.label(code, locale="en") == msgid and palette.COLOURS[code] == colour
            assert palette.label(code, locale="vi") != msgid, (family, code)   # translated
    # every emerging pattern has its own colour
    assert len(set(palette.EMERGING_COLOURS.values())) == len(palette.EMERGING_COLOURS)


@pytest.mark.filterwarnings("ignore:Numba not installed")
@pytest.mark.skipif(shutil.which("pdfimages") is None or shutil.which("pdftotext") is None,
                    reason="poppler-utils not installed")
def test_overview_pdf_shows_the_png_legend_and_the_screen_classes(demo_client, tmp_path):
    """One overview request: the page's legend, the PNG export and the PDF export agree."""
    js = demo_client.get(f"/maps/overview.js?{Q}").get_data(as_text=True)
    screen = _screen_legend(json.loads(re.search(r'div\.innerHTML = ("(?:[^"\\]|\\.)*");', js)[1]))
    layer = gpd.read_file(io.BytesIO(demo_client.get(f"/export/overview.geojson?{Q}").data))
    # the PNG legend: what the exporter draws for that layer (limits, colours and labels)
    printed = _printed_legend(exports.map_figure(layer, "count", title="Số vụ", legend_title="Số vụ", lang="vi"))
    assert [(c, lab) for *_x, c, lab in screen] == printed
    png = demo_client.get(f"/export/overview.png?{Q}")
    pdf = demo_client.get(f"/export/overview.pdf?{Q}")
    assert png.status_code == 200 and pdf.status_code == 200
    # the PDF's map is the PNG export itself, pixel for pixel, so its legend is the PNG's
    (tmp_path / "o.pdf").write_bytes(pdf.data)
    subprocess.run(["pdfimages", "-png", str(tmp_path / "o.pdf"), str(tmp_path / "img")], check=True)
    images = [imread(p) for p in sorted(tmp_path.glob("img-*.png"))]
    want = imread(io.BytesIO(png.data), format="png")
    # (matplotlib's PDF backend stores the picture's rows bottom to top)
    assert any(im.shape == want[..., :3].shape and np.array_equal(np.flipud(im), want[..., :3]) for im in images)
    # and the PDF's table writes the figures as the page does (the class limits' number format)
    text = subprocess.run(["pdftotext", "-layout", str(tmp_path / "o.pdf"), "-"], check=True,
                          capture_output=True, text=True).stdout
    top = layer.sort_values(["count", "code"], ascending=[False, True]).iloc[0]
    assert top["name"] in text and format.number(top["count"], locale="vi") in text
