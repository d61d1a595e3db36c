"""Responses shared by the views: GeoJSON cached as bytes (ETag, gzip), disclosure by role, and
analyses answered inline or as a background job."""
from __future__ import annotations

import gzip
import hashlib
import json
import threading
from collections import OrderedDict

from flask import current_app, jsonify, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user

from geo import analysis, disclosure
from geo import format as fmt
from geo.store import jobs
from web import engine
from web.args import PERIOD_KEYS


def published_minimum() -> int | None:
    """The smallest count the current user may see: None (every figure) for analysts and admins,
    else MIN_PUBLISHED_COUNT (see geo.disclosure)."""

    if current_user.is_authenticated and current_user.can("analyst"):
        return None
    return current_app.config["MIN_PUBLISHED_COUNT"]


class ResponseCache:
    """Serialised API bodies, plain and gzip, with their ETag; an LRU bounded in bytes.

    Written here because the bodies are keyed by data version and disclosure level, which a
    generic HTTP cache in front of the service cannot see. ``stats`` counts hits and
    serialisations."""

    def __init__(self, max_bytes: int):
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

    minimum = published_minimum()

    def serialise() -> bytes:
        if minimum and selection is not None:
            disclosure.check_selection(engine(), minimum, kde=kde, **selection)
        result = build(minimum)
        gdf, members = result if isinstance(result, tuple) else (result, {})
        return geojson_text(gdf, **members).encode("utf-8")
    return send_cached(serialise, minimum)


def run_budgeted(kind: str, what: str, args: dict, compute, params: dict, url: str | None = None,
                 page: bool = False):
    """``("inline", compute())`` when the analysis ``what`` over ``args`` is within the inline budget
    (of a map ``page``, or of an API answer); else the background job of ``kind`` with ``params`` as
    ``("done" | "pending" | "failed", job)`` (``url``: where its result is asked for). Raises TooCostly
    (400) over the hard cap, before any work."""

    b = analysis.budget(engine(), what, current_app.config, method=args.get("method", "dbscan"), page=page,
                        **{k: args[k] for k in PERIOD_KEYS + ("units",) if k in args})
    if b.mode == "inline":
        return "inline", compute()
    app = current_app._get_current_object()
    # the job's words (labels, its error message) are in the reader's language: one job per language
    params = {"lang": str(get_locale() or ""), **params}
    job = jobs.submit(app, engine(), kind, dict(params, url=url or request.full_path.rstrip("?")),
                      analysis.data_version(engine()))
    return {"done": "done", "failed": "failed"}.get(job.status, "pending"), job


def job_progress(job) -> dict:
    """How far ``job`` is, for its progress box and /api/v1/jobs/<id>: ``progress`` (0..1), ``stage``
    (in the reader's language), ``queue_position`` (jobs before it) and ``text``, the sentence shown."""
    position = jobs.queue_position(engine(), job)
    progress = float(job.progress or 0.0)
    stage = _(job.stage) if job.stage else ""
    if job.status == "queued":
        text = (_("Waiting, %(n)s analyses ahead", n=fmt.number(position)) if position
                else _("Waiting to start…"))
    elif job.status == "running" and stage:
        text = _("%(stage)s… %(percent)s", stage=stage, percent=fmt.percent(progress, 0))
    elif job.status == "done":
        text = _("Ready: the page is loading…")
    else:
        text = _("Computing…")
    return {"progress": progress, "stage": stage, "queue_position": position, "text": text}


def job_failure(job) -> tuple[str, int]:
    if job.error:
        return job.error, 400
    return _("The computation failed; try again later or tell the administrator."), 500


class NotReady(Exception):
    """The answer is not GeoJSON yet (a job is pending or failed): ``response`` says so, uncached."""

    def __init__(self, response):
        super().__init__()
        self.response = response


def pending_json(job):
    res = jsonify(status="pending", job=job.id, poll=json.loads(job.params)["url"],
                  status_url=url_for("api.job_status", job_id=job.id))
    res.status_code = 202
    res.headers["Retry-After"] = "3"
    return res
