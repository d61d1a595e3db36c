"""Ranking candidate complex areas ("địa bàn trọng điểm, phức tạp") with the evidence.

Each year a committee picks the wards, or smaller spots, that its plan to
transform complex areas will target. :func:`rank_areas` puts the candidates in
order and says why: every unit (a ward, or a DBSCAN spot) gets a ``score``
from 0 to 100, a ``rank``, the ``components`` (points per signal) and its
``reasons``: its two or three strongest signals as (signal, figures) pairs, which
``geo.render.reasons`` writes as the committees' reports write them:

    Gi* nóng 99% trong 3 quý liên tiếp; tăng 24,0% so với cùng kỳ (p = 0,003);
    chiếm 6,1% số vụ toàn thành phố

The score is a weighted sum of bounded signals
-----------------------------------------------
Each signal is turned into a fraction ``f`` between 0 and 1; the unit gets
``100 * w * f / sum(WEIGHTS)`` points for it, so the points add up to the
score and the score stays in [0, 100]. With the default :data:`WEIGHTS`
(which sum to 100) a signal's points are simply ``w * f``.

=================  ======  ============================================================
signal             weight  fraction ``f``
=================  ======  ============================================================
``hotspot``          20    current Gi* category (``hotspot_code``): ``hot_99`` 1,
                           ``hot_95`` 0.75, ``hot_90`` 0.5; not significant and cold 0
``streak``           15    ``min(hot_streak, 4) / 4``: consecutive most recent bins
                           (quarters) as a Gi* hot spot at ≥ 90 %; four quarters, a
                           full year, gets all the points
``pattern``          15    emerging hot-spot pattern (:data:`PATTERN_POINTS`):
                           intensifying 1, persistent 0.9, consecutive 0.8, new 0.7,
                           oscillating 0.5, sporadic 0.4, diminishing 0.3,
                           historical 0.2; cold patterns and ``no_pattern`` 0
``harm_density``     15    percentile of ``harm_per_km2`` within the frame,
                           ``(r - 1) / (n - 1)`` with ``r`` the ascending average rank
                           among the ``n`` units that have a value (1 when ``n`` is 1);
                           a density of 0 gets 0
``increase``         10    only when ``change_class == "significant_increase"``:
                           ``min(change_pct / 25, 1)`` (a rise of 25 % or more gets
                           all the points; 1 when ``change_pct`` is missing or
                           infinite, i.e. nothing in the same period last year)
``share``            10    ``min(share / 0.10, 1)``: 10 % or more of the city's
                           incidents gets all the points
``persistence``      10    ``years_hot / years_total``
``clearance``         5    ``1 - clearance_rate``
=================  ======  ============================================================

Why these weights. The plans select an area because crime *concentrates*
there and *keeps* concentrating: the current Gi* category and how long it has
lasted (``hotspot`` + ``streak`` = 35) weigh most, then the space-time
evidence of the emerging hot-spot analysis (``pattern``, 15) and the harm
done per km² (``harm_density``, 15; a harm-weighted count tells more than a
raw one, and a percentile keeps it bounded whatever the units). A significant
increase on the same period last year (10) is what the reports lead with, but
one period can be noise, so it counts only when the test says significant,
and a rise of a quarter is already alarming. The share of the city's
incidents (10) keeps a large ward with many incidents in view even when its
density is modest; in a city of a hundred wards or more, a tenth of all
incidents is an extreme concentration. Being a hot spot "nhiều năm liền"
(``persistence``, 10) marks areas that were not transformed or fell back
("tái phức tạp"). A low clearance rate (5) says that offenders act with
impunity there, but it depends on the investigators as much as on the area,
hence the small weight.

The reason names the signals with the most points, the Gi* category and the
streak counted together as one ("Gi* nóng 99% trong 3 quý liên tiếp"); equal
points follow the order of :data:`WEIGHTS`.

Signals whose columns are missing give 0 points and are not mentioned in the
reason; a missing value (NaN) in a column gives 0 points for that unit.
Pass ``weights=`` to change some weights; the others keep their default and
all are rescaled so that the total is still 100.

Ties in score are broken by ``harm``, then ``count`` (higher first), then
``code`` (in text order; a missing ``harm`` or ``count`` comes last), so that
ranks are 1, 2, …, n with no repeats.

Examples
--------
>>> signals = pd.DataFrame({
...     "code": ["26734", "26737", "26740"],
...     "hotspot_code": ["hot_99", "hot_90", "not_significant"],
...     "hot_streak": [3, 1, 0],
...     "share": [0.061, 0.02, 0.01],
...     "change_class": ["significant_increase", "no_significant_change",
...                      "no_significant_change"],
...     "change_pct": [24.0, 5.0, -3.0], "p_value": [0.003, 0.4, 0.7]})
>>> r = rank_areas(signals)
>>> r[["code", "rank"]].values.tolist()
[['26734', 1], ['26737', 2], ['26740', 3]]
>>> round(float(r["score"].iloc[0]), 2)      # 20 + 15*3/4 + 10*24/25 + 10*0.061/0.10
46.95
>>> for signal, figures in r["reasons"].iloc[0]:
...     print(signal, figures)
gi {'confidence': 99.0, 'streak': 3, 'bin': 'quarter'}
increase {'change_pct': 24.0, 'count': None, 'base_count': None, 'p_name': 'p', 'p': 0.003}
share {'share': 0.061}

References
----------
Getis, A. & Ord, J. K. (1992). The analysis of spatial association by use of
distance statistics. Geographical Analysis 24(3), 189–206.

Esri. How Emerging Hot Spot Analysis works. ArcGIS Pro documentation.
"""
from __future__ import annotations

import math
import re
from numbers import Real

import numpy as np
import pandas as pd

from .compare import CHANGE_CLASSES
from .emerging import PATTERNS
from .errors import InputError

#: Default weight of each signal; they sum to 100, so a signal's points are ``weight * f``.
WEIGHTS: dict[str, float] = {
    "hotspot": 20,
    "streak": 15,
    "pattern": 15,
    "harm_density": 15,
    "increase": 10,
    "share": 10,
    "persistence": 10,
    "clearance": 5,
}

#: Fraction of the ``hotspot`` weight by Gi* confidence of a hot spot (``hot_<confidence>``).
#: A code at another confidence gets the fraction of the highest level at or below it.
HOTSPOT_POINTS: dict[float, float] = {99: 1.0, 95: 0.75, 90: 0.5}
#: Consecutive hot bins that earn the whole ``streak`` weight (four quarters: a year).
STREAK_FULL = 4
#: Fraction of the ``pattern`` weight by emerging hot-spot pattern; other patterns get 0.
PATTERN_POINTS: dict[str, float] = {
    "intensifying_hot": 1.0,
    "persistent_hot": 0.9,
    "consecutive_hot": 0.8,
    "new_hot": 0.7,
    "oscillating_hot": 0.5,
    "sporadic_hot": 0.4,
    "diminishing_hot": 0.3,
    "historical_hot": 0.2,
}
#: Share of the city's incidents that earns the whole ``share`` weight.
SHARE_FULL = 0.10
#: Rise on the same period last year, in percent, that earns the whole ``increase`` weight.
INCREASE_FULL = 25.0
#: How many signals a reason sentence names at most.
MAX_REASONS = 3

#: What a bin of ``hot_streak`` is (``bin`` column): "quarter" (default) or "month".
BINS = ("quarter", "month")
#: What ``years_hot`` counts (``hot_what`` column): Gi* hot spots (default) or hot spot clusters.
HOT_WHAT = ("gi", "cluster")
#: The signals a reason names (codes of ``reasons``); "none" when no signal scored.
REASONS = ("gi", "pattern", "harm_density", "share", "increase", "persistence", "clearance", "none")

_NUMERIC = ("count", "base_count", "change_pct", "p_value", "q_value", "harm", "harm_per_km2",
            "per_10k", "share", "gi_z", "hot_streak", "trend_z", "trend_p", "years_hot",
            "years_total", "clearance_rate")
_FRACTIONS = ("share", "clearance_rate")
_HOTSPOT_RE = re.compile(r"^(hot|cold)_(\d+(?:\.\d+)?)$")


# --------------------------------------------------------------------------- checks

def _show(value) -> str:
    """repr of a value, numpy scalars shown as plain Python ones."""
    return repr(value.item() if isinstance(value, np.generic) else value)


def _check_weights(weights) -> dict[str, float]:
    if weights is None:
        return dict(WEIGHTS)
    if not isinstance(weights, dict):
        raise InputError(f"`weights` was a {type(weights).__name__} but must be a dict "
                         f"with keys among {list(WEIGHTS)}.")
    unknown = [k for k in weights if k not in WEIGHTS]
    if unknown:
        raise InputError(f"`weights` has unknown key {unknown[0]!r}; "
                         f"the keys must be among {list(WEIGHTS)}.")
    for k, v in weights.items():
        if isinstance(v, bool) or not isinstance(v, Real) or not math.isfinite(v) or v < 0:
            raise InputError(f"`weights[{k!r}]` was {v!r} but must be a number >= 0.")
    out = {**WEIGHTS, **{k: float(v) for k, v in weights.items()}}
    if sum(out.values()) <= 0:
        raise InputError("`weights` are all 0; give at least one signal a weight above 0.")
    return out


def _check_top(top) -> None:
    if top is not None and (isinstance(top, bool) or not isinstance(top, (int, np.integer))
                            or top < 1):
        raise InputError(f"`top` was {top!r} but must be None or an integer >= 1.")


def _numeric(df: pd.DataFrame, col: str) -> pd.Series:
    try:
        return pd.to_numeric(df[col], errors="raise").astype(float)
    except (TypeError, ValueError) as exc:
        raise InputError(f"`signals['{col}']` must hold numbers; {exc}.") from None


def _codes_in(df, col, allowed, hint) -> None:
    bad = df[col][df[col].notna() & ~df[col].isin(list(allowed))]
    if len(bad):
        raise InputError(f"`signals['{col}']` was {_show(bad.iloc[0])} for code "
                         f"{_show(df['code'].loc[bad.index[0]])} but is expected to be in {hint}.")


def _check_signals(signals) -> dict[str, pd.Series]:
    """Validate ``signals`` and return its numeric columns as float Series."""
    if not isinstance(signals, pd.DataFrame):
        raise InputError(f"`signals` was a {type(signals).__name__} but must be a DataFrame "
                         "with one row per unit and a `code` column.")
    if "code" not in signals.columns:
        raise InputError(f"`signals` has no column `code`; it has {list(signals.columns)}. "
                         "Add the unit code (GSO ward code, or spot id) as `code`.")
    if signals["code"].isna().any():
        raise InputError("`signals['code']` has missing values; give every unit a code.")
    dup = signals["code"][signals["code"].duplicated()]
    if len(dup):
        raise InputError(f"`signals` has several rows for code {_show(dup.iloc[0])}; "
                         "give one row per unit.")
    num = {c: _numeric(signals, c) for c in _NUMERIC if c in signals.columns}
    for col in _FRACTIONS:
        if col in num:
            bad = num[col][(num[col] < 0) | (num[col] > 1)]
            if len(bad):
                code = signals["code"].loc[bad.index[0]]
                raise InputError(f"`signals['{col}']` was {_show(bad.iloc[0])} for code "
                                 f"{_show(code)} but must be a fraction between 0 and 1; "
                                 "divide percentages by 100.")
    for col in ("hot_streak", "years_hot", "years_total", "count", "base_count", "harm",
                "harm_per_km2"):
        if col in num:
            bad = num[col][num[col] < 0]
            if len(bad):
                raise InputError(f"`signals['{col}']` was {_show(bad.iloc[0])} for code "
                                 f"{_show(signals['code'].loc[bad.index[0]])} but must be >= 0.")
    if "years_hot" in num and "years_total" in num:
        bad = num["years_hot"][num["years_hot"] > num["years_total"]]
        if len(bad):
            i = bad.index[0]
            raise InputError(f"`signals['years_hot']` was {_show(bad.iloc[0])} for code "
                             f"{_show(signals['code'].loc[i])}, more than `years_total` "
                             f"({_show(num['years_total'].loc[i])}).")
    if "pattern" in signals.columns:
        _codes_in(signals, "pattern", PATTERNS["code"], "the codes of clustering.emerging.PATTERNS")
    if "change_class" in signals.columns:
        _codes_in(signals, "change_class", CHANGE_CLASSES, list(CHANGE_CLASSES))
    if "bin" in signals.columns:
        _codes_in(signals, "bin", BINS, list(BINS))
    if "hot_what" in signals.columns:
        _codes_in(signals, "hot_what", HOT_WHAT, list(HOT_WHAT))
    if "hotspot_code" in signals.columns:
        col = signals["hotspot_code"]
        ok = col.isna() | (col == "not_significant") | col.astype(str).str.match(_HOTSPOT_RE)
        if not ok.all():
            i = ok[~ok].index[0]
            raise InputError(f"`signals['hotspot_code']` was {_show(col.loc[i])} for code "
                             f"{_show(signals['code'].loc[i])} but is expected to be 'hot_99', "
                             "'hot_95', 'hot_90', 'not_significant' or 'cold_…'.")
    return num


# --------------------------------------------------------------------------- fractions

def _hot_confidence(code) -> float | None:
    """The confidence (99, 95, …) of a hot-spot code, else None."""
    if not isinstance(code, str):
        return None
    m = _HOTSPOT_RE.match(code)
    if m is None or m.group(1) != "hot":
        return None
    return float(m.group(2))


def _hotspot_fraction(code) -> float:
    conf = _hot_confidence(code)
    if conf is None:
        return 0.0
    levels = [lv for lv in HOTSPOT_POINTS if lv <= conf]
    return HOTSPOT_POINTS[max(levels)] if levels else 0.0


def _fractions(signals: pd.DataFrame, num: dict[str, pd.Series]) -> pd.DataFrame:
    """Fraction in [0, 1] of each signal for each unit; 0 where the data are missing."""
    n = len(signals)
    zero = pd.Series(np.zeros(n), index=signals.index)
    f = {k: zero.copy() for k in WEIGHTS}
    if "hotspot_code" in signals.columns:
        f["hotspot"] = signals["hotspot_code"].map(_hotspot_fraction).astype(float)
    if "hot_streak" in num:
        f["streak"] = (num["hot_streak"].clip(upper=STREAK_FULL) / STREAK_FULL).fillna(0.0)
    if "pattern" in signals.columns:
        f["pattern"] = signals["pattern"].map(PATTERN_POINTS).astype(float).fillna(0.0)
    if "harm_per_km2" in num:
        d = num["harm_per_km2"]
        has = d.notna()
        k = int(has.sum())
        pct = d[has].rank(method="average") - 1
        pct = pct / (k - 1) if k > 1 else pct * 0 + 1.0
        f["harm_density"] = pct.reindex(signals.index).where(d > 0, 0.0).fillna(0.0)
    if "share" in num:
        f["share"] = (num["share"] / SHARE_FULL).clip(upper=1.0).fillna(0.0)
    if "change_class" in signals.columns:
        up = signals["change_class"] == "significant_increase"
        if "change_pct" in num:
            pct = num["change_pct"]
            size = (pct / INCREASE_FULL).clip(0.0, 1.0).where(np.isfinite(pct), 1.0)
        else:
            size = zero + 1.0
        f["increase"] = size.where(up, 0.0)
    if "years_hot" in num and "years_total" in num:
        tot = num["years_total"]
        f["persistence"] = (num["years_hot"] / tot.where(tot > 0)).fillna(0.0)
    if "clearance_rate" in num:
        f["clearance"] = (1.0 - num["clearance_rate"]).fillna(0.0)
    return pd.DataFrame(f, index=signals.index)


# --------------------------------------------------------------------------- reasons

def _plain(v):
    """A figure as a plain Python number (None when missing), so that reasons serialise as JSON."""
    try:
        if v is None or pd.isna(v):
            return None
    except (TypeError, ValueError):
        return v
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return float(v) if math.isfinite(v) else None
    return v


def _figures(row, name: str, density_rank, n_density) -> dict | None:
    """The figures behind signal ``name`` of one unit, or None when it has nothing to say."""
    def get(col):
        return _plain(row.get(col, None))

    if name == "gi":
        conf = _hot_confidence(get("hotspot_code"))
        streak = get("hot_streak")
        streak = 0 if streak is None else int(streak)
        if conf is None and streak < 1:
            return None
        return {"confidence": conf, "streak": streak, "bin": get("bin") or "quarter"}
    if name == "pattern":
        return {"pattern": get("pattern"), "trend_z": get("trend_z")}
    if name == "harm_density":
        return {"rank": density_rank, "of": n_density, "density": get("harm_per_km2")}
    if name == "share":
        return {"share": get("share")}
    if name == "increase":
        out = {"change_pct": get("change_pct"), "count": get("count"), "base_count": get("base_count"),
               "p_name": None, "p": None}
        for col, sym in (("p_value", "p"), ("q_value", "q")):
            if get(col) is not None:
                out.update(p_name=sym, p=get(col))
                break
        return out
    if name == "persistence":
        return {"years_hot": get("years_hot"), "years_total": get("years_total"),
                "what": get("hot_what") or "gi"}
    if name == "clearance":
        return {"clearance_rate": get("clearance_rate")}
    return None


def _reasons(row, points: dict[str, float], density_rank, n_density) -> list[tuple[str, dict]]:
    items = {"gi": points["hotspot"] + points["streak"]}
    items.update({k: v for k, v in points.items() if k not in ("hotspot", "streak")})
    order = sorted((k for k, v in items.items() if v > 0), key=lambda k: -items[k])
    out = []
    for key in order:
        figures = _figures(row, key, density_rank, n_density)
        if figures is not None:
            out.append((key, figures))
        if len(out) == MAX_REASONS:
            break
    return out or [("none", {})]


# --------------------------------------------------------------------------- ranking

def rank_areas(signals: pd.DataFrame, *, weights: dict | None = None,
               top: int | None = None) -> pd.DataFrame:
    """Score and rank candidate complex areas, with the reason for each.

    Parameters
    ----------
    signals : DataFrame
        One row per unit (ward or spot). Only ``code`` is required; the other
        columns are optional and a missing one gives 0 points: ``name``,
        ``count``, ``base_count``, ``change_pct``, ``p_value``, ``q_value``,
        ``change_class`` (from :func:`clustering.compare.compare_counts`),
        ``harm``, ``harm_per_km2``, ``per_10k``, ``share`` (fraction 0–1 of the
        city's incidents), ``hotspot_code``, ``gi_z`` (Gi* of the current
        period), ``hot_streak`` (consecutive most recent bins as a Gi* hot spot
        at ≥ 90 %), ``hot_what`` (what ``years_hot`` counts, one of :data:`HOT_WHAT`, default
        "gi"), ``bin`` (what a bin is, one of :data:`BINS`, default "quarter"), ``pattern``,
        ``trend_z``, ``trend_p``
        (emerging hot spots), ``years_hot``, ``years_total`` and
        ``clearance_rate`` (fraction 0–1).
    weights : dict, optional
        New weights for some signals (keys of :data:`WEIGHTS`, numbers >= 0).
        The others keep their default; all are rescaled to sum to 100.
    top : int, optional
        Keep only the first ``top`` units.

    Returns
    -------
    DataFrame
        The columns of ``signals`` plus ``score`` (0–100, higher is more
        complex), ``rank`` (1 is the most complex; ties in score broken by
        ``harm``, then ``count``, higher first, then ``code``), ``components``
        (dict: points of each signal of :data:`WEIGHTS`, adding up to
        ``score``) and ``reasons`` (list of (signal, figures): the signals of
        :data:`REASONS` the reason sentence names, strongest first, with the figures it
        quotes); sorted by rank, with a fresh index.

    Raises
    ------
    InputError
        ``signals`` has no ``code`` column, a missing or repeated code, a
        non-numeric value in a numeric column, a fraction outside [0, 1], an
        unknown ``pattern``, ``change_class`` or ``hotspot_code``; ``weights``
        has an unknown key or a negative value; ``top`` is not an integer >= 1.
    """
    w = _check_weights(weights)
    _check_top(top)
    num = _check_signals(signals)

    total = sum(w.values())
    frac = _fractions(signals, num)
    points = pd.DataFrame({k: 100.0 * w[k] * frac[k] / total for k in WEIGHTS},
                          index=signals.index)
    score = points.sum(axis=1).clip(0.0, 100.0)

    if "harm_per_km2" in num:
        dens = num["harm_per_km2"]
        dens_rank = dens.rank(method="min", ascending=False)
        n_dens = int(dens.notna().sum())
    else:
        dens_rank, n_dens = pd.Series(np.nan, index=signals.index), 0

    out = signals.copy()
    out["score"] = score
    comps, reasons = [], []
    for i, row in signals.iterrows():
        pts = {k: float(points.at[i, k]) for k in WEIGHTS}
        dr = dens_rank.at[i]
        dr = None if pd.isna(dr) else int(dr)
        comps.append(pts)
        reasons.append(_reasons(row, pts, dr, n_dens))
    out["components"] = comps
    out["reasons"] = reasons

    keys = pd.DataFrame({
        "s": score.round(9),
        "h": num["harm"] if "harm" in num else 0.0,
        "c": num["count"] if "count" in num else 0.0,
        "k": signals["code"].astype(str),
    }, index=signals.index)
    order = keys.sort_values(["s", "h", "c", "k"], ascending=[False, False, False, True],
                             na_position="last", kind="mergesort").index
    out = out.loc[order].reset_index(drop=True)
    out["rank"] = np.arange(1, len(out) + 1)
    cols = [c for c in out.columns if c not in ("score", "rank", "components", "reasons")]
    out = out[cols + ["score", "rank", "components", "reasons"]]
    if top is not None:
        out = out.head(int(top))
    return out
