"""Which forecast captures next month's incidents best? A rolling-origin backtest on the demo data.

    python bench/forecast.py              # monthly cutoffs over 2025 (about a minute)
    python bench/forecast.py --quick      # January to March 2025 only
    python bench/forecast.py --area city  # the whole city instead of the urban core

Generates the synthetic Hồ Chí Minh City incidents of ``geo.ingest.demo`` (60,000
incidents 2023-2025, seed 138, 2025 wards), refits every method of
``clustering.forecast`` at the first day of each month and scores it on that
month: the mean PAI and hit rate at 1 %, 5 % and 10 % of the study area's
150 m cells, the RRI at 5 %, the PAI of a perfect forecast (the ceiling) and
the fitting time. The ward forecast (cell scores added up per ward) of the
last cutoff is scored too: the share of that month's incidents in the 10
wards ranked highest.

The study area is by default the urban core (wards whose centroid is within
``geo.ingest.demo.CORE_RADIUS_KM`` of Chợ Bến Thành, where the generator puts 95 % of
the background incidents); ``--area city`` takes every ward but Côn Đảo.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

BOUNDARIES = Path(os.environ.get("BOUNDARY_SOURCE_DIR", ROOT.parent / "shared" / "data" / "boundaries"))
N_INCIDENTS = 60_000
SEED = 138
SHOWN = (0.01, 0.05, 0.10)
TOP_WARDS = 10


def load(area):
    import geopandas as gpd
    import pandas as pd

    from geo.ingest.demo import CENTRE_LAT, CENTRE_LON, CORE_RADIUS_KM, generate

    wards = gpd.read_file(BOUNDARIES / "hcmc_wards_2025.geojson")
    records, _ = generate(wards, n=N_INCIDENTS, seed=SEED)
    points = gpd.GeoDataFrame(
        {"occurred_at": pd.to_datetime(records["Thời gian xảy ra"], format="%d/%m/%Y %H:%M"),
         "category": records["Loại tội phạm"]},
        geometry=gpd.points_from_xy(records["Kinh độ"], records["Vĩ độ"]), crs="EPSG:4326")
    metric = wards.to_crs("EPSG:32648")
    centre = gpd.GeoSeries(gpd.points_from_xy([CENTRE_LON], [CENTRE_LAT]), crs="EPSG:4326")
    dist_km = metric.centroid.distance(centre.to_crs("EPSG:32648").iloc[0]) / 1000
    keep = ~wards["name"].str.contains("Côn Đảo")
    if area == "core":
        keep &= dist_km <= CORE_RADIUS_KM
    return points, wards[keep].reset_index(drop=True)


def methods():
    from clustering.forecast import NaiveKDE, ProspectiveHotspot, RetrospectiveCounts

    return {
        "RetrospectiveCounts 1M": RetrospectiveCounts(window="1M"),
        "RetrospectiveCounts 3M": RetrospectiveCounts(window="3M"),
        "RetrospectiveCounts 12M": RetrospectiveCounts(window="12M"),
        "NaiveKDE 3M, 300 m": NaiveKDE(bandwidth_m=300, window="3M"),
        "NaiveKDE 12M, 300 m": NaiveKDE(bandwidth_m=300, window="12M"),
        "Prospective 3 cells, 8 wk": ProspectiveHotspot(bandwidth_cells=3, time_window_weeks=8),
        "Prospective 8 cells, 8 wk": ProspectiveHotspot(bandwidth_cells=8, time_window_weeks=8),
    }


def ward_check(points, wards, fitted, cutoff):
    """Share of the month after ``cutoff`` captured by each method's top wards, and the best share."""
    import geopandas as gpd
    import pandas as pd

    start, stop = pd.Timestamp(cutoff), pd.Timestamp(cutoff) + pd.DateOffset(months=1)
    month = points[(points["occurred_at"] >= start) & (points["occurred_at"] < stop)]
    joined = gpd.sjoin(month, wards[["code", "geometry"]], predicate="within")
    actual = joined["code"].value_counts().reindex(wards["code"], fill_value=0)
    total = int(actual.sum())
    best = int(actual.sort_values(ascending=False).iloc[:TOP_WARDS].sum())
    rows = []
    for name, model in fitted.items():
        top = model.ward_scores(wards, how="sum")["code"].iloc[:TOP_WARDS]
        rows.append((name, actual.loc[top].sum() / total,
                     len(set(top) & set(actual.sort_values(ascending=False).index[:TOP_WARDS]))))
    return rows, best / total, total


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="cutoffs January to March 2025 only")
    parser.add_argument("--area", choices=("core", "city"), default="core",
                        help="study area: the urban core (default) or every ward but Côn Đảo")
    args = parser.parse_args(argv)
    t_start = time.perf_counter()

    from clustering.forecast import backtest, forecast_grid, summary

    t0 = time.perf_counter()
    points, wards = load(args.area)
    t_data = time.perf_counter() - t0
    end = dt.date(2025, 3, 31) if args.quick else dt.date(2025, 12, 31)
    grid = forecast_grid(wards, cell_m=150)
    print(f"Demo data: {len(points):,} incidents (seed {SEED}), {len(wards)} wards "
          f"({args.area}), {grid.n_cells:,} cells of 150 m = {grid.area_km2:,.0f} km²; "
          f"generated in {t_data:.1f} s")

    models = methods()
    t0 = time.perf_counter()
    frame = backtest(points, study_area=wards, methods=models, start=dt.date(2025, 1, 1), end=end,
                     step="month", horizon="month", coverages=SHOWN)
    t_backtest = time.perf_counter() - t0
    cutoffs = frame["cutoff"].nunique()
    per_month = frame.groupby("cutoff")["total"].first()
    print(f"Backtest: {cutoffs} monthly cutoffs {frame['cutoff'].min():%d/%m/%Y} - "
          f"{frame['cutoff'].max():%d/%m/%Y}; {per_month.mean():,.0f} incidents to capture per month "
          f"inside the study area; {t_backtest:.1f} s in all\n")

    table = summary(frame).set_index(["method", "coverage"])
    fit_s = frame.groupby("method", sort=False)["fit_seconds"].mean()
    positive = frame.groupby("method", sort=False)["positive_cells"].mean()
    head = (f"{'method':<27}" + "".join(f"{'PAI ' + format(c, '.0%'):>9}" for c in SHOWN)
            + "".join(f"{'hit ' + format(c, '.0%'):>9}" for c in SHOWN)
            + f"{'RRI 5%':>8}{'cells>0':>9}{'fit s':>7}")
    print(head)
    print("-" * len(head))
    for name in models:
        row = table.loc[name]
        print(f"{name:<27}" + "".join(f"{row.loc[c, 'pai']:>9.2f}" for c in SHOWN)
              + "".join(f"{row.loc[c, 'hit_rate']:>9.1%}" for c in SHOWN)
              + f"{row.loc[0.05, 'rri']:>8.2f}{positive[name]:>9,.0f}{fit_s[name]:>7.2f}")
    first = frame[frame["method"] == next(iter(models))]
    ceiling = first.groupby("coverage")["pai_max"].mean()
    best_hit = (first["pai_max"] * first["area_share"]).groupby(first["coverage"]).mean()
    print(f"{'perfect forecast (ceiling)':<27}" + "".join(f"{ceiling[c]:>9.2f}" for c in SHOWN)
          + "".join(f"{best_hit[c]:>9.1%}" for c in SHOWN))

    last = frame["cutoff"].max()
    rows, best, total = ward_check(points, wards, models, last)
    print(f"\nWard forecast for {last:%m/%Y} (cell scores summed per ward): share of the month's "
          f"{total:,} incidents in the top {TOP_WARDS} of {len(wards)} wards")
    for name, share, overlap in rows:
        print(f"  {name:<27}{share:>7.1%}   {overlap}/{TOP_WARDS} of the actual top {TOP_WARDS}")
    print(f"  {'perfect forecast':<27}{best:>7.1%}")
    print(f"\nRuntime: data {t_data:.1f} s, backtest {t_backtest:.1f} s, whole script "
          f"{time.perf_counter() - t_start:.1f} s (numpy {np.__version__})")


if __name__ == "__main__":
    main()
