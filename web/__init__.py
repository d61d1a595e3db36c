"""The web layer: one blueprint per module (home, api, maps, committee, admin, auth), the
shared argument parsing (:mod:`web.args`), the responses (:mod:`web.responses`) and the
command line (:mod:`web.cli`). Views parse arguments, call one function and render."""
from __future__ import annotations

from urllib.parse import urlencode

from flask import Flask, current_app, g, has_request_context, request
from flask_babel import Babel, get_locale

from geo import analysis, format
from geo.categories import Catalogue
from geo.resources import resource
from geo.store.categories import catalogue
from geo.store.models import make_engine


def engine():
    """One engine per app (and per URL), created on first use."""
    app = current_app._get_current_object()
    eng = app.extensions.get("hotspot_engine")
    if eng is None:
        eng = app.extensions["hotspot_engine"] = make_engine(app.config["DATABASE_URL"])
    return eng


def current_categories() -> Catalogue:
    """The store's categories, read once per request (:func:`forget_categories` after a change)."""
    if not has_request_context():
        return catalogue(engine())
    if "catalogue" not in g:
        g.catalogue = catalogue(engine())
    return g.catalogue


def forget_categories() -> None:
    g.pop("catalogue", None)


def select_locale() -> str:
    """The user's language: ``?lang=`` or the cookie it leaves, else BABEL_DEFAULT_LOCALE (also for
    the command line and background jobs)."""
    if has_request_context():
        lang = request.args.get("lang") or request.cookies.get("lang")
        if lang in format.LOCALES:
            return lang
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def init_app(app: Flask) -> None:
    """The catalogue and the language, the formatter in templates, and one data version per request:
    a request that reads (GET, HEAD) asks the store for the data version once and sees that one
    version in every cached result (geo.analysis.one_data_version); writes see each change."""
    Babel(app, locale_selector=select_locale, default_translation_directories=str(resource("translations")))
    app.jinja_env.globals.update(
        number=format.number, percent=format.percent, date=format.date, missing=format.MISSING,
        get_locale=get_locale, category_label=lambda code: current_categories().label(code, format.current_locale()),
        lang_url=lambda lang: request.path + "?" + urlencode(
            [*((k, v) for k, v in request.args.items(multi=True) if k != "lang"), ("lang", lang)]))

    @app.after_request
    def _remember_language(response):
        lang = request.args.get("lang")
        if lang in format.LOCALES:
            response.set_cookie("lang", lang, max_age=365 * 86400, samesite="Lax", httponly=True)
        return response

    @app.before_request
    def _one_data_version():
        if request.method in ("GET", "HEAD"):
            g.data_version_scope = analysis.one_data_version()

    @app.teardown_request
    def _end_data_version(exc):
        token = g.pop("data_version_scope", None)
        if token is not None:
            analysis.end_data_version(token)
