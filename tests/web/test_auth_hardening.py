"""Attacks on sign-in, sessions, passwords and tokens, each reproduced against the real app and store."""
from __future__ import annotations

import datetime as dt
import hashlib
import http.cookiejar
import re
import sqlite3
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
from sqlalchemy import create_engine, event, func, select, text

from geo.errors import InputError
from geo.store.accounts import DUMMY_HASH, backoff, check_password, new_token
from geo.store.models import ApiToken, AuditLog, User, utcnow
from tests.conftest import PASSWORD, signed_in

QUERY = "boundary=hcmc-2025&start=2024-01-01&end=2024-12-31"
NEW_PASSWORD = "lantern orchid seventy kites"


def _csrf(client, path="/login"):
    html = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token"(?: type="hidden")? value="([^"]+)"', html).group(1)


def _login(client, username, password, **kw):
    return client.post("/login", data={"username": username, "password": password,
                                       "csrf_token": _csrf(client)}, **kw)


def _audit(engine, action):
    with engine.connect() as conn:
        return conn.execute(select(AuditLog.target, AuditLog.ip, AuditLog.detail)
                            .where(AuditLog.action == action).order_by(AuditLog.id)).all()


def _count_rows(engine):
    with engine.connect() as conn:
        return conn.execute(text("SELECT COUNT(*) FROM audit_log")).scalar()


# --------------------------------------------------------------------------- 1. forwarded headers

class Browser:
    """A minimal HTTP client over a real socket (urllib, with cookies, no redirects followed)."""

    def __init__(self, base):
        self.base = base
        self.jar = http.cookiejar.CookieJar()

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args, **kwargs):
                return None

        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), NoRedirect)

    def open(self, path, data=None, headers=None):
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        req = urllib.request.Request(self.base + path, data=body, headers=headers or {})
        try:
            with self.opener.open(req) as res:
                return res.status, res.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()


@pytest.mark.sqlite_only("one store is enough for the HTTP round trip; the limits run on both below")
def test_forged_forwarded_for_neither_escapes_the_limit_nor_forges_the_audit_address(live_server, engine):
    b = Browser(live_server)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', b.open("/login")[1]).group(1)
    codes = [b.open("/login", {"username": "admin", "password": f"wrong guess {i}", "csrf_token": token},
                    {"X-Forwarded-For": f"203.0.113.{i}"})[0] for i in range(20)]
    assert codes == [401] * 5 + [429] * 15
    status, html = b.open("/login", {"username": "admin", "password": PASSWORD, "csrf_token": token},
                          {"X-Forwarded-For": "198.51.100.99"})
    assert status == 429 and "Quá nhiều lần đăng nhập sai" in html
    failed = _audit(engine, "login_failed")
    assert len(failed) == 5 and {row.ip for row in failed} == {"127.0.0.1"}
    assert {row.ip for row in _audit(engine, "login_refused")} == {"127.0.0.1"}


def test_forwarded_for_is_believed_only_from_a_trusted_proxy(app, engine):
    app.config["WTF_CSRF_ENABLED"] = False
    from web.auth import TrustedProxyFix

    app.wsgi_app = TrustedProxyFix(app.wsgi_app.plain, "10.0.0.0/8, 127.0.0.1")
    via_proxy = app.test_client()
    via_proxy.post("/login", data={"username": "viewer", "password": "wrong wrong wrong"},
                   headers={"X-Forwarded-For": "198.51.100.7, 203.0.113.9"})
    direct = app.test_client()
    direct.post("/login", data={"username": "viewer", "password": "wrong wrong wrong"},
                headers={"X-Forwarded-For": "203.0.113.50"}, environ_base={"REMOTE_ADDR": "192.0.2.4"})
    # the proxy's own entry (the last) is the client; an untrusted peer's header is ignored
    assert [row.ip for row in _audit(engine, "login_failed")] == ["203.0.113.9", "192.0.2.4"]


def test_a_bad_trusted_proxies_setting_stops_the_start_with_a_clear_message(db_url):
    from server import create_app

    with pytest.raises(ValueError, match=r"TRUSTED_PROXIES: 'proxy\.local' is not an address or network"):
        create_app({"TESTING": True, "DATABASE_URL": db_url, "SECRET_KEY": "t", "TRUSTED_PROXIES": "proxy.local"})


# --------------------------------------------------------------------------- 2. limits per account and address

def test_one_address_spraying_user_names_is_stopped_and_a_flood_writes_few_rows(app, engine):
    app.config["WTF_CSRF_ENABLED"] = False
    c = app.test_client()
    codes = [c.post("/login", data={"username": f"guess{i}", "password": "Password123!"}).status_code
             for i in range(20)]
    assert codes == [401] * 20
    refused = c.post("/login", data={"username": "viewer", "password": PASSWORD})
    assert refused.status_code == 429 and "từ địa chỉ mạng của bạn" in refused.get_data(as_text=True)
    assert 800 <= int(refused.headers["Retry-After"]) <= 900
    before = _count_rows(engine)
    for i in range(200):
        assert c.post("/login", data={"username": f"other{i}", "password": "x" * 12}).status_code == 429
    assert _count_rows(engine) - before == 0  # counted in the one login_refused row of this address
    [row] = _audit(engine, "login_refused")
    assert '"count": 201' in row.detail  # the first refusal and the 200 after it
    # another address is not affected
    assert app.test_client().post("/login", data={"username": "viewer", "password": PASSWORD},
                                  environ_base={"REMOTE_ADDR": "192.0.2.8"}).status_code == 302


def test_one_account_guessed_from_many_addresses_backs_off_and_others_are_unaffected(app, engine):
    app.config["WTF_CSRF_ENABLED"] = False
    for i in range(5):
        res = app.test_client().post("/login", data={"username": "analyst", "password": "not it at all"},
                                     environ_base={"REMOTE_ADDR": f"192.0.2.{i + 1}"})
        assert res.status_code == 401
    right = app.test_client().post("/login", data={"username": "analyst", "password": PASSWORD},
                                   environ_base={"REMOTE_ADDR": "198.51.100.1"})
    html = right.get_data(as_text=True)
    assert right.status_code == 429 and "cho tài khoản này" in html and "Thử lại sau 1 phút" in html
    assert 1 <= int(right.headers["Retry-After"]) <= 30
    for _ in range(10):  # refused tries are not failures: they do not make the wait longer
        app.test_client().post("/login", data={"username": "analyst", "password": "x" * 12})
    assert len(_audit(engine, "login_failed")) == 5
    # the same addresses still reach other accounts
    assert app.test_client().post("/login", data={"username": "viewer", "password": PASSWORD},
                                  environ_base={"REMOTE_ADDR": "192.0.2.1"}).status_code == 302


def test_the_wait_grows_with_each_failure_and_ends():
    assert [backoff(n).total_seconds() for n in (0, 4, 5, 6, 7, 8, 9, 10, 50, 10**6)] == \
        [0, 0, 30, 60, 120, 240, 480, 900, 900, 900]


def _plant_failures(engine, username, times):
    with engine.begin() as conn:
        for at in times:
            conn.execute(AuditLog.__table__.insert().values(at=at, action="login_failed", target=username,
                                                            username=username, detail="{}", ip="192.0.2.77"))


def test_back_off_is_a_wait_not_a_lock(app, engine):
    app.config["WTF_CSRF_ENABLED"] = False
    now = utcnow()
    _plant_failures(engine, "committee", [now - dt.timedelta(minutes=10)] * 5)  # waited 30 s long ago
    c = app.test_client()
    assert c.post("/login", data={"username": "committee", "password": PASSWORD}).status_code == 302
    # 8 failures, the last 3 minutes ago: the 4-minute wait has about a minute to go
    _plant_failures(engine, "viewer", [now - dt.timedelta(minutes=3)] * 8)
    res = app.test_client().post("/login", data={"username": "viewer", "password": PASSWORD})
    assert res.status_code == 429 and 50 <= int(res.headers["Retry-After"]) <= 60


def test_a_successful_sign_in_clears_the_account_count(app, engine):
    app.config["WTF_CSRF_ENABLED"] = False
    now = utcnow()
    _plant_failures(engine, "viewer", [now - dt.timedelta(minutes=20)] * 4)
    with engine.begin() as conn:
        conn.execute(AuditLog.__table__.insert().values(at=now - dt.timedelta(minutes=10), action="login",
                                                        target="viewer", username="viewer", detail="{}", ip=""))
    _plant_failures(engine, "viewer", [now - dt.timedelta(minutes=1)] * 4)
    res = app.test_client().post("/login", data={"username": "viewer", "password": PASSWORD})
    assert res.status_code == 302  # 4 since the last sign-in, not 8


# --------------------------------------------------------------------------- 3. timing of unknown user names

def _scrypt_calls(run) -> int:
    """How many times hashlib.scrypt (what werkzeug's scrypt hashing calls) runs during ``run()``."""
    calls = []

    def profile(frame, event, arg):
        if event == "c_call" and getattr(arg, "__name__", "") == "scrypt":
            calls.append(arg)

    sys.setprofile(profile)
    try:
        run()
    finally:
        sys.setprofile(None)
    return len(calls)


def test_unknown_and_inactive_users_cost_the_same_scrypt_work(app, engine):
    app.config["WTF_CSRF_ENABLED"] = False
    with engine.begin() as conn:
        conn.execute(User.__table__.update().where(User.username == "committee").values(active=False))
        real = conn.execute(select(User.password_hash).where(User.username == "viewer")).scalar()
    c = app.test_client()
    counts = {}
    for name, password in [("viewer", "wrong password here"), ("nobody-at-all", "wrong password here"),
                           ("committee", PASSWORD)]:
        counts[name] = _scrypt_calls(lambda: c.post("/login", data={"username": name, "password": password}))
    assert counts == {"viewer": 1, "nobody-at-all": 1, "committee": 1}
    # and the dummy hash costs what a real one does (same method, N, r, p)
    assert DUMMY_HASH.split("$")[0] == real.split("$")[0] == "scrypt:32768:8:1"
    assert c.post("/login", data={"username": "committee", "password": PASSWORD}).status_code == 401


# --------------------------------------------------------------------------- 4. open redirect

@pytest.mark.parametrize("raw", ["/%09/evil.example", "//evil.example", "/%5Cevil.example", "/%5C%5Cevil.example",
                                 "https://evil.example", "/%09/evil", "%2F%2Fevil", "/%0A/evil.example",
                                 "%20//evil.example", "javascript:alert(1)", "https:evil.example",
                                 "/%E2%80%8B/evil.example"])
def test_sign_in_redirects_only_to_a_local_path(app, raw):
    c = app.test_client()
    res = c.post(f"/login?next={raw}", data={"username": "viewer", "password": PASSWORD,
                                            "csrf_token": _csrf(c)})
    assert res.status_code == 302
    location = res.headers["Location"]
    parts = urllib.parse.urlsplit(location)
    assert not parts.scheme and not parts.netloc and location.startswith("/") and not location.startswith("//")
    assert "\\" not in location and not re.search(r"\s", location) and "evil" not in location


def test_sign_in_keeps_a_local_next_path(app):
    c = app.test_client()
    res = c.post("/login?next=/maps/overview%3Fboundary%3Dhcmc-2025", data={
        "username": "viewer", "password": PASSWORD, "csrf_token": _csrf(c)})
    assert res.headers["Location"] == "/maps/overview?boundary=hcmc-2025"


# --------------------------------------------------------------------------- 5./6. sessions end

def _signed_in_by_form(app, username="viewer", password=PASSWORD):
    c = app.test_client()
    assert _login(c, username, password).status_code == 302
    assert c.get("/account").status_code == 200
    return c


def test_a_session_cookie_replayed_after_sign_out_is_refused(app):
    c = _signed_in_by_form(app)
    stolen = c.get_cookie("session").value
    c.post("/logout", data={"csrf_token": _csrf(c, "/account")})
    replay = app.test_client()
    replay.set_cookie("session", stolen)
    res = replay.get("/account")
    assert res.status_code == 302 and "/login" in res.headers["Location"]
    assert replay.get(f"/api/v1/areas?{QUERY}").status_code == 401


def test_a_cookie_without_a_session_version_is_refused(app, engine):
    c = app.test_client()
    with engine.connect() as conn:
        uid = conn.execute(select(User.id).where(User.username == "admin")).scalar()
    with c.session_transaction() as sess:  # as a cookie made before session versions would be
        sess["_user_id"] = str(uid)
        sess["_fresh"] = True
    assert c.get("/account").status_code == 302


def test_changing_the_password_ends_other_sessions_and_keeps_this_one(app, engine):
    here, elsewhere = _signed_in_by_form(app), _signed_in_by_form(app)
    res = here.post("/account/password", data={"current": PASSWORD, "new": NEW_PASSWORD, "again": NEW_PASSWORD,
                                               "csrf_token": _csrf(here, "/account/password")})
    assert res.status_code == 302 and res.headers["Location"] == "/account"
    assert "Đã đổi mật khẩu" in here.get("/account").get_data(as_text=True)
    assert elsewhere.get("/account").status_code == 302
    assert _login(app.test_client(), "viewer", PASSWORD).status_code == 401
    assert _login(app.test_client(), "viewer", NEW_PASSWORD).status_code == 302
    assert [(r.target, r.ip) for r in _audit(engine, "password_change")] == [("viewer", "127.0.0.1")]


@pytest.mark.parametrize("form, message", [
    ({"current": PASSWORD, "new": NEW_PASSWORD, "again": NEW_PASSWORD + "x"}, "không giống nhau"),
    ({"current": PASSWORD, "new": "short one", "again": "short one"}, "cần ít nhất 12"),
    ({"current": PASSWORD, "new": "viewer and more words", "again": "viewer and more words"}, "tên đăng nhập"),
    ({"current": "not my password", "new": NEW_PASSWORD, "again": NEW_PASSWORD}, "Mật khẩu hiện tại không đúng"),
    ({"current": "", "new": NEW_PASSWORD, "again": NEW_PASSWORD}, "Hãy nhập mật khẩu hiện tại"),
])
def test_a_refused_password_change_says_why_and_changes_nothing(app, engine, form, message):
    c = _signed_in_by_form(app)
    with engine.connect() as conn:
        before = conn.execute(select(User.password_hash, User.session_version)
                              .where(User.username == "viewer")).one()
    res = c.post("/account/password", data={**form, "csrf_token": _csrf(c, "/account/password")})
    assert res.status_code == 400 and message in res.get_data(as_text=True)
    with engine.connect() as conn:
        assert conn.execute(select(User.password_hash, User.session_version)
                            .where(User.username == "viewer")).one() == before
    assert c.get("/account").status_code == 200


def test_password_change_needs_the_csrf_token(app):
    c = _signed_in_by_form(app)
    res = c.post("/account/password", data={"current": PASSWORD, "new": NEW_PASSWORD, "again": NEW_PASSWORD})
    assert res.status_code == 400
    assert _login(app.test_client(), "viewer", PASSWORD).status_code == 302


def test_deactivating_an_account_ends_its_sessions(app):
    victim = _signed_in_by_form(app, "committee")
    app.config["WTF_CSRF_ENABLED"] = False
    admin = signed_in(app, "admin")
    html = admin.get("/admin/users").get_data(as_text=True)
    uid = re.search(r"<td>committee</td>.*?name=\"deactivate\" value=\"(\d+)\"", html, re.S).group(1)
    assert admin.post("/admin/users", data={"deactivate": uid}).status_code == 200
    assert victim.get("/account").status_code == 302


@pytest.mark.parametrize("value", ["abc", "1; DROP TABLE user_account", "²", "9" * 30, "-1"])
def test_a_malformed_deactivate_value_is_a_clear_400(app, engine, value):
    app.config["WTF_CSRF_ENABLED"] = False
    with engine.connect() as conn:
        before = conn.execute(text("SELECT id, active, session_version FROM user_account ORDER BY id")).all()
    res = signed_in(app, "admin").post("/admin/users", data={"deactivate": value})
    assert res.status_code == 400 and "`deactivate`" in res.get_data(as_text=True)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT id, active, session_version FROM user_account ORDER BY id")).all() == before


def test_deactivating_no_such_account_says_so(app):
    app.config["WTF_CSRF_ENABLED"] = False
    res = signed_in(app, "admin").post("/admin/users", data={"deactivate": "999999"})
    assert res.status_code == 400 and "999999" in res.get_data(as_text=True)


# --------------------------------------------------------------------------- 7. password policy

@pytest.mark.parametrize("password, username, message", [
    ("short pass", "", "needs at least 12"),
    ("x" * 201, "", "at most 200"),
    ("aaaaaaaaaaaaaaaa", "", "one character repeated"),
    ("my name is Nguyen.Van.A ok", "nguyen.van.a", "contains the user name"),
    ("password1234", "", "most common"),
    ("qwertyuiop123", "", "most common"),
    ("Football2024!!", "", "most common"),
    ("anhyeuem123456", "", "most common"),
])
def test_weak_passwords_are_refused(app, password, username, message):
    app.config["BABEL_DEFAULT_LOCALE"] = "en"  # outside a request, messages follow the default language
    with app.app_context():
        with pytest.raises(InputError, match=message):
            check_password(password, username)


@pytest.mark.parametrize("password", [PASSWORD, NEW_PASSWORD, "Xk9#mQ2vL!p7wZ"])
def test_good_passwords_pass(password):
    check_password(password, "viewer")


def test_the_command_line_uses_the_same_password_rules(app, engine, runner):
    app.config["BABEL_DEFAULT_LOCALE"] = "en"  # the command line speaks the default language
    res = runner.invoke(args=["create-user", "can-bo-2", "--role", "viewer", "--password", "password1234"])
    assert res.exit_code == 1 and "most common passwords" in res.output
    res = runner.invoke(args=["set-password", "viewer", "--password", "viewer password long"])
    assert res.exit_code == 1 and "contains the user name" in res.output
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(User).where(User.username == "can-bo-2")).scalar() == 0
    c = _signed_in_by_form(app)
    res = runner.invoke(args=["set-password", "viewer"])
    assert res.exit_code == 0, res.output
    generated = res.output.rsplit("New password: ", 1)[1].strip()
    check_password(generated, "viewer")
    assert c.get("/account").status_code == 302  # the new password ended the old sessions
    assert _login(app.test_client(), "viewer", generated).status_code == 302
    assert [(r.target,) for r in _audit(engine, "password_change")] == [("viewer",)]


# --------------------------------------------------------------------------- 8. tokens

def test_an_expired_token_is_refused_with_a_clear_message(app, engine):
    token = new_token(engine, "analyst", "script", days=30)
    with engine.connect() as conn:
        expires = conn.execute(select(ApiToken.expires_at)).scalar()
    expires = expires.replace(tzinfo=dt.timezone.utc) if expires.tzinfo is None else expires
    assert abs(expires - (utcnow() + dt.timedelta(days=30))) < dt.timedelta(minutes=5)
    c = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    assert c.get(f"/api/v1/areas?{QUERY}", headers=headers).status_code == 200
    with engine.begin() as conn:
        conn.execute(ApiToken.__table__.update().values(expires_at=utcnow() - dt.timedelta(seconds=1)))
    res = c.get(f"/api/v1/areas?{QUERY}", headers=headers)
    assert res.status_code == 401 and "hết hạn" in res.get_json()["error"]
    res = c.get(f"/api/v1/areas?{QUERY}&lang=en", headers=headers)
    assert res.get_json()["error"].startswith("This API token expired on ")


def test_minting_a_token_needs_the_password_and_never_a_token(app, engine):
    analyst = _signed_in_by_form(app, "analyst")
    token = lambda: _csrf(analyst, "/account")  # noqa: E731
    res = analyst.post("/account/tokens", data={"name": "a", "csrf_token": token()})
    assert res.status_code == 400 and "Hãy nhập mật khẩu" in res.get_data(as_text=True)
    res = analyst.post("/account/tokens", data={"name": "a", "password": "a wrong password", "csrf_token": token()})
    assert res.status_code == 400 and len(_audit(engine, "login_failed")) == 1
    res = analyst.post("/account/tokens", data={"name": "a", "password": PASSWORD, "csrf_token": token()})
    html = res.get_data(as_text=True)
    minted = re.search(r'id="new-token">.*?<code>([^<]+)</code>', html, re.S).group(1)
    expiry = (utcnow() + dt.timedelta(days=90)).strftime("%d/%m/%Y")  # the committees' date format
    assert res.status_code == 200 and f"<td>{expiry}</td>" in html and "đã hết hạn" not in html
    bearer = app.test_client()
    res = bearer.post("/account/tokens", data={"name": "b", "password": PASSWORD},
                      headers={"Authorization": f"Bearer {minted}"})
    assert res.status_code == 403
    res = bearer.post("/account/password", data={"current": PASSWORD, "new": NEW_PASSWORD, "again": NEW_PASSWORD},
                      headers={"Authorization": f"Bearer {minted}"})
    assert res.status_code == 403
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(ApiToken)).scalar() == 1
    with bearer.session_transaction() as sess:  # a token request never turns into a signed-in session
        assert "_user_id" not in sess


def test_the_command_line_sets_a_token_lifetime(runner, engine):
    res = runner.invoke(args=["create-token", "analyst", "--days", "7"])
    assert res.exit_code == 0
    digest = hashlib.sha256(res.output.strip().encode()).hexdigest()
    with engine.connect() as conn:
        expires = conn.execute(select(ApiToken.expires_at).where(ApiToken.token_hash == digest)).scalar()
    expires = expires.replace(tzinfo=dt.timezone.utc) if expires.tzinfo is None else expires
    assert dt.timedelta(days=6, hours=23) < expires - utcnow() <= dt.timedelta(days=7)
    res = runner.invoke(args=["create-token", "analyst", "--days", "0"])
    assert res.exit_code == 1 and "từ 1 đến 3650" in res.output  # the default language, vi


# --------------------------------------------------------------------------- 9. headers

def test_hsts_only_over_https(app):
    from web.auth import TrustedProxyFix

    c = app.test_client()
    assert "Strict-Transport-Security" not in c.get("/login").headers
    assert c.get("/login", base_url="https://localhost").headers["Strict-Transport-Security"] == \
        "max-age=31536000; includeSubDomains"
    # X-Forwarded-Proto counts from our proxy only
    forged = c.get("/login", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in forged.headers
    app.wsgi_app = TrustedProxyFix(app.wsgi_app.plain, "127.0.0.1")
    assert "Strict-Transport-Security" in c.get("/login", headers={"X-Forwarded-Proto": "https"}).headers
    app.config["SESSION_COOKIE_SECURE"] = True
    assert "Strict-Transport-Security" in app.test_client().get("/login").headers


def test_private_responses_are_not_stored_by_caches(app):
    from flask import Response

    app.add_url_rule("/own-caching", "own_caching",
                     lambda: Response("{}", headers={"Cache-Control": "private, no-cache", "ETag": '"1"'}))
    c = signed_in(app, "viewer")
    for path in ("/", "/account", f"/api/v1/areas?{QUERY}", f"/export/overview.csv?{QUERY}"):
        assert c.get(path).headers["Cache-Control"] == "no-store", path
    assert app.test_client().get("/login").headers["Cache-Control"] == "no-store"
    assert "no-store" not in c.get("/static/css/app.css").headers.get("Cache-Control", "")
    assert c.get("/own-caching").headers["Cache-Control"] == "private, no-cache"


# --------------------------------------------------------------------------- 10. health

def test_healthz_reports_a_read_only_store(app, db_url, request):
    import web

    assert app.test_client().get("/healthz").status_code == 200
    with app.app_context():
        web.engine().dispose()
    if db_url.startswith("sqlite"):
        path = db_url.removeprefix("sqlite:///")
        app.extensions["hotspot_engine"] = create_engine(f"sqlite:///file:{path}?mode=ro&uri=true")
    else:
        pg = request.getfixturevalue("pg_server")
        database = db_url.rsplit("/", 1)[1]
        pg.sql(f'ALTER DATABASE "{database}" SET default_transaction_read_only = on')
        app.extensions.pop("hotspot_engine")
    res = app.test_client().get("/healthz")
    assert res.status_code == 503 and res.get_json()["status"] == "read_only"


@pytest.mark.sqlite_only("PRAGMA query_only is SQLite's")
def test_healthz_reports_a_query_only_sqlite_store(app):
    import web

    with app.app_context():
        eng = web.engine()
    event.listen(eng, "connect", lambda dbapi_conn, _rec: dbapi_conn.execute("PRAGMA query_only = ON"))
    eng.dispose()
    res = app.test_client().get("/healthz")
    assert res.status_code == 503 and res.get_json() == {"status": "read_only", "store": "SQLITE_READONLY"}


@pytest.mark.sqlite_only("the writer's lock is SQLite's")
def test_healthz_answers_quickly_while_an_import_holds_the_write_lock(app, db_url):
    writer = sqlite3.connect(db_url.removeprefix("sqlite:///"), isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    try:
        started = time.monotonic()
        res = app.test_client().get("/healthz")
        took = time.monotonic() - started
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    # generous: without its own short lock wait the probe would wait the store's 60 s
    assert res.status_code == 200 and res.get_json() == {"status": "ok"} and took < 15


# --------------------------------------------------------------------------- migration

@pytest.mark.sqlite_only("the upgrade path is the same SQL on both; one is enough")
def test_migration_gives_old_tokens_an_expiry_and_accounts_a_session_version(tmp_path):
    from alembic import command

    from geo.store.models import alembic_config, make_engine

    url = f"sqlite:///{tmp_path / 'old.db'}"
    command.upgrade(alembic_config(url), "0005")
    eng = make_engine(url)
    with eng.begin() as conn:
        conn.execute(text("INSERT INTO user_account (username, full_name, role, password_hash, active, created_at) "
                          "VALUES ('old', '', 'analyst', 'x', 1, '2025-01-01 00:00:00')"))
        conn.execute(text("INSERT INTO api_token (user_id, name, token_hash, created_at) "
                          "VALUES (1, 'old', 'abc', '2025-01-01 00:00:00')"))
    command.upgrade(alembic_config(url), "0006")
    with eng.connect() as conn:
        assert conn.execute(text("SELECT session_version FROM user_account")).scalar() == 0
        expires = conn.execute(select(ApiToken.expires_at)).scalar()
    assert dt.timedelta(days=89) < expires.replace(tzinfo=dt.timezone.utc) - utcnow() <= dt.timedelta(days=90)
    command.downgrade(alembic_config(url), "0005")
    eng.dispose()
