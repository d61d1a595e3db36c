"""Batch join on dask.distributed: same counts as the in-memory join, outside points, scheduler, GeoParquet."""
from __future__ import annotations

import os
import subprocess
import sys

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from geo.errors import InputError
from geo.ingest.join import assign_wards
from tests.conftest import ROOT, SHARED_BOUNDARIES

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")
pytest.importorskip("dask_geopandas")
pytest.importorskip("pyarrow")

from geo.ingest import batch

pytestmark = pytest.mark.slow

N = 200_000
ROWS_PER_FILE = 50_000
PARTITION_ROWS = 40_000


@pytest.fixture(scope="module")
def wards():
    frames = [gpd.read_file(SHARED_BOUNDARIES / f"{name}.geojson")[["code", "name", "geometry"]]
              for name in ("hcmc_wards_2025", "hanoi_wards_2025")]
    return gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=frames[0].crs) \
        .sort_values("code").reset_index(drop=True)


@pytest.fixture(scope="module")
def incidents(tmp_path_factory, wards):
    folder = tmp_path_factory.mktemp("incidents")
    batch.write_synthetic(folder, N, wards=wards, seed=138, rows_per_file=ROWS_PER_FILE)
    return folder


@pytest.fixture(scope="module")
def frame(incidents):
    return pd.read_parquet(incidents)


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, memory_limit="2GiB",
                                  dashboard_address=None) as c:
        yield c


@pytest.fixture
def scheduler_env(cluster, monkeypatch):
    monkeypatch.setenv(batch.SCHEDULER_ENV, cluster.scheduler_address)
    return cluster.scheduler_address


def reference(frame, wards, *, freq="M", by_category=False):
    """The in-memory path: one assign_wards over all points, then a pandas groupby."""
    index = assign_wards(frame["lon"].to_numpy(), frame["lat"].to_numpy(), wards, tolerance_m=50).index
    code = pd.Series(wards["code"].to_numpy()[np.maximum(index, 0)], dtype="str").where(index >= 0)
    day = pd.to_datetime(frame["local_date"]).reset_index(drop=True)
    period = day.dt.to_period("M").dt.start_time if freq == "M" else day
    keyed = pd.DataFrame({"code": code, "period": period.astype("datetime64[s]")})
    if by_category:
        keyed["category"] = frame["category"].astype("str").to_numpy()
    keys = list(keyed.columns)
    out = keyed.groupby(keys, dropna=False).size().rename("count").reset_index()
    return out.sort_values(keys, na_position="last").reset_index(drop=True)


def test_client_connects_to_DASK_SCHEDULER(cluster, scheduler_env):
    with batch.client() as c:
        assert c.scheduler.address == cluster.scheduler_address
        assert set(c.scheduler_info()["workers"]) == {w.worker_address for w in cluster.workers.values()}
    # The argument wins over the environment, and the cluster outlives the client.
    with batch.client(cluster.scheduler_address) as c:
        assert len(c.scheduler_info()["workers"]) == 2


def test_monthly_counts_equal_in_memory_path(scheduler_env, incidents, frame, wards):
    expected = reference(frame, wards)
    with batch.client() as c, distributed.get_task_stream(client=c) as ts:
        got = batch.join_and_aggregate(incidents, wards, freq="M", partition_rows=PARTITION_ROWS)
    pd.testing.assert_frame_equal(got, expected)
    assert got["count"].sum() == N
    assert got["period"].min() == pd.Timestamp("2023-01-01") and got["period"].max() == pd.Timestamp("2025-12-01")
    assert got["code"].nunique() == len(wards)
    # Partitions of ~PARTITION_ROWS rows, joined on both workers.
    joins = [t for t in ts.data if "_join_partition" in str(t["key"])]
    assert len(joins) == pytest.approx(N / PARTITION_ROWS, abs=1)
    assert len({t["worker"] for t in joins}) == 2


def test_national_communes_counts_equal_in_memory_path(scheduler_env, tmp_path):
    # the 3,321 communes of the 34 provinces: detailed polygons, islands, one UTM zone for all
    import pyogrio

    path = SHARED_BOUNDARIES / "vietnam_communes_2025.geojson"
    if not path.exists():
        pytest.skip(f"{path} not available; set BOUNDARY_SOURCE_DIR")
    communes = pyogrio.read_dataframe(path, columns=["code"], use_arrow=True).sort_values("code", ignore_index=True)
    assert len(communes) == 3321
    batch.write_synthetic(tmp_path / "vn", 60_000, wards=communes, seed=5, rows_per_file=20_000)
    frame = pd.read_parquet(tmp_path / "vn")
    expected = reference(frame, communes)
    got = batch.join_and_aggregate(tmp_path / "vn", communes, partition_rows=15_000)
    pd.testing.assert_frame_equal(got, expected)
    assert got["count"].sum() == len(frame)
    assert got["code"].nunique() > 2_000


@pytest.mark.filterwarnings("ignore:Sending large graph")
def test_outside_points_are_counted_as_outside(scheduler_env, frame, wards):
    far = pd.DataFrame({"id": [-1, -2, -3, -4], "lon": [0.0, np.nan, 106.70, 120.0],
                        "lat": [0.0, 10.77, np.nan, 15.0], "local_date": frame["local_date"].iloc[:4].to_numpy(),
                        "category": frame["category"].iloc[:4].to_numpy()})
    mixed = pd.concat([frame, far], ignore_index=True)
    expected = reference(mixed, wards)
    got = batch.join_and_aggregate(dd.from_pandas(mixed, npartitions=3), wards, partition_rows=PARTITION_ROWS)
    pd.testing.assert_frame_equal(got, expected)
    outside = got[got["code"].isna()]
    index = assign_wards(mixed["lon"].to_numpy(), mixed["lat"].to_numpy(), wards).index
    assert outside["count"].sum() == (index == -1).sum() > len(far)
    assert got["count"].sum() == len(mixed)
    assert got.tail(len(outside))["code"].isna().all()


def test_daily_counts_per_category_without_spatial_partition(scheduler_env, incidents, frame, wards):
    expected = reference(frame, wards, freq="D", by_category=True)
    got = batch.join_and_aggregate(str(incidents / "*.parquet"), wards, freq="D", by_category=True,
                                   spatial_partition=False, partition_rows=PARTITION_ROWS)
    pd.testing.assert_frame_equal(got, expected)
    pd.testing.assert_frame_equal(batch.aggregate_in_memory(frame, wards, freq="D", by_category=True), expected)


def test_geoparquet_output(scheduler_env, incidents, frame, wards, tmp_path):
    out = tmp_path / "joined"
    counts = batch.join_and_aggregate(incidents, wards, out=out, partition_rows=PARTITION_ROWS)
    joined = gpd.read_parquet(out).sort_values("id").reset_index(drop=True)
    assert joined.crs.to_epsg() == 4326
    assert len(joined) == N
    assert joined.geometry.geom_type.eq("Point").all()
    np.testing.assert_array_equal(joined.geometry.x, frame["lon"])
    np.testing.assert_array_equal(joined.geometry.y, frame["lat"])
    index = assign_wards(frame["lon"].to_numpy(), frame["lat"].to_numpy(), wards).index
    expected_code = pd.Series(wards["code"].to_numpy()[np.maximum(index, 0)], dtype="str").where(index >= 0)
    pd.testing.assert_series_equal(joined["code"], expected_code, check_names=False)
    assert (joined["category"].astype(str) == frame["category"].astype(str)).all()
    pd.testing.assert_frame_equal(counts, reference(frame, wards))


@pytest.mark.filterwarnings("ignore:Port 8787 is already in use")
def test_local_cluster_without_DASK_SCHEDULER(monkeypatch):
    monkeypatch.delenv(batch.SCHEDULER_ENV, raising=False)
    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS", raising=False)
    with batch.client(n_workers=1, memory_limit="1GiB") as c:
        assert isinstance(c.cluster, distributed.LocalCluster)
        assert list(c.nthreads().values()) == [1]
        # the worker processes hold a bounded shuffle buffer, whatever the rows
        import dask

        buffers = c.run(lambda: dask.config.get("distributed.p2p.comm.buffer"))
        assert list(buffers.values()) == [batch.SHUFFLE_BUFFER]


def test_DASK_SCHEDULER_set_before_dask_is_imported(cluster, incidents, wards, tmp_path):
    # dask also reads DASK_SCHEDULER into its `scheduler` option at import; the client must still work.
    wards_file = tmp_path / "wards.parquet"
    wards.to_parquet(wards_file)
    code = "\n".join([
        "import geopandas as gpd",
        "from geo.ingest import batch",
        f"w = gpd.read_parquet({str(wards_file)!r})",
        "with batch.client() as c:",
        f"    r = batch.join_and_aggregate({str(incidents / 'part-00000.parquet')!r}, w, spatial_partition=False)",
        "    print(c.scheduler.address, int(r['count'].sum()))",
    ])
    env = {**os.environ, batch.SCHEDULER_ENV: cluster.scheduler_address, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == [cluster.scheduler_address, str(ROWS_PER_FILE)]


def test_write_synthetic_is_seeded_and_bounded(tmp_path, wards):
    a = batch.write_synthetic(tmp_path / "a", 2_500, wards=wards, seed=7, rows_per_file=1_000)
    b = batch.write_synthetic(tmp_path / "b", 2_500, wards=wards, seed=7, rows_per_file=1_000)
    assert [p.name for p in a] == ["part-00000.parquet", "part-00001.parquet", "part-00002.parquet"]
    fa, fb = pd.read_parquet(tmp_path / "a"), pd.read_parquet(tmp_path / "b")
    pd.testing.assert_frame_equal(fa, fb)
    assert fa["id"].tolist() == list(range(2_500))
    assert list(fa.columns) == ["id", "lon", "lat", "local_date", "category"]
    assert pd.to_datetime(fa["local_date"]).between("2023-01-01", "2025-12-31").all()
    index = assign_wards(fa["lon"].to_numpy(), fa["lat"].to_numpy(), wards).index
    assert 0.005 < (index == -1).mean() < 0.05
    with pytest.raises(InputError, match="already holds Parquet files"):
        batch.write_synthetic(tmp_path / "a", 10, wards=wards, seed=7)


def test_write_synthetic_follows_the_weights(tmp_path, wards):
    # three times the weight for each Hồ Chí Minh City unit (codes from 25747) as for Hà Nội's
    hcmc = wards["code"].astype(int).to_numpy() >= 25747
    weights = np.where(hcmc, 3.0, 1.0)
    batch.write_synthetic(tmp_path / "w", 20_000, wards=wards, seed=3, rows_per_file=20_000, weights=weights)
    points = pd.read_parquet(tmp_path / "w")
    index = assign_wards(points["lon"].to_numpy(), points["lat"].to_numpy(), wards).index
    in_hcmc = hcmc[index[index >= 0]]
    share = weights[hcmc].sum() / weights.sum()                 # 3 * 168 / (3 * 168 + 126) = 0.8
    assert abs(in_hcmc.mean() - share) < 0.02                    # binomial sd 0.003
    none_in_hanoi = np.where(hcmc, 1.0, 0.0)
    batch.write_synthetic(tmp_path / "z", 2_000, wards=wards, seed=3, weights=none_in_hanoi)
    points = pd.read_parquet(tmp_path / "z")
    assert points["lat"].max() < 12                              # Hà Nội lies north of 20° N
    with pytest.raises(InputError, match="`weights` must hold one number >= 0 per ward"):
        batch.write_synthetic(tmp_path / "bad", 10, wards=wards, seed=3, weights=[1.0, 2.0])


def test_write_synthetic_fills_island_communes(tmp_path):
    # two islands of 100 m 50 km apart: the bounding box is 0.0004 % land
    import shapely

    islands = shapely.MultiPolygon([shapely.box(0, 0, 0.001, 0.001), shapely.box(0.45, 0.45, 0.451, 0.451)])
    layer = gpd.GeoDataFrame({"code": ["1"]}, geometry=[islands], crs="EPSG:4326").set_geometry(
        gpd.GeoSeries([islands], crs="EPSG:4326").translate(109.0, 10.0))
    batch.write_synthetic(tmp_path / "i", 3_000, wards=layer, seed=1)
    points = pd.read_parquet(tmp_path / "i")
    inside = assign_wards(points["lon"].to_numpy(), points["lat"].to_numpy(), layer, tolerance_m=0).index >= 0
    assert inside.mean() > 0.70                                  # the uniform part at least


def test_hilbert_key_visits_each_cell_once_with_unit_steps():
    level = 4
    n = 1 << level
    cx, cy = np.meshgrid(np.arange(n), np.arange(n))
    key = batch.hilbert_key((cx.ravel() + 0.5) / n, (cy.ravel() + 0.5) / n, (0, 0, 1, 1), level=level)
    assert sorted(key.tolist()) == list(range(n * n))
    order = np.argsort(key)
    steps = np.abs(np.diff(cx.ravel()[order])) + np.abs(np.diff(cy.ravel()[order]))
    assert (steps == 1).all()
    # Outside the bounds: clamped; no coordinates: 0.
    assert batch.hilbert_key([-5.0, np.nan], [0.0, np.nan], (0, 0, 1, 1), level=level).tolist() == [0, 0]


@pytest.mark.parametrize("kwargs, message", [
    ({"freq": "W"}, r"`freq` was 'W' but is expected to be in \('M', 'D'\)"),
    ({"tolerance_m": -1}, r"`tolerance_m` was -1"),
    ({"partition_rows": 0}, r"`partition_rows` was 0"),
])
def test_bad_arguments(incidents, wards, kwargs, message):
    with pytest.raises(InputError, match=message):
        batch.join_and_aggregate(incidents, wards, **kwargs)


def test_bad_wards(incidents, wards):
    with pytest.raises(InputError, match=r"`wards` has no CRS; call `.set_crs\(...\)`"):
        batch.join_and_aggregate(incidents, wards.set_crs(None, allow_override=True))
    with pytest.raises(InputError, match="`wards` has no `code` column"):
        batch.join_and_aggregate(incidents, wards.drop(columns="code"))


def test_bad_incidents(scheduler_env, tmp_path, frame, wards):
    with pytest.raises(InputError, match="does not exist"):
        batch.join_and_aggregate(tmp_path / "missing", wards)
    with pytest.raises(InputError, match=r"`incidents` lacks the column\(s\) \['local_date'\]"):
        batch.join_and_aggregate(dd.from_pandas(frame.drop(columns="local_date"), npartitions=1), wards)
    with pytest.raises(InputError, match="`scheduler` was 'localhost:8786'"):
        with batch.client("localhost:8786"):
            pass
