"""API GeoJSON is serialised once per data version, request and disclosure level, and sent with an
ETag (304 on revalidation) and gzip; checked over real HTTP on 127.0.0.1."""
from __future__ import annotations

import gzip
import http.client
import json
import threading

import pytest
from werkzeug.serving import make_server

from geo.ingest.importer import import_file
from geo.store.accounts import new_token
from tests.conftest import DATA, NOW

Q = "/api/v1/compare?boundary=hcmc-2025&start=2025-01-01&end=2025-12-31"


@pytest.fixture
def server(app, engine):
    import_file(engine, DATA / "incidents_good.csv", source="s", now=NOW)
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    tokens = {role: new_token(engine, role, "cache test") for role in ("viewer", "analyst")}
    yield srv.server_port, tokens
    srv.shutdown()


def get(port, path, token, **headers):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("GET", path, headers={"Authorization": f"Bearer {token}", **headers})
    res = conn.getresponse()
    body = res.read()
    conn.close()
    return res, body


def stats(app):
    return dict(app.extensions["response_cache"].stats)


def test_second_call_sends_the_same_bytes_without_serialising_again(app, server):
    port, tokens = server
    first, body = get(port, Q, tokens["analyst"])
    assert first.status == 200 and first.getheader("Content-Type") == "application/geo+json"
    before = stats(app)
    again, body2 = get(port, Q, tokens["analyst"])
    assert body2 == body
    assert stats(app) == {"hits": before["hits"] + 1, "serialised": before["serialised"]}
    assert again.getheader("ETag") == first.getheader("ETag")
    assert first.getheader("Cache-Control") == "private, no-cache"
    assert json.loads(body)["meta"]["total"]["count"] == 1  # incidents_good has one 2025 incident in a ward


def test_if_none_match_gives_304_with_an_empty_body(app, server):
    port, tokens = server
    first, _ = get(port, Q, tokens["analyst"])
    etag = first.getheader("ETag")
    assert etag.startswith('"') and not etag.startswith("W/")  # strong
    res, body = get(port, Q, tokens["analyst"], **{"If-None-Match": etag})
    assert res.status == 304 and body == b""
    res, body = get(port, Q, tokens["analyst"], **{"If-None-Match": '"something-else"'})
    assert res.status == 200 and body


def test_gzip_decompresses_to_the_identical_json(app, server):
    port, tokens = server
    plain_res, plain = get(port, Q, tokens["analyst"])
    served = stats(app)["serialised"]
    res, zipped = get(port, Q, tokens["analyst"], **{"Accept-Encoding": "gzip, deflate"})
    assert res.getheader("Content-Encoding") == "gzip"
    assert "Accept-Encoding" in res.getheader("Vary")
    assert len(zipped) < len(plain) and gzip.decompress(zipped) == plain
    assert res.getheader("ETag") != plain_res.getheader("ETag")  # one per representation
    assert stats(app)["serialised"] == served  # compressed once, with the plain bytes
    again, _ = get(port, Q, tokens["analyst"], **{"Accept-Encoding": "gzip", "If-None-Match": res.getheader("ETag")})
    assert again.status == 304


def test_viewer_and_analyst_responses_are_cached_apart(app, server):
    port, tokens = server
    q = "/api/v1/areas?boundary=hcmc-2025&start=2024-01-01&end=2025-12-31"
    served = stats(app)["serialised"]
    a_res, analyst = get(port, q, tokens["analyst"])
    v_res, viewer = get(port, q, tokens["viewer"])
    assert (a_res.status, v_res.status) == (200, 200)
    assert stats(app)["serialised"] == served + 2
    counts = lambda body: {f["properties"]["code"]: f["properties"]["count"] for f in json.loads(body)["features"]}
    exact, shown = counts(analyst), counts(viewer)
    small = {c for c, n in exact.items() if 1 <= n <= 4}
    assert small and all(shown[c] is None for c in small)
    assert a_res.getheader("ETag") != v_res.getheader("ETag")
    # each comes back from its own entry
    assert get(port, q, tokens["viewer"])[1] == viewer and get(port, q, tokens["analyst"])[1] == analyst
    assert stats(app)["serialised"] == served + 2


def test_a_new_import_makes_a_new_body(app, engine, server):
    port, tokens = server
    q = "/api/v1/areas?boundary=hcmc-2025&start=2024-01-01&end=2025-12-31"
    _, before = get(port, q, tokens["analyst"])
    import_file(engine, DATA / "incidents.geojson", source="other", now=NOW)
    res, after = get(port, q, tokens["analyst"])
    assert res.status == 200 and after != before
