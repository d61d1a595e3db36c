"""Batch join and ward × month counts of 10,000,000 incidents over Việt Nam's 3,321 communes.

    python bench/scale.py [--rows 10000000] [--workdir /tmp/hotspot138-scale] [--workers 1 2]

The units are the 3,321 communes and wards of the 34 provinces of 2025
(``vietnam_communes_2025.geojson``, 31 MiB, read once with pyogrio and kept as
GeoParquet in ``--workdir``). The incidents are SYNTHETIC
(``geo.ingest.batch.write_synthetic``): each commune's weight is its province's
share of the population (:data:`PROVINCE_POPULATION`) spread over the province's
communes by sqrt(area), so that small urban wards are denser. The Parquet files
are written once into ``--workdir`` and reused by later runs.

Measured at a quarter, half and all of ``--rows`` (2.5M, 5M and 10M by default),
each configuration in its own process so that peak memory is its own:

* the in-memory path (``geo.ingest.batch.aggregate_in_memory``: pandas read, one
  ``assign_wards`` over all points, pandas groupby) up to ``--in-memory-max`` rows;
* ``geo.ingest.batch.join_and_aggregate`` on a local cluster of 1 and 2 worker
  processes (one thread each, ``--memory-limit``), in partitions of a twentieth
  of ``--rows`` (500,000 rows), the same at every size: wall time without the cluster
  start, CPU seconds of every process of the run, peak RSS of each worker
  (``resource.getrusage`` run on the workers with ``Client.run``) and of the
  process that holds the scheduler and the client;
* at the full size also 2 workers without the spatial partitioning (no shuffle,
  but every partition spans the whole country).

Every run reads the Parquet files, so the read is in every figure. The counts
of every run are checked against the in-memory counts of the same rows (or,
above ``--in-memory-max``, against each other). The last lines say how the peak
per worker moves with the rows and how much CPU other processes on the machine
took meanwhile: a shared machine inflates the wall times, not the CPU seconds.
"""
from __future__ import annotations

import argparse
import hashlib
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
from goals import goal  # noqa: E402  (bench/goals.py)

NATIONAL = ROOT.parent / "shared" / "data" / "boundaries" / "vietnam_communes_2025.geojson"
SEED = 138
CHILD_TIMEOUT_S = 3600

#: Rough population of the 34 provinces of 2025, in millions, by province code: the
#: end-2024 figures of the merged provinces as published with the 2025 reorganisation
#: (Resolution 202/2025/QH15), rounded. Only the shares matter, to about 10 %.
PROVINCE_POPULATION = {
    "01": 8.7, "04": 0.57, "08": 1.87, "11": 0.64, "12": 0.48, "14": 1.3, "15": 1.78, "19": 1.8,
    "20": 0.8, "22": 1.36, "24": 3.62, "25": 4.02, "31": 4.66, "33": 3.57, "37": 4.41, "38": 3.76,
    "40": 3.47, "42": 1.62, "44": 1.87, "46": 1.43, "48": 3.07, "51": 2.16, "52": 3.58, "56": 2.24,
    "66": 3.35, "68": 3.87, "75": 4.49, "79": 14.0, "80": 3.25, "82": 4.37, "86": 4.26, "91": 4.95,
    "92": 4.2, "96": 2.6,
}


def _layer_cache(workdir: Path) -> Path:
    """The national layer as GeoParquet in ``workdir`` (read from GeoJSON with pyogrio once)."""
    digest = hashlib.sha256(NATIONAL.read_bytes()).hexdigest()[:12]
    path = workdir / f"communes-{digest}.parquet"
    if not path.exists():
        import pyogrio

        frame = pyogrio.read_dataframe(NATIONAL, columns=["code", "name", "province_code"], use_arrow=True)
        frame.sort_values("code").reset_index(drop=True).to_parquet(path)
    return path


def load_wards(path: Path):
    import geopandas as gpd

    return gpd.read_parquet(path)


def commune_weights(wards):
    """Province population share times the commune's share of sqrt(area) within its province."""
    import numpy as np

    from clustering.projection import to_metric

    missing = set(wards["province_code"]) - set(PROVINCE_POPULATION)
    if missing:
        raise SystemExit(f"no population for the province codes {sorted(missing)}")
    root_area = np.sqrt(to_metric(wards).area.to_numpy())
    per_province = wards.assign(r=root_area).groupby("province_code")["r"].transform("sum").to_numpy()
    population = wards["province_code"].map(PROVINCE_POPULATION).to_numpy(dtype=float)
    return population * root_area / per_province


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


def ensure_data(workdir: Path, layer: Path, rows: int, rows_per_file: int) -> tuple[Path, float | None]:
    """The folder of Parquet files for ``rows``; written on the first run (returns its seconds then)."""
    from geo.ingest.batch import write_synthetic

    folder = workdir / f"national-{rows}-seed{SEED}-{rows_per_file}"
    done = folder / "_COMPLETE"
    if done.exists():
        return folder, None
    if folder.exists():
        for p in folder.glob("*.parquet"):
            p.unlink()
    wards = load_wards(layer)
    t = time.perf_counter()
    write_synthetic(folder, rows, wards=wards, seed=SEED, rows_per_file=rows_per_file,
                    weights=commune_weights(wards))
    done.write_text(f"{rows}\n")
    return folder, time.perf_counter() - t


def _files(folder: str, rows: int, rows_per_file: int) -> list[str]:
    return [str(p) for p in sorted(Path(folder).glob("part-*.parquet"))[: -(-rows // rows_per_file)]]


# --- child processes ------------------------------------------------------------------------------

def child_dask(layer: str, folder: str, rows: int, rows_per_file: int, workers: int, memory_limit: str,
               spatial: bool, partition_rows: int, result: str) -> dict:
    import pickle

    import dask.dataframe as dd

    from geo.ingest.batch import COLUMNS, _check_wards, client, join_and_aggregate

    wards = load_wards(Path(layer))
    incidents = dd.read_parquet(_files(folder, rows, rows_per_file), columns=list(COLUMNS))
    with client(None, n_workers=workers, memory_limit=memory_limit) as c:
        c.wait_for_workers(workers)
        cpu0 = sum(c.run(cpu_seconds).values()) + cpu_seconds()
        t = time.perf_counter()
        counts = join_and_aggregate(incidents, wards, freq="M", spatial_partition=spatial,
                                    partition_rows=partition_rows, client=c)
        seconds = time.perf_counter() - t
        cpu = sum(c.run(cpu_seconds).values()) + cpu_seconds() - cpu0
        per_worker = sorted(c.run(peak_rss_mib).values())
        scheduler = c.run_on_scheduler(peak_rss_mib)
    counts.to_parquet(result)
    return {"seconds": seconds, "cpu": cpu, "rows": int(counts["count"].sum()), "worker_mib": per_worker,
            "scheduler_mib": scheduler, "outside": int(counts.loc[counts["code"].isna(), "count"].sum()),
            "layer_mib": len(pickle.dumps(_check_wards(wards))) / 2**20}


def child_memory(layer: str, folder: str, rows: int, rows_per_file: int, result: str) -> dict:
    import pandas as pd

    from geo.ingest.batch import aggregate_in_memory

    wards = load_wards(Path(layer))
    cpu0 = cpu_seconds()
    t = time.perf_counter()
    frame = pd.concat([pd.read_parquet(f, columns=["lon", "lat", "local_date"])
                       for f in _files(folder, rows, rows_per_file)], ignore_index=True)
    counts = aggregate_in_memory(frame, wards, freq="M")
    seconds = time.perf_counter() - t
    cpu = cpu_seconds() - cpu0
    counts.to_parquet(result)
    return {"seconds": seconds, "cpu": cpu, "rows": int(counts["count"].sum()), "peak_mib": peak_rss_mib(),
            "outside": int(counts.loc[counts["code"].isna(), "count"].sum())}


def run_child(*args: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True,
                         timeout=CHILD_TIMEOUT_S)
    if out.returncode != 0:
        return {"error": (out.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(out.stdout.strip().splitlines()[-1])


# --- the table ------------------------------------------------------------------------------------

def same_counts(a: Path, b: Path) -> bool:
    import pandas as pd

    return pd.read_parquet(a).equals(pd.read_parquet(b))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000,
                    help="Incidents at the largest size (default 10,000,000); also a quarter and a half of it.")
    ap.add_argument("--workdir", default="/tmp/hotspot138-scale",
                    help="Cache folder for the layer, the Parquet files and the results.")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="Worker counts to measure.")
    ap.add_argument("--memory-limit", default="4GiB", help="Memory limit per worker.")
    ap.add_argument("--in-memory-max", type=int, default=10_000_000,
                    help="Largest row count for the in-memory path (it holds every point at once).")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        kind, *rest = args.child
        if kind == "dask":
            res = child_dask(rest[0], rest[1], int(rest[2]), int(rest[3]), int(rest[4]), rest[5], rest[6] == "1",
                             int(rest[7]), rest[8])
        else:
            res = child_memory(rest[0], rest[1], int(rest[2]), int(rest[3]), rest[4])
        print(json.dumps(res))
        return

    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    rows_per_file = -(-args.rows // 20)         # a quarter and a half of the rows are 5 and 10 files
    sizes = sorted({min(5 * rows_per_file, args.rows), min(10 * rows_per_file, args.rows), args.rows})
    t = time.perf_counter()
    layer = _layer_cache(workdir)
    layer_s = time.perf_counter() - t
    folder, write_s = ensure_data(workdir, layer, args.rows, rows_per_file)
    size_mib = sum(p.stat().st_size for p in folder.glob("*.parquet")) / 2**20
    print(f"machine: {platform.machine()}, {platform.python_implementation()} {platform.python_version()}, "
          f"{os.cpu_count()} cores, {os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB")
    print(f"units: {NATIONAL.name} ({NATIONAL.stat().st_size / 2**20:.0f} MiB GeoJSON), 3,321 communes of "
          f"34 provinces; GeoParquet copy {layer.stat().st_size / 2**20:.0f} MiB"
          + (f", made in {layer_s:.1f} s" if layer_s > 1 else " (cached)"))
    print(f"data: {args.rows:,} synthetic incidents weighted by province population, {size_mib:.0f} MiB Parquet "
          f"in {folder}" + (f", written in {write_s:.0f} s" if write_s is not None else " (cached)"))

    busy0, children0, wall0 = busy_seconds(), children_cpu_seconds(), time.perf_counter()
    rows, peaks = [], {}
    results = workdir / "results"
    results.mkdir(exist_ok=True)
    common = [str(layer), str(folder)]
    layer_mib = None
    for n in sizes:
        ref = None
        if n <= args.in_memory_max:
            ref = results / f"memory-{n}.parquet"
            r = run_child("memory", *common, str(n), str(rows_per_file), str(ref))
            if "error" in r:
                rows.append(("in memory (assign_wards + groupby)", n, "-", None, None, r["error"][:60], "-", 0,
                             "failed"))
                ref = None
            else:
                rows.append(("in memory (assign_wards + groupby)", n, "-", r["seconds"], r["cpu"],
                             f"{r['peak_mib']:.0f}", "-", r["outside"], "reference"))
        configs = [(w, True) for w in args.workers] + ([(max(args.workers), False)] if n == args.rows else [])
        first = None
        for w, spatial in configs:
            path = results / f"dask-{n}-{w}-{int(spatial)}.parquet"
            r = run_child("dask", *common, str(n), str(rows_per_file), str(w), args.memory_limit,
                          "1" if spatial else "0", str(rows_per_file), str(path))
            label = "dask, Hilbert partitions" if spatial else "dask, input partitions"
            if "error" in r:
                rows.append((label, n, str(w), None, None, r["error"][:60], "-", 0, "failed"))
                continue
            layer_mib = r["layer_mib"]
            against = ref or first
            check = ("same" if same_counts(path, against) else "DIFFERENT") if against else "first"
            first = first or path
            if spatial:
                peaks.setdefault(w, {})[n] = max(r["worker_mib"])
            rows.append((label, n, str(w), r["seconds"], r["cpu"], " / ".join(f"{m:.0f}" for m in r["worker_mib"]),
                         f"{r['scheduler_mib']:.0f}", r["outside"], check))

    head = (f"{'path':<36}{'rows':>12}{'workers':>9}{'wall s':>8}{'CPU s':>8}  {'peak RSS/worker MiB':<22}"
            f"{'sched+client MiB':>17}{'outside':>9}  counts")
    print(head)
    print("-" * len(head))
    for label, n, w, s, cpu, peak, sched, outside, check in rows:
        wall = f"{s:>8.1f}{cpu:>8.1f}" if s is not None else f"{'-':>8}{'-':>8}"
        print(f"{label:<36}{n:>12,}{w:>9}{wall}  {peak:<22}{sched:>17}{outside:>9,}  {check}")
    print("peak RSS of the in-memory path is its whole process; 'sched+client' is the process that holds the "
          "LocalCluster scheduler and the client; CPU s adds up every process of the run; 'same' means equal to "
          "the in-memory counts of the same rows (else to the first dask run).")
    if layer_mib is not None:
        print(f"the ward layer is sent to each worker once: {layer_mib:.0f} MiB pickled")
    for w, by_n in sorted(peaks.items()):
        if len(by_n) > 1:
            lo, hi = min(by_n), max(by_n)
            print(f"peak per worker with {w} worker(s): {by_n[lo]:.0f} MiB at {lo:,} rows, {by_n[hi]:.0f} MiB at "
                  f"{hi:,} rows ({by_n[hi] / by_n[lo]:.2f}x for {hi / lo:.0f}x the rows)")
            goal(f"scale, dask with {w} worker(s): peak per worker as rows grow",
                 f"{by_n[lo]:.0f} → {by_n[hi]:.0f} MiB ({lo:,} → {hi:,} rows)", "flat (≤ 1.2x)",
                 by_n[hi] / by_n[lo] <= 1.2)
    goal("scale: ward × month counts on every path", f"{sum(r[-1] == 'same' for r in rows)} of "
         f"{sum(r[-1] != 'first' for r in rows)} runs equal to the in-memory counts", "all equal",
         all(r[-1] in ("same", "first") for r in rows))
    other = busy_seconds() - busy0 - (children_cpu_seconds() - children0)
    span = (time.perf_counter() - wall0) * (os.cpu_count() or 1)
    print(f"other processes on the machine used {max(other, 0.0):.0f} of the {span:.0f} CPU seconds available "
          "during the runs" + ("; the wall times are inflated by that: compare CPU s" if other > 0.05 * span else ""))


if __name__ == "__main__":
    main()
