"""Shared fixtures: a store with the real boundaries (built once, copied per test), the app, a client."""
from __future__ import annotations

import datetime as dt
import fcntl
import os
import shutil
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box
from sqlalchemy import text

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
SHARED_BOUNDARIES = ROOT.parent / "shared" / "data" / "boundaries"
HCMC_WARDS_FILE = SHARED_BOUNDARIES / "hcmc_wards_2025.geojson"
#: "Now" of the imports in the tests: the records' dates are all before it.
NOW = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
PASSWORD = "correct horse battery"  # of the accounts viewer, committee, analyst, admin in the test stores


def pytest_configure(config):
    if not SHARED_BOUNDARIES.exists():
        raise pytest.UsageError(f"The boundary files are expected in {SHARED_BOUNDARIES}.")


def pytest_collection_modifyitems(config, items):
    """A test marked ``sqlite_only`` runs on the SQLite store only: its PostgreSQL case is not
    collected (rather than skipped), so every collected test runs."""
    dropped = [i for i in items if i.get_closest_marker("sqlite_only")
               and getattr(i, "callspec", None) and i.callspec.params.get("db_url") == "postgresql"]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [i for i in items if i not in dropped]


def built_once(tmp_path_factory, name: str, build) -> Path:
    """``build(folder)`` run once for the whole test run, by whichever pytest-xdist worker asks first
    (the others wait on a lock, then use its result): the folder is shared by every worker of this run."""
    base = tmp_path_factory.getbasetemp()
    folder = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / f"shared-{name}"
    folder.mkdir(exist_ok=True)
    done = folder / ".done"
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            build(folder)
            done.touch()
    return folder


@pytest.fixture(scope="session")
def store_template(tmp_path_factory) -> Path:
    """A SQLite store with the schema and the three shipped boundary sets, built once."""
    from geo.store.models import make_engine

    def build(folder):
        url = f"sqlite:///{folder / 'store.db'}"
        _fill_template(url)
        eng = make_engine(url)
        with eng.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        eng.dispose()
    return built_once(tmp_path_factory, "template", build) / "store.db"


def _fill_template(url: str) -> None:
    """Schema, the three shipped boundary sets and one account per role."""
    from geo.ingest.shipped import load_shipped
    from geo.store.accounts import ROLES, create_user
    from geo.store.models import make_engine, upgrade

    upgrade(url)
    eng = make_engine(url)
    load_shipped(eng, SHARED_BOUNDARIES, names=["hcmc-2025", "hcmc-2019", "hanoi-2025"])
    for role in ROLES:
        create_user(eng, role, role, password=PASSWORD)
    eng.dispose()


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory):
    """One PostgreSQL server for the whole run: the first pytest-xdist worker that needs it starts it,
    the last one to finish stops it."""
    import json

    from tests.pg import Server

    folder = built_once(tmp_path_factory, "pg", lambda f: (f / "users").write_text("0"))
    info, users = folder / "server.json", folder / "users"

    def locked(change):
        with open(folder / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            return change()

    def join():
        if not info.exists():
            info.write_text(json.dumps(Server().info))
        users.write_text(str(int(users.read_text()) + 1))
        return Server(attach=json.loads(info.read_text()))

    def leave():
        left = int(users.read_text()) - 1
        users.write_text(str(left))
        if left == 0:
            server.stop()
            info.unlink()

    server = locked(join)
    yield server
    locked(leave)


@pytest.fixture(scope="session")
def pg_template(pg_server, tmp_path_factory) -> str:
    """A PostGIS database with the same content as ``store_template``, copied per test."""
    built_once(tmp_path_factory, "pg_template", lambda _f: _fill_template(pg_server.create("template_store")))
    return "template_store"


_counter = iter(range(1_000_000))


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, store_template, tmp_path) -> str:
    """The store of one test: a copy of the template, in SQLite and then in PostgreSQL/PostGIS."""
    if request.param == "sqlite":
        path = tmp_path / "store.db"
        shutil.copyfile(store_template, path)
        return f"sqlite:///{path}"
    server = request.getfixturevalue("pg_server")
    template = request.getfixturevalue("pg_template")
    return server.create(f"t{os.environ.get('PYTEST_XDIST_WORKER', '')}_{next(_counter)}", template=template)


@pytest.fixture
def engine(db_url):
    from geo.store.models import make_engine

    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def app(db_url, tmp_path):
    from server import create_app

    # PRECOMPUTE_PAGES off: an import in a test queues no page jobs (tests/web/test_pending.py turns it on)
    return create_app({"TESTING": True, "DATABASE_URL": db_url, "SECRET_KEY": "test",
                       "BOUNDARY_SOURCE_DIR": str(SHARED_BOUNDARIES), "PRECOMPUTE_PAGES": False})


def signed_in(app, username: str = "analyst"):
    """A test client with ``username`` signed in (the accounts are named after their roles)."""
    from flask_login import FlaskLoginClient
    from sqlalchemy import select

    from geo.store.models import User, make_engine
    from web.auth import Account

    eng = make_engine(app.config["DATABASE_URL"])
    with eng.connect() as conn:
        row = conn.execute(select(User).where(User.username == username)).first()
    eng.dispose()
    app.test_client_class = FlaskLoginClient
    return app.test_client(user=Account(row))


@pytest.fixture
def client(app):
    """Signed in as an analyst."""
    return signed_in(app)


@pytest.fixture
def anonymous(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def table_counts(engine) -> dict[str, int]:
    """Row count of every table, to check that a failed operation changed nothing."""
    from sqlalchemy import text

    with engine.connect() as conn:
        return {t: conn.execute(text(f"SELECT COUNT(*) FROM {t}")).scalar()
                for t in ("incident", "incident_area", "import_batch", "area", "boundary_version",
                          "crosswalk")}


from tests.browser import browser, demo_server, live_server, page  # noqa: E402,F401  (fixtures)


@pytest.fixture(scope="session")
def demo_template(store_template, tmp_path_factory) -> Path:
    """The store with the 60,000 synthetic demo incidents imported (built once)."""
    from geo.ingest import demo
    from geo.ingest.importer import import_file
    from geo.store.models import make_engine
    from geo.store.queries import load_areas

    def build(folder):
        path = folder / "store.db"
        shutil.copyfile(store_template, path)
        eng = make_engine(f"sqlite:///{path}")
        records, truth = demo.generate(load_areas(eng, "hcmc-2025"), n=60_000, seed=138)
        demo.write_csv(records, folder / "demo.csv")
        truth.to_csv(folder / "truth.csv", index=False)
        import_file(eng, folder / "demo.csv", source="demo")
        with eng.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        eng.dispose()
    return built_once(tmp_path_factory, "demo", build) / "store.db"


def demo_copy_app(demo_template: Path, folder: Path):
    """An app over a copy of the demo store in ``folder``, every page computed within the request."""
    from server import create_app

    path = folder / "demo.db"
    shutil.copyfile(demo_template, path)
    # every page within the request unless a test lowers PAGE_INLINE_INCIDENTS to see the background path
    return create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{path}", "SECRET_KEY": "test",
                       "PRECOMPUTE_PAGES": False, "PAGE_INLINE_INCIDENTS": 10**8})


@pytest.fixture(scope="session")
def demo_shared_app(demo_template, tmp_path_factory):
    """One app over one copy of the demo store for the tests marked ``reads_demo``."""
    return demo_copy_app(demo_template, tmp_path_factory.mktemp("demo_shared"))


@pytest.fixture
def demo_app(request, demo_template, tmp_path):
    """The app over a private copy of the demo store. A test marked ``reads_demo`` only reads the
    store (signing in aside) and keeps the settings: it gets the one app those tests share, and with
    it the analyses they computed before, as the visitors of one service do. Checked after the test:
    neither the settings nor the data version changed."""
    if not request.node.get_closest_marker("reads_demo"):
        yield demo_copy_app(demo_template, tmp_path)
        return
    from geo import analysis
    from geo.store.models import make_engine

    app = request.getfixturevalue("demo_shared_app")
    settings = dict(app.config)
    eng = make_engine(app.config["DATABASE_URL"])
    version = analysis.data_version(eng)
    yield app
    assert dict(app.config) == settings, "a test marked reads_demo changed the app's settings"
    assert analysis.data_version(eng) == version, "a test marked reads_demo changed the demo store"
    eng.dispose()


@pytest.fixture
def demo_client(demo_app):
    return signed_in(demo_app)


@pytest.fixture
def demo_truth(demo_template):
    import pandas as pd

    return pd.read_csv(demo_template.parent / "truth.csv", dtype={"ward_codes": str})


# --------------------------------------------------------------------------- small synthetic data

def small_wards() -> gpd.GeoDataFrame:
    """Twelve square "wards" of 0.02° in Hồ Chí Minh City (4 × 3), with counts and Gi* classes."""
    cells = [box(106.60 + 0.02 * i, 10.70 + 0.02 * j, 106.62 + 0.02 * i, 10.72 + 0.02 * j)
             for i in range(4) for j in range(3)]
    return gpd.GeoDataFrame({"code": [f"{i:05d}" for i in range(12)],
                             "name": [f"Phường {i}" for i in range(12)],
                             "count": [0, 1, 2, 3, 5, 8, 13, 21, 34, 55, 0, 1234],
                             "gi": ["hot_99", "hot_95", "hot_90", "not_significant", "cold_90",
                                    "cold_95", "cold_99", "not_significant", "hot_99", None,
                                    "cold_99", "hot_95"]},
                            geometry=cells, crs="EPSG:4326")


def small_incidents(n: int = 200, seed: int = 138) -> pd.DataFrame:
    """``n`` incidents (lon, lat, date, category) spread over :func:`small_wards`, a third of
    them in a cluster around its ward 4; the same ``seed`` gives the same rows."""
    rng = np.random.default_rng(seed)
    k = n // 3
    lon = np.concatenate([rng.uniform(106.60, 106.68, n - k), rng.normal(106.63, 0.002, k)])
    lat = np.concatenate([rng.uniform(10.70, 10.76, n - k), rng.normal(10.73, 0.002, k)])
    day = dt.date(2024, 1, 1) + pd.to_timedelta(rng.integers(0, 731, n), unit="D")
    return pd.DataFrame({"lon": lon, "lat": lat, "date": pd.to_datetime(day).date,
                         "category": rng.choice(["trom_cap", "cuop_giat", "danh_bac"], n)})


@pytest.fixture
def tiny_wards() -> gpd.GeoDataFrame:
    return small_wards()


@pytest.fixture
def tiny_incidents() -> pd.DataFrame:
    return small_incidents()


@pytest.fixture(scope="session")
def hcmc_wards_raw() -> gpd.GeoDataFrame:
    """The 168 wards of Hồ Chí Minh City (2025) as shipped; copy before changing."""
    return gpd.read_file(HCMC_WARDS_FILE)


def static_url(path: str) -> str:
    return "/static/" + path


def day_aggregates(engine) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The stored day aggregates and the same figures counted afresh from the incidents."""
    with engine.connect() as conn:
        kept = pd.read_sql(text("SELECT version_id, local_date, area_id, category, n, n_cleared, n_sev1, n_sev2, "
                                "n_sev3, n_sev4 FROM area_day"), conn)
        raw = pd.read_sql(text("SELECT ia.version_id, i.local_date, ia.area_id, i.category, i.cleared, i.severity "
                               "FROM incident i JOIN incident_area ia ON ia.incident_id = i.id"), conn)
    raw["local_date"] = raw["local_date"].astype(str)
    kept["local_date"] = kept["local_date"].astype(str)
    raw["cleared"] = pd.to_numeric(raw["cleared"]).fillna(0).astype(bool).astype(int)
    for k in (1, 2, 3, 4):
        raw[f"n_sev{k}"] = (raw["severity"] == k).astype(int)
    keys = ["version_id", "local_date", "area_id", "category"]
    expected = raw.groupby(keys).agg(n=("cleared", "size"), n_cleared=("cleared", "sum"),
                                     **{f"n_sev{k}": (f"n_sev{k}", "sum") for k in (1, 2, 3, 4)}).reset_index()
    return (kept.sort_values(keys).reset_index(drop=True).astype({c: int for c in kept.columns[4:]}),
            expected.sort_values(keys).reset_index(drop=True).astype({c: int for c in expected.columns[4:]}))
