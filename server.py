"""The Flask application: settings, the store, the command line, pages and the HTTP API.

``create_app(config=None)`` applies the defaults of :data:`SETTINGS`, then the
environment, then ``config``; importing this module builds nothing.
Run it with ``flask --app server run`` or ``python server.py``.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import sys
from dataclasses import dataclass
from urllib.parse import urlencode
from pathlib import Path

import click
from flask import Blueprint, Flask, current_app, has_request_context, jsonify, render_template, request
from flask_babel import Babel
from sqlalchemy.exc import DatabaseError, IntegrityError, OperationalError, ProgrammingError
from werkzeug.exceptions import HTTPException
from werkzeug.routing import IntegerConverter

ROOT = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Setting:
    name: str
    default: object
    help: str


SETTINGS = [
    Setting("DATABASE_URL", None, "SQLAlchemy URL of the store; default: SQLite file instance/hotspot.db"),
    Setting("SECRET_KEY", None, "Key that signs sessions; default: a random key kept in instance/secret_key"),
    Setting("BOUNDARY_SOURCE_DIR", str(ROOT.parent / "shared" / "data" / "boundaries"),
            "Folder holding the prepared boundary files named in data/boundaries/registry.json"),
    Setting("DEFAULT_BOUNDARY", "hcmc-2025", "Boundary version shown when none is chosen"),
    Setting("JOIN_TOLERANCE_M", 50.0,
            "A point in no ward but this close (metres) to one is counted in the nearest"),
    Setting("METRIC_CRS", "EPSG:32648", "Projected CRS for distances and areas (UTM 48N covers HCMC and Hà Nội)"),
    Setting("MAX_CONTENT_LENGTH", 200 * 1024 * 1024, "Largest upload accepted, in bytes"),
    Setting("DEMO_INCIDENTS", 60_000, "Number of synthetic incidents `demo-data` creates"),
    Setting("TILE_URL", "", "Tile server URL template ({z}/{x}/{y}); empty: no base tiles, ward outlines only"),
    Setting("TILE_ATTRIBUTION", "", "Attribution shown with TILE_URL's tiles"),
    Setting("SESSION_COOKIE_SECURE", False, "Send the session cookie over HTTPS only (set behind HTTPS)"),
    Setting("BABEL_DEFAULT_LOCALE", "vi", "Language of the pages unless the user picks another (vi or en)"),
    Setting("TRUSTED_PROXIES", "",
            "Comma-separated addresses or CIDR networks of the reverse proxies whose X-Forwarded-For and "
            "X-Forwarded-Proto are believed (e.g. 127.0.0.1); empty: none, the socket peer is the client"),
    Setting("TOKEN_LIFETIME_DAYS", 90, "Days a new personal API token stays valid"),
    Setting("ANALYSIS_INLINE_INCIDENTS", 200_000,
            "Incidents (times its passes) an analysis such as DBSCAN or KDE computes within the request; "
            "more runs as a background job"),
    Setting("ANALYSIS_MAX_INCIDENTS", 2_000_000,
            "Incidents (times its passes) above which an analysis is refused: the user narrows the request"),
    Setting("HDBSCAN_INLINE_INCIDENTS", 20_000,
            "Incidents HDBSCAN clusters within the request (its time grows with their square); more: a job"),
    Setting("HDBSCAN_MAX_INCIDENTS", 100_000, "Incidents above which HDBSCAN is refused"),
    Setting("FORECAST_INLINE_CELLS", 100_000,
            "Forecast cells times forecast runs (the forecast and its backtest) computed within the request; "
            "more: a job"),
    Setting("FORECAST_MAX_CELLS", 40_000_000, "Forecast cells times runs above which a forecast is refused"),
    Setting("JOB_WORKER", "thread",
            "Who runs background jobs: thread (a thread in each web process) or external "
            "(`flask --app server worker`)"),
    Setting("IMPORT_MAX_COLUMNS", 500, "Columns an imported incident file may have"),
    Setting("IMPORT_MAX_CELLS", 50_000_000, "Cells (rows times columns) an imported incident file may have"),
    Setting("IMPORT_MAX_FIELD_CHARS", 10_000,
            "Characters a field of an imported incident may have; longer rows are rejected"),
    Setting("MIN_PUBLISHED_COUNT", 5, "Viewers and committee members see no count below this (1 to N-1 are "
                                      "suppressed); analysts and admins see every figure"),
    Setting("RESPONSE_CACHE_MB", 128, "Memory per worker for serialised API responses (plain and gzip)"),
]
LANGUAGES = ("vi", "en")


class RowId(IntegerConverter):
    """``<id:name>`` in a route: a row id, at most a 64-bit integer (a larger one is no row: 404, where
    the database would fail with a 500)."""

    def __init__(self, url_map, **kwargs):
        super().__init__(url_map, max=2 ** 63 - 1)


def _coerce(value: str, default):
    if isinstance(default, bool):
        return value.lower() in ("1", "true", "yes", "on")
    if isinstance(default, int):
        return int(value)
    if isinstance(default, float):
        return float(value)
    return value


def create_app(config: dict | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    for s in SETTINGS:
        app.config[s.name] = s.default
    for s in SETTINGS:
        if s.name in os.environ:
            app.config[s.name] = _coerce(os.environ[s.name], s.default)
    app.config.update(config or {})
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    if not app.config["DATABASE_URL"]:
        app.config["DATABASE_URL"] = f"sqlite:///{Path(app.instance_path) / 'hotspot.db'}"
    if not app.config["SECRET_KEY"]:
        app.config["SECRET_KEY"] = _instance_secret(Path(app.instance_path))

    app.url_map.converters["id"] = RowId
    Babel(app, locale_selector=_select_locale, default_translation_directories=str(ROOT / "translations"))
    _template_helpers(app)
    import admin
    import auth
    from pages import pages as map_pages

    auth.init_app(app)
    admin.init_app(app)
    app.register_blueprint(pages)
    app.register_blueprint(map_pages)
    app.register_blueprint(api, url_prefix="/api/v1")
    from committee import committee as committee_pages
    app.register_blueprint(committee_pages)
    from geo.errors import InputError

    from geo import jobs

    import pages as page_views

    jobs.register("api", _run_api_job)
    jobs.register("page", page_views.run_page_job)
    app.register_error_handler(InputError, _input_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(OperationalError, _store_down)
    app.register_error_handler(DatabaseError, _store_down)
    register_cli(app)
    # forwarded headers count only when they come from our own proxy (auth.TrustedProxyFix)
    app.wsgi_app = auth.TrustedProxyFix(app.wsgi_app, app.config["TRUSTED_PROXIES"])
    app.extensions["response_cache"] = ResponseCache(app.config["RESPONSE_CACHE_MB"] * 1024 * 1024)
    return app


def _template_helpers(app: Flask) -> None:
    from flask_babel import format_date, format_decimal, get_locale

    from geo.categories import label

    app.jinja_env.globals.update(
        format_decimal=format_decimal, format_date=format_date, get_locale=get_locale,
        category_label=lambda code: label(code, str(get_locale())),
        lang_url=lambda lang: request.path + "?" + urlencode(
            [*((k, v) for k, v in request.args.items(multi=True) if k != "lang"), ("lang", lang)]))

    @app.after_request
    def remember_language(response):
        lang = request.args.get("lang")
        if lang in LANGUAGES:
            response.set_cookie("lang", lang, max_age=365 * 86400, samesite="Lax", httponly=True)
        return response


def _instance_secret(instance: Path) -> str:
    path = instance / "secret_key"
    if not path.exists():
        path.write_text(os.urandom(32).hex())
        path.chmod(0o600)
    return path.read_text().strip()


def _select_locale():
    if not has_request_context():  # the command line and background jobs
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    lang = request.args.get("lang") or request.cookies.get("lang")
    if lang in LANGUAGES:
        return lang
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def engine():
    """One engine per app (and per URL), created on first use."""
    from geo.store import make_engine

    app = current_app._get_current_object()
    eng = app.extensions.get("hotspot_engine")
    if eng is None:
        eng = app.extensions["hotspot_engine"] = make_engine(app.config["DATABASE_URL"])
    return eng


def _store_down(exc):
    """The store cannot be reached (server down, file locked or unreadable): 503, never a trace."""
    from flask_babel import gettext as _

    if isinstance(exc, (IntegrityError, ProgrammingError)):
        raise exc  # a fault in the program, not in the store

    current_app.logger.error("store unavailable: %s", exc)
    message = _("The data store cannot be reached right now. Try again in a moment; if it persists, "
                "tell the administrator.")
    if request.path.startswith("/api/"):
        return jsonify(error=message), 503
    # rendered without the context processors: Flask-Login's would query the store again
    return current_app.jinja_env.get_template("unavailable.html").render(message=message), 503


def _http_error(exc):
    """HTTP errors as JSON for the API and as a page in the user's language elsewhere."""
    if request.path.startswith("/api/"):
        return jsonify(error=exc.description), exc.code
    return render_template("error.html", message=exc.description, code=exc.code), exc.code


def _input_error(exc):
    if request.path.startswith("/api/"):
        return jsonify(error=str(exc)), 400
    return render_template("error.html", message=str(exc)), 400


# --------------------------------------------------------------------------- pages

pages = Blueprint("home", __name__)


HEALTH_LOCK_WAIT_MS = 2000  # the health probe waits this long for a writer's lock, then calls the store busy


def store_status(eng) -> tuple[str, str]:
    """``("ok" | "read_only" | "unreachable", detail)``: whether the store answers and takes a write.

    The probe is a real write statement (it changes no row) in a transaction that is rolled back:
    a read-only SQLite file or mount, ``PRAGMA query_only``, a read-only PostgreSQL transaction or a
    standby in recovery all refuse it. A store busy with another writer (an import) is writable: ok.
    """
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    try:
        with eng.connect() as conn:
            sqlite = conn.dialect.name == "sqlite"
            if sqlite:
                before = conn.exec_driver_sql("PRAGMA busy_timeout").scalar()
                conn.exec_driver_sql(f"PRAGMA busy_timeout = {HEALTH_LOCK_WAIT_MS}")
            elif conn.dialect.name == "postgresql":
                conn.exec_driver_sql(f"SET LOCAL lock_timeout = {HEALTH_LOCK_WAIT_MS}")
            try:
                conn.execute(text("UPDATE user_account SET id = id WHERE 1 = 0"))
            finally:
                conn.rollback()
                if sqlite:
                    conn.exec_driver_sql(f"PRAGMA busy_timeout = {int(before)}")
                    conn.rollback()
    except DBAPIError as exc:
        orig = exc.orig
        code = getattr(orig, "sqlite_errorname", None) or getattr(orig, "sqlstate", None) or ""
        if code.startswith("SQLITE_READONLY") or code == "25006":  # 25006: read_only_sql_transaction
            return "read_only", code
        if code in ("SQLITE_BUSY", "SQLITE_LOCKED", "55P03"):  # 55P03: lock_not_available
            return "ok", "busy"
        return "unreachable", code or orig.__class__.__name__
    except Exception as exc:  # the store cannot be reached at all: say so, do not crash
        return "unreachable", exc.__class__.__name__
    return "ok", ""


@pages.get("/healthz")
def healthz():
    status, detail = store_status(engine())
    if status == "ok":
        return jsonify(status="ok")
    current_app.logger.error("health check: store %s (%s)", status, detail)
    return jsonify(status=status, store=detail), 503


@pages.get("/")
def home():
    from geo import queries

    from geo.analysis import cached

    return render_template("home.html", summary=cached("summary", engine(), {}, lambda: queries.summary(engine())))


# --------------------------------------------------------------------------- API

api = Blueprint("api", __name__)


def _date_arg(name: str, default: dt.date | None = None) -> dt.date:
    from geo.errors import InputError

    value = request.args.get(name)
    if not value:
        if default is None:
            raise InputError(f"`{name}` is required (YYYY-MM-DD).")
        return default
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise InputError(f"`{name}` was {value!r} but is expected as YYYY-MM-DD.") from None


def area_query_args() -> dict:
    """The query parameters every area endpoint shares: boundary, start and end (or a named
    ``period`` such as ``2024-Q1``, ``2024-H1:stat``, ``2024``), category."""
    from clustering.periods import parse_period
    from geo.errors import InputError

    boundary = request.args.get("boundary") or current_app.config["DEFAULT_BOUNDARY"]
    spec = request.args.get("period")
    if spec and not (request.args.get("start") or request.args.get("end")):
        try:
            p = parse_period(spec)
        except InputError as exc:
            raise InputError(str(exc).replace("`spec`", "`period`", 1)) from None
        start, end = p.start, p.end
    else:
        start = _date_arg("start")
        end = _date_arg("end")
    if end < start:
        raise InputError(f"`end` ({end}) is before `start` ({start}).")
    cats = [c for c in (request.args.get("category") or "").split(",") if c]
    return dict(boundary=boundary, start=start, end=end, categories=cats)


def published_minimum() -> int | None:
    """The smallest count the current user may see: None (every figure) for analysts and admins,
    else MIN_PUBLISHED_COUNT (see geo.disclosure)."""
    from flask_login import current_user

    if current_user.is_authenticated and current_user.can("analyst"):
        return None
    return current_app.config["MIN_PUBLISHED_COUNT"]


class ResponseCache:
    """Serialised API bodies, plain and gzip, with their ETag; an LRU bounded in bytes.

    Written here because the bodies are keyed by data version and disclosure level, which a
    generic HTTP cache in front of the service cannot see. ``stats`` counts hits and
    serialisations."""

    def __init__(self, max_bytes: int):
        import threading
        from collections import OrderedDict

        self.max_bytes, self.size = max_bytes, 0
        self.entries: OrderedDict = OrderedDict()
        self.stats = {"hits": 0, "serialised": 0}
        self._lock = threading.Lock()

    def get(self, key, build) -> tuple[bytes, bytes, str]:
        with self._lock:
            if key in self.entries:
                self.entries.move_to_end(key)
                self.stats["hits"] += 1
                return self.entries[key]
        import gzip
        import hashlib

        body = build()
        entry = (body, gzip.compress(body, compresslevel=6, mtime=0), hashlib.sha256(body).hexdigest()[:32])
        with self._lock:
            self.stats["serialised"] += 1
            if key not in self.entries:
                self.entries[key] = entry
                self.size += len(entry[0]) + len(entry[1])
            while self.size > self.max_bytes and len(self.entries) > 1:
                _, old = self.entries.popitem(last=False)
                self.size -= len(old[0]) + len(old[1])
        return entry


def response_cache() -> ResponseCache:
    return current_app.extensions["response_cache"]


def geojson_text(gdf, **members) -> str:
    """An RFC 7946 FeatureCollection (WGS 84), with extra top-level members such as ``meta``."""
    body = gdf.to_json(drop_id=True, to_wgs84=True, na="null")
    if members:
        fc = json.loads(body)
        fc.update(members)
        body = json.dumps(fc, ensure_ascii=False, default=str)
    return body


def send_cached(serialise, minimum: int | None):
    """The GeoJSON bytes of ``serialise()``, made once per data version, request, language and
    disclosure level (``minimum``), sent with a strong ETag (304 on If-None-Match),
    ``Cache-Control: private, no-cache`` and gzip when the client accepts it."""
    from flask_babel import get_locale

    from geo import analysis

    key = (request.path, tuple(sorted(request.args.items(multi=True))), str(get_locale()), minimum,
           str(engine().url), analysis.data_version(engine()))
    body, gz, etag = response_cache().get(key, serialise)
    zipped = request.accept_encodings["gzip"] > 0
    resp = current_app.response_class(gz if zipped else body, mimetype="application/geo+json")
    if zipped:
        resp.headers["Content-Encoding"] = "gzip"
    resp.set_etag(etag + ("-gz" if zipped else ""))  # one strong ETag per representation
    resp.headers["Cache-Control"] = "private, no-cache"
    resp.vary.add("Accept-Encoding")
    return resp.make_conditional(request)


def geojson_response(build, selection: dict | None = None, *, kde: bool = False):
    """``build(minimum)`` — a GeoDataFrame, or (GeoDataFrame, extra top-level members such as
    ``meta``) — as cached GeoJSON (:func:`send_cached`).

    ``minimum`` is :func:`published_minimum`; below analyst, a ``selection`` (boundary,
    start, end, categories) with too few incidents is refused first."""
    from geo import disclosure

    minimum = published_minimum()

    def serialise() -> bytes:
        if minimum and selection is not None:
            disclosure.check_selection(engine(), minimum, kde=kde, **selection)
        result = build(minimum)
        gdf, members = result if isinstance(result, tuple) else (result, {})
        return geojson_text(gdf, **members).encode("utf-8")
    return send_cached(serialise, minimum)


@api.get("/areas")
def areas():
    from geo import queries

    args = area_query_args()

    def build(minimum):
        return _protected_areas(args, minimum) if minimum else queries.area_counts(engine(), **args)
    return geojson_response(build, args)


def _number_arg(name: str, default, *, kind=float, minimum=None, exclusive=True, maximum=None):
    """A numeric query parameter, checked; ``None`` default means optional."""
    from geo.errors import InputError

    raw = request.args.get(name)
    if raw in (None, ""):
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise InputError(f"`{name}` was {raw!r} but is expected to be a "
                         f"{'whole number' if kind is int else 'number'}.") from None
    if value != value or (minimum is not None and (value <= minimum if exclusive else value < minimum)):
        raise InputError(f"`{name}` was {raw!r} but must be {'above' if exclusive else 'at least'} {minimum}.")
    if maximum is not None and value > maximum:
        raise InputError(f"`{name}` was {raw!r} but must be at most {maximum}.")
    return value


def analyst_arg(name: str, default, **kw):
    """A tuning parameter (eps, bandwidth, …): analysts may set it, others get the default."""
    from flask import abort
    from flask_login import current_user

    if request.args.get(name) not in (None, "") and not current_user.can("analyst"):
        abort(403, description=f"Only analysts may set `{name}`.")
    return _number_arg(name, default, **kw)


def _choice_arg(name: str, default: str, allowed: tuple[str, ...]) -> str:
    from geo.errors import InputError

    value = request.args.get(name) or default
    if value not in allowed:
        raise InputError(f"`{name}` was {value!r} but is expected to be one of {', '.join(allowed)}.")
    return value


def _analysis_args() -> dict:
    args = area_query_args()
    args["categories"] = tuple(args["categories"])
    return args


def _protected_areas(args: dict, minimum: int):
    """The areas API's figures as users below analyst see them (cached: the ward panel reads one row)."""
    from geo import analysis, disclosure, queries

    sel = dict(args, categories=list(args["categories"]))
    return analysis.cached("areas-protected", engine(), dict(args, m=minimum),
                           lambda: disclosure.areas(queries.area_counts(engine(), **sel), minimum))


@api.get("/ward/<code>")
def ward(code):
    from geo import analysis, disclosure

    args = _analysis_args()
    detail = analysis.ward_detail(engine(), code, **args)
    minimum = published_minimum()
    if minimum:
        disclosure.check_selection(engine(), minimum, **args)
        row = _protected_areas(args, minimum).set_index("code").loc[code].to_dict()
        detail = disclosure.ward_detail(detail, row, minimum)
    return jsonify(detail)


@api.get("/gistar")
def gistar():
    from geo import analysis, disclosure

    args = _analysis_args()
    permutations = _number_arg("permutations", 999, kind=int, minimum=99, exclusive=False, maximum=9999)
    keep = ["code", "name", "count", "harm", "per_km2", "gi_z", "gi_p", "gi_p_norm", "gi_q", "hotspot",
            "hotspot_code", "hotspot_vi", "geometry"]

    def build(minimum):
        gdf = analysis.gistar_wards(engine(), **args, permutations=permutations)[keep]
        return disclosure.wards(gdf, minimum) if minimum else gdf
    return geojson_response(build, args)


@api.get("/lisa")
def lisa():
    from geo import analysis, disclosure

    args = _analysis_args()
    permutations = _number_arg("permutations", 999, kind=int, minimum=99, exclusive=False, maximum=9999)
    keep = ["code", "name", "count", "lisa_i", "lisa_z", "lisa_p", "lisa_q", "lisa_code", "lisa_label",
            "lisa_label_vi", "geometry"]

    def build(minimum):
        gdf = analysis.lisa_wards(engine(), **args, permutations=permutations)[keep]
        return disclosure.wards(gdf, minimum) if minimum else gdf
    return geojson_response(build, args)


@api.get("/compare")
def compare():
    from geo import analysis, disclosure

    args = _analysis_args()
    base_start = _date_arg("base_start") if request.args.get("base_start") else None
    base_end = _date_arg("base_end") if request.args.get("base_end") else None

    def build(minimum):
        gdf, meta = analysis.compare_wards(engine(), **args, base_start=base_start, base_end=base_end)
        if minimum:
            gdf, meta = disclosure.compare(gdf, meta, minimum)
        return gdf, {"meta": meta}
    return geojson_response(build, args)


@api.get("/emerging")
def emerging():
    from geo import analysis, disclosure

    args = _analysis_args()
    bins = _choice_arg("bins", "quarter", ("month", "quarter"))

    def build(minimum):
        gdf, _ = analysis.emerging_wards(engine(), **args, bins=bins)
        meta = {"bins": gdf.attrs["bins"], "bins_en": gdf.attrs["bins_en"]}
        if minimum:
            gdf = disclosure.series(gdf, minimum)
        return gdf.rename(columns={"pattern": "trend"}), {"meta": meta}
    return geojson_response(build, args)


@api.get("/dbscan")
def dbscan():
    args = dict(_analysis_args(), eps_m=analyst_arg("eps", 250.0, minimum=0, maximum=5000),
                min_samples=analyst_arg("min_samples", 20, kind=int, minimum=1, exclusive=False, maximum=100_000),
                method=_choice_arg("method", "dbscan", ("dbscan", "hdbscan")))
    return budgeted_response("dbscan", args)


@api.get("/kde")
def kde():
    args = dict(_analysis_args(), bandwidth_m=analyst_arg("bandwidth", None, minimum=0, maximum=20_000),
                cell_m=analyst_arg("cell", None, minimum=0, maximum=5_000),
                kernel=_choice_arg("kernel", "quartic", ("quartic", "gaussian")))
    return budgeted_response("kde", args)


@api.get("/complex-areas")
def complex_areas():
    from geo import analysis, disclosure

    args = _analysis_args()
    top = _number_arg("top", None, kind=int, minimum=1, exclusive=False)
    if _choice_arg("unit", "ward", ("ward", "spot")) == "spot":
        args = dict(args, top=top, eps_m=analyst_arg("eps", 150.0, minimum=0, maximum=5000),
                    min_samples=analyst_arg("min_samples", 30, kind=int, minimum=1, exclusive=False,
                                            maximum=100_000))
        return budgeted_response("complex-spots", args)

    def build(minimum):
        gdf = analysis.complex_areas(engine(), **args, top=top)
        return disclosure.ranked(gdf, minimum) if minimum else gdf
    return geojson_response(build, args)


# Each body is made for one disclosure level (``minimum``, see published_minimum), so a job's stored
# result is what its requester may see.
def _dbscan_body(eng, a, minimum):
    from geo import analysis, disclosure

    spots = analysis.dbscan_spots(eng, **a)
    return geojson_text(disclosure.spots(spots, minimum) if minimum else spots)


def _kde_body(eng, a, minimum):
    from geo import analysis, disclosure

    res = analysis.kde_surface(eng, **a)
    contours = res.contours()
    if minimum:
        contours = disclosure.selection_contours(eng, contours, minimum, **{k: a[k] for k in PERIOD_KEYS})
    return geojson_text(contours, meta={"bandwidth_m": res.bandwidth_m, "cell_m": res.cell_m,
                                        "kernel": res.kernel})


def _complex_spots_body(eng, a, minimum):
    from geo import analysis, disclosure

    gdf = analysis.complex_spots(eng, **a)
    return geojson_text(disclosure.ranked(disclosure.spots(gdf, minimum), minimum) if minimum else gdf)


# the analyses whose cost grows with the incidents: answered inline, as a background job or refused
API_BODIES = {"dbscan": _dbscan_body, "kde": _kde_body, "complex-spots": _complex_spots_body}
PERIOD_KEYS = ("boundary", "start", "end", "categories")


def to_params(args: dict) -> dict:
    """Analysis arguments as JSON values (dates as ISO text), for a job row."""
    return {k: v.isoformat() if isinstance(v, dt.date) else list(v) if isinstance(v, tuple) else v
            for k, v in args.items()}


def from_params(params: dict, date_keys=("start", "end", "base_start", "base_end")) -> dict:
    out = {k: dt.date.fromisoformat(v) if k in date_keys and v else v for k, v in params.items()}
    if "categories" in out:
        out["categories"] = tuple(out["categories"])
    return out


def run_budgeted(kind: str, what: str, args: dict, compute, params: dict, url: str | None = None):
    """``("inline", compute())`` when the analysis ``what`` over ``args`` is within the inline budget;
    else the background job of ``kind`` with ``params`` as ``("done" | "pending" | "failed", job)``
    (``url``: where its result is asked for). Raises TooCostly (400) over the hard cap, before any
    work."""
    from geo import analysis, jobs

    b = analysis.budget(engine(), what, current_app.config, method=args.get("method", "dbscan"),
                        **{k: args[k] for k in PERIOD_KEYS if k in args})
    if b.mode == "inline":
        return "inline", compute()
    app = current_app._get_current_object()
    job = jobs.submit(app, engine(), kind, dict(params, url=url or request.full_path.rstrip("?")),
                      analysis.data_version(engine()))
    return {"done": "done", "failed": "failed"}.get(job.status, "pending"), job


def job_failure(job) -> tuple[str, int]:
    from flask_babel import gettext as _

    if job.error:
        return job.error, 400
    return _("The computation failed; try again later or tell the administrator."), 500


class _NotReady(Exception):
    """The answer is not GeoJSON yet (a job is pending or failed): ``response`` says so, uncached."""

    def __init__(self, response):
        super().__init__()
        self.response = response


def budgeted_response(name: str, args: dict):
    """Answer the analysis ``name``: its GeoJSON (200, cached as bytes), 202 with the job while it is
    computed, or 400 (too costly, or too few incidents to publish)."""
    from geo import disclosure

    minimum = published_minimum()

    def serialise() -> bytes:
        if minimum:
            disclosure.check_selection(engine(), minimum, kde=name == "kde", **{k: args[k] for k in PERIOD_KEYS})
        state, value = run_budgeted("api:" + name, name, args, lambda: API_BODIES[name](engine(), args, minimum),
                                    {"name": name, "args": to_params(args), "minimum": minimum})
        if state in ("inline", "done"):
            return (value if state == "inline" else value.result).encode("utf-8")
        if state == "failed":
            message, code = job_failure(value)
            raise _NotReady((jsonify(error=message), code))
        raise _NotReady(pending_json(value))
    try:
        return send_cached(serialise, minimum)
    except _NotReady as exc:
        return exc.response


def pending_json(job):
    from flask import url_for

    res = jsonify(status="pending", job=job.id, poll=json.loads(job.params)["url"],
                  status_url=url_for("api.job_status", job_id=job.id))
    res.status_code = 202
    res.headers["Retry-After"] = "3"
    return res


def _run_api_job(app, params: dict) -> str:
    return API_BODIES[params["name"]](engine(), from_params(params["args"]), params.get("minimum"))


@api.get("/jobs/<id:job_id>")
def job_status(job_id):
    """A background job's state; jobs hold parameters only, so any signed-in user may see them."""
    from flask import abort
    from flask_babel import gettext as _

    from geo import jobs

    job = jobs.find(engine(), job_id)
    if job is None:
        abort(404, description=_("No such job."))
    when = {k: (getattr(job, k).isoformat() if getattr(job, k) else None)
            for k in ("created_at", "started_at", "finished_at")}
    error = job_failure(job)[0] if job.status == "failed" else None
    return jsonify(job=job.id, kind=job.kind, status=job.status, poll=json.loads(job.params)["url"],
                   error=error, **when)


# --------------------------------------------------------------------------- command line

def register_cli(app: Flask) -> None:
    from geo import boundaries as gb
    from geo.errors import InputError

    def fail(exc: Exception):
        click.secho(f"Error: {exc}", fg="red", err=True)
        sys.exit(1)

    def eng():
        from geo.store import make_engine

        return make_engine(app.config["DATABASE_URL"])

    @app.cli.command("init-db")
    def init_db():
        """Create the store, or upgrade it to the newest schema."""
        from geo.store import upgrade

        upgrade(app.config["DATABASE_URL"])
        click.echo(f"Store ready: {_safe_url(app.config['DATABASE_URL'])}")

    @app.cli.command("create-user")
    @click.argument("username")
    @click.option("--role", type=click.Choice(["viewer", "committee", "analyst", "admin"]), required=True)
    @click.option("--password", default=None,
                  help="At least 12 characters, not a common one; generated when omitted.")
    @click.option("--full-name", default="")
    @click.option("--if-missing", is_flag=True, help="Do nothing when the user exists.")
    def create_user_cmd(username, role, password, full_name, if_missing):
        """Create an account (the generated password is printed once)."""
        from auth import create_user
        from geo.store import User
        from sqlalchemy import select

        e = eng()
        with e.connect() as conn:
            exists = conn.execute(select(User.id).where(User.username == username)).first()
        if exists and if_missing:
            click.echo(f"User {username!r} exists; sign in with its password "
                       f"(or: flask --app server set-password {username}).")
            return
        try:
            pw = create_user(e, username, role, password, full_name)
        except InputError as exc:
            fail(exc)
        click.echo(f"Created {role} {username!r}." + ("" if password else f" Password: {pw}"))

    @app.cli.command("set-password")
    @click.argument("username")
    @click.option("--password", default=None,
                  help="At least 12 characters, not a common one; generated when omitted.")
    def set_password_cmd(username, password):
        """Set a new password for an account (printed once when generated); ends its sessions."""
        from auth import set_password

        try:
            pw = set_password(eng(), username, password)
        except InputError as exc:
            fail(exc)
        click.echo(f"Password of {username!r} changed; its sessions have ended."
                   + ("" if password else f" New password: {pw}"))

    @app.cli.command("create-token")
    @click.argument("username")
    @click.option("--name", default="", help="What the token is for.")
    @click.option("--days", type=int, default=None, help="Days the token stays valid (TOKEN_LIFETIME_DAYS).")
    def create_token_cmd(username, name, days):
        """Create a personal API token (printed once; send it as Authorization: Bearer TOKEN)."""
        from auth import new_token

        try:
            click.echo(new_token(eng(), username, name,
                                 app.config["TOKEN_LIFETIME_DAYS"] if days is None else days))
        except InputError as exc:
            fail(exc)

    @app.cli.command("backup")
    @click.argument("file", type=click.Path(dir_okay=False))
    def backup_cmd(file):
        """Copy the store to FILE while the service runs (SQLite online backup, or pg_dump)."""
        from geo.backup import backup

        try:
            click.echo(f"Backup written to {backup(app.config['DATABASE_URL'], file)}.")
        except InputError as exc:
            fail(exc)

    @app.cli.command("restore")
    @click.argument("file", type=click.Path(exists=True, dir_okay=False))
    @click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
    def restore_cmd(file, yes):
        """Replace the store with the backup FILE."""
        from geo.backup import restore

        if not yes:
            click.confirm(f"Replace the store {_safe_url(app.config['DATABASE_URL'])} with {file}?", abort=True)
        try:
            restore(app.config["DATABASE_URL"], file)
        except InputError as exc:
            fail(exc)
        click.echo("Store restored.")

    @app.cli.command("load-shipped-boundaries")
    @click.option("--source-dir", default=None, help="Folder with the prepared files (BOUNDARY_SOURCE_DIR).")
    def load_shipped(source_dir):
        """Load the boundary sets named in data/boundaries/registry.json (hash-checked)."""
        try:
            loaded = gb.load_shipped(eng(), source_dir or app.config["BOUNDARY_SOURCE_DIR"])
        except InputError as exc:
            fail(exc)
        click.echo("Loaded: " + ", ".join(loaded) if loaded else "Boundary sets already loaded.")

    @app.cli.command("load-boundaries")
    @click.argument("file", type=click.Path(exists=True, dir_okay=False))
    @click.option("--name", required=True, help="Name of the new boundary version, e.g. hcmc-2025.")
    @click.option("--title", default="")
    @click.option("--code-field", default="code", show_default=True)
    @click.option("--name-field", default="name", show_default=True)
    @click.option("--parent-code-field", default=None)
    @click.option("--parent-name-field", default=None)
    @click.option("--level-field", default=None)
    @click.option("--population-field", default=None)
    @click.option("--layer", default=None, help="Layer of a GeoPackage.")
    @click.option("--crs", default=None, help="CRS when the file declares none, e.g. EPSG:3405.")
    @click.option("--valid-from", default=None, help="YYYY-MM-DD")
    @click.option("--valid-to", default=None, help="YYYY-MM-DD")
    @click.option("--source", default="")
    @click.option("--licence", default="")
    @click.option("--attribution", default="")
    @click.option("--replace", is_flag=True, help="Replace a version of the same name.")
    def load_boundaries(file, name, title, code_field, name_field, parent_code_field, parent_name_field,
                        level_field, population_field, layer, crs, valid_from, valid_to, source, licence,
                        attribution, replace):
        """Load a boundary layer (GeoJSON, GeoPackage, zipped Shapefile) as a named version."""
        fields = gb.FieldMap(code=code_field, name=name_field, parent_code=parent_code_field,
                             parent_name=parent_name_field, level=level_field, population=population_field)
        try:
            areas = gb.read_layer(file, fields, layer=layer, crs=crs)
            gb.save_version(eng(), areas, name, title=title, valid_from=valid_from, valid_to=valid_to,
                            source=source or Path(file).name, licence=licence, attribution=attribution,
                            sha256=gb.sha256_of(file), replace=replace)
        except (InputError, ValueError) as exc:
            fail(exc)
        click.echo(f"Loaded {len(areas)} units as {name!r}.")

    @app.cli.command("load-crosswalk")
    @click.argument("file", type=click.Path(exists=True, dir_okay=False))
    @click.option("--old", required=True, help="Old boundary version")
    @click.option("--new", required=True, help="New boundary version")
    def load_crosswalk(file, old, new):
        """Load an old -> new unit crosswalk (CSV: old_code, new_code, area_share)."""
        try:
            n = gb.save_crosswalk(eng(), file, old, new)
        except InputError as exc:
            fail(exc)
        click.echo(f"Loaded {n} crosswalk rows {old} -> {new}.")

    @app.cli.command("import-incidents")
    @click.argument("file", type=click.Path(exists=True, dir_okay=False))
    @click.option("--source", required=True, help="System the records come from; ids are unique per source.")
    @click.option("--map", "mapping", multiple=True, metavar="FIELD=HEADER",
                  help="Use column HEADER for FIELD (e.g. --map occurred_at='Ngày'). Repeatable.")
    @click.option("--crs", default=None, help="CRS of the coordinates (default WGS 84), e.g. EPSG:3405, "
                                              "VN2000:105.75.")
    @click.option("--user", default="", help="Who imports (kept with the batch).")
    @click.option("--rejects-out", default=None, help="Where to write the rejected rows (CSV).")
    def import_incidents(file, source, mapping, crs, user, rejects_out):
        """Import incidents from a CSV, XLSX or GeoJSON file."""
        run_import(app, eng(), file, source=source, mapping=mapping, crs=crs, user=user,
                   rejects_out=rejects_out)

    @app.cli.command("worker")
    @click.option("--idle-exit", type=float, default=None,
                  help="Stop after this many seconds without a job (default: run until stopped).")
    def worker_cmd(idle_exit):
        """Run the background analyses one at a time (with JOB_WORKER=external); several may run."""
        from geo import jobs

        click.echo("Running background jobs; stop with Ctrl+C.")
        try:
            n = jobs.work(app, eng(), idle_seconds=idle_exit)
        except KeyboardInterrupt:
            return
        click.echo(f"Jobs run: {n}.")

    @app.cli.command("demo-data")
    @click.option("-n", "count", default=None, type=int, help="Number of incidents (DEMO_INCIDENTS).")
    @click.option("--seed", default=138, show_default=True)
    def demo_data(count, seed):
        """Create and import the synthetic demo incidents (HCMC, 2023-2025)."""
        from geo import demo
        from geo.boundaries import load_areas

        n = count or app.config["DEMO_INCIDENTS"]
        out_dir = Path(app.instance_path) / "demo"
        out_dir.mkdir(exist_ok=True)
        path = out_dir / f"demo_incidents_{n}_{seed}.csv"
        e = eng()
        if not path.exists():
            try:
                wards = load_areas(e, "hcmc-2025")
            except InputError as exc:
                fail(exc)
            records, truth = demo.generate(wards, n=n, seed=seed)
            demo.write_csv(records, path)
            truth.to_csv(out_dir / f"demo_truth_{n}_{seed}.csv", index=False)
        run_import(app, e, str(path), source="demo", mapping=(), crs=None, user="demo",
                   rejects_out=None)

    @app.cli.command("export-geojson")
    @click.argument("out", type=click.Path(dir_okay=False, writable=True))
    @click.option("--boundary", default=None, help="Boundary version (DEFAULT_BOUNDARY).")
    @click.option("--start", required=True, help="YYYY-MM-DD")
    @click.option("--end", required=True, help="YYYY-MM-DD")
    @click.option("--category", default="", help="Comma-separated category or group codes.")
    def export_geojson(out, boundary, start, end, category):
        """Write incident counts per area as an RFC 7946 GeoJSON file."""
        from geo import queries

        try:
            gdf = queries.area_counts(eng(), boundary=boundary or app.config["DEFAULT_BOUNDARY"],
                                      start=dt.date.fromisoformat(start), end=dt.date.fromisoformat(end),
                                      categories=[c for c in category.split(",") if c])
        except (InputError, ValueError) as exc:
            fail(exc)
        Path(out).write_text(gdf.to_json(drop_id=True, to_wgs84=True), encoding="utf-8")
        click.echo(f"Wrote {len(gdf)} areas to {out}.")


def run_import(app, eng, file, *, source, mapping, crs, user, rejects_out):
    """The import command's body: progress bar, counts, rejected-rows report, exit status."""
    from geo.errors import InputError
    from geo.importer import import_file
    from geo.parsing import ReadLimits, incident_file_kind

    try:  # the checks of the web upload: the type from the content, ZIP traversal and bombs
        incident_file_kind(Path(file), Path(file).name)
    except InputError as exc:
        click.secho(f"Error: {exc}", fg="red", err=True)
        sys.exit(1)
    pairs = {}
    for m in mapping:
        if "=" not in m:
            click.secho(f"Error: --map {m!r} is not FIELD=HEADER.", fg="red", err=True)
            sys.exit(2)
        k, v = m.split("=", 1)
        pairs[k.strip()] = v.strip()
    stages = ["read", "validate", "join", "write", "aggregate", "done"]
    with click.progressbar(length=len(stages), label=f"Importing {Path(file).name}",
                           item_show_func=lambda s: s) as bar:
        def progress(stage):
            bar.update(1, stage)
        try:
            result = import_file(eng, file, source=source, mapping=pairs or None, crs=crs,
                                 imported_by=user, progress=progress,
                                 tolerance_m=app.config["JOIN_TOLERANCE_M"],
                                 limits=ReadLimits.from_config(app.config))
        except InputError as exc:
            res = getattr(exc, "result", None)
            bar.render_finish()
            if res is not None and res.rejects is not None and len(res.rejects):
                where = _write_rejects(app, res, rejects_out)
                click.echo(f"Rejected rows: {where}", err=True)
            click.secho(f"Error: {exc}", fg="red", err=True)
            sys.exit(1)
    for w in result.warnings:
        click.secho(f"Warning: {w}", fg="yellow")
    click.echo(f"Accepted {result.accepted:,}, updated {result.updated:,}, rejected {result.rejected:,} "
               f"(batch {result.batch_id}).")
    total = result.accepted + result.updated
    for name, n in result.outside.items():
        if n < total and (n or result.nearest.get(name)):  # skip versions the file does not touch
            click.echo(f"  {name}: {n:,} outside every unit, {result.nearest.get(name, 0):,} placed in "
                       f"the nearest unit (within {app.config['JOIN_TOLERANCE_M']:g} m)")
    if result.rejected:
        click.echo(f"Rejected rows: {_write_rejects(app, result, rejects_out)}")


def _write_rejects(app, result, rejects_out) -> str:
    path = Path(rejects_out) if rejects_out else (
        Path(app.instance_path) / "rejected" / f"{Path(result.file_name).stem}_rejected.csv")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(result.rejects_csv, encoding="utf-8-sig")
    return str(path)


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


if __name__ == "__main__":
    create_app().run(host="127.0.0.1", port=int(os.environ.get("PORT", 5000)))
