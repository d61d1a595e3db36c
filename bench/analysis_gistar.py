"""Gi* on a 100 x 100 grid with 999 permutations: our call against esda's own call.

Run ``python bench/analysis_gistar.py`` (``--quick`` for a 50 x 50 grid and 99
permutations). Other bench scripts import :func:`run`.
"""
from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

import esda
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from clustering.getis_ord import gi_star  # noqa: E402
from clustering.grid import make_grid, ward_weights  # noqa: E402
from clustering.lisa import local_moran  # noqa: E402

SEED = 12345


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


def _best_of(fn, repeat):
    best, result = np.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def run(quick: bool = False) -> list[dict]:
    """Time our Gi* and local Moran against esda's direct calls on the same data.

    Returns rows ``{name, ours_s, baseline_s, ratio, check}``: seconds (best of a few runs),
    ``ratio = ours_s / baseline_s``, and ``check`` True when the values agree (z-scores
    and esda's pseudo p-values to 1e-9). Raises AssertionError when they do not.
    """
    side = 50 if quick else 100
    permutations = 99 if quick else 999
    repeat = 1 if quick else 3
    grid = make_grid((0, 0, side * 100.0, side * 100.0), cell_m=100, shape="square", crs="EPSG:32648")
    grid["count"] = clustered_counts(grid)
    w = ward_weights(grid)
    y = grid["count"].to_numpy()
    rows = []

    ours_s, ours = _best_of(
        lambda: gi_star(grid, "count", w=w, permutations=permutations, seed=SEED), repeat)

    def esda_gi():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return esda.G_Local(y, w, transform="B", star=True, permutations=permutations,
                                seed=SEED, n_jobs=1)

    base_s, ref = _best_of(esda_gi, repeat)
    np.testing.assert_allclose(ours["gi_z"], ref.Zs, atol=1e-9)
    np.testing.assert_allclose(ours["gi_p_sim"], ref.p_sim, atol=1e-9)
    rows.append({"name": f"Gi* {len(grid):,} cells, {permutations} permutations",
                 "ours_s": ours_s, "baseline_s": base_s, "ratio": ours_s / base_s, "check": True})

    ours_s, ours = _best_of(
        lambda: local_moran(grid, "count", w=w, permutations=permutations, seed=SEED), repeat)

    def esda_moran():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return esda.Moran_Local(y, w, transformation="r", permutations=permutations, seed=SEED, n_jobs=1)

    base_s, ref = _best_of(esda_moran, repeat)
    np.testing.assert_allclose(ours["lisa_i"], ref.Is, atol=1e-9)
    np.testing.assert_allclose(ours["lisa_p_sim"], ref.p_sim, atol=1e-9)
    rows.append({"name": f"Local Moran {len(grid):,} cells, {permutations} permutations",
                 "ours_s": ours_s, "baseline_s": base_s, "ratio": ours_s / base_s, "check": True})
    return rows


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    rows = run(quick="--quick" in argv)
    print(f"{'benchmark':<44} {'ours (s)':>9} {'esda (s)':>9} {'ratio':>6}  check")
    for r in rows:
        print(f"{r['name']:<44} {r['ours_s']:>9.3f} {r['baseline_s']:>9.3f} {r['ratio']:>6.2f}  "
              f"{'equal' if r['check'] else 'DIFFERENT'}")


if __name__ == "__main__":
    main()
