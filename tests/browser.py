"""Real-browser fixtures: the app served on 127.0.0.1 in a thread, Debian's Chromium via Playwright."""
from __future__ import annotations

import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
STATE_TIMEOUT_MS = 180_000
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _serve(app):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture
def live_server(app):
    """The test's app, served on a free loopback port."""
    yield from _serve(app)


@pytest.fixture
def demo_server(demo_app):
    """The app over the demo store, served on a free loopback port."""
    yield from _serve(demo_app)


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package (make system-deps).")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    """A page that records console errors and refuses every request that leaves 127.0.0.1."""
    context = browser.new_context(locale="vi-VN")
    # Tests wait for a state (a selector, a load event), not for a clock: the bound is generous so
    # that a busy machine (the suite runs on every core) only makes them slower, never failing.
    context.set_default_timeout(STATE_TIMEOUT_MS)
    context.set_default_navigation_timeout(STATE_TIMEOUT_MS)
    pg = context.new_page()
    pg.console_errors = []
    pg.foreign_requests = []
    pg.on("console", lambda m: m.type == "error" and pg.console_errors.append(m.text))
    pg.on("pageerror", lambda e: pg.console_errors.append(str(e)))

    def guard(route):
        url = route.request.url
        if url.startswith("http://127.0.0.1:"):
            route.continue_()
        else:
            pg.foreign_requests.append(url)
            route.abort()

    pg.route("**/*", guard)
    yield pg
    context.close()


def screenshot(pg, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    pg.screenshot(path=str(path), full_page=True)
    return path


def sign_in(pg, base_url: str, username: str = "analyst", password: str | None = None) -> None:
    """Sign in through the real form (CSRF token and all)."""
    from tests.conftest import PASSWORD

    pg.goto(base_url + "/login")
    pg.fill("input[name=username]", username)
    pg.fill("input[name=password]", password or PASSWORD)
    pg.click("button[type=submit]")
