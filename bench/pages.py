"""Size and drawing time of the overview page with many incidents loaded.

    python bench/pages.py [--rows 1000000] [--workdir DIR]

Builds (once) a store with --rows synthetic incidents (as bench/load.py does),
serves the app on 127.0.0.1, and in headless Chromium (Debian's, offline)
measures the page's HTML + map script (the ward GeoJSON) in bytes and the time
from navigation until the 168 ward polygons are drawn, for a first (computing)
and a second (cached) view. Goals: ≤ 2 MB, drawn within 2 s.
"""
from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> int:
    from load import build_store
    from playwright.sync_api import sync_playwright
    from werkzeug.serving import make_server

    from server import create_app

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--workdir", default="/tmp/hotspot-bench")
    args = ap.parse_args()
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    db = build_store(workdir, args.rows)
    token = db.with_suffix(".token").read_text().strip()
    app = create_app({"DATABASE_URL": f"sqlite:///{db}", "SECRET_KEY": "bench"})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    url = f"{base}/map/overview?boundary=hcmc-2025&period=2025"
    rows = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium",
                                    args=["--headless", "--no-sandbox", "--disable-gpu",
                                          "--disable-background-networking"])
        ctx = browser.new_context(extra_http_headers={"Authorization": f"Bearer {token}"})
        page = ctx.new_page()
        sizes, foreign = {}, []

        def on_response(res):
            if res.url.startswith(base):
                try:
                    sizes[res.url] = len(res.body())
                except Exception:
                    pass

        page.on("response", on_response)
        page.route("**/*", lambda r: r.continue_() if r.request.url.startswith(base)
                   else (foreign.append(r.request.url), r.abort()))
        for label in ("first view (computes)", "second view (cached)"):
            sizes.clear()
            t = time.perf_counter()
            page.goto(url)
            page.wait_for_function(
                "() => document.querySelectorAll('.leaflet-overlay-pane path.leaflet-interactive').length >= 168")
            took = time.perf_counter() - t
            page_bytes = sum(v for k, v in sizes.items() if "/static/" not in k)
            static_bytes = sum(v for k, v in sizes.items() if "/static/" in k)
            rows.append((label, took, page_bytes, static_bytes))
        browser.close()
    server.shutdown()
    print(f"{args.rows:,} incidents; overview of 2025 on hcmc-2025 (168 wards)")
    print(f"{'view':<24}{'drawn in s':>11}{'HTML+GeoJSON':>14}{'static (cacheable)':>20}")
    for label, took, pb, sb in rows:
        print(f"{label:<24}{took:>11.2f}{pb / 2**20:>12.2f} MB{sb / 2**20:>18.2f} MB")
    print(f"requests outside 127.0.0.1: {len(foreign)}")
    ok = rows[-1][1] <= 2.0 and rows[-1][2] <= 2 * 2**20 and not foreign
    print(f"goals (≤ 2 MB, ≤ 2 s, offline): {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
