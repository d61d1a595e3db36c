"""Batch join of incidents to wards and counts per ward and period, on dask.distributed.

For incident tables larger than one machine's memory (a national register,
tens of millions of rows), the join of :func:`geo.ingest.join.assign_wards` runs
partition by partition on a ``distributed`` cluster:

1. the incidents are read as a dask DataFrame (Parquet folder or glob), with
   the columns ``lon``, ``lat`` (WGS 84), ``local_date`` (a date) and
   ``category``;
2. they are spatially partitioned: each row gets its distance along a Hilbert
   curve over the extent of the wards, and ``set_index`` sorts the rows into
   partitions of about ``partition_rows`` (1,000,000) rows, so that each
   partition covers a compact area and touches a few wards only;
3. each partition is joined to the wards with :func:`geo.ingest.join.assign_wards`,
   restricted to the wards whose bounding box comes near the partition's
   points (same result as the whole layer: candidates keep their order, so
   "first ward wins" and the nearest-ward tie rule are unchanged). The wards
   are sent to each worker once with ``Client.scatter``;
4. counts per ward and period (month start or day), optionally per category,
   are summed in a tree reduction; optionally the joined incidents are written
   as GeoParquet (EPSG:4326) with dask-geopandas.

Memory per worker is bounded by the partition size, not the table size: the
shuffle of step 2 is dask's peer-to-peer shuffle, which spills to disk.

The Hilbert key is computed from the ``lon``/``lat`` columns instead of
dask-geopandas' ``spatial_shuffle(by="hilbert")``: a Hilbert curve too, but no
point geometry is built before the join or sent through the shuffle, no pass
over the data is needed for its extent (the wards give it), and rows without
coordinates are allowed (they are counted outside every ward).

Workers of a cluster given by ``DASK_SCHEDULER`` must be able to import this
package and read the incident files at the same paths.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import shapely

from clustering.projection import metric_crs_for
from geo.errors import InputError
from geo.ingest.demo import CATEGORY_SHARES
from geo.ingest.join import OUTSIDE, assign_wards

if TYPE_CHECKING:
    import dask.dataframe as dd

SCHEDULER_ENV = "DASK_SCHEDULER"
FREQS = ("M", "D")
COLUMNS = ("lon", "lat", "local_date", "category")
PARTITION_ROWS = 1_000_000
HILBERT_LEVEL = 16
#: Shuffle data a local worker holds in memory before sending it on (dask's
#: ``distributed.p2p.comm.buffer``, 1 GiB by default, which lets a worker's memory grow with
#: the rows shuffled up to 1 GiB). Measured on the national layer (bench/scale.py): 2 workers
#: peak at 0.65 GiB each for 2.5M rows and 0.74 GiB for 10M rows.
SHUFFLE_BUFFER = "64MiB"
_M_PER_DEG = 111_320.0
# Extra margin around a partition's points when picking candidate wards: the
# tolerance is measured in the wards' UTM zone, whose scale differs from the degree
# approximation by far less than this factor.
_MARGIN_FACTOR = 2.0


# --- the cluster ----------------------------------------------------------------------------------

@contextlib.contextmanager
def client(scheduler: str | None = None, *, n_workers: int | None = None, memory_limit: str | int = "4GiB"):
    """A ``distributed.Client``, closed (with its cluster, if started here) on exit.

    Parameters
    ----------
    scheduler : str, optional
        Address of a running scheduler (``tcp://host:8786``). Defaults to the
        ``DASK_SCHEDULER`` environment variable, then to dask's own
        ``DASK_SCHEDULER_ADDRESS``; without any, a local cluster of worker
        processes is started.
    n_workers : int, optional
        Workers of the local cluster (default 2, one thread each). Ignored
        when connecting to a running scheduler.
    memory_limit : str or int
        Memory limit per local worker (``"4GiB"``); past 60 % of it a worker
        spills to disk, at 95 % it is restarted. Local workers keep at most
        :data:`SHUFFLE_BUFFER` of shuffle data in memory; give the workers of a
        running cluster the same ``distributed.p2p.comm.buffer`` for the same bound.

    Notes
    -----
    dask reads every ``DASK_*`` variable into its configuration when it is
    imported, so ``DASK_SCHEDULER=tcp://...`` also sets dask's ``scheduler``
    option. Inside this context the client overrides it; outside, a plain
    ``.compute()`` in the same process fails with "Expected one of
    [distributed, ...]". Run dask work inside ``client()``.

    Run the work inside the context (starting a cluster is too slow for a doctest)::

        with client(n_workers=1) as c:
            counts = join_and_aggregate("incidents/", wards)
    """
    import dask
    from distributed import Client, LocalCluster

    address = scheduler or os.environ.get(SCHEDULER_ENV) or dask.config.get("scheduler-address", None)
    if address:
        if "://" not in address:
            raise InputError(f"`scheduler` was {address!r} but is expected to be a scheduler address such as "
                             f"'tcp://127.0.0.1:8786' (argument or {SCHEDULER_ENV}).")
        with Client(address) as c:
            yield c
        return
    if n_workers is not None and n_workers < 1:
        raise InputError(f"`n_workers` was {n_workers} but is expected to be at least 1.")
    # The local scheduler logs the start and end of every shuffle as a warning; they are routine here.
    quiet = logging.getLogger("distributed.shuffle._scheduler_plugin")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        # the nannies hand their configuration to the worker processes they start
        with dask.config.set({"distributed.p2p.comm.buffer": SHUFFLE_BUFFER}), \
                LocalCluster(processes=True, n_workers=n_workers or 2, threads_per_worker=1,
                             memory_limit=memory_limit, dashboard_address=None) as cluster, Client(cluster) as c:
            yield c
    finally:
        quiet.setLevel(level)


_open_client = client  # join_and_aggregate's `client` argument shadows the name


# --- the join -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _WardLayer:
    """What each worker needs: code and geometry in EPSG:4326, and the bounds as an array."""

    frame: gpd.GeoDataFrame
    bounds: np.ndarray


def _check_wards(wards) -> _WardLayer:
    if not isinstance(wards, gpd.GeoDataFrame):
        raise InputError(f"`wards` was a {type(wards).__name__} but is expected to be a GeoDataFrame.")
    if wards.crs is None:
        raise InputError("`wards` has no CRS; call `.set_crs(...)` (EPSG:4326 for the shipped boundaries).")
    if "code" not in wards.columns:
        raise InputError(f"`wards` has no `code` column; its columns are {list(wards.columns)}.")
    if not len(wards):
        raise InputError("`wards` is empty; load a boundary layer with at least one ward.")
    frame = gpd.GeoDataFrame({"code": wards["code"].to_numpy()}, geometry=wards.geometry.to_numpy(),
                             crs=wards.crs)
    if not frame.crs.equals("EPSG:4326"):
        frame = frame.to_crs("EPSG:4326")
    frame["code"] = frame["code"].astype(str)
    return _WardLayer(frame=frame, bounds=shapely.bounds(np.asarray(frame.geometry.values)))


def _margin_deg(tolerance_m: float, lat_max: float) -> tuple[float, float]:
    """Degrees of longitude and latitude that surely cover ``tolerance_m`` metres up to ``|lat_max|``."""
    dlat = _MARGIN_FACTOR * tolerance_m / _M_PER_DEG
    cos = math.cos(math.radians(min(abs(lat_max) + dlat, 89.0)))
    return dlat / cos, dlat


def _assign(lon: np.ndarray, lat: np.ndarray, layer: _WardLayer, tolerance_m: float) -> np.ndarray:
    """Positional ward index (-1 outside) of each point, as ``assign_wards`` on the whole layer."""
    index = np.full(len(lon), OUTSIDE, dtype=np.int64)
    finite = np.isfinite(lon) & np.isfinite(lat)
    if not finite.any():
        return index
    x0, x1 = lon[finite].min(), lon[finite].max()
    y0, y1 = lat[finite].min(), lat[finite].max()
    mx, my = _margin_deg(tolerance_m, max(abs(y0), abs(y1)))
    b = layer.bounds
    near = np.flatnonzero((b[:, 2] >= x0 - mx) & (b[:, 0] <= x1 + mx) & (b[:, 3] >= y0 - my) & (b[:, 1] <= y1 + my))
    if not len(near):
        return index
    # ``near`` is increasing, so the subset keeps the order of the layer and its tie rules.
    local = assign_wards(lon, lat, layer.frame.iloc[near], tolerance_m=tolerance_m,
                         metric_crs=metric_crs_for(layer.frame)).index
    hit = local >= 0
    index[hit] = near[local[hit]]
    return index


def _periods(dates: pd.Series, freq: str) -> np.ndarray:
    """Month start (``M``) or day (``D``) of each date as ``datetime64[s]``; NaT stays NaT."""
    if isinstance(dates.dtype, pd.ArrowDtype) and pa.types.is_date(dates.dtype.pyarrow_dtype):
        # Parquet dates arrive as Arrow date32; pandas converts them through Python objects (1 s per 1M rows).
        days = pa.array(dates).cast(pa.date64()).to_numpy(zero_copy_only=False).astype("datetime64[D]")
    else:
        days = pd.to_datetime(dates).to_numpy().astype("datetime64[D]")
    if freq == "M":
        days = days.astype("datetime64[M]")
    return days.astype("datetime64[s]")


def _join_partition(part: pd.DataFrame, layer: _WardLayer, tolerance_m: float, freq: str,
                    with_code: bool) -> pd.DataFrame:
    lon = part["lon"].to_numpy(dtype=float, na_value=np.nan)
    lat = part["lat"].to_numpy(dtype=float, na_value=np.nan)
    ward = _assign(lon, lat, layer, tolerance_m)
    out = part.assign(ward=ward.astype(np.int32), period=_periods(part["local_date"], freq))
    if "category" in out.columns:
        out["category"] = out["category"].astype("str")
    if with_code:
        codes = layer.frame["code"].to_numpy(dtype=object)
        code = np.full(len(out), None, dtype=object)
        code[ward >= 0] = codes[ward[ward >= 0]]
        out["code"] = pd.array(code, dtype="str")
    return out


# --- the spatial partitioning ---------------------------------------------------------------------

def hilbert_key(lon, lat, bounds, *, level: int = HILBERT_LEVEL) -> np.ndarray:
    """Distance along a Hilbert curve of order ``level`` over ``bounds`` (minx, miny, maxx, maxy).

    The kind of curve dask-geopandas' ``spatial_shuffle(by="hilbert")`` sorts
    by, computed from coordinate arrays: ``bounds`` is cut into 2**level
    cells a side, and cells next on the curve share an edge. Points outside
    ``bounds`` are clamped to its edge and points without coordinates get 0.

    Examples
    --------
    >>> hilbert_key([0.1, 0.9, 0.9, 0.1], [0.1, 0.1, 0.9, 0.9], (0, 0, 1, 1), level=1).tolist()
    [0, 3, 2, 1]
    """
    if not 1 <= level <= 31:
        raise InputError(f"`level` was {level} but is expected to be in 1..31.")
    n = 1 << level
    x0, y0, x1, y1 = (float(v) for v in bounds)

    def cell(v, lo, hi):
        f = (np.asarray(v, dtype=float) - lo) / ((hi - lo) or 1.0)
        f = np.nan_to_num(np.clip(f, 0.0, 1.0), nan=0.0)
        return np.minimum((f * n).astype(np.uint32), np.uint32(n - 1))

    # The classic xy-to-distance walk from the top bit down, with the rotations done by xor masks.
    x, y = cell(lon, x0, x1), cell(lat, y0, y1)
    d = np.zeros(len(x), dtype=np.uint64)
    full, one = np.uint32(n - 1), np.uint32(1)
    for shift in range(level - 1, -1, -1):
        rx = (x >> np.uint32(shift)) & one
        ry = (y >> np.uint32(shift)) & one
        d += np.uint64(1 << (2 * shift)) * ((np.uint32(3) * rx) ^ ry)
        lower = ry ^ one  # the lower half: reflect when on the right, then transpose
        flip = (rx & lower) * full
        x ^= flip
        y ^= flip
        swap = (x ^ y) * lower
        x ^= swap
        y ^= swap
    return d


def _hilbert_partition(part: pd.DataFrame, bounds, level: int) -> pd.Series:
    key = hilbert_key(part["lon"].to_numpy(dtype=float, na_value=np.nan),
                      part["lat"].to_numpy(dtype=float, na_value=np.nan), bounds, level=level)
    return pd.Series(key, index=part.index, name="hilbert")


_SKETCH_SIZE = 512


def _key_sketch(key: pd.Series) -> pd.DataFrame:
    """Evenly spaced order statistics of a partition's keys, each weighted by the rows it stands for."""
    if not len(key):
        return pd.DataFrame({"key": np.empty(0, np.uint64), "weight": np.empty(0)})
    k = np.sort(key.to_numpy())
    pick = np.unique(np.linspace(0, len(k) - 1, min(_SKETCH_SIZE, len(k))).round().astype(np.int64))
    return pd.DataFrame({"key": k[pick], "weight": np.full(len(pick), len(k) / len(pick))})


def _divisions(sketch: pd.DataFrame, nparts: int) -> list[int]:
    """``nparts`` + 1 increasing key boundaries with about the same number of rows between them."""
    sketch = sketch.sort_values("key", kind="stable")
    keys = sketch["key"].to_numpy()
    if not len(keys):
        return [0, 0]
    cum = np.cumsum(sketch["weight"].to_numpy())
    cuts = keys[np.searchsorted(cum, cum[-1] * np.arange(1, nparts) / nparts).clip(0, len(keys) - 1)]
    return [int(v) for v in np.unique(np.r_[keys[0], cuts, keys[-1]])] if keys[0] < keys[-1] \
        else [int(keys[0]), int(keys[-1])]


# --- reading --------------------------------------------------------------------------------------

def _read(incidents, columns):
    import dask.dataframe as dd

    if isinstance(incidents, (str, Path)):
        path = str(incidents)
        if not any(c in path for c in "*?[") and not Path(path).exists():
            raise InputError(f"`incidents` was {path!r}, which does not exist; give a folder of Parquet files "
                             "or a glob such as 'incidents/*.parquet'.")
        frame = dd.read_parquet(path, columns=columns)
    elif isinstance(incidents, dd.DataFrame):
        frame = incidents
    else:
        raise InputError(f"`incidents` was a {type(incidents).__name__} but is expected to be a folder or glob of "
                         "Parquet files, or a dask DataFrame.")
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise InputError(f"`incidents` lacks the column(s) {missing}; expected {list(COLUMNS)}, "
                         f"found {list(frame.columns)}.")
    return frame if columns is None else frame[list(columns)]


# --- the public entry point -----------------------------------------------------------------------

def join_and_aggregate(incidents: str | Path | dd.DataFrame, wards: gpd.GeoDataFrame, *, freq: str = "M", tolerance_m: float = 50.0,
                       out: str | Path | None = None, by_category: bool = False,
                       partition_rows: int = PARTITION_ROWS, spatial_partition: bool = True,
                       client=None) -> pd.DataFrame:
    """Join incidents to ``wards`` on a dask cluster and count them per ward and period.

    Parameters
    ----------
    incidents : str, Path or dask DataFrame
        A folder of Parquet files, a glob (``"incidents/*.parquet"``) or a
        dask DataFrame with ``lon``, ``lat`` (WGS 84), ``local_date`` (date)
        and ``category``. Other columns are carried into ``out``.
    wards : GeoDataFrame
        Ward polygons with a CRS and a ``code`` column. Their order sets the
        rule for points on shared borders, as in :func:`geo.ingest.join.assign_wards`
        (sort by code for "lowest code wins").
    freq : {"M", "D"}
        Count per calendar month (period = first day of the month) or per day.
    tolerance_m : float
        Points in no ward but within this many metres of one go to the nearest.
    out : str or Path, optional
        Folder to write the joined incidents to, as GeoParquet (EPSG:4326,
        point geometry, the input columns plus ``ward``, ``code``, ``period``).
    by_category : bool
        Count per ward, period and category.
    partition_rows : int
        Rows per spatial partition; the memory of a worker grows with it.
    spatial_partition : bool
        Sort the rows by Hilbert distance into compact partitions before the
        join (default). Without it the input is only cut into partitions of
        ``partition_rows`` rows in the order it comes: no shuffle, but each
        partition meets more wards.
    client : distributed.Client, optional
        Defaults to the current client, else a local cluster is started for
        the call (see :func:`client`).

    Returns
    -------
    pandas.DataFrame
        ``code``, ``period`` (``datetime64[s]``), ``category`` if
        ``by_category``, and ``count``, sorted by code and period. Incidents
        outside every ward (or without coordinates) are counted in rows whose
        ``code`` is missing, listed last, so the counts add up to the number of
        incidents.

    Called inside :func:`client` (a cluster takes too long to start for a doctest)::

        with client() as c:
            counts = join_and_aggregate("incidents/", wards, freq="M", out="joined/")
    """
    if freq not in FREQS:
        raise InputError(f"`freq` was {freq!r} but is expected to be in {FREQS}.")
    if not tolerance_m >= 0:
        raise InputError(f"`tolerance_m` was {tolerance_m} but is expected to be a number of metres >= 0.")
    if partition_rows < 1:
        raise InputError(f"`partition_rows` was {partition_rows} but is expected to be at least 1.")
    layer = _check_wards(wards)
    with contextlib.ExitStack() as stack:
        if client is None:
            client = _current_client() or stack.enter_context(_open_client())
        stack.enter_context(client.as_current())
        return _run(client, incidents, layer, freq=freq, tolerance_m=float(tolerance_m), out=out,
                    by_category=by_category, partition_rows=int(partition_rows),
                    spatial_partition=spatial_partition)


def _current_client():
    from distributed import default_client

    try:
        return default_client()
    except ValueError:
        return None


def _run(client, incidents, layer: _WardLayer, *, freq, tolerance_m, out, by_category, partition_rows,
         spatial_partition) -> pd.DataFrame:
    import dask

    frame = _read(incidents, None if out is not None else list(COLUMNS))
    if out is None and not by_category:
        frame = frame[["lon", "lat", "local_date"]]
    # From the Parquet footers when the input is a Parquet dataset.
    nparts = max(1, math.ceil(len(frame) / partition_rows))
    if not spatial_partition:
        # dask fuses the files of a column projection into fewer, larger partitions: split them again.
        frame = frame.repartition(npartitions=max(nparts, frame.npartitions))
    else:
        mx, my = _margin_deg(tolerance_m, float(np.abs(layer.bounds[:, [1, 3]]).max()))
        x0, y0 = layer.bounds[:, 0].min() - mx, layer.bounds[:, 1].min() - my
        x1, y1 = layer.bounds[:, 2].max() + mx, layer.bounds[:, 3].max() + my
        key = frame.map_partitions(_hilbert_partition, (x0, y0, x1, y1), HILBERT_LEVEL,
                                   meta=pd.Series(dtype=np.uint64, name="hilbert"))
        # One pass for the division points; set_index would read the data and compute the keys several times.
        sketch = key.map_partitions(_key_sketch, meta=pd.DataFrame({"key": np.uint64(0), "weight": 0.0}, index=[0]))
        divisions = _divisions(sketch.compute(), nparts)
        frame = frame.assign(hilbert=key).set_index("hilbert", divisions=divisions)
        frame = frame.reset_index(drop=True)

    remote = client.scatter(layer, broadcast=True, hash=False)
    meta = _join_partition(frame._meta, layer, tolerance_m, freq, out is not None)
    joined = frame.map_partitions(_join_partition, remote, tolerance_m, freq, out is not None, meta=meta)
    keys = ["ward", "period"] + (["category"] if by_category else [])
    counts = joined[keys].groupby(keys, dropna=False).size(split_every=8)
    tasks = [counts]
    if out is not None:
        import dask_geopandas

        geo = dask_geopandas.from_dask_dataframe(
            joined, geometry=dask_geopandas.points_from_xy(joined, "lon", "lat", crs="EPSG:4326"))
        tasks.append(geo.to_parquet(str(out), compute=False, write_index=False))
    counts, *_ = dask.compute(*tasks)
    return _finish(counts, layer, keys)


def _finish(counts: pd.Series, layer: _WardLayer, keys: list[str]) -> pd.DataFrame:
    res = counts.rename("count").reset_index()
    res = res[res["count"] > 0]
    codes = layer.frame["code"].to_numpy(dtype=object)
    ward = res["ward"].to_numpy()
    code = np.full(len(res), None, dtype=object)
    code[ward >= 0] = codes[ward[ward >= 0]]
    res.insert(0, "code", pd.array(code, dtype="str"))
    res["count"] = res["count"].astype(np.int64)
    res["period"] = res["period"].astype("datetime64[s]")
    res = res.drop(columns="ward").sort_values(["code"] + keys[1:], na_position="last", kind="stable")
    return res.reset_index(drop=True)


def aggregate_in_memory(frame: pd.DataFrame, wards: gpd.GeoDataFrame, *, freq: str = "M",
                        tolerance_m: float = 50.0, by_category: bool = False) -> pd.DataFrame:
    """The same counts as :func:`join_and_aggregate` for a pandas frame that fits in memory.

    One :func:`geo.ingest.join.assign_wards` call over all points and a pandas
    ``groupby``; the reference for the batch path and the faster choice while
    the table fits in memory.
    """
    if freq not in FREQS:
        raise InputError(f"`freq` was {freq!r} but is expected to be in {FREQS}.")
    layer = _check_wards(wards)
    lon = frame["lon"].to_numpy(dtype=float, na_value=np.nan)
    lat = frame["lat"].to_numpy(dtype=float, na_value=np.nan)
    keyed = pd.DataFrame({"ward": assign_wards(lon, lat, layer.frame, tolerance_m=tolerance_m).index,
                          "period": _periods(frame["local_date"], freq)})
    keys = ["ward", "period"]
    if by_category:
        keyed["category"] = frame["category"].astype("str").to_numpy()
        keys.append("category")
    return _finish(keyed.groupby(keys, dropna=False).size(), layer, keys)


# --- synthetic data -------------------------------------------------------------------------------

SYNTHETIC_START, SYNTHETIC_END = dt.date(2023, 1, 1), dt.date(2025, 12, 31)
# Shares of the synthetic points: uniform inside a ward, around a cluster centre, loose near a ward.
_UNIFORM, _CLUSTERED = 0.70, 0.25
_CENTRES_PER_WARD = 2
_CLUSTER_SIGMA_M = 300.0
_LOOSE_MARGIN_M = 1_000.0


def write_synthetic(folder: str | Path, n: int, *, wards: gpd.GeoDataFrame, seed: int,
                    rows_per_file: int = 1_000_000, weights=None) -> list[Path]:
    """Write ``n`` SYNTHETIC incidents over ``wards`` as Parquet files, one chunk at a time.

    Columns: ``id`` (0..n-1), ``lon``, ``lat`` (WGS 84, 6 decimals),
    ``local_date`` (date, 2023-01-01..2025-12-31, more at weekends),
    ``category`` (codes of :data:`geo.ingest.demo.CATEGORY_SHARES` in those shares).
    Each point belongs to a ward drawn with ``weights`` (relative, one per ward,
    e.g. a population; by default sqrt(area), so that small urban wards are
    denser; wards without area get none): 70 % are uniform inside the ward,
    25 % fall in Gaussian clusters (sigma 300 m) around two fixed centres in it,
    and 5 % are uniform in its bounding box grown by 1 km, so that some lie
    outside every ward or within the join tolerance of one. Memory is bounded
    by ``rows_per_file``; the files are the same for the same ``seed``,
    ``rows_per_file`` and ``weights``.

    Returns
    -------
    list of Path
        The files written, ``part-00000.parquet`` and so on.
    """
    import pyarrow.parquet as pq


    if n < 0:
        raise InputError(f"`n` was {n} but is expected to be >= 0.")
    if rows_per_file < 1:
        raise InputError(f"`rows_per_file` was {rows_per_file} but is expected to be at least 1.")
    folder = Path(folder)
    if folder.exists() and any(folder.glob("*.parquet")):
        raise InputError(f"`folder` {str(folder)!r} already holds Parquet files; empty it or choose another.")
    folder.mkdir(parents=True, exist_ok=True)
    layer = _check_wards(wards)
    geoms = np.asarray(layer.frame.geometry.values)
    for g in geoms:
        shapely.prepare(g)
    bounds = layer.bounds
    coslat = np.cos(np.radians((bounds[:, 1] + bounds[:, 3]) / 2))
    area = np.where(shapely.is_empty(geoms), 0.0, np.nan_to_num(shapely.area(geoms)))
    usable = np.flatnonzero(area > 0)
    if not len(usable):
        raise InputError("`wards` has no polygon with an area; check the boundary layer.")
    if weights is None:
        weight = np.sqrt(area * coslat)
    else:
        weight = np.asarray(weights, dtype=float)
        if weight.shape != (len(geoms),) or not np.isfinite(weight).all() or (weight < 0).any():
            raise InputError(f"`weights` must hold one number >= 0 per ward ({len(geoms)}).")
    weight = np.where(area > 0, weight, 0.0)
    if not weight.sum() > 0:
        raise InputError("`weights` is 0 for every ward with an area; give some ward a weight.")
    weight /= weight.sum()
    # share of each bounding box inside its ward: the rejection sampling draws that many more
    box = (bounds[:, 2] - bounds[:, 0]) * (bounds[:, 3] - bounds[:, 1])
    inside = np.divide(area, box, out=np.ones_like(area), where=box > 0)

    seq = np.random.SeedSequence(seed)
    base, *chunks = seq.spawn(1 + max(1, math.ceil(n / rows_per_file)))
    rng0 = np.random.default_rng(base)
    centre_ward = np.repeat(usable, _CENTRES_PER_WARD)
    cx, cy = _uniform_in(rng0, geoms, bounds, inside, centre_ward)
    centre_p = weight[centre_ward] / weight[centre_ward].sum()

    days = np.arange(np.datetime64(SYNTHETIC_START), np.datetime64(SYNTHETIC_END) + 1)
    day_w = np.where(pd.DatetimeIndex(days).day_of_week >= 5, 1.3, 1.0)
    day_w /= day_w.sum()
    cats = np.array(list(CATEGORY_SHARES), dtype=object)
    cat_p = np.array(list(CATEGORY_SHARES.values()))
    cat_p /= cat_p.sum()

    paths = []
    for i, start in enumerate(range(0, n, rows_per_file)):
        m = min(rows_per_file, n - start)
        rng = np.random.default_rng(chunks[i])
        k_uni, k_clu = rng.multinomial(m, [_UNIFORM, _CLUSTERED, 1 - _UNIFORM - _CLUSTERED])[:2]
        ux, uy = _uniform_in(rng, geoms, bounds, inside, rng.choice(len(geoms), size=k_uni, p=weight))
        c = rng.choice(len(cx), size=k_clu, p=centre_p)
        dy = rng.normal(0.0, _CLUSTER_SIGMA_M, k_clu) / _M_PER_DEG
        dx = rng.normal(0.0, _CLUSTER_SIGMA_M, k_clu) / (_M_PER_DEG * np.cos(np.radians(cy[c])))
        w = rng.choice(len(geoms), size=m - k_uni - k_clu, p=weight)
        grow_y = _LOOSE_MARGIN_M / _M_PER_DEG
        grow_x = grow_y / coslat[w]
        lx = rng.uniform(bounds[w, 0] - grow_x, bounds[w, 2] + grow_x)
        ly = rng.uniform(bounds[w, 1] - grow_y, bounds[w, 3] + grow_y)
        lon = np.round(np.concatenate([ux, cx[c] + dx, lx]), 6)
        lat = np.round(np.concatenate([uy, cy[c] + dy, ly]), 6)
        order = rng.permutation(m)
        table = pa.table({
            "id": pa.array(np.arange(start, start + m, dtype=np.int64)),
            "lon": pa.array(lon[order]),
            "lat": pa.array(lat[order]),
            "local_date": pa.array(rng.choice(days, size=m, p=day_w), type=pa.date32()),
            "category": pa.DictionaryArray.from_arrays(pa.array(rng.choice(len(cats), size=m, p=cat_p),
                                                                type=pa.int8()), pa.array(cats, type=pa.string())),
        })
        path = folder / f"part-{i:05d}.parquet"
        pq.write_table(table, path, row_group_size=min(m, 256_000) or None)
        paths.append(path)
    return paths


def _uniform_in(rng, geoms, bounds, inside, which: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One point uniform inside ``geoms[w]`` for each ``w`` in ``which`` (rejection in the bounding box).

    ``inside`` is the share of each bounding box inside its ward (an island commune's box is
    mostly sea): each round draws enough points for the ones still needed."""
    x = np.empty(len(which))
    y = np.empty(len(which))
    order = np.argsort(which, kind="stable")
    wards, starts = np.unique(which[order], return_index=True)
    for w, s, e in zip(wards, starts, np.r_[starts[1:], len(which)]):
        need, gx, gy = e - s, [], []
        minx, miny, maxx, maxy = bounds[w]
        while need > 0:
            k = int(need * 1.2 / max(inside[w], 1e-3)) + 16
            px, py = rng.uniform(minx, maxx, k), rng.uniform(miny, maxy, k)
            ok = shapely.contains_xy(geoms[w], px, py)
            gx.append(px[ok][:need])
            gy.append(py[ok][:need])
            need -= len(gx[-1])
        x[order[s:e]] = np.concatenate(gx)
        y[order[s:e]] = np.concatenate(gy)
    return x, y
