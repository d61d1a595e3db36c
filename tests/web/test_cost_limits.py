"""Cost limits: analyses are budgeted before they start, long ones run as background jobs, uploads
are bounded while they are read, and malformed input is refused with a message instead of a 500."""
from __future__ import annotations

import datetime as dt
import json
import difflib
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import zipfile
from concurrent.futures import ThreadPoolExecutor

import pytest
from werkzeug.serving import make_server

from tests.conftest import DATA, ROOT, signed_in, table_counts

# Four half-years of the demo data (about 10,000 incidents each): HDBSCAN jobs with a low inline limit
HALVES = [("2024-01-01", "2024-06-30"), ("2024-07-01", "2024-12-31"), ("2025-01-01", "2025-06-30"),
          ("2025-07-01", "2025-12-31")]


def make_app(demo_template, tmp_path, **config):
    from server import create_app

    path = tmp_path / "demo.db"
    shutil.copyfile(demo_template, path)
    return create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{path}", "SECRET_KEY": "test", **config})


@pytest.fixture
def served(demo_template, tmp_path):
    """The demo store behind a real threaded HTTP server on 127.0.0.1, HDBSCAN limited to 5,000
    incidents inline and 30,000 at most; yields (app, base URL, viewer token)."""
    from geo.store.accounts import new_token
    from geo.store.models import make_engine

    app = make_app(demo_template, tmp_path, HDBSCAN_INLINE_INCIDENTS=5_000, HDBSCAN_MAX_INCIDENTS=30_000)
    eng = make_engine(app.config["DATABASE_URL"])
    token = new_token(eng, "viewer", "test")
    eng.dispose()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield app, f"http://127.0.0.1:{server.server_port}", token
    server.shutdown()


def get(url, token=None, timeout=30):
    """(status, headers, body, seconds) of a real HTTP GET."""
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    t0 = time.monotonic()
    try:
        with urllib.request.urlopen(req, timeout=timeout) as res:
            return res.status, res.headers, res.read(), time.monotonic() - t0
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read(), time.monotonic() - t0


def hdbscan_url(base, start, end):
    return f"{base}/api/v1/dbscan?boundary=hcmc-2025&start={start}&end={end}&method=hdbscan"


# --------------------------------------------------------------------------- analyses as jobs

def test_concurrent_hdbscan_requests_queue_as_jobs_while_the_server_stays_responsive(served):
    from geo import analysis, disclosure
    from geo.store.models import make_engine
    from web.responses import geojson_text

    app, base, token = served
    urls = [hdbscan_url(base, s, e) for s, e in HALVES]
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda u: get(u, token), urls))
        health = get(base + "/healthz")
    # each answer is a 202 at once (the request queued a job instead of computing), and the health
    # probe is answered while the jobs run: states, not a clock
    for status, headers, body, _seconds in answers:
        assert status == 202
        pending = json.loads(body)
        assert pending["status"] == "pending" and headers["Retry-After"] == "3"
        assert pending["poll"].startswith("/api/v1/dbscan?") and "method=hdbscan" in pending["poll"]
    assert health[0] == 200
    assert len({json.loads(a[2])["job"] for a in answers}) == 4
    # the same request again joins its job instead of queueing another
    again = get(urls[0], token)
    assert again[0] in (200, 202)
    if again[0] == 202:
        assert json.loads(again[2])["job"] == json.loads(answers[0][2])["job"]

    deadline = time.monotonic() + 240
    results = {}
    while len(results) < 4 and time.monotonic() < deadline:
        for url in urls:
            if url not in results:
                status, _, body, _seconds = get(url, token)
                if status == 200:
                    results[url] = json.loads(body)
                else:
                    assert status == 202
        time.sleep(0.5)
    assert len(results) == 4, "the jobs did not finish"

    job_id = json.loads(answers[1][2])["job"]
    status, _, body, _ = get(f"{base}/api/v1/jobs/{job_id}", token)
    info = json.loads(body)
    assert status == 200 and info["status"] == "done" and info["kind"] == "api:dbscan"
    assert info["poll"] == json.loads(answers[1][2])["poll"] and info["finished_at"]

    analysis._cache.clear()  # the direct call computes afresh
    eng = make_engine(app.config["DATABASE_URL"])
    for (start, end), url in zip(HALVES, urls):
        spots = analysis.dbscan_spots(eng, boundary="hcmc-2025", start=dt.date.fromisoformat(start),
                                      end=dt.date.fromisoformat(end), categories=(), eps_m=None, min_samples=None, max_span_m=1500.0,
                                      method="hdbscan")
        assert len(spots) > 0
        # a viewer's job publishes what a viewer may see (geo.disclosure)
        published = disclosure.spots(spots, app.config["MIN_PUBLISHED_COUNT"])
        with app.app_context():
            assert results[url] == json.loads(geojson_text(published))
    eng.dispose()


def test_an_analysis_over_the_hard_cap_is_refused_before_it_starts(served):
    app, base, token = served
    status, _, body, _seconds = get(hdbscan_url(base, "2023-01-01", "2025-12-31"), token)
    assert status == 400  # refused before it starts
    m = re.fullmatch(r"Chọn khoảng thời gian ngắn hơn hoặc ít loại tội phạm hơn: ([\d.]+) vụ, "
                     r"tối đa 30\.000 cho HDBSCAN\.", json.loads(body)["error"])
    assert m and int(m.group(1).replace(".", "")) > 55_000
    # narrowed to one category it fits again (as a job)
    status, _, body, _ = get(hdbscan_url(base, "2023-01-01", "2025-12-31") + "&category=trom_cap_tai_san", token)
    assert status in (200, 202), body
    status, _, _, _ = get(base + "/api/v1/jobs/99999999999999999999", token)
    assert status == 404


@pytest.mark.reads_demo
def test_small_requests_are_still_answered_at_once(demo_client):
    res = demo_client.get("/api/v1/dbscan?boundary=hcmc-2025&start=2025-03-01&end=2025-03-31&method=hdbscan")
    assert res.status_code == 200 and res.get_json()["features"]


def test_a_long_page_shows_computing_then_the_map_it_would_have_drawn(demo_template, tmp_path):
    from sqlalchemy import text

    job_app = make_app(demo_template, tmp_path, PAGE_INLINE_INCIDENTS=1_000)
    inline_dir = tmp_path / "inline"
    inline_dir.mkdir()
    inline_app = make_app(demo_template, inline_dir, PAGE_INLINE_INCIDENTS=10**12)
    url = "/map/hotspots?boundary=hcmc-2025&period=2025-Q1"
    c = signed_in(job_app, "viewer")
    res = c.get(url)
    assert res.status_code == 202 and res.headers["Retry-After"] == "3"
    page = res.get_data(as_text=True)
    assert '<meta http-equiv="refresh" content="3">' in page and "Đang tính toán…" in page
    assert not re.search(r'<script(?![^>]*\b(?:src=|type="application/json"))', page)  # no inline script: the CSP holds
    deadline = time.monotonic() + 120
    while res.status_code == 202 and time.monotonic() < deadline:
        time.sleep(0.5)
        res = c.get(url)
    assert res.status_code == 200
    from geo import analysis

    analysis._cache.clear()  # serve the job's stored result, as another web process would
    res = c.get(url)
    assert res.status_code == 200
    ref = signed_in(inline_app, "viewer")
    direct = ref.get(url)
    assert direct.status_code == 200
    table = re.compile(r"<table.*?</table>", re.S)
    got, want = table.findall(res.get_data(as_text=True)), table.findall(direct.get_data(as_text=True))
    assert got == want, "\n".join(difflib.unified_diff("".join(want).splitlines(), "".join(got).splitlines(),
                                                        lineterm="", n=0))
    for part in ("/maps/hotspots.js?boundary=hcmc-2025&period=2025-Q1&cut=calendar",
                 "/export/hotspots.csv?boundary=hcmc-2025&period=2025-Q1"):
        assert c.get(part).get_data() == ref.get(part).get_data()
    from geo.store.models import make_engine

    eng = make_engine(job_app.config["DATABASE_URL"])
    with eng.connect() as conn:
        kinds = conn.execute(text("SELECT kind, status FROM job")).all()
    eng.dispose()
    assert [tuple(k) for k in kinds] == [("page:hotspots", "done")]


# --------------------------------------------------------------------------- bounded uploads

WIDE_ROW = """
import sys, time, tracemalloc
sys.path.insert(0, {root!r})
from geo.errors import InputError
from geo.ingest.parsing import read_table
tracemalloc.start()
t0 = time.process_time()  # CPU seconds: what the reader spends, whatever else the machine runs
try:
    read_table({path!r})
    print("read")
except InputError as exc:
    print(exc)
print(time.process_time() - t0, tracemalloc.get_traced_memory()[1])
"""


def wide_csv(path, fields=1_000_000):
    header = "Mã vụ,Ngày xảy ra,Loại tội phạm,Kinh độ,Vĩ độ\n"
    path.write_text(header + "V1" + "," * fields + "\nV2,15/03/2024,Trộm cắp tài sản,106.7,10.77\n",
                    encoding="utf-8")
    return path


def test_a_row_of_a_million_fields_is_refused_quickly_in_little_memory(tmp_path):
    path = wide_csv(tmp_path / "wide.csv")
    assert path.stat().st_size > 1_000_000
    out = subprocess.run([sys.executable, "-c", WIDE_ROW.format(root=str(ROOT), path=str(path))],
                         capture_output=True, text=True, timeout=120, cwd=ROOT)
    message, figures = out.stdout.strip().splitlines()
    seconds, peak = figures.split()
    assert message == ("wide.csv: dòng 2 có 1.000.001 trường nhưng dòng tiêu đề chỉ có 5; kiểm tra dấu phân cách "
                       "và dấu ngoặc kép của dòng đó, hoặc xóa các trường thừa.")
    assert float(seconds) < 10 and int(peak) < 200 * 1024 * 1024


def test_the_import_command_refuses_the_wide_row_and_changes_nothing(runner, engine, tmp_path):
    before = table_counts(engine)
    res = runner.invoke(args=["import-incidents", str(wide_csv(tmp_path / "wide.csv")), "--source", "s"])
    assert res.exit_code == 1  # in the service's default language
    assert "wide.csv: dòng 2 có 1.000.001 trường nhưng dòng tiêu đề chỉ có 5" in res.output
    assert table_counts(engine) == before


def test_too_many_columns_or_cells_are_refused_by_the_settings(app, tmp_path):
    from geo.ingest.parsing import ReadLimits, read_table

    app.config.update(IMPORT_MAX_COLUMNS=10, IMPORT_MAX_CELLS=1_000)
    limits = ReadLimits.from_config(app.config)
    wide = tmp_path / "cols.csv"
    wide.write_text(",".join(f"c{i}" for i in range(11)) + "\n", encoding="utf-8")
    with pytest.raises(Exception, match=r"cols.csv: có 11 cột; chỉ đọc tối đa 10 cột"):
        read_table(wide, limits=limits)
    assert len(read_table(DATA / "incidents_good.csv").frame) > 0  # 13 columns: within the default 500
    long = tmp_path / "long.csv"
    long.write_text("Mã vụ,Ngày xảy ra,Loại tội phạm,Kinh độ,Vĩ độ\n" +
                    "".join(f"V{i},15/03/2024,Trộm cắp tài sản,106.7,10.77\n" for i in range(300)), encoding="utf-8")
    with pytest.raises(Exception, match=r"khoảng 302 dòng × 5 cột, vượt quá 1.000 ô"):
        read_table(long, limits=limits)


def xlsx(path, rows, *, dimension=None, write_only=False):
    """A workbook of ``rows`` incident rows (10 columns); ``dimension`` rewrites the size it declares,
    ``write_only`` declares none."""
    from openpyxl import Workbook

    wb = Workbook(write_only=write_only)
    ws = wb.create_sheet() if write_only else wb.active
    ws.append(["Mã vụ", "Ngày xảy ra", "Loại tội phạm", "Kinh độ", "Vĩ độ", "a", "b", "c", "d", "e"])
    for i in range(rows):
        ws.append([f"V{i}", "15/03/2024", "Trộm cắp tài sản", 106.7, 10.77, 1, 2, 3, 4, 5])
    wb.save(path)
    if dimension is not None:
        src = zipfile.ZipFile(path)
        items = [(i, src.read(i.filename)) for i in src.infolist()]
        src.close()
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
            for info, data in items:
                if info.filename == "xl/worksheets/sheet1.xml":
                    data = re.sub(rb'<dimension ref="[^"]*"\s*/>', f'<dimension ref="{dimension}"/>'.encode(), data)
                z.writestr(info.filename, data)
    return path


def test_a_workbook_with_too_many_cells_is_refused_before_its_cells_are_read(tmp_path):
    from geo.errors import InputError
    from geo.ingest.parsing import ReadLimits, read_table

    limits = ReadLimits(max_cells=1_000)
    # the size the sheet declares is checked before any cell is read: its 201 rows
    with pytest.raises(InputError, match=r"big.xlsx: khoảng 201 dòng × 10 cột, vượt quá 1.000 ô"):
        read_table(xlsx(tmp_path / "big.xlsx", 200), limits=limits)
    # a sheet that declares less than it holds is stopped while read, at row 102 of 201
    with pytest.raises(InputError, match=r"lies.xlsx: khoảng 102 dòng × 10 cột, vượt quá 1.000 ô"):
        read_table(xlsx(tmp_path / "lies.xlsx", 200, dimension="A1:J2"), limits=limits)
    with pytest.raises(InputError, match=r"none.xlsx: khoảng 102 dòng × 10 cột, vượt quá 1.000 ô"):
        read_table(xlsx(tmp_path / "none.xlsx", 200, write_only=True), limits=limits)
    # a declared size that is too small does not cut the rows read
    assert len(read_table(xlsx(tmp_path / "lies2.xlsx", 50, dimension="A1:J2"), limits=limits).frame) == 50
    assert len(read_table(xlsx(tmp_path / "small.xlsx", 50), limits=limits).frame) == 50


def bomb(path):
    """A ZIP that looks like a workbook and expands a thousand times: 20 MB of zeros."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/worksheets/sheet1.xml", b"\0" * 20_000_000)
    return path


def test_the_import_command_refuses_a_zip_bomb_as_the_upload_page_does(runner, engine, app, tmp_path):
    before = table_counts(engine)
    res = runner.invoke(args=["import-incidents", str(bomb(tmp_path / "bomb.xlsx")), "--source", "s"])
    assert res.exit_code == 1 and re.search(r"bomb.xlsx: tệp nén sẽ bung ra 20.000.\d+ byte", res.output)
    traversal = tmp_path / "evil.xlsx"
    with zipfile.ZipFile(traversal, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("../../etc/cron.d/x", "x")
    res = runner.invoke(args=["import-incidents", str(traversal), "--source", "s"])
    assert res.exit_code == 1 and "đường dẫn không an toàn '../../etc/cron.d/x'" in res.output
    # the upload page runs the same check
    c = signed_in(app, "analyst")
    app.config["WTF_CSRF_ENABLED"] = False
    res = c.post("/admin/import", data={"source": "s", "file": (bomb(tmp_path / "b2.xlsx").open("rb"), "b.xlsx")},
                 content_type="multipart/form-data")
    assert res.status_code == 400 and "sẽ bung ra 20.000." in res.get_data(as_text=True)
    assert table_counts(engine) == before


def test_nul_bytes_and_huge_fields_reject_their_rows(engine, tmp_path):
    from sqlalchemy import text

    from geo.ingest.importer import import_file
    from tests.conftest import NOW

    path = tmp_path / "text.csv"
    path.write_text("Mã vụ,Ngày xảy ra,Loại tội phạm,Kinh độ,Vĩ độ,Địa chỉ,Mô tả\n"
                    f"V1,15/03/2024,Trộm cắp tài sản,106.7,10.77,Chợ Bến Thành,{'y' * 5000}\n"
                    "V2,15/03/2024,Trộm cắp tài sản,106.7,10.77,Chợ\x00Bến Thành,ok\n"
                    f"V3,15/03/2024,Trộm cắp tài sản,106.7,10.77,Chợ,{'x' * 5_000_000}\n", encoding="utf-8")
    res = import_file(engine, path, source="s", now=NOW)
    assert (res.accepted, res.rejected) == (1, 2)
    rej = res.rejects.set_index("row")
    assert rej.loc[3, "column"] == "Địa chỉ" and rej.loc[3, "value"] == "Chợ\\0Bến Thành"
    assert rej.loc[3, "reason"].startswith("chứa ký tự NUL")
    assert rej.loc[4, "column"] == "Mô tả" and rej.loc[4, "reason"].startswith("dài hơn 10.000 ký tự")
    assert len(rej.loc[4, "value"]) == 81  # the report shows the start only
    with engine.connect() as conn:
        assert conn.execute(text("SELECT external_id FROM incident")).scalars().all() == ["V1"]
        stored = conn.execute(text("SELECT rejected_csv FROM import_batch")).scalar()
    assert "Chợ\ufffdBến Thành" in stored and "\x00" not in stored  # PostgreSQL text holds no NUL


# --------------------------------------------------------------------------- malformed input

def test_ids_beyond_64_bits_are_not_found(client):
    for url in ("/committee/plans/99999999999999999999", "/committee/areas/99999999999999999999",
                "/api/v1/jobs/99999999999999999999", "/admin/import/99999999999999999999/rejected.csv"):
        assert client.get(url).status_code == 404, url


def test_a_polygon_nested_5000_deep_is_refused_with_a_message(app, engine):
    from geo.committee import areas, plans

    plan = plans.create_plan(engine, year=2024, level="city", boundary="hcmc-2025", created_by="committee")
    c = signed_in(app, "committee")
    app.config["WTF_CSRF_ENABLED"] = False
    deep = '{"type": "Polygon", "coordinates": ' + "[" * 5000 + "]" * 5000 + "}"
    res = c.post(f"/committee/plans/{plan}/select", data={"polygon": deep, "polygon_name": "x", "reason": "r",
                 "target_pct": "10", "responsible_unit": "u", "decided_by": "d", "decided_on": "2024-02-01"},
                 follow_redirects=True)
    assert res.status_code == 200
    assert "`polygon` lồng quá nhiều tầng nên không phải GeoJSON" in res.get_data(as_text=True)
    assert areas.plan_areas(engine, plan) == []


def test_a_boundary_file_with_latitude_95_names_the_feature_and_the_coordinate(runner, tmp_path):
    path = tmp_path / "bad.geojson"
    ring = [[106.7, 10.7], [106.8, 10.7], [106.8, 95], [106.7, 10.7]]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": "A1", "name": "Phường A"},
         "geometry": {"type": "Polygon", "coordinates": [ring]}}]}))
    res = runner.invoke(args=["load-boundaries", str(path), "--name", "bad"])
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert ("bad.geojson: đối tượng 1 (mã 'A1'): toạ độ (106.8, 95) nằm ngoài kinh độ -180..180 / "
            "vĩ độ -90..90") in res.output


def test_an_external_worker_runs_the_queue_and_each_job_once(demo_template, tmp_path):
    from sqlalchemy import text

    from geo.store import jobs
    from geo.store.models import make_engine

    app = make_app(demo_template, tmp_path, JOB_WORKER="external", HDBSCAN_INLINE_INCIDENTS=1_000)
    c = signed_in(app, "viewer")
    urls = [f"/api/v1/dbscan?boundary=hcmc-2025&start={s}&end={e}&method=hdbscan" for s, e in
            [("2025-01-01", "2025-01-31"), ("2025-02-01", "2025-02-28"), ("2025-03-01", "2025-03-31")]]
    ids = [c.get(u).get_json()["job"] for u in urls]
    time.sleep(1)  # no thread runs them: they wait for the worker
    assert all(c.get(f"/api/v1/jobs/{i}").get_json()["status"] == "queued" for i in ids)
    assert c.get(urls[0]).status_code == 202
    # two workers at once (as two `flask worker` processes would): every job runs once
    eng = make_engine(app.config["DATABASE_URL"])
    with ThreadPoolExecutor(2) as pool:
        counts = list(pool.map(lambda _: jobs.work(app, eng, idle_seconds=1), range(2)))
    assert sum(counts) == 3
    for u in urls:
        assert c.get(u).status_code == 200 and c.get(u).get_json()["features"]
    # the command runs the same loop
    c.get(urls[0].replace("2025-01-31", "2025-01-30"))
    res = app.test_cli_runner().invoke(args=["worker", "--idle-exit", "1"])
    assert res.exit_code == 0 and "Số công việc đã chạy: 1." in res.output
    with eng.connect() as conn:
        assert conn.execute(text("SELECT status, COUNT(*) FROM job GROUP BY status")).all() == [("done", 4)]
    eng.dispose()
