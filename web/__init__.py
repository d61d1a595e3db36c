"""The web layer: one blueprint per module (home, api, maps, committee, admin, auth), the
shared argument parsing (:mod:`web.args`), the responses (:mod:`web.responses`) and the
command line (:mod:`web.cli`). Views parse arguments, call one function and render."""
from __future__ import annotations

from flask import Flask, current_app, g, request

from geo import analysis
from geo.store.models import make_engine


def engine():
    """One engine per app (and per URL), created on first use."""
    app = current_app._get_current_object()
    eng = app.extensions.get("hotspot_engine")
    if eng is None:
        eng = app.extensions["hotspot_engine"] = make_engine(app.config["DATABASE_URL"])
    return eng


def init_app(app: Flask) -> None:
    """A request that reads (GET, HEAD) asks the store for the data version once and sees that one
    version in every cached result (geo.analysis.one_data_version); writes see each change."""

    @app.before_request
    def _one_data_version():
        if request.method in ("GET", "HEAD"):
            g.data_version_scope = analysis.one_data_version()

    @app.teardown_request
    def _end_data_version(exc):
        token = g.pop("data_version_scope", None)
        if token is not None:
            analysis.end_data_version(token)
