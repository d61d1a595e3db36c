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
"""
from __future__ import annotations

import json
import math

from geo.format import N_, change, gettext, missing, number, percent
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
    text = "; ".join(phrase(signal, figures, locale) for signal, figures in reasons)
    return text[0].upper() + text[1:]
