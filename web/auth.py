"""Accounts: sign-in (Flask-Login), roles, personal API tokens, the audit log, security headers.

Every route needs a signed-in user except those in ``PUBLIC``; a route asks
for more than the viewer role with :func:`role_required`. Passwords are hashed
with werkzeug's scrypt; tokens are random, expire, and only their SHA-256 is stored.

Sign-in limits live in the store (the ``audit_log`` rows), so they hold across
gunicorn workers: an account that failed :data:`LOGIN_LIMIT` times must wait a
growing time after each further failure, and an address that failed
:data:`ADDRESS_LIMIT` times (whatever the user names) is refused for a while.
A session cookie names the account *and* its ``session_version``; signing out,
changing the password or deactivating the account raises the version, so every
older cookie stops working.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import json
import math
import secrets
from functools import cache, wraps
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
from flask_babel import format_date
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from flask_wtf import FlaskForm
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import func, insert, select, update
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.security import check_password_hash, generate_password_hash
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from geo.errors import InputError
from geo.resources import resource
from geo.store.models import ApiToken, AuditLog, User, utcnow
from web import engine as _engine

ROLES = ("viewer", "committee", "analyst", "admin")
ROLE_LABELS = {"viewer": _l("Viewer"), "committee": _l("Committee member"), "analyst": _l("Analyst"),
               "admin": _l("Administrator")}
PUBLIC = {"auth.login", "home.healthz", "static"}

LOGIN_LIMIT = 5  # failed sign-ins of one account (since its last sign-in) before each try must wait …
LOGIN_BACKOFF = dt.timedelta(seconds=30)  # … this long after the last failure, doubling per failure …
LOGIN_BACKOFF_MAX = dt.timedelta(minutes=15)  # … up to this: a growing wait, never a permanent lock
LOGIN_MEMORY = dt.timedelta(hours=24)  # failures older than this no longer count for an account
ADDRESS_LIMIT = 20  # failed sign-ins from one address across all user names …
ADDRESS_WINDOW = dt.timedelta(minutes=15)  # … within this time, then the address is refused

PASSWORD_MIN = 12
PASSWORD_MAX = 200  # the sign-in form takes no more
COMMON_PASSWORDS = resource("data", "common_passwords.txt")
# The scrypt hash of a random string nobody knows (same method and cost as werkzeug's default): an
# unknown or inactive user name is checked against it, so that it costs the same time as a real one.
DUMMY_HASH = ("scrypt:32768:8:1$T5z58ehdP8OUgyzy$3a3a36386cabf133c8b96ae2e1730cb985f8400498948b2c5cc8f7206cc9e8c"
              "71359f41216711dcf1c0970904282ca256f5b3d86913fe836561c377332be1e80")

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


def _aware(t: dt.datetime | None) -> dt.datetime | None:
    """SQLite hands back naive UTC times; PostgreSQL aware ones."""
    return t.replace(tzinfo=dt.timezone.utc) if t is not None and t.tzinfo is None else t


@login_manager.user_loader
def load_user(user_id):
    try:
        uid, version = (int(part) for part in user_id.split(":"))
    except ValueError:  # a cookie from before session versions, or forged: not a session
        return None
    with engine().connect() as conn:
        row = conn.execute(select(User).where(User.id == uid, User.session_version == version,
                                              User.active.is_(True))).first()
    return Account(row) if row else None


def end_sessions(conn, where) -> int:
    """End every session of the accounts ``where`` selects (their cookies stop working)."""
    return conn.execute(update(User).where(where).values(session_version=User.session_version + 1)).rowcount


TOKEN_TOUCH = dt.timedelta(minutes=10)  # last_used_at is written at most this often


@login_manager.request_loader
def load_user_from_token(req):
    header = req.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        return None
    digest = hashlib.sha256(header[7:].strip().encode()).hexdigest()
    with engine().connect() as conn:
        row = conn.execute(select(User.id, User.username, User.role, User.full_name, User.session_version,
                                  ApiToken.last_used_at, ApiToken.expires_at)
                           .join(ApiToken, ApiToken.user_id == User.id).where(
            ApiToken.token_hash == digest, ApiToken.revoked_at.is_(None), User.active.is_(True))).first()
    if row is None:
        return None
    now = utcnow()
    expires = _aware(row.expires_at)
    if expires is None or expires <= now:
        g.token_error = _("This API token expired on %(date)s. Create a new one on your account page "
                          "(an analyst signs in and uses “Create a token”).",
                          date=format_date(expires) if expires else "?")
        return None
    last = _aware(row.last_used_at)
    if last is None or now - last > TOKEN_TOUCH:
        # a write only now and then: a write per request would queue every reader behind SQLite's lock
        with engine().begin() as conn:
            conn.execute(update(ApiToken).where(ApiToken.token_hash == digest).values(last_used_at=now))
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


def audit(action: str, target: str = "", detail: dict | None = None, *, username: str | None = None,
          user_id: int | None = None, conn=None) -> None:
    """Record an action; inside ``conn``'s transaction when given, so it lands with the change.

    The address is ``request.remote_addr``: the socket peer, or the client a trusted proxy
    named (:class:`TrustedProxyFix`); a forwarded header alone is never believed.
    Outside a request (the command line) the actor is recorded as "(cli)".
    """
    in_request = has_request_context()
    values = dict(at=utcnow(), action=action, target=target[:255],
                  detail=json.dumps(detail or {}, ensure_ascii=False, default=str),
                  ip=((request.remote_addr or "") if in_request else "")[:64],
                  user_id=user_id if user_id is not None else (current_user.id if _signed_in() else None),
                  username=username if username is not None else (
                      current_user.username if _signed_in() else ("" if in_request else "(cli)")))
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


# --------------------------------------------------------------------------- passwords and accounts

@cache
def common_passwords() -> frozenset[str]:
    """Django's list of the 20,000 most common passwords (BSD licence; django/contrib/auth/
    common-passwords.txt.gz), with a few common Vietnamese ones added, lower-cased."""
    return frozenset(line.strip().lower() for line in COMMON_PASSWORDS.read_text(encoding="utf-8").splitlines()
                     if line.strip())


def check_password(password: str, username: str = "") -> None:
    """Refuse (InputError) a password that is too short or long, common, one repeated character, or that
    contains the user name. The one rule for the command line, the accounts page and self-service."""
    if len(password) < PASSWORD_MIN:
        raise InputError(_("The password has %(got)d characters but needs at least %(n)d; a few unrelated "
                           "words make a good one.", got=len(password), n=PASSWORD_MIN))
    if len(password) > PASSWORD_MAX:
        raise InputError(_("The password has %(got)d characters but may have at most %(n)d.",
                           got=len(password), n=PASSWORD_MAX))
    if len(set(password)) == 1:
        raise InputError(_("The password is one character repeated; choose a few unrelated words."))
    # very short user names ("an") would forbid half of all passwords
    if len(username) >= 3 and username.lower() in password.lower():
        raise InputError(_("The password contains the user name; choose one that does not."))
    lowered = password.strip().lower()
    core = lowered.rstrip("0123456789!@#$%^&*.,;:?-_+=~ ")  # "football2024!" is "football" with a suffix
    if lowered in common_passwords() or (len(core) >= 4 and core in common_passwords()):
        raise InputError(_("The password is one of the most common passwords (or one with digits added); "
                           "choose a few unrelated words."))


def chosen_password(password: str | None, username: str = "") -> str:
    """``password`` once it passes :func:`check_password`, or a random one (16 characters) that does
    when none is given: what every way of setting a password stores."""
    if password:
        check_password(password, username)
        return password
    while True:
        password = secrets.token_urlsafe(12)
        try:
            check_password(password, username)
            return password
        except InputError:  # e.g. it happened to contain the user name
            continue


def create_user(eng, username: str, role: str, password: str | None = None, full_name: str = "") -> str:
    """Create an account; returns the password (generated when not given)."""
    if role not in ROLES:
        raise InputError(_("The role was %(got)r but is expected to be one of %(roles)s.", got=role,
                           roles=", ".join(ROLES)))
    if not username or len(username) > 64:
        raise InputError(_("The user name must have 1 to 64 characters."))
    password = chosen_password(password, username)
    with eng.begin() as conn:
        if conn.execute(select(User.id).where(User.username == username)).first():
            raise InputError(_("User %(u)r already exists.", u=username))
        conn.execute(insert(User).values(username=username, role=role, full_name=full_name,
                                         password_hash=generate_password_hash(password, method="scrypt"),
                                         active=True, created_at=utcnow(), session_version=0))
        audit("user_create", username, {"role": role}, conn=conn)
    return password


def set_password(eng, username: str, password: str | None = None) -> str:
    """Give ``username`` a new password (generated when not given) and end all its sessions."""
    password = chosen_password(password, username)
    with eng.begin() as conn:
        n = conn.execute(update(User).where(User.username == username).values(
            password_hash=generate_password_hash(password, method="scrypt"),
            session_version=User.session_version + 1)).rowcount
        if not n:
            raise InputError(_("No user %(u)r.", u=username))
        audit("password_change", username, conn=conn)
    return password


TOKEN_DAYS_MAX = 3650


def new_token(eng, username: str, name: str = "", days: int = 90) -> str:
    """A new personal API token for ``username``, valid ``days`` days; shown once, stored hashed."""
    if not isinstance(days, int) or not 1 <= days <= TOKEN_DAYS_MAX:
        raise InputError(_("A token's lifetime was %(got)r days but must be a whole number from 1 to %(max)d.",
                           got=days, max=TOKEN_DAYS_MAX))
    token = secrets.token_urlsafe(32)
    now = utcnow()
    with eng.begin() as conn:
        uid = conn.execute(select(User.id).where(User.username == username)).scalar()
        if uid is None:
            raise InputError(_("No user %(u)r.", u=username))
        conn.execute(insert(ApiToken).values(user_id=uid, name=name, created_at=now,
                                             expires_at=now + dt.timedelta(days=days),
                                             token_hash=hashlib.sha256(token.encode()).hexdigest()))
        audit("token_create", username, {"name": name, "days": days}, conn=conn)
    return token


# --------------------------------------------------------------------------- sign-in

class LoginForm(FlaskForm):
    username = StringField("username", validators=[DataRequired(), Length(max=64)])
    password = PasswordField("password", validators=[DataRequired(), Length(max=PASSWORD_MAX)])


class PasswordForm(FlaskForm):
    current = PasswordField("current", validators=[DataRequired(), Length(max=PASSWORD_MAX)])
    new = PasswordField("new", validators=[DataRequired()])
    again = PasswordField("again", validators=[DataRequired()])


def backoff(failures: int) -> dt.timedelta:
    """How long after its last failure an account with ``failures`` counted failures must wait."""
    if failures < LOGIN_LIMIT:
        return dt.timedelta(0)
    return min(LOGIN_BACKOFF * 2 ** min(failures - LOGIN_LIMIT, 20), LOGIN_BACKOFF_MAX)


def sign_in_wait(conn, username: str, ip: str, now: dt.datetime) -> tuple[str, int] | None:
    """``("address" | "account", seconds)`` when a sign-in from ``ip`` as ``username`` must be refused
    now, else None. Only failed password checks count; refused tries do not extend the wait."""
    failed = select(AuditLog.at).where(AuditLog.action == "login_failed")
    # the ADDRESS_LIMIT-th newest failure of this address in the window: the address is free once it ages out
    nth = conn.execute(failed.where(AuditLog.ip == ip, AuditLog.at >= now - ADDRESS_WINDOW)
                       .order_by(AuditLog.at.desc()).offset(ADDRESS_LIMIT - 1).limit(1)).scalar()
    if nth is not None:
        return "address", math.ceil((_aware(nth) + ADDRESS_WINDOW - now).total_seconds())
    last_ok = _aware(conn.execute(select(func.max(AuditLog.at)).where(
        AuditLog.action == "login", AuditLog.target == username, AuditLog.at >= now - LOGIN_MEMORY)).scalar())
    since = max(now - LOGIN_MEMORY, last_ok or now - LOGIN_MEMORY)
    n, last = conn.execute(select(func.count(), func.max(AuditLog.at)).where(
        AuditLog.action == "login_failed", AuditLog.target == username, AuditLog.at > since)).one()
    wait = backoff(n)
    if wait and _aware(last) + wait > now:
        return "account", math.ceil((_aware(last) + wait - now).total_seconds())
    return None


def _note_refusal(username: str, ip: str, reason: str) -> None:
    """Count a refused try without a row each: one ``login_refused`` row per address (and, for an
    account in back-off, per user name) and window, whose ``detail.count`` grows. A flood therefore
    writes a bounded number of rows. (Two workers may each miss the other's increment: a count.)"""
    target = username if reason == "account" else ""
    now = utcnow()
    with engine().begin() as conn:
        row = conn.execute(select(AuditLog.id, AuditLog.detail).where(
            AuditLog.action == "login_refused", AuditLog.ip == ip, AuditLog.target == target,
            AuditLog.at >= now - ADDRESS_WINDOW).order_by(AuditLog.id.desc()).limit(1)).first()
        if row is None:
            audit("login_refused", target, {"reason": reason, "count": 1, "last": now}, username=username,
                  conn=conn)
            return
        detail = json.loads(row.detail or "{}")
        detail.update(count=int(detail.get("count", 1)) + 1, last=now.isoformat())
        conn.execute(update(AuditLog).where(AuditLog.id == row.id).values(detail=json.dumps(detail)))


def _verify(row, password: str) -> bool:
    """Whether ``password`` opens ``row``'s account. Without an (active) account it checks against
    :data:`DUMMY_HASH`, so that the scrypt work, and the time, are the same: timing does not tell
    which user names exist."""
    usable = row is not None and row.active
    ok = check_password_hash(row.password_hash if usable else DUMMY_HASH, password)
    return usable and ok


def check_sign_in(username: str, password: str, where: str = "login"):
    """``(row, None)`` when ``password`` is right for ``username`` and no limit applies; ``(None, refusal)``
    with a 429 message and its wait when a limit applies; ``(None, None)`` for a wrong password, which
    is recorded as a failure. Used by the sign-in form and by every form that asks for the password again."""
    ip = request.remote_addr or ""
    with engine().connect() as conn:
        wait = sign_in_wait(conn, username, ip, utcnow())
        row = None if wait else conn.execute(select(User).where(User.username == username)).first()
    if wait:
        _note_refusal(username, ip, wait[0])
        minutes = max(1, math.ceil(wait[1] / 60))
        if wait[0] == "address":
            return None, (_("Too many failed sign-ins from your network address. Try again in %(n)d "
                            "minutes.", n=minutes), wait[1])
        return None, (_("Too many failed sign-ins for this account. Try again in %(n)d minutes; every "
                        "further failure makes the wait longer.", n=minutes), wait[1])
    if _verify(row, password):
        return row, None
    audit("login_failed", username, {"where": where} if where != "login" else None, username=username,
          user_id=row.id if row is not None else None)
    return None, None


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
            with engine().begin() as conn:  # the cookie, even if kept or copied, no longer signs in
                end_sessions(conn, User.id == current_user.id)
    logout_user()
    return redirect(url_for("auth.login"))


def _no_token(message: str):
    """Refuse a token-signed request for something that needs the password."""
    if g.get("token_auth"):
        abort(403, description=message)


def _account_page(new_token=None, error=None, status=200):
    now = utcnow()
    with engine().connect() as conn:
        tokens = conn.execute(select(ApiToken).where(ApiToken.user_id == current_user.id)
                              .order_by(ApiToken.id.desc())).all()
    expired = {t.id for t in tokens if t.expires_at is None or _aware(t.expires_at) <= now}
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
                check_password(form.new.data, current_user.username)
            except InputError as exc:
                error, status = str(exc), 400
        if error is None:
            row, refusal = check_sign_in(current_user.username, form.current.data, "password_change")
            if refusal:
                error, status, headers = _too_many(refusal)
            elif row is None:
                error, status = _("Your current password is wrong; nothing was changed."), 400
            else:
                set_password(engine(), current_user.username, form.new.data)
                with engine().connect() as conn:
                    row = conn.execute(select(User).where(User.id == current_user.id)).first()
                login_user(Account(row))  # this session goes on with the new version; all others end
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
    token = new_token(engine(), current_user.username, (request.form.get("name") or "")[:100],
                      current_app.config["TOKEN_LIFETIME_DAYS"])
    return _account_page(new_token=token)


@bp.post("/account/tokens/<id:token_id>/revoke")
def revoke_token(token_id):
    with engine().begin() as conn:
        done = conn.execute(update(ApiToken).where(ApiToken.id == token_id, ApiToken.user_id == current_user.id,
                                                   ApiToken.revoked_at.is_(None)).values(revoked_at=utcnow()))
    if done.rowcount:
        audit("token_revoke", str(token_id))
        flash(_("Token revoked."))
    return redirect(url_for("auth.account"))
