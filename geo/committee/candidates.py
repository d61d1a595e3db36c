"""The candidate areas of a plan: wards and DBSCAN spots ranked over its base year, with their reasons.

Wards are ranked by :func:`geo.analysis.complex_areas` and spots by
:func:`geo.analysis.complex_spots` over the year before the plan; a district or ward plan keeps
the ones in its unit.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import shapely
from sqlalchemy.engine import Engine

from geo import analysis, format, methods
from geo import periods as pr
from geo.committee.plans import Plan, plan_scope
from geo.errors import InputError
from geo.render import reasons


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
    codes = set(plan_scope(engine, plan)["code"])
    return ranked[ranked["code"].isin(codes)].reset_index(drop=True)


def ranked_spots(engine: Engine, plan: Plan) -> gpd.GeoDataFrame:
    base = plan.base_period
    spots = analysis.complex_spots(engine, boundary=plan.boundary, start=base.start, end=base.end,
                                   categories=list(plan.categories), **spot_args())
    if plan.level != "city":
        scope = shapely.union_all(plan_scope(engine, plan).geometry.values)
        spots = spots[spots.intersects(scope)]
    return spots.reset_index(drop=True)


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

