"""Why a ward or spot is ranked where it is, in the words of the committees' reports.

:func:`clustering.ranking.rank_areas` gives each unit its ``reasons``: (signal, figures) pairs,
strongest first. :func:`sentence` writes them in the user's language, figures formatted by
:mod:`geo.format`:

>>> sentence([("gi", {"confidence": 99.0, "streak": 3, "bin": "quarter"}),
...           ("increase", {"change_pct": 24.0, "p_name": "p", "p": 0.003}),
...           ("share", {"share": 0.061})], locale="vi")
'Gi* nóng 99% trong 3 quý liên tiếp; tăng 24,0% so với cùng kỳ (p = 0,003); chiếm 6,1% số vụ toàn thành phố'
>>> sentence([("share", {"share": 0.061})], locale="en")
"6.1% of the city's incidents"

A committee's candidates are ranked within the plan's own unit and name their crime types
(:func:`geo.committee.candidates.scope_reasons`):

>>> theft, snatch = {"vi": "Trộm cắp tài sản", "en": "Theft"}, {"vi": "Cướp giật tài sản", "en": "Snatching"}
>>> sentence([("scope_rank", {"rank": 2, "of": 16, "what": "district_wards", "count": 143, "change_pct": 21.2}),
...           ("categories", {"top": [["trom", theft, 61], ["cuop", snatch, 24]]}),
...           ("harm_rank", {"rank": 3, "of": 16})], locale="vi")
'Đứng thứ 2/16 phường của quận về số vụ (143 vụ, tăng 21,2% so với cùng kỳ), chủ yếu trộm cắp tài sản (61 vụ) và cướp giật tài sản (24 vụ); số vụ quy đổi theo mức độ nghiêm trọng đứng thứ 3/16'
"""
from __future__ import annotations

import json
import math

from geo.format import N_, change, current_locale, gettext, missing, number, percent
from geo.render import palette

#: Gi* phrases by (kind, bin): a streak of bins, the latest bin only, the current period only.
_GI = {
    ("streak", "quarter"): N_("Gi* hot spot at %(level)s for %(n)s consecutive quarters"),
    ("streak", "month"): N_("Gi* hot spot at %(level)s for %(n)s consecutive months"),
    ("latest", "quarter"): N_("Gi* hot spot at %(level)s in the latest quarter"),
    ("latest", "month"): N_("Gi* hot spot at %(level)s in the latest month"),
    ("now", "quarter"): N_("Gi* hot spot at %(level)s"),
    ("now", "month"): N_("Gi* hot spot at %(level)s"),
}
#: What ``years_hot`` counts (``clustering.ranking.HOT_WHAT``).
_HOT_WHAT = {"gi": N_("Gi* hot spot"), "cluster": N_("a hot spot cluster")}


#: The units a plan's candidates are ranked among ("of N ..."), by the plan's level.
SCOPES = {
    "city_wards": N_("wards of the city"), "district_wards": N_("wards of the district"),
    "ward": N_("wards of the plan"), "city_spots": N_("clusters of incidents of the city"),
    "district_spots": N_("clusters of incidents of the district"),
    "ward_spots": N_("clusters of incidents of the ward"),
}


def _scope_rank(f: dict, locale) -> str:
    pct = f.get("change_pct")
    count = number(f.get("count"), locale=locale)
    if not missing(pct) and math.isfinite(pct):
        figures = gettext("%(count)s incidents, %(change)s on the same period last year", locale, count=count,
                          change=change(pct, locale=locale))
    else:
        figures = gettext("%(count)s incidents", locale, count=count)
    return gettext("ranked %(rank)s/%(n)s %(units)s by incidents (%(figures)s)", locale, rank=f["rank"], n=f["of"],
                   units=gettext(SCOPES[f["what"]], locale), figures=figures)


def _categories(f: dict, locale) -> str:
    lang = current_locale(locale)

    def name(label) -> str:   # stored in both languages when the reason was written
        return (label.get(lang) or label.get("vi") or "") if isinstance(label, dict) else str(label)

    items = [gettext("%(category)s (%(n)s incidents)", locale, category=name(label).lower(), n=number(n, locale=locale))
             for _code, label, n in f.get("top") or []]
    if not items:
        return ""
    listed = items[0] if len(items) == 1 else gettext("%(first)s and %(last)s", locale,
                                                       first=", ".join(items[:-1]), last=items[-1])
    text = gettext("mainly %(list)s", locale, list=listed)
    if f.get("rise"):
        _code, label, k1, k0 = f["rise"]
        text += "; " + gettext("%(category)s rose most (from %(base)s to %(count)s incidents)", locale,
                               category=name(label).lower(), base=number(k0, locale=locale),
                               count=number(k1, locale=locale))
    return text


def _gi(f: dict, locale) -> str:
    conf, streak = f.get("confidence"), int(f.get("streak") or 0)
    level = "≥ " + percent(0.9, 0, locale=locale) if conf is None else percent(conf / 100, 0, locale=locale)
    kind = "streak" if streak >= 2 else ("latest" if conf is None else "now")
    return gettext(_GI[kind, f.get("bin") or "quarter"], locale, level=level, n=number(streak, locale=locale))


def _p_text(name: str, p, locale) -> str:
    if p < 0.001:
        return f"{name} < {number(0.001, 3, locale=locale)}"
    return f"{name} = {number(p, 3, locale=locale)}"


def _increase(f: dict, locale) -> str:
    pct, count, base = f.get("change_pct"), f.get("count"), f.get("base_count")
    if not missing(pct) and math.isfinite(pct):
        text = gettext("%(change)s on the same period last year", locale, change=change(pct, locale=locale))
    elif not missing(count) and not missing(base):
        text = gettext("up from %(base)s to %(count)s incidents on the same period last year", locale,
                       base=number(base, locale=locale), count=number(count, locale=locale))
    else:
        text = gettext("significant increase on the same period last year", locale)
    if f.get("p_name") and not missing(f.get("p")):
        text += f" ({_p_text(f['p_name'], f['p'], locale)})"
    return text


def phrase(signal: str, figures: dict, locale: str | None = None) -> str:
    """One reason: ``signal`` (``clustering.ranking.REASONS``) with its figures, in ``locale``."""
    f = figures
    if signal == "gi":
        return _gi(f, locale)
    if signal == "pattern":
        text = gettext("%(pattern)s pattern", locale, pattern=palette.label(f["pattern"], locale).lower())
        z = f.get("trend_z")
        if not missing(z) and math.isfinite(z):
            text += " (" + gettext("trend z = %(z)s", locale, z=number(z, 2, locale=locale)) + ")"
        return text
    if signal == "harm_density":
        return gettext("harm-weighted density ranked %(rank)s of %(n)s (%(density)s per km²)", locale,
                       rank=f["rank"], n=f["of"], density=number(f.get("density"), locale=locale))
    if signal == "share":
        return gettext("%(share)s of the city's incidents", locale, share=percent(f.get("share"), 1, locale=locale))
    if signal == "increase":
        return _increase(f, locale)
    if signal == "persistence":
        return gettext("%(what)s in %(hot)s of the last %(total)s years", locale,
                       what=gettext(_HOT_WHAT[f.get("what") or "gi"], locale),
                       hot=number(f.get("years_hot"), locale=locale), total=number(f.get("years_total"), locale=locale))
    if signal == "scope_rank":
        return _scope_rank(f, locale)
    if signal == "categories":
        return _categories(f, locale)
    if signal == "harm_rank":
        return gettext("incidents weighted by severity ranked %(rank)s/%(n)s", locale, rank=f["rank"], n=f["of"])
    if signal == "clearance":
        return gettext("clearance rate %(rate)s", locale, rate=percent(f.get("clearance_rate"), 1, locale=locale))
    return gettext("No notable sign of complexity", locale)


def sentence(reasons, locale: str | None = None) -> str:
    """The reason sentence of one unit: its ``reasons`` (a list, or its JSON text) joined by "; ",
    the first letter capitalised."""
    if isinstance(reasons, str):
        reasons = json.loads(reasons)
    if not isinstance(reasons, (list, tuple)) or not reasons:   # None or NaN: not published
        return ""
    parts = [phrase(signal, figures, locale) for signal, figures in reasons]
    # the crime types read on from the rank: "…(143 incidents), mainly theft (61 incidents)"
    text = ""
    for (signal, _f), part in zip(reasons, parts):
        if part:
            text += (", " if signal == "categories" and text else ("; " if text else "")) + part
    return text[0].upper() + text[1:]
