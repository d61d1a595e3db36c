"""Accounts: sign-in (Flask-Login), roles, personal API tokens, the audit log, security headers.

Every route needs a signed-in user except those in ``PUBLIC``; a route asks
for more than the viewer role with :func:`role_required`. A session cookie names
the account *and* its ``session_version``; signing out, changing the password or
deactivating the account raises the version, so every older cookie stops working.

The accounts themselves (passwords, tokens, sign-in limits, the audit log) are in
:mod:`geo.store.accounts`; the views here read the form, call it and render.
"""
from __future__ import annotations

import ipaddress
import math
from functools import wraps
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    has_request_context,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from flask_wtf import FlaskForm
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from geo import format
from geo.errors import InputError
from geo.store import accounts
from geo.store.accounts import PASSWORD_MAX, PASSWORD_MIN, ROLES, Actor
from geo.store.models import utcnow
from web import engine as _engine

ROLE_LABELS = {"viewer": _l("Viewer"), "committee": _l("Committee member"), "analyst": _l("Analyst"),
               "admin": _l("Administrator")}
PUBLIC = {"auth.login", "home.healthz", "static"}

bp = Blueprint("auth", __name__)
login_manager = LoginManager()
csrf = CSRFProtect()


class Account(UserMixin):
    def __init__(self, row):
        self.id, self.username, self.role, self.full_name = row.id, row.username, row.role, row.full_name
        self.session_version = row.session_version

    def get_id(self) -> str:
        # Flask-Login's "alternative tokens": the session names the version too, see load_user
        return f"{self.id}:{self.session_version}"

    def can(self, role: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)


def engine():
    return _engine()


@login_manager.user_loader
def load_user(user_id):
    try:
        uid, version = (int(part) for part in user_id.split(":"))
    except ValueError:  # a cookie from before session versions, or forged: not a session
        return None
    row = accounts.session_user(engine(), uid, version)
    return Account(row) if row else None


@login_manager.request_loader
def load_user_from_token(req):
    header = req.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        return None
    row = accounts.token_user(engine(), header[7:].strip())
    if row is None:
        return None
    expires = accounts.aware(row.expires_at)
    if expires is None or expires <= utcnow():
        g.token_error = _("This API token expired on %(date)s. Create a new one on your account page "
                          "(an analyst signs in and uses “Create a token”).",
                          date=format.date(expires) if expires else "?")
        return None
    g.token_auth = True
    return Account(row)


class TrustedProxyFix:
    """Apply werkzeug's ProxyFix only to requests whose socket peer is one of our proxies.

    ProxyFix alone would believe X-Forwarded-For from anyone; this wrapper is what decides
    *whom* to believe (``TRUSTED_PROXIES``), ProxyFix does the parsing. Only the client address
    and the scheme are taken over: our proxy forwards the Host header itself.
    """

    def __init__(self, wsgi_app, trusted: str):
        self.plain = wsgi_app
        self.fixed = ProxyFix(wsgi_app, x_for=1, x_proto=1)
        self.networks = []
        for item in (trusted or "").split(","):
            if item.strip():
                try:
                    self.networks.append(ipaddress.ip_network(item.strip(), strict=False))
                except ValueError:
                    raise ValueError(f"TRUSTED_PROXIES: {item.strip()!r} is not an address or network; give "
                                     f"comma-separated addresses or CIDR networks, e.g. 127.0.0.1,10.0.0.0/8."
                                     ) from None

    def trusts(self, peer: str) -> bool:
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            return False
        return any(address in net for net in self.networks)

    def __call__(self, environ, start_response):
        if self.networks and self.trusts(environ.get("REMOTE_ADDR", "")):
            return self.fixed(environ, start_response)
        return self.plain(environ, start_response)


def role_label(role: str) -> str:
    """A role as users read it (the code is kept in the store)."""
    return str(ROLE_LABELS.get(role, role))


def init_app(app) -> None:
    app.jinja_env.globals["role_label"] = role_label
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = None
    # CSRF is checked in _require_login, for cookie sessions only: a request signed with an
    # API token carries no cookie a third-party page could borrow.
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False
    csrf.init_app(app)
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = app.config.get("SESSION_COOKIE_SAMESITE") or "Lax"
    app.before_request(_require_login)
    app.after_request(_security_headers)
    app.register_blueprint(bp)


def _require_login():
    if request.endpoint in PUBLIC or request.endpoint is None:
        if request.method == "POST":
            _check_csrf()
        return None
    if current_user.is_authenticated:  # the token loader runs here when there is no session
        if not getattr(g, "token_auth", False) and request.method not in ("GET", "HEAD", "OPTIONS"):
            _check_csrf()
        return None
    if request.path.startswith("/api/"):
        return jsonify(error=g.get("token_error")
                       or _("Sign in first, or send an API token (Authorization: Bearer …).")), 401
    return login_manager.unauthorized()


def _check_csrf():
    if current_app.config.get("WTF_CSRF_ENABLED", True):
        csrf.protect()


def _security_headers(response):
    tiles = urlsplit(current_app.config.get("TILE_URL") or "")
    img = "'self' data:" + (f" {tiles.scheme}://{tiles.netloc}" if tiles.netloc else "")
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        f"img-src {img}; font-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; "
        "form-action 'self'")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Frame-Options", "DENY")
    if request.is_secure or current_app.config.get("SESSION_COOKIE_SECURE"):
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    # Pages, exports and the API may hold personal data: no copies in browser or proxy caches.
    # Static files are public; a response that chose its own caching (e.g. ETag'd GeoJSON) keeps it.
    if request.endpoint != "static":
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def role_required(role: str):
    """Refuse (403) users below ``role``; API callers get JSON."""
    def decorate(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if not current_user.can(role):
                if request.path.startswith("/api/"):
                    return jsonify(error=_("Your role does not allow this.")), 403
                abort(403)
            return view(*args, **kwargs)
        wrapped.required_role = role
        return wrapped
    return decorate


def actor(username: str | None = None, user_id: int | None = None) -> Actor:
    """Who acts in this request (``username``/``user_id`` when told): the signed-in user, from the
    address ``request.remote_addr`` (the socket peer, or the client a trusted proxy named, see
    :class:`TrustedProxyFix`; a forwarded header alone is never believed). Outside a request
    (the command line) the actor is "(cli)"."""
    if not has_request_context():
        return accounts.COMMAND_LINE if username is None else Actor(username, user_id)
    signed_in = current_user.is_authenticated
    return Actor(username if username is not None else (current_user.username if signed_in else ""),
                 user_id if user_id is not None else (current_user.id if signed_in else None),
                 request.remote_addr or "")


def audit(action: str, target: str = "", detail: dict | None = None, *, username: str | None = None,
          user_id: int | None = None, conn=None) -> None:
    """Record an action by :func:`actor`; inside ``conn``'s transaction when given, so it lands with the change."""
    if conn is not None:
        accounts.record(conn, action, target, detail, by=actor(username, user_id))
        return
    with engine().begin() as c:
        accounts.record(c, action, target, detail, by=actor(username, user_id))


# --------------------------------------------------------------------------- sign-in

class LoginForm(FlaskForm):
    username = StringField("username", validators=[DataRequired(), Length(max=64)])
    password = PasswordField("password", validators=[DataRequired(), Length(max=PASSWORD_MAX)])


class PasswordForm(FlaskForm):
    current = PasswordField("current", validators=[DataRequired(), Length(max=PASSWORD_MAX)])
    new = PasswordField("new", validators=[DataRequired()])
    again = PasswordField("again", validators=[DataRequired()])


def check_sign_in(username: str, password: str, where: str = "login"):
    """``(row, None)`` when ``password`` is right for ``username`` and no limit applies; ``(None, refusal)``
    with a 429 message and its wait when a limit applies; ``(None, None)`` for a wrong password, which
    is recorded as a failure. Used by the sign-in form and by every form that asks for the password again."""
    row, wait = accounts.sign_in(engine(), username, password, ip=request.remote_addr or "", where=where)
    if wait:
        minutes = max(1, math.ceil(wait[1] / 60))
        if wait[0] == "address":
            return None, (_("Too many failed sign-ins from your network address. Try again in %(n)d "
                            "minutes.", n=minutes), wait[1])
        return None, (_("Too many failed sign-ins for this account. Try again in %(n)d minutes; every "
                        "further failure makes the wait longer.", n=minutes), wait[1])
    return row, None


def safe_next(target: str | None) -> str:
    """``target`` when it is a path on this site, else the home page.

    Browsers drop tabs and newlines inside URLs and read a backslash as a slash, so that
    "/\\t/evil.example" or "/\\\\evil.example" lead off-site; the check runs on what a browser would use.
    """
    value = "".join(ch for ch in (target or "") if ch.isprintable() and not ch.isspace())
    parts = urlsplit(value)
    if ("\\" in value or parts.scheme or parts.netloc or not value.startswith("/") or value.startswith("//")):
        return url_for("home.home")
    return value


def _too_many(refusal):
    message, seconds = refusal
    return message, 429, {"Retry-After": str(seconds)}


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    error, status, headers = None, 200, {}
    if form.validate_on_submit():
        username = form.username.data.strip()
        row, refusal = check_sign_in(username, form.password.data)
        if row is not None:
            login_user(Account(row))
            audit("login", username)
            return redirect(safe_next(request.args.get("next")))
        if refusal:
            error, status, headers = _too_many(refusal)
        else:
            error, status = _("Wrong user name or password."), 401
    return render_template("login.html", form=form, error=error), status, headers


@bp.post("/logout")
def logout():
    if current_user.is_authenticated:
        audit("logout", current_user.username)
        if not g.get("token_auth"):
            accounts.end_sessions(engine(), current_user.id)  # the cookie, even if kept or copied, no longer signs in
    logout_user()
    return redirect(url_for("auth.login"))


def _no_token(message: str):
    """Refuse a token-signed request for something that needs the password."""
    if g.get("token_auth"):
        abort(403, description=message)


def _account_page(new_token=None, error=None, status=200):
    now = utcnow()
    tokens = accounts.tokens(engine(), current_user.id)
    expired = {t.id for t in tokens if t.expires_at is None or accounts.aware(t.expires_at) <= now}
    return render_template("account.html", tokens=tokens, new_token=new_token, error=error, expired=expired,
                           days=current_app.config["TOKEN_LIFETIME_DAYS"]), status


@bp.get("/account")
def account():
    return _account_page()


@bp.route("/account/password", methods=["GET", "POST"])
def change_password():
    form = PasswordForm()
    error, status, headers = None, 200, {}
    if request.method == "POST":
        _no_token(_("An API token cannot change a password; sign in with your password."))
        if not form.validate():
            error, status = _("Fill in your current password and the new one twice."), 400
        elif form.new.data != form.again.data:
            error, status = _("The two new passwords differ; type the same one twice."), 400
        else:
            try:
                accounts.check_password(form.new.data, current_user.username)
            except InputError as exc:
                error, status = str(exc), 400
        if error is None:
            row, refusal = check_sign_in(current_user.username, form.current.data, "password_change")
            if refusal:
                error, status, headers = _too_many(refusal)
            elif row is None:
                error, status = _("Your current password is wrong; nothing was changed."), 400
            else:
                accounts.set_password(engine(), current_user.username, form.new.data, by=actor())
                login_user(Account(accounts.get_user(engine(), current_user.id)))  # this session goes on with the new version; all others end
                flash(_("Password changed. You were signed out everywhere else."))
                return redirect(url_for("auth.account"))
    return render_template("password.html", form=form, error=error, min_length=PASSWORD_MIN), status, headers


@bp.post("/account/tokens")
@role_required("analyst")
def create_token():
    _no_token(_("An API token cannot create tokens; sign in with your password."))
    if not request.form.get("password"):
        return _account_page(error=_("Enter your password to create a token."), status=400)
    row, refusal = check_sign_in(current_user.username, request.form["password"], "token_create")
    if refusal:
        message, status, headers = _too_many(refusal)
        page, _status = _account_page(error=message)
        return page, status, headers
    if row is None:
        return _account_page(error=_("The password is wrong; no token was created."),
                             status=400)
    token = accounts.new_token(engine(), current_user.username, (request.form.get("name") or "")[:100],
                               current_app.config["TOKEN_LIFETIME_DAYS"], by=actor())
    return _account_page(new_token=token)


@bp.post("/account/tokens/<id:token_id>/revoke")
def revoke_token(token_id):
    if accounts.revoke_token(engine(), token_id, by=actor()):
        flash(_("Token revoked."))
    return redirect(url_for("auth.account"))
