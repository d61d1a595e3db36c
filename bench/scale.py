"""Batch join and ward × month counts of 10,000,000 incidents on dask.distributed.

    python bench/scale.py [--rows 10000000] [--workdir /tmp/hotspot138-scale] [--workers 1 2]

The incidents are SYNTHETIC (``geo.ingest.batch.write_synthetic``), spread over the
2025 commune-level units that the project ships boundaries for: Hồ Chí Minh
City (168 wards and communes) and Hà Nội (126). These are the units we have,
not the 34 provinces of the country; the national case is approximated by the
row count, not by the map. The Parquet files are written once into
``--workdir`` and reused by later runs.

Measured, each configuration in its own process so that peak memory is its own:

* ``geo.ingest.batch.join_and_aggregate`` on a local cluster of 1 and 2 worker
  processes (one thread each, 4 GiB limit): wall time without the cluster
  start, peak RSS of each worker (``resource.getrusage`` run on the workers
  with ``Client.run``) and of the process that holds the scheduler and the
  client (a ``LocalCluster`` runs its scheduler in the client's process);
  also with 2 workers and no spatial partitioning (no shuffle, but each
  partition spans both cities);
* the in-memory path (``geo.ingest.batch.aggregate_in_memory``: pandas read, one
  ``assign_wards`` over all points, pandas groupby) at 2,000,000 rows and at
  the full size when it is at most ``--in-memory-max``.

Every run reads the Parquet files, so the read is in every figure. CPU
seconds add up every process of a run (workers included), and the last line
says how much CPU other processes on the machine took meanwhile: a shared
machine inflates the wall times, not the CPU seconds. The dask counts are
checked against the in-memory counts of the same size.

Measured on the 2-core, 24 GiB machine at 10,000,000 rows (other processes
took 15-20 % of the CPU meanwhile, so wall times moved by a quarter between
runs): in memory 41 s and 4.7 GiB peak; dask with 1 worker 36 s and 1.2 GiB
peak per worker; with 2 workers 24-31 s and under 1 GiB per worker; the same
counts each time. A default run takes about 2.5 minutes, plus 6 s to write
the files the first time.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
BOUNDARIES = ROOT.parent / "shared" / "data" / "boundaries"
LAYERS = ("hcmc_wards_2025", "hanoi_wards_2025")
SEED = 138
CHILD_TIMEOUT_S = 1800


def load_wards():
    import geopandas as gpd
    import pandas as pd

    frames = [gpd.read_file(BOUNDARIES / f"{name}.geojson")[["code", "name", "geometry"]] for name in LAYERS]
    return gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=frames[0].crs) \
        .sort_values("code").reset_index(drop=True)


def peak_rss_mib() -> float:
    """Peak resident set size of the calling process (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds() -> float:
    """User + system CPU time of the calling process so far."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def children_cpu_seconds() -> float:
    """User + system CPU time of the finished child processes (and of theirs)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def busy_seconds() -> float:
    """CPU seconds that the whole machine spent busy since boot (/proc/stat)."""
    with open("/proc/stat") as f:
        ticks = [int(v) for v in f.readline().split()[1:]]
    return (sum(ticks[:8]) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def ensure_data(workdir: Path, rows: int, rows_per_file: int) -> tuple[Path, float | None]:
    """The folder of Parquet files for ``rows``; written on the first run (returns its seconds then)."""
    from geo.ingest.batch import write_synthetic

    folder = workdir / f"incidents-{rows}-seed{SEED}-{rows_per_file}"
    done = folder / "_COMPLETE"
    if done.exists():
        return folder, None
    if folder.exists():
        for p in folder.glob("*.parquet"):
            p.unlink()
    t = time.perf_counter()
    write_synthetic(folder, rows, wards=load_wards(), seed=SEED, rows_per_file=rows_per_file)
    done.write_text(f"{rows}\n")
    return folder, time.perf_counter() - t


# --- child processes ------------------------------------------------------------------------------

def child_dask(folder: str, workers: int, memory_limit: str, spatial: bool, result: str) -> dict:
    from geo.ingest.batch import client, join_and_aggregate

    wards = load_wards()
    with client(None, n_workers=workers, memory_limit=memory_limit) as c:
        c.wait_for_workers(workers)
        cpu0 = sum(c.run(cpu_seconds).values()) + cpu_seconds()
        t = time.perf_counter()
        counts = join_and_aggregate(folder, wards, freq="M", spatial_partition=spatial, client=c)
        seconds = time.perf_counter() - t
        cpu = sum(c.run(cpu_seconds).values()) + cpu_seconds() - cpu0
        per_worker = sorted(c.run(peak_rss_mib).values())
        scheduler = c.run_on_scheduler(peak_rss_mib)
    counts.to_parquet(result)
    return {"seconds": seconds, "cpu": cpu, "rows": int(counts["count"].sum()), "worker_mib": per_worker,
            "scheduler_mib": scheduler, "outside": int(counts.loc[counts["code"].isna(), "count"].sum())}


def child_memory(folder: str, rows: int, rows_per_file: int, result: str) -> dict:
    import pandas as pd

    from geo.ingest.batch import aggregate_in_memory

    wards = load_wards()
    files = sorted(Path(folder).glob("part-*.parquet"))[: -(-rows // rows_per_file)]
    cpu0 = cpu_seconds()
    t = time.perf_counter()
    frame = pd.concat([pd.read_parquet(f, columns=["lon", "lat", "local_date"]) for f in files],
                      ignore_index=True).iloc[:rows]
    counts = aggregate_in_memory(frame, wards, freq="M")
    seconds = time.perf_counter() - t
    cpu = cpu_seconds() - cpu0
    counts.to_parquet(result)
    return {"seconds": seconds, "cpu": cpu, "rows": int(counts["count"].sum()), "peak_mib": peak_rss_mib(),
            "outside": int(counts.loc[counts["code"].isna(), "count"].sum())}


def run_child(*args: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", *args], check=True, capture_output=True, text=True,
                         timeout=CHILD_TIMEOUT_S)
    return json.loads(out.stdout.strip().splitlines()[-1])


# --- the table ------------------------------------------------------------------------------------

def same_counts(a: Path, b: Path) -> bool:
    import pandas as pd

    return pd.read_parquet(a).equals(pd.read_parquet(b))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000, help="Incidents to join (default 10,000,000).")
    ap.add_argument("--workdir", default="/tmp/hotspot138-scale",
                    help="Cache folder for the Parquet files and the results.")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="Worker counts to measure.")
    ap.add_argument("--memory-limit", default="4GiB", help="Memory limit per worker.")
    ap.add_argument("--rows-per-file", type=int, default=1_000_000)
    ap.add_argument("--in-memory-max", type=int, default=10_000_000,
                    help="Largest row count for the in-memory path (it holds every point at once).")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        kind, *rest = args.child
        if kind == "dask":
            res = child_dask(rest[0], int(rest[1]), rest[2], rest[3] == "1", rest[4])
        else:
            res = child_memory(rest[0], int(rest[1]), int(rest[2]), rest[3])
        print(json.dumps(res))
        return

    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    folder, write_s = ensure_data(workdir, args.rows, args.rows_per_file)
    size_mib = sum(p.stat().st_size for p in folder.glob("*.parquet")) / 2**20
    print(f"machine: {platform.machine()}, {platform.python_implementation()} {platform.python_version()}, "
          f"{os.cpu_count()} cores, {os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB")
    print(f"data: {args.rows:,} synthetic incidents over the 2025 units of HCMC + Hà Nội (294 units), "
          f"{size_mib:.0f} MiB Parquet in {folder}"
          + (f", written in {write_s:.1f} s" if write_s is not None else " (cached)"))

    busy0, children0, wall0 = busy_seconds(), children_cpu_seconds(), time.perf_counter()
    rows = []
    results = workdir / "results"
    results.mkdir(exist_ok=True)
    memory_sizes = sorted({n for n in (2_000_000, args.rows) if n <= min(args.rows, args.in_memory_max)})
    ref = {}
    for n in memory_sizes:
        path = results / f"memory-{n}.parquet"
        r = run_child("memory", str(folder), str(n), str(args.rows_per_file), str(path))
        ref[n] = path
        rows.append(("in memory (assign_wards + groupby)", n, "-", r["seconds"], r["cpu"], f"{r['peak_mib']:.0f}", "-",
                     r["outside"], "reference"))
    configs = [(w, True) for w in args.workers] + [(max(args.workers), False)]
    for w, spatial in configs:
        path = results / f"dask-{args.rows}-{w}-{int(spatial)}.parquet"
        r = run_child("dask", str(folder), str(w), args.memory_limit, "1" if spatial else "0", str(path))
        check = ("same" if same_counts(path, ref[args.rows]) else "DIFFERENT") if args.rows in ref else "n/a"
        label = "dask, Hilbert partitions" if spatial else "dask, input partitions"
        rows.append((label, args.rows, str(w), r["seconds"], r["cpu"], " / ".join(f"{m:.0f}" for m in r["worker_mib"]),
                     f"{r['scheduler_mib']:.0f}", r["outside"], check))

    head = (f"{'path':<36}{'rows':>12}{'workers':>9}{'wall s':>8}{'CPU s':>8}  {'peak RSS/worker MiB':<22}"
            f"{'sched+client MiB':>17}{'outside':>9}  counts")
    print(head)
    print("-" * len(head))
    for label, n, w, s, cpu, peak, sched, outside, check in rows:
        print(f"{label:<36}{n:>12,}{w:>9}{s:>8.1f}{cpu:>8.1f}  {peak:<22}{sched:>17}{outside:>9,}  {check}")
    print("peak RSS of the in-memory path is its whole process; 'sched+client' is the process that holds the "
          "LocalCluster scheduler and the client; CPU s adds up every process of the run.")
    other = busy_seconds() - busy0 - (children_cpu_seconds() - children0)
    span = (time.perf_counter() - wall0) * (os.cpu_count() or 1)
    print(f"other processes on the machine used {max(other, 0.0):.0f} of the {span:.0f} CPU seconds available "
          "during the runs" + ("; the wall times are inflated by that: compare CPU s" if other > 0.05 * span else ""))


if __name__ == "__main__":
    main()
