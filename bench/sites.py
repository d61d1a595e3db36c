"""How long placing cameras takes: 10 sites over one year of a former district's incidents.

    python bench/sites.py            # Gò Vấp: the demo's 2025 incidents, and a denser synthetic year
    python bench/sites.py --quick    # the demo's 2025 incidents only

Data: the synthetic demo (``geo.ingest.demo.generate``, 60,000 incidents over Hồ Chí Minh City
2023-2025) cut to the 16 wards of the former Gò Vấp district (hcmc-2019) in 2025; and 3,000
incidents generated over Gò Vấp alone in 2025 (a denser, flatter year: the hardest case for the
solver). 50 m grid candidates, the camera radius (75 m), k = 10. Printed per data set: the problem
size after the reductions (demand points, candidates), the time of one solve (k = 10) and of the
1…10 curve, with PuLP's CBC (the service's solver) and HiGHS without presolve in the same run, and
the share a greedy choice covers against the optimum. Goal: 10 sites in under 5 s. Results go to
bench/results/sites.json.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
from goals import goal  # noqa: E402  (bench/goals.py)
SHARED = ROOT.parent / "shared" / "data"
GOAL_S = 5.0


def go_vap():
    import geopandas as gpd
    wards = gpd.read_file(SHARED / "boundaries" / "hcmc_wards_2019.geojson")
    return wards[wards["district"].astype(str).str.contains("Gò Vấp")][["code", "name", "geometry"]]


def points(records, area):
    import geopandas as gpd

    from clustering.projection import metric_points
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(records["Kinh độ"], records["Vĩ độ"]), crs="EPSG:4326")
    pts = pts[pts.within(area.union_all())]
    xy, _crs = metric_points(pts)
    return xy[np.isfinite(xy).all(axis=1)]


def data_sets(quick: bool):
    import geopandas as gpd

    from geo.ingest.demo import generate
    gv = go_vap()
    city = gpd.read_file(SHARED / "boundaries" / "hcmc_wards_2025.geojson")
    records, _ = generate(city)
    year = records[records["Thời gian xảy ra"].astype(str).str[6:10] == "2025"]  # dd/mm/yyyy hh:mm
    out = [("demo 2025, Gò Vấp", points(year, gv))]
    if not quick:
        dense, _ = generate(gv, n=3000, start=dt.date(2025, 1, 1), end=dt.date(2025, 12, 31))
        out.append(("3,000 synthetic incidents over Gò Vấp, 2025", points(dense, gv)))
    return out


def greedy_share(xy, cand, k, radius):
    """The greedy choice (each site the one adding most): the baseline a spreadsheet would give."""
    from scipy.spatial import cKDTree
    near = cKDTree(cand).query_ball_point(xy, radius)
    sets = [[] for _ in range(len(cand))]
    for i, js in enumerate(near):
        for j in js:
            sets[j].append(i)
    covered = np.zeros(len(xy), bool)
    for _ in range(k):
        gains = [int((~covered[s]).sum()) if s else 0 for s in sets]
        covered[sets[int(np.argmax(gains))]] = True
    return covered.mean()


def run(name, xy, k=10, radius=75.0, spacing=50.0):
    import pulp

    from clustering.coverage import grid_candidates, maximal_cover
    cand = grid_candidates(xy, spacing, radius)
    row = {"data": name, "incidents": int(len(xy)), "grid_candidates": int(len(cand)), "k": k, "radius_m": radius}
    for solver_name, make in (("CBC", lambda: pulp.PULP_CBC_CMD(msg=False)),
                              ("HiGHS", lambda: pulp.HiGHS(msg=False, presolve="off"))):
        t0 = time.perf_counter()
        one = maximal_cover(xy, cand, k=k, radius_m=radius, curve=False, solver=make())
        t1 = time.perf_counter()
        full = maximal_cover(xy, cand, k=k, radius_m=radius, solver=make())
        t2 = time.perf_counter()
        row[solver_name] = {"one_s": round(t1 - t0, 2), "curve_s": round(t2 - t1, 2), "share": round(one.share, 4),
                            "curve": [round(s, 4) for s in full.curve["share"]]}
        row.update(demand_points=one.demand_points, candidates=one.candidates)
    row["greedy_share"] = round(float(greedy_share(xy, cand, k, radius)), 4)
    return row


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    rows = [run(name, xy) for name, xy in data_sets(a.quick)]
    for r in rows:
        cbc, highs = r["CBC"], r["HiGHS"]
        print(f"{r['data']}: {r['incidents']} incidents; {r['grid_candidates']} grid cells within 75 m, after the "
              f"reductions {r['demand_points']} demand points x {r['candidates']} candidates")
        print(f"  10 sites, one solve: CBC {cbc['one_s']} s, HiGHS {highs['one_s']} s "
              f"(HiGHS/CBC {highs['one_s'] / max(cbc['one_s'], 1e-9):.2f}); goal < {GOAL_S:g} s: "
              f"{'met' if cbc['one_s'] < GOAL_S else 'NOT met'}")
        print(f"  curve 1..10 (10 solves): CBC {cbc['curve_s']} s, HiGHS {highs['curve_s']} s "
              f"(HiGHS/CBC {highs['curve_s'] / max(cbc['curve_s'], 1e-9):.2f})")
        print(f"  share covered: optimum {cbc['share']:.2%} (HiGHS {highs['share']:.2%}), greedy {r['greedy_share']:.2%}")
        goal(f"sites: 10 cameras over {r['data']}", f"{cbc['one_s']} s (curve 1…10: {cbc['curve_s']} s)",
             f"< {GOAL_S:g} s", cbc["one_s"] < GOAL_S)
    out = ROOT / "bench" / "results" / "sites.json"
    out.write_text(json.dumps(rows, indent=1, ensure_ascii=False), encoding="utf-8")
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
