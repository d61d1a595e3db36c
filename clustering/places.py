"""Repeat places: the same address, or incidents at one spot, hit again and again.

Two kinds of place ("điểm, tụ điểm phức tạp" of the committees' plans):

* ``address``: incidents of one unit whose addresses are the same once normalised (the caller
  gives the normalised ``key``, e.g. :func:`geo.names.address_key`); the place shows the most
  common original spelling.
* ``group``: incidents within ``radius_m`` metres of one incident (the group's centre), in the
  metric CRS of :func:`clustering.projection.metric_crs_for`. A group whose incidents all share one
  address is that address's place and is not listed twice.

Why the groups are not DBSCAN
-----------------------------
DBSCAN with eps 50 m and min_samples 2 (the connected components of the 50 m radius graph)
chains: in a dense city every incident has a neighbour within 50 m, and on the demo data of
2025 (19,375 incidents) its largest "place" held 1,067 incidents over 1.6 × 1.3 km. A repeat
place has to be small, so a group here is a disc: the incident with the most incidents within
``radius_m`` takes them (those not yet in a group), then the next densest, and so on (a greedy
disc cover over a ``scipy.spatial.cKDTree``; no library offers it). Every member lies within
``radius_m`` of its centre, so a group is at most 2 × ``radius_m`` across. scikit-learn's
MeanShift with a flat kernel gives similar discs but took 5.6 s on the same data; this takes
well under a second.
"""
from __future__ import annotations

import datetime as dt

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from .dbscan import _dominant
from .errors import InputError
from .projection import metric_points

__all__ = ["repeat_places", "PLACE_COLUMNS"]

PLACE_COLUMNS = ["place_id", "kind", "key", "address", "code", "count", "count_recent", "first_date",
                 "last_date", "categories", "lon", "lat", "radius_m"]
REQUIRED = ("lon", "lat", "local_date", "category", "address", "key", "code")


def repeat_places(incidents: pd.DataFrame, *, end: dt.date, radius_m: float = 50.0, min_count: int = 3,
                  recent_days: int = 90) -> pd.DataFrame:
    """The places with at least ``min_count`` incidents, most incidents first.

    ``incidents`` has one row per incident with ``lon``, ``lat`` (WGS 84, may be missing),
    ``local_date``, ``category``, ``address`` (as written), ``key`` (the normalised address,
    "" or missing when there is none) and ``code`` (the unit it lies in, may be missing).

    Per place (:data:`PLACE_COLUMNS`): ``kind`` ("address" or "group"), ``key`` (the place's
    identifier within one data set: "a:<unit code>:<address key>", or "g:<n>"), ``address`` (the most common spelling; of a group, its most common
    address), ``code`` (the unit most of its incidents lie in), ``count``, ``count_recent``
    (incidents in the ``recent_days`` days up to ``end``), ``first_date``/``last_date`` (ISO),
    ``categories`` (the three largest, "code:n, code:n"), ``lon``/``lat`` (the centroid of its
    incidents) and ``radius_m`` (the farthest incident from the centroid, metres). Ranked by
    count, then recent count, then latest date; ``place_id`` is the rank.

    >>> frame = pd.DataFrame({"lon": [106.7] * 3, "lat": [10.77] * 3, "category": ["a", "a", "b"],
    ...     "local_date": ["2025-01-02", "2025-06-01", "2025-12-30"], "address": ["12 Lê Lợi"] * 3,
    ...     "key": ["12 le loi"] * 3, "code": ["1"] * 3})
    >>> repeat_places(frame, end=dt.date(2025, 12, 31))[["kind", "count", "count_recent", "categories"]]
          kind  count  count_recent categories
    0  address      3             1   a:2, b:1
    """
    missing = [c for c in REQUIRED if c not in incidents.columns]
    if missing:
        raise InputError(f"`incidents` lacks the columns {missing}; give one row per incident with {list(REQUIRED)}.")
    if not (isinstance(min_count, (int, np.integer)) and min_count >= 2):
        raise InputError("`%(name)s` was %(value)s but must be a whole number >= 2.", name="min_count",
                         value=repr(min_count))
    if not (np.isfinite(radius_m) and radius_m > 0):
        raise InputError("`%(name)s` was %(value)s but must be a number > 0.", name="radius_m", value=repr(radius_m))
    inc = incidents.reset_index(drop=True).copy()
    inc["local_date"] = pd.to_datetime(inc["local_date"])
    inc["key"] = inc["key"].fillna("").astype(str)
    located = inc["lon"].notna() & inc["lat"].notna()
    xy = np.full((len(inc), 2), np.nan)
    if located.any():
        pts = gpd.GeoDataFrame(inc[located], geometry=gpd.points_from_xy(inc.loc[located, "lon"],
                                                                         inc.loc[located, "lat"]), crs="EPSG:4326")
        xy[located.to_numpy()] = metric_points(pts)[0]

    place = np.full(len(inc), -1)   # address places: 0..n_addr-1, then the groups
    keyed = inc["key"] != ""
    # the same address in two units is two places ("12 Lê Lợi" of two wards)
    pair = "a:" + inc["code"].fillna("").astype(str) + ":" + inc["key"]
    codes, uniques = pd.factorize(pair[keyed])
    sizes = np.bincount(codes, minlength=len(uniques))
    addr = np.where(sizes[codes] >= min_count, codes, -1)
    place[keyed.to_numpy()] = addr
    kept = np.unique(addr[addr >= 0])
    renumber = np.full(len(uniques), -1)
    renumber[kept] = np.arange(len(kept))
    place[place >= 0] = renumber[place[place >= 0]]
    keys = [uniques[k] for k in kept]
    kinds = ["address"] * len(kept)

    rows, owners = [np.flatnonzero(place >= 0)], [place[place >= 0]]
    groups = _groups(xy, radius_m, min_count)
    in_group = np.flatnonzero(groups >= 0)
    known, pairs, has_key = set(keys), pair.to_numpy(dtype=object), keyed.to_numpy()
    order = in_group[np.argsort(groups[in_group], kind="stable")]
    for members in np.split(order, np.flatnonzero(np.diff(groups[order])) + 1) if len(order) else []:
        g = groups[members[0]]
        mine = pairs[members]
        if has_key[members].all() and len(set(mine)) == 1 and mine[0] in known:
            continue  # one address: already its place
        kinds.append("group")
        keys.append(f"g:{g + 1}")
        rows.append(members)  # an incident can be in an address place and in a group
        owners.append(np.full(len(members), len(kinds) - 1))
    if not kinds:
        return pd.DataFrame(columns=PLACE_COLUMNS)
    rows = np.concatenate(rows)
    return _describe(inc.iloc[rows], xy[rows], np.concatenate(owners), kinds, keys, end, recent_days)


def _groups(xy: np.ndarray, radius_m: float, min_count: int) -> np.ndarray:
    """Group of each row (-1: none): greedy discs of ``radius_m`` around the densest incidents."""
    out = np.full(len(xy), -1)
    ok = np.isfinite(xy).all(axis=1)
    if ok.sum() < min_count:
        return out
    uniq, inverse, weight = np.unique(xy[ok], axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.ravel()
    tree = cKDTree(uniq)
    near = tree.query_ball_point(uniq, r=radius_m)
    density = np.array([weight[n].sum() for n in near])
    order = np.lexsort((np.arange(len(uniq)), -density))   # densest first, ties by position
    group = np.full(len(uniq), -1)
    n = 0
    for i in order:
        if group[i] >= 0 or density[i] < min_count:
            continue
        members = [j for j in near[i] if group[j] < 0]
        if weight[members].sum() < min_count:
            continue
        group[members] = n
        n += 1
    out[np.flatnonzero(ok)] = group[inverse]
    return out


def _modes(place: np.ndarray, values) -> pd.Series:
    """The most common non-empty value of each place (ties: the first in sort order)."""
    frame = pd.DataFrame({"place": place, "v": pd.Series(values).astype(object).to_numpy()})
    frame = frame[frame["v"].notna()]
    frame["v"] = frame["v"].astype(str)
    frame = frame[frame["v"].str.strip() != ""]
    n = frame.groupby(["place", "v"], as_index=False).size()
    n = n.sort_values(["place", "size", "v"], ascending=[True, False, True], kind="stable")
    return n.drop_duplicates("place").set_index("place")["v"]


def _describe(inc, xy, place, kinds, keys, end, recent_days) -> pd.DataFrame:
    rows = inc.assign(place=place, x=xy[:, 0], y=xy[:, 1])
    recent_from = pd.Timestamp(end) - pd.Timedelta(days=recent_days - 1)
    rows["recent"] = (rows["local_date"] >= recent_from) & (rows["local_date"] <= pd.Timestamp(end))
    by = rows.groupby("place")
    table = pd.DataFrame({
        "kind": [kinds[i] for i in by.size().index], "key": [keys[i] for i in by.size().index],
        "count": by.size().to_numpy(), "count_recent": by["recent"].sum().astype(int).to_numpy(),
        "first_date": by["local_date"].min().dt.date.map(dt.date.isoformat).to_numpy(),
        "last_date": by["local_date"].max().dt.date.map(dt.date.isoformat).to_numpy(),
        "lon": by["lon"].mean().to_numpy(), "lat": by["lat"].mean().to_numpy(),
    }, index=by.size().index)
    for column in ("address", "code"):
        table[column] = _modes(rows["place"].to_numpy(), rows[column]).reindex(table.index).fillna("")
    cx, cy = by["x"].transform("mean"), by["y"].transform("mean")
    table["radius_m"] = np.hypot(rows["x"] - cx, rows["y"] - cy).groupby(rows["place"]).max().round(1)
    table["categories"] = _dominant(rows["place"].to_numpy(), rows["category"].to_numpy(),
                                    np.ones(len(rows))).reindex(table.index).fillna("")
    table = table.sort_values(["count", "count_recent", "last_date", "kind", "key"],
                              ascending=[False, False, False, True, True], kind="stable").reset_index(drop=True)
    table["place_id"] = np.arange(1, len(table) + 1)
    table["code"] = table["code"].replace("", None)
    return table[PLACE_COLUMNS]
