"""The web layer: one blueprint per module (home, api, maps, committee, admin, auth), the
shared argument parsing (:mod:`web.args`), the responses (:mod:`web.responses`) and the
command line (:mod:`web.cli`). Views parse arguments, call one function and render."""
from __future__ import annotations

from flask import current_app

from geo.store.models import make_engine


def engine():
    """One engine per app (and per URL), created on first use."""
    app = current_app._get_current_object()
    eng = app.extensions.get("hotspot_engine")
    if eng is None:
        eng = app.extensions["hotspot_engine"] = make_engine(app.config["DATABASE_URL"])
    return eng
