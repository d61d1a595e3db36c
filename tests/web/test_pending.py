"""Pages that never wait blind: a long page answers at once with its frame and a progress box that
follows its job; after an import the default view of every page is computed ahead; the period and
measure controls of the filter form behave."""
from __future__ import annotations

import json
import re
import threading
import time

import pytest
from sqlalchemy import func, select, text

from geo import analysis
from geo.store import jobs
from geo.store.models import Job, make_engine
from tests.conftest import DATA, NOW, signed_in
from web import maps
from web.maps import PAGES

Q = "boundary=hcmc-2025&period=2025"


def job_rows(app):
    eng = make_engine(app.config["DATABASE_URL"])
    with eng.connect() as conn:
        rows = conn.execute(select(Job.id, Job.kind, Job.status, Job.params, Job.progress).order_by(Job.id)).all()
    eng.dispose()
    return rows


def until_finished(app, ids, seconds=300):
    """Wait (bounded) until the jobs ``ids`` are done or failed; their statuses."""
    eng = make_engine(app.config["DATABASE_URL"])
    deadline = time.monotonic() + seconds
    try:
        while True:
            with eng.connect() as conn:
                status = dict(conn.execute(select(Job.id, Job.status).where(Job.id.in_(ids))).all())
            if all(s in ("done", "failed") for s in status.values()) or time.monotonic() > deadline:
                return status
            time.sleep(0.2)
    finally:
        eng.dispose()


@pytest.fixture
def queued_app(demo_app):
    """The demo store; pages beyond 1,000 incidents × passes are jobs, which nobody runs until the test does."""
    demo_app.config.update(JOB_WORKER="external", PAGE_INLINE_INCIDENTS=1_000)
    return demo_app


def test_a_long_page_answers_at_once_with_its_frame_and_a_progress_box(queued_app):
    c = signed_in(queued_app, "viewer")
    res = c.get(f"/map/hotspots?{Q}")
    assert res.status_code == 202 and res.headers["Retry-After"] == "3"
    html = res.get_data(as_text=True)
    # the page's own frame: navigation, the filter form with its period and the page's parameters, the side panel
    assert 'class="pages"' in html and 'aria-current="page"' in html
    assert re.search(r'<form class="filters"[^>]*action="/map/hotspots"', html)
    assert '<option value="2025" selected>' in html and 'id="side"' in html
    # and where the map will be, the progress box in words, followed by a static script
    box = re.search(r'<div class="map-frame" id="map-frame"[^>]*>(.*?)</section>', html, re.S).group(1)
    (job_id,) = [r.id for r in job_rows(queued_app)]
    assert f'data-status="/api/v1/jobs/{job_id}"' in box and "Đang tính toán…" in box
    assert '<p id="pending-text">Đang chờ bắt đầu…</p>' in box
    assert "/static/js/pending.js" in html and not re.search(r'<script(?![^>]*\b(?:src=|type="application/json"))', html)
    assert '<noscript><meta http-equiv="refresh" content="3"></noscript>' in html

    # a second long page waits behind the first, and says so
    html = c.get(f"/map/trends?{Q}").get_data(as_text=True)
    assert '<p id="pending-text">Đang chờ, còn 1 phân tích trước</p>' in html
    second = job_rows(queued_app)[-1].id
    body = c.get(f"/api/v1/jobs/{second}").get_json()
    assert (body["status"], body["queue_position"], body["progress"]) == ("queued", 1, 0.0)
    assert body["text"] == "Đang chờ, còn 1 phân tích trước"

    # a running job's progress, stage and sentence, in the reader's language
    eng = make_engine(queued_app.config["DATABASE_URL"])
    first = jobs.claim(eng)
    assert first.id == job_id
    jobs.reporter(eng, job_id)(0.4, "Checking each forecasting method on past periods")
    body = c.get(f"/api/v1/jobs/{job_id}").get_json()
    assert (body["status"], body["progress"], body["stage"], body["queue_position"]) == \
        ("running", 0.4, "Đang kiểm tra từng phương pháp dự báo trên các kỳ đã qua", 0)
    assert body["text"] == "Đang kiểm tra từng phương pháp dự báo trên các kỳ đã qua… 40%"
    assert c.get(f"/api/v1/jobs/{job_id}?lang=en").get_json()["text"] == \
        "Checking each forecasting method on past periods… 40%"
    assert c.get(f"/api/v1/jobs/{second}").get_json()["queue_position"] == 1  # the running one is ahead
    eng.dispose()


def test_a_job_reports_its_stages_while_it_runs_and_the_page_then_draws(queued_app):
    c = signed_in(queued_app, "viewer")
    assert c.get(f"/map/trends?{Q}").status_code == 202
    (job,) = job_rows(queued_app)
    # the page's runner with a report that records: the emerging hot spots report each of their 4 quarters
    heard = []
    maps.run_page_job(queued_app, json.loads(job.params), report=lambda p, s: heard.append((round(p, 3), s)))
    assert heard == [(0.0, "Computing the trends"), (0.0, "Computing the trends"), (0.225, "Computing the trends"),
                     (0.45, "Computing the trends"), (0.675, "Computing the trends"), (0.9, "Drawing the map")]
    # the worker runs the queued job (the same view, from the cache now) and stores it as done
    stop = threading.Event()
    worker = threading.Thread(target=jobs.work, args=(queued_app, make_engine(queued_app.config["DATABASE_URL"])),
                              kwargs={"stop": stop}, daemon=True)
    worker.start()
    try:
        assert until_finished(queued_app, [job.id]) == {job.id: "done"}
    finally:
        stop.set()
        worker.join()
    body = c.get(f"/api/v1/jobs/{job.id}").get_json()
    assert (body["status"], body["progress"]) == ("done", 1.0)
    res = c.get(f"/map/trends?{Q}")
    assert res.status_code == 200 and 'id="result-table"' in res.get_data(as_text=True)


@pytest.mark.slow
def test_after_an_import_the_default_view_of_every_page_is_computed_ahead(app, runner):
    # every page that can be a job is one here, so that its default view is served from the precomputed job
    app.config.update(PRECOMPUTE_PAGES=True, JOB_WORKER="thread", PAGE_INLINE_INCIDENTS=0, FORECAST_INLINE_CELLS=0)
    out = runner.invoke(args=["import-incidents", str(DATA / "incidents_good.csv"), "--source", "s"])
    assert out.exit_code == 0, out.output
    assert f"Đã xếp hàng {2 * len(PAGES)} việc tính sẵn các trang bản đồ mặc định" in out.output
    rows = job_rows(app)
    # each page for viewers (MIN_PUBLISHED_COUNT) and for analysts (every figure), in the default language
    assert [(r.kind, json.loads(r.params)["minimum"], json.loads(r.params)["lang"]) for r in rows] == \
        [(f"page:{p}", m, "vi") for m in (5, None) for p in maps.PAGES]
    assert {json.loads(r.params)["url"] for r in rows} == \
        {f"/map/{p}?boundary=hcmc-2025&period=2025&cut=calendar" for p in maps.PAGES}
    assert {r.status for r in rows} == {"queued"}  # the command's process ends: it leaves them to the server
    assert app.config["DATABASE_URL"] not in jobs._threads

    # the web process's first request starts its worker, which runs them before anyone asks
    c = signed_in(app, "analyst")
    assert c.get("/").status_code == 200
    status = until_finished(app, [r.id for r in rows])
    assert set(status.values()) <= {"done", "failed"}
    # analysts' views all compute on 7 incidents (viewers' are refused: too few to publish)
    assert [status[r.id] for r in rows[len(maps.PAGES):]] == ["done"] * len(maps.PAGES)
    for page in maps.PAGES:
        res = c.get(f"/map/{page}")
        assert res.status_code == 200, (page, res.get_data(as_text=True)[:300])
        assert 'id="map-frame"' in res.get_data(as_text=True)
    assert len(job_rows(app)) == len(rows)  # each page was served from its precomputed job: no new job


def test_no_precompute_when_switched_off(app, runner):
    app.config.update(PRECOMPUTE_PAGES=False)
    out = runner.invoke(args=["import-incidents", str(DATA / "incidents_good.csv"), "--source", "s"])
    assert out.exit_code == 0 and "xếp hàng" not in out.output
    assert job_rows(app) == []


def period_of(html):
    return re.search(r'<option value="([^"]+)" selected>', html.split('name="period"', 1)[1]).group(1)


def test_typed_dates_make_the_period_custom(app, engine):
    from geo.ingest.importer import import_file

    import_file(engine, DATA / "incidents_good.csv", source="s", now=NOW)
    c = signed_in(app, "analyst")
    # a link (or the form without script) with dates beside a preset period: the dates win
    html = c.get("/map/overview?boundary=hcmc-2025&period=2025&start=2025-03-01&end=2025-03-31").get_data(as_text=True)
    assert period_of(html) == "custom"
    assert re.search(r'id="period-label">[^<]*01/03/2025 – 31/03/2025<', html)
    # the preset's own dates, or those the form showed while only the period menu changed: the preset
    html = c.get("/map/overview?boundary=hcmc-2025&period=2024&start=2025-01-01&end=2025-12-31"
                 "&shown=2025-01-01,2025-12-31").get_data(as_text=True)
    assert period_of(html) == "2024" and "Năm 2024 (01/01/2024 – 31/12/2024)" in html
    html = c.get("/map/overview?boundary=hcmc-2025&period=2024-Q1&start=2024-01-01&end=2024-03-31")\
        .get_data(as_text=True)
    assert period_of(html) == "2024-Q1"
    # the custom period's links keep its dates (every state stays in the URL)
    html = c.get("/map/compare?boundary=hcmc-2025&period=2025&start=2025-03-01&end=2025-03-31&category=trom_cap_tai_san"
                 "&cut=stat").get_data(as_text=True)
    nav = html.split('class="pages"', 1)[1]
    link = re.search(r'<a href="(/map/overview[^"]*)"', nav).group(1).replace("&amp;", "&")
    assert link == ("/map/overview?boundary=hcmc-2025&period=custom&cut=stat&category=trom_cap_tai_san"
                    "&start=2025-03-01&end=2025-03-31")


def test_per_10k_is_offered_only_when_a_unit_has_a_population(app, engine):
    from geo.ingest.importer import import_file

    import_file(engine, DATA / "incidents_good.csv", source="s", now=NOW)
    c = signed_in(app, "analyst")
    html = c.get(f"/map/overview?{Q}").get_data(as_text=True)
    assert ('<option value="per_10k" disabled id="per-10k-off">Số vụ / 10.000 dân '
            '(chưa có số dân của đơn vị nào)</option>') in html
    with engine.begin() as conn:
        conn.execute(text("UPDATE area SET population = 25000 WHERE code = '25747'"))
    analysis._cache.clear()  # a population is not an import: the cached unit frame is dropped by hand here
    html = c.get(f"/map/overview?{Q}&measure=per_10k").get_data(as_text=True)
    assert '<option value="per_10k" selected>' in html and "per-10k-off" not in html


@pytest.mark.browser
def test_a_long_forecast_shows_its_frame_and_progress_then_the_map(page, demo_app, demo_server):
    from tests.browser import screenshot, sign_in

    demo_app.config.update(FORECAST_INLINE_CELLS=0)  # a job however small (murders only: a quick one)
    sign_in(page, demo_server, "analyst")
    first = page.goto(f"{demo_server}/map/forecast?{Q}&category=giet_nguoi&horizon=quarter")
    assert first.status == 202
    # the page's own frame at once: navigation, the filter form, the side panel, and the progress box
    for selector in ("nav.pages", "form.filters select[name=period]", "form.filters select[name=horizon]", "#side",
                     "#pending progress"):
        assert page.locator(selector).is_visible(), selector
    assert page.locator("nav.pages a[aria-current=page]").inner_text() == "Dự báo"
    assert page.locator("form.filters select[name=horizon] option[selected]").inner_text() == "quý tới"
    assert re.fullmatch(r"Đang (chờ.*|đọc các vụ việc để dự báo… \d+%|kiểm tra từng phương pháp dự báo.*|"
                        r"ước tính khoảng dự báo.*|vẽ bản đồ.*)|Đã xong.*",
                        page.locator("#pending-text").inner_text())
    screenshot(page, "pending_forecast")
    # then the script loads the finished page: the map, the per-ward table with its ranges, the winner named
    page.wait_for_selector("#result-table tbody tr", timeout=900_000)
    assert page.locator("#pending").count() == 0
    assert page.locator("#forecast-heading").inner_text() == "Dự báo Quý I/2026 (01/01/2026 – 31/03/2026)"
    headers = page.locator("#result-table thead th").all_inner_texts()
    assert headers[3:8] == ["Số vụ dự kiến", "Khoảng 80%: từ", "Khoảng 80%: đến", "Khoảng 95%: từ", "Khoảng 95%: đến"]
    assert re.match(r"Phương pháp “.+” dự báo đúng nhất trong 12 kỳ gần đây: bắt được \d+% số vụ trên 5% diện tích",
                    page.locator("#forecast-winner").inner_text())
    page.wait_for_selector(".leaflet-overlay-pane path.leaflet-interactive")
    assert page.locator("#period-label").inner_text() == "Năm 2025 (01/01/2025 – 31/12/2025)"
    assert page.console_errors == [] and page.foreign_requests == []
