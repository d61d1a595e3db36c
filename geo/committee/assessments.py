"""The yearly assessments of the selected areas: what the data propose, and what the committee records.

A year after the plan the committee assesses each area as transformed ("đạt") or not ("không
đạt"). :func:`propose` gives the figures: incidents inside the area against the year before with
the exact test of :func:`clustering.compare.poisson_rate_test`, whether the target is met, whether
the area is still a hot spot. :func:`record_assessment` stores the committee's result with them.
"""
from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import insert
from sqlalchemy.engine import Engine

from clustering.compare import poisson_rate_test
from geo import analysis, format
from geo.committee import _checks as check
from geo.committee._checks import OnWrite
from geo.committee.areas import get_area
from geo.committee.evidence import counts_inside, hot_status
from geo.committee.plans import assessable_years, get_plan
from geo.errors import InputError
from geo.store.models import CommitteeAssessment, utcnow

RESULTS = ("dat", "khong_dat")
#: Significance level of "rose significantly".
ALPHA = 0.05


def propose(engine: Engine, area_id: int, year) -> dict:
    """The assessment the data suggest for an area in ``year``.

    Incidents inside the area (:func:`counts_inside`) in the year (the plan's cut)
    against the year before, the exact test of two Poisson rates
    (:func:`clustering.compare.poisson_rate_test`, two-sided), whether the
    decision's target (a reduction of ``target_pct`` %) is met, and whether the
    area is still a hot spot (:func:`hot_status`). ``proposed`` is "dat" when
    the target is met and the area is no longer hot, else "khong_dat".
    ``complete`` is False while the data do not reach the end of the year.
    """
    area = get_area(engine, area_id)
    plan = get_plan(engine, area.plan_id)
    year = check.number(year, "year", plan.year, 2100)
    cur = plan.period(year)
    base = cur.same_period_last_year()
    span = analysis.data_span(engine)
    if span is None or cur.start > span[1]:
        raise InputError(format.gettext("No incidents recorded in %(period)s yet.",
                                        period=cur.label(format.current_locale(), with_dates=True)))
    if base.end < span[0]:
        # no incident at all in the base period: a comparison against 0 would propose nonsense
        raise InputError(format.gettext(
            "No data for %(period)s to compare with (the data start on %(start)s); nothing is proposed.",
            period=_lower_first(base.label(format.current_locale())), start=format.date(span[0])))
    k1, k0 = counts_inside(engine, area, [cur, base], plan.categories)
    p = float(poisson_rate_test(k1, cur.days, k0, base.days))
    target = float(area.decision.target_pct) if area.decision is not None else None
    pct = 100.0 * (k1 - k0) / k0 if k0 else None
    if target is None:
        met = None
    elif k0:
        met = bool(pct <= -target)
    else:
        met = k1 == 0
    hot = hot_status(engine, area, cur, plan.categories)
    direction = "up" if k1 / cur.days > k0 / base.days else ("down" if k1 / cur.days < k0 / base.days else "same")
    return {
        "area_id": area.id, "year": year,
        "period": [cur.start.isoformat(), cur.end.isoformat()],
        "period_text": cur.label(format.current_locale(), with_dates=True),
        "base_period": [base.start.isoformat(), base.end.isoformat()],
        "base_text": base.label(format.current_locale(), with_dates=True),
        "count": k1, "base_count": k0, "change": k1 - k0, "change_pct": pct,
        "change_text": format.count_change(k1, k0),
        "p_value": p, "significant": p <= ALPHA,
        "direction": direction, "change_words": change_words(direction, p <= ALPHA),
        "target_pct": target, "target_met": met, **hot,
        "proposed": "dat" if met and not hot["hot"] else "khong_dat",
        "complete": cur.end <= span[1], "data_until": span[1].isoformat(),
        "data_until_text": format.date(span[1]),
    }


def _lower_first(text: str) -> str:
    """A period's label inside a sentence: "Năm 2022" → "năm 2022"."""
    return text[:1].lower() + text[1:]


def change_words(direction: str, significant: bool) -> str:
    """The change of the exact test in the committee's words, without the p-value."""
    if not significant or direction == "same":
        return format.gettext("no clear change")
    return format.gettext("clear increase") if direction == "up" else format.gettext("clear decrease")


def record_assessment(engine: Engine, area_id: int, *, year, result: str, note: str = "", recorded_by: str = "",
                      supersedes_id=None, on_write: OnWrite = None) -> int:
    """Record the committee's assessment of an area for ``year`` ("dat" or "khong_dat").

    The proposal of :func:`propose` at this moment is stored with it. A second
    assessment of the same year is a correction: it must name the current one in
    ``supersedes_id`` and give a ``note``. Returns the new row's id.
    """
    result = check.choice(result, "result", RESULTS)
    area = get_area(engine, area_id)
    plan = get_plan(engine, area.plan_id)
    if not area.selected:
        raise InputError(format.gettext("%(name)s was withdrawn from the plan; it cannot be assessed.",
                                        name=area.name))
    year = check.number(year, "year", plan.year, max(assessable_years(engine, plan)[-1], dt.date.today().year))
    note = check.text(note, "note", required=supersedes_id not in (None, ""))
    supersedes_id = None if supersedes_id in (None, "") else check.number(supersedes_id, "supersedes_id", 1, 2**62)
    try:
        proposal = propose(engine, area_id, year)
    except InputError as exc:
        proposal = {"error": str(exc)}
    with engine.begin() as conn:
        check.supersedes_current(
            conn, CommitteeAssessment, CommitteeAssessment.area_id == area_id, CommitteeAssessment.year == year,
            supersedes_id=supersedes_id,
            nothing=format.gettext("There is no assessment of %(name)s for %(year)s to correct.",
                                   name=area.name, year=year),
            already=lambda current: format.gettext(
                "%(name)s already has an assessment for %(year)s (no. %(id)s); correct that one, after "
                "reloading the page if needed.", name=area.name, year=year, id=current))
        new_id = conn.execute(insert(CommitteeAssessment).values(
            area_id=area_id, year=year, result=result, note=note,
            proposal=json.dumps(proposal, ensure_ascii=False, default=float), recorded_by=recorded_by,
            recorded_at=utcnow(), supersedes_id=supersedes_id)).inserted_primary_key[0]
        check.audit(on_write, conn, "committee_assess", f"area {area_id}",
                    {"assessment": new_id, "year": year, "result": result, "supersedes": supersedes_id,
                     "note": note, "proposed": proposal.get("proposed")})
    return new_id

