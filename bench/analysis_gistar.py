"""Gi* and local Moran on a 100 x 100 grid with 999 permutations: ours against esda's own calls.

    python bench/analysis_gistar.py                # 10,000 cells, 999 permutations
    python bench/analysis_gistar.py --quick        # 2,500 cells, 99 permutations
    python bench/analysis_gistar.py --numba DIR    # also esda with numba from DIR

esda is timed as installed by default (without numba: its conditional permutations run
in Python). ``--numba DIR`` also times esda's numba path in a child process with
``DIR`` on ``sys.path`` (``pip install --target DIR numba``): the first call, which
compiles (esda does not cache its compiled functions), the calls after it, and the size
of numba and llvmlite. Other bench scripts import :func:`run`.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import esda
import numpy as np
from esda.crand import compute_chunk
from esda.getisord import _g_local_star_crand
from esda.moran import _moran_local_crand

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from clustering.getis_ord import (  # noqa: E402
    HotSpots,
    binary_neighbours,
    permutation_draws,
    pseudo_p_value,
)
from clustering.grid import make_grid, ward_weights  # noqa: E402
from clustering.lisa import LocalMoran  # noqa: E402

SEED = 12345
GOAL = 3.0          # times faster than esda's own call


def clustered_counts(grid, seed: int = 0) -> np.ndarray:
    """Poisson counts whose intensity has a few Gaussian bumps over a low background."""
    rng = np.random.default_rng(seed)
    c = grid.centroid
    x, y = c.x.to_numpy(), c.y.to_numpy()
    span = max(x.max() - x.min(), y.max() - y.min())
    lam = np.full(len(grid), 0.5)
    for _ in range(6):
        cx, cy = rng.uniform(x.min(), x.max()), rng.uniform(y.min(), y.max())
        lam += rng.uniform(3, 10) * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * (0.05 * span) ** 2))
    return rng.poisson(lam).astype(float)


def _grid(quick):
    side = 50 if quick else 100
    grid = make_grid((0, 0, side * 100.0, side * 100.0), cell_m=100, shape="square", crs="EPSG:32648")
    return grid, clustered_counts(grid), ward_weights(grid)


def _esda(kind, y, w, permutations, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")     # esda's notice on its future default alternative
        if kind == "gi":
            return esda.G_Local(y, w, transform="B", star=True, permutations=permutations, seed=SEED,
                                n_jobs=1, **kw)
        return esda.Moran_Local(y, w, transformation="r", permutations=permutations, seed=SEED,
                                n_jobs=1, **kw)


def _ours(kind, y, w, permutations, n_jobs=1):
    cls = HotSpots if kind == "gi" else LocalMoran
    return cls(y, w, permutations=permutations, seed=SEED, n_jobs=n_jobs)


def _interleaved(fns, repeat):
    """Best time of each function over ``repeat`` rounds, run in turn (they share the noise)."""
    fns[0]()                                 # warm up (imports, caches)
    best = [np.inf] * len(fns)
    results = [None] * len(fns)
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            t0 = time.perf_counter()
            results[i] = fn()
            best[i] = min(best[i], time.perf_counter() - t0)
    return best, results


def _on_our_draws(kind, y, w, observed, permutations):
    """esda's per-site code (``crand.compute_chunk``) run on the draw matrix of our seed."""
    neighbours = binary_neighbours(w)
    k = np.diff(neighbours.indptr)
    draws = permutation_draws(len(y), k.max(), permutations, SEED)
    if kind == "gi":
        v, self_weights, weights, scaling, func = (y, np.ones(len(y)), neighbours.data, y.sum(),
                                                   _g_local_star_crand)
    else:
        v = (y - y.mean()) / y.std()
        self_weights, weights = np.zeros(len(y)), np.repeat(1.0 / k, k)
        scaling, func = (len(y) - 1) / (v * v).sum(), _moran_local_crand
    p_sim, sims = compute_chunk(0, v, v, observed, k, self_weights, weights, draws, scaling, True,
                                func, 0, "directed")
    return np.asarray(p_sim, dtype=float), sims


def _statistic_rows(kind, y, w, permutations, repeat):
    name = "Gi*" if kind == "gi" else "Local Moran"
    (ours_s, ours2_s, ref_s), (ours, _, ref) = _interleaved(
        [lambda: _ours(kind, y, w, permutations), lambda: _ours(kind, y, w, permutations, n_jobs=2),
         lambda: _esda(kind, y, w, permutations)], repeat)
    speed_up = ref_s / ours_s
    if kind == "gi":
        stat, analytic = ours.Gs, np.abs(ours.Zs - ref.Zs).max()
        p_perm, ref_sims = ours.p_perm, ref.rGs
        ref_stat = ref.Gs
    else:
        stat, ref_stat = ours.Is, ref.Is
        analytic = max(np.abs(ours.Is - ref.Is).max(),
                       np.nanmax(np.abs(ours.Z - (ref.Is - ref.EI) / np.sqrt(ref.VI))))
        p_perm, ref_sims = ours.p, ref.rlisas
    # the same draws through esda's own per-site code: the same p-values
    p_sim, sims = _on_our_draws(kind, y, w, stat, permutations)
    same_perm = np.abs(p_perm - pseudo_p_value(stat, sims)).max()
    no_ties = ~np.isclose(sims, stat[:, None], rtol=1e-9, atol=1e-12).any(axis=1)
    same_sim = np.abs(ours.p_sim - p_sim)[no_ties].max()
    # esda's own random numbers: the same p-values up to Monte Carlo error
    theirs = pseudo_p_value(ref_stat, ref_sims)
    bound = 5 * np.sqrt(2 * theirs * (1 - theirs) / (permutations + 1)) + 2 / (permutations + 1)
    mc = float((np.abs(p_perm - theirs) / bound).max())
    return ours_s, [
        (f"{name} {len(y):,} cells, {permutations} permutations (best of {repeat})", "", "", "", None),
        ("  time (s), esda as installed (no numba)", f"{ours_s:.3f}", f"{ref_s:.3f}", "", None),
        ("  speed-up", f"{speed_up:.1f}x", "", f">= {GOAL:g}x", speed_up >= GOAL),
        ("  time (s), ours with n_jobs=2 (threads)", f"{ours2_s:.3f}", "", "", None),
        ("  analytical values, max |diff|", f"{analytic:.1e}", "", "<= 1e-10", analytic <= 1e-10),
        ("  esda's code on our draws: p (ties both tails), max |diff|", f"{same_perm:.1e}", "",
         "0", same_perm == 0),
        (f"  ... esda's p_sim where no tie ({int(no_ties.sum()):,} cells), max |diff|",
         f"{same_sim:.1e}", "", "<= 1e-7 (float32)", same_sim <= 1e-7),
        ("  esda's own draws: max |diff p| / (5 sigma MC bound)", f"{mc:.2f}", "", "<= 1", mc <= 1),
        ("  ... mean diff p", f"{np.mean(p_perm - theirs):+.4f}", "", "", None),
    ]


def _numba_child(quick):
    """Time esda's numba path in this process and print JSON (numba must be importable)."""
    from esda import crand

    if not crand.njit.__module__.startswith("numba"):
        raise RuntimeError("esda did not find numba; pass the folder numba was installed in")
    out = {}
    grid, y, w = _grid(quick)
    permutations = 99 if quick else 999
    for kind in ("gi", "moran"):
        t0 = time.perf_counter()
        _esda(kind, y, w, permutations, keep_simulations=False)
        out[f"{kind}_first_s"] = time.perf_counter() - t0
        out[f"{kind}_s"] = min(_interleaved([lambda: _esda(kind, y, w, permutations,
                                                           keep_simulations=False)], 3)[0])
    print(json.dumps(out))


def _du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _numba_rows(numba_dir, quick, ours):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(numba_dir), os.environ.get("PYTHONPATH", "")]))
    cmd = [sys.executable, __file__, "--numba-child"] + (["--quick"] if quick else [])
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
    if proc.returncode != 0:
        return [("esda with numba", "failed: " + (proc.stderr.strip().splitlines() or ["?"])[-1], "",
                 "", None)]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    size = sum(_du(Path(numba_dir) / name) for name in ("numba", "llvmlite"))
    rows = [("esda with numba (n_jobs=1, keep_simulations=False), in a child process", "", "", "",
             None),
            ("  install size of numba + llvmlite (MB)", "", f"{size / 2 ** 20:.0f}", "", None)]
    for kind, name in (("gi", "Gi*"), ("moran", "Local Moran")):
        rows += [(f"  {name}: first call in the process, compiling (s)", "", f"{got[f'{kind}_first_s']:.1f}", "", None),
                 (f"  {name}: later calls (s), ours from this run", f"{ours[kind]:.3f}",
                  f"{got[f'{kind}_s']:.3f}", "", None)]
    return rows


def run(quick: bool = False, numba_dir=None) -> list[tuple]:
    """Rows ``(measure, ours, reference, goal, met)``: Gi* and local Moran against esda."""
    grid, y, w = _grid(quick)
    permutations = 99 if quick else 999
    repeat = 3 if quick else 5
    rows, ours = [], {}
    for kind in ("gi", "moran"):
        ours[kind], part = _statistic_rows(kind, y, w, permutations, repeat)
        rows += part
    if numba_dir:
        rows += _numba_rows(numba_dir, quick, ours)
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,500 cells and 99 permutations")
    parser.add_argument("--numba", metavar="DIR", help="also time esda with numba installed in DIR")
    parser.add_argument("--numba-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.numba_child:
        _numba_child(args.quick)
        return 0
    from analysis import _table

    rows = run(args.quick, args.numba)
    _table(rows)
    return 0 if all(row[4] is not False for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
