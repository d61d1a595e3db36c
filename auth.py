"""Accounts: sign-in (Flask-Login), roles, personal API tokens, the audit log, security headers.

Every route needs a signed-in user except those in ``PUBLIC``; a route asks
for more than the viewer role with :func:`role_required`. Passwords are hashed
with werkzeug's scrypt; tokens are random and only their SHA-256 is stored.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
from functools import wraps
from urllib.parse import urlsplit

from flask import (Blueprint, abort, current_app, flash, g, jsonify, redirect, render_template, request,
                   url_for)
from flask_babel import gettext as _
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from flask_wtf import FlaskForm
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import func, insert, select, update
from werkzeug.security import check_password_hash, generate_password_hash
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from geo.errors import InputError
from geo.store import ApiToken, AuditLog, User, utcnow

ROLES = ("viewer", "committee", "analyst", "admin")
PUBLIC = {"auth.login", "home.healthz", "static"}
LOGIN_LIMIT = 5  # failed sign-ins per user name and address …
LOGIN_WINDOW = dt.timedelta(minutes=15)  # … within this time, then refused until it passes

bp = Blueprint("auth", __name__)
login_manager = LoginManager()
csrf = CSRFProtect()


class Account(UserMixin):
    def __init__(self, row):
        self.id, self.username, self.role, self.full_name = row.id, row.username, row.role, row.full_name

    def can(self, role: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)


def engine():
    from server import engine as _engine

    return _engine()


@login_manager.user_loader
def load_user(user_id):
    with engine().connect() as conn:
        row = conn.execute(select(User).where(User.id == int(user_id), User.active.is_(True))).first()
    return Account(row) if row else None


TOKEN_TOUCH = dt.timedelta(minutes=10)  # last_used_at is written at most this often


@login_manager.request_loader
def load_user_from_token(req):
    header = req.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        return None
    digest = hashlib.sha256(header[7:].strip().encode()).hexdigest()
    with engine().connect() as conn:
        row = conn.execute(select(User.id, User.username, User.role, User.full_name, ApiToken.last_used_at)
                           .join(ApiToken, ApiToken.user_id == User.id).where(
            ApiToken.token_hash == digest, ApiToken.revoked_at.is_(None), User.active.is_(True))).first()
    if row is None:
        return None
    last = row.last_used_at
    if last is not None and last.tzinfo is None:
        last = last.replace(tzinfo=dt.timezone.utc)
    if last is None or utcnow() - last > TOKEN_TOUCH:
        # a write only now and then: a write per request would queue every reader behind SQLite's lock
        with engine().begin() as conn:
            conn.execute(update(ApiToken).where(ApiToken.token_hash == digest).values(last_used_at=utcnow()))
    g.token_auth = True
    return Account(row)


def init_app(app) -> None:
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
        return jsonify(error=_("Sign in first, or send an API token (Authorization: Bearer …).")), 401
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


def audit(action: str, target: str = "", detail: dict | None = None, *, username: str | None = None,
          user_id: int | None = None, conn=None) -> None:
    """Record an action; inside ``conn``'s transaction when given, so it lands with the change."""
    values = dict(at=utcnow(), action=action, target=target[:255],
                  detail=json.dumps(detail or {}, ensure_ascii=False, default=str),
                  ip=(request.headers.get("X-Forwarded-For", request.remote_addr or "") if request else "")[:64],
                  user_id=user_id if user_id is not None else (current_user.id if _signed_in() else None),
                  username=username if username is not None else (current_user.username if _signed_in() else ""))
    if conn is not None:
        conn.execute(insert(AuditLog).values(**values))
        return
    with engine().begin() as c:
        c.execute(insert(AuditLog).values(**values))


def _signed_in() -> bool:
    try:
        return current_user.is_authenticated
    except Exception:  # outside a request
        return False


# --------------------------------------------------------------------------- accounts

def create_user(eng, username: str, role: str, password: str | None = None, full_name: str = "") -> str:
    """Create an account; returns the password (generated when not given)."""
    if role not in ROLES:
        raise InputError(f"`role` was {role!r} but is expected to be one of {', '.join(ROLES)}.")
    if not username or len(username) > 64:
        raise InputError("The user name must have 1 to 64 characters.")
    password = password or secrets.token_urlsafe(12)
    if len(password) < 10:
        raise InputError("The password must have at least 10 characters.")
    with eng.begin() as conn:
        if conn.execute(select(User.id).where(User.username == username)).first():
            raise InputError(f"User {username!r} already exists.")
        conn.execute(insert(User).values(username=username, role=role, full_name=full_name,
                                         password_hash=generate_password_hash(password, method="scrypt"),
                                         active=True, created_at=utcnow()))
        audit_row(conn, "user_create", username, {"role": role})
    return password


def audit_row(conn, action, target, detail):
    conn.execute(insert(AuditLog).values(at=utcnow(), action=action, target=target, username="(cli)",
                                         detail=json.dumps(detail, ensure_ascii=False), ip=""))


def new_token(eng, username: str, name: str = "") -> str:
    """A new personal API token for ``username``; shown once, stored hashed."""
    token = secrets.token_urlsafe(32)
    with eng.begin() as conn:
        uid = conn.execute(select(User.id).where(User.username == username)).scalar()
        if uid is None:
            raise InputError(f"No user {username!r}.")
        conn.execute(insert(ApiToken).values(user_id=uid, name=name, created_at=utcnow(),
                                             token_hash=hashlib.sha256(token.encode()).hexdigest()))
    return token


class LoginForm(FlaskForm):
    username = StringField("username", validators=[DataRequired(), Length(max=64)])
    password = PasswordField("password", validators=[DataRequired(), Length(max=200)])


def _recent_failures(username: str, ip: str) -> int:
    since = utcnow() - LOGIN_WINDOW
    with engine().connect() as conn:
        return conn.execute(select(func.count()).select_from(AuditLog).where(
            AuditLog.action == "login_failed", AuditLog.target == username, AuditLog.ip == ip,
            AuditLog.at >= since)).scalar()


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    error = None
    status = 200
    if form.validate_on_submit():
        username = form.username.data.strip()
        ip = request.remote_addr or ""
        if _recent_failures(username, ip) >= LOGIN_LIMIT:
            error, status = _("Too many failed sign-ins. Wait 15 minutes and try again."), 429
        else:
            with engine().connect() as conn:
                row = conn.execute(select(User).where(User.username == username, User.active.is_(True))).first()
            if row and check_password_hash(row.password_hash, form.password.data):
                login_user(Account(row))
                audit("login", username)
                target = request.args.get("next") or ""
                if not target.startswith("/") or target.startswith("//"):
                    target = url_for("home.home")
                return redirect(target)
            audit("login_failed", username, username=username)
            error, status = _("Wrong user name or password."), 401
    return render_template("login.html", form=form, error=error), status


@bp.post("/logout")
def logout():
    audit("logout", current_user.username if current_user.is_authenticated else "")
    logout_user()
    return redirect(url_for("auth.login"))


@bp.get("/account")
def account():
    with engine().connect() as conn:
        tokens = conn.execute(select(ApiToken).where(ApiToken.user_id == current_user.id)
                              .order_by(ApiToken.id.desc())).all()
    return render_template("account.html", tokens=tokens, new_token=None)


@bp.post("/account/tokens")
@role_required("analyst")
def create_token():
    token = new_token(engine(), current_user.username, (request.form.get("name") or "")[:100])
    audit("token_create", current_user.username)
    with engine().connect() as conn:
        tokens = conn.execute(select(ApiToken).where(ApiToken.user_id == current_user.id)
                              .order_by(ApiToken.id.desc())).all()
    return render_template("account.html", tokens=tokens, new_token=token)


@bp.post("/account/tokens/<int:token_id>/revoke")
def revoke_token(token_id):
    with engine().begin() as conn:
        done = conn.execute(update(ApiToken).where(ApiToken.id == token_id, ApiToken.user_id == current_user.id,
                                                   ApiToken.revoked_at.is_(None)).values(revoked_at=utcnow()))
    if done.rowcount:
        audit("token_revoke", str(token_id))
        flash(_("Token revoked."))
    return redirect(url_for("auth.account"))
