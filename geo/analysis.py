"""Analyses over the store: fetch incidents for a period and hand them to ``clustering``.

Each function takes the engine and plain parameters and returns a
GeoDataFrame in WGS 84 (or a DataFrame); the HTTP API and the pages call these.
Results are cached by the data version (imports and boundary loads) and the
parameters, so that repeated map views do not recompute.
"""
from __future__ import annotations

import datetime as dt
import json
import threading
from collections import OrderedDict
from contextvars import ContextVar
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import text
from sqlalchemy.engine import Engine

from clustering.aoristic import weekday_hour
from clustering import coverage
from clustering.compare import city_total, compare_counts
from clustering.compare import compare_counts as _compare
from clustering.dbscan import find_spots
from clustering.emerging import EmergingHotSpots
from clustering.forecast import DEFAULT_CELL_M
from clustering.getis_ord import gi_star
from clustering.grid import ward_weights
from clustering.kde import kde
from clustering.lisa import local_moran
from clustering.near_repeat import knox, metric_days
from clustering.outlook import HORIZONS, REGISTRY, Outlook
from clustering.outlook import outlook as _outlook
from clustering.places import repeat_places as _repeat_places
from clustering.projection import metric_crs_for
from clustering.ranking import rank_areas
from clustering.rates import HARM_WEIGHTS, rates
from geo import format as fmt
from geo import periods as pr
from geo.errors import InputError
from geo.names import address_key, display_names, main_street
from geo.store.categories import catalogue
from geo.store.queries import day_rows, load_areas, period_query

CACHE_SIZE = 64
_cache: OrderedDict = OrderedDict()
_lock = threading.Lock()
_flights: dict = {}  # key -> the lock of the one computation of it under way


# the data versions read in the current scope (see one_data_version), by engine URL
_versions: ContextVar[dict | None] = ContextVar("data_versions", default=None)


def data_version(engine: Engine) -> tuple:
    """Changes whenever incidents, boundaries or categories change: the newest import (re-filing
    counts as one) and boundary load, and the newest change of a category or its groups.
    Inside :func:`one_data_version` it is read from the store once."""
    seen = _versions.get()
    if seen is not None and str(engine.url) in seen:
        return seen[str(engine.url)]
    with engine.connect() as conn:
        version = tuple(conn.execute(text(
            "SELECT (SELECT MAX(id) FROM import_batch), (SELECT MAX(id) FROM boundary_version), "
            "(SELECT COUNT(*) FROM boundary_version), (SELECT MAX(changed_at) FROM category)")).one())
    if seen is not None:
        seen[str(engine.url)] = version
    return version


def one_data_version():
    """Start a scope (a web request that reads) in which :func:`data_version` asks the store once and
    every cached result is of that one version; returns the token that :func:`end_data_version` takes."""
    return _versions.set({})


def end_data_version(token) -> None:
    _versions.reset(token)


def cached(name: str, engine: Engine, params: dict, compute):
    """``compute()`` once per (analysis, data version, parameters); a bounded LRU in memory. A caller
    that asks while another thread computes the same key waits for that result instead of computing
    it again (a visitor arriving while the precompute job runs the page)."""
    key = (name, str(engine.url), data_version(engine), tuple(sorted((k, repr(v)) for k, v in params.items())))
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
        flight = _flights.setdefault(key, threading.Lock())
    # nested calls take the locks of other keys, always from the outer analysis to the inner one: no cycle
    with flight:
        with _lock:
            if key in _cache:
                _cache.move_to_end(key)
                return _cache[key]
        try:
            value = compute()
            with _lock:
                _cache[key] = value
                while len(_cache) > CACHE_SIZE:
                    _cache.popitem(last=False)
        finally:
            with _lock:
                _flights.pop(key, None)
    return value


def data_span(engine: Engine) -> tuple[dt.date, dt.date] | None:
    """First and last local date of the incidents in the store (None when there are none)."""
    def compute():
        # two statements: SQLite answers a lone MIN or MAX from the index, both at once by a scan
        with engine.connect() as conn:
            lo = conn.execute(text("SELECT MIN(local_date) FROM incident")).scalar()
            hi = conn.execute(text("SELECT MAX(local_date) FROM incident")).scalar()
        if lo is None:
            return None
        return dt.date.fromisoformat(str(lo)[:10]), dt.date.fromisoformat(str(hi)[:10])
    return cached("span", engine, {}, compute)


# --------------------------------------------------------------------------- fetching

def _period_rows(engine: Engine, select: str, *, boundary: str, start: dt.date, end: dt.date, categories,
                 join: str = "JOIN", group_by: str = "") -> list:
    """Rows of ``SELECT <select>`` over incidents with a local date in [start, end] (and the
    categories), joined to their unit ``a`` in ``boundary`` (``join="LEFT JOIN"`` keeps the
    incidents outside it)."""
    sql = (f"SELECT {select} FROM incident i "
           f"{join} incident_area ia ON ia.incident_id = i.id AND ia.version_id = "
           "(SELECT id FROM boundary_version WHERE name = :boundary) "
           f"{join} area a ON a.id = ia.area_id "
           "WHERE i.local_date >= :start AND i.local_date <= :end ")
    return period_query(engine, sql, "i.category", group_by, boundary=boundary, start=start, end=end,
                        categories=categories, raw_column="i.category_raw", incident="i")


def incidents(engine: Engine, *, boundary: str, start: dt.date, end: dt.date,
              categories: list[str] | None = None) -> pd.DataFrame:
    """Incidents with a local date in [start, end] and their unit in ``boundary`` (or NaN)."""
    rows = _period_rows(engine, "i.id, i.lon, i.lat, i.local_date, i.category, i.severity, i.cleared, a.code, "
                        "i.address", boundary=boundary, start=start, end=end, categories=categories,
                        join="LEFT JOIN")
    df = pd.DataFrame(rows, columns=["id", "lon", "lat", "local_date", "category", "severity", "cleared", "code",
                                     "address"])
    df["local_date"] = pd.to_datetime(df["local_date"])
    return df


def _ward_frame(engine: Engine, boundary: str) -> gpd.GeoDataFrame:
    """The units of ``boundary`` by code; ``name`` carries the parent where names repeat
    ("Phường 7 (Gò Vấp)", :func:`geo.names.display_names`), so every page, table and report
    tells them apart."""
    def make():
        frame = load_areas(engine, boundary).set_index("code", drop=False)
        frame["name"] = display_names(frame["name"], frame["parent_name"])
        return frame
    return cached("areas", engine, {"b": boundary}, make)


def _weights(engine: Engine, boundary: str):
    return cached("weights", engine, {"b": boundary}, lambda: ward_weights(_ward_frame(engine, boundary)))


def _daily(engine: Engine, *, boundary: str, start: dt.date, end: dt.date, categories) -> pd.DataFrame:
    """Incidents per (unit code, local date): the space-time cube's raw material."""
    rows = day_rows(engine, "a.code, d.local_date, SUM(d.n)", boundary=boundary, start=start, end=end,
                     categories=categories, group_by="a.code, d.local_date")
    df = pd.DataFrame(rows, columns=["code", "local_date", "n"])
    df["local_date"] = pd.to_datetime(df["local_date"])
    return df


def _local_times(values, tz: str) -> pd.Series:
    """Stored UTC times (text on SQLite, datetimes on PostgreSQL; None for none) as naive local times."""
    text = pd.Series([None if v is None else str(v) for v in values], dtype=object)
    utc = pd.to_datetime(text, utc=True, format="ISO8601")
    return utc.dt.tz_convert(tz).dt.tz_localize(None)


def hour_weekday(engine: Engine, *, boundary: str, start: dt.date, end: dt.date, categories=(),
                 units=()) -> dict:
    """The selection's incidents per local weekday (0 = Monday) and hour, aoristic (a time range
    spreads its weight over the hours it spans, :mod:`clustering.aoristic`): ``matrix`` (7 × 24),
    ``total`` incidents and ``unknown`` (those without a time of day, not in the matrix). ``units``
    limits it to those unit codes."""
    tz = pr.zone().key

    def compute():
        rows = _period_rows(engine, "i.occurred_at, i.occurred_to, i.time_known, a.code", boundary=boundary,
                            start=start, end=end, categories=list(categories or ()))
        df = pd.DataFrame(rows, columns=["at", "to", "known", "code"])
        if units:
            df = df[df["code"].isin(set(units))]
        known = df["known"].fillna(False).astype(bool).to_numpy()
        at = _local_times(df["at"], tz).where(known)
        r = weekday_hour(at.to_numpy(dtype="datetime64[ns]"), _local_times(df["to"], tz).to_numpy(dtype="datetime64[ns]"))
        return {"matrix": r.matrix, "total": int(len(df)), "unknown": r.unknown}
    return cached("hour-weekday", engine, dict(b=boundary, s=start, e=end, c=tuple(categories or ()),
                                               u=tuple(units), tz=tz), compute)


def monthly_counts(engine: Engine, *, boundary: str, start: dt.date, end: dt.date, categories=(),
                   units=()) -> pd.DataFrame:
    """Incidents per unit (rows: every unit of ``boundary``, or ``units``) and calendar month of
    [start, end] (columns "2025-01", …; a month cut by the period counts its days inside it)."""
    def compute():
        daily = _daily(engine, boundary=boundary, start=start, end=end, categories=list(categories or ()))
        months = pd.period_range(start, end, freq="M").strftime("%Y-%m")
        codes = list(units) if units else list(_ward_frame(engine, boundary).index)
        daily["month"] = daily["local_date"].dt.strftime("%Y-%m")
        wide = daily.pivot_table(index="code", columns="month", values="n", aggfunc="sum", fill_value=0)
        return wide.reindex(index=codes, columns=months, fill_value=0).fillna(0).astype(int)
    return cached("monthly", engine, dict(b=boundary, s=start, e=end, c=tuple(categories or ()), u=tuple(units)),
                  compute)


def _grouped(engine: Engine, *, boundary: str, start: dt.date, end: dt.date, categories) -> pd.DataFrame:
    """Per unit code: incidents, cleared ones and incidents per severity grade 1–4 in [start, end]."""
    rows = day_rows(engine, "a.code, SUM(d.n), SUM(d.n_cleared), SUM(d.n_sev1), SUM(d.n_sev2), "
                     "SUM(d.n_sev3), SUM(d.n_sev4)", boundary=boundary, start=start, end=end,
                     categories=categories, group_by="a.code")
    return pd.DataFrame(rows, columns=["code", "count", "cleared_count", "sev1", "sev2", "sev3", "sev4"])


def ward_counts(engine: Engine, *, boundary: str, start: dt.date, end: dt.date,
                categories: list[str] | None = None, harm_weights: dict | None = None) -> gpd.GeoDataFrame:
    """Every unit of ``boundary`` with count, harm-weighted count, cleared count and rates."""
    wards = _ward_frame(engine, boundary)
    g = _grouped(engine, boundary=boundary, start=start, end=end, categories=categories).astype(
        {"count": float, "cleared_count": float, "sev1": float, "sev2": float, "sev3": float, "sev4": float})
    weights = {**HARM_WEIGHTS, **(harm_weights or {})}
    graded = g[["sev1", "sev2", "sev3", "sev4"]].sum(axis=1)
    g["harm"] = sum(weights[k] * g[f"sev{k}"] for k in (1, 2, 3, 4)) + (g["count"] - graded)  # unknown grade: 1
    # the units of the version only (an incident of another version's unit is not counted here)
    g = g[g["code"].isin(wards.index)]
    areas = wards[["code", "area_km2", "population"]].reset_index(drop=True)
    r = rates(g[["code", "count", "harm", "cleared_count"]], areas)   # NaN rates where area or population is 0
    cols = ["count", "harm", "cleared_count", "per_km2", "harm_per_km2", "per_10k", "clearance_rate"]
    out = wards[["code", "name", "parent_name", "area_km2", "population", "geometry"]].join(
        r.set_index("code")[cols])
    total = out["count"].sum()
    out["share"] = out["count"] / total if total else 0.0
    return out


def _require_incidents(frame):
    if int(frame["count"].sum()) == 0:
        raise InputError(fmt.gettext("No incidents in the chosen period; widen the dates or the categories."))


# --------------------------------------------------------------------------- analyses

def _local_statistic(name: str, statistic, engine: Engine, *, boundary, start, end, categories,
                     permutations, column) -> gpd.GeoDataFrame:
    """``statistic(wards, column, w=…, permutations=…)`` over the wards' counts, cached."""
    def compute():
        counts = ward_counts(engine, boundary=boundary, start=start, end=end, categories=categories)
        _require_incidents(counts)
        return statistic(counts, column, w=_weights(engine, boundary), permutations=permutations)
    return cached(name, engine, dict(b=boundary, s=start, e=end, c=categories, p=permutations, col=column),
                  compute)


def gistar_wards(engine: Engine, *, boundary: str, start: dt.date, end: dt.date,
                 categories: list[str] | None = None, permutations: int = 999,
                 column: str = "count") -> gpd.GeoDataFrame:
    """Getis-Ord Gi* over the wards (queen contiguity, binary weights, FDR)."""
    return _local_statistic("gistar", gi_star, engine, boundary=boundary, start=start, end=end,
                            categories=categories, permutations=permutations, column=column)


def lisa_wards(engine: Engine, *, boundary: str, start: dt.date, end: dt.date,
               categories: list[str] | None = None, permutations: int = 999,
               column: str = "count") -> gpd.GeoDataFrame:
    """Local Moran's I over the wards, with FDR."""
    return _local_statistic("lisa", local_moran, engine, boundary=boundary, start=start, end=end,
                            categories=categories, permutations=permutations, column=column)


def compare_wards(engine: Engine, *, boundary: str, start: dt.date, end: dt.date,
                  base_start: dt.date | None = None, base_end: dt.date | None = None,
                  categories: list[str] | None = None) -> tuple[gpd.GeoDataFrame, dict]:
    """Per-ward change against the base period (default: cùng kỳ) with the exact test; and the city total."""
    current = pr.custom(start, end)
    if base_start is None and base_end is None:
        base = current.same_period_last_year()
    elif base_start is None or base_end is None:
        raise InputError(fmt.gettext("Give both `base_start` and `base_end`, or neither (the same period last "
                                     "year)."))
    else:
        base = pr.custom(base_start, base_end)
    pr.check_base(current, base)

    def compute():
        now = ward_counts(engine, boundary=boundary, start=current.start, end=current.end, categories=categories)
        then = ward_counts(engine, boundary=boundary, start=base.start, end=base.end, categories=categories)
        if int(now["count"].sum()) + int(then["count"].sum()) == 0:
            raise InputError(fmt.gettext("No incidents in either period; widen the dates or the categories."))
        cmp = compare_counts(now[["code", "count"]].reset_index(drop=True),
                             then[["code", "count"]].reset_index(drop=True),
                             t_current_days=current.days, t_base_days=base.days)
        out = now[["code", "name", "geometry"]].reset_index(drop=True).merge(cmp, on="code", how="left")
        total = city_total(now[["code", "count"]], then[["code", "count"]], t_current_days=current.days,
                           t_base_days=base.days)
        meta = {"period": [current.start.isoformat(), current.end.isoformat()],
                "base_period": [base.start.isoformat(), base.end.isoformat()],
                "total": _plain(total.iloc[0].to_dict() if isinstance(total, pd.DataFrame) else dict(total))}
        return gpd.GeoDataFrame(out, geometry="geometry", crs=now.crs), meta
    return cached("compare", engine, dict(b=boundary, s=start, e=end, bs=base.start, be=base.end, c=categories),
                  compute)


def _plain(d: dict) -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, (np.integer,)):
            v = int(v)
        elif isinstance(v, (np.floating, float)):
            v = None if np.isnan(v) else float(v)
        out[k] = v
    return out


MAX_BINS = 120
_TOO_FEW_BINS = {
    "month": fmt.N_("%(start)s – %(end)s makes %(n)s month bins; emerging hot spots need at least 4: widen "
                    "the dates."),
    "quarter": fmt.N_("%(start)s – %(end)s makes %(n)s quarter bins; emerging hot spots need at least 4: widen "
                      "the dates."),
}


def emerging_wards(engine: Engine, *, boundary: str, start: dt.date, end: dt.date,
                   categories: list[str] | None = None, bins: str = "quarter",
                   permutations: int = 999, progress=None) -> tuple[gpd.GeoDataFrame, EmergingHotSpots]:
    """Emerging hot-spot pattern of each ward over month or quarter bins of [start, end].
    ``progress(fraction)``, when given, hears how far the computation is (not part of the cache key)."""
    if bins not in ("month", "quarter"):
        raise InputError(fmt.gettext("`%(name)s` was %(value)s but is expected to be one of %(choices)s.",
                                     name="bins", value=repr(bins), choices="month, quarter"))
    periods = pr.bins(start, end, freq=bins)
    if len(periods) < 4:
        raise InputError(fmt.gettext(_TOO_FEW_BINS[bins], start=fmt.date(start), end=fmt.date(end),
                                     n=len(periods)))
    if len(periods) > MAX_BINS:
        raise InputError(fmt.gettext("%(n)s bins is more than %(max)s; use quarters or a shorter span.",
                                     n=fmt.number(len(periods)), max=fmt.number(MAX_BINS)))

    def compute():
        wards = _ward_frame(engine, boundary)
        daily = _daily(engine, boundary=boundary, start=periods[0].start, end=periods[-1].end,
                       categories=categories)
        if daily.empty:
            raise InputError(fmt.gettext("No incidents in the chosen period; widen the dates or the categories."))
        edges = pd.to_datetime([p.start for p in periods] + [periods[-1].end + dt.timedelta(days=1)])
        b = np.searchsorted(edges.values, daily["local_date"].values, side="right") - 1
        cube = np.zeros((len(wards), len(periods)))
        pos = pd.Series(np.arange(len(wards)), index=wards.index)
        np.add.at(cube, (pos.loc[daily["code"]].to_numpy(), b), daily["n"].to_numpy())
        ehs = EmergingHotSpots(cube, _weights(engine, boundary), permutations=permutations, progress=progress)
        frame = ehs.to_frame()
        frame.index = wards.index
        out = wards[["code", "name", "geometry"]].join(frame)
        out["series"] = [row.astype(int).tolist() for row in cube]
        out["hot_streak"] = _streak(ehs.hot)
        out.attrs["bins"] = [p.spec for p in periods]   # label them with geo.periods.parse_period(spec).label()
        return out, ehs
    return cached("emerging", engine, dict(b=boundary, s=start, e=end, c=categories, bins=bins,
                                           p=permutations), compute)


def _streak(hot: np.ndarray) -> np.ndarray:
    """Length of the run of hot bins that ends with the last bin, per location."""
    rev = hot[:, ::-1]
    cold_at = np.where(~rev.any(axis=1) | rev.all(axis=1), 0, np.argmin(rev, axis=1))
    return np.where(rev.all(axis=1), hot.shape[1], np.where(rev[:, 0], cold_at, 0))


def _points(inc: pd.DataFrame) -> gpd.GeoDataFrame:
    pts = inc.dropna(subset=["lon", "lat"])
    return gpd.GeoDataFrame(pts.reset_index(drop=True), geometry=gpd.points_from_xy(pts["lon"], pts["lat"]),
                            crs="EPSG:4326")


def dbscan_spots(engine: Engine, *, boundary: str, start: dt.date, end: dt.date,
                 categories: list[str] | None = None, eps_m: float | None = None, min_samples: int | None = None,
                 method: str = "dbscan", harm_weighted: bool = False,
                 max_span_m: float | None = None) -> gpd.GeoDataFrame:
    """DBSCAN (or HDBSCAN) spots of the period's geolocated incidents, with the wards each touches.

    ``eps_m``/``min_samples`` None: chosen from the data and the period's months
    (:func:`clustering.dbscan.auto_parameters`); a spot wider than ``max_span_m`` is split or flagged.
    Each spot also has ``main_ward`` (the code of the unit holding most of its incidents) and
    ``street`` (the street most of its addresses are on, as written, :func:`geo.names.main_street`):
    no words, its name is made when it is shown (:func:`geo.names.spot_name`). ``attrs``: the
    parameters used (``eps_m``, ``min_samples``, ``knee_m``) and the spots ``split`` and ``wide``."""

    def compute():
        inc = incidents(engine, boundary=boundary, start=start, end=end, categories=categories)
        pts = _points(inc)
        if pts.empty:
            raise InputError(fmt.gettext("No geolocated incidents in the chosen period; widen the dates or the categories."))
        if harm_weighted:
            pts["harm"] = pts["severity"].map(HARM_WEIGHTS).fillna(1.0)
        wards = _ward_frame(engine, boundary).reset_index(drop=True)
        labels, spots = find_spots(pts, eps_m=eps_m, min_samples=min_samples, method=method, wards=wards,
                                   weights="harm" if harm_weighted else None, max_span_m=max_span_m,
                                   months=pr.custom(start, end).days / 30.4375)
        mine = pts.assign(spot=labels.to_numpy() + 1)[labels.to_numpy() >= 0]
        by_spot = mine.groupby("spot")
        spots["main_ward"] = spots["spot_id"].map(by_spot["code"].agg(
            lambda c: c.value_counts().index[0] if c.notna().any() else "")).fillna("")
        spots["street"] = spots["spot_id"].map(by_spot["address"].agg(lambda a: main_street(a) or "")).fillna("")
        return spots.to_crs("EPSG:4326")
    return cached("dbscan", engine, dict(b=boundary, s=start, e=end, c=categories, eps=eps_m, m=min_samples,
                                         method=method, h=harm_weighted, span=max_span_m), compute)


def incident_rows(engine: Engine, *, boundary: str, start: dt.date, end: dt.date,
                  categories: list[str] | None = None) -> pd.DataFrame:
    """The period's incidents as the places and the points layer need them: ``lon``, ``lat``,
    ``local_date``, ``category``, ``address`` and ``code`` (the unit in ``boundary``, or None), latest
    first. Cached: a copy is returned."""
    def compute():
        out = incidents(engine, boundary=boundary, start=start, end=end, categories=categories)
        return out.sort_values("local_date", ascending=False, kind="stable").reset_index(drop=True)
    return cached("incident-rows", engine, dict(b=boundary, s=start, e=end, c=categories), compute).copy()


def repeat_places(engine: Engine, *, boundary: str, start: dt.date, end: dt.date,
                  categories: list[str] | None = None, min_count: int = 3, radius_m: float = 50.0,
                  recent_days: int = 90) -> gpd.GeoDataFrame:
    """The places hit again and again in [start, end] (:func:`clustering.places.repeat_places`):
    the same address in one unit (compared by :func:`geo.names.address_key`) and groups of
    incidents within ``radius_m`` of one of them, with at least ``min_count`` incidents, most
    first; ``name`` is the unit's name (with its parent where names repeat). Points in WGS 84."""

    def compute():
        inc = incident_rows(engine, boundary=boundary, start=start, end=end, categories=categories)
        inc["key"] = inc["address"].map(address_key)
        places = _repeat_places(inc, end=end, radius_m=radius_m, min_count=int(min_count), recent_days=recent_days)
        names = _ward_frame(engine, boundary)["name"]
        places["name"] = places["code"].map(names)
        return gpd.GeoDataFrame(places, geometry=gpd.points_from_xy(places["lon"], places["lat"]), crs="EPSG:4326")
    return cached("places", engine, dict(b=boundary, s=start, e=end, c=categories, m=min_count, r=radius_m,
                                         d=recent_days), compute)


#: A category of the selection gets a Knox table of its own from this many incidents.
NEAR_REPEAT_CATEGORY_MIN = 30


def near_repeat(engine: Engine, *, boundary: str, start: dt.date, end: dt.date, categories=(),
                distance_m: float = 100.0, distance_bands: int = 5, day_bandwidth: int = 7, day_bands: int = 4,
                permutations: int = 99, max_incidents: int = 20_000, progress=None) -> dict:
    """Near repeats of the selection in [start, end] (:func:`clustering.near_repeat.knox`) over its
    incidents with a place in a unit of ``boundary``; the latest ``max_incidents`` when there are more.

    ``tables``: the selection's Knox table first (``category`` ""), then, when the selection holds
    several categories, one per category with at least :data:`NEAR_REPEAT_CATEGORY_MIN` incidents
    (most incidents first); each with ``n`` (incidents tested), ``total`` (before the cut), ``knox``
    and ``extent`` (the near-repeat window, or None). ``at_risk``: the incidents of the last days of
    a window before the data's end (``as_of``: the period's end, or the last day with data before it),
    one row each (``id``, ``lon``, ``lat``, ``local_date``, ``category``, ``address``, ``code``, ``name``,
    ``radius_m``, ``days``, ``until``: the last day of raised risk, ``days_left``, ``ratio``, ``table``:
    the category of the table that found it), the longest risk first; an incident of a window of its
    category and of the selection's keeps the one of its category. No words: the page words them."""

    def compute():
        inc = incident_rows(engine, boundary=boundary, start=start, end=end, categories=list(categories))
        inc = inc[inc["code"].notna() & inc["lon"].notna() & inc["lat"].notna()].reset_index(drop=True)
        totals = inc["category"].value_counts()
        total = len(inc)
        inc = inc.head(int(max_incidents))  # incident_rows are latest first
        span = data_span(engine)
        as_of = min(end, span[1]) if span else end
        groups = [("", inc)]
        if inc["category"].nunique() > 1:
            sizes = inc["category"].value_counts()
            groups += [(c, inc[inc["category"] == c]) for c in sorted(sizes.index, key=lambda c: (-sizes[c], c))
                       if sizes[c] >= NEAR_REPEAT_CATEGORY_MIN]
        weights = np.array([len(g) ** 2 for _c, g in groups], dtype=float) + 1  # pairs grow as n²
        done = np.concatenate([[0.0], np.cumsum(weights) / weights.sum()])
        tables, risk = [], []
        for k, (cat, frame) in enumerate(groups):
            xy, days, rows = metric_days(frame)
            step = (lambda x, k=k: progress(done[k] + x * (done[k + 1] - done[k]))) if progress else None
            result = knox(xy, days, distance_m=distance_m, distance_bands=distance_bands,
                          day_bandwidth=day_bandwidth, day_bands=day_bands, permutations=permutations, progress=step)
            extent = result.extent()
            tables.append({"category": cat, "n": int(len(rows)), "total": int(totals[cat]) if cat else total,
                           "knox": result, "extent": extent})
            if extent and extent["days"] > 0:
                window = pd.Timedelta(days=int(extent["days"]))
                recent = frame.iloc[rows]
                recent = recent[(recent["local_date"] + window).dt.date > as_of]
                risk.append(recent.assign(radius_m=extent["radius_m"], days=int(extent["days"]),
                                          until=(recent["local_date"] + window).dt.date,
                                          days_left=[(d - as_of).days for d in (recent["local_date"] + window).dt.date],
                                          ratio=extent["ratio"], table=cat, specific=cat != ""))
        columns = ["id", "lon", "lat", "local_date", "category", "address", "code", "name", "radius_m", "days",
                   "until", "days_left", "ratio", "table"]
        if risk:
            # an incident in its category's window and in the selection's keeps its category's
            at_risk = pd.concat(risk, ignore_index=True).sort_values(["id", "specific"], ascending=[True, False])
            at_risk = at_risk.drop_duplicates("id").drop(columns="specific")
            at_risk["name"] = at_risk["code"].map(_ward_frame(engine, boundary)["name"])
            at_risk = at_risk.sort_values(["days_left", "local_date", "id"], ascending=[False, False, True])
            at_risk = at_risk[columns].reset_index(drop=True)
        else:
            at_risk = pd.DataFrame(columns=columns)
        return {"tables": tables, "at_risk": at_risk, "as_of": as_of, "total": total, "n": int(len(inc))}
    return cached("near-repeat", engine, dict(b=boundary, s=start, e=end, c=tuple(categories), d=distance_m,
                                              db=distance_bands, t=day_bandwidth, tb=day_bands, p=permutations,
                                              mx=max_incidents), compute)


#: Grid candidates above this are refused: the problem would take minutes (choose fewer units or a wider spacing).
MAX_SITE_CANDIDATES = 30_000
#: Existing sites given at most.
MAX_EXISTING_SITES = 200
#: VN-2000 / UTM zones 48N and 49N (EPSG:3405, EPSG:3406): the x/y of the sites' downloads.
VN2000_UTM = {48: "EPSG:3405", 49: "EPSG:3406"}


def existing_sites(text: str) -> tuple[tuple[float, float], ...]:
    """The existing cameras or posts of a form's text: one "longitude, latitude" per line (WGS 84
    degrees; a comma, semicolon or spaces between them; empty lines skipped). A bad line is named.

    >>> existing_sites("106.70, 10.77\\n\\n106.71 10.78")
    ((106.7, 10.77), (106.71, 10.78))
    """
    out = []
    for n, line in enumerate(str(text or "").splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        parts = [p for p in line.replace(";", " ").replace(",", " ").split() if p]
        try:
            lon, lat = (float(p) for p in parts) if len(parts) == 2 else (None, None)
        except ValueError:
            lon = lat = None
        if lon is None or not (np.isfinite(lon) and np.isfinite(lat)):
            raise InputError(fmt.gettext("Existing sites, line %(n)s: %(line)s is not “longitude, latitude” "
                                         "(e.g. 106.7009, 10.7769).", n=n, line=repr(line[:60])))
        if 5 <= lon <= 25 and 100 <= lat <= 120:
            raise InputError(fmt.gettext("Existing sites, line %(n)s: %(line)s looks like latitude first; write "
                                         "the longitude first (e.g. 106.7009, 10.7769).", n=n, line=repr(line[:60])))
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise InputError(fmt.gettext("Existing sites, line %(n)s: %(line)s is outside longitude −180…180 and "
                                         "latitude −90…90.", n=n, line=repr(line[:60])))
        out.append((lon, lat))
    if len(out) > MAX_EXISTING_SITES:
        raise InputError(fmt.gettext("%(n)s existing sites were given; at most %(max)s.", n=fmt.number(len(out)),
                                     max=fmt.number(MAX_EXISTING_SITES)))
    return tuple(out)


def _site_incidents(engine: Engine, *, boundary, start, end, categories, units) -> pd.DataFrame:
    """The selection's geolocated incidents (in ``units``, or in any unit of ``boundary``) with what
    the sites need: lon, lat, severity, local start and end times (NaT when unknown), unit code."""
    rows = _period_rows(engine, "i.lon, i.lat, i.severity, i.occurred_at, i.occurred_to, i.time_known, a.code",
                        boundary=boundary, start=start, end=end, categories=list(categories or ()))
    df = pd.DataFrame(rows, columns=["lon", "lat", "severity", "at", "to", "known", "code"])
    df = df[df["lon"].notna() & df["lat"].notna()]
    if units:
        df = df[df["code"].isin(set(units))]
    tz = pr.zone().key
    known = df["known"].fillna(False).astype(bool).to_numpy()
    df = df.assign(at=_local_times(df["at"], tz).where(known).to_numpy(), to=_local_times(df["to"], tz).to_numpy())
    return df.reset_index(drop=True)


def _metres(lon, lat, crs) -> np.ndarray:
    pts = gpd.GeoSeries(gpd.points_from_xy(lon, lat), crs="EPSG:4326").to_crs(crs)
    return np.column_stack([pts.x.to_numpy(), pts.y.to_numpy()]) if len(pts) else np.zeros((0, 2))


def sites(engine: Engine, *, boundary: str, start: dt.date, end: dt.date, categories=(), units=(),
          purpose: str = "camera", k: int = 5, radius_m: float = 75.0, spacing_m: float = 50.0,
          candidates: str = "grid", gateway_m: float = 0.0, existing=(), weigh: str = "count",
          progress=None) -> dict:
    """Where ``k`` cameras or patrol teams cover the most of the selection's incidents within
    ``radius_m`` (:func:`clustering.coverage.maximal_cover`), besides the ``existing`` sites
    ((lon, lat) pairs). Candidates: the centres of a ``spacing_m`` grid, or of the repeat places
    (:func:`repeat_places`); with ``gateway_m`` > 0 only those within that distance of the border of
    the selection (district-entry cameras). ``weigh``: "count" (each incident 1) or "harm" (the
    severity weights :data:`clustering.rates.HARM_WEIGHTS`).

    Returns numbers only: ``sites`` (a GeoDataFrame in WGS 84: rank, existing, lon, lat, VN-2000 x/y,
    unit code, incidents, weight, share, busiest hours and weekdays of the incidents it covers),
    ``curve`` (k = 0, 1, … with share and gain), the covered ``share``/``incidents``/``total``, the
    out-of-sample ``check`` (the share the same sites cover in the next period of the same length,
    else the previous one; None without data there) and the size of the ``problem``."""
    if purpose not in ("camera", "patrol"):
        raise InputError(fmt.gettext("`%(name)s` was %(value)s but is expected to be one of %(choices)s.",
                                     name="purpose", value=repr(purpose), choices="camera, patrol"))
    key = dict(b=boundary, s=start, e=end, c=tuple(categories or ()), u=tuple(units), p=purpose, k=int(k),
               r=float(radius_m), sp=float(spacing_m), cand=candidates, g=float(gateway_m),
               x=tuple(existing), w=weigh)

    def compute():
        inc = _site_incidents(engine, boundary=boundary, start=start, end=end, categories=categories, units=units)
        if inc.empty:
            raise InputError(fmt.gettext("No geolocated incidents in the chosen period; widen the dates or the categories."))
        crs = metric_crs_for(gpd.GeoSeries(gpd.points_from_xy(inc["lon"], inc["lat"]), crs="EPSG:4326"))
        xy = _metres(inc["lon"], inc["lat"], crs)
        weights = (inc["severity"].map(HARM_WEIGHTS).fillna(1.0).to_numpy(dtype=float) if weigh == "harm"
                   else np.ones(len(inc)))
        if candidates == "places":
            places = repeat_places(engine, boundary=boundary, start=start, end=end, categories=list(categories or []))
            if units:
                places = places[places["code"].isin(set(units))]
            cand = _metres(places["lon"], places["lat"], crs)
        else:
            cand = coverage.grid_candidates(xy, spacing_m, radius_m)
            if len(cand) > MAX_SITE_CANDIDATES:
                raise InputError(fmt.gettext(
                    "%(n)s possible sites at %(spacing)s m is more than %(max)s: choose fewer units or a wider "
                    "spacing.", n=fmt.number(len(cand)), spacing=fmt.number(spacing_m), max=fmt.number(MAX_SITE_CANDIDATES)))
        if gateway_m > 0:
            wards = _ward_frame(engine, boundary)
            area = (wards.loc[list(units)] if units else wards).to_crs(crs).geometry.union_all()
            cand = cand[coverage.near_border(cand, area, gateway_m)]
        if not len(cand):
            raise InputError(fmt.gettext("No possible site: with repeat places, choose a longer period; near the "
                                         "border, a larger distance."))
        fixed = _metres([p[0] for p in existing], [p[1] for p in existing], crs)
        result = coverage.maximal_cover(xy, cand, k=int(k), radius_m=radius_m, weights=weights, fixed_xy=fixed,
                                        progress=progress)
        return _site_result(engine, boundary, result, inc, crs, radius_m, weigh, start, end, categories, units)
    return cached("sites", engine, key, compute)


def _site_result(engine, boundary, result, inc, crs, radius_m, weigh, start, end, categories, units) -> dict:
    table = result.sites.copy()
    pts = gpd.GeoSeries(gpd.points_from_xy(table["x"], table["y"]), crs=crs).to_crs("EPSG:4326")
    table["lon"], table["lat"] = pts.x.to_numpy(), pts.y.to_numpy()
    zone = int((float(inc["lon"].mean()) + 180) // 6) + 1
    vn = VN2000_UTM.get(zone, VN2000_UTM[48])
    vn_pts = pts.to_crs(vn)
    table["x_vn2000"], table["y_vn2000"] = vn_pts.x.to_numpy(), vn_pts.y.to_numpy()
    wards = _ward_frame(engine, boundary)
    hit = gpd.sjoin(gpd.GeoDataFrame(geometry=pts.to_numpy(), crs="EPSG:4326"),
                    wards[["code", "geometry"]].reset_index(drop=True),
                    how="left", predicate="within")
    table["code"] = hit.groupby(level=0)["code"].first().reindex(range(len(table))).to_numpy()
    table["name"] = table["code"].map(wards["name"])
    hours = []
    for s in range(len(table)):  # the covered incidents' times (aoristic), their busiest hours and days
        mine = inc[result.site_of == s]
        r = weekday_hour(mine["at"].to_numpy(dtype="datetime64[ns]"), mine["to"].to_numpy(dtype="datetime64[ns]"))
        best = coverage.busiest(r.matrix)
        hours.append((None, None, "", int(round(r.total))) if best is None
                     else (best[0], best[1], ",".join(map(str, best[2])), int(round(r.total))))
    table[["hour_from", "hour_to", "weekdays", "timed"]] = pd.DataFrame(hours, index=table.index, dtype=object)
    table = table.rename(columns={"site": "rank", "fixed": "existing"}).drop(columns=["x", "y"])
    gdf = gpd.GeoDataFrame(table, geometry=pts.to_numpy(), crs="EPSG:4326")
    return {"sites": gdf, "curve": result.curve, "share": result.share, "weight": result.weight,
            "total": result.total, "incidents": int((result.site_of >= 0).sum()), "count": int(len(inc)),
            "check": _site_check(engine, boundary, gdf, crs, radius_m, weigh, start, end, categories, units),
            "problem": {"demand_points": result.demand_points, "candidates": result.candidates,
                        "seconds": round(result.seconds, 3), "solver": result.solver},
            "vn2000": vn, "radius_m": float(radius_m)}


def _next_period(start: dt.date, end: dt.date, step: int) -> tuple[dt.date, dt.date]:
    """The period of the same length after (``step`` 1) or before (-1) [start, end]: whole months
    shift by their number of months (2025 → 2026, Quý II → Quý III), other periods by their days.

    >>> _next_period(dt.date(2025, 1, 1), dt.date(2025, 12, 31), -1)
    (datetime.date(2024, 1, 1), datetime.date(2024, 12, 31))
    """
    after = end + dt.timedelta(days=1)
    if start.day == 1 and after.day == 1:
        months = (after.year - start.year) * 12 + after.month - start.month
        a = (pd.Timestamp(start) + pd.DateOffset(months=step * months)).date()
        return a, (pd.Timestamp(a) + pd.DateOffset(months=months)).date() - dt.timedelta(days=1)
    days = (end - start).days + 1
    return start + dt.timedelta(days=step * days), end + dt.timedelta(days=step * days)


def _site_check(engine, boundary, gdf, crs, radius_m, weigh, start, end, categories, units) -> dict | None:
    """The share the chosen sites (and the existing ones) cover in the next period of the same length,
    or in the previous one when the data do not reach the end of the next; None without data."""
    span = data_span(engine)
    if span is None or not len(gdf):
        return None
    nxt, prev = _next_period(start, end, 1), _next_period(start, end, -1)
    which, (a, b) = ("next", nxt) if span[1] >= nxt[1] else ("previous", prev)
    if which == "previous" and span[0] > prev[0]:
        return None
    inc = _site_incidents(engine, boundary=boundary, start=a, end=b, categories=categories, units=units)
    if inc.empty:
        return None
    w = inc["severity"].map(HARM_WEIGHTS).fillna(1.0).to_numpy(dtype=float) if weigh == "harm" else np.ones(len(inc))
    near = coverage.assign(_metres(inc["lon"], inc["lat"], crs), _metres(gdf["lon"], gdf["lat"], crs), radius_m) >= 0
    return {"which": which, "start": a.isoformat(), "end": b.isoformat(), "share": float(w[near].sum() / w.sum()),
            "incidents": int(near.sum()), "count": int(len(inc))}


def kde_surface(engine: Engine, *, boundary: str, start: dt.date, end: dt.date,
                categories: list[str] | None = None, bandwidth_m: float | None = None,
                cell_m: float | None = None, kernel: str = "quartic"):
    """Kernel density of the period's geolocated incidents, clipped to the boundary version."""

    def compute():
        inc = incidents(engine, boundary=boundary, start=start, end=end, categories=categories)
        pts = _points(inc[inc["code"].notna()])
        if pts.empty:
            raise InputError(fmt.gettext("No geolocated incidents in the chosen period; widen the dates or the categories."))
        wards = _ward_frame(engine, boundary)
        clip = wards[wards["code"].isin(inc["code"].dropna().unique())]
        return kde(pts, bandwidth_m=bandwidth_m, cell_m=cell_m, kernel=kernel, clip=clip)
    return cached("kde", engine, dict(b=boundary, s=start, e=end, c=categories, bw=bandwidth_m, cell=cell_m,
                                      k=kernel), compute)


def complex_areas(engine: Engine, *, boundary: str, start: dt.date, end: dt.date,
                  categories: list[str] | None = None, years: int = 3, top: int | None = None,
                  weights: dict | None = None) -> gpd.GeoDataFrame:
    """Wards ranked as candidate complex areas, with the evidence and a reason per ward.

    Signals: the change against cùng kỳ with its exact test, harm-weighted
    density, share of the city's incidents, the Gi* category of the period,
    the emerging hot-spot pattern and hot streak over the quarters of the last
    ``years`` years, in how many of those years the ward was a hot spot, and
    the clearance rate. ``clustering.ranking.rank_areas`` turns them into a
    score.
    """

    def compute():
        counts = ward_counts(engine, boundary=boundary, start=start, end=end, categories=categories)
        _require_incidents(counts)
        cmp, _ = compare_wards(engine, boundary=boundary, start=start, end=end, categories=categories)
        gi = gistar_wards(engine, boundary=boundary, start=start, end=end, categories=categories)
        span_start = dt.date(end.year - years, end.month, 1) + dt.timedelta(days=31)
        span_start = dt.date(span_start.year, span_start.month, 1)
        em, ehs = emerging_wards(engine, boundary=boundary, start=span_start, end=end,
                                 categories=categories, bins="quarter")
        years_of_bins = np.array([p.start.year for p in pr.bins(span_start, end, freq="quarter")])
        year_list = sorted(set(years_of_bins))
        # a year counts as a hot year when the ward was a hot spot in at least two of its quarters
        hot_years = np.stack([ehs.hot[:, years_of_bins == y].sum(axis=1) >= 2 for y in year_list], axis=1)
        signals = counts[["code", "name", "count", "harm", "harm_per_km2", "per_10k", "share",
                          "clearance_rate"]].reset_index(drop=True)
        signals = signals.merge(cmp[["code", "base_count", "change_pct", "p_value", "q_value", "change_class"]],
                                on="code", how="left")
        signals = signals.merge(gi[["code", "hotspot_code", "gi_z"]].reset_index(drop=True), on="code", how="left")
        em_part = pd.DataFrame({"code": em["code"].to_numpy(), "pattern": em["pattern"].to_numpy(),
                                "trend_z": em["trend_z"].to_numpy(), "trend_p": em["trend_p"].to_numpy(),
                                "hot_streak": em["hot_streak"].to_numpy(),
                                "years_hot": hot_years.sum(axis=1), "years_total": len(year_list)})
        signals = signals.merge(em_part, on="code", how="left")
        signals["bin"] = "quarter"
        ranked = rank_areas(signals, weights=weights, top=top)
        geom = counts.set_index("code")["geometry"]
        ranked["components"] = ranked["components"].map(lambda c: c if isinstance(c, str) else _json(c))
        ranked["reasons"] = ranked["reasons"].map(_json)   # (signal, figures) pairs: geo.render.reasons
        return gpd.GeoDataFrame(ranked, geometry=geom.loc[ranked["code"]].to_numpy(), crs=counts.crs)
    return cached("complex", engine, dict(b=boundary, s=start, e=end, c=categories, y=years, t=top,
                                          w=weights), compute)


def _json(obj) -> str:
    return json.dumps(obj, ensure_ascii=False, default=float)


def _counts_in(polys: gpd.GeoSeries, inc: pd.DataFrame) -> np.ndarray:
    """Incidents of ``inc`` (lon/lat) inside each polygon of ``polys`` (WGS 84)."""

    pts = inc.dropna(subset=["lon", "lat"])
    if pts.empty or polys.empty:
        return np.zeros(len(polys), dtype=int)
    tree = shapely.STRtree(shapely.points(pts["lon"].to_numpy(), pts["lat"].to_numpy()))
    hit, _ = tree.query(polys.values, predicate="intersects")
    return np.bincount(hit, minlength=len(polys))


def complex_spots(engine: Engine, *, boundary: str, start: dt.date, end: dt.date,
                  categories: list[str] | None = None, eps_m: float = 150.0, min_samples: int = 30,
                  years: int = 3, top: int | None = None, weights: dict | None = None) -> gpd.GeoDataFrame:
    """DBSCAN spots of the period ranked as candidate complex areas, with a reason per spot.

    Signals per spot: its incidents and harm (per km² of the spot), its share
    of the city's incidents, the change against cùng kỳ counted inside the
    same polygon (exact test, FDR over the spots), in how many of the last
    ``years`` calendar years a spot covered the same place, and clearance.
    """

    current = pr.custom(start, end)
    base = current.same_period_last_year()

    def compute():
        spots = dbscan_spots(engine, boundary=boundary, start=start, end=end, categories=categories,
                             eps_m=eps_m, min_samples=min_samples).reset_index(drop=True)
        if spots.empty:
            raise InputError(fmt.gettext("No DBSCAN spot with eps %(eps)s m and %(n)s incidents; lower "
                                         "min_samples or widen the dates.", eps=fmt.number(eps_m),
                                         n=fmt.number(min_samples)))
        inc = incidents(engine, boundary=boundary, start=start, end=end, categories=categories)
        before = incidents(engine, boundary=boundary, start=base.start, end=base.end, categories=categories)
        codes = [f"spot-{i}" for i in spots["spot_id"]]
        now_counts = _counts_in(spots.geometry, inc)
        cmp = _compare(pd.DataFrame({"code": codes, "count": now_counts}),
                       pd.DataFrame({"code": codes, "count": _counts_in(spots.geometry, before)}),
                       t_current_days=current.days, t_base_days=base.days)
        sev = inc.assign(harm=inc["severity"].map(HARM_WEIGHTS).fillna(1.0),
                         cleared=inc["cleared"].astype("boolean").fillna(False).astype(float))

        pts = sev.dropna(subset=["lon", "lat"])
        tree = shapely.STRtree(shapely.points(pts["lon"].to_numpy(), pts["lat"].to_numpy()))
        hit, which = tree.query(spots.geometry.values, predicate="intersects")
        harm = np.bincount(hit, weights=pts["harm"].to_numpy()[which], minlength=len(spots))
        cleared = np.bincount(hit, weights=pts["cleared"].to_numpy()[which], minlength=len(spots))
        year_list = list(range(end.year - years + 1, end.year + 1))
        hot_years = np.zeros(len(spots), dtype=int)
        for y in year_list:
            try:
                other = dbscan_spots(engine, boundary=boundary, start=dt.date(y, 1, 1), end=dt.date(y, 12, 31),
                                     categories=categories, eps_m=eps_m, min_samples=min_samples)
            except InputError:
                continue
            if len(other):
                s_idx, _ = shapely.STRtree(other.geometry.values).query(spots.geometry.values,
                                                                      predicate="intersects")
                hot_years[np.unique(s_idx)] += 1
        total = max(len(inc), 1)
        km2 = spots["area_m2"].to_numpy() / 1e6
        signals = pd.DataFrame({
            "code": codes, "name": "", "harm": harm, "harm_per_km2": harm / np.maximum(km2, 1e-6),
            "share": now_counts / total,
            "clearance_rate": np.where(now_counts > 0, cleared / np.maximum(now_counts, 1), np.nan),
            "years_hot": hot_years, "years_total": len(year_list),
            "hot_what": "cluster",
        }).merge(cmp[["code", "count", "base_count", "change_pct", "p_value", "q_value", "change_class"]],
                 on="code")
        ranked = rank_areas(signals, weights=weights, top=top)
        ranked["components"] = ranked["components"].map(lambda c: c if isinstance(c, str) else _json(c))
        ranked["reasons"] = ranked["reasons"].map(_json)   # (signal, figures) pairs: geo.render.reasons
        # the words of the name come when it is shown (geo.names.spot_name); the unit's name is data
        ward_names = _ward_frame(engine, boundary)["name"]
        extra = spots.assign(code=codes, ward_name=spots["main_ward"].map(ward_names).fillna(""))[
            ["code", "spot_id", "street", "ward_name", "ward_codes", "categories", "area_m2", "span_m", "geometry"]]
        out = ranked.merge(extra, on="code", how="left")
        return gpd.GeoDataFrame(out, geometry="geometry", crs="EPSG:4326")
    return cached("complex-spots", engine, dict(b=boundary, s=start, e=end, c=categories, eps=eps_m,
                                                m=min_samples, y=years, t=top, w=weights), compute)


def ward_detail(engine: Engine, code: str, *, boundary: str, start: dt.date, end: dt.date,
                categories: list[str] | None = None) -> dict:
    """What the unit panel shows: monthly counts of the period and of the same months a year
    earlier (``base_months[i]`` is ``months[i]`` one year before, cut to cùng kỳ), categories,
    clearance, change against cùng kỳ."""
    wards = _ward_frame(engine, boundary)
    if code not in wards.index:
        raise InputError(fmt.gettext("No unit with code %(code)s in boundary version %(boundary)s.",
                                     code=repr(code), boundary=repr(boundary)))
    inc = incidents(engine, boundary=boundary, start=start, end=end, categories=categories)
    mine = inc[inc["code"] == code]
    months = pr.bins(start, end, freq="month")
    month_keys = [p.start.strftime("%Y-%m") for p in months]
    monthly = mine["local_date"].dt.strftime("%Y-%m").value_counts().reindex(month_keys, fill_value=0)
    base = pr.custom(start, end).same_period_last_year()
    before = [pr.period("month", p.start.year - 1, p.start.month) for p in months]
    base_keys = [p.start.strftime("%Y-%m") for p in before]
    daily = _daily(engine, boundary=boundary, start=base.start, end=base.end, categories=categories)
    daily = daily[daily["code"] == code]
    base_monthly = daily.groupby(daily["local_date"].dt.strftime("%Y-%m"))["n"].sum().reindex(base_keys, fill_value=0)
    cmp, _ = compare_wards(engine, boundary=boundary, start=start, end=end, categories=categories)
    row = cmp.set_index("code").loc[code]
    cleared = mine["cleared"].astype("boolean")
    cat = catalogue(engine)
    return {
        "code": code, "name": wards.at[code, "name"], "parent_name": wards.at[code, "parent_name"],
        "count": int(len(mine)),
        "months": [{"month": k, "label": p.label(), "count": int(monthly[k])}
                   for k, p in zip(month_keys, months)],
        "base_months": [{"month": k, "label": p.label(), "count": int(base_monthly[k])}
                        for k, p in zip(base_keys, before)],
        "categories": {k: int(v) for k, v in mine["category"].value_counts().items()},
        "category_labels": {k: {"vi": cat.label(k, "vi"), "en": cat.label(k, "en")} for k in mine["category"].unique()},
        "clearance_rate": None if cleared.notna().sum() == 0 else float(cleared.fillna(False).mean()),
        "compare": _plain({**{k: row[k] for k in ("count", "base_count", "change_pct", "p_value", "q_value",
                                                  "change_class")},
                           "change_text": fmt.count_change(row["count"], row["base_count"])}),
    }


def category_rows(engine: Engine, counts: dict, groups) -> dict:
    """The unit panel's categories, largest first, and the sums of the report ``groups`` (group or
    category codes, in report order) that have incidents, with labels in the user's language.

    ``counts`` is as published: a suppressed count (None) goes last, ordered by code, so its place
    tells nothing of its size; a group with a suppressed member is suppressed too, so every
    published group is a sum of published counts.
    """
    cat, lang = catalogue(engine), fmt.current_locale()
    order = sorted(counts.items(), key=lambda kv: (kv[1] is None, -(kv[1] or 0), kv[0]))
    out = {"category_rows": [{"code": k, "label": cat.label(k, lang), "count": v} for k, v in order], "groups": []}
    for g in groups:
        members = [counts[c] for c in (cat.groups.get(g) or (g,)) if c in counts]
        if members:
            out["groups"].append({"code": g, "label": cat.label(g, lang),
                                  "count": None if None in members else sum(members)})
    return out


#: The forecast horizons (clustering.outlook.HORIZONS) and the reporting period kind each one is.
FORECAST_KINDS = {"month": "month", "quarter": "quarter", "half": "6months", "year": "year"}
#: How many monthly origins the forecast's backtest checks at most.
FORECAST_PERIODS = 12


def forecast_start(engine: Engine, end: dt.date, cut: str = "calendar") -> tuple[dt.date, bool]:
    """The first day of the forecast after a filter period ending on ``end``, and whether it had to be
    moved: the day after ``end``, unless ``end`` is after the data's last day; then the day after the
    data's last full month (its last full statistical month, 15th–14th, with ``cut="stat"``).

    A period of the statistical cut ends on the 14th, so the forecast starts on the 15th."""
    start = end + dt.timedelta(days=1)
    span = data_span(engine)
    if span is None or end <= span[1]:
        return start, False
    last = span[1]
    if cut == "stat":
        # the latest 14th on or before the last day closes the last full statistical month
        month = last.replace(day=1) if last.day >= 14 else (last.replace(day=1) - dt.timedelta(days=1)).replace(day=1)
        moved = month.replace(day=15)
    else:
        nxt = last + dt.timedelta(days=1)
        moved = nxt if nxt.day == 1 else last.replace(day=1)
    return min(moved, start), True


def forecast_period(start: dt.date, horizon: str) -> pr.Period:
    """The forecast period of ``horizon`` from ``start`` as a reporting period: a named one
    ("Quý I/2026", "6 tháng cuối năm 2025" of the statistical cut) when it is one, else the dates."""
    if horizon not in HORIZONS:
        raise InputError(fmt.gettext("`%(name)s` was %(value)s but is expected to be one of %(choices)s.",
                                     name="horizon", value=repr(horizon), choices=", ".join(HORIZONS)))
    months = HORIZONS[horizon][0]
    end = (pd.Timestamp(start) + pd.DateOffset(months=months)).date() - dt.timedelta(days=1)
    kind = FORECAST_KINDS[horizon]
    if end.month % months == 0:  # a named period ends in a month that is a multiple of its months
        index = None if kind == "year" else end.month // months
        for cut in ("calendar", "statistical"):
            named = pr.period(kind, end.year, index, cut=cut)
            if (named.start, named.end) == (start, end):
                return named
    return pr.custom(start, end)


def check_forecast_start(engine: Engine, start: dt.date) -> None:
    """A forecast starts on the 1st of a month (the 15th for the statistical cut), after the data's
    first day and at the latest the day after its last."""
    if start.day not in (1, 15):
        raise InputError(fmt.gettext("`start` was %(value)s but a forecast starts on the 1st of a month, or on the "
                                     "15th for the statistical cut.", value=repr(start.isoformat())))
    span = data_span(engine)
    if span and start > span[1] + dt.timedelta(days=1):
        raise InputError(fmt.gettext("`start` was %(value)s but the data end on %(last)s: a forecast starts at the "
                                     "latest on the day after.", value=repr(start.isoformat()),
                                     last=fmt.date(span[1])))


def forecast_points(engine: Engine, *, boundary: str, start: dt.date, categories) -> gpd.GeoDataFrame:
    """The incidents of the selection before ``start`` (all of the history), as points in WGS 84."""
    span = data_span(engine)
    if span is None or span[0] >= start:
        return gpd.GeoDataFrame({"local_date": pd.to_datetime([])}, geometry=[], crs="EPSG:4326")
    return _points(incidents(engine, boundary=boundary, start=span[0], end=start - dt.timedelta(days=1),
                             categories=categories))


def outlook(engine: Engine, *, boundary: str, start: dt.date, horizon: str = "quarter",
            categories: list[str] | None = None, progress=None) -> Outlook | None:
    """The forecast of ``horizon`` from ``start`` for every unit of ``boundary``
    (:func:`clustering.outlook.outlook`: the method a 12-origin backtest chose, expected counts with
    80 % and 95 % ranges); None when the selection has no incident before ``start`` (nothing to
    forecast from). ``progress(fraction)`` hears how far it is (not part of the cache key)."""
    forecast_period(start, horizon)  # checks the horizon

    def compute():
        pts = forecast_points(engine, boundary=boundary, start=start, categories=categories)
        if pts.empty:
            return None
        context = forecast_points(engine, boundary=boundary, start=start, categories=[]) if categories else pts
        wards = _ward_frame(engine, boundary)[["code", "name", "geometry"]].reset_index(drop=True)
        return _outlook(pts, wards=wards, start=start, horizon=horizon, periods=FORECAST_PERIODS, context=context,
                        time="local_date", progress=progress)
    return cached("outlook", engine, dict(b=boundary, s=start, h=horizon, c=list(categories or [])), compute)


# --------------------------------------------------------------------------- budgets

class TooCostly(InputError):
    """An analysis over the hard cap of its budget: the user has to narrow the request."""


@dataclass(frozen=True)
class Budget:
    """What an analysis would cost before it starts, estimated from the day aggregates.

    ``amount`` is in the unit of the limits (incidents × the analysis' passes, or
    forecast cells × forecast runs); ``shown`` and ``per`` say how to tell the user
    (``amount / per`` incidents or cells)."""

    what: str
    amount: int
    inline: int
    maximum: int
    per: int = 1
    unit: str = "incidents"

    @property
    def mode(self) -> str:
        return "inline" if self.amount <= self.inline else "job" if self.amount <= self.maximum else "refused"


# passes over the period's incidents of each analysis that is budgeted by incidents
# complex areas and spots: the period and 3 years; trends: Gi* in every time bin; near repeats: the
# selection's table and one per category; sites: one covering problem per number of sites (the curve),
# counted over the chosen units only
PASSES = {"dbscan": 1, "kde": 1, "hotspots": 2, "complex-spots": 4, "complex": 4, "trends": 2, "near-repeat": 2,
          "sites": 4}


def period_incidents(engine: Engine, *, boundary: str, start: dt.date, end: dt.date, categories,
                     units=()) -> int:
    """Incidents in units of ``boundary`` (or in ``units``) in [start, end]: a COUNT over the day aggregates."""
    if units:
        rows = day_rows(engine, "a.code, SUM(d.n)", boundary=boundary, start=start, end=end, categories=categories,
                        group_by="a.code")
        chosen = set(units)
        return int(sum(n or 0 for code, n in rows if code in chosen))
    rows = day_rows(engine, "SUM(d.n)", boundary=boundary, start=start, end=end, categories=categories,
                    group_by="")
    return int(rows[0][0] or 0) if rows else 0


def budget(engine: Engine, what: str, limits, *, boundary: str, start: dt.date, end: dt.date,
           categories=None, method: str = "dbscan", page: bool = False, units=()) -> Budget:
    """The budget of analysis ``what`` ("dbscan", "kde", "hotspots", "complex", "complex-spots",
    "trends", "near-repeat", "sites", "forecast"; the sites count the incidents of ``units`` only) with
    ``limits`` (the app's settings). Raises :class:`TooCostly` over the hard
    cap. A map ``page`` computes within the request only up to PAGE_INLINE_INCIDENTS (it draws and
    runs several analyses, so it is longer than one API answer): more is a background job."""
    if what == "forecast":
        # the forecast grid covers every unit of the version; each method is refitted at each of the
        # backtest's origins, the chosen one once more per origin for the ranges, and once at the start
        area = float(_ward_frame(engine, boundary)["area_km2"].fillna(0).sum())
        cells = int(area * 1e6 / DEFAULT_CELL_M ** 2)
        runs = (len(REGISTRY) + 1) * FORECAST_PERIODS + 1
        b = Budget("forecast", cells * runs, int(limits["FORECAST_INLINE_CELLS"]), int(limits["FORECAST_MAX_CELLS"]),
                   per=runs, unit="cells")
    else:
        n = period_incidents(engine, boundary=boundary, start=start, end=end, categories=categories,
                             units=units if what == "sites" else ())
        if what == "dbscan" and method == "hdbscan":
            b = Budget("HDBSCAN", n, int(limits["HDBSCAN_INLINE_INCIDENTS"]), int(limits["HDBSCAN_MAX_INCIDENTS"]))
        else:
            passes = PASSES[what]
            inline = int(limits["PAGE_INLINE_INCIDENTS" if page else "ANALYSIS_INLINE_INCIDENTS"])
            b = Budget({"dbscan": "DBSCAN", "kde": "KDE"}.get(what, what), n * passes,
                       inline, int(limits["ANALYSIS_MAX_INCIDENTS"]), per=passes)
    if b.mode == "refused":
        raise TooCostly(_refusal(b))
    return b


def _refusal(b: Budget) -> str:
    n, cap = fmt.number(b.amount // b.per), fmt.number(b.maximum // b.per)
    if b.unit == "cells":
        return fmt.gettext("Choose fewer crime categories or a smaller boundary version: the forecast would "
                           "score %(n)s cells, at most %(max)s.", n=n, max=cap)
    return fmt.gettext("Choose a shorter period or fewer crime categories: %(n)s incidents, at most %(max)s "
                       "for %(what)s.", n=n, max=cap, what=b.what)
