"""Accounts, roles on every route, tokens, CSRF, sign-in limits and security headers."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import text

from geo.ingest.importer import import_file
from tests.conftest import DATA, NOW, PASSWORD, signed_in
from web.auth import ROLES

# Every endpoint with the least role that may use it ("public": no sign-in). A new route must be
# added here, or test_every_route_is_classified fails.
ACCESS = {
    "static": "public", "auth.login": "public", "home.healthz": "public",
    "auth.logout": "viewer", "auth.account": "viewer", "auth.create_token": "analyst",
    "auth.revoke_token": "viewer", "auth.change_password": "viewer",
    "home.home": "viewer",
    "api.areas": "viewer", "api.gistar": "viewer", "api.lisa": "viewer", "api.compare": "viewer",
    "api.emerging": "viewer", "api.dbscan": "viewer", "api.kde": "viewer", "api.complex_areas": "viewer",
    "api.ward": "viewer", "api.job_status": "viewer", "api.hours": "viewer", "api.months": "viewer",
    "api.forecast": "viewer", "api.forecast_backtest": "viewer", "api.near_repeat": "viewer", "api.sites": "viewer",
    "maps.map_page": "viewer", "maps.map_script": "viewer", "maps.export": "viewer",
    "admin.import_page": "analyst", "admin.import_confirm": "analyst", "admin.rejected_csv": "analyst", "admin.audit_page": "admin",
    "admin.users_page": "admin", "categories.categories_page": "admin", "categories.categories_change": "admin",
    "boundaries.index": "analyst", "boundaries.fields": "analyst", "boundaries.preview": "analyst",
    "boundaries.delete": "analyst",
    "committee.index": "viewer", "committee.plan": "viewer", "committee.area": "viewer",
    "committee.flags": "viewer", "committee.flags_script": "viewer", "committee.programmes": "viewer",
    "committee.report": "viewer", "committee.report_download": "viewer",
    "committee.create_plan": "committee", "committee.select": "committee",
    "committee.correct_decision": "committee", "committee.assess": "committee",
    "committee.record_programme": "committee", "committee.adopt_place": "committee",
    "committee.attach_sites": "committee",
    "committee.programmes_script": "viewer", "committee.programmes_download": "viewer",
    "committee.plan_script": "viewer", "committee.area_script": "viewer",
}
SAMPLE_ARGS = {"page": "overview", "code": "26743", "fmt": "csv", "token_id": 1, "filename": "css/app.css",
               "batch_id": 1, "plan_id": 1, "area_id": 1, "job_id": 1, "name": "hcmc-2019"}
QUERY = "boundary=hcmc-2025&start=2024-01-01&end=2024-12-31"


def _url(app, rule):
    with app.test_request_context():
        from flask import url_for

        args = {a: SAMPLE_ARGS[a] for a in rule.arguments}
        return url_for(rule.endpoint, **args) + ("?" + QUERY if rule.endpoint.startswith(("api.", "maps.")) else "")


def test_every_route_is_classified(app):
    endpoints = {r.endpoint for r in app.url_map.iter_rules()}
    assert endpoints == set(ACCESS), f"unclassified: {endpoints - set(ACCESS)}; gone: {set(ACCESS) - endpoints}"


@pytest.fixture
def loaded_app(app, engine):
    import_file(engine, DATA / "incidents_good.csv", source="s", now=NOW)
    return app


def test_each_route_refuses_roles_below_its_own(loaded_app):
    app = loaded_app
    for rule in app.url_map.iter_rules():
        need = ACCESS[rule.endpoint]
        method = "GET" if "GET" in rule.methods else "POST"
        url = _url(app, rule)
        anon = app.test_client().open(url, method=method)
        if need == "public":
            assert anon.status_code not in (401, 403), url
            continue
        assert anon.status_code in (302, 401), (url, anon.status_code)
        if anon.status_code == 302:
            assert "/login" in anon.headers["Location"]
        for role in ROLES:
            client = signed_in(app, role)
            if method == "POST":
                app.config["WTF_CSRF_ENABLED"] = False  # CSRF has its own test below
            res = client.open(url, method=method)
            app.config["WTF_CSRF_ENABLED"] = True
            allowed = ROLES.index(role) >= ROLES.index(need)
            assert (res.status_code != 403) == allowed, (url, role, res.status_code)
            assert res.status_code != 401, (url, role)


def test_tuning_parameters_are_for_analysts(loaded_app):
    url = f"/api/v1/dbscan?{QUERY}&eps=100"
    assert signed_in(loaded_app, "viewer").get(url).status_code == 403
    assert signed_in(loaded_app, "committee").get(url + "&lang=en").get_json()["error"] == \
        "Only analysts may set `eps`."
    assert signed_in(loaded_app, "analyst").get(url).status_code != 403


def _csrf(client, path="/login"):
    html = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)


def test_sign_in_form_and_failed_attempts_are_audited_and_limited(app, engine):
    c = app.test_client()
    token = _csrf(c)
    bad = c.post("/login", data={"username": "viewer", "password": "wrong password", "csrf_token": token})
    assert bad.status_code == 401 and "Sai tên đăng nhập hoặc mật khẩu" in bad.get_data(as_text=True)
    ok = c.post("/login", data={"username": "viewer", "password": PASSWORD, "csrf_token": token})
    assert ok.status_code == 302 and c.get("/").status_code == 200
    with engine.connect() as conn:
        actions = conn.execute(text("SELECT action FROM audit_log WHERE target = 'viewer' ORDER BY id")).scalars().all()
    assert actions[-2:] == ["login_failed", "login"]
    c2 = app.test_client()
    token = _csrf(c2)
    for _ in range(5):
        c2.post("/login", data={"username": "admin", "password": "nope nope nope", "csrf_token": token})
    limited = c2.post("/login", data={"username": "admin", "password": PASSWORD, "csrf_token": token})
    assert limited.status_code == 429


def test_post_without_csrf_token_is_refused(app):
    c = app.test_client()
    res = c.post("/login", data={"username": "viewer", "password": PASSWORD})
    assert res.status_code == 400
    signed = signed_in(app, "viewer")
    assert signed.post("/logout").status_code == 400


def test_api_token_signs_requests_and_can_be_revoked(app, engine):
    from geo.store.accounts import new_token

    token = new_token(engine, "analyst", "script")
    c = app.test_client()
    ok = c.get(f"/api/v1/areas?{QUERY}", headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200
    assert c.get(f"/api/v1/areas?{QUERY}", headers={"Authorization": "Bearer nope"}).status_code == 401
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT token_hash FROM api_token")).scalar()
    assert token not in stored and len(stored) == 64  # only the hash is kept
    with engine.begin() as conn:
        conn.execute(text("UPDATE api_token SET revoked_at = CURRENT_TIMESTAMP"))
    assert c.get(f"/api/v1/areas?{QUERY}", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_security_headers_and_cookie_flags(app):
    c = app.test_client()
    res = c.get("/login")
    csp = res.headers["Content-Security-Policy"]
    assert "script-src 'self';" in csp and "frame-ancestors 'none'" in csp
    assert res.headers["X-Content-Type-Options"] == "nosniff"
    token = _csrf(c)
    res = c.post("/login", data={"username": "viewer", "password": PASSWORD, "csrf_token": token})
    cookie = res.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_passwords_are_hashed_with_scrypt(engine):
    with engine.connect() as conn:
        h = conn.execute(text("SELECT password_hash FROM user_account WHERE username = 'viewer'")).scalar()
    assert h.startswith("scrypt:") and PASSWORD not in h
