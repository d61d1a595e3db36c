"""Folium maps that work offline and under a strict Content-Security-Policy.

Every map is built on :func:`base_map`, which points folium's JavaScript and CSS
at the files vendored under ``static/vendor/`` (see ``static/vendor/VENDOR.md``),
so a map never asks a CDN for anything. The layers are added with one function
each: :func:`choropleth` (class limits from mapclassify), :func:`categorical`
(Gi* hot and cold spots, local Moran quadrants, significant change, emerging
patterns), :func:`outlines` (ward borders with labels, readable without tiles),
:func:`spots` (DBSCAN spots), :func:`contours` (kernel-density levels) and
:func:`points` (clustered incidents, capped).

Every string that ends up in a tooltip, a label or a legend is HTML-escaped here,
because Leaflet and folium put those strings into the page as HTML.

:func:`parts` splits a map into CSS links, JS links, the map ``<div>`` (with its
inline ``<style>``) and one script to be served from its own URL, so that the
page can send ``script-src 'self'``. :func:`freeze_ids` makes the element names
sequential, so the page and its script agree when they are built in two requests
and the same map always renders to the same bytes. :func:`display_geometry`
makes ward polygons light enough to embed.

The module knows nothing of Flask: the app passes ``static_url``, a function from
a path under ``static/`` to its URL (``lambda p: url_for("static", filename=p)``).

Example
-------
>>> import geopandas as gpd
>>> from shapely.geometry import box
>>> wards = gpd.GeoDataFrame({"name": ["A", "B"], "count": [0, 7]},
...                          geometry=[box(106.6, 10.7, 106.7, 10.8), box(106.7, 10.7, 106.8, 10.8)],
...                          crs="EPSG:4326")
>>> m = base_map(wards.total_bounds, static_url=lambda p: "/static/" + p)
>>> out = choropleth(m, wards, "count", legend_title="Số vụ", tooltip_fields=[("name", "Phường")])
>>> out["bins"]
[7.0]
>>> p = parts(m)
>>> p["js"][0], "<script" in p["html"]
('/static/vendor/leaflet/leaflet.js', False)
"""
from __future__ import annotations

import html
import json
import math
import re
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from numbers import Integral

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from branca.element import CssLink, Element, Figure, JavascriptLink, MacroElement
from folium.elements import ElementAddToElement, IncludeStatement, JSCSSMixin
from folium.features import GeoJsonDetail, GeoJsonStyleMapper
from folium.map import Class, Layer
from folium.plugins import DualMap, FastMarkerCluster
from folium.template import Template
from folium.utilities import deep_copy, get_obj_in_upper_tree

from clustering.projection import metric_crs_for
from geo.errors import InputError
from geo.format import LOCALES, MISSING, N_, gettext, number, percent
from geo.format import date as format_date
from geo.render import palette as pal
from geo.resources import resource

WGS84 = "EPSG:4326"
STATIC_DIR = resource("static")
LANGS = LOCALES

# --------------------------------------------------------------------------- vendored files

#: Each CDN address that folium 0.20 (and the plugins we use) links, and the vendored
#: copy under ``static/`` that replaces it. ``static/vendor/VENDOR.md`` says where each
#: file comes from.
VENDORED: dict[str, str] = {
    "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js": "vendor/leaflet/leaflet.js",
    "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.css": "vendor/leaflet/leaflet.css",
    "https://code.jquery.com/jquery-3.7.1.min.js": "vendor/jquery/jquery.min.js",
    "https://cdn.jsdelivr.net/npm/bootstrap@5.2.2/dist/js/bootstrap.bundle.min.js":
        "vendor/bootstrap/js/bootstrap.bundle.min.js",
    "https://cdn.jsdelivr.net/npm/bootstrap@5.2.2/dist/css/bootstrap.min.css":
        "vendor/bootstrap/css/bootstrap.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/Leaflet.awesome-markers/2.0.2/leaflet.awesome-markers.js":
        "vendor/leaflet.awesome-markers/leaflet.awesome-markers.js",
    "https://cdnjs.cloudflare.com/ajax/libs/Leaflet.awesome-markers/2.0.2/leaflet.awesome-markers.css":
        "vendor/leaflet.awesome-markers/leaflet.awesome-markers.css",
    "https://cdn.jsdelivr.net/npm/@fortawesome/fontawesome-free@6.2.0/css/all.min.css":
        "vendor/fontawesome-free/css/all.min.css",
    "https://cdn.jsdelivr.net/gh/python-visualization/folium/folium/templates/leaflet.awesome.rotate.min.css":
        "vendor/folium/leaflet.awesome.rotate.css",
    "https://cdnjs.cloudflare.com/ajax/libs/leaflet.markercluster/1.1.0/leaflet.markercluster.js":
        "vendor/leaflet.markercluster/leaflet.markercluster.js",
    "https://cdnjs.cloudflare.com/ajax/libs/leaflet.markercluster/1.1.0/MarkerCluster.css":
        "vendor/leaflet.markercluster/MarkerCluster.css",
    "https://cdnjs.cloudflare.com/ajax/libs/leaflet.markercluster/1.1.0/MarkerCluster.Default.css":
        "vendor/leaflet.markercluster/MarkerCluster.Default.css",
    "https://cdn.jsdelivr.net/gh/jieter/Leaflet.Sync/L.Map.Sync.min.js": "vendor/leaflet.sync/L.Map.Sync.js",
}

#: Links that are dropped rather than vendored: Bootstrap 3's glyphicons stylesheet has
#: no npm package, and no map here uses glyphicons.
DROPPED: frozenset[str] = frozenset({
    "https://netdna.bootstrapcdn.com/bootstrap/3.0.0/css/bootstrap-glyphicons.css",
})

#: Bootstrap is vendored but linked only on request (``offline(..., bootstrap=True)``):
#: no map element needs it, and its CSS would restyle the page that embeds the map.
BOOTSTRAP: frozenset[str] = frozenset(u for u in VENDORED if "/bootstrap@" in u)

_EXTERNAL = re.compile(r"^(?:[a-z][a-z0-9+.-]*:)?//", re.I)


def _is_external(url: str) -> bool:
    return bool(_EXTERNAL.match(url.strip()))


# --------------------------------------------------------------------------- wording

def _has_suppressed(gdf) -> bool:
    """Whether some figures were withheld from this layer (geo.disclosure marks them ``suppressed``)."""
    return "suppressed" in gdf.columns and bool(gdf["suppressed"].fillna(False).astype(bool).any())


#: The map's own words (catalogue msgids; ``{name}`` fields filled in with str.format).
TEXT = {"zoom_in": N_("Zoom in"), "zoom_out": N_("Zoom out"), "no_data": N_("No data"), "no_data_small": N_("No data, or a small figure not published"), "points_note": N_("Showing {shown} of {total} points"), "contours_title": N_("High-density areas"), "contour_level": N_("Densest {pct} of grid cells"), "contour_threshold": N_("from {value} incidents/km²"), "spot": N_("Spot {number}")}


def _words(lang: str | None = None) -> dict[str, str]:
    """:data:`TEXT` in ``lang``."""
    return {k: gettext(msg, lang) for k, msg in TEXT.items()}


def _pct(fraction: float, lang: str) -> str:
    return percent(fraction, 0 if round(fraction * 100) == fraction * 100 else 1, locale=lang)


def _text_value(value, fmt: str) -> str:
    """A property value as escaped HTML text: numbers formatted, strings escaped."""
    if value is None:
        return MISSING
    if isinstance(value, (bool, np.bool_)):
        return html.escape(str(value))
    if isinstance(value, (Integral, float, np.floating)):
        return number(value, locale=fmt)
    if isinstance(value, pd.Timestamp):
        return html.escape(format_date(value, locale=fmt))
    try:
        if pd.isna(value):
            return MISSING
    except (TypeError, ValueError):
        pass
    return html.escape(str(value))


# --------------------------------------------------------------------------- colours

SCHEMES = ("natural_breaks", "quantiles")
BACKGROUND = "#eceff1"
# Category colours, ramps and class limits are shared with the PNG/PDF (geo.render.palette).
PALETTES, ZERO_COLOUR, NO_DATA_COLOUR = pal.PALETTES, pal.ZERO_COLOUR, pal.NO_DATA_COLOUR
GI_COLOURS, LISA_COLOURS = pal.GI_COLOURS, pal.LISA_COLOURS
CHANGE_COLOURS, EMERGING_COLOURS, COLOURS = pal.CHANGE_COLOURS, pal.EMERGING_COLOURS, pal.COLOURS
JENKS_MAX_VALUES = pal.NATURAL_BREAKS_SAMPLE
#: Kernel-density contour levels: the smaller the fraction of cells, the darker.
CONTOUR_COLOURS = {0.01: "#bd0026", 0.05: "#f03b20", 0.10: "#fd8d3c"}

_HEX = re.compile(r"^#[0-9a-fA-F]{6}$")


def palette_colours(palette_name: str, k: int) -> list[str]:
    """``k`` ColorBrewer colours of ``palette_name``, light to dark (:func:`geo.render.palette.ramp`).

    >>> palette_colours("YlOrRd", 3)
    ['#ffeda0', '#feb24c', '#f03b20']
    """
    _check_choice("palette", palette_name, PALETTES)
    return pal.ramp(palette_name, k)


def category_list(family: str, *, lang: str | None = None, codes=None) -> list[tuple[str, str, str]]:
    """``(code, label, colour)`` rows for :func:`categorical`: the classes of ``family``
    (``"gi"``, ``"lisa"``, ``"change"``, ``"emerging"``) from :data:`geo.render.palette.CLASSES`,
    labelled in ``lang``; ``codes`` keeps only those.

    >>> category_list("change", lang="vi")[0]
    ('significant_increase', 'Tăng rõ rệt', '#d6604d')
    """
    return pal.classes(family, lang, codes)


# --------------------------------------------------------------------------- checks

def _check_choice(name: str, value, allowed) -> None:
    if value not in allowed:
        raise InputError(f"`{name}` was {value!r} but is expected to be one of {tuple(allowed)}.")


def _check_map(m) -> folium.Map:
    if isinstance(m, DualMap):
        raise InputError("`m` is a DualMap; add layers to `m.m1` or `m.m2`.")
    if not isinstance(m, folium.Map):
        raise InputError(f"`m` was a {type(m).__name__} but must be a folium.Map (see base_map).")
    return m


def _lang(m, lang: str | None = None) -> str:
    lang = lang or getattr(m, "_hs_lang", "vi")
    _check_choice("lang", lang, LANGS)
    return lang


def _to_wgs84(gdf, name: str = "gdf") -> gpd.GeoDataFrame:
    if not isinstance(gdf, gpd.GeoDataFrame):
        raise InputError(f"`{name}` was a {type(gdf).__name__} but must be a GeoDataFrame.")
    if gdf.crs is None:
        raise InputError(f"`{name}` has no CRS; call `.set_crs(...)` first.")
    return gdf if gdf.crs.equals(WGS84) else gdf.to_crs(WGS84)


def _check_columns(frame, name: str, columns: Iterable[str]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        geometry = frame.geometry.name if isinstance(frame, gpd.GeoDataFrame) else None
        have = [c for c in frame.columns if c != geometry]
        raise InputError(f"`{name}` has no column {missing}; its columns are {have}.")


def _check_colour(colour: str, where: str) -> str:
    if not isinstance(colour, str) or not _HEX.match(colour):
        raise InputError(f"{where}: colour {colour!r} must be written as #rrggbb.")
    return colour.lower()


def _tooltip_fields(tooltip_fields) -> list[tuple[str, str]]:
    out = []
    for item in tooltip_fields or ():
        if isinstance(item, str):
            item = (item, item)
        if len(item) != 2:
            raise InputError(f"`tooltip_fields` items must be (field, label) pairs; got {item!r}.")
        out.append((str(item[0]), str(item[1])))
    return out


def _bounds(bounds) -> list[list[float]]:
    """[[south, west], [north, east]] from ``total_bounds`` (minx, miny, maxx, maxy) or that form."""
    arr = np.asarray(bounds, dtype=float)
    if arr.shape == (4,):
        minx, miny, maxx, maxy = arr
    elif arr.shape == (2, 2):
        (miny, minx), (maxy, maxx) = arr
    else:
        raise InputError(f"`bounds` was {bounds!r}; pass (minx, miny, maxx, maxy) in EPSG:4326 "
                         "(GeoDataFrame.total_bounds) or [[south, west], [north, east]].")
    if not (np.isfinite(arr).all() and -90 <= miny <= maxy <= 90 and -180 <= minx <= maxx <= 180):
        raise InputError(f"`bounds` was {bounds!r}, which is not a box in longitude/latitude "
                         "(EPSG:4326); convert with `.to_crs('EPSG:4326')` first.")
    return [[float(miny), float(minx)], [float(maxy), float(maxx)]]


# --------------------------------------------------------------------------- map elements

_CSS = """
.hs-legend{background:rgba(255,255,255,.94);padding:6px 9px;border-radius:4px;
 box-shadow:0 1px 4px rgba(0,0,0,.3);font:12px/1.4 system-ui,sans-serif;color:#222;max-width:260px}
.hs-legend-title{font-weight:600;margin-bottom:3px}
.hs-legend ul{list-style:none;margin:0;padding:0}
.hs-legend li{display:flex;align-items:center;gap:6px;margin:2px 0}
.hs-swatch{display:inline-block;width:18px;height:12px;border:1px solid #888;flex:none}
.hs-label span{position:absolute;transform:translate(-50%,-50%);white-space:nowrap;
 font:11px/1.1 system-ui,sans-serif;color:#333;pointer-events:none;
 text-shadow:0 0 2px #fff,0 0 2px #fff,0 0 3px #fff}
.hs-spot-number span{position:absolute;transform:translate(-50%,-50%);min-width:18px;height:18px;
 padding:0 3px;box-sizing:border-box;border-radius:9px;background:#7a0177;color:#fff;
 font:bold 11px/18px system-ui,sans-serif;text-align:center;box-shadow:0 0 0 2px #fff}
.hs-note{background:#fff3cd;border:1px solid #c69500;color:#4d3800;padding:4px 8px;
 border-radius:4px;font:12px/1.4 system-ui,sans-serif}
.hs-tooltip th{font-weight:600}
"""


class _Chrome(MacroElement):
    """Grey background, metric scale, zoom buttons titled in the map's language, our CSS,
    and the initial view (fitted without animation)."""

    _template = Template("""
        {% macro header(this, kwargs) %}
            <style>#{{ this._parent.get_name() }}.leaflet-container{background:{{ this.background }}}</style>
        {% endmacro %}
        {% macro script(this, kwargs) %}
            L.control.zoom({{ this.zoom|tojson }}).addTo({{ this._parent.get_name() }});
            L.control.scale({"imperial": false, "metric": true}).addTo({{ this._parent.get_name() }});
            {%- if this.bounds %}
            {{ this._parent.get_name() }}.fitBounds({{ this.bounds|tojson }}, {"animate": false, "padding": [8, 8]});
            {%- endif %}
        {% endmacro %}
    """)

    def __init__(self, lang: str, bounds=None, background: str = BACKGROUND):
        super().__init__()
        self._name = "MapChrome"
        self.bounds = bounds
        self.background = _check_colour(background, "background")
        self.zoom = {"position": "topleft", "zoomInTitle": _words(lang)["zoom_in"],
                     "zoomOutTitle": _words(lang)["zoom_out"]}

    def _before_render(self, root: Figure) -> None:
        root.header.add_child(_Literal(f"<style>{_CSS}</style>"), name="hs_maps_css")


class _Control(MacroElement):
    """A Leaflet control holding trusted (already escaped) HTML, shown with ``layer``.

    A legend (``legend=True``) stays off the map when the page has a legends box
    (``[data-hs-legends]``): ``static/js/workbench.js`` shows it there, with its layer."""

    _template = Template("""
        {% macro script(this, kwargs) %}
            (function () {
                var map = {{ this._parent.get_name() }};
                {%- if this.legend %}
                if (document.querySelector("[data-hs-legends]")) { return; }
                {%- endif %}
                var control = L.control({"position": {{ this.position|tojson }}});
                control.onAdd = function () {
                    var div = L.DomUtil.create("div", {{ this.class_name|tojson }});
                    div.innerHTML = {{ this.html|tojson }};
                    L.DomEvent.disableClickPropagation(div);
                    L.DomEvent.disableScrollPropagation(div);
                    return div;
                };
                {%- if this.layer is none %}
                control.addTo(map);
                {%- else %}
                if (map.hasLayer({{ this.layer.get_name() }})) { control.addTo(map); }
                map.on("overlayadd", function (e) {
                    if (e.layer === {{ this.layer.get_name() }}) { control.addTo(map); }
                });
                map.on("overlayremove", function (e) {
                    if (e.layer === {{ this.layer.get_name() }}) { control.remove(); }
                });
                {%- endif %}
            })();
        {% endmacro %}
    """)

    def __init__(self, html_text: str, *, position: str = "bottomright", layer=None,
                 class_name: str = "hs-control", legend: bool = False):
        super().__init__()
        self._name = "HtmlControl"
        self.html = html_text
        self.position = position
        self.layer = layer
        self.class_name = class_name
        self.legend = legend


class _Labels(MacroElement):
    """Text at points (escaped HTML), shown while ``layer`` is on and from ``min_zoom`` on.

    With ``name`` the labels are a layer of their own (``var <name>``, listed in the
    page's layer control; ``hsWanted`` says whether the user wants them). With
    ``declutter`` a label whose box overlaps one listed before it is hidden after
    each zoom (rows come most important first): Leaflet places divIcons without any
    collision test, and none of the vendored plugins does it for plain text labels."""

    _template = Template("""
        {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = L.layerGroup();
            (function () {
                var map = {{ this._parent.get_name() }}, parent = {{ this.layer.get_name() }};
                var rows = {{ this.rows|tojson }};
                var labels = {{ this.get_name() }}, markers = [];
                labels.hsWanted = true;
                rows.forEach(function (r) {
                    markers.push(L.marker([r[0], r[1]], {
                        "icon": L.divIcon({"className": {{ this.class_name|tojson }},
                                           "html": "<span>" + r[2] + "</span>", "iconSize": [0, 0]}),
                        "interactive": false, "keyboard": false
                    }).addTo(labels));
                });
                function declutter() {
                    var spans = markers.map(function (mk) { var el = mk.getElement(); return el && el.firstChild; });
                    spans.forEach(function (s) { if (s) { s.style.visibility = ""; } });
                    var boxes = spans.map(function (s) { return s && s.getBoundingClientRect(); }), kept = [];
                    spans.forEach(function (s, i) {
                        if (!s) { return; }
                        var b = boxes[i], hit = kept.some(function (k) {
                            return b.left < k.right + 3 && b.right + 3 > k.left && b.top < k.bottom + 1 && b.bottom + 1 > k.top;
                        });
                        if (hit) { s.style.visibility = "hidden"; } else { kept.push(b); }
                    });
                }
                function update(e) {
                    if (e && e.layer === labels && (e.type === "overlayadd" || e.type === "overlayremove")) {
                        labels.hsWanted = e.type === "overlayadd";
                    }
                    var on = labels.hsWanted && map.hasLayer(parent) && map.getZoom() >= {{ this.min_zoom|tojson }};
                    if (on) {
                        labels.addTo(map);
                        {%- if this.declutter %}
                        declutter();
                        {%- endif %}
                    } else { labels.remove(); }
                }
                map.on("zoomend overlayadd overlayremove", update);
                map.whenReady(function () { update(); });
            })();
        {% endmacro %}
    """)

    def __init__(self, rows, *, layer, min_zoom: int = 0, class_name: str = "hs-label",
                 name: str | None = None, declutter: bool = False):
        super().__init__()
        self._name = "PointLabels"
        self.rows = rows
        self.layer = layer
        self.min_zoom = int(min_zoom)
        self.class_name = class_name
        self.name = name
        self.declutter = declutter


class _Register(MacroElement):
    """Tells the page's scripts (``static/js/workbench.js``, ``window.HS``) about this map: the
    Leaflet map, its named layers (overlays and base layers, in the order they were added), the
    layer of its units (the first GeoJSON layer whose features carry a ``code``) and the legend of
    each layer. It is added last at each render (:func:`_render`), with an id made from the map's,
    so that rendering stays deterministic."""

    _template = Template("""
        {% macro script(this, kwargs) %}
            (window.HS_MAPS = window.HS_MAPS || []).push({
                "map": {{ this._parent.get_name() }},
                "units": {{ this.units or "null" }},
                "layers": [{% for name, var, overlay in this.layers %}
                    {"name": {{ name|tojson }}, "layer": {{ var }}, "overlay": {{ overlay|tojson }}}{{ "," if not loop.last }}{% endfor %}],
                "legends": [{% for var, text in this.legends %}
                    {"layer": {{ var or "null" }}, "html": {{ text|tojson }}}{{ "," if not loop.last }}{% endfor %}]
            });
            if (window.HS && window.HS.attach) { window.HS.attach(); }
        {% endmacro %}
    """)

    def __init__(self, m: folium.Map):
        super().__init__()
        self._name = "HsRegister"
        self._id = m._id
        self.units = None
        self.layers, self.legends = [], []
        for child in m._children.values():
            if isinstance(child, _Labels) and child.name:
                self.layers.append((child.name, child.get_name(), True))
            elif isinstance(child, Layer) and child.control:
                self.layers.append((child.layer_name, child.get_name(), bool(child.overlay)))
            if self.units is None and isinstance(child, folium.GeoJson) and _has_codes(child):
                self.units = child.get_name()
            if isinstance(child, _Control) and child.legend:
                self.legends.append((child.layer.get_name() if child.layer is not None else None, child.html))


def _has_codes(layer: folium.GeoJson) -> bool:
    features = layer.data.get("features") or [] if isinstance(layer.data, dict) else []
    return bool(features) and "code" in (features[0].get("properties") or {})


# --------------------------------------------------------------------------- offline links

def _root(m) -> Figure:
    root = m.get_root()
    if not isinstance(root, Figure):
        raise InputError("The map is not in a folium Figure; build it with base_map or folium.Map.")
    return root


def _walk(element: Element):
    """The element and all its descendants, parents first, children in order."""
    stack = [element]
    while stack:
        el = stack.pop()
        yield el
        stack.extend(reversed(list(el._children.values())))


def _local_links(links, static_url, bootstrap: bool, owner: str) -> list[tuple[str, str]]:
    local = _local_urls(static_url)
    out = []
    for name, url in links:
        if url in DROPPED or (url in BOOTSTRAP and not bootstrap):
            continue
        if url in VENDORED:
            url = static_url(VENDORED[url])
        elif _is_external(url) and url not in local:
            raise InputError(f"{owner} links {url} ({name!r}), which is not vendored. Add the "
                             "file under static/vendor/ (see static/vendor/VENDOR.md) and its "
                             "address to geo.render.maps.VENDORED.")
        out.append((name, url))
    return out


def _local_urls(static_url) -> set[str]:
    return {static_url(path) for path in VENDORED.values()}


def offline(m, static_url: Callable[[str], str], *, bootstrap: bool = False):
    """Point every JS and CSS link of the map and its plugins at the vendored files.

    Each folium element that links files (the Map, MarkerCluster, DualMap, ...) gets
    its own copy of the link list with each CDN address replaced by
    ``static_url(path)``. The rewrite is remembered, and :func:`parts` and
    :func:`standalone_html` apply it again to elements added later and check the
    rendered page.

    Parameters
    ----------
    m : folium.Map or folium.plugins.DualMap
    static_url : callable
        ``static_url("vendor/leaflet/leaflet.js")`` returns the URL of that file
        under ``static/``.
    bootstrap : bool, default False
        Also link Bootstrap's CSS and JS (folium's default page does; no map element
        needs them and the CSS restyles the embedding page).

    Returns
    -------
    The same map.

    Raises
    ------
    InputError
        When an element links a file that is not vendored.
    """
    root = _root(m)
    root._hs_offline = (static_url, bool(bootstrap))
    _apply_offline(root)
    return m


def _apply_offline(root: Figure) -> None:
    static_url, bootstrap = root._hs_offline
    for el in _walk(root):
        if isinstance(el, JSCSSMixin):
            owner = type(el).__name__
            el.default_js = _local_links(el.default_js, static_url, bootstrap, owner)
            el.default_css = _local_links(el.default_css, static_url, bootstrap, owner)


# --------------------------------------------------------------------------- ids and rendering

def _copy_for_second_map(dual: DualMap) -> None:
    """Do DualMap's render-time copy for m2 now, so the copies get frozen ids too."""
    for child, name, index in dual.children_for_m2:
        if child._id in dual.children_for_m2_copied:
            continue
        copy = deep_copy(child)
        if isinstance(copy, folium.LayerControl):
            copy.reset()
        dual.m2.add_child(copy, name, index)
        dual.children_for_m2_copied.append(child._id)


def freeze_ids(m, prefix: str = "m"):
    """Give every element of the map a sequential id (``map_m1``, ``geo_json_m7``, ...).

    folium names each element with a random id, so two renders of the same map
    differ. After this, rendering gives the same bytes every time and for every
    identically built map: the page and its separately served script agree, and
    the output can be cached and compared. Use different ``prefix`` values for two
    maps on one page. :func:`parts` calls this (keeping an earlier prefix).

    Returns
    -------
    The same map.
    """
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", prefix):
        raise InputError(f"`prefix` was {prefix!r} but must be letters, digits and _ "
                         "(it becomes part of JavaScript names).")
    root = _root(m)
    _prune(root)
    for el in list(_walk(root)):
        if isinstance(el, DualMap):
            _copy_for_second_map(el)
    elements = list(_walk(root))
    old_names = {id(el): el.get_name() for el in elements}
    for i, el in enumerate(elements):
        el._id = f"{prefix}{i}"
        if getattr(el, "layer_name", None) == old_names[id(el)]:
            el.layer_name = el.get_name()           # an unnamed layer in a LayerControl
    for el in elements:
        el._children = OrderedDict(
            (child.get_name() if key == old_names[id(child)] else key, child)
            for key, child in el._children.items())
        if isinstance(el, DualMap):
            el.children_for_m2_copied = [child._id for child, _, _ in el.children_for_m2]
    root._hs_id_prefix = prefix
    return m


def _prune(root: Figure) -> None:
    """Drop the children that folium adds while rendering (a layer's ``addTo``, a
    marker's ``setIcon``, our :class:`_Register`); the next render adds them again."""
    for el in _walk(root):
        stale = [k for k, c in el._children.items()
                 if isinstance(c, (ElementAddToElement, folium.Marker.SetIcon, _Register))]
        for k in stale:
            del el._children[k]


class _Literal(Element):
    """Text that is already rendered, put into the page exactly as it is.

    branca's own ``Element(text)`` compiles ``text`` as a Jinja template, which the
    page then evaluates: a ward or area name ``{{ 7*7 }}`` would show as 49, a name with
    ``{%`` would break every render, and ``{{ lipsum.__globals__... }}`` would run code.
    This element never compiles anything.
    """

    def __init__(self, text: str):
        super().__init__()
        self._name = "Literal"
        self.text = text

    def render(self, **kwargs) -> str:
        return self.text


# folium's GeoJsonDetail.render (folium 0.20), which builds it as Element(Template(...).render()).
_DETAIL_STYLE = Template("""
                    <style>
                        .{{ this.class_name }} {
                            {{ this.style }}
                        }
                       .{{ this.class_name }} table{
                            margin: auto;
                        }
                        .{{ this.class_name }} tr{
                            text-align: left;
                        }
                        .{{ this.class_name }} th{
                            padding: 2px; padding-right: 8px;
                        }
                    </style>
            """)


def _links_before(el: JSCSSMixin, root: Figure) -> None:
    for name, url in el.default_js:
        root.header.add_child(JavascriptLink(url), name=name)
    for name, url in el.default_css:
        root.header.add_child(CssLink(url), name=name)


def _includes_before(el: Class, root: Figure) -> None:
    if el.includes:
        stmt = IncludeStatement(el.leaflet_class_name, **el.includes)
        root.script.add_child(_Literal(stmt._template.render(this=stmt, kwargs=el.includes)),
                              name=el._name + "_includes", index=-1)


def _layer_before(el: Layer, root: Figure) -> None:
    if el.show:
        el.add_child(ElementAddToElement(element_name=el.get_name(),
                                         element_parent_name=el._parent.get_name()),
                     name=el.get_name() + "_add")


def _geojson_before(el: folium.GeoJson, root: Figure) -> None:
    el.parent_map = get_obj_in_upper_tree(el, folium.Map)
    if (el.style or el.highlight) and el.data["features"]:
        mapper = GeoJsonStyleMapper(el.data, el.feature_identifier, el)
        if el.style:
            el.style_map = mapper.get_style_map(el.style_function)
            # folium writes a MacroElement style value as "{{'name'}}" for a second
            # Jinja pass, which this rendering never makes.
            if any("{{" in key for key in el.style_map):
                raise InputError("A style function returned a folium element; return plain "
                                 "values (colours, numbers) instead.")
        if el.highlight:
            el.highlight_map = mapper.get_highlight_map(el.highlight_function)


def _detail_before(el: GeoJsonDetail, root: Figure) -> None:
    if not isinstance(el._parent, folium.GeoJson):
        raise InputError(f"A {type(el).__name__} must be added to a folium.GeoJson.")
    features = el._parent.data["features"]
    keys = [k for k in (features[0]["properties"] if features else {}) if k not in ("style", "highlight")]
    missing = [f for f in el.fields if f not in keys]
    if missing:
        raise InputError(f"The tooltip fields {missing} are not in the data; it has {keys}.")
    el.warn_for_geometry_collections()
    root.header.add_child(_Literal(_DETAIL_STYLE.render(this=el)), name=el.get_name() + "tablestyle")


def _layer_control_before(el: folium.LayerControl, root: Figure) -> None:
    el.reset()
    for item in el._parent._children.values():
        if isinstance(item, Layer) and item.control:
            (el.overlays if item.overlay else el.base_layers)[item.layer_name] = item.get_name()


def _marker_before(el: folium.Marker, root: Figure) -> None:
    if el.location is None:
        raise InputError(f"{el._name} has no location; give it one before adding it to the map.")
    if el.icon:
        el.add_child(el.SetIcon(marker=el, icon=el.icon))


def _nothing_before(el, root: Figure) -> None:
    """DualMap copies m1's layers to m2 after rendering; _render has copied them already."""


#: What each ``render`` override of folium does before the templates are rendered,
#: redone here (folium 0.20.0, branca 0.8.2) without building ``Element(text)``.
#: Every class of an element whose method order (MRO) defines ``render`` must be
#: listed, or :func:`_render` refuses the map rather than render it the unsafe way.
_BEFORE: dict[type, Callable] = {
    JSCSSMixin: _links_before, Class: _includes_before, Layer: _layer_before,
    folium.GeoJson: _geojson_before, GeoJsonDetail: _detail_before,
    folium.LayerControl: _layer_control_before, folium.Marker: _marker_before,
    DualMap: _nothing_before,
}


def _render_element(el: Element, root: Figure) -> None:
    """branca's MacroElement.render, with each macro's output added as :class:`_Literal`."""
    for cls in type(el).__mro__:
        if cls in (MacroElement, Element, object):
            continue
        if cls in _BEFORE:
            _BEFORE[cls](el, root)
        elif "_before_render" in cls.__dict__:
            cls.__dict__["_before_render"](el, root)
        elif "render" in cls.__dict__:
            raise InputError(f"{type(el).__name__} renders itself with folium's own render "
                             f"({cls.__module__}.{cls.__name__}.render), which would evaluate "
                             "user text as a template; add its steps to geo.render.maps._BEFORE.")
    if isinstance(el, MacroElement):
        module = el._template.module.__dict__
        for part, target in (("header", root.header), ("html", root.html), ("script", root.script)):
            if module.get(part) is not None:
                target.add_child(_Literal(str(module[part](el, {}))), name=el.get_name())
    for child in list(el._children.values()):
        _render_element(child, root)


def _render(m) -> Figure:
    """Render the figure from scratch (so that rendering again gives the same result).

    This replaces folium's ``Figure.render``: that one adds each element's rendered
    header, html and script as ``Element(text)``, which compiles the text, user data
    included, as a Jinja template and evaluates it when the page is put together.
    Here every rendered piece is a :class:`_Literal`.
    """
    root = _root(m)
    if getattr(root, "_hs_offline", None):
        _apply_offline(root)
    _prune(root)
    for el in list(_walk(root)):
        if isinstance(el, DualMap):
            _copy_for_second_map(el)
    for el in list(_walk(root)):
        if isinstance(el, folium.Map):
            el.add_child(_Register(el))  # last, so that every layer it names exists
    meta = root.header._children.get("meta_http")
    root.header._children = OrderedDict([("meta_http", meta)] if meta is not None else [])
    root.html._children = OrderedDict()
    root.script._children = OrderedDict()
    for child in list(root._children.values()):
        _render_element(child, root)
    return root


_SCRIPT = re.compile(r"<script[^>]*>(.*?)</script>", re.S | re.I)
_STYLE = re.compile(r"<style[^>]*>.*?</style>", re.S | re.I)
_META = re.compile(r"<meta\b[^>]*>", re.S | re.I)
# folium's page-level rules, which would restyle the page that embeds the map.
_PAGE_STYLE = re.compile(r"<style>\s*(?:html,\s*body|#map)\s*\{", re.I)


def parts(m, *, freeze: bool = True) -> dict:
    """Everything needed to embed the map in a page that allows no inline script.

    Returns
    -------
    dict with
        ``css``: stylesheet URLs, in order; ``js``: script URLs, in order, to load
        before ``script``; ``html``: the map ``<div>`` (or divs) with the inline
        ``<style>`` rules they need and no ``<script>``; ``script``: all of the
        JavaScript folium would put inline (its header switches and the body
        script), to be served from its own URL as ``application/javascript`` and
        loaded after the ``html`` (at the end of the body, or with ``defer``).

    The map ``<div>`` is 100 % wide and high: give its container a height.
    With ``freeze`` (the default) :func:`freeze_ids` runs first, so the page and the
    script match when each is built in its own request.

    Raises
    ------
    InputError
        When a link points off this server (a plugin that is not vendored).
    """
    root = _root(m)
    if freeze:
        freeze_ids(m, getattr(root, "_hs_id_prefix", "m"))
    _render(root)
    css, js, styles, head_scripts, other = [], [], [], [], []
    for child in root.header._children.values():
        if isinstance(child, JavascriptLink):
            js.append(child.url)
        elif isinstance(child, CssLink):
            css.append(child.url)
        else:
            text = child.render()
            head_scripts.extend(s.strip() for s in _SCRIPT.findall(text) if s.strip())
            text = _SCRIPT.sub("", text)
            styles.extend(s for s in _STYLE.findall(text) if not _PAGE_STYLE.match(s))
            text = _META.sub("", _STYLE.sub("", text)).strip()
            if text:
                other.append(text)
    offline_state = getattr(root, "_hs_offline", None)
    local = _local_urls(offline_state[0]) if offline_state else set()
    external = [u for u in css + js if _is_external(u) and u not in local]
    if external:
        raise InputError(f"The map links files off this server: {external}. Call offline(m, "
                         "static_url) and vendor any plugin it names.")
    body_html = root.html.render().strip()
    if _SCRIPT.search(body_html):
        raise InputError("An element put a <script> into the map's HTML; it cannot be served "
                         "under script-src 'self'.")
    script = "\n".join(head_scripts + [root.script.render().strip()])
    return {"css": css, "js": js, "html": "\n".join(styles + other + [body_html]),
            "script": script}


def standalone_html(m, *, script_url: str | None = None, title: str = "", lang: str | None = None) -> str:
    """A complete HTML page with the map filling the window.

    The map's script is inline unless ``script_url`` is given (then the page has no
    inline script and ``script_url`` must serve ``parts(m)["script"]``).
    """
    lang = lang or getattr(m, "_hs_lang", None) or getattr(getattr(m, "m1", None), "_hs_lang", "vi")
    p = parts(m)
    links = "\n".join(f'<link rel="stylesheet" href="{html.escape(u)}">' for u in p["css"])
    scripts = "\n".join(f'<script src="{html.escape(u)}"></script>' for u in p["js"])
    if script_url is None:
        inline = re.sub(r"</(script)", r"<\\/\1", p["script"], flags=re.I)
        main = f"<script>\n{inline}\n</script>"
    else:
        main = f'<script src="{html.escape(script_url)}"></script>'
    return ("<!DOCTYPE html>\n"
            f'<html lang="{html.escape(lang)}">\n<head>\n<meta charset="utf-8">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            '<link rel="icon" href="data:,">\n'
            f"<title>{html.escape(title)}</title>\n{links}\n"
            "<style>html,body{width:100%;height:100%;margin:0;padding:0}</style>\n"
            f"</head>\n<body>\n{p['html']}\n{scripts}\n{main}\n</body>\n</html>\n")


# --------------------------------------------------------------------------- base map

def _decorate(m: folium.Map, bounds, lang: str) -> None:
    m._hs_lang = lang
    m.add_child(_Chrome(lang, bounds))


def base_map(bounds, *, static_url: Callable[[str], str], tiles_url: str | None = None,
             tiles_attribution: str = "", lang: str = "vi", max_zoom: int = 18) -> folium.Map:
    """A folium map fitted to ``bounds``, with no base tiles unless ``tiles_url`` is given.

    Without tiles the background is light grey and the map relies on its layers
    (add :func:`outlines` so the wards stay readable). It has a metric scale and
    zoom buttons titled in ``lang``, and its links point at the vendored files
    (:func:`offline`).

    Parameters
    ----------
    bounds : sequence
        ``(minx, miny, maxx, maxy)`` in EPSG:4326 (``GeoDataFrame.total_bounds``) or
        ``[[south, west], [north, east]]``.
    static_url : callable
        Path under ``static/`` to URL, e.g. ``lambda p: url_for("static", filename=p)``.
    tiles_url : str, optional
        A tile URL template (``.../{z}/{x}/{y}.png``), e.g. a tile server on the
        local network.
    tiles_attribution : str
        The credit the tile provider requires; needed with ``tiles_url``.
    lang : {"vi", "en"}
        Language of the controls, and the default for legends and numbers.
    """
    _check_choice("lang", lang, LANGS)
    box = _bounds(bounds)
    centre = [(box[0][0] + box[1][0]) / 2, (box[0][1] + box[1][1]) / 2]
    m = folium.Map(location=centre, zoom_start=11, tiles=None, zoom_control=False,
                   control_scale=False, maxZoom=max_zoom)
    if tiles_url:
        if not tiles_attribution:
            raise InputError("`tiles_url` needs `tiles_attribution`: the credit the tile "
                             "provider requires (e.g. '© OpenStreetMap contributors').")
        folium.TileLayer(tiles=tiles_url, attr=tiles_attribution, max_zoom=max_zoom,
                         name=gettext("Base map", lang), control=True, overlay=False).add_to(m)
    _decorate(m, box, lang)
    return offline(m, static_url)


def dual_map(bounds, *, static_url: Callable[[str], str], lang: str = "vi",
             layout: str = "horizontal", max_zoom: int = 18) -> DualMap:
    """Two synchronised maps side by side (folium's DualMap, Leaflet.Sync), without tiles.

    Add layers to ``d.m1`` and ``d.m2`` with the functions of this module. The two
    map divs are positioned absolutely: embed them in a container with
    ``position: relative`` and a height.
    """
    _check_choice("lang", lang, LANGS)
    _check_choice("layout", layout, ("horizontal", "vertical"))
    box = _bounds(bounds)
    d = DualMap(location=[(box[0][0] + box[1][0]) / 2, (box[0][1] + box[1][1]) / 2],
                layout=layout, tiles=None, zoom_start=11, zoom_control=False, maxZoom=max_zoom)
    for mm in (d.m1, d.m2):
        _decorate(mm, box, lang)
    return offline(d, static_url)


# --------------------------------------------------------------------------- legends

def legend_html(title: str | None, rows: Sequence[tuple[str, str, dict]], *, lang: str = "vi",
                note: str | None = None) -> str:
    """A legend: ``rows`` are ``(colour, label, data attributes)``; all text is escaped."""
    out = [f'<div class="hs-legend" lang="{lang}">']
    if title:
        out.append(f'<div class="hs-legend-title">{html.escape(title)}</div>')
    out.append("<ul>")
    for colour, label, attrs in rows:
        colour = _check_colour(colour, "legend")
        extra = "".join(f' data-{k}="{html.escape(str(v))}"' for k, v in attrs.items())
        out.append(f'<li{extra}><span class="hs-swatch" style="background:{colour}"></span>'
                   f'<span class="hs-legend-label">{html.escape(label)}</span></li>')
    out.append("</ul>")
    if note:
        out.append(f'<div class="hs-legend-note">{html.escape(note)}</div>')
    out.append("</div>")
    return "".join(out)


# --------------------------------------------------------------------------- layers

def _features(gdf: gpd.GeoDataFrame, properties: dict[str, list]) -> dict:
    geoms = gdf.geometry.values
    feats = []
    for i, geom in enumerate(geoms):
        feats.append({"type": "Feature", "id": str(i),
                      "properties": {k: v[i] for k, v in properties.items()},
                      "geometry": None if geom is None or geom.is_empty else geom.__geo_interface__})
    return {"type": "FeatureCollection", "features": feats}


#: Tooltip values are kept in the features under this prefix: they are escaped HTML (folium's
#: tooltip writes them with innerHTML), while ``code`` and ``name`` stay the plain unit data
#: that page scripts read (``static/js/workbench.js``) and write as text.
TIP = "tip:"


def _tooltip_properties(gdf, fields: list[tuple[str, str]], fmt: str) -> dict[str, list[str]]:
    _check_columns(gdf, "gdf", [f for f, _ in fields])
    return {TIP + f: [_text_value(v, fmt) for v in gdf[f].tolist()] for f, _ in fields}


def _unit_properties(gdf) -> dict[str, list]:
    """The plain ``code``, ``name`` and ``parent_name`` of a layer of units (those it has)."""
    return {c: [None if v is None or (not isinstance(v, str) and pd.isna(v)) else str(v) for v in gdf[c].tolist()]
            for c in ("code", "name", "parent_name") if c in gdf.columns}


def _tooltip(fields: list[tuple[str, str]]):
    if not fields:
        return None
    return folium.GeoJsonTooltip(fields=[TIP + f for f, _ in fields],
                                 aliases=[html.escape(label) for _, label in fields],
                                 labels=True, sticky=True, class_name="hs-tooltip")


def _polygon_layer(m, gdf, styles: list[dict], *, fields, fmt: str, name: str | None,
                   highlight: bool = True, show: bool = True) -> folium.GeoJson:
    data = _features(gdf, {**_unit_properties(gdf), **_tooltip_properties(gdf, fields, fmt)})
    by_id = {str(i): s for i, s in enumerate(styles)}
    layer = folium.GeoJson(
        data, name=name, show=show, control=name is not None,
        style_function=lambda f: by_id[f["id"]],
        highlight_function=(lambda f: {"weight": 3, "color": "#222222"}) if highlight else None,
        tooltip=_tooltip(fields))
    layer.add_to(m)
    return layer


def _class_labels(y: np.ndarray, bins: np.ndarray, fmt: str) -> list[tuple[str, float, float]]:
    """Label, lower and upper limit of each class; integer data get integer ranges."""
    out = []
    integral = bool(np.all(np.equal(np.mod(y, 1), 0)))
    lo = float(y.min()) if y.size else 0.0
    for i, b in enumerate(bins):
        lower = lo if i == 0 else float(bins[i - 1])
        if integral:
            a = lo if i == 0 else math.floor(lower) + 1
            z = math.floor(b)
            if a <= z:
                label = (number(a, locale=fmt) if a == z
                         else f"{number(a, locale=fmt)} – {number(z, locale=fmt)}")
                out.append((label, lower, float(b)))
                continue
        if i == 0:
            label = f"{number(lower, locale=fmt)} – {number(b, locale=fmt)}"
        else:
            label = f"> {number(lower, locale=fmt)} – {number(b, locale=fmt)}"
        out.append((label, lower, float(b)))
    return out


def choropleth(m, gdf, column: str, *, scheme: str = "natural_breaks", k: int = 5,
               palette: str = "YlOrRd", legend_title: str | None = None,
               tooltip_fields: Sequence[tuple[str, str]] = (), name: str | None = None,
               number_format: str | None = None, legend: bool = True, show: bool = True,
               fill_opacity: float = 0.75, bins: Sequence[float] | None = None) -> dict:
    """Colour polygons by ``gdf[column]`` in classes from mapclassify.

    ``bins`` (upper class limits, e.g. another map's ``bins``) reuses given classes so that
    two maps side by side read alike; values above the last limit join the top class.

    Zero values of a non-negative column (counts) get their own white class and do
    not take part in the classification; missing values are grey ("no data").

    Parameters
    ----------
    m : folium.Map
    gdf : GeoDataFrame
        Polygons with a CRS (see :func:`display_geometry`).
    column : str
        The numeric column to map.
    scheme : {"natural_breaks", "quantiles"}
        ``natural_breaks`` is Jenks's optimal classification (mapclassify.FisherJenks;
        mapclassify.NaturalBreaks is a randomised approximation and would draw the
        same data differently from one request to the next). Above
        :data:`JENKS_MAX_VALUES` values the breaks come from evenly spaced order
        statistics. ``quantiles`` is mapclassify.Quantiles.
    k : int
        Number of classes (1 to 9); fewer when there are fewer distinct values.
    palette : {"YlOrRd", "Blues", "PuRd", "RdBu"}
        ColorBrewer ramp (colour-blind safe); RdBu runs blue to red.
    legend_title : str, optional
    tooltip_fields : list of (field, label)
        Shown on hover; values are formatted and escaped.
    name : str, optional
        Layer name in a LayerControl (an unnamed layer is not listed there).
    number_format : {"vi", "en"}, optional
        Defaults to the map's language.
    legend : bool
        Also draw the legend on the map (bottom right).

    Returns
    -------
    dict with ``legend_html`` (escaped HTML), ``bins`` (mapclassify's upper class
    limits), ``colours`` (one per class), ``counts`` (features per class) and
    ``layer`` (the folium GeoJson).

    References
    ----------
    Jenks, G. F. (1967). The data model concept in statistical mapping.
    International Yearbook of Cartography 7, 186–190.
    """
    m = _check_map(m)
    _check_choice("scheme", scheme, SCHEMES)
    _check_choice("palette", palette, PALETTES)
    if not isinstance(k, Integral) or isinstance(k, bool) or not 1 <= k <= 9:
        raise InputError(f"`k` was {k!r} but must be an integer from 1 to 9.")
    fmt = _lang(m, number_format)
    gdf = _to_wgs84(gdf)
    _check_columns(gdf, "gdf", [column])
    try:
        values = pd.to_numeric(gdf[column], errors="raise").to_numpy(dtype=float)
    except (TypeError, ValueError):
        raise InputError(f"`column` {column!r} must be numeric; it holds e.g. "
                         f"{gdf[column].dropna().head(3).tolist()}.") from None
    fields = _tooltip_fields(tooltip_fields)
    missing = np.isnan(values)
    zeros = pal.zero_class(values, scheme)
    zero_class = bool(zeros.any())
    classed = ~missing & ~zeros
    y = values[classed]
    bins = np.asarray(bins, dtype=float) if bins is not None else pal.class_bins(y, scheme, k)
    colours = palette_colours(palette, len(bins)) if len(bins) else []
    cls = np.full(len(values), -1)                       # -1 no data, -2 zero
    cls[zero_class & (values == 0)] = -2
    if len(bins):
        cls[classed] = np.minimum(np.searchsorted(bins, y, side="left"), len(bins) - 1)

    def style(c: int) -> dict:
        if c == -1:
            return {"fillColor": NO_DATA_COLOUR, "color": "#777777", "weight": 0.6,
                    "fillOpacity": 0.5}
        fill = ZERO_COLOUR if c == -2 else colours[c]
        return {"fillColor": fill, "color": "#555555", "weight": 0.6, "fillOpacity": fill_opacity}

    layer = _polygon_layer(m, gdf, [style(c) for c in cls], fields=fields, fmt=fmt, name=name,
                           show=show)
    rows = []
    if zero_class:
        rows.append((ZERO_COLOUR, number(0, locale=fmt), {"lower": 0.0, "upper": 0.0}))
    for (label, lower, upper), colour in zip(_class_labels(y, bins, fmt), colours):
        rows.append((colour, label, {"lower": repr(lower), "upper": repr(upper)}))
    if missing.any():
        rows.append((NO_DATA_COLOUR, _words(fmt)["no_data_small" if _has_suppressed(gdf) else "no_data"], {}))
    legend_text = legend_html(legend_title, rows, lang=fmt)
    if legend:
        m.add_child(_Control(legend_text, layer=layer, legend=True))
    counts = [int((cls == i).sum()) for i in range(len(bins))]
    return {"legend_html": legend_text, "bins": [float(b) for b in bins], "colours": colours,
            "counts": counts, "layer": layer}


def categorical(m, gdf, column: str, categories: Sequence[tuple[str, str, str]], *,
                name: str | None = None, tooltip_fields: Sequence[tuple[str, str]] = (),
                legend_title: str | None = None, legend: bool = True, show: bool = True,
                fill_opacity: float = 0.8) -> dict:
    """Colour polygons by a category code (Gi* class, LISA quadrant, change, pattern).

    Parameters
    ----------
    categories : list of (code, label, colour)
        Every code in ``gdf[column]`` must be listed; the legend lists them all in
        this order. :func:`category_list` builds the list from the one class table
        (:data:`geo.render.palette.CLASSES`: labels in the user's language, ArcGIS's colours).
    tooltip_fields : list of (field, label)

    Returns
    -------
    dict with ``legend_html``, ``counts`` (code -> features) and ``layer``.
    """
    m = _check_map(m)
    fmt = _lang(m)
    gdf = _to_wgs84(gdf)
    _check_columns(gdf, "gdf", [column])
    cats = [(str(code), str(label), _check_colour(colour, f"category {code!r}"))
            for code, label, colour in categories]
    colour_of = {code: colour for code, _, colour in cats}
    codes = gdf[column].astype(object).where(gdf[column].notna(), None).tolist()
    unknown = sorted({str(c) for c in codes if c is not None and str(c) not in colour_of})
    if unknown:
        raise InputError(f"`gdf[{column!r}]` holds codes {unknown} that are not in `categories` "
                         f"({list(colour_of)}); add them with a label and a colour.")
    styles = [{"fillColor": NO_DATA_COLOUR if c is None else colour_of[str(c)],
               "color": "#555555", "weight": 0.6,
               "fillOpacity": 0.5 if c is None else fill_opacity} for c in codes]
    layer = _polygon_layer(m, gdf, styles, fields=_tooltip_fields(tooltip_fields), fmt=fmt,
                           name=name, show=show)
    rows = [(colour, label, {"code": code}) for code, label, colour in cats]
    if any(c is None for c in codes):
        rows.append((NO_DATA_COLOUR, _words(fmt)["no_data"], {}))
    legend_text = legend_html(legend_title, rows, lang=fmt)
    if legend:
        m.add_child(_Control(legend_text, layer=layer, legend=True))
    counts = {code: sum(1 for c in codes if c is not None and str(c) == code) for code, _, _ in cats}
    return {"legend_html": legend_text, "counts": counts, "layer": layer}


def outlines(m, gdf, *, label_field: str | None = "name", name: str | None = None,
             label_min_zoom: int = 12, colour: str = "#555555", weight: float = 1.0,
             lines: bool = True, layer=None, label_name: str | None = None,
             label_priority: str | None = None, show: bool = True):
    """Polygon borders without fill, labelled at representative points.

    The labels are small text, shown from ``label_min_zoom`` on while the layer is
    on, so that a map without tiles can still be read. Labels are escaped.

    ``label_name`` makes the labels a layer of their own (listed in the page's layer
    control) and declutters them: at each zoom a label that would overlap one before
    it is hidden, the labels coming in the order of ``label_priority`` (a numeric
    column, largest first; default: the polygons' area), so the first view shows the
    names of the most relevant units and zooming in shows more.

    Over a :func:`choropleth` of the same polygons, which draws the borders already,
    pass ``lines=False`` and ``layer=result["layer"]`` to add only the labels (and
    not embed the geometry twice); they then follow that layer.

    Returns
    -------
    The layer the labels follow.
    """
    m = _check_map(m)
    gdf = _to_wgs84(gdf)
    colour = _check_colour(colour, "outlines")
    if lines:
        data = _features(gdf, {})
        layer = folium.GeoJson(data, name=name, interactive=False, control=name is not None, show=show,
                               style_function=lambda f: {"fill": False, "color": colour,
                                                         "weight": weight, "opacity": 0.9})
        layer.add_to(m)
    elif layer is None:
        raise InputError("`lines=False` needs `layer`: the layer the labels go with "
                         "(e.g. choropleth(...)['layer']).")
    if label_field:
        _check_columns(gdf, "gdf", [label_field])
        pts, texts = gdf.geometry.representative_point().tolist(), gdf[label_field].tolist()
        order = _label_order(gdf, label_priority) if label_name else range(len(gdf))
        rows = [[round(pts[i].y, 5), round(pts[i].x, 5), html.escape(str(texts[i]))] for i in order
                if pts[i] is not None and not pts[i].is_empty and pd.notna(texts[i])]
        m.add_child(_Labels(rows, layer=layer, min_zoom=label_min_zoom, name=label_name,
                            declutter=bool(label_name)))
    return layer


def _label_order(gdf, priority: str | None) -> list[int]:
    """Row positions, most important label first: by ``priority`` (missing last), then by area."""
    area = gdf.geometry.to_crs(metric_crs_for(gdf)).area.to_numpy() if len(gdf) else np.array([])
    key = pd.DataFrame({"area": area})
    cols = ["area"]
    if priority and priority in gdf.columns:
        key["p"] = pd.to_numeric(gdf[priority], errors="coerce").fillna(-np.inf).to_numpy()
        cols = ["p", "area"]
    return key.sort_values(cols, ascending=False, kind="stable").index.tolist()


def spots(m, spots_gdf, *, number_field: str = "spot_id",
          tooltip_fields: Sequence[tuple[str, str]] = (), name: str | None = None,
          colour: str = "#7a0177") -> folium.GeoJson:
    """DBSCAN spots: outlined areas with their number always shown, tooltips on hover."""
    m = _check_map(m)
    fmt = _lang(m)
    gdf = _to_wgs84(spots_gdf, "spots_gdf")
    _check_columns(gdf, "spots_gdf", [number_field])
    colour = _check_colour(colour, "spots")
    fields = _tooltip_fields(tooltip_fields)
    style = {"color": colour, "weight": 2, "fillColor": colour, "fillOpacity": 0.15,
             "dashArray": "4 3"}
    data = _features(gdf, _tooltip_properties(gdf, fields, fmt))
    layer = folium.GeoJson(data, name=name, control=name is not None,
                           style_function=lambda f: style,
                           highlight_function=lambda f: {"weight": 3, "fillOpacity": 0.3},
                           tooltip=_tooltip(fields),
                           marker=folium.CircleMarker(radius=6, fill=True))
    layer.add_to(m)
    pts = gdf.geometry.representative_point()
    rows = [[round(p.y, 5), round(p.x, 5), _text_value(n, fmt)]
            for p, n in zip(pts, gdf[number_field]) if p is not None and not p.is_empty]
    m.add_child(_Labels(rows, layer=layer, class_name="hs-spot-number"))
    return layer


def circles(m, gdf, size_field: str, *, tooltip_fields: Sequence[tuple[str, str]] = (), name: str | None = None,
            colour: str = "#b2182b", min_radius: float = 4.0, max_radius: float = 16.0) -> folium.GeoJson:
    """Points as circle markers whose area grows with ``size_field`` (the repeat places, sized by
    their incidents), tooltips on hover. Draw the largest first: the small ones stay on top."""
    m = _check_map(m)
    fmt = _lang(m)
    gdf = _to_wgs84(gdf, "gdf")
    _check_columns(gdf, "gdf", [size_field])
    colour = _check_colour(colour, "circles")
    fields = _tooltip_fields(tooltip_fields)
    size = pd.to_numeric(gdf[size_field], errors="coerce").fillna(0).to_numpy(dtype=float)
    top = size.max() if len(size) else 0.0
    radii = min_radius + (max_radius - min_radius) * np.sqrt(size / top) if top > 0 else np.full(len(size), min_radius)
    styles = {str(i): {"radius": round(float(r), 1), "color": "#ffffff", "weight": 1, "fillColor": colour,
                       "fillOpacity": 0.8} for i, r in enumerate(radii)}
    data = _features(gdf, _tooltip_properties(gdf, fields, fmt))
    layer = folium.GeoJson(data, name=name, control=name is not None, style_function=lambda f: styles[f["id"]],
                           highlight_function=lambda f: {"weight": 3, "color": "#222222"},
                           tooltip=_tooltip(fields), marker=folium.CircleMarker(radius=min_radius, fill=True))
    layer.add_to(m)
    return layer


def contours(m, contours_gdf, *, name: str | None = None, legend: bool = True,
             legend_title: str | None = None) -> dict:
    """Kernel-density contours (``clustering.kde`` levels 1 %, 5 %, 10 %) with a legend.

    ``contours_gdf`` has ``fraction`` (0.01 ...) and optionally ``threshold``
    (incidents per km²). Wider levels are drawn first, darker for smaller fractions.

    Returns
    -------
    dict with ``legend_html`` and ``layer``.
    """
    m = _check_map(m)
    fmt = _lang(m)
    gdf = _to_wgs84(contours_gdf, "contours_gdf")
    _check_columns(gdf, "contours_gdf", ["fraction"])
    gdf = gdf.sort_values("fraction", ascending=False, kind="stable")
    fractions = [float(f) for f in gdf["fraction"]]
    ramp = palette_colours("YlOrRd", max(3, len(fractions)))[::-1]
    colours = [CONTOUR_COLOURS.get(round(f, 6), ramp[i]) for i, f in
               enumerate(sorted(fractions))]
    colour_of = dict(zip(sorted(fractions), colours))
    labels = []
    for _, row in gdf.iterrows():
        text = _words(fmt)["contour_level"].format(pct=_pct(float(row["fraction"]), fmt))
        if "threshold" in gdf.columns and pd.notna(row["threshold"]):
            text += f" ({_words(fmt)['contour_threshold'].format(value=number(row['threshold'], locale=fmt))})"
        labels.append(text)
    shown = gdf.assign(_label=labels)
    styles = [{"color": colour_of[f], "weight": 1.5, "fillColor": colour_of[f], "fillOpacity": 0.35}
              for f in fractions]
    label = gettext("Density level", fmt)
    layer = _polygon_layer(m, shown, styles, fields=[("_label", label)], fmt=fmt, name=name)
    rows = [(colour_of[f], t, {"fraction": repr(f)})
            for f, t in sorted(zip(fractions, labels))]
    legend_text = legend_html(legend_title or _words(fmt)["contours_title"], rows, lang=fmt)
    if legend:
        m.add_child(_Control(legend_text, layer=layer, legend=True))
    return {"legend_html": legend_text, "layer": layer}


_POINT_CALLBACK = """function (row) {
    var labels = %s;
    var marker = L.circleMarker(new L.LatLng(row[0], row[1]),
        {"radius": 5, "color": "#ffffff", "weight": 1, "fillColor": %s, "fillOpacity": 0.9});
    if (labels.length) {
        marker.bindTooltip(function () {
            return "<table>" + labels.map(function (label, i) {
                return "<tr><th>" + label + "</th><td>" + row[i + 2] + "</td></tr>";
            }).join("") + "</table>";
        }, {"className": "hs-tooltip"});
    }
    return marker;
}"""


def _js_literal(value) -> str:
    """JSON that is also safe inside an HTML <script> element."""
    return (json.dumps(value, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("&", "\\u0026"))


def points(m, df, *, cap: int = 5000, on_excess: str = "truncate",
           tooltip_fields: Sequence[tuple[str, str]] = (), name: str | None = None,
           lon: str = "lon", lat: str = "lat", colour: str = "#333333", show: bool = True) -> dict:
    """Incident points in clusters (Leaflet.markercluster), at most ``cap`` of them; ``show=False``
    leaves the layer off until it is ticked in the layer control.

    ``df`` is a DataFrame with ``lon``/``lat`` columns (EPSG:4326) or a GeoDataFrame
    of points. Beyond ``cap`` rows, ``on_excess="truncate"`` keeps the first ``cap``
    rows (sort the frame first) and puts a note on the map saying how many are shown;
    ``on_excess="raise"`` raises :class:`InputError` instead.

    Returns
    -------
    dict with ``shown``, ``total``, ``truncated``, ``note_html`` and ``layer``.
    """
    m = _check_map(m)
    fmt = _lang(m)
    _check_choice("on_excess", on_excess, ("truncate", "raise"))
    if not isinstance(cap, Integral) or cap < 1:
        raise InputError(f"`cap` was {cap!r} but must be a positive integer.")
    colour = _check_colour(colour, "points")
    if isinstance(df, gpd.GeoDataFrame):
        gdf = _to_wgs84(df, "df")
        types = set(gdf.geom_type.dropna())
        if not types <= {"Point"}:
            raise InputError(f"`df` must hold points; it has {sorted(types)}.")
        frame = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
        frame[lon], frame[lat] = gdf.geometry.x.to_numpy(), gdf.geometry.y.to_numpy()
    elif isinstance(df, pd.DataFrame):
        frame = df
    else:
        raise InputError(f"`df` was a {type(df).__name__} but must be a DataFrame with "
                         f"{lon!r}/{lat!r} columns or a GeoDataFrame of points.")
    _check_columns(frame, "df", [lon, lat])
    frame = frame[frame[lon].notna() & frame[lat].notna()]
    total = len(frame)
    if total > cap:
        if on_excess == "raise":
            raise InputError(f"{total} points is more than `cap`={cap}; narrow the period, the "
                             "area or the categories, or raise `cap`.")
        frame = frame.iloc[:cap]
    fields = _tooltip_fields(tooltip_fields)
    props = _tooltip_properties(frame, fields, fmt)
    columns = [props[TIP + f] for f, _ in fields]
    data = [[round(float(y), 6), round(float(x), 6), *values]
            for x, y, *values in zip(frame[lon], frame[lat], *columns)]
    callback = _POINT_CALLBACK % (_js_literal([html.escape(label) for _, label in fields]),
                                  _js_literal(colour))
    layer = FastMarkerCluster(data, callback=callback, name=name, control=name is not None, show=show)
    layer.add_to(m)
    note = None
    if total > cap:
        text = _words(fmt)["points_note"].format(shown=number(cap, locale=fmt),
                                               total=number(total, locale=fmt))
        note = f'<div class="hs-note" role="status">{html.escape(text)}</div>'
        m.add_child(_Control(note, position="topright", layer=layer))
    return {"shown": len(data), "total": total, "truncated": total > cap, "note_html": note,
            "layer": layer}


# --------------------------------------------------------------------------- geometry

def display_geometry(gdf, tolerance_m: float = 45.0, *, metric_crs=None,
                     decimals: int = 5) -> gpd.GeoDataFrame:
    """Polygons made light for display: shared borders stay shared, coordinates rounded.

    The layer is cleaned into an exact coverage (``shapely.coverage_clean``, nodes
    snapped within 0.5 m, overlaps given to one neighbour), simplified with
    ``shapely.coverage_simplify`` in a metric CRS so that neighbours keep identical
    borders, converted to EPSG:4326 and snapped to ``decimals`` decimal places
    (5 ≈ 1 m).

    Parameters
    ----------
    gdf : GeoDataFrame
        Polygons or multipolygons with a CRS.
    tolerance_m : float, default 45
        coverage_simplify's tolerance, in metres. It is a Visvalingam-Whyatt
        measure, the square root of the area of the triangles removed, not a
        distance: at 45 the 168 wards of Hồ Chí Minh City (2025) keep 22,000 of
        217,000 vertices, half of all borders move by less than 30 m, and their
        GeoJSON is about 560 kB; at 15 it would be 1.15 MB.
    metric_crs : optional
        Defaults to :func:`clustering.projection.metric_crs_for` (EPSG:32648 for HCMC and Hà Nội).
    decimals : int, default 5

    Returns
    -------
    GeoDataFrame in EPSG:4326 with the same rows and columns, every geometry valid.

    References
    ----------
    Visvalingam, M. & Whyatt, J. D. (1993). Line generalisation by repeated
    elimination of points. The Cartographic Journal 30(1), 46–51.
    """
    if not isinstance(gdf, gpd.GeoDataFrame):
        raise InputError(f"`gdf` was a {type(gdf).__name__} but must be a GeoDataFrame.")
    if gdf.crs is None:
        raise InputError("`gdf` has no CRS; call `.set_crs(...)` first.")
    if not tolerance_m >= 0:
        raise InputError(f"`tolerance_m` was {tolerance_m!r} but must be 0 or more metres.")
    if not hasattr(shapely, "coverage_simplify"):
        raise RuntimeError("display_geometry needs shapely >= 2.1 (coverage_simplify).")
    types = set(gdf.geom_type.dropna())
    if not types <= {"Polygon", "MultiPolygon"}:
        raise InputError(f"`gdf` must hold polygons; it has {sorted(types)}.")
    if gdf.geometry.isna().any() or gdf.geometry.is_empty.any():
        raise InputError("`gdf` has empty or missing geometries; drop them first.")
    crs = metric_crs or metric_crs_for(gdf)
    geoms = gdf.geometry.to_crs(crs).values
    geoms = shapely.make_valid(geoms, method="structure", keep_collapsed=False)
    if hasattr(shapely, "coverage_clean"):
        geoms = shapely.coverage_clean(geoms, snapping_distance=0.5)
    if tolerance_m > 0:
        geoms = shapely.coverage_simplify(geoms, tolerance_m)
    out = gpd.GeoSeries(geoms, crs=crs).to_crs(WGS84).values
    out = shapely.set_precision(out, 10.0 ** -decimals)
    out = shapely.transform(out, lambda xy: np.round(xy, decimals))
    bad = ~shapely.is_valid(out)
    if bad.any():
        out[bad] = shapely.set_precision(shapely.make_valid(out[bad]), 10.0 ** -decimals)
    name = gdf.geometry.name
    frame = pd.DataFrame(gdf).copy()
    frame[name] = out
    return gpd.GeoDataFrame(frame, geometry=name, crs=WGS84)
