"""Import 1,000,000 incidents with validation and the join to two boundary versions.

Compares, in one run and on the same file and store, the service's import with
a naive pipeline: pandas ``read_csv`` + geopandas ``sjoin`` (both versions) +
``DataFrame.to_sql``. Each side runs in its own process so that its peak RSS
is its own. The import does more than the naive pipeline: every problem of each
row is checked, the rows are upserted on (source, external id) into a table with
its indexes, each incident gets its unit in both versions, and the day aggregates
are built. The table shows the time of each of its steps (read, validate, join,
write, aggregate; CPU seconds count every thread), then the same file imported
again: its rows are all stored already, so none is written.

    python bench/import_1m.py [--rows 1000000] [--keep DIR]

``--keep DIR`` keeps the store template and the CSV there, so later runs skip making them.

Goals: time <= 1.0x the naive pipeline, under 20 s, peak RSS <= 2 GiB.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from goals import goal  # noqa: E402  (bench/goals.py)
BOUNDARIES = ROOT.parent / "shared" / "data" / "boundaries"
VERSIONS = ("hcmc-2025", "hcmc-2019")
STEPS = ("read", "validate", "join", "write", "aggregate")
GOAL_RATIO, GOAL_SECONDS, GOAL_RSS_MIB = 1.0, 20.0, 2048


def make_store(path: Path) -> None:
    from geo.ingest.shipped import load_shipped
    from geo.store.models import make_engine, upgrade

    url = f"sqlite:///{path}"
    upgrade(url)
    eng = make_engine(url)
    load_shipped(eng, BOUNDARIES, names=list(VERSIONS))
    eng.dispose()


def make_csv(path: Path, rows: int) -> None:
    from geo.ingest import demo
    from geo.store.models import make_engine
    from geo.store.queries import load_areas

    eng = make_engine(f"sqlite:///{path.parent / 'store.db'}")
    wards = load_areas(eng, "hcmc-2025")
    records, _ = demo.generate(wards, n=rows, seed=1)
    demo.write_csv(records, path)
    eng.dispose()


def cpu_seconds() -> float:
    use = resource.getrusage(resource.RUSAGE_SELF)
    return use.ru_utime + use.ru_stime


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_ours(db: Path, csv: Path) -> dict:
    from geo.ingest.importer import import_file
    from geo.store.models import make_engine

    eng = make_engine(f"sqlite:///{db}")
    marks = []

    def step(label):
        marks.append((label, time.perf_counter()))

    t, c = time.perf_counter(), cpu_seconds()
    r = import_file(eng, csv, source="bench", progress=step)
    out = {"seconds": time.perf_counter() - t, "cpu": cpu_seconds() - c, "peak_rss_mib": peak_rss_mib(),
           "rows": r.accepted + r.updated, "rejected": r.rejected,
           "steps": {a: tb - ta for (a, ta), (_, tb) in zip(marks, marks[1:])}}
    t = time.perf_counter()
    again = import_file(eng, csv, source="bench")
    out["again"] = {"seconds": time.perf_counter() - t, "written": again.accepted + again.updated,
                    "unchanged": again.unchanged}
    eng.dispose()
    return out


def run_naive(db: Path, csv: Path) -> dict:
    import geopandas as gpd
    import pandas as pd
    from sqlalchemy import create_engine

    from geo.store.queries import load_areas

    eng = create_engine(f"sqlite:///{db}")
    t, c = time.perf_counter(), cpu_seconds()
    df = pd.read_csv(csv, encoding="utf-8-sig")
    pts = gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(df["Kinh độ"], df["Vĩ độ"]), crs=4326)
    for name in VERSIONS:
        wards = load_areas(eng, name)[["code", "geometry"]].rename(columns={"code": f"ward_{name}"})
        pts = gpd.sjoin(pts, wards, how="left", predicate="within").drop(columns="index_right")
        pts = pts[~pts.index.duplicated(keep="first")]
    pd.DataFrame(pts.drop(columns="geometry")).to_sql("naive_incident", eng, index=False,
                                                      if_exists="replace", chunksize=50_000)
    out = {"seconds": time.perf_counter() - t, "cpu": cpu_seconds() - c, "peak_rss_mib": peak_rss_mib(),
           "rows": len(pts), "rejected": 0}
    eng.dispose()
    return out


def child(kind: str, db: str, csv: str) -> None:
    print(json.dumps((run_ours if kind == "ours" else run_naive)(Path(db), Path(csv))))


def measure(kind: str, template: Path, csv: Path, work: Path) -> dict:
    db = work / f"{kind}.db"
    for stale in (work / f"{kind}.db-wal", work / f"{kind}.db-shm"):  # a stale WAL would be replayed
        stale.unlink(missing_ok=True)
    shutil.copyfile(template, db)
    out = subprocess.run([sys.executable, __file__, "--child", kind, str(db), str(csv)],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--keep", default=None, help="Keep the files in this folder.")
    ap.add_argument("--child", nargs=3, metavar=("KIND", "DB", "CSV"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return
    work = Path(args.keep or tempfile.mkdtemp(prefix="bench-import-"))
    work.mkdir(parents=True, exist_ok=True)
    template = work / "store.db"
    if not template.exists():
        make_store(template)
    csv = work / f"incidents_{args.rows}.csv"
    if not csv.exists():
        make_csv(csv, args.rows)
    naive = measure("naive", template, csv, work)
    ours = measure("ours", template, csv, work)
    ratio = ours["seconds"] / naive["seconds"]
    print(f"machine: {platform.machine()}, {platform.python_implementation()} {platform.python_version()}, "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    print(f"file: {csv.name}, {csv.stat().st_size / 2**20:.0f} MiB, {args.rows:,} rows")
    print(f"{'pipeline':<40}{'seconds':>9}{'CPU s':>9}{'peak RSS MiB':>14}{'rows':>12}")
    for label, r in (("naive (read_csv+sjoin+to_sql)", naive), ("import_file (validate+join+upsert)", ours)):
        print(f"{label:<40}{r['seconds']:>9.1f}{r['cpu']:>9.1f}{r['peak_rss_mib']:>14.0f}{r['rows']:>12,}")
    for name in STEPS:
        print(f"{'  ' + name:<40}{ours['steps'].get(name, 0):>9.1f}")
    again = ours["again"]
    print(f"{'import_file, the same file again':<40}{again['seconds']:>9.1f}{'':>23}"
          f"{again['written']:>12,} written ({again['unchanged']:,} unchanged)")
    print(f"ratio ours/naive: {ratio:.2f} (goal <= {GOAL_RATIO}); under {GOAL_SECONDS:.0f} s: "
          f"{ours['seconds'] < GOAL_SECONDS}; peak RSS <= 2 GiB: {ours['peak_rss_mib'] <= GOAL_RSS_MIB}")
    rows = f"{args.rows:,} rows"
    goal(f"import, {rows}: time against the naive pipeline",
         f"{ours['seconds']:.1f} s vs {naive['seconds']:.1f} s: {ratio:.2f}x", f"<= {GOAL_RATIO:g}x", ratio <= GOAL_RATIO)
    if args.rows >= 1_000_000:
        goal(f"import, {rows}: time", f"{ours['seconds']:.1f} s", f"< {GOAL_SECONDS:.0f} s", ours["seconds"] < GOAL_SECONDS)
    goal(f"import, {rows}: peak RSS", f"{ours['peak_rss_mib']:.0f} MiB", "<= 2 GiB", ours["peak_rss_mib"] <= GOAL_RSS_MIB)
    goal(f"import, {rows}: the same file again", f"{again['seconds']:.1f} s, {again['written']:,} rows written",
         "0 rows written", again["written"] == 0)
    if not args.keep:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
