"""Does the auto-selected forecast beat the simple baselines on the next period? Demo and Vancouver data.

    python bench/forecast.py              # demo (month) + Vancouver yearly and monthly (a few minutes)
    python bench/forecast.py --quick      # Vancouver yearly only

For each row (data set, category, forecast period) every method of
``clustering.outlook.REGISTRY`` is fitted on the incidents before the period and
scored on the period itself: PAI at 1 %, 5 % and 10 % of the cells, with the 95 %
bootstrap interval over the period's incidents (``clustering.outlook._bootstrap_incidents``)
and the ceiling (a perfect forecast's PAI). "auto" is the method ``outlook()`` chose by
its backtest on the past only. Results go to bench/results/forecast.json.

Data: the synthetic Hồ Chí Minh City incidents of ``geo.ingest.demo`` (168 wards of
2025, 150 m cells, January 2026 from 2023-2025); the Vancouver Police Department's
public crime data 2022-2024 (X/Y in UTM 10N, EPSG:32610; rows at X=0, Y=0 have withheld
locations and are dropped) on the 22 local areas, 100 m cells: 2023 from 2022, 2024
from 2022-2023, and each month of 2024 from what came before; all types and
"Break and Enter Residential/Other".
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
SHARED = ROOT.parent / "shared" / "data"
SHOWN = (0.01, 0.05, 0.10)


def load_vancouver():
    import geopandas as gpd
    import pandas as pd
    frames = [pd.read_csv(p) for p in sorted((SHARED / "vancouver" / "vancouver_vpd").glob("crimedata_csv_*.csv"))]
    df = pd.concat(frames, ignore_index=True)
    withheld = (df["X"].fillna(0) == 0) & (df["Y"].fillna(0) == 0)
    df = df[~withheld]
    t = pd.to_datetime(dict(year=df["YEAR"], month=df["MONTH"], day=df["DAY"], hour=df["HOUR"].fillna(0),
                            minute=df["MINUTE"].fillna(0)))
    pts = gpd.GeoDataFrame({"occurred_at": t, "category": df["TYPE"].to_numpy()},
                           geometry=gpd.points_from_xy(df["X"], df["Y"]), crs="EPSG:32610")
    units = gpd.read_file(SHARED / "vancouver" / "boundaries" / "vancouver_local_area_boundary.geojson")
    units = units.rename(columns={"mapid": "code"})[["code", "name", "geometry"]]
    return pts, units, int(withheld.sum())


def load_demo():
    import geopandas as gpd
    import pandas as pd

    from geo.ingest.demo import generate
    wards = gpd.read_file(SHARED / "boundaries" / "hcmc_wards_2025.geojson")
    records, _ = generate(wards)
    pts = gpd.GeoDataFrame({"occurred_at": pd.to_datetime(records["Thời gian xảy ra"].str[:10], format="%d/%m/%Y"),
                            "category": records["Loại tội phạm"]},
                           geometry=gpd.points_from_xy(records["Kinh độ"], records["Vĩ độ"]), crs="EPSG:4326")
    return pts, wards


def score_row(name, pts, units, start, horizon, cell_m, context=None, seed=0):
    from clustering.forecast import _events, _ns, _shift, forecast_grid, hit_rate_curve
    from clustering.forecast_models import Panel, _PanelForecast
    from clustering.outlook import HORIZONS, REGISTRY, _bootstrap_incidents, outlook
    t0 = time.perf_counter()
    o = outlook(pts, wards=units, start=start, horizon=horizon, cell_m=cell_m, context=context, seed=seed)
    seconds = time.perf_counter() - t0
    grid = forecast_grid(units, cell_m=cell_m)
    xy, t = _events(pts, grid.crs, None)
    end = _shift(start, HORIZONS[horizon])
    past = t < _ns(start)
    ctx = None
    if context is not None:
        cxy, ct = _events(context, grid.crs, None)
        ctx = (cxy[ct < _ns(start)], ct[ct < _ns(start)])
    panel = Panel(xy[past], t[past], grid, context=ctx)
    fut = (t >= _ns(start)) & (t < _ns(end))
    observed = grid.counts(xy[fut])
    row = {"row": name, "start": str(start), "horizon": horizon, "incidents": int(observed.sum()),
           "history": int(past.sum()), "chosen": o.chosen, "outlook_seconds": round(seconds, 1),
           "warnings": [w[0] for w in o.warnings], "methods": {}}
    for key, spec in REGISTRY.items():
        m = spec.make(horizon, float(cell_m))
        if isinstance(m, _PanelForecast):
            m.panel = panel
        m._fit_events(xy[past], t[past], start, grid)
        curve = hit_rate_curve(m.scores_, observed, coverages=SHOWN)
        entry = {}
        for _, r in curve.iterrows():
            lo, hi = _bootstrap_incidents([r["captured"]], [r["total"]], seed)
            entry[f"{r['coverage']:.2f}"] = {"pai": r["pai"], "low": lo / r["area_share"], "high": hi / r["area_share"],
                                             "ceiling": r["pai_max"]}
        row["methods"][key] = entry
    row["methods"]["auto"] = row["methods"][o.chosen]
    return row


def show(row):
    print(f"\n{row['row']}  from {row['start']} ({row['horizon']}), {row['incidents']} incidents, "
          f"chosen {row['chosen']} in {row['outlook_seconds']} s, warnings {row['warnings']}")
    for key, e in row["methods"].items():
        print(f"  {key:16s}" + "".join(f"  {c}: {v['pai']:6.2f} [{v['low']:5.2f}, {v['high']:5.2f}] /{v['ceiling']:6.1f}"
                                        for c, v in e.items()))


BASELINES = ("counts_prev", "kde_prev")


def summary(rows) -> list[dict]:
    """Per group of rows (data set, category, horizon) and coverage: the mean PAI of the auto choice, of the
    best simple baseline (the one with the higher mean), the ceiling, their ratio and the share of the gap
    between that baseline and the ceiling that the auto choice closes; the goals of the forecast's brief."""
    groups: dict = {}
    for r in rows:
        groups.setdefault(r["row"], []).append(r)
    out = []
    for name, part in groups.items():
        sparse = "Break and Enter" in name
        for c in ("0.01", "0.05", "0.10"):
            def mean(key, field="pai"):
                return float(np.mean([r["methods"][key][c][field] for r in part]))
            base = max(BASELINES, key=mean)
            auto, b, ceiling = mean("auto"), mean(base), mean("auto", "ceiling")
            closed = (auto - b) / (ceiling - b) if ceiling > b else float("nan")
            goal = auto >= 1.10 * b if sparse else (closed >= 0.25 if c == "0.05" else auto >= b)
            out.append({"group": name, "rows": len(part), "coverage": float(c), "auto": auto, "baseline": base,
                        "baseline_pai": b, "ceiling": ceiling, "ratio": auto / b, "gap_closed": closed,
                        "goal": "≥ 1.10 × baseline" if sparse else ("closes ≥ 25 % of the gap" if c == "0.05"
                                                                  else "≥ baseline"), "met": bool(goal)})
    return out


def show_summary(table) -> None:
    print(f"\n{'group':45s} {'rows':>4s} {'cover':>5s} {'auto':>7s} {'baseline':>20s} {'ceiling':>7s} "
          f"{'ratio':>6s} {'gap':>6s}  goal")
    for s in table:
        print(f"{s['group']:45s} {s['rows']:4d} {s['coverage']:5.2f} {s['auto']:7.2f} "
              f"{s['baseline'] + ' ' + format(s['baseline_pai'], '.2f'):>20s} {s['ceiling']:7.2f} {s['ratio']:6.3f} "
              f"{s['gap_closed']:6.1%}  {s['goal']}: {'met' if s['met'] else 'NOT met'}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    rows = []
    t_all = time.perf_counter()
    van, units, dropped = load_vancouver()
    print(f"Vancouver: {len(van)} incidents kept, {dropped} with withheld locations (X=0, Y=0) dropped")
    cats = {"all types": van, "Break and Enter Residential/Other":
            van[van["category"] == "Break and Enter Residential/Other"]}
    for cat, pts in cats.items():
        ctx = van if cat != "all types" else None
        for year in (2023, 2024):
            rows.append(score_row(f"Vancouver {cat} year", pts, units, dt.date(year, 1, 1), "year", 100.0, ctx))
            show(rows[-1])
        if not args.quick:
            for month in range(1, 13):
                rows.append(score_row(f"Vancouver {cat} month", pts, units, dt.date(2024, month, 1), "month", 100.0,
                                      ctx))
                show(rows[-1])
    if not args.quick:
        demo, wards = load_demo()
        rows.append(score_row("Demo HCMC all types month", demo, wards, dt.date(2025, 12, 1), "month", 150.0))
        show(rows[-1])
    table = summary(rows)
    show_summary(table)
    out = ROOT / "bench" / "results" / "forecast.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"dropped_withheld": dropped, "summary": table, "rows": rows,
                               "seconds": round(time.perf_counter() - t_all, 1)}, default=float))
    print(f"\nwrote {out} in {time.perf_counter() - t_all:.0f} s")


if __name__ == "__main__":
    main()
