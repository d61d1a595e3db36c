"""The analysis methods and their parameters, declared once.

Each :class:`Method` lists its :class:`Param` s: the query/form argument, its label (an English
msgid marked with ``N_``, translated where it is shown), unit, kind (int, float, choice, date),
default, bounds or choices, and whether only analysts may set it. Defaults that are settings
(``DBSCAN_EPS_M``, ``HOTSPOT_PERMUTATIONS``, … in server.SETTINGS) are read from the running app's
config, else the declared fallback. Everything else is made from this table:

- the API's and the pages' argument checks: :func:`web.args.method_args`;
- the parameter inputs of the map pages: ``templates/_params.html`` (same min/max as the server);
- the README's table of methods and parameters: :func:`markdown` (``flask --app server methods``).

Adding a method = one module plus one registry entry: the statistics in ``clustering/`` (run on the
store's data by a function in ``geo.analysis``), then one :class:`Method` in :data:`METHODS` here.

>>> METHODS["gistar"].param("permutations").default, METHODS["dbscan"].param("eps").default
(999, None)
>>> METHODS["dbscan"].keywords({"eps": 100.0, "min_samples": 5, "method": "dbscan"})
{'eps_m': 100.0, 'min_samples': 5, 'method': 'dbscan'}
"""
from __future__ import annotations

from dataclasses import dataclass

from flask import current_app, has_app_context

from geo.format import N_

#: where a map page takes a parameter: "form" (its URL, and an input of its form), "url" (its URL
#: only) or "" (the API only)
ON_PAGE = ("form", "url", "")


@dataclass(frozen=True)
class Param:
    name: str  # the query / form argument
    label: str  # an English msgid (N_)
    kind: str  # "int", "float", "choice", "date" or "text" (a text area, e.g. one site per line)
    fallback: object = None  # the default without an app, or when ``setting`` is not set; None: none
    setting: str | None = None  # the SETTINGS entry holding the default
    unit: str = ""
    minimum: float | None = None
    exclusive: bool = False  # the minimum itself is refused ("above 0")
    maximum: float | None = None
    choices: tuple[tuple[str, str], ...] = ()  # (value, label msgid)
    analyst: bool = False  # only analysts may set it; others get the default
    keyword: str | None = None  # the analysis function's argument, when it is not ``name``
    page: str = "form"  # see ON_PAGE
    note: str = ""  # what the default means when it is not a value ("automatic")

    @property
    def default(self):
        """The setting's value, else the fallback; a setting of 0 of an "automatic" parameter is None."""
        if self.setting and has_app_context():
            value = current_app.config.get(self.setting, self.fallback)
            return None if self.note == "automatic" and not value else value
        return self.fallback

    @property
    def values(self) -> tuple[str, ...]:
        return tuple(v for v, _ in self.choices)

    @property
    def step(self) -> float | int | None:
        """The form's step: whole numbers, or tenths for a float."""
        return {"int": 1, "float": 0.1}.get(self.kind)

    def html(self, value) -> str:
        """``value`` as an HTML number input writes it (250.0 → "250"; None → "")."""
        if value is None:
            return ""
        return str(int(value)) if float(value).is_integer() else repr(float(value))

    @property
    def form_min(self):
        """The form's ``min``: the bound, or for an exclusive one the next value at the form's step."""
        if self.minimum is None:
            return None
        return round(self.minimum + self.step, 6) if self.exclusive else self.minimum


@dataclass(frozen=True)
class Method:
    name: str
    label: str  # an English msgid (N_)
    params: tuple[Param, ...]
    endpoint: str | None = None  # the API path under /api/v1, if any
    page: str | None = None  # the map page that shows it, if any

    def param(self, name: str) -> Param:
        return next(p for p in self.params if p.name == name)

    def keywords(self, values: dict) -> dict:
        """Parsed values (by argument name) as the analysis function's keyword arguments."""
        return {(p.keyword or p.name): values[p.name] for p in self.params if p.name in values}


PERMUTATIONS = Param("permutations", N_("Permutations"), "int", 999, "HOTSPOT_PERMUTATIONS",
                     unit="permutations", minimum=99, maximum=9999, page="url")
MIN_SAMPLES = dict(kind="int", unit="incidents", minimum=1, maximum=100_000, analyst=True)
RADIUS = dict(kind="float", unit="m", minimum=0, exclusive=True, maximum=5000, analyst=True, keyword="eps_m")
POINTS = Param("points_max", N_("Incident points shown at most"), "int", 5000, "INCIDENT_POINTS_MAX",
               unit="incidents", minimum=1, maximum=100_000, analyst=True, page="url")

METHODS: dict[str, Method] = {m.name: m for m in [
    Method("gistar", N_("Gi* hot spots (Getis-Ord)"), (PERMUTATIONS,), endpoint="/gistar", page="hotspots"),
    Method("lisa", N_("Local Moran's I clusters and outliers"), (PERMUTATIONS,), endpoint="/lisa"),
    Method("compare", N_("Change against the base period"), (
        Param("base_start", N_("Base from"), "date", note="same period last year"),
        Param("base_end", N_("Base to"), "date", note="same period last year"),
    ), endpoint="/compare", page="compare"),
    Method("emerging", N_("Emerging hot spots"), (
        Param("bins", N_("Time bins"), "choice", "quarter",
              choices=(("month", N_("Months")), ("quarter", N_("Quarters")))),
    ), endpoint="/emerging", page="trends"),
    Method("dbscan", N_("DBSCAN spots"), (
        Param("eps", N_("DBSCAN radius (m)"), setting="DBSCAN_EPS_M", note="automatic", **RADIUS),
        Param("min_samples", N_("Minimum incidents"), setting="DBSCAN_MIN_SAMPLES", note="automatic",
              **MIN_SAMPLES),
        Param("method", N_("Clustering"), "choice", "dbscan",
              choices=(("dbscan", N_("DBSCAN")), ("hdbscan", N_("HDBSCAN"))), page=""),
        Param("max_span", N_("Largest spot span (m)"), "float", 1500.0, "SPOT_MAX_SPAN_M", unit="m", minimum=0,
              exclusive=True, maximum=20_000, analyst=True, keyword="max_span_m", page="url"),
    ), endpoint="/dbscan", page="hotspots"),
    Method("kde", N_("Kernel density"), (
        Param("bandwidth", N_("KDE bandwidth (m)"), "float", unit="m", minimum=0, exclusive=True,
              maximum=20_000, analyst=True, keyword="bandwidth_m", note="automatic"),
        Param("cell", N_("KDE cell (m)"), "float", unit="m", minimum=0, exclusive=True, maximum=5000,
              analyst=True, keyword="cell_m", note="automatic"),
        Param("kernel", N_("KDE kernel"), "choice", "quartic", "KDE_KERNEL",
              choices=(("quartic", N_("Quartic")), ("gaussian", N_("Gaussian"))), page="url"),
    ), endpoint="/kde", page="hotspots"),
    Method("complex-areas", N_("Complex areas"), (
        Param("unit", N_("Unit"), "choice", "ward",
              choices=(("ward", N_("Wards")), ("spot", N_("DBSCAN spots")))),
        Param("top", N_("Areas shown"), "int", unit="areas", minimum=1, page="", note="all"),
    ), endpoint="/complex-areas", page="complex"),
    Method("complex-spots", N_("Complex areas by DBSCAN spot (unit=spot)"), (
        Param("eps", N_("Spot radius (m)"), fallback=150.0, setting="COMPLEX_SPOT_EPS_M", page="url", **RADIUS),
        Param("min_samples", N_("Minimum incidents per spot"), fallback=30, setting="COMPLEX_SPOT_MIN_SAMPLES",
              page="url", **MIN_SAMPLES),
    ), endpoint="/complex-areas", page="complex"),
    Method("incident-points", N_("Incident points (analysts only)"), (POINTS,), page="hotspots"),
    Method("repeat-places", N_("Repeat places"), (
        Param("min_count", N_("Minimum incidents per place"), "int", 3, "REPEAT_PLACE_MIN", unit="incidents",
              minimum=2, maximum=100_000, analyst=True, page="url"),
        POINTS,
    ), page="places"),
    Method("near-repeat", N_("Near repeats (Knox test)"), (
        Param("distance", N_("Distance band (m)"), "float", 100.0, unit="m", minimum=0, exclusive=True,
              maximum=1000, keyword="distance_m"),
        Param("distance_bands", N_("Distance bands"), "int", 5, unit="bands", minimum=1, maximum=20),
        Param("days", N_("Time band (days)"), "int", 7, unit="days", minimum=1, maximum=90, keyword="day_bandwidth"),
        Param("day_bands", N_("Time bands"), "int", 4, unit="bands", minimum=1, maximum=20),
        Param("permutations", N_("Permutations"), "int", 99, unit="permutations", minimum=99, maximum=9999,
              analyst=True),
        Param("max_incidents", N_("Incidents compared at most"), "int", 20_000, "NEAR_REPEAT_MAX_INCIDENTS",
              unit="incidents", minimum=100, maximum=100_000, analyst=True, page="url"),
    ), endpoint="/near-repeat", page="near-repeat"),
    Method("sites", N_("Camera and patrol sites"), (
        Param("purpose", N_("Sites for"), "choice", "camera",
              choices=(("camera", N_("Cameras")), ("patrol", N_("Foot patrols")))),
        Param("k", N_("Number of sites"), "int", 5, unit="sites", minimum=1, maximum=30),
        Param("radius", N_("Reach of a site (m)"), "float", unit="m", minimum=0, exclusive=True, maximum=2000,
              keyword="radius_m", note="by purpose (`CAMERA_RADIUS_M`, `PATROL_RADIUS_M`)"),
        Param("spacing", N_("Grid of possible sites (m)"), "float", 50.0, unit="m", minimum=10, maximum=500,
              keyword="spacing_m"),
        Param("candidates", N_("Possible sites"), "choice", "grid",
              choices=(("grid", N_("Every grid cell with incidents")), ("places", N_("Repeat places")))),
        Param("gateway", N_("Only near the border, within (m; 0: anywhere)"), "float", 0.0, unit="m", minimum=0,
              maximum=5000, keyword="gateway_m"),
        Param("weigh", N_("How incidents count"), "choice", "count",
              choices=(("count", N_("Each incident once")), ("harm", N_("Serious incidents more (harm)")))),
        Param("existing", N_("Existing sites (one “longitude, latitude” per line)"), "text", ""),
    ), endpoint="/sites", page="sites"),
    Method("forecast", N_("Forecast"), (
        Param("horizon", N_("Forecast for"), "choice", "quarter", choices=(
            ("month", N_("the next month")), ("quarter", N_("the next quarter")),
            ("half", N_("the next 6 months")), ("year", N_("the next year")))),
    ), endpoint="/forecast", page="forecast"),
]}


def default(method: str, name: str):
    """The default of parameter ``name`` of ``method`` (the app's setting, else the fallback)."""
    return METHODS[method].param(name).default


#: The reach of a site by purpose when the request gives none: (setting, fallback metres).
SITE_RADIUS = {"camera": ("CAMERA_RADIUS_M", 75.0), "patrol": ("PATROL_RADIUS_M", 400.0)}


def site_radius(purpose: str, radius: float | None = None) -> float:
    """``radius``, else the default reach of a camera or a foot patrol (CAMERA_RADIUS_M, PATROL_RADIUS_M)."""
    if radius:
        return float(radius)
    setting, fallback = SITE_RADIUS[purpose]
    return float(current_app.config.get(setting, fallback)) if has_app_context() else fallback


def of_page(page: str) -> list[Param]:
    """The parameters a map page takes from its URL, once each, in the order of the registry."""
    out: dict[str, Param] = {}
    for m in METHODS.values():
        if m.page == page:
            for p in m.params:
                if p.page and p.name not in out:
                    out[p.name] = p
    return list(out.values())


def _bounds(p: Param) -> str:
    if p.choices:
        return " / ".join(f"`{v}`" for v in p.values)
    if p.kind == "date":
        return "YYYY-MM-DD"
    if p.kind == "text":
        return "text"
    lo = "" if p.minimum is None else f"{'>' if p.exclusive else '≥'} {p.minimum:g}"
    hi = "" if p.maximum is None else f"≤ {p.maximum:g}"
    return ", ".join(x for x in (lo, hi) if x)


def _default_text(p: Param) -> str:
    value = p.fallback
    text = "empty" if p.kind == "text" and not value else p.note if value is None else f"`{value}`" if p.choices else p.html(value)
    return text + (f" (`{p.setting}`)" if p.setting else "")


def markdown() -> str:
    """The README's table of the methods and their parameters (English, the fallback defaults)."""
    rows = ["| method | endpoint | parameter | kind | unit | default | allowed | who may set it |",
            "|---|---|---|---|---|---|---|---|"]
    for m in METHODS.values():
        where = f"`/api/v1{m.endpoint}`" if m.endpoint else f"page `{m.page}`"
        for p in m.params:
            rows.append(f"| {m.label} | {where} | `{p.name}` | {p.kind} | {p.unit} | {_default_text(p)} | "
                        f"{_bounds(p)} | {'analysts' if p.analyst else 'everyone'} |")
    return "\n".join(rows) + "\n"
