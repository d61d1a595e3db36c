"""A committee's yearly plans: the unit they cover, its scope, the years an area can be assessed for.

Every year a crime-prevention committee (Ban Chỉ đạo 138 of the city, of a district before
1 July 2025, or of a ward after) adopts a plan "chuyển hóa địa bàn trọng điểm, phức tạp về trật
tự, an toàn xã hội" over its unit: the city, a district (plans up to 2025) or a ward (from 2025).
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

import geopandas as gpd
from sqlalchemy import func, insert, select
from sqlalchemy.engine import Engine

from geo import analysis, format
from geo import periods as pr
from geo.committee import _checks as check
from geo.committee._checks import OnWrite
from geo.errors import InputError
from geo.store.models import CommitteeArea, CommitteePlan, utcnow
from geo.store.queries import check_categories

LEVELS = ("city", "district", "ward")
#: The headline figure of the plans: social-order crime.
DEFAULT_CATEGORIES = ("trat_tu_xa_hoi",)
#: Districts were abolished on 1 July 2025: district plans up to 2025, ward plans from 2025.
REFORM_YEAR = 2025

@dataclass(frozen=True)
class Plan:
    """A stored plan (one row of ``committee_plan``)."""

    id: int
    year: int
    level: str
    unit_code: str
    unit_name: str
    boundary: str
    cut: str
    categories: tuple[str, ...]
    title: str
    created_by: str
    created_at: dt.datetime

    @property
    def base_period(self) -> pr.Period:
        """The base year: the year before the plan, whose data the candidates come from."""
        return self.period(self.year - 1)

    def period(self, year: int) -> pr.Period:
        """The assessment period of ``year`` with the plan's cut (calendar or 15th–14th)."""
        return pr.period("year", year, cut=self.cut)


def _plan(row) -> Plan:
    cats = tuple(c for c in (row.categories or "").split(",") if c)
    return Plan(row.id, row.year, row.level, row.unit_code, row.unit_name, row.boundary, row.cut, cats,
                row.title, row.created_by, row.created_at)


def create_plan(engine: Engine, *, year, level: str, boundary: str, unit_code: str = "", unit_name: str = "",
                cut: str = "calendar", categories: Iterable[str] = DEFAULT_CATEGORIES, title: str = "",
                created_by: str = "", on_write: OnWrite = None) -> int:
    """Store a year's plan of one unit and return its id.

    ``level`` "city" needs ``unit_code`` and ``unit_name`` (a 2025 boundary version
    fills them from its province); "district" (plans up to 2025) takes a district
    code that is the parent of wards in ``boundary`` (e.g. 764, Gò Vấp, in
    hcmc-2019); "ward" (plans from 2025) takes a ward code of ``boundary``.
    """
    year = check.number(year, "year", 2000, 2100)
    level = check.choice(level, "level", LEVELS)
    cut = check.cut(cut)
    cats = [c for c in categories if c]
    check_categories(engine, cats)
    wards = analysis._ward_frame(engine, boundary)
    unit_code = check.text(unit_code, "unit_code", required=False, max_len=32)
    if level == "city":
        if not unit_code:
            parents = wards["parent_code"].dropna().unique()
            if len(parents) != 1:
                raise InputError(format.gettext("`unit_code` is required: the units of %(boundary)s have no single "
                                                 "province.", boundary=repr(boundary)))
            unit_code = str(parents[0])
            unit_name = unit_name or str(wards["parent_name"].dropna().iloc[0])
        unit_name = check.text(unit_name, "unit_name", max_len=200)
    elif level == "district":
        if year > REFORM_YEAR:
            raise InputError(format.gettext("`level` was 'district' but districts were abolished on %(date)s; "
                                            "make a city or ward plan for %(year)s.",
                                            date=format.date(dt.date(REFORM_YEAR, 7, 1)), year=year))
        mine = wards[wards["parent_code"] == unit_code]
        if mine.empty:
            raise InputError(format.gettext("`unit_code` was %(code)s but no ward of %(boundary)s lies in a district "
                                            "with that code; use a boundary version from before July 2025 "
                                            "(e.g. hcmc-2019).", code=repr(unit_code), boundary=repr(boundary)))
        unit_name = str(mine["parent_name"].iloc[0])
    else:
        if year < REFORM_YEAR:
            raise InputError(format.gettext("`level` was 'ward' but ward committees make their own plans from "
                                            "%(reform)s; make a city or district plan for %(year)s.",
                                            reform=REFORM_YEAR, year=year))
        if unit_code not in wards.index:
            raise InputError(format.gettext("`unit_code` was %(code)s but %(boundary)s has no ward with that code.",
                                            code=repr(unit_code), boundary=repr(boundary)))
        unit_name = str(wards.at[unit_code, "name"])
    title = check.text(title, "title", required=False, max_len=300)
    with engine.begin() as conn:
        if conn.execute(select(CommitteePlan.id).where(CommitteePlan.year == year, CommitteePlan.level == level,
                                                       CommitteePlan.unit_code == unit_code)).first():
            raise InputError(format.gettext("There is already a %(year)s plan of %(unit)s (%(code)s); open it "
                                            "instead.", year=year, unit=unit_name, code=unit_code))
        plan_id = conn.execute(insert(CommitteePlan).values(
            year=year, level=level, unit_code=unit_code, unit_name=unit_name, boundary=boundary, cut=cut,
            categories=",".join(cats), title=title, created_by=created_by, created_at=utcnow())).inserted_primary_key[0]
        check.audit(on_write, conn, "committee_plan", f"plan {plan_id}",
                    {"year": year, "level": level, "unit": unit_code, "boundary": boundary, "cut": cut,
                     "categories": cats})
    return plan_id


def get_plan(engine: Engine, plan_id: int) -> Plan:
    with engine.connect() as conn:
        row = conn.execute(select(CommitteePlan).where(CommitteePlan.id == plan_id)).first()
    if row is None:
        raise LookupError(f"No plan {plan_id}.")
    return _plan(row)


def list_plans(engine: Engine) -> list[dict]:
    """Every plan, newest year first, with how many areas it selected."""
    with engine.connect() as conn:
        rows = conn.execute(select(CommitteePlan).order_by(CommitteePlan.year.desc(), CommitteePlan.level,
                                                           CommitteePlan.unit_code)).all()
        n = dict(conn.execute(select(CommitteeArea.plan_id, func.count()).group_by(CommitteeArea.plan_id)).all())
    return [{"plan": _plan(r), "areas": n.get(r.id, 0)} for r in rows]


def decision_date(plan: Plan, today: dt.date | None = None) -> dt.date:
    """The default date of a plan's decision: today when today lies in the plan's year, else the
    end of the plan's period (a past or future year's plan is not decided today)."""
    today = today or dt.date.today()
    period = plan.period(plan.year)
    return today if period.start <= today <= period.end else period.end


def plan_scope(engine: Engine, plan: Plan) -> gpd.GeoDataFrame:
    """The wards of the plan's boundary version that the plan's unit covers."""
    wards = analysis._ward_frame(engine, plan.boundary)
    if plan.level == "district":
        return wards[wards["parent_code"] == plan.unit_code]
    if plan.level == "ward":
        return wards[wards["code"] == plan.unit_code]
    return wards



def assessable_years(engine: Engine, plan: Plan) -> list[int]:
    """The years an area of ``plan`` can be assessed for: from the plan's year to the last
    year with incidents (at least the plan's year)."""
    span = analysis.data_span(engine)
    last = max(plan.year, span[1].year if span else plan.year)
    return list(range(plan.year, last + 1))
