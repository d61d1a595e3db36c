"""The candidate areas of a plan: wards and DBSCAN spots ranked over its base year, with their reasons.

Wards are ranked by :func:`geo.analysis.complex_areas` and spots by
:func:`geo.analysis.complex_spots` over the year before the plan; a district or ward plan keeps
the ones in its unit. The reason of each candidate is written against the plan's own unit (a
district plan ranks its wards among the district's wards, not the city's) and names the crime
types behind it (:func:`scope_reasons`).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import geopandas as gpd
import pandas as pd
import shapely
from sqlalchemy.engine import Engine

from geo import analysis, format, methods
from geo import periods as pr
from geo.committee.plans import Plan, plan_scope
from geo.errors import InputError
from geo.names import spot_name
from geo.render import reasons
from geo.store.categories import catalogue
from geo.store.queries import area_counts

#: How many crime types a reason names.
TOP_CATEGORIES = 2


def spot_args() -> dict:
    """DBSCAN parameters of the spot candidates and of "a spot of that year intersects it": the
    complex-spot defaults of geo.methods (settings COMPLEX_SPOT_EPS_M, COMPLEX_SPOT_MIN_SAMPLES)."""
    return dict(eps_m=methods.default("complex-spots", "eps"),
                min_samples=methods.default("complex-spots", "min_samples"))


def reason(evidence) -> str:
    """The ranking's reason for a candidate (a table row, or an area's stored evidence) in the user's
    language, written from its ``reasons`` (areas selected before the ranking returned codes keep
    their sentences as ``reason_vi``/``reason_en``)."""
    get = evidence.get if isinstance(evidence, dict) else lambda k, d=None: getattr(evidence, k, d)
    text = reasons.sentence(get("reasons"))
    if not text:
        text = get("reason_en" if format.current_locale() == "en" else "reason_vi", "") or ""
    return text


@dataclass
class Candidates:
    """Wards and spots ranked over the plan's base year, with the evidence of each."""

    period: pr.Period
    wards: gpd.GeoDataFrame
    spots: gpd.GeoDataFrame
    errors: list[str] = field(default_factory=list)


def ranked_wards(engine: Engine, plan: Plan) -> gpd.GeoDataFrame:
    base = plan.base_period
    ranked = analysis.complex_areas(engine, boundary=plan.boundary, start=base.start, end=base.end,
                                    categories=list(plan.categories))
    scope = plan_scope(engine, plan)
    wards = ranked[ranked["code"].isin(set(scope["code"]))].reset_index(drop=True)
    return scope_reasons(engine, plan, wards, of=len(scope), what="district_wards" if plan.level == "district"
                         else ("ward" if plan.level == "ward" else "city_wards"))


def ranked_spots(engine: Engine, plan: Plan) -> gpd.GeoDataFrame:
    base = plan.base_period
    spots = analysis.complex_spots(engine, boundary=plan.boundary, start=base.start, end=base.end,
                                   categories=list(plan.categories), **spot_args())
    if plan.level != "city":
        scope = shapely.union_all(plan_scope(engine, plan).geometry.values)
        spots = spots[spots.intersects(scope)]
    spots = spots.reset_index(drop=True)
    spots["name"] = [spot_name(*row) for row in zip(spots["street"], spots["ward_name"], spots["spot_id"])]
    return scope_reasons(engine, plan, spots, of=len(spots), what=f"{plan.level}_spots")


def _category_counts(engine: Engine, plan: Plan, period: pr.Period) -> pd.DataFrame:
    """Incidents per (ward code, category) of the plan's boundary and categories in ``period``."""
    wide = area_counts(engine, boundary=plan.boundary, start=period.start, end=period.end,
                       categories=list(plan.categories)).set_index("code")
    return wide[[c for c in wide.columns if c.startswith("count_")]].rename(columns=lambda c: c[6:])


def scope_reasons(engine: Engine, plan: Plan, frame: gpd.GeoDataFrame, *, of: int, what: str) -> gpd.GeoDataFrame:
    """``frame`` (ranked wards or spots of the plan's unit) with ``reasons`` written against the unit:
    the rank by incidents among the ``of`` units of the plan's scope (``what``: which units, see
    :data:`geo.render.reasons.SCOPES`), the change on the same period, the crime types with the
    most incidents and the one that rose most (wards; a spot counts its own), and the rank by
    incidents weighted by severity."""
    if frame.empty:
        return frame
    frame = frame.copy()
    by_count = frame["count"].rank(ascending=False, method="min").astype(int)
    by_harm = frame["harm"].rank(ascending=False, method="min").astype(int) if "harm" in frame else None
    cats = catalogue(engine)
    wards = what.endswith("wards") or what == "ward"
    earlier = plan.base_period.same_period_last_year()
    span = analysis.data_span(engine)
    compared = span is not None and span[0] <= earlier.start   # no "rose most" against a year without data
    if wards:
        now = _category_counts(engine, plan, plan.base_period)
        before = _category_counts(engine, plan, earlier).reindex(index=now.index, columns=now.columns, fill_value=0)
    out = []
    for i, row in enumerate(frame.itertuples(index=False)):
        pairs = [("scope_rank", {"rank": int(by_count.iloc[i]), "of": int(of), "what": what,
                                 "count": float(row.count), "change_pct": getattr(row, "change_pct", None)})]
        if wards:
            k1 = now.loc[row.code] if row.code in now.index else pd.Series(dtype=float)
            k0 = before.loc[row.code] if row.code in before.index else pd.Series(dtype=float)
            top = k1[k1 > 0].sort_values(ascending=False, kind="stable").head(TOP_CATEGORIES)
            rise = (k1 - k0).sort_values(ascending=False, kind="stable")
            named = {c: {"vi": cats.label(c, "vi"), "en": cats.label(c, "en")} for c in [*top.index, *rise.index[:1]]}
            figures = {"top": [[c, named[c], int(n)] for c, n in top.items()]}
            if compared and len(rise) and rise.iloc[0] > 0 and rise.index[0] not in top.index:
                c = rise.index[0]
                figures["rise"] = [c, named[c], int(k1[c]), int(k0[c])]
            pairs.append(("categories", figures))
        if by_harm is not None and of > 1:
            pairs.append(("harm_rank", {"rank": int(by_harm.iloc[i]), "of": int(of)}))
        out.append(json.dumps(pairs, ensure_ascii=False, default=float))
    frame["reasons"] = out
    frame["rank"] = range(1, len(frame) + 1)   # the ranking's order (by score) within the plan's unit
    return frame


def candidates(engine: Engine, plan: Plan, *, top: int = 20, spots_top: int = 10) -> Candidates:
    """The first ``top`` wards and ``spots_top`` spots of the plan's unit, ranked over its base year.

    For a city plan the wards are exactly ``complex_areas(..., top=top)`` of the base
    year; a district or ward plan keeps the ones inside its unit, in the same order.
    """
    errors = []
    empty = gpd.GeoDataFrame({"code": [], "name": []}, geometry=[], crs="EPSG:4326")
    try:
        wards = ranked_wards(engine, plan).head(top)
    except InputError as exc:
        wards, errors = empty, [str(exc)]
    try:
        spots = ranked_spots(engine, plan).head(spots_top)
    except InputError as exc:
        spots = empty
        errors.append(str(exc))
    return Candidates(plan.base_period, wards, spots, errors)

