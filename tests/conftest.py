"""Shared fixtures: a store with the real boundaries (built once, copied per test), the app, a client."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
SHARED_BOUNDARIES = ROOT.parent / "shared" / "data" / "boundaries"
PASSWORD = "correct horse battery"  # of the accounts viewer, committee, analyst, admin in the test stores


def pytest_configure(config):
    if not SHARED_BOUNDARIES.exists():
        raise pytest.UsageError(f"The boundary files are expected in {SHARED_BOUNDARIES}.")


@pytest.fixture(scope="session")
def store_template(tmp_path_factory) -> Path:
    """A SQLite store with the schema and the three shipped boundary sets, built once."""
    from geo.store.models import make_engine

    path = tmp_path_factory.mktemp("template") / "store.db"
    url = f"sqlite:///{path}"
    _fill_template(url)
    eng = make_engine(url)
    with eng.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    eng.dispose()
    return path


def _fill_template(url: str) -> None:
    """Schema, the three shipped boundary sets and one account per role."""
    from geo.ingest.boundaries import load_shipped
    from geo.store.accounts import ROLES, create_user
    from geo.store.models import make_engine, upgrade

    upgrade(url)
    eng = make_engine(url)
    load_shipped(eng, SHARED_BOUNDARIES)
    for role in ROLES:
        create_user(eng, role, role, password=PASSWORD)
    eng.dispose()


@pytest.fixture(scope="session")
def pg_server():
    from tests.pg import Server

    server = Server()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def pg_template(pg_server) -> str:
    """A PostGIS database with the same content as ``store_template``, copied per test."""
    url = pg_server.create("template_store")
    _fill_template(url)
    return "template_store"


_counter = iter(range(1_000_000))


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, store_template, tmp_path) -> str:
    """The store of one test: a copy of the template, in SQLite and then in PostgreSQL/PostGIS."""
    if request.param == "sqlite":
        path = tmp_path / "store.db"
        shutil.copyfile(store_template, path)
        return f"sqlite:///{path}"
    if request.node.get_closest_marker("sqlite_only"):
        pytest.skip(f"SQLite-specific: {request.node.get_closest_marker('sqlite_only').args[0]}")
    server = request.getfixturevalue("pg_server")
    template = request.getfixturevalue("pg_template")
    return server.create(f"t{next(_counter)}", template=template)


@pytest.fixture
def engine(db_url):
    from geo.store.models import make_engine

    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def app(db_url, tmp_path):
    from server import create_app

    return create_app({"TESTING": True, "DATABASE_URL": db_url, "SECRET_KEY": "test",
                       "BOUNDARY_SOURCE_DIR": str(SHARED_BOUNDARIES)})


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


from tests.browser import browser, live_server, page  # noqa: E402,F401  (fixtures)


@pytest.fixture(scope="session")
def demo_template(store_template, tmp_path_factory) -> Path:
    """The store with the 60,000 synthetic demo incidents imported (built once)."""
    from geo.ingest import demo
    from geo.ingest.importer import import_file
    from geo.store.models import make_engine
    from geo.store.queries import load_areas

    folder = tmp_path_factory.mktemp("demo")
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
    return path


@pytest.fixture
def demo_app(demo_template, tmp_path):
    """The app over a private copy of the demo store."""
    from server import create_app

    path = tmp_path / "demo.db"
    shutil.copyfile(demo_template, path)
    return create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{path}", "SECRET_KEY": "test"})


@pytest.fixture
def demo_client(demo_app):
    return signed_in(demo_app)


@pytest.fixture
def demo_truth(demo_template):
    import pandas as pd

    return pd.read_csv(demo_template.parent / "truth.csv", dtype={"ward_codes": str})
