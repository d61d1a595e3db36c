"""Load test against 127.0.0.1 only: 50 concurrent viewers for 60 s on the overview page, the areas API
and the compare API.

    python bench/load.py [--rows 1000000] [--clients 50] [--seconds 60] [--workers 4] [--workdir DIR]

Builds (once, in --workdir) a SQLite store with the shipped boundaries and
--rows synthetic incidents, starts the production server (gunicorn, as
`make serve` does) on a free loopback port, and runs the clients for a bounded
time. The clients sign in with a viewer's token (aggregates only) and accept
gzip as browsers do. Reports requests, errors, latency percentiles and the
workers' memory at the start and the end; ``--no-compare`` leaves the compare
API out. Every request goes to 127.0.0.1.
"""
from __future__ import annotations

import argparse
import http.client
import os
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BOUNDARIES = ROOT.parent / "shared" / "data" / "boundaries"


def build_store(workdir: Path, rows: int) -> Path:
    from geo.ingest import demo
    from geo.ingest.importer import import_file
    from geo.ingest.shipped import load_shipped
    from geo.store.accounts import create_user, new_token
    from geo.store.models import make_engine, upgrade
    from geo.store.queries import load_areas

    db = workdir / f"load_{rows}.db"
    token_file = db.with_suffix(".token")
    url = f"sqlite:///{db}"
    if db.exists() and token_file.exists():
        upgrade(url)  # a store kept from an earlier run gets the newest schema
        return db
    upgrade(url)
    eng = make_engine(url)
    load_shipped(eng, BOUNDARIES, names=["hcmc-2025", "hcmc-2019"])
    csv = workdir / f"incidents_{rows}.csv"
    if not csv.exists():
        records, _ = demo.generate(load_areas(eng, "hcmc-2025"), n=rows, seed=1)
        demo.write_csv(records, csv)
    import_file(eng, csv, source="load")
    create_user(eng, "load", "viewer", password="bench viewer secret words")
    token_file.write_text(new_token(eng, "load", "load test"))
    eng.dispose()
    return db


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mib(pid: int) -> float:
    """Resident memory of a process and its children (the gunicorn workers), MiB."""
    total = 0
    for p in [pid, *children(pid)]:
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except FileNotFoundError:
            pass
    return total / 1024


def children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except FileNotFoundError:
        return []


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--workdir", default="/tmp/hotspot-bench")
    ap.add_argument("--no-compare", action="store_true", help="Only the overview page and the areas API.")
    args = ap.parse_args()
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    db = build_store(workdir, args.rows)
    token = db.with_suffix(".token").read_text().strip()
    print(f"store ready in {time.perf_counter() - t0:.0f} s: {db} ({args.rows:,} incidents)")
    port = free_port()
    env = dict(os.environ, DATABASE_URL=f"sqlite:///{db}", SECRET_KEY="load-test")
    gunicorn = shutil.which("gunicorn", path=str(Path(sys.executable).parent)) or "gunicorn"
    server = subprocess.Popen([gunicorn, "-w", str(args.workers), "-b", f"127.0.0.1:{port}", "--timeout", "120",
                               "server:create_app()"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
    headers = {"Authorization": f"Bearer {token}", "Accept-Encoding": "gzip"}
    year = "2025"
    urls = [f"/map/overview?boundary=hcmc-2025&period={year}",
            f"/api/v1/areas?boundary=hcmc-2025&period={year}"]
    if not args.no_compare:
        urls.append(f"/api/v1/compare?boundary=hcmc-2025&period={year}")
    try:
        for _ in range(100):  # wait for the server
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
                c.request("GET", "/healthz")
                if c.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.2)
        warm = time.perf_counter()

        def warm_one(u):
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
            c.request("GET", u, headers=headers)
            c.getresponse().read()

        for u in urls:  # every worker computes once (concurrent, so each worker takes one); later from its cache
            ws = [threading.Thread(target=warm_one, args=(u,)) for _ in range(2 * args.workers)]
            for w in ws:
                w.start()
            for w in ws:
                w.join()
        print(f"warm-up {time.perf_counter() - warm:.1f} s")
        rss_start = rss_mib(server.pid)
        latencies = {u: [] for u in urls}
        errors = []
        stop = time.perf_counter() + args.seconds
        lock = threading.Lock()

        def client(i):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            n = i
            while time.perf_counter() < stop:
                u = urls[n % len(urls)]
                n += 1
                t = time.perf_counter()
                try:
                    conn.request("GET", u, headers=headers)
                    res = conn.getresponse()
                    res.read()
                    ok = res.status == 200
                except (OSError, http.client.HTTPException) as exc:
                    ok, res = False, exc
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                dt = time.perf_counter() - t
                with lock:
                    (latencies[u].append(dt) if ok else errors.append((u, getattr(res, "status", str(res)))))

        threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
        samples = []
        for th in threads:
            th.start()
        while any(th.is_alive() for th in threads):
            samples.append(rss_mib(server.pid))
            time.sleep(2)
        rss_end = rss_mib(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(f"{args.clients} clients, {args.seconds:.0f} s, {args.workers} gunicorn workers, {os.cpu_count()} cores")
    load = os.getloadavg()
    print(f"machine load average (1, 5, 15 min) at the end: {load[0]:.1f}, {load[1]:.1f}, {load[2]:.1f}")
    print(f"{'endpoint':<52}{'requests':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}")
    for u, lat in latencies.items():
        if lat:
            q = statistics.quantiles(lat, n=100)
            print(f"{u:<52}{len(lat):>9}{1000 * statistics.median(lat):>9.0f}{1000 * q[94]:>9.0f}"
                  f"{1000 * q[98]:>9.0f}")
    total = sum(len(v) for v in latencies.values())
    print(f"requests: {total}, errors: {len(errors)}, throughput {total / args.seconds:.1f}/s")
    print(f"server RSS (all workers): start {rss_start:.0f} MiB, peak {max(samples, default=rss_end):.0f} MiB, "
          f"end {rss_end:.0f} MiB")
    if errors:
        print("first errors:", errors[:5])
    return 0 if not errors else 1


if __name__ == "__main__":
    sys.exit(main())
