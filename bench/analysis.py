"""Speed, memory and accuracy of the hot-spot analyses against scikit-learn.

    python bench/analysis.py            # full sizes (a few minutes)
    python bench/analysis.py --quick    # small sizes (under a minute)

Each section compares one module of ``clustering/`` with the reference
implementation on synthetic incidents laid out like Hồ Chí Minh City and
prints one row per measure with its goal. Heavy runs go to a child process so
that each peak RSS is measured on its own.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from goals import goal  # noqa: E402  (bench/goals.py)

GIB = 2 ** 30
UTM48N = "EPSG:32648"
# Child processes stop at this much address space (MemoryError) or time.
CHILD_MEMORY = min(16 * GIB, int(0.75 * os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")))
CHILD_TIMEOUT_S = 1800
# The synthetic city: a square of SIDE_M metres from ORIGIN (UTM 48N).
ORIGIN = np.array([671_000.0, 1_177_000.0])
SIDE_M = 30_000.0


def clustered_points(n, seed=0):
    """``n`` incident coordinates (metres, UTM 48N) shaped like a city's records.

    A 30 x 30 km square around central Hồ Chí Minh City: 35 % background
    (half uniform, half concentrated downtown with a 6 km spread), 45 % in
    400 hot spots (markets, stations: standard deviation 50-300 m, sizes
    heavy-tailed), 20 % at repeated addresses (Zipf counts, as when many
    reports are geocoded to one place). Coordinates are rounded to 0.1 m.
    """
    rng = np.random.default_rng(seed)
    centre = np.array([SIDE_M / 2, SIDE_M / 2])

    def inside(p):
        return np.clip(p, 0, SIDE_M)

    n_bg, n_addr = int(0.35 * n), int(0.20 * n)
    n_blob = n - n_bg - n_addr
    half = n_bg // 2
    background = np.r_[rng.uniform(0, SIDE_M, (n_bg - half, 2)),
                       inside(centre + rng.normal(0, 6_000, (half, 2)))]
    k = 400
    centres = inside(centre + rng.normal(0, 7_000, (k, 2)))
    spread = rng.uniform(50, 300, k)
    share = rng.pareto(1.5, k) + 1
    share /= share.sum()
    which = rng.choice(k, n_blob, p=share)
    blobs = centres[which] + rng.normal(0, 1, (n_blob, 2)) * spread[which, None]
    n_sites = max(n_addr // 5, 1)
    sites = np.r_[inside(centre + rng.normal(0, 7_000, (n_sites // 2, 2))),
                  centres[rng.choice(k, n_sites - n_sites // 2, p=share)]
                  + rng.normal(0, 200, (n_sites - n_sites // 2, 2))]
    popularity = np.minimum(rng.zipf(2.0, n_sites), 300).astype(float)
    popularity /= popularity.sum()
    addresses = sites[rng.choice(n_sites, n_addr, p=popularity)]
    xy = np.round(np.r_[background, blobs, addresses], 1) + ORIGIN
    return xy[rng.permutation(n)]


def _peak_rss():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kB on Linux


# --------------------------------------------------------------------------------------------
# (a) Kernel density
# --------------------------------------------------------------------------------------------

def bench_kde(quick):
    """clustering.kde.kde against sklearn KernelDensity.score_samples on one 128 x 128 grid."""
    import geopandas as gpd
    from sklearn.neighbors import KernelDensity

    from clustering.kde import SUPPORT, default_bandwidth, kde

    n = 20_000 if quick else 100_000
    xy = clustered_points(int(n * 1.1), seed=1)
    # Points in the city square only (the background reaches its edges), so the grid is square.
    xy = xy[((xy >= ORIGIN) & (xy <= ORIGIN + SIDE_M)).all(axis=1)][:n]
    points = gpd.GeoDataFrame(geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=UTM48N)
    h = default_bandwidth(xy)
    extent = float((xy.max(axis=0) - xy.min(axis=0)).max() + 2 * SUPPORT["gaussian"] * h)
    cell = extent / 128 * (1 + 1e-9)

    t_ours = np.inf
    for _ in range(5):      # fastest of 5: the machine may be shared
        t0 = time.perf_counter()
        ours = kde(points, bandwidth_m=h, cell_m=cell, kernel="gaussian")
        t_ours = min(t_ours, time.perf_counter() - t0)
    gx, gy = ours.centres()
    grid = np.column_stack([gx.ravel(), gy.ravel()])
    t0 = time.perf_counter()
    log_density = KernelDensity(kernel="gaussian", bandwidth=h).fit(xy).score_samples(grid)
    t_ref = time.perf_counter() - t0
    reference = np.exp(log_density).reshape(ours.density.shape) * n * 1e6   # per km²
    diff = float(np.abs(ours.density - reference).max() / reference.max() * 100)
    ratio = t_ref / t_ours
    shape = "x".join(map(str, ours.density.shape))
    return [
        (f"KDE {n:,} points, {shape} grid, h={h:.0f} m", "", "", "", None),
        ("  time (s)", f"{t_ours:.3f}", f"{t_ref:.2f}", "", None),
        ("  speed-up", f"{ratio:,.0f}x", "", ">= 100x", ratio >= 100),
        ("  max |diff| / peak", f"{diff:.3f} %", "", "<= 1 %", diff <= 1),
    ]


# --------------------------------------------------------------------------------------------
# (b) DBSCAN
# --------------------------------------------------------------------------------------------

def _dbscan_child(which, n, eps, min_samples, out):
    """Run one DBSCAN in this process and report time and peak RSS as JSON."""
    from sklearn.cluster import DBSCAN

    from clustering.dbscan import DBSCANSpots

    xy = clustered_points(n, seed=0)
    resource.setrlimit(resource.RLIMIT_AS, (CHILD_MEMORY, CHILD_MEMORY))
    before = _peak_rss()
    t0 = time.perf_counter()
    if which == "sklearn":
        labels = DBSCAN(eps=eps, min_samples=min_samples).fit(xy).labels_
    else:
        labels = DBSCANSpots(eps_m=eps, min_samples=min_samples).fit(xy).labels_
    seconds = time.perf_counter() - t0
    np.save(out, labels)
    print(json.dumps({"seconds": seconds, "peak_rss": _peak_rss(), "rss_before": before,
                      "clusters": int(labels.max()) + 1}))


def _run_child(which, n, eps, min_samples, out):
    cmd = [sys.executable, __file__, "--child", which, "--n", str(n), "--eps", str(eps),
           "--min-samples", str(min_samples), "--out", out]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=CHILD_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return {"error": f"stopped after {CHILD_TIMEOUT_S} s"}
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["?"])[-1]
        if "MemoryError" in proc.stderr or proc.returncode < 0:
            return {"error": f"out of memory (limit {CHILD_MEMORY / GIB:.0f} GiB): {last}"}
        return {"error": last}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _best_of(repeat, which, n, eps, min_samples, out):
    """Fastest of ``repeat`` child runs (the machine may be shared), with the largest peak RSS."""
    runs = [_run_child(which, n, eps, min_samples, out) for _ in range(repeat)]
    good = [r for r in runs if "error" not in r]
    if not good:
        return runs[0]
    best = min(good, key=lambda r: r["seconds"])
    return dict(best, peak_rss=max(r["peak_rss"] for r in good))


def _dbscan_rows(n, eps, min_samples, tmp, repeat):
    ours_out, ref_out = os.path.join(tmp, f"ours_{n}.npy"), os.path.join(tmp, f"ref_{n}.npy")
    ours = _best_of(repeat, "ours", n, eps, min_samples, ours_out)
    ref = _best_of(repeat, "sklearn", n, eps, min_samples, ref_out)
    rows = [(f"DBSCAN {n:,} points, eps {eps:g} m, min_samples {min_samples} "
             f"(best of {repeat})", "", "", "", None)]
    if "error" in ours:
        raise RuntimeError(f"DBSCANSpots failed at {n:,} points: {ours['error']}")
    rows.append(("  time (s)", f"{ours['seconds']:.2f}",
                 f"{ref['seconds']:.2f}" if "error" not in ref else "failed", "", None))
    rows.append(("  peak RSS (GiB)", f"{ours['peak_rss'] / GIB:.2f}",
                 f"{ref['peak_rss'] / GIB:.2f}" if "error" not in ref else "failed",
                 "<= 2 GiB (ours)", ours["peak_rss"] <= 2 * GIB))
    if "error" in ref:
        rows.append(("  sklearn", ref["error"], "", "", None))
        return rows, False
    same = np.array_equal(np.load(ours_out), np.load(ref_out))
    assert same, f"DBSCANSpots labels differ from sklearn.cluster.DBSCAN at {n:,} points"
    ratio = ref["seconds"] / ours["seconds"]
    rows.append(("  labels identical to sklearn", "yes", "", "identical", same))
    rows.append(("  clusters", str(ours["clusters"]), str(ref["clusters"]), "", None))
    # The speed goal is set at 1,000,000 points; smaller runs only report it.
    rows.append(("  speed-up", f"{ratio:.1f}x", "", ">= 5x at 1M points",
                 ratio >= 5 if n >= 1_000_000 else None))
    return rows, True


def _neighbour_list_bytes(n, eps):
    """Bytes of the radius-neighbour index lists sklearn's DBSCAN would hold (a lower bound)."""
    from scipy.spatial import cKDTree

    unique, counts = np.unique(clustered_points(n, seed=0), axis=0, return_counts=True)
    tree = cKDTree(unique)
    counts = counts.astype(float)
    pairs = tree.count_neighbors(tree, eps, weights=(counts, counts))
    return pairs * np.dtype(np.intp).itemsize


def _default_eps_rows(n, eps, min_samples, tmp):
    """The service's default eps: ours is run, sklearn's memory is only estimated."""
    ours = _best_of(3, "ours", n, eps, min_samples, os.path.join(tmp, f"ours_{n}_{eps:g}.npy"))
    if "error" in ours:
        raise RuntimeError(f"DBSCANSpots failed at {n:,} points, eps {eps:g}: {ours['error']}")
    lists = _neighbour_list_bytes(n, eps)
    return [
        (f"DBSCAN {n:,} points, eps {eps:g} m (service default), min_samples {min_samples}",
         "", "", "", None),
        ("  time (s)", f"{ours['seconds']:.2f}", "not run", "", None),
        ("  peak RSS (GiB)", f"{ours['peak_rss'] / GIB:.2f}",
         f">= {lists / GIB:.1f} *", "<= 2 GiB (ours)", ours["peak_rss"] <= 2 * GIB),
        ("  * sklearn's neighbour index lists alone (counted with a k-d tree)", "", "", "", None),
    ]


def bench_dbscan(quick):
    """clustering.dbscan.DBSCANSpots against plain sklearn.cluster.DBSCAN (each in a child)."""
    n = 200_000 if quick else 1_000_000
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        part, ok = _dbscan_rows(n, 50.0, 20, tmp, repeat=3)
        rows += part
        if not ok:
            # sklearn could not finish at full size: compare where it can.
            part, _ = _dbscan_rows(n // 4, 50.0, 20, tmp, repeat=3)
            rows += part
        rows += _default_eps_rows(n, 250.0, 20, tmp)
    return rows


# --------------------------------------------------------------------------------------------
# Sections, in order. Each takes `quick` and returns rows
# (measure, ours, reference, goal, met: bool or None).
# --------------------------------------------------------------------------------------------

def bench_gistar(quick):
    """Gi* and local Moran on 10,000 grid cells, 999 permutations, against esda's own calls."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from analysis_gistar import run

    return run(quick)


SECTIONS = [bench_kde, bench_dbscan, bench_gistar]


def _table(rows):
    head = ("measure", "ours", "reference", "goal", "met")
    body = [(m, o, r, g, "" if ok is None else ("yes" if ok else "NO"))
            for m, o, r, g, ok in rows]
    widths = [max(len(str(row[i])) for row in [head, *body]) for i in range(5)]
    line = "  ".join("{:<%d}" % w for w in widths)
    print(line.format(*head))
    print(line.format(*("-" * w for w in widths)))
    for row in body:
        print(line.format(*row))
    section = ""
    for measure, ours, reference, target, met in rows:
        if not measure.startswith(" "):
            section = measure
        if target and met is not None:
            name = f"{section}: {measure.strip()}" if measure != section else measure
            goal(name, f"{ours} (reference {reference})" if reference else str(ours), target, met)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a quick check")
    parser.add_argument("--child", choices=["ours", "sklearn"], help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--eps", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--min-samples", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _dbscan_child(args.child, args.n, args.eps, args.min_samples, args.out)
        return 0
    rows = []
    for section in SECTIONS:
        print(f"running {section.__name__} ...", flush=True)
        rows += section(args.quick)
    _table(rows)
    return 0 if all(row[4] is not False for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
