"""Import 1,000,000 incidents with validation and the join to two boundary versions.

Compares, in one run and on the same file and store, the service's import with
a naive pipeline: pandas ``read_csv`` + geopandas ``sjoin`` (both versions) +
``DataFrame.to_sql``. Each side runs in its own process so that its peak RSS
is its own.

    python bench/import_1m.py [--rows 1000000] [--keep DIR]

Goals: time <= 1.5x the naive pipeline, under 60 s, peak RSS under 3 GiB.
"""
from __future__ import annotations

import argparse
import json
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
BOUNDARIES = ROOT.parent / "shared" / "data" / "boundaries"
VERSIONS = ("hcmc-2025", "hcmc-2019")


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


def run_ours(db: Path, csv: Path) -> dict:
    from geo.ingest.importer import import_file
    from geo.store.models import make_engine

    eng = make_engine(f"sqlite:///{db}")
    t = time.perf_counter()
    r = import_file(eng, csv, source="bench")
    return {"seconds": time.perf_counter() - t, "rows": r.accepted + r.updated, "rejected": r.rejected}


def run_naive(db: Path, csv: Path) -> dict:
    import geopandas as gpd
    import pandas as pd
    from sqlalchemy import create_engine

    from geo.store.queries import load_areas

    eng = create_engine(f"sqlite:///{db}")
    t = time.perf_counter()
    df = pd.read_csv(csv, encoding="utf-8-sig")
    pts = gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(df["Kinh độ"], df["Vĩ độ"]), crs=4326)
    for name in VERSIONS:
        wards = load_areas(eng, name)[["code", "geometry"]].rename(columns={"code": f"ward_{name}"})
        pts = gpd.sjoin(pts, wards, how="left", predicate="within").drop(columns="index_right")
        pts = pts[~pts.index.duplicated(keep="first")]
    pd.DataFrame(pts.drop(columns="geometry")).to_sql("naive_incident", eng, index=False,
                                                      if_exists="replace", chunksize=50_000)
    return {"seconds": time.perf_counter() - t, "rows": len(pts), "rejected": 0}


def child(kind: str, db: str, csv: str) -> None:
    res = (run_ours if kind == "ours" else run_naive)(Path(db), Path(csv))
    res["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(res))


def measure(kind: str, template: Path, csv: Path, work: Path) -> dict:
    db = work / f"{kind}.db"
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
          f"{__import__('os').cpu_count()} cores")
    print(f"file: {csv.name}, {csv.stat().st_size / 2**20:.0f} MiB, {args.rows:,} rows")
    print(f"{'pipeline':<36}{'seconds':>10}{'peak RSS MiB':>15}{'rows':>12}")
    print(f"{'naive (read_csv+sjoin+to_sql)':<36}{naive['seconds']:>10.1f}{naive['peak_rss_mib']:>15.0f}"
          f"{naive['rows']:>12,}")
    print(f"{'import_file (validate+join+upsert)':<36}{ours['seconds']:>10.1f}{ours['peak_rss_mib']:>15.0f}"
          f"{ours['rows']:>12,}")
    print(f"ratio ours/naive: {ratio:.2f} (goal <= 1.5); under 60 s: {ours['seconds'] < 60}; "
          f"peak RSS under 3 GiB: {ours['peak_rss_mib'] < 3072}")
    if not args.keep:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
