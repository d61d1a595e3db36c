"""The home page and the health probe."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify, render_template

from geo import analysis
from geo.store import queries
from geo.store.health import store_status
from web import engine

pages = Blueprint("home", __name__)


@pages.get("/healthz")
def healthz():
    status, detail = store_status(engine())
    if status == "ok":
        return jsonify(status="ok")
    current_app.logger.error("health check: store %s (%s)", status, detail)
    return jsonify(status=status, store=detail), 503


@pages.get("/")
def home():
    return render_template("home.html", summary=analysis.cached("summary", engine(), {}, lambda: queries.summary(engine())))
