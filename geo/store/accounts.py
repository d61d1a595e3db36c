"""Accounts in the store: users and their passwords, API tokens, session versions, sign-in limits, the audit log.

Passwords are hashed with werkzeug's scrypt and must pass :func:`check_password` (the one rule of
the command line, the accounts page and self-service). Tokens are random, expire, and only their
SHA-256 is stored. A session names the account *and* its ``session_version``: raising the version
(:func:`end_sessions`) ends every older session.

Sign-in limits live in the ``audit_log`` rows, so they hold across gunicorn workers: an account
that failed :data:`LOGIN_LIMIT` times must wait a growing time after each further failure
(:func:`backoff`), and an address that failed :data:`ADDRESS_LIMIT` times (whatever the user
names) is refused for a while (:func:`sign_in_wait`).

Every change is written to the audit log in its own transaction (:func:`record`) by the
:class:`Actor` who made it: the signed-in user and their address, or the command line.
Nothing here knows Flask; messages come from the catalogue in the user's language.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import secrets
from dataclasses import dataclass
from functools import cache

from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Engine
from werkzeug.security import check_password_hash, generate_password_hash

from geo.errors import InputError
from geo.format import gettext as _
from geo.resources import resource
from geo.store.models import ApiToken, AuditLog, User, utcnow

ROLES = ("viewer", "committee", "analyst", "admin")

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

TOKEN_DAYS_MAX = 3650
TOKEN_TOUCH = dt.timedelta(minutes=10)  # last_used_at is written at most this often
AUDIT_PAGE = 500


@dataclass(frozen=True)
class Actor:
    """Who does something, as the audit log records them."""

    username: str = "(cli)"
    user_id: int | None = None
    ip: str = ""


#: Changes made on the command line.
COMMAND_LINE = Actor()


def aware(t: dt.datetime | None) -> dt.datetime | None:
    """SQLite hands back naive UTC times; PostgreSQL aware ones."""
    return t.replace(tzinfo=dt.timezone.utc) if t is not None and t.tzinfo is None else t


# --------------------------------------------------------------------------- the audit log

def record(conn, action: str, target: str = "", detail: dict | None = None, *, by: Actor) -> None:
    """Write one audit row inside ``conn``'s transaction, so that it lands with the change."""
    conn.execute(insert(AuditLog).values(
        at=utcnow(), action=action, target=target[:255],
        detail=json.dumps(detail or {}, ensure_ascii=False, default=str), ip=by.ip[:64], user_id=by.user_id,
        username=by.username))


def audit_page(engine: Engine, *, action: str = "", username: str = "") -> tuple[list, list[str], int]:
    """The newest :data:`AUDIT_PAGE` rows (of ``action`` and ``username`` when given), every action
    that occurs, and the number of rows."""
    q = select(AuditLog).order_by(AuditLog.id.desc())
    if action:
        q = q.where(AuditLog.action == action)
    if username:
        q = q.where(AuditLog.username == username)
    with engine.connect() as conn:
        rows = conn.execute(q.limit(AUDIT_PAGE)).all()
        actions = conn.execute(select(AuditLog.action).group_by(AuditLog.action)).scalars().all()
        total = conn.execute(select(func.count()).select_from(AuditLog)).scalar()
    return rows, actions, total


# --------------------------------------------------------------------------- passwords

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


# --------------------------------------------------------------------------- users

def user_exists(engine: Engine, username: str) -> bool:
    with engine.connect() as conn:
        return conn.execute(select(User.id).where(User.username == username)).first() is not None


def get_user(engine: Engine, user_id: int):
    """The account row of ``user_id`` (None when there is none)."""
    with engine.connect() as conn:
        return conn.execute(select(User).where(User.id == user_id)).first()


def users(engine: Engine) -> list:
    """Every account, by user name (no password hashes)."""
    with engine.connect() as conn:
        return conn.execute(select(User.id, User.username, User.full_name, User.role, User.active,
                                   User.created_at).order_by(User.username)).all()


def create_user(engine: Engine, username: str, role: str, password: str | None = None, full_name: str = "", *,
                by: Actor = COMMAND_LINE) -> str:
    """Create an account and audit it once; returns the password (generated when not given)."""
    if role not in ROLES:
        raise InputError(_("The role was %(got)r but is expected to be one of %(roles)s.", got=role,
                           roles=", ".join(ROLES)))
    if not username or len(username) > 64:
        raise InputError(_("The user name must have 1 to 64 characters."))
    password = chosen_password(password, username)
    with engine.begin() as conn:
        if conn.execute(select(User.id).where(User.username == username)).first():
            raise InputError(_("User %(u)r already exists.", u=username))
        conn.execute(insert(User).values(username=username, role=role, full_name=full_name,
                                         password_hash=generate_password_hash(password, method="scrypt"),
                                         active=True, created_at=utcnow(), session_version=0))
        record(conn, "user_create", username, {"role": role}, by=by)
    return password


def set_password(engine: Engine, username: str, password: str | None = None, *, by: Actor = COMMAND_LINE) -> str:
    """Give ``username`` a new password (generated when not given) and end all its sessions."""
    password = chosen_password(password, username)
    with engine.begin() as conn:
        n = conn.execute(update(User).where(User.username == username).values(
            password_hash=generate_password_hash(password, method="scrypt"),
            session_version=User.session_version + 1)).rowcount
        if not n:
            raise InputError(_("No user %(u)r.", u=username))
        record(conn, "password_change", username, by=by)
    return password


def deactivate(engine: Engine, user_id: int, *, by: Actor) -> bool:
    """Deactivate an active account other than ``by``'s own and end its sessions; False when there is none."""
    where = (User.id == user_id) & (User.username != by.username) & User.active.is_(True)
    with engine.begin() as conn:
        if not conn.execute(update(User).where(where).values(
                active=False, session_version=User.session_version + 1)).rowcount:
            return False
        record(conn, "user_deactivate", str(user_id), by=by)
    return True


# --------------------------------------------------------------------------- sessions

def session_user(engine: Engine, user_id: int, version: int):
    """The active account a session of ``version`` names, or None once that session has ended."""
    with engine.connect() as conn:
        return conn.execute(select(User).where(User.id == user_id, User.session_version == version,
                                               User.active.is_(True))).first()


def end_sessions(engine: Engine, user_id: int) -> None:
    """End every session of the account (its cookies stop working, even if kept or copied)."""
    with engine.begin() as conn:
        conn.execute(update(User).where(User.id == user_id).values(session_version=User.session_version + 1))


# --------------------------------------------------------------------------- tokens

def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token(engine: Engine, username: str, name: str = "", days: int = 90, *, by: Actor = COMMAND_LINE) -> str:
    """A new personal API token for ``username``, valid ``days`` days; shown once, stored hashed."""
    if not isinstance(days, int) or not 1 <= days <= TOKEN_DAYS_MAX:
        raise InputError(_("A token's lifetime was %(got)r days but must be a whole number from 1 to %(max)d.",
                           got=days, max=TOKEN_DAYS_MAX))
    token = secrets.token_urlsafe(32)
    now = utcnow()
    with engine.begin() as conn:
        uid = conn.execute(select(User.id).where(User.username == username)).scalar()
        if uid is None:
            raise InputError(_("No user %(u)r.", u=username))
        conn.execute(insert(ApiToken).values(user_id=uid, name=name, created_at=now,
                                             expires_at=now + dt.timedelta(days=days), token_hash=_digest(token)))
        record(conn, "token_create", username, {"name": name, "days": days}, by=by)
    return token


def token_user(engine: Engine, token: str):
    """The account an unrevoked token of an active account signs in as, with the token's
    ``expires_at`` (the caller refuses an expired one); None for an unknown token.
    Notes the use (``last_used_at``) at most every :data:`TOKEN_TOUCH`."""
    digest = _digest(token)
    with engine.connect() as conn:
        row = conn.execute(select(User.id, User.username, User.role, User.full_name, User.session_version,
                                  ApiToken.last_used_at, ApiToken.expires_at)
                           .join(ApiToken, ApiToken.user_id == User.id).where(
            ApiToken.token_hash == digest, ApiToken.revoked_at.is_(None), User.active.is_(True))).first()
    now = utcnow()
    expires = aware(row.expires_at) if row is not None else None
    if row is not None and expires is not None and expires > now:
        last = aware(row.last_used_at)
        if last is None or now - last > TOKEN_TOUCH:
            # a write only now and then: a write per request would queue every reader behind SQLite's lock
            with engine.begin() as conn:
                conn.execute(update(ApiToken).where(ApiToken.token_hash == digest).values(last_used_at=now))
    return row


def tokens(engine: Engine, user_id: int) -> list:
    """The account's tokens, newest first (their hashes only)."""
    with engine.connect() as conn:
        return conn.execute(select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.id.desc())).all()


def revoke_token(engine: Engine, token_id: int, *, by: Actor) -> bool:
    """Revoke one of ``by``'s own tokens; False when it is not theirs or already revoked."""
    with engine.begin() as conn:
        done = conn.execute(update(ApiToken).where(ApiToken.id == token_id, ApiToken.user_id == by.user_id,
                                                   ApiToken.revoked_at.is_(None)).values(revoked_at=utcnow()))
        if done.rowcount:
            record(conn, "token_revoke", str(token_id), by=by)
    return bool(done.rowcount)


# --------------------------------------------------------------------------- sign-in

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
        return "address", math.ceil((aware(nth) + ADDRESS_WINDOW - now).total_seconds())
    last_ok = aware(conn.execute(select(func.max(AuditLog.at)).where(
        AuditLog.action == "login", AuditLog.target == username, AuditLog.at >= now - LOGIN_MEMORY)).scalar())
    since = max(now - LOGIN_MEMORY, last_ok or now - LOGIN_MEMORY)
    n, last = conn.execute(select(func.count(), func.max(AuditLog.at)).where(
        AuditLog.action == "login_failed", AuditLog.target == username, AuditLog.at > since)).one()
    wait = backoff(n)
    if wait and aware(last) + wait > now:
        return "account", math.ceil((aware(last) + wait - now).total_seconds())
    return None


def _note_refusal(engine: Engine, username: str, reason: str, by: Actor) -> None:
    """Count a refused try without a row each: one ``login_refused`` row per address (and, for an
    account in back-off, per user name) and window, whose ``detail.count`` grows. A flood therefore
    writes a bounded number of rows. (Two workers may each miss the other's increment: a count.)"""
    target = username if reason == "account" else ""
    now = utcnow()
    with engine.begin() as conn:
        row = conn.execute(select(AuditLog.id, AuditLog.detail).where(
            AuditLog.action == "login_refused", AuditLog.ip == by.ip, AuditLog.target == target,
            AuditLog.at >= now - ADDRESS_WINDOW).order_by(AuditLog.id.desc()).limit(1)).first()
        if row is None:
            record(conn, "login_refused", target, {"reason": reason, "count": 1, "last": now}, by=by)
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


def sign_in(engine: Engine, username: str, password: str, *, ip: str, where: str = "login"):
    """``(row, None)`` when ``password`` is right for ``username`` and no limit applies; ``(None, wait)``
    with ``wait`` of :func:`sign_in_wait` when a limit applies (the refusal is counted); ``(None, None)``
    for a wrong password, recorded as a failure (``where`` names the form that asked, when not the
    sign-in form)."""
    refused = Actor(username, None, ip)
    with engine.connect() as conn:
        wait = sign_in_wait(conn, username, ip, utcnow())
        row = None if wait else conn.execute(select(User).where(User.username == username)).first()
    if wait:
        _note_refusal(engine, username, wait[0], refused)
        return None, wait
    if _verify(row, password):
        return row, None
    with engine.begin() as conn:
        record(conn, "login_failed", username, {"where": where} if where != "login" else None,
               by=Actor(username, row.id if row is not None else None, ip))
    return None, None
