"""Downloads for the committees: CSV tables, map pictures (PNG) and one-page reports (PDF).

* :func:`csv_bytes` — UTF-8 with BOM and CRLF so Excel opens Vietnamese text correctly; text
  cells that a spreadsheet would run as a formula are neutralised (OWASP "CSV injection").
* :func:`map_png` — a choropleth (class breaks from :func:`classify`, or Gi* categories) in a
  metric CRS with title, subtitle, legend, scale bar, north arrow and attribution.
* :func:`report_pdf` — an A4 portrait page: title, period, filters, the map, the first rows
  of a table that fit, notes, the generation date and a footer.

Everything is drawn with matplotlib's Agg/PDF canvases (no pyplot figures, no GUI) in
DejaVu Sans, which has every Vietnamese glyph, embedded as TrueType in the PDF. Visible text is
Vietnamese by default (``lang="vi"``: numbers ``1.234,5``, dates ``dd/mm/yyyy``) and English
with ``lang="en"``.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import matplotlib

if "matplotlib.pyplot" not in sys.modules:     # geopandas imports pyplot; keep it headless
    matplotlib.use("Agg")

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from matplotlib import patheffects
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.image import imread
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Polygon, Rectangle
from matplotlib.textpath import TextToPath
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from scipy.sparse.csgraph import connected_components

from clustering.projection import to_metric
from geo.format import LOCALES, MISSING, N_, date, gettext, number
from geo.periods import zone
from geo.render import palette

__all__ = [
    "Classes", "SCHEMES", "choropleth_classes", "classify", "csv_bytes",
    "geojson_bytes", "gistar_categories", "map_figure", "map_png", "report_pdf", "safe_cell",
    "xlsx_bytes", "xlsx_cell",
]

FONT = "DejaVu Sans"
A4_PORTRAIT = (8.27, 11.69)        # inches (210 × 297 mm)
#: Text cells starting with one of these are run as formulas by spreadsheets (OWASP "CSV
#: injection"; the full-width forms are turned into the ASCII ones by some spreadsheets).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")

_RC = {
    "font.family": "sans-serif",
    "font.sans-serif": [FONT],
    "mathtext.fontset": "dejavusans",
    "axes.unicode_minus": True,
    "pdf.fonttype": 42,            # embed DejaVu Sans as TrueType: real, extractable text
    "ps.fonttype": 42,
    "text.usetex": False,
    "text.parse_math": False,      # "$...$" in a ward name is text, never mathtext (which can fail)
    "figure.dpi": 100,
}
# matplotlib is not thread-safe and rc_context changes global state: one drawing at a time.
_LOCK = threading.RLock()

#: The exports' own words (catalogue msgids; ``{name}`` fields filled in with str.format).
_TEXT = {"no_data": N_("No data"), "no_data_small": N_("No data, or a small figure not published"), "highlight": N_("Highlighted areas"), "north": N_("N"), "period": N_("Time period"), "filters": N_("Filters"), "notes": N_("Notes"), "generated": N_("Report generated on {d}"), "page": N_("Page {page}/{pages}"), "no_rows": N_("No rows."), "yes": N_("Yes"), "no": N_("No")}


def _t(lang: str | None = None) -> dict:
    """:data:`_TEXT` in ``lang`` (default: the user's)."""
    if lang is not None and lang not in LOCALES:
        raise ValueError(f"lang must be one of {sorted(LOCALES)}, got {lang!r}")
    return {k: gettext(msg, lang) for k, msg in _TEXT.items()}


# --------------------------------------------------------------------------- formatting


def _decimals_for(values: Sequence[float]) -> int:
    """Fewest decimals (by the range, at least) that keep distinct values distinct."""
    vals = np.asarray(values, dtype=float)
    if vals.size == 0 or np.all(vals == np.round(vals)):
        return 0
    spread = float(np.ptp(vals))
    start = 0 if spread >= 10 else 1 if spread >= 1 else 2
    distinct = len(np.unique(vals))
    for d in range(start, 7):
        if len(np.unique(np.round(vals, d))) == distinct:
            return d
    return 6


# --------------------------------------------------------------------------- CSV


def safe_cell(value):
    """A CSV cell that a spreadsheet shows rather than runs: text that begins like a formula
    (:data:`FORMULA_TRIGGERS`) gets a leading ``'``; anything else, numbers included, is
    returned as it is.

    >>> safe_cell("=1+2"), safe_cell("-3"), safe_cell(-3), safe_cell("Phường 1")
    ("'=1+2", "'-3", -3, 'Phường 1')
    """
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


def xlsx_cell(ws, row: int, column: int, value):
    """Write ``value`` into an openpyxl worksheet cell and return the cell; text is always a
    text cell.

    openpyxl stores any string that starts with ``=`` as a formula (and "#N/A" and the like
    as errors); here every string is a string cell, and one that begins like a formula is
    also marked quote-prefixed, so Excel keeps it text when someone edits the cell. The text
    is shown as it is, without the ``'`` a CSV needs. Characters a worksheet cannot hold
    (control characters other than tab, line feed and carriage return) are dropped rather
    than failing the whole download. Numbers, dates and booleans are written as they are.
    """

    if isinstance(value, str):
        value = ILLEGAL_CHARACTERS_RE.sub("", value)
    cell = ws.cell(row=row, column=column, value=value)
    if isinstance(value, str):
        cell.data_type = "s"
        if value.startswith(FORMULA_TRIGGERS):
            cell.quotePrefix = True
    return cell


def csv_bytes(df: pd.DataFrame, *, columns: Sequence[tuple[str, str]] | None = None, excel: bool = False) -> bytes:
    """``df`` as CSV: UTF-8 with BOM, CRLF line ends; comma separated with decimal points (for
    programs and QGIS), or with ``excel`` semicolon separated with decimal commas, as Excel
    set to Vietnamese reads it.

    ``columns`` picks and orders the fields and names their headers (``[(field, header), …]``);
    without it every column is written under its own name, except the geometry of a
    GeoDataFrame (name it in ``columns`` to get WKT). Text cells and headers that begin with
    ``= + - @``, a tab or a carriage return get a leading ``'`` so spreadsheets show them
    instead of running them; numbers (numeric columns) are written as they are, negative or
    not. Missing values are empty cells.
    """
    if columns is None:
        skip = {df.active_geometry_name} if isinstance(df, gpd.GeoDataFrame) else set()
        columns = [(c, str(c)) for c in df.columns if c not in skip]
    missing = [f for f, _ in columns if f not in df.columns]
    if missing:
        raise ValueError(f"columns not in the table: {', '.join(map(str, missing))}")
    out = pd.DataFrame(index=range(len(df)))
    for i, (field, _header) in enumerate(columns):
        col = df[field]
        if isinstance(col, pd.DataFrame):
            raise ValueError(f"column {field!r} appears more than once in the table")
        if isinstance(col.dtype, gpd.array.GeometryDtype):
            col = pd.Series(shapely.to_wkt(col.values, rounding_precision=-1), index=col.index,
                            dtype=object).where(~col.isna(), None)
        if pd.api.types.is_object_dtype(col.dtype) or pd.api.types.is_string_dtype(col.dtype) \
                or isinstance(col.dtype, pd.CategoricalDtype):
            out[i] = [safe_cell(v) for v in col.astype(object).tolist()]
        else:                                    # numbers, booleans, dates: written as they are
            out[i] = col.reset_index(drop=True)
    out.columns = [safe_cell(str(h)) for _f, h in columns]
    text = out.to_csv(index=False, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL,
                      sep=";" if excel else ",", decimal="," if excel else ".")
    return text.encode("utf-8-sig")


def _xlsx_format(kind: str) -> str | None:
    """Excel's number format of a column kind ("int", "floatN", "date"); None for text."""
    if kind == "int":
        return "#,##0"
    if kind.startswith("float"):
        n = int(kind[5:])
        return "#,##0" + ("." + "0" * n if n else "")
    return "dd/mm/yyyy" if kind == "date" else None


def xlsx_bytes(sheets: Sequence[tuple[str, pd.DataFrame, Sequence[tuple[str, str, str]]]], *,
               header: Sequence[tuple[str, str]] = (), title: str = "") -> bytes:
    """An Excel workbook, one sheet per ``(name, table, [(field, header, kind), …])``: on each
    sheet ``title``, the ``header`` lines (label, value: period, cùng kỳ, boundary, filters, date),
    a blank row, the column headers and every row. Numbers are numbers with the column's decimals
    (kind "int" or "floatN"), dates are dates shown dd/mm/yyyy, text is text (never a formula:
    :func:`xlsx_cell`); a suppressed "< 5" in a column of numbers stays text."""
    book = Workbook()
    book.remove(book.active)
    used: set[str] = set()
    for name, table, columns in sheets:
        # Excel refuses sheet names over 31 characters or with []:*?/\ (openpyxl does not fix them)
        clean = "".join(ch for ch in str(name) if ch not in "[]:*?/\\")[:31] or "Sheet"
        while clean in used:
            clean = clean[:28] + f" {len(used) + 1}"
        used.add(clean)
        ws = book.create_sheet(clean)
        row = 1
        if title:
            xlsx_cell(ws, row, 1, title).font = Font(bold=True, size=13)
            row += 1
        for label, value in header:
            xlsx_cell(ws, row, 1, label).font = Font(bold=True)
            xlsx_cell(ws, row, 2, value)
            row += 1
        row += 1 if (title or header) else 0
        for j, (_f, head, _kind) in enumerate(columns, start=1):
            xlsx_cell(ws, row, j, str(head)).font = Font(bold=True)
            ws.column_dimensions[get_column_letter(j)].width = max(8, min(40, len(str(head)) + 2))
        ws.freeze_panes = ws.cell(row=row + 1, column=1)
        for rec in table[[c[0] for c in columns]].itertuples(index=False):
            row += 1
            for j, (value, (_f, _h, kind)) in enumerate(zip(rec, columns), start=1):
                if value is None or (not isinstance(value, str) and pd.isna(value)):
                    continue
                if kind == "date" and isinstance(value, str):
                    value = dt.date.fromisoformat(value[:10])
                elif isinstance(value, np.generic):
                    value = value.item()
                if kind == "text" and not isinstance(value, str):
                    value = str(value)
                cell = xlsx_cell(ws, row, j, value)
                if not isinstance(value, str) and _xlsx_format(kind):
                    cell.number_format = _xlsx_format(kind)
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


def geojson_bytes(gdf: gpd.GeoDataFrame, metadata: Mapping) -> bytes:
    """``gdf`` as a GeoJSON FeatureCollection in WGS 84 with ``metadata`` as a top-level foreign
    member (RFC 7946 §6.1): what the layer is (period, boundary, categories, parameters)."""
    collection = json.loads(gdf.to_json(drop_id=True, to_wgs84=True, na="null", default=str))
    collection["metadata"] = dict(metadata)
    return json.dumps(collection, ensure_ascii=False, default=str).encode("utf-8")


# --------------------------------------------------------------------------- classes

#: Classification schemes for :func:`classify` and :func:`map_png` → mapclassify class, and the
#: natural-breaks sample size: the same as the map on screen (:mod:`geo.render.palette`).
SCHEMES = palette.SCHEMES
NATURAL_BREAKS_SAMPLE = palette.NATURAL_BREAKS_SAMPLE


@dataclass(frozen=True, eq=False)
class Classes:
    """Class breaks of a choropleth, as mapclassify computes them.

    ``bins`` are the upper bounds (inclusive) of the classes, ``lowest`` the smallest value,
    ``yb`` the class of each input value (``-1`` when missing) and ``counts`` how many values
    fall in each class. ``integral`` is true when the values and the bounds are whole numbers
    (counts), so labels can read ``0 – 4``, ``5 – 9`` instead of ``0 – 4``, ``4 – 9``.
    """

    scheme: str
    bins: tuple[float, ...]
    lowest: float
    yb: np.ndarray
    counts: tuple[int, ...]
    integral: bool

    @property
    def k(self) -> int:
        return len(self.bins)

    def limits(self) -> list[tuple[float, float]]:
        """``(lower, upper)`` of each class as shown in the legend."""
        out = []
        for i, upper in enumerate(self.bins):
            if i == 0:
                lower = self.lowest
            else:
                lower = self.bins[i - 1] + 1 if self.integral else self.bins[i - 1]
            out.append((min(lower, upper), upper))
        return out

    def labels(self, lang: str = "vi") -> list[str]:
        """Legend labels: ``"5 – 12"``, ``"1.234,5 – 2.000,0"`` (vi) …; one value alone."""
        d = _decimals_for([self.lowest, *self.bins]) if self.bins else 0
        return [number(lo, d, locale=lang) if lo == hi
                else f"{number(lo, d, locale=lang)} – {number(hi, d, locale=lang)}"
                for lo, hi in self.limits()]


def classify(values, scheme: str = "natural_breaks", k: int = 5) -> Classes:
    """Class breaks of ``values`` (missing values ignored) with mapclassify.

    ``scheme`` is one of :data:`SCHEMES`; ``"natural_breaks"`` is Fisher–Jenks (the optimal
    Jenks breaks, the same for the same data — mapclassify's ``NaturalBreaks`` is randomised).
    ``k`` is lowered to the number of distinct values when there are fewer; quantiles may
    merge tied breaks. ``bins`` equal ``mapclassify.<Scheme>(values, k).bins``.
    """
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {sorted(SCHEMES)}, got {scheme!r}")
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or not 1 <= k <= 12:
        raise ValueError(f"k must be a whole number from 1 to 12, got {k!r}")
    series = values if isinstance(values, pd.Series) else pd.Series(list(values), dtype=object)
    y = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    ok = np.isfinite(y)
    finite = y[ok]
    yb = np.full(len(y), -1, dtype=int)
    if finite.size == 0:
        return Classes(scheme, (), math.nan, yb, (), True)
    bins = palette.class_bins(finite, scheme, int(k))   # the same limits as the map on screen
    yb[ok] = np.searchsorted(bins, finite, side="left")
    counts = tuple(int(c) for c in np.bincount(yb[ok], minlength=len(bins)))
    integral = bool(np.all(finite == np.round(finite)) and np.all(bins == np.round(bins)))
    return Classes(scheme, tuple(float(b) for b in bins), float(finite.min()), yb, counts, integral)


def choropleth_classes(values, scheme: str = "natural_breaks", k: int = 5) -> tuple[Classes, np.ndarray]:
    """The classes of a choropleth as the map on screen draws them (``geo.render.maps.choropleth``).

    Returns the :func:`classify` classes of the values outside the white zero class
    (:func:`geo.render.palette.zero_class`; their ``yb`` is ``-1``) and the boolean mask of that class.
    """
    y = pd.to_numeric(values if isinstance(values, pd.Series) else pd.Series(list(values), dtype=object),
                      errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    zeros = palette.zero_class(y, scheme) if scheme in SCHEMES else np.zeros(len(y), bool)
    return classify(np.where(zeros, np.nan, y), scheme, k), zeros


# --------------------------------------------------------------------------- text helpers

_TEXT_TO_PATH = TextToPath()


def _font(size: float, weight: str = "normal", style: str = "normal") -> FontProperties:
    return FontProperties(family=FONT, size=size, weight=weight, style=style)


def _width_in(text: str, prop: FontProperties) -> float:
    """Width of ``text`` in inches when drawn with ``prop``."""
    if not text:
        return 0.0
    w, _h, _d = _TEXT_TO_PATH.get_text_width_height_descent(text, prop, ismath=False)
    return w / 72.0


def _wrap(text: str, prop: FontProperties, width_in: float, max_lines: int | None = None) -> list[str]:
    """Break ``text`` into lines no wider than ``width_in``; the last kept line gets ``…``."""
    lines: list[str] = []
    for para in str(text).splitlines() or [""]:
        line = ""
        for word in para.split(" "):
            candidate = f"{line} {word}" if line else word
            if line and _width_in(candidate, prop) > width_in:
                lines.append(line)
                line = word
            else:
                line = candidate
        lines.append(line)
    lines = [_fit(line, prop, width_in) for line in lines]
    if max_lines is not None and len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = _fit(lines[-1] + " …", prop, width_in, force=True)
    return lines


def _fit(text: str, prop: FontProperties, width_in: float, force: bool = False) -> str:
    """``text`` cut with ``…`` so it is no wider than ``width_in``."""
    if _width_in(text, prop) <= width_in and not (force and not text.endswith("…")):
        return text
    lo, hi = 0, len(text)
    while lo < hi:                                    # longest prefix that fits with the ellipsis
        mid = (lo + hi + 1) // 2
        if _width_in(text[:mid].rstrip() + "…", prop) <= width_in:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo].rstrip() + "…"


def _halo(width: float = 2.5):
    return [patheffects.withStroke(linewidth=width, foreground="white")]


# --------------------------------------------------------------------------- maps

#: Colours of ArcGIS's Hot Spot Analysis renderer, as on screen.
GISTAR_COLOURS = palette.GI_COLOURS


def gistar_categories(lang: str | None = None) -> dict[str, tuple[str, str]]:
    """``{code: (label, colour)}`` of the Gi* classes, hottest first, for ``categorical``
    (:data:`geo.render.palette.CLASSES`)."""
    return {code: (label, colour) for code, label, colour in palette.classes("gi", lang)}


def _to_metric(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    if gdf.crs is None:
        raise ValueError("the map layer has no CRS; set it (e.g. gdf.set_crs('EPSG:4326'))")
    if not gdf.crs.is_geographic:
        return gdf
    return to_metric(gdf)


def _nice_length(target_m: float) -> float:
    """The 1-2-5 round length closest (in ratio) to ``target_m``."""
    exp = math.floor(math.log10(target_m))
    candidates = [m * 10 ** e for e in (exp - 1, exp, exp + 1) for m in (1, 2, 5)]
    return min(candidates, key=lambda c: abs(math.log(c / target_m)))


def _distance_label(metres: float, lang: str) -> str:
    if metres >= 1000:
        km = metres / 1000
        return f"{number(km, 0 if km == round(km) else 1, locale=lang)} km"
    return f"{number(metres, 0, locale=lang)} m"


def _scale_bar_size(width: float, height: float) -> tuple[float, float, float]:
    """Round length (≈ 1/5 of the map width) and the box the bar and its labels take."""
    length = _nice_length(width / 5)
    return length, length + width * 0.05, height * 0.055


def _scale_bar(ax, x: float, y: float, length: float, lang: str) -> None:
    """A bar of ``length`` metres, alternately black and white, its labels above; (x, y) the box corner."""
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    width, height = x1 - x0, y1 - y0
    first = int(f"{length:.0e}"[0])
    parts = 4 if first in (1, 2) else 5
    bar_h = height * 0.011
    left, bottom = x + width * 0.025, y + height * 0.006
    seg = length / parts
    for i in range(parts):
        ax.add_patch(Rectangle((left + i * seg, bottom), seg, bar_h, facecolor="black" if i % 2 == 0 else "white",
                               edgecolor="black", linewidth=0.8, zorder=20))
    label_y = bottom + bar_h * 1.6
    kw = dict(ha="center", va="bottom", fontproperties=_font(8), zorder=21, path_effects=_halo())
    ax.text(left, label_y, "0", **kw)
    ax.text(left + length / 2, label_y, _distance_label(length / 2, lang), **kw)
    ax.text(left + length, label_y, _distance_label(length, lang), **kw)


def _north_arrow(ax, x: float, y: float, w: float, h: float, lang: str) -> None:
    """An arrow pointing up (grid north of the UTM map) with B/N above, in the box (x, y, w, h)."""
    cx, half = x + w / 2, w * 0.28
    base, tip, notch = y + h * 0.05, y + h * 0.72, y + h * 0.25
    ax.add_patch(Polygon([(cx, tip), (cx - half, base), (cx, notch)], closed=True, facecolor="black",
                         edgecolor="black", linewidth=0.8, zorder=20))
    ax.add_patch(Polygon([(cx, tip), (cx + half, base), (cx, notch)], closed=True, facecolor="white",
                         edgecolor="black", linewidth=0.8, zorder=20))
    ax.text(cx, tip + h * 0.04, _t(lang)["north"], ha="center", va="bottom",
            fontproperties=_font(11, "bold"), zorder=21, path_effects=_halo())


def _components(bounds: np.ndarray, gap: float) -> np.ndarray:
    """Label of each feature: features whose bounding boxes lie within ``gap`` are connected."""

    minx, miny, maxx, maxy = bounds.T
    dx = np.maximum(0, np.maximum(minx[:, None], minx[None, :]) - np.minimum(maxx[:, None], maxx[None, :]))
    dy = np.maximum(0, np.maximum(miny[:, None], miny[None, :]) - np.minimum(maxy[:, None], maxy[None, :]))
    return connected_components(np.hypot(dx, dy) <= gap, directed=False)[1]


def _outlying(data: gpd.GeoDataFrame) -> list[np.ndarray]:
    """Groups of features far from the rest (islands like Côn Đảo) that would shrink the map.

    A group is moved into an inset when it is small next to the main group and leaving it
    in place would at least double the drawn extent. Returns boolean masks, largest first.
    """
    n = len(data)
    ok = ~(data.geometry.isna() | data.geometry.is_empty).to_numpy()
    if n < 2 or n > 3000 or ok.sum() < 2:
        return []
    bounds = data.geometry.bounds.to_numpy()
    full = np.array([np.nanmin(bounds[ok, 0]), np.nanmin(bounds[ok, 1]), np.nanmax(bounds[ok, 2]),
                     np.nanmax(bounds[ok, 3])])
    labels = np.full(n, -1)
    labels[ok] = _components(bounds[ok], 0.08 * max(full[2] - full[0], full[3] - full[1]))
    areas = data.geometry.area.to_numpy()
    groups = [g for g in np.unique(labels[ok])]
    main = max(groups, key=lambda g: areas[labels == g].sum())
    main_mask = labels == main
    mb = bounds[main_mask]
    main_box = np.array([mb[:, 0].min(), mb[:, 1].min(), mb[:, 2].max(), mb[:, 3].max()])
    main_dim = max(main_box[2] - main_box[0], main_box[3] - main_box[1])
    candidates = []
    for g in groups:
        if g == main:
            continue
        gb = bounds[labels == g]
        dims = gb[:, 2].max() - gb[:, 0].min(), gb[:, 3].max() - gb[:, 1].min()
        if max(dims) <= 0.6 * main_dim:
            candidates.append((areas[labels == g].sum(), labels == g))
    if not candidates:
        return []
    kept = ~np.any([m for _a, m in candidates], axis=0) & ok
    kb = bounds[kept]
    kept_area = (kb[:, 2].max() - kb[:, 0].min()) * (kb[:, 3].max() - kb[:, 1].min())
    if (full[2] - full[0]) * (full[3] - full[1]) < 2 * kept_area:
        return []
    return [m for _a, m in sorted(candidates, key=lambda c: -c[0])[:3]]


def _core_bounds(geoms: gpd.GeoSeries) -> tuple[float, float, float, float]:
    """Bounds of the polygon parts that make up 98 % of the area (stray islets left out)."""
    parts = geoms.explode(ignore_index=True)
    area = parts.area.to_numpy()
    if area.sum() <= 0:
        return tuple(geoms.total_bounds)
    order = np.argsort(-area)
    keep = order[: int(np.searchsorted(np.cumsum(area[order]), 0.98 * area.sum())) + 1]
    return tuple(parts.iloc[keep].total_bounds)


_ANCHORS = ("lower right", "lower left", "upper left", "upper right",
            "center left", "center right", "lower center", "upper center")


def _place(size: tuple[float, float], xlim, ylim, geoms, taken: list, anchors=_ANCHORS):
    """Lower-left corner of a ``size`` box at the anchor overlapping the data and ``taken`` least."""
    (x0, x1), (y0, y1) = xlim, ylim
    w, h = size
    m = 0.015 * max(x1 - x0, y1 - y0)
    best = None
    for rank, anchor in enumerate(anchors):
        vert, horiz = anchor.split()
        bx = {"left": x0 + m, "right": x1 - m - w, "center": (x0 + x1 - w) / 2}[horiz]
        by = {"lower": y0 + m, "upper": y1 - m - h, "center": (y0 + y1 - h) / 2}[vert]
        box = shapely.box(bx, by, bx + w, by + h)
        cost = float(shapely.area(shapely.intersection(geoms, box)).sum())
        cost += sum(1e6 * box.intersection(t).area for t in taken)
        cost += (0 if rank < 4 else 0.02) * (x1 - x0) * (y1 - y0)     # corners first
        if best is None or cost < best[0]:
            best = (cost, anchor, box)
    taken.append(best[2])
    return best[2].bounds[:2], best[1]


def _draw_highlight(ax, layer: gpd.GeoDataFrame, colour: str) -> str:
    """Draw ``layer`` over the map; the kind of legend symbol it needs."""
    kind = "line"
    gtype = layer.geometry.geom_type
    polys = layer[gtype.isin(["Polygon", "MultiPolygon"])]
    lines = layer[gtype.isin(["LineString", "MultiLineString", "LinearRing"])]
    points = layer[gtype.isin(["Point", "MultiPoint"])]
    if len(polys):
        polys.boundary.plot(ax=ax, color="white", linewidth=3.2, zorder=10)
        polys.boundary.plot(ax=ax, color=colour, linewidth=1.6, zorder=11)
    if len(lines):
        lines.plot(ax=ax, color="white", linewidth=3.2, zorder=10)
        lines.plot(ax=ax, color=colour, linewidth=1.6, zorder=11)
    if len(points):
        points.plot(ax=ax, color=colour, markersize=14, edgecolor="white", linewidth=0.6, zorder=12)
        if len(points) == len(layer):
            kind = "point"
    return kind


def _declutter(boxes, occupied=()) -> np.ndarray:
    """Which of ``boxes`` (rows ``x0, y0, x1, y1``, most important first) to draw: each box that
    overlaps neither a box kept before it nor one of ``occupied`` (legend, scale bar …).

    Greedy, in the given order: matplotlib has no label placement of its own, and this is the
    whole of what the maps need (labels stay at their point; a crowded one is left out).
    """
    boxes = np.asarray(boxes, dtype=float).reshape(-1, 4)
    kept = [tuple(b) for b in np.asarray(occupied, dtype=float).reshape(-1, 4)]
    keep = np.zeros(len(boxes), bool)
    for i, (x0, y0, x1, y1) in enumerate(boxes):
        if all(x1 <= a0 or x0 >= a1 or y1 <= b0 or y0 >= b1 for a0, b0, a1, b1 in kept):
            keep[i] = True
            kept.append((x0, y0, x1, y1))
    return keep


def _draw_labels(ax, data: gpd.GeoDataFrame, field: str, taken: list) -> int:
    """Write ``data[field]`` at each unit's representative point, largest units first, leaving
    out labels that would overlap one already drawn, the boxes in ``taken`` or the map's edge.
    Returns how many were drawn."""
    renderer = ax.figure.canvas.get_renderer()
    ax.apply_aspect()                                # the axes' final place, as drawn
    order = np.argsort(-data.geometry.area.to_numpy(), kind="stable")
    points = data.geometry.representative_point()
    prop = _font(7 if len(data) <= 40 else 6)
    texts, boxes = [], []
    for i in order:
        value, point = data[field].iloc[i], points.iloc[i]
        if point is None or point.is_empty or value is None or (not isinstance(value, str) and pd.isna(value)):
            continue
        label = str(value).strip()
        if not label:
            continue
        t = ax.text(point.x, point.y, label, ha="center", va="center", fontproperties=prop, color="#222222",
                    zorder=15, path_effects=_halo(2), linespacing=1.05)
        bb = t.get_window_extent(renderer)
        texts.append(t)
        boxes.append((bb.x0 - 1, bb.y0 - 1, bb.x1 + 1, bb.y1 + 1))
    frame = ax.get_window_extent(renderer)
    occupied = [(*ax.transData.transform(b.bounds[:2]), *ax.transData.transform(b.bounds[2:])) for b in taken]
    inside = np.array([b[0] >= frame.x0 and b[1] >= frame.y0 and b[2] <= frame.x1 and b[3] <= frame.y1
                       for b in boxes], bool)
    keep = np.zeros(len(boxes), bool)
    inside = np.flatnonzero(inside)
    if len(inside):
        keep[inside] = _declutter(np.asarray(boxes)[inside], occupied)
    for t, k in zip(texts, keep):
        if not k:
            t.remove()
    return int(keep.sum())


def map_figure(gdf: gpd.GeoDataFrame, column: str, *, title: str, subtitle: str = "",
               legend_title: str = "", attribution: str = "", lang: str = "vi",
               scheme: str = "natural_breaks", k: int = 5, cmap: str = "YlOrRd",
               categorical: Mapping[str, tuple[str, str]] | None = None,
               highlight: gpd.GeoDataFrame | None = None, highlight_label: str | None = None,
               size: tuple[float, float] = (8, 8), insets: bool = True,
               label_field: str | None = None) -> Figure:
    """The map of :func:`map_png` as a matplotlib Figure (Agg canvas, DejaVu Sans)."""
    text = _t(lang)
    if column not in gdf.columns:
        raise ValueError(f"column {column!r} not in the map layer")
    if label_field is not None and label_field not in gdf.columns:
        raise ValueError(f"label_field {label_field!r} not in the map layer")
    if gdf.empty or gdf.geometry.is_empty.all():
        raise ValueError("the map layer has no geometry to draw")
    data = _to_metric(gdf).reset_index(drop=True)
    with _LOCK, matplotlib.rc_context(_RC):
        fig = Figure(figsize=size)
        FigureCanvasAgg(fig)
        fw, fh = size
        margin = 0.25                                          # inches
        y = fh - margin
        for line in _wrap(title, _font(15, "bold"), fw - 2 * margin, max_lines=2):
            fig.text(0.5, y / fh, line, ha="center", va="top", fontproperties=_font(15, "bold"))
            y -= 0.30
        if subtitle:
            y -= 0.02
            for line in _wrap(subtitle, _font(10), fw - 2 * margin, max_lines=2):
                fig.text(0.5, y / fh, line, ha="center", va="top", fontproperties=_font(10), color="#333333")
                y -= 0.20
        attribution_lines = _wrap(attribution, _font(7), fw * 0.7, max_lines=3) if attribution else []
        bottom = margin + 0.17 * len(attribution_lines) + 0.08
        box_w, box_h = fw - 2 * margin, y - 0.08 - bottom
        ax = fig.add_axes((margin / fw, bottom / fh, box_w / fw, box_h / fh))
        ax.set_axis_off()

        # ---- fill colours and legend entries
        edge = dict(edgecolor="#6b6b6b", linewidth=0.25)
        grey = to_rgba(palette.NO_DATA_COLOUR)
        if categorical is not None:
            codes = data[column].astype(object)
            colours = np.array([to_rgba(categorical[c][1]) if c in categorical else grey for c in codes])
            handles = [Patch(facecolor=col, label=lab, **edge) for lab, col in categorical.values()]
            missing = ~codes.isin(list(categorical)).to_numpy()
        else:
            classes, zeros = choropleth_classes(data[column], scheme, k)
            ramp = [to_rgba(c) for c in palette.ramp(cmap, classes.k)] if classes.k else []
            colours = np.array([to_rgba(palette.ZERO_COLOUR) if z else ramp[i] if i >= 0 else grey
                                for i, z in zip(classes.yb, zeros)])
            handles = [Patch(facecolor=c, label=lab, **edge) for c, lab in zip(ramp, classes.labels(lang))]
            if zeros.any():
                handles.insert(0, Patch(facecolor=palette.ZERO_COLOUR, label=number(0, 0, locale=lang), **edge))
            missing = (classes.yb < 0) & ~zeros
        if missing.any():
            small = "suppressed" in data.columns and bool(data["suppressed"].fillna(False).astype(bool).any())
            handles.append(Patch(facecolor=grey, label=text["no_data_small" if small else "no_data"], **edge))
        hl = None
        if highlight is not None and len(highlight):
            hl = highlight.to_crs(data.crs) if highlight.crs is not None else highlight.set_crs(data.crs)
            hl = hl.reset_index(drop=True)

        # ---- extent of the main part, widened to the shape of the axes
        outlying = _outlying(data) if insets else []
        main = ~np.any(outlying, axis=0) if outlying else np.ones(len(data), bool)
        west, south, east, north = data[main].total_bounds
        pad = 0.04 * max(east - west, north - south) or 500.0     # 500 m around a lone point
        west, south, east, north = west - pad, south - pad, east + pad, north + pad
        want = box_w / box_h
        if (east - west) / (north - south) < want:
            grow = ((north - south) * want - (east - west)) / 2
            west, east = west - grow, east + grow
        else:
            grow = ((east - west) / want - (north - south)) / 2
            south, north = south - grow, north + grow
        xlim, ylim = (west, east), (south, north)
        ax.set_xlim(*xlim)
        ax.set_ylim(*ylim)
        ax.set_aspect("equal", adjustable="box")
        width, height = east - west, north - south

        # ---- legend, insets, scale bar and north arrow where they cover the least
        renderer = fig.canvas.get_renderer()
        if hl is not None:
            handles.append(Line2D([], [], color="#08306b", linewidth=1.6, label=highlight_label or text["highlight"]))
        legend_kw = dict(handles=handles, title=legend_title or None, prop=_font(8.5),
                         title_fontproperties=_font(9, "bold"), frameon=True, framealpha=0.92,
                         edgecolor="#bbbbbb", fancybox=False, borderpad=0.6, handlelength=1.6,
                         handleheight=1.1, alignment="left", borderaxespad=0)
        probe = ax.legend(loc="lower left", **legend_kw)
        bb = probe.get_window_extent(renderer).transformed(ax.transData.inverted())
        probe.remove()
        geoms = data.geometry.values[main]
        taken: list = []
        (lx, ly), _anchor = _place((bb.width, bb.height), xlim, ylim, geoms, taken, _ANCHORS[:4])
        legend = ax.legend(loc="lower left", bbox_to_anchor=(lx, ly), bbox_transform=ax.transData, **legend_kw)
        legend.set_zorder(30)

        data[main].plot(ax=ax, color=list(colours[main]), **edge, zorder=2)
        hl_parts = [] if hl is None else [hl]
        for mask in outlying:
            part = data[mask]
            pw, ps, pe, pn = _core_bounds(part.geometry)
            ipad = 0.025 * max(width, height)
            label = str(part["name"].iloc[0]) if "name" in part.columns and mask.sum() == 1 else None
            label_h = 0.04 * height if label else 0
            bw, bh = pe - pw + 2 * ipad, pn - ps + 2 * ipad + label_h
            (ix, iy), _a = _place((bw, bh), xlim, ylim, geoms, taken)
            dx, dy = ix + ipad - pw, iy + ipad - ps
            window = (pw - ipad * 0.8, ps - ipad * 0.8, pe + ipad * 0.8, pn + ipad * 0.8)
            moved = part.set_geometry(part.geometry.clip_by_rect(*window).translate(dx, dy))
            ax.add_patch(Rectangle((ix, iy), bw, bh, facecolor="white", edgecolor="#888888", linewidth=0.8,
                                   zorder=3))
            moved.plot(ax=ax, color=list(colours[mask]), **edge, zorder=4)
            if label:
                ax.text(ix + bw / 2, iy + bh - label_h * 0.2, label, ha="center", va="top",
                        fontproperties=_font(7.5), color="#333333", zorder=5)
            if hl is not None:
                near = hl.intersects(shapely.box(*window))
                if near.any():
                    hl_parts[0] = hl_parts[0][~near]
                    hl_parts.append(hl[near].set_geometry(hl[near].geometry.clip_by_rect(*window).translate(dx, dy)))
        if hl_parts:
            kind = _draw_highlight(ax, pd.concat(hl_parts), "#08306b")
            if kind == "point":                       # swap the legend's line for a dot
                handles[-1] = Line2D([], [], marker="o", linestyle="", color="#08306b", markeredgecolor="white",
                                     markersize=6, label=handles[-1].get_label())
                legend.remove()
                legend_kw["handles"] = handles
                legend = ax.legend(loc="lower left", bbox_to_anchor=(lx, ly), bbox_transform=ax.transData,
                                   **legend_kw)
                legend.set_zorder(30)

        length, sw, sh = _scale_bar_size(width, height)
        (sx, sy), _a = _place((sw, sh), xlim, ylim, geoms, taken)
        _scale_bar(ax, sx, sy, length, lang)
        nw, nh = 0.07 * width, 0.11 * height
        (nx, ny), _a = _place((nw, nh), xlim, ylim, geoms, taken,
                              ("upper right", "upper left", "lower right", "lower left", "center right",
                               "center left"))
        _north_arrow(ax, nx, ny, nw, nh, lang)
        ax.set_xlim(*xlim)
        ax.set_ylim(*ylim)
        if label_field is not None:                  # the units of the main part (not the insets)
            _draw_labels(ax, data[main], label_field, taken)

        # ---- attribution and CRS
        yy = margin + 0.17 * (len(attribution_lines) - 1)
        for line in attribution_lines:
            fig.text(margin / fw, yy / fh, line, ha="left", va="bottom", fontproperties=_font(7), color="#555555")
            yy -= 0.17
        fig.text(1 - margin / fw, margin / fh, data.crs.name, ha="right", va="bottom",
                 fontproperties=_font(7), color="#555555")
    return fig


def map_png(gdf: gpd.GeoDataFrame, column: str, *, title: str, subtitle: str = "",
            legend_title: str = "", attribution: str = "", lang: str = "vi",
            scheme: str = "natural_breaks", k: int = 5, cmap: str = "YlOrRd",
            categorical: Mapping[str, tuple[str, str]] | None = None,
            highlight: gpd.GeoDataFrame | None = None, highlight_label: str | None = None,
            dpi: int = 150, size: tuple[float, float] = (8, 8), insets: bool = True,
            label_field: str | None = None) -> bytes:
    """A PNG map of ``gdf[column]`` of ``size`` inches at ``dpi`` (RGBA).

    Numbers are classed with :func:`choropleth_classes` (``scheme``, ``k``: the limits of the
    map on screen, zeros of a non-negative column in a white class) and coloured with the
    ColorBrewer ramp ``cmap`` (one of ``geo.render.palette.PALETTES``); with ``categorical`` (``{code: (label, colour)}``, e.g.
    :func:`gistar_categories`) the column holds codes coloured as given, in the legend in
    that order. Missing values are grey ("Không có dữ liệu"). ``highlight`` (DBSCAN spots,
    KDE contours, points) is outlined on top, labelled ``highlight_label``. The layer is
    drawn in UTM 48N (or the UTM zone of the data outside it); ``title`` and ``subtitle``
    (period and filters) head the map, the legend (``legend_title`` and the class limits
    in the number format of ``lang``) sits in its emptiest corner with a north arrow and a
    scale bar, and ``attribution`` runs along the bottom. With ``insets``, small groups of
    units far from the rest (Côn Đảo for Hồ Chí Minh City since 2025) are moved, at the same
    scale, into a framed box in an empty part of the map instead of shrinking it.
    With ``label_field``, the text of that column (e.g. "Phường Bến Thành\n123") is written
    small at each unit's representative point, largest units first, leaving out those that
    would overlap a label already drawn or the legend, scale bar, north arrow and insets.
    """
    fig = map_figure(gdf, column, title=title, subtitle=subtitle, legend_title=legend_title,
                     attribution=attribution, lang=lang, scheme=scheme, k=k, cmap=cmap,
                     categorical=categorical, highlight=highlight, highlight_label=highlight_label,
                     size=size, insets=insets, label_field=label_field)
    buf = io.BytesIO()
    with _LOCK, matplotlib.rc_context(_RC):
        fig.savefig(buf, format="png", dpi=dpi, facecolor="white", metadata={"Software": "hotspot138"})
    return buf.getvalue()


# --------------------------------------------------------------------------- PDF


def _cell_text(value, kind: str, lang: str) -> str:
    text = _t(lang)
    if value is None or (not isinstance(value, (str, bytes)) and pd.isna(value)):
        return MISSING
    if kind == "date" and isinstance(value, str):
        return date(dt.date.fromisoformat(value[:10]), locale=lang)
    if isinstance(value, str) and kind != "text":    # a suppressed "< 5" in a column of numbers
        return value
    if kind == "bool":
        return text["yes"] if bool(value) else text["no"]
    if kind == "int":
        return number(value, 0, locale=lang)
    if kind.startswith("float"):
        return number(value, int(kind[5:]), locale=lang)
    if isinstance(value, (dt.datetime, pd.Timestamp)):
        if value.hour or value.minute:
            return f"{date(value, locale=lang)} {value.hour:02d}:{value.minute:02d}"
        return date(value, locale=lang)
    if isinstance(value, dt.date):
        return date(value, locale=lang)
    if isinstance(value, (int, float, np.number)) and not isinstance(value, bool):  # a number among text
        return number(value, 0 if float(value).is_integer() else 2, locale=lang)   # ("< 5" of a viewer)
    return " ".join(str(value).split())


def _column_kind(series: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(series.dtype):
        return "bool"
    if pd.api.types.is_integer_dtype(series.dtype):
        return "int"
    if pd.api.types.is_float_dtype(series.dtype):
        vals = series.to_numpy(dtype=float, na_value=np.nan)
        vals = vals[np.isfinite(vals)]
        return "float0" if np.all(vals == np.round(vals)) else "float2"
    return "text"


def _putter(fig):
    """``put(x, y, text, font, …)`` on ``fig``, x and y in inches from the bottom left."""
    W, H = fig.get_size_inches()

    def put(x, y, s, prop, **kw):
        return fig.text(x / W, y / H, s, fontproperties=prop, **kw)
    return put


def report_pdf(*, title: str, period_text: str, filters_text: str, map_png: bytes,
               table: pd.DataFrame, table_columns: Sequence[tuple[str, str]],
               notes: Sequence[str] = (), lang: str = "vi",
               generated: dt.date | dt.datetime | None = None) -> bytes:
    """An A4 portrait PDF report: one page, and more when the table needs them.

    From the top: ``title``; "Thời gian: ``period_text``" and "Bộ lọc: ``filters_text``"
    ("Period"/"Filters" in English); the map picture (``map_png``, e.g. from
    :func:`map_png`) as large as leaves room for the table; the first rows of ``table``
    (``table_columns`` = ``[(field, header), …]`` or ``[(field, header, kind), …]`` with kind
    "text", "date", "int" or "floatN" for N decimals; numbers in the format of ``lang``,
    right-aligned) that fit; every further row on the following pages, in the same order,
    the header repeated; ``notes``; and a footer with the date of ``generated`` (default today
    in Hồ Chí Minh City) and "Trang i/n". Text is DejaVu Sans, embedded, so it can be
    searched and copied.
    """

    text = _t(lang)
    missing = [c[0] for c in table_columns if c[0] not in table.columns]
    if missing:
        raise ValueError(f"table_columns not in the table: {', '.join(map(str, missing))}")
    if not table_columns:
        raise ValueError("table_columns must name at least one column")
    if generated is None:
        generated = dt.datetime.now(zone()).date()
    image = imread(io.BytesIO(map_png), format="png")

    W, H = A4_PORTRAIT
    M = 0.6                                          # page margin, inches
    inner = W - 2 * M
    f_title, f_meta, f_label = _font(16, "bold"), _font(10), _font(10, "bold")
    f_head, f_cell, f_small, f_italic = _font(8, "bold"), _font(8), _font(8), _font(8, style="italic")
    line_meta, row_h = 0.2, 0.2

    with _LOCK, matplotlib.rc_context(_RC):
        fig = Figure(figsize=(W, H))
        FigureCanvasAgg(fig)

        put = _putter(fig)

        def rule(y, colour="#999999", lw=0.6):
            fig.add_artist(Line2D([M / W, (W - M) / W], [y / H, y / H], color=colour, linewidth=lw))

        # ---- header
        y = H - M
        for line in _wrap(title, f_title, inner, max_lines=2):
            put(M, y, line, f_title, va="top", ha="left", color="#7f0000")
            y -= 0.3
        y -= 0.05
        for label, value in ((text["period"], period_text), (text["filters"], filters_text)):
            head = f"{label}: "
            hw = _width_in(head, f_label)
            lines = _wrap(value or MISSING, f_meta, inner - hw, max_lines=3)
            put(M, y, head, f_label, va="top", ha="left")
            for line in lines:
                put(M + hw, y, line, f_meta, va="top", ha="left")
                y -= line_meta
        y -= 0.06
        rule(y, "#7f0000", 1.0)
        y -= 0.12
        header_bottom = y

        # ---- footer
        footer_y = M - 0.25

        # ---- notes (bottom up, above the footer)
        note_lines: list[str] = []
        for note in notes:
            wrapped = _wrap(str(note), f_small, inner - 0.15)
            note_lines += ["• " + wrapped[0]] + ["   " + w for w in wrapped[1:]]
        notes_h = (0.22 + 0.17 * len(note_lines)) if note_lines else 0.0
        content_bottom = footer_y + 0.35 + notes_h
        if note_lines:
            ny = footer_y + 0.3 + notes_h
            put(M, ny, f"{text['notes']}:", _font(8.5, "bold"), va="top", ha="left")
            ny -= 0.2
            for line in note_lines:
                put(M + 0.05, ny, line, f_small, va="top", ha="left")
                ny -= 0.17

        # ---- table: cell texts, column widths, header lines
        fields = [c[0] for c in table_columns]
        kinds = [c[2] if len(c) > 2 else _column_kind(table[c[0]]) if not isinstance(table[c[0]], pd.DataFrame)
                 else "text" for c in table_columns]
        pad = 0.06
        cells = [[_cell_text(v, kind, lang) for v in table[f].tolist()] for f, kind in zip(fields, kinds)]
        natural = []
        for (f, header, *_k), col in zip(table_columns, cells):
            longest_word = max((_width_in(w, f_head) for w in str(header).split()), default=0)
            natural.append(max([longest_word, *(_width_in(c, f_cell) for c in col)]) + 2 * pad)
        header_natural = [_width_in(str(c[1]), f_head) + 2 * pad for c in table_columns]
        widths = [max(n, min(hn, inner / len(natural))) for n, hn in zip(natural, header_natural)]
        if sum(widths) > inner:                      # cap the widest columns
            lo, hi = 0.0, max(widths)
            for _ in range(40):
                mid = (lo + hi) / 2
                lo, hi = (mid, hi) if sum(min(w, mid) for w in widths) <= inner else (lo, mid)
            widths = [min(w, lo) for w in widths]
        extra = inner - sum(widths)
        widths = [w + extra * w / sum(widths) for w in widths]
        headers = [_wrap(str(c[1]), f_head, w - 2 * pad, max_lines=2) for c, w in zip(table_columns, widths)]
        head_h = 0.08 + 0.15 * max(len(h) for h in headers)

        # Rows on the first page (below the map), then full pages of rows with the header repeated.
        available = header_bottom - content_bottom
        map_min_h = min(4.2, available * 0.5)
        first_rows = max(1, int((available - map_min_h - 0.25 - head_h - 0.1) / row_h))
        later_top = H - M - 0.35
        later_rows = max(1, int((later_top - (footer_y + 0.35) - head_h - 0.1) / row_h))
        n = len(table)
        chunks = [(0, min(n, first_rows))] + [(a, min(n, a + later_rows)) for a in range(first_rows, n, later_rows)]
        shown_first = chunks[0][1]
        table_h = head_h + row_h * max(shown_first, 1)
        map_h = max(1.0, min(available - table_h - 0.25, inner * image.shape[0] / image.shape[1]))

        # ---- map
        map_w = map_h * image.shape[1] / image.shape[0]
        if map_w > inner:
            map_w, map_h = inner, inner * image.shape[0] / image.shape[1]
        mx = (W - map_w) / 2
        max_ = fig.add_axes((mx / W, (header_bottom - map_h) / H, map_w / W, map_h / H))
        max_.imshow(image, interpolation="none")
        max_.set_axis_off()

        xs = np.concatenate([[M], M + np.cumsum(widths)])

        def draw_rows(fig, y, a, b):
            put = _putter(fig)
            fig.add_artist(Rectangle((M / W, (y - head_h) / H), inner / W, head_h / H, facecolor="#7f0000",
                                     edgecolor="none"))
            for i, lines in enumerate(headers):
                right = kinds[i] != "text"
                for j, line in enumerate(lines):
                    put(xs[i + 1] - pad if right else xs[i] + pad, y - 0.05 - 0.15 * j, line, f_head,
                        va="top", ha="right" if right else "left", color="white")
            y -= head_h
            if b == a:
                put(M + pad, y - row_h / 2, text["no_rows"], f_italic, va="center", ha="left", color="#444444")
                y -= row_h
            for r in range(a, b):
                if (r - a) % 2 == 1:
                    fig.add_artist(Rectangle((M / W, (y - row_h) / H), inner / W, row_h / H,
                                             facecolor="#f3eeee", edgecolor="none"))
                for i, col in enumerate(cells):
                    right = kinds[i] != "text"
                    cell = _fit(col[r], f_cell, widths[i] - 2 * pad)
                    put(xs[i + 1] - pad if right else xs[i] + pad, y - row_h / 2, cell, f_cell,
                        va="center_baseline", ha="right" if right else "left")
                y -= row_h
            fig.add_artist(Line2D([M / W, (W - M) / W], [y / H, y / H], color="#7f0000", linewidth=0.8))

        def footer(fig, i):
            put = _putter(fig)
            fig.add_artist(Line2D([M / W, (W - M) / W], [(footer_y + 0.2) / H] * 2, color="#999999", linewidth=0.6))
            put(M, footer_y, text["generated"].format(d=date(generated, locale=lang)), f_small, va="bottom",
                ha="left", color="#444444")
            put(W - M, footer_y, text["page"].format(page=i, pages=len(chunks)), f_small, va="bottom",
                ha="right", color="#444444")

        footer(fig, 1)
        draw_rows(fig, header_bottom - map_h - 0.25, *chunks[0])
        pages = [fig]
        for i, (a, b) in enumerate(chunks[1:], start=2):
            page = Figure(figsize=(W, H))
            FigureCanvasAgg(page)
            _putter(page)(M, H - M, title, _font(10, "bold"), va="top", ha="left", color="#7f0000")
            footer(page, i)
            draw_rows(page, later_top, a, b)
            pages.append(page)

        buf = io.BytesIO()
        with PdfPages(buf, metadata={"Title": title, "Creator": "hotspot138", "Subject": period_text}) as pdf:
            for page in pages:
                pdf.savefig(page, facecolor="white")
    return buf.getvalue()
