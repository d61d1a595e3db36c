"""Nothing lost: an import killed half-way leaves the store as it was; two imports at once."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.conftest import ROOT, table_counts

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("reliability")]  # one worker: the module's fixtures are built once

IMPORTER = """
import sys
from geo.ingest.importer import import_file
from geo.store.models import make_engine
eng = make_engine(sys.argv[1])
r = import_file(eng, sys.argv[2], source=sys.argv[3], progress=lambda s: print(s, flush=True))
print("accepted", r.accepted, "updated", r.updated, flush=True)
"""


@pytest.fixture(scope="module")
def big_csv(tmp_path_factory, store_template):
    from geo.ingest import demo
    from geo.store.models import make_engine
    from geo.store.queries import load_areas

    eng = make_engine(f"sqlite:///{store_template}")
    records, _ = demo.generate(load_areas(eng, "hcmc-2025"), n=150_000, seed=7)
    eng.dispose()
    path = tmp_path_factory.mktemp("big") / "big.csv"
    demo.write_csv(records, path)
    return path


def _start(db_url, csv, source):
    return subprocess.Popen([sys.executable, "-c", IMPORTER, db_url, str(csv), source], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_sigkill_half_way_leaves_the_store_unchanged(db_url, engine, big_csv):
    before = table_counts(engine)
    proc = _start(db_url, big_csv, "killed")
    for line in proc.stdout:  # wait until the rows are being written
        if line.strip() == "write":
            break
    time.sleep(0.5)
    assert proc.poll() is None, "the import finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert table_counts(engine) == before
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            assert conn.execute(text("PRAGMA integrity_check")).scalar() == "ok"
    done = _start(db_url, big_csv, "killed")
    out, err = done.communicate(timeout=300)
    assert done.returncode == 0, err
    assert "accepted 150000 updated 0" in out
    assert table_counts(engine)["incident"] == before["incident"] + 150_000


def test_two_imports_at_once_neither_corrupt_nor_duplicate(db_url, engine, big_csv, tmp_path):
    small = tmp_path / "small.csv"
    lines = Path(big_csv).read_text(encoding="utf-8-sig").splitlines()
    small.write_text("\n".join(lines[:20_001]) + "\n", encoding="utf-8")
    a = _start(db_url, big_csv, "same")
    b = _start(db_url, small, "same")  # the same ids from the same source, at the same time
    out_a, err_a = a.communicate(timeout=300)
    out_b, err_b = b.communicate(timeout=300)
    assert a.returncode == 0 and b.returncode == 0, (err_a, err_b)
    with engine.connect() as conn:
        n, distinct = conn.execute(text(
            "SELECT COUNT(*), COUNT(DISTINCT external_id) FROM incident WHERE source = 'same'")).one()
        areas = conn.execute(text("SELECT COUNT(*) FROM incident_area ia JOIN incident i ON i.id = "
                                  "ia.incident_id WHERE i.source = 'same'")).scalar()
        per_incident = conn.execute(text(
            "SELECT MAX(c) FROM (SELECT COUNT(*) AS c FROM incident_area GROUP BY version_id, incident_id) AS t"
        )).scalar()
    assert n == distinct == 150_000
    assert per_incident == 1 and areas >= 150_000
    # whichever ran second found the other's rows and updated them: each id was new exactly once
    accepted = [int(o.strip().splitlines()[-1].split()[1]) for o in (out_a, out_b)]
    assert sum(accepted) == 150_000
