"""Warning flags on the selected areas: failing several years running, or complex again after "đạt".

An area "không đạt nhiều năm liền" has its latest assessments "không đạt" two or more years
running; an area "tái phức tạp" is hot again (or its incidents rose significantly) after its
latest year assessed "đạt". The same place selected in several plans counts once (:func:`places`).
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import geopandas as gpd
from sqlalchemy.engine import Engine

from clustering.compare import poisson_rate_test
from geo import analysis, format
from geo import periods as pr
from geo.committee.areas import Area, all_areas
from geo.committee.assessments import ALPHA
from geo.committee.evidence import counts_inside, hot_status
from geo.committee.plans import Plan, get_plan

#: Two selected spots or polygons are the same place when their intersection over union is
#: at least this (wards are the same place when they have the same code and boundary version).
SAME_PLACE_IOU = 0.5

def _iou(a, b) -> float:
    inter = a.intersection(b).area
    union = a.union(b).area
    return inter / union if union else 0.0


def places(areas: Sequence[Area]) -> list[list[Area]]:
    """Group the areas that are the same place across plans: wards with the same code and
    boundary version; and areas of different plans whose polygons overlap by
    :data:`SAME_PLACE_IOU` (intersection over union) or more (a spot selected one year
    where a ward was selected the year before). Within one plan, different selections
    are different places."""
    parent = list(range(len(areas)))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, a in enumerate(areas):
        for j in range(i):
            b = areas[j]
            if a.kind == b.kind == "ward":
                same = (a.boundary, a.source_code) == (b.boundary, b.source_code)
            else:
                same = (a.plan_id != b.plan_id and a.geometry.intersects(b.geometry)
                        and _iou(a.geometry, b.geometry) >= SAME_PLACE_IOU)
            if same:
                parent[find(i)] = find(j)
    groups: dict[int, list[Area]] = {}
    for i, a in enumerate(areas):
        groups.setdefault(find(i), []).append(a)
    return list(groups.values())


def _by_year(place: Sequence[Area]) -> dict[int, tuple[Area, object]]:
    """The current assessment of the place for each year (the newest among its areas)."""
    out: dict[int, tuple[Area, object]] = {}
    for a in place:
        for year in a.assessments:
            row = a.assessment(year)
            if year not in out or row.id > out[year][1].id:
                out[year] = (a, row)
    return dict(sorted(out.items()))


@dataclass
class Flags:
    """Areas failing several years running, areas that relapsed, and every selected area
    with its flag (``repeat_failure``, ``relapse``, ``both`` or ``none``) for the map."""

    repeat_failures: list[dict]
    relapses: list[dict]
    areas: gpd.GeoDataFrame


def relapse_check(engine: Engine, area: Area, plan: Plan, good_year: int, last: dt.date) -> dict | None:
    """The first year after ``good_year`` (assessed "đạt") in which the area is a hot spot
    again (:func:`hot_status`) or its count rose significantly (two-sided exact test,
    p ≤ :data:`ALPHA`) against ``good_year``; None when there is none up to ``last``.
    A year the data cover only in part is compared over the same days of ``good_year``."""
    good = plan.period(good_year)
    for year in range(good_year + 1, last.year + 1):
        cur = plan.period(year)
        if cur.start > last:
            break
        base = good
        if cur.end > last:  # part of the year: the same days of the đạt year
            cur = pr.custom(cur.start, last)
            shift = year - good_year
            base = pr.custom(good.start, _years_back(last, shift))
        k1, k0 = counts_inside(engine, area, [cur, base], plan.categories)
        p = float(poisson_rate_test(k1, cur.days, k0, base.days))
        rose = p <= ALPHA and k1 / cur.days > k0 / base.days
        hot = hot_status(engine, area, cur, plan.categories)
        if hot["hot"] or rose:
            return {"year": year, "period_text": cur.label(format.current_locale(), with_dates=True),
                    "count": k1, "base_count": k0, "p_value": p, "rose": rose,
                    "change_text": format.count_change(k1, k0), **hot}
    return None


def _years_back(d: dt.date, n: int) -> dt.date:
    try:
        return d.replace(year=d.year - n)
    except ValueError:  # 29 February
        return d.replace(year=d.year - n, day=28)


def flags(engine: Engine, *, plan_id: int | None = None) -> Flags:
    """Repeat failures ("không đạt nhiều năm liền": the place's latest assessments are
    "không đạt" two or more years running) and relapses ("tái phức tạp": after the
    latest year assessed "đạt", :func:`relapse_check` finds a year in which the area is
    hot again). Withdrawn areas are left out; the same place in several plans counts
    once (:func:`places`)."""
    areas = [a for a in all_areas(engine) if a.selected]
    plans = {}
    for a in areas:
        if a.plan_id not in plans:
            plans[a.plan_id] = get_plan(engine, a.plan_id)
    span = analysis.data_span(engine)
    repeat, relapse, flag_of = [], [], {}
    for place in places(areas):
        if plan_id is not None and not any(a.plan_id == plan_id for a in place):
            continue
        by_year = _by_year(place)
        latest = max(place, key=lambda a: a.id)
        ids = [a.id for a in place]
        if by_year:
            years = list(by_year)
            run = []
            for y in reversed(years):
                if by_year[y][1].result != "khong_dat" or (run and run[-1] != y + 1):
                    break
                run.append(y)
            if len(run) >= 2:
                run.reverse()
                repeat.append({"name": latest.name, "area": latest, "area_ids": ids, "years": run,
                               "plans": sorted({plans[a.plan_id].year for a in place})})
                for i in ids:
                    flag_of[i] = "repeat_failure"
            good_years = [y for y, (_, row) in by_year.items() if row.result == "dat"]
            if good_years and span is not None:
                gy = good_years[-1]
                area = by_year[gy][0]
                found = relapse_check(engine, area, plans[area.plan_id], gy, span[1])
                if found:
                    relapse.append({"name": area.name, "area": area, "area_ids": ids, "dat_year": gy, **found})
                    for i in ids:
                        flag_of[i] = "both" if flag_of.get(i) == "repeat_failure" else "relapse"
    shown = [a for a in areas if plan_id is None or a.plan_id == plan_id]
    gdf = gpd.GeoDataFrame({"id": [a.id for a in shown], "name": [a.name for a in shown],
                            "plan_year": [plans[a.plan_id].year for a in shown],
                            "flag": [flag_of.get(a.id, "none") for a in shown]},
                           geometry=[a.geometry for a in shown], crs="EPSG:4326")
    return Flags(repeat, relapse, gdf)

