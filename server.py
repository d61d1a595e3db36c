"""The Flask application: the settings table, the app factory and the error handlers.

``create_app(config=None)`` applies the defaults of :data:`SETTINGS`, then the
environment, then ``config``; importing this module builds nothing.
Run it with ``flask --app server run`` or ``python server.py``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import Flask, current_app, jsonify, render_template, request
from flask_babel import gettext as _
from sqlalchemy.exc import DatabaseError, IntegrityError, OperationalError, ProgrammingError
from werkzeug.exceptions import HTTPException

import web
from geo.errors import InputError
from geo.errors import message as error_message
from geo.format import N_
from geo.ingest import shipped
from geo.resources import INSTALLED, ROOT, resource
from geo.store import jobs
from web import admin, api, args, auth, boundaries, categories, cli, committee, home, maps, responses


@dataclass(frozen=True)
class Setting:
    name: str
    default: object
    help: str


SETTINGS = [
    Setting("DATABASE_URL", None, "SQLAlchemy URL of the store; default: SQLite file instance/hotspot.db"),
    Setting("SECRET_KEY", None, "Key that signs sessions; default: a random key kept in instance/secret_key"),
    Setting("BOUNDARY_SOURCE_DIR", None,
            "Folder holding the prepared boundary files named in data/boundaries/registry.json; default: "
            "../shared/data/boundaries beside a source checkout, instance/boundaries in an installed service"),
    Setting("DEFAULT_BOUNDARY", None, "Boundary version shown when none is chosen; default: the first of BOUNDARY_SETS"),
    Setting("JOIN_TOLERANCE_M", 50.0,
            "A point in no ward but this close (metres) to one is counted in the nearest. Distances and "
            "areas are measured in the UTM zone of the data (48N for HCMC and Hà Nội), chosen by "
            "clustering.projection.metric_crs_for; there is no setting for it"),
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
    Setting("FORECAST_INLINE_CELLS", 2_000_000,
            "Forecast cells times forecast runs (the forecast and its backtest) computed within the request; "
            "more: a job"),
    Setting("FORECAST_MAX_CELLS", 1_000_000_000,
            "Forecast cells times runs above which a forecast is refused (Hồ Chí Minh City at 150 m: about 44 million)"),
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
    Setting("DBSCAN_EPS_M", 0.0, "Default DBSCAN radius (metres) of the hot-spots page and /api/v1/dbscan; "
            "0: automatic (the knee of the k-distance curve, at most 100 m)"),
    Setting("DBSCAN_MIN_SAMPLES", 0, "Default incidents within the radius that make a DBSCAN spot; 0: automatic "
            "(2 a month of the period, at least 3 times an even spread; 5 to 100)"),
    Setting("COMPLEX_SPOT_EPS_M", 150.0,
            "DBSCAN radius (metres) of the complex-area spots (complex page, unit=spot, committee candidates)"),
    Setting("COMPLEX_SPOT_MIN_SAMPLES", 30, "Incidents within that radius that make a complex-area spot"),
    Setting("HOTSPOT_PERMUTATIONS", 999, "Default permutations of Gi* and local Moran's I (99 to 9999)"),
    Setting("KDE_KERNEL", "quartic", "Default kernel density kernel: quartic or gaussian"),
    Setting("BOUNDARY_UPLOAD_MINUTES", 60,
            "Minutes a boundary file uploaded on the boundaries page is kept while its fields are chosen"),
    Setting("TIMEZONE", "Asia/Ho_Chi_Minh",
            "Time zone (IANA name) of imported times written without an offset; the import's local dates"),
    Setting("IMPORT_PREVIEW_ROWS", 5_000,
            "Rows of an uploaded file checked for the import page's preview (the import checks every row)"),
    Setting("BOUNDARY_SETS", "hcmc-2025",
            "Shipped boundary sets load-shipped-boundaries loads (comma-separated names of "
            "data/boundaries/registry.json, or all); a crosswalk loads when both its sets do"),
    Setting("BOUNDARY_MIRROR_URL", "",
            "Internal mirror of the upstream boundary repositories: files are fetched from "
            "URL/{repo}/{commit}/{path}; empty: raw.githubusercontent.com"),
    Setting("BOUNDARY_CACHE_DIR", None,
            "Folder where rebuilt and bundled boundary files and their upstream downloads are kept; "
            "default: instance/boundaries"),
    Setting("CLEARANCE_TARGET", 0.70, "Target clearance rate (share, 0.70 = 70%) the report measures against"),
    Setting("SERIOUS_CLEARANCE_TARGET", 0.90,
            "Target clearance rate of very serious and especially serious cases (severity 3-4) in the report"),
    Setting("REPORT_ISSUER", "BAN CHỈ ĐẠO 138", "Issuing body printed at the top left of the signed report"),
    Setting("REPORT_ISSUER_PARENT", "", "The body above the issuer (cơ quan chủ quản), printed above it; empty: none"),
    Setting("REPORT_PLACE", "", "Place of the report's date line (\"Gò Vấp, ngày …\"); empty: left blank"),
    Setting("REPORT_SIGNER", "TM. BAN CHỈ ĐẠO\nTRƯỞNG BAN", "Signature block of the report, lines split by \\n"),
    Setting("REPORT_RECIPIENTS", "Như trên;Lưu: VT", "Recipients (Nơi nhận) of the report, separated by ;"),
    Setting("PAGE_INLINE_INCIDENTS", 5_000,
            "Incidents (times its passes) a map page whose work grows with the incidents (hot spots, trends, "
            "complex areas) computes within the request; more: a background job, while the page shows its "
            "progress"),
    Setting("PRECOMPUTE_PAGES", True,
            "After each import, queue background jobs that compute the default view of every map page "
            "(for analysts and viewers), so that the first visitor finds it ready"),
    Setting("REPEAT_PLACE_MIN", 3, "Incidents that make a repeat place (the same address, or within 50 m of one "
                                   "incident) on the repeat-places page"),
    Setting("INCIDENT_POINTS_MAX", 5000,
            "Incident points the analysts' points layer of the hot-spots and repeat-places pages draws at most "
            "(the latest first)"),
    Setting("NEAR_REPEAT_MAX_INCIDENTS", 20_000,
            "Incidents the near-repeat page tests at most, the latest first (the page says when it left some out)"),
    Setting("CAMERA_RADIUS_M", 75.0, "Default reach (metres) of a camera on the camera and patrol sites page"),
    Setting("PATROL_RADIUS_M", 400.0, "Default reach (metres) of a foot patrol on the camera and patrol sites page"),
    Setting("SPOT_MAX_SPAN_M", 1500.0,
            "A DBSCAN spot wider than this (metres) is split into its denser parts, or flagged when it has none"),
]


def _check_timezone(name: str) -> None:
    """TIMEZONE must be a zone the time-zone database knows ("Asia/Ho_Chi_Minh")."""
    try:
        ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise SystemExit(f"TIMEZONE={name!r} is not a time zone name; use an IANA name such as "
                         f"Asia/Ho_Chi_Minh or Asia/Bangkok.") from exc


def _coerce(value: str, default):
    if isinstance(default, bool):
        return value.lower() in ("1", "true", "yes", "on")
    if isinstance(default, int):
        return int(value)
    if isinstance(default, float):
        return float(value)
    return value


def create_app(config: dict | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True, template_folder=str(resource("templates")),
                static_folder=str(resource("static")))
    for s in SETTINGS:
        app.config[s.name] = s.default
    for s in SETTINGS:
        if s.name in os.environ:
            app.config[s.name] = _coerce(os.environ[s.name], s.default)
    app.config.update(config or {})
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    if not app.config["DATABASE_URL"]:
        app.config["DATABASE_URL"] = f"sqlite:///{Path(app.instance_path) / 'hotspot.db'}"
    if not app.config["BOUNDARY_SOURCE_DIR"]:
        app.config["BOUNDARY_SOURCE_DIR"] = str(Path(app.instance_path) / "boundaries" if INSTALLED
                                                else ROOT.parent / "shared" / "data" / "boundaries")
    if not app.config["BOUNDARY_CACHE_DIR"]:
        app.config["BOUNDARY_CACHE_DIR"] = str(Path(app.instance_path) / "boundaries")
    if not app.config["DEFAULT_BOUNDARY"]:
        first = str(app.config["BOUNDARY_SETS"]).split(",")[0].strip()
        app.config["DEFAULT_BOUNDARY"] = first if first not in ("all", "") else shipped.registry()["sets"][0]["name"]
    if not app.config["SECRET_KEY"]:
        app.config["SECRET_KEY"] = _instance_secret(Path(app.instance_path))
    _check_timezone(app.config["TIMEZONE"])

    app.url_map.converters["id"] = args.RowId
    web.init_app(app)
    auth.init_app(app)
    admin.init_app(app)
    boundaries.init_app(app)
    categories.init_app(app)
    app.register_blueprint(home.pages)
    app.register_blueprint(maps.pages)
    app.register_blueprint(api.api, url_prefix="/api/v1")
    app.register_blueprint(committee.committee)
    jobs.register("api", api.run_api_job)
    jobs.register("page", maps.run_page_job)
    app.register_error_handler(InputError, _input_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(OperationalError, _store_down)
    app.register_error_handler(DatabaseError, _store_down)
    cli.register(app)
    # forwarded headers count only when they come from our own proxy (auth.TrustedProxyFix)
    app.wsgi_app = auth.TrustedProxyFix(app.wsgi_app, app.config["TRUSTED_PROXIES"])
    app.extensions["response_cache"] = responses.ResponseCache(app.config["RESPONSE_CACHE_MB"] * 1024 * 1024)
    return app


def _instance_secret(instance: Path) -> str:
    path = instance / "secret_key"
    if not path.exists():
        path.write_text(os.urandom(32).hex())
        path.chmod(0o600)
    return path.read_text().strip()


def _store_down(exc):
    """The store cannot be reached (server down, file locked or unreadable): 503, never a trace."""

    if isinstance(exc, (IntegrityError, ProgrammingError)):
        raise exc  # a fault in the program, not in the store

    current_app.logger.error("store unavailable: %s", exc)
    message = _("The data store cannot be reached right now. Try again in a moment; if it persists, "
                "tell the administrator.")
    if request.path.startswith("/api/"):
        return jsonify(error=message), 503
    # rendered without the context processors: Flask-Login's would query the store again
    return current_app.jinja_env.get_template("unavailable.html").render(message=message), 503


#: The words of an HTTP error raised without a description of its own (werkzeug's are English).
HTTP_MESSAGES = {400: N_("The request is not valid; check the address or the form."),
                 403: N_("You may not open this page; ask the administrator for the role it needs."),
                 404: N_("Nothing is at this address; check it, or start from the home page."),
                 405: N_("This address does not take this kind of request."),
                 413: N_("The file is too large."),
                 429: N_("Too many requests; wait a moment and try again.")}


def _http_error(exc):
    """HTTP errors as JSON for the API and as a page in the user's language elsewhere."""
    message = exc.description
    if message == type(exc).description:  # werkzeug's own English words: ours instead
        message = _(HTTP_MESSAGES.get(exc.code, N_("The request could not be answered.")))
    if request.path.startswith("/api/"):
        return jsonify(error=message), exc.code
    return render_template("error.html", message=message, code=exc.code), exc.code


def _input_error(exc):
    """Bad input: its message in the reader's language (a statistic's is translated here)."""
    text = error_message(exc)
    if request.path.startswith("/api/"):
        return jsonify(error=text), 400
    return render_template("error.html", message=text), 400


if __name__ == "__main__":
    create_app().run(host="127.0.0.1", port=int(os.environ.get("PORT", 5000)))
