"""Rates per ward: incidents per km², per 10,000 residents, harm-weighted, clearance.

A raw count hides both the size of a ward and the seriousness of what
happened there. ``rates`` adds density (``per_km2``), a population rate
(``per_10k``), a harm-weighted count (``harm``: each incident weighted by the
Penal Code severity grade, :data:`HARM_WEIGHTS`) and the clearance rate
("tỷ lệ điều tra khám phá", cleared cases over cases).

Examples
--------
>>> counts = pd.DataFrame({"code": ["26734", "26737"], "count": [120, 30],
...                        "cleared_count": [100, 30]})
>>> areas = pd.DataFrame({"code": ["26734", "26737"], "area_km2": [2.0, 0.5],
...                       "population": [60000, None]})
>>> r = rates(counts, areas)
>>> r[["per_km2", "per_10k", "clearance_rate"]].round(4).values.tolist()
[[60.0, 20.0, 0.8333], [60.0, nan, 1.0]]
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .errors import InputError

#: Weight of one incident by severity grade (1 ít nghiêm trọng, 2 nghiêm trọng,
#: 3 rất nghiêm trọng, 4 đặc biệt nghiêm trọng). Penal Code 2015 art. 9 sets the
#: grades by the highest penalty: up to 3 years, 3–7, 7–15, over 15 years; the
#: weights are the lower ends of those frames (1 for the lowest grade). An
#: incident of unknown severity weighs 1. Pass ``weights=`` to change them.
HARM_WEIGHTS: dict[int, float] = {1: 1, 2: 3, 3: 7, 4: 15}
UNKNOWN_WEIGHT = 1


def _grade(value):
    """Severity grade 1–4 of a number, else None (blank). Labels such as "rất nghiêm trọng" are
    mapped to grades when incidents are imported (``geo.ingest.validate``), not here."""
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, (int, np.integer, float, np.floating)) and not isinstance(value, bool):
        return int(value) if float(value).is_integer() else None
    raise InputError(f"`severity` holds {value!r} but must hold grades 1–4 (or blanks); "
                     "map labels to grades first, as the import does.")


def severity_weights(severity, weights: dict | None = None) -> np.ndarray:
    """The harm weight of each severity grade (1–4); blank or another number -> 1.

    >>> severity_weights([1, 4, 3, None, 9]).tolist()
    [1.0, 15.0, 7.0, 1.0, 1.0]
    """
    w = _check_weights(weights)
    return np.array([float(w.get(_grade(s), UNKNOWN_WEIGHT)) for s in severity], dtype=float)


def _check_weights(weights):
    if weights is None:
        return HARM_WEIGHTS
    if not isinstance(weights, dict) or not all(
            isinstance(v, (int, float)) and v > 0 for v in weights.values()):
        raise InputError(f"`weights` was {weights!r} but must be a dict of severity grade "
                         "(1–4) to a positive number, e.g. {1: 1, 2: 3, 3: 7, 4: 15}.")
    return weights


def harm_counts(incidents: pd.DataFrame, *, weights: dict | None = None) -> pd.DataFrame:
    """Count incidents per ward with their harm-weighted count.

    ``incidents`` has a ``code`` column and a ``severity`` column (grade 1–4;
    missing = unknown, weight 1). Returns ``code``, ``count``,
    ``harm``.

    >>> inc = pd.DataFrame({"code": ["a", "a", "b"], "severity": [1, 4, None]})
    >>> harm_counts(inc).values.tolist()
    [['a', 2, 16.0], ['b', 1, 1.0]]
    """
    for col in ("code", "severity"):
        if col not in incidents.columns:
            raise InputError(f"`incidents` has no column `{col}`; it has {list(incidents.columns)}.")
    w = severity_weights(incidents["severity"], weights)
    df = pd.DataFrame({"code": incidents["code"].to_numpy(), "count": 1, "harm": w})
    return df.groupby("code", sort=True, as_index=False).agg(count=("count", "sum"),
                                                           harm=("harm", "sum"))


def _by_grade(counts: pd.DataFrame, weights) -> pd.DataFrame:
    if "harm" in counts.columns:
        raise InputError("`counts` has both `severity` and `harm`; give one of them.")
    n = pd.to_numeric(counts["count"], errors="coerce")
    if n.isna().any() or (n < 0).any():
        raise InputError("`counts['count']` must hold numbers >= 0 (no blanks).")
    df = counts.assign(harm=n * severity_weights(counts["severity"], weights))
    cols = [c for c in ("count", "harm", "cleared_count") if c in df.columns]
    return df.groupby("code", sort=True, as_index=False)[cols].sum()


def rates(counts: pd.DataFrame, areas: pd.DataFrame, *, weights: dict | None = None) -> pd.DataFrame:
    """Counts joined to ward areas and populations, with rates.

    Parameters
    ----------
    counts : DataFrame
        ``code``, ``count`` and optionally ``harm`` (harm-weighted count, see
        :func:`harm_counts`) and ``cleared_count`` (cases cleared). With a
        ``severity`` column instead of ``harm``, rows are counts per ward and
        severity grade: they are summed per ward and ``harm`` is
        sum(count × weight of the grade).
    areas : DataFrame
        ``code``, ``area_km2`` and optionally ``population``.

    Returns
    -------
    DataFrame
        One row per code found in either frame (a ward without incidents
        counts 0), sorted by code, with ``per_km2``, ``per_10k`` (NaN where
        the population is unknown or 0), ``harm_per_km2`` and ``harm_per_10k``
        when ``harm`` is given, and ``clearance_rate`` = cleared_count / count
        as a fraction (0.8404, which reports write "đạt 84,04%"; NaN where count is 0) when
        ``cleared_count`` is given.
    """
    if isinstance(counts, pd.DataFrame) and "severity" in counts.columns and "count" in counts.columns:
        counts = _by_grade(counts, weights)
    for df, name, cols in ((counts, "counts", ("code", "count")), (areas, "areas", ("code", "area_km2"))):
        if not isinstance(df, pd.DataFrame):
            raise InputError(f"`{name}` was a {type(df).__name__} but must be a DataFrame.")
        missing = [c for c in cols if c not in df.columns]
        if missing:
            raise InputError(f"`{name}` has no column {missing}; it has {list(df.columns)}.")
        if df["code"].duplicated().any():
            code = df["code"][df["code"].duplicated()].iloc[0]
            raise InputError(f"`{name}` has several rows for code {code!r}; give one row per code.")
    value_cols = [c for c in ("count", "harm", "cleared_count") if c in counts.columns]
    for c in value_cols:
        v = pd.to_numeric(counts[c], errors="coerce")
        if v.isna().any() or (v < 0).any():
            raise InputError(f"`counts['{c}']` must hold numbers >= 0 (no blanks).")
    area_cols = [c for c in ("area_km2", "population") if c in areas.columns]
    for c in area_cols:
        if (pd.to_numeric(areas[c], errors="coerce") < 0).any():
            raise InputError(f"`areas['{c}']` holds negative values; give numbers >= 0 or leave blank.")
    out = counts[["code", *value_cols]].merge(areas[["code", *area_cols]], on="code", how="outer")
    out[value_cols] = out[value_cols].fillna(0)
    out["count"] = out["count"].astype(np.int64)
    if "population" not in out.columns:
        out["population"] = np.nan
    area = pd.to_numeric(out["area_km2"], errors="coerce").astype(float)
    pop = pd.to_numeric(out["population"], errors="coerce").astype(float)
    area, pop = area.where(area > 0), pop.where(pop > 0)
    out["per_km2"] = out["count"] / area
    out["per_10k"] = out["count"] / pop * 10_000
    if "harm" in out.columns:
        out["harm_per_km2"] = out["harm"] / area
        out["harm_per_10k"] = out["harm"] / pop * 10_000
    if "cleared_count" in out.columns:
        out["clearance_rate"] = out["cleared_count"] / out["count"].where(out["count"] > 0)
    return out.sort_values("code", kind="stable").reset_index(drop=True)
