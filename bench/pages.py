"""Every map page with many incidents loaded: first view after an import (with the precompute), cached
view, and the bytes a browser loads.

    python bench/pages.py [--rows 1000000] [--workdir DIR] [--out bench/results/pages.json]

Builds (once) a store with --rows synthetic incidents (as bench/load.py does), serves the app on
127.0.0.1 (its default settings: background jobs in a thread of the web process, PRECOMPUTE_PAGES
on), imports a small file (200 incidents: a new data version, as a daily import makes) and queues
the precompute as the import page does. Then, in headless Chromium (Debian's, offline), for the
default view of every map page, as a viewer:

- first view: the page's own first response (the frame, with a progress box while its job runs)
  and the time from the import's end until the page's map is drawn;
- cached view: a second visit, from navigation until the map is drawn;
- HTML + data: the bytes of the cached view's responses outside /static/ (the static files are
  cached by the browser).

Goals: first response ≤ 1.5 s, cached view drawn ≤ 0.3 s, HTML + data ≤ 2 MB. Prints a table and
writes the figures as JSON.
"""
from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

DRAWN = "#map-frame .leaflet-overlay-pane path.leaflet-interactive"
GOALS = {"first_response_s": 1.5, "cached_s": 0.3, "bytes": 2 * 2**20}


def main() -> int:
    from load import build_store
    from playwright.sync_api import sync_playwright
    from werkzeug.serving import make_server

    from geo.ingest import demo
    from geo.ingest.importer import import_file
    from geo.store.models import make_engine
    from geo.store.queries import load_areas
    from server import create_app
    from web.maps import PAGES, precompute

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--workdir", default="/tmp/hotspot-bench")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "pages.json"))
    ap.add_argument("--timeout-min", type=float, default=60, help="longest wait for one page's map")
    args = ap.parse_args()
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    db = build_store(workdir, args.rows)
    token = db.with_suffix(".token").read_text().strip()
    url = f"sqlite:///{db}"
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench"})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"

    # the daily import: the same 200 incidents each run (updated in place), a new data version
    eng = make_engine(url)
    small = workdir / "daily_200.csv"
    if not small.exists():
        records, _truth = demo.generate(load_areas(eng, "hcmc-2025"), n=200, seed=7)
        demo.write_csv(records, small)
    import_file(eng, small, source="bench-daily")
    imported = time.perf_counter()
    queued = precompute(app)  # as the import page does after an import
    eng.dispose()

    rows, foreign = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium",
                                    args=["--headless", "--no-sandbox", "--disable-gpu",
                                          "--disable-background-networking"])
        ctx = browser.new_context(extra_http_headers={"Authorization": f"Bearer {token}"}, locale="vi-VN")
        ctx.set_default_timeout(args.timeout_min * 60_000)
        page = ctx.new_page()
        sizes = {}

        def on_response(res):
            if res.url.startswith(base):
                try:
                    sizes[res.url] = len(res.body())
                except Exception:  # a redirect or an aborted request has no body
                    pass

        page.on("response", on_response)
        page.route("**/*", lambda r: r.continue_() if r.request.url.startswith(base)
                   else (foreign.append(r.request.url), r.abort()))
        for name in PAGES:
            target = f"{base}/map/{name}"
            t = time.perf_counter()
            first = page.goto(target, wait_until="commit")
            first_response = time.perf_counter() - t
            status = first.status
            page.wait_for_selector(DRAWN, state="attached")
            since_import = time.perf_counter() - imported
            sizes.clear()
            t = time.perf_counter()
            page.goto(target)
            page.wait_for_selector(DRAWN, state="attached")
            cached = time.perf_counter() - t
            page_bytes = sum(v for k, v in sizes.items() if "/static/" not in k)
            rows.append({"page": name, "first_status": status, "first_response_s": round(first_response, 3),
                         "drawn_after_import_s": round(since_import, 2), "cached_s": round(cached, 3),
                         "bytes": page_bytes})
            print(f"  {name}: {rows[-1]}", flush=True)
        browser.close()
    server.shutdown()

    print(f"\n{args.rows:,} incidents; default view of each page (hcmc-2025, last year), as a viewer; "
          f"{len(queued)} jobs queued by the import")
    print(f"{'page':<10}{'first response':>16}{'drawn after import':>20}{'cached view':>13}{'HTML+data':>12}")
    for r in rows:
        print(f"{r['page']:<10}{r['first_response_s']:>13.2f} s{'' if r['first_status'] == 200 else '*':1}"
              f"{r['drawn_after_import_s']:>18.1f} s{r['cached_s']:>11.2f} s{r['bytes'] / 2**20:>9.2f} MB")
    print("* the frame with its progress box (202): the job was still running")
    print(f"requests outside 127.0.0.1: {len(foreign)}")
    met = {k: all(r[k] <= g for r in rows) for k, g in GOALS.items()}
    print("goals: " + ", ".join(f"{k} ≤ {g}: {'met' if met[k] else 'NOT met'}" for k, g in GOALS.items()))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"rows": args.rows, "pages": rows, "jobs_queued": len(queued), "goals": GOALS,
                               "met": met, "foreign_requests": len(foreign)}, indent=1) + "\n")
    return 0 if all(met.values()) and not foreign else 1


if __name__ == "__main__":
    sys.exit(main())
