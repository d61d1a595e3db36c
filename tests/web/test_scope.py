"""A page limited to an area: a former district, chosen units; and error answers in the reader's language."""
from __future__ import annotations

import json
import re

import geopandas as gpd
import pytest
from babel.messages.pofile import read_po

from geo import scope
from geo.store.models import make_engine
from tests.conftest import SHARED_BOUNDARIES
from tests.web.test_i18n import PO, english_in, english_phrases, text_of

GO_VAP = "764"  # Quận Gò Vấp in hcmc-2019 (district_code of hcmc_wards_2019.geojson)
Q = "boundary=hcmc-2025&period=2025"


@pytest.fixture
def client(demo_app):
    """The demo store, every analysis computed in the request (no background job)."""
    from tests.conftest import signed_in

    demo_app.config.update(ANALYSIS_INLINE_INCIDENTS=10**12, HDBSCAN_INLINE_INCIDENTS=10**12,
                           FORECAST_INLINE_CELLS=10**12, PAGE_INLINE_INCIDENTS=10**12)
    return signed_in(demo_app)


def _go_vap_2025() -> list[str]:
    """The hcmc-2025 wards at least half of whose area lay in Quận Gò Vấp (an overlay of the shipped files)."""
    old = gpd.read_file(SHARED_BOUNDARIES / "hcmc_wards_2019.geojson").to_crs(32648)
    new = gpd.read_file(SHARED_BOUNDARIES / "hcmc_wards_2025.geojson").to_crs(32648)
    shape = old[old["district_code"] == GO_VAP].union_all()
    share = new.geometry.intersection(shape).area / new.geometry.area
    return sorted(new.loc[share >= 0.5, "code"])


def _layer_codes(client, url) -> list[str]:
    res = client.get(url.replace("/map/", "/export/", 1).replace("?", ".geojson?", 1))
    assert res.status_code == 200, res.get_data(as_text=True)[:300]
    return sorted(f["properties"]["code"] for f in json.loads(res.get_data())["features"])


def _table(html: str, table_id: str | None = None) -> list[list[str]]:
    body = html.split('id="' + table_id + '"', 1)[1] if table_id else html
    body = body.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [[re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
            for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)]


def test_former_district_limits_the_overview_and_its_counts_equal_the_api(client):
    expected = _go_vap_2025()
    assert len(expected) == 6
    url = f"/map/overview?{Q}&former=hcmc-2019:{GO_VAP}"
    res = client.get(url)
    html = res.get_data(as_text=True)
    assert res.status_code == 200, html[:500]
    assert _layer_codes(client, url) == expected
    # the table holds those wards only, with the API's counts
    rows = _table(html)
    assert sorted(r[0] for r in rows) == expected
    api = json.loads(client.get(f"/api/v1/areas?{Q}").get_data())
    counts = {f["properties"]["code"]: f["properties"]["count"] for f in api["features"]}
    for r in rows:
        assert int(r[2].replace(".", "")) == counts[r[0]]
    assert 'id="scope-label"' in html and "Địa bàn quận Gò Vấp cũ (6 phường)" in html
    # the form keeps the choice; the links carry it
    assert f'value="hcmc-2019:{GO_VAP}" selected' in html
    assert f"former=hcmc-2019:{GO_VAP}" in html.replace("%3A", ":")


def test_two_units_give_two_rows(client):
    a, b = _go_vap_2025()[:2]
    url = f"/map/overview?{Q}&unit={a}&unit={b}"
    html = client.get(url).get_data(as_text=True)
    assert sorted(r[0] for r in _table(html)) == [a, b]
    assert _layer_codes(client, url) == [a, b]
    assert f'value="{a}" checked' in html and f'value="{b}" checked' in html


def test_compare_keeps_the_whole_city_q_values(client):
    units = _go_vap_2025()
    whole = json.loads(client.get(f"/export/compare.geojson?{Q}").get_data())["features"]
    part = json.loads(client.get(f"/export/compare.geojson?{Q}&former=hcmc-2019:{GO_VAP}").get_data())["features"]
    q_whole = {f["properties"]["code"]: f["properties"]["q_value"] for f in whole}
    q_part = {f["properties"]["code"]: f["properties"]["q_value"] for f in part}
    assert sorted(q_part) == units and len(q_whole) == 168
    assert q_part == {c: q_whole[c] for c in units}
    html = client.get(f"/map/compare?{Q}&former=hcmc-2019:{GO_VAP}").get_data(as_text=True)
    assert 'id="scope-note"' in html
    # the total line adds up the chosen wards
    now = sum(f["properties"]["count"] for f in part)
    then = sum(f["properties"]["base_count"] for f in part)
    total = re.search(r'id="total-change"[^>]*>([^<]*)<', html).group(1)
    assert total.startswith(f"Toàn địa bàn: {now:,} / {then:,}".replace(",", ".")), total


@pytest.mark.parametrize("page", ["hotspots", "trends", "complex", "forecast"])
def test_every_map_page_draws_only_the_selection(client, page):
    units = _go_vap_2025()
    q = f"{Q}&former=hcmc-2019:{GO_VAP}" + ("&period=2025-H2" if page == "forecast" else "")
    res = client.get(f"/map/{page}?{q}")
    assert res.status_code == 200, res.get_data(as_text=True)[:400]
    assert set(_layer_codes(client, f"/map/{page}?{q}")) <= set(units)
    if page == "complex":  # ranked among the chosen units
        ranks = [int(r[0]) for r in _table(res.get_data(as_text=True))]
        assert sorted(ranks) == list(range(1, len(units) + 1))


def test_the_complex_pages_own_unit_choice_and_unit_codes_share_the_argument(client):
    a, b = _go_vap_2025()[:2]
    res = client.get(f"/map/complex?{Q}&unit={a}&unit={b}&unit=ward")
    assert res.status_code == 200, res.get_data(as_text=True)[:400]
    rows = _table(res.get_data(as_text=True))
    assert [r[0] for r in rows] == ["1", "2"]
    html = res.get_data(as_text=True)
    assert 'value="ward" selected' in html
    script = re.search(r'<script src="(/maps/complex\.js\?[^"]+)"', html).group(1).replace("&amp;", "&")
    assert f"unit={a}&unit={b}&unit=ward" in script


@pytest.mark.parametrize("page", ["overview", "complex"])
def test_same_named_wards_are_told_apart(client, page):
    layer = json.loads(client.get(f"/export/{page}.geojson?boundary=hcmc-2019&period=2025").get_data())
    names = [f["properties"]["name"] for f in layer["features"]]
    assert len(names) == 322 and len(set(names)) == 322
    assert "Phường 7 (Gò Vấp)" in names


def test_district_choices_and_own_districts(demo_app):
    eng = make_engine(demo_app.config["DATABASE_URL"])
    with demo_app.test_request_context("/?lang=vi"):
        labels = dict(scope.choices(eng, "hcmc-2025"))
        own = dict(scope.choices(eng, "hcmc-2019"))
        assert labels[f"hcmc-2019:{GO_VAP}"] == "Quận Gò Vấp (trước 07/2025)"
        assert own[f"hcmc-2019:{GO_VAP}"] == "Quận Gò Vấp"
        assert len(labels) == 24
        assert scope.choices(eng, "hanoi-2025") == []
        go_vap = scope.former_units(eng, "hcmc-2019", "hcmc-2019", GO_VAP)
        assert len(go_vap) == 16
        assert scope.describe(eng, "hcmc-2019", go_vap, f"hcmc-2019:{GO_VAP}") == "quận Gò Vấp (16 phường)"
        assert scope.describe(eng, "hcmc-2025", ()) == "toàn Thành phố Hồ Chí Minh"
        assert scope.describe(eng, "hcmc-2025", ("26743",)) == "Phường Bến Thành"
    with demo_app.test_request_context("/?lang=en"):
        assert dict(scope.choices(eng, "hcmc-2025"))[f"hcmc-2019:{GO_VAP}"] == "Quận Gò Vấp (before 07/2025)"


# --------------------------------------------------------------------------- errors in the reader's language

ERRORS = [
    "/map/trends?boundary=hcmc-2025&period=2025-Q2&bins=quarter",      # 1 quarter bin
    "/map/trends?boundary=hcmc-2025&period=2025-02&bins=month",        # 1 month bin
    "/api/v1/emerging?boundary=hcmc-2025&period=2025-Q3&bins=quarter",
    "/map/overview?boundary=hcmc-2025&period=2025&category=khong_co",  # no such category
    "/api/v1/dbscan?boundary=hcmc-2025&period=2025&eps=100000",        # over the maximum
    "/map/hotspots?boundary=hcmc-2025&period=2025&eps=100000",
    "/map/overview?boundary=hcmc-2025&period=2025&unit=99999",          # unknown unit
    "/map/overview?boundary=hcmc-2025&period=2025&former=hcmc-2019:999",  # unknown former district
    "/map/overview?boundary=hcmc-2025&period=2025&former=hcmc-2025:79",   # a version without districts
    "/map/overview?boundary=hcmc-2025&period=2025&former=nothing",
    "/committee/report?boundary=hcmc-2025&period=2025&level=district",    # no districts on hcmc-2025
    "/map/overview?boundary=hcmc-2025&period=2025&category=trom_cap&start=2030-01-01&end=2030-02-01&period=custom",
    "/map/nothing?boundary=hcmc-2025",
    "/api/v1/ward/99999?boundary=hcmc-2025&period=2025",
]


VIETNAMESE_LETTER = re.compile("[ạảãàáâậầấẩẫăắằặẳẵđêềếểễệôồốổỗộơờớởỡợưừứửữựịìíỉĩọỏõòóụủũùúỳýỷỹỵ]")


def vietnamese_phrases() -> set[str]:
    """Pieces of the catalogue's Vietnamese (two words or more, with a Vietnamese letter)."""
    with PO.open("rb") as f:
        cat = read_po(f)
    out = set()
    for m in cat:
        if m.id and not isinstance(m.id, tuple) and m.string and m.string != m.id:
            for p in re.split(r"%\(\w+\)[sdrf]|[.;:()]", m.string):
                p = p.strip(" ,")
                if " " in p and VIETNAMESE_LETTER.search(p):
                    out.add(p)
    return out


@pytest.fixture(scope="module")
def phrases():
    return english_phrases(), vietnamese_phrases()


def _message(res) -> str:
    text = text_of(res)
    if res.mimetype == "text/html":  # the error page's message, not the menus
        found = re.findall(r'<p class="error"[^>]*>(.*?)</p>', res.get_data(as_text=True), re.S)
        text = "\n".join(found) or text
    return text


@pytest.mark.parametrize("url", ERRORS)
def test_error_answers_speak_the_readers_language(client, phrases, url):
    english, vietnamese = phrases
    for lang in ("en", "vi", "en"):  # en after vi: nothing cached in one language is replayed in the other
        res = client.get(url + ("&" if "?" in url else "?") + "lang=" + lang)
        assert res.status_code in (200, 400, 404), (url, res.status_code)
        text = _message(res)
        assert text.strip(), url
        if lang == "vi":  # no msgid left in English, and words of Vietnamese (not a library's English)
            assert english_in(text, english) == [], (url, text)
            assert VIETNAMESE_LETTER.search(text), (url, text)
        else:
            shown = [p for p in vietnamese if p in text]
            assert shown == [], (url, text)


ERRORS += [
    "/api/v1/dbscan?boundary=hcmc-2025&start=2025-01-01&end=2025-01-07&min_samples=100000",  # a statistic's own
    "/api/v1/kde?boundary=hcmc-2025&period=2025&cell=1",                                      # grid too large
    "/no/such/address",                                                                       # werkzeug's 404
]


def test_a_background_jobs_error_is_in_the_language_of_who_asked(demo_template, tmp_path, phrases):
    """A job's error is written in the asker's language, and a reader of the other language gets
    their own job, not the first one's words."""
    import shutil

    from geo.store import jobs
    from server import create_app
    from tests.conftest import signed_in

    path = tmp_path / "demo.db"
    shutil.copyfile(demo_template, path)
    app = create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{path}", "SECRET_KEY": "test",
                      "JOB_WORKER": "external", "ANALYSIS_INLINE_INCIDENTS": 1})
    english, vietnamese = phrases
    url = "/api/v1/dbscan?boundary=hcmc-2025&start=2025-01-01&end=2025-01-07&min_samples=100000"
    c = signed_in(app)
    for lang in ("vi", "en"):
        assert c.get(f"{url}&lang={lang}").status_code == 202
    jobs.work(app, make_engine(app.config["DATABASE_URL"]), idle_seconds=0)
    vi, en = (c.get(f"{url}&lang={lang}") for lang in ("vi", "en"))
    assert vi.status_code == en.status_code == 400
    assert "min_samples=100000" in vi.get_json()["error"] and "min_samples=100000" in en.get_json()["error"]
    assert english_in(vi.get_json()["error"], english) == []
    assert "so no cluster can form" in en.get_json()["error"]
