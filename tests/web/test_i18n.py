"""Every string a user sees comes from the catalogue: the catalogue is complete, and a crawl of the
whole service in Vietnamese (the default language) shows none of its English messages.

The crawl signs in as admin (every page) and as viewer (the published figures), follows the
navigation from the home page and requests every GET route of the app with sample arguments:
pages, map scripts, the API's error messages, the downloads (CSV, XLSX, PNG, PDF). The English
messages looked for are the catalogue's own msgids (those translated to something else), so a
string that is not in the catalogue is caught by the review of its code, and a string that is but
shows untranslated is caught here.
"""
from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import sys
import tempfile
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import openpyxl
import pytest
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from geo.committee import areas, candidates, plans
from geo.ingest.importer import import_file
from geo.store.models import make_engine
from geo.store.queries import versions
from server import create_app
from tests.conftest import DATA, NOW, ROOT, signed_in

pytestmark = pytest.mark.xdist_group("i18n")  # one worker: the module's fixtures are built once

PO = ROOT / "translations" / "vi" / "LC_MESSAGES" / "messages.po"
PLACEHOLDER = re.compile(r"%\(\w+\)[sdrf]|%[sd]")
Q = "boundary=hcmc-2025&period=2025"
PAGES = ("overview", "hotspots", "compare", "trends", "complex", "forecast", "near-repeat")
#: Msgids that are the same word in Vietnamese writing (names, units, file formats): not English.
NOT_ENGLISH = {"Excel", "GeoJSON", "Email"}


def catalogue():
    with PO.open("rb") as f:
        return read_po(f)


def english_phrases() -> dict[str, str]:
    """What shows that a msgid was left untranslated: the msgid itself, or for a message with
    placeholders its literal pieces of two words or more (phrase -> msgid)."""
    out = {}
    for m in catalogue():
        if not m.id or isinstance(m.id, tuple) or m.string == m.id or m.id in NOT_ENGLISH:
            continue
        pieces = [p.strip(" .,;:()") for p in PLACEHOLDER.split(m.id)]
        for p in pieces if len(pieces) > 1 else [m.id.strip()]:
            if len(p) > 3 and re.search(r"[A-Za-z]{2}", p) and (len(pieces) == 1 or " " in p):
                out.setdefault(p, m.id)
    return out


# --------------------------------------------------------------------------- the catalogue

def test_catalogue_is_complete_and_compiles():
    cat = catalogue()
    empty = [m.id for m in cat if m.id and not m.string]
    fuzzy = [m.id for m in cat if m.id and m.fuzzy]
    assert empty == [] and fuzzy == []
    problems = [(m.id, [str(e) for e in errors]) for m, errors in cat.check()]
    assert problems == []  # placeholders of every msgstr match its msgid
    buf = io.BytesIO()
    write_mo(buf, cat)
    assert len(buf.getvalue()) > 10_000
    with tempfile.TemporaryDirectory() as tmp:  # as `make i18n` and the deployment compile it
        out = subprocess.run([sys.executable, "-m", "babel.messages.frontend", "compile", "-i", str(PO),
                              "-o", str(Path(tmp) / "messages.mo")], capture_output=True, text=True)
        assert out.returncode == 0 and (Path(tmp) / "messages.mo").stat().st_size > 10_000, out.stderr


def test_english_phrases_are_found_by_the_crawl_check():
    phrases = english_phrases()
    # a plain message, and the literal piece of one with placeholders
    assert phrases["Overview"] == "Overview"
    assert phrases["unknown ward code"] == "unknown ward code %(code)r"
    assert english_in("Tổng quan · Overview", phrases) == ["Overview"]
    assert english_in("Tổng quan", phrases) == []


# --------------------------------------------------------------------------- reading what a user sees

class _Visible(HTMLParser):
    """The text a person reads: element text, labels in attributes, and JSON data the page's scripts
    show (script type="application/json"); not code, styles or URLs."""

    ATTRS = ("title", "aria-label", "placeholder", "alt")

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts, self.skip = [], []
        self.links = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in ("script", "style", "code"):  # <code>: a record shown as stored (the audit detail)
            self.skip.append(a.get("type") != "application/json")
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        self.parts += [a[k] for k in self.ATTRS if a.get(k)]
        if tag in ("input", "button") and a.get("type") in ("submit", "button") and a.get("value"):
            self.parts.append(a["value"])  # a button's label (other values are codes, not words)

    def handle_endtag(self, tag):
        if tag in ("script", "style", "code") and self.skip:
            self.skip.pop()

    def handle_data(self, data):
        if not any(self.skip):
            self.parts.append(data)


def visible(html: str) -> tuple[str, list[str]]:
    p = _Visible()
    p.feed(html)
    return "\n".join(p.parts), p.links


def text_of(res) -> str:
    """The readable text of a response, whatever its kind."""
    kind = res.mimetype
    body = res.get_data()
    if kind == "text/html":
        return visible(body.decode("utf-8"))[0]
    if kind == "application/json":
        data = json.loads(body)
        return "\n".join(str(data.get(k, "")) for k in ("error", "message", "description")) \
            if isinstance(data, dict) else ""
    if kind == "application/pdf":
        return subprocess.run(["pdftotext", "-", "-"], input=body, capture_output=True, check=True).stdout.decode()
    if kind == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet":
        wb = openpyxl.load_workbook(io.BytesIO(body), read_only=True)
        return "\n".join([ws.title for ws in wb.worksheets]
                         + [str(v) for ws in wb.worksheets for row in ws.iter_rows(values_only=True)
                            for v in row if isinstance(v, str)])
    if kind in ("text/javascript", "application/javascript"):
        return js_strings(body.decode("utf-8"))
    if kind in ("text/csv", "text/plain"):
        return body.decode("utf-8-sig")
    if kind == "image/png":
        assert body.startswith(b"\x89PNG"), res.request.path
        return ""  # a picture: its words come from the same layers as the page and the PDF
    return ""


JS_STRING = re.compile(r'"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\\\n]|\\.)*\'')
JS_COMMENT = re.compile(r"^\s*//.*$|/\*.*?\*/", re.M | re.S)


def js_strings(code: str) -> str:
    """The string literals of a script (its legends, tooltips, labels), one a line; their words
    that are code (attribute names like "role") are single lowercase words, left out of the check."""
    words = []
    for lit in JS_STRING.findall(JS_COMMENT.sub("", code)):
        try:
            text = json.loads(lit) if lit[0] == '"' else lit[1:-1]  # "\u1ea1" escapes as the browser reads them
        except ValueError:
            text = lit[1:-1]
        text = re.sub(r"<[^>]*>", " ", text)  # markup inside a string (a note's <div role=…>) is code
        if " " in text.strip() or text.strip()[:1].isupper():
            words.append(text)
    return "\n".join(words)


_COMPILED: dict = {}


def _matches(text: str, phrases):
    """``(phrase, match)`` of each phrase found in ``text`` as whole words. A phrase is searched only
    when every word of it is a word of the text (a necessary condition, so nothing is missed): the
    crawl reads hundreds of pages against hundreds of phrases."""
    words = set(re.findall(r"\w+", text))
    for p in phrases:
        if p not in _COMPILED:
            _COMPILED[p] = (set(re.findall(r"\w+", p)), re.compile(r"(?<![\w-])" + re.escape(p) + r"(?![\w-])"))
        needed, pattern = _COMPILED[p]
        if needed <= words:
            m = pattern.search(text)
            if m:
                yield p, m


def english_in(text: str, phrases: dict[str, str]) -> list[str]:
    return sorted({phrases[p] for p, _m in _matches(text, phrases)})


def english_shown(text: str, phrases: dict[str, str]) -> list[str]:
    """Each English phrase found, with the text around it (to find where it comes from)."""
    out = []
    for p, m in _matches(text, phrases):
        if m:
            around = " ".join(text[max(0, m.start() - 50):m.end() + 50].split())
            out.append(f"{p!r} in …{around}…")
    return sorted(out)


def without_data(text: str, data: list[str]) -> str:
    """``text`` without the store's own texts (boundary titles, sources, attributions: the words of
    their publishers, shown as they wrote them)."""
    for d in sorted(data, key=len, reverse=True):
        text = text.replace(d, "")
    return text


# --------------------------------------------------------------------------- the crawl

@pytest.fixture(scope="module")
def service(demo_template, tmp_path_factory):
    """The demo store with an import that rejected rows and a committee plan with a selected ward;
    every analysis computed within the request (no background job to wait for). One store for the
    module: the crawls only read, and they share the analyses' cache (keyed by the store)."""
    path = tmp_path_factory.mktemp("i18n") / "demo.db"
    shutil.copyfile(demo_template, path)
    demo_app = create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{path}", "SECRET_KEY": "test"})
    demo_app.config.update(ANALYSIS_INLINE_INCIDENTS=10**12, HDBSCAN_INLINE_INCIDENTS=10**12,
                           FORECAST_INLINE_CELLS=10**12, PAGE_INLINE_INCIDENTS=10**12, WTF_CSRF_ENABLED=False)
    eng = make_engine(demo_app.config["DATABASE_URL"])
    with demo_app.app_context():  # as the command line imports: in the service's language
        bad = import_file(eng, DATA / "incidents_bad.csv", source="i18n", now=NOW).batch_id
    plan = plans.get_plan(eng, plans.create_plan(eng, year=2024, level="city", boundary="hcmc-2025",
                                           created_by="committee"))
    ward = candidates.candidates(eng, plan, top=3).wards["code"].iloc[0]
    area = areas.select_areas(eng, plan.id, [f"ward:{ward}"], target_pct=10, responsible_unit="Công an phường",
                           decided_by="BCĐ 138 Thành phố", decided_on="2024-01-15", recorded_by="committee")[0]
    data = [t for v in versions(eng) for t in (v.title, v.source, v.licence, v.attribution) if t]
    eng.dispose()
    return demo_app, dict(batch_id=bad, plan_id=plan.id, area_id=area, code=ward, data=data)


def route_samples(ids: dict) -> dict[str, list[str]]:
    """URLs for every GET endpoint of the app (endpoint -> URLs), the API also with its errors."""
    maps = [f"/map/{p}?{Q}" for p in PAGES]
    return {
        "home.home": ["/"], "home.healthz": ["/healthz"],
        "auth.account": ["/account"], "auth.change_password": ["/account/password"], "auth.login": ["/login"],
        "admin.audit_page": ["/admin/audit"], "admin.import_page": ["/admin/import"],
        "admin.users_page": ["/admin/users"], "categories.categories_page": ["/admin/categories"],
        "boundaries.index": ["/admin/boundaries"], "boundaries.fields": ["/admin/boundaries/fields"],
        "boundaries.preview": ["/admin/boundaries/preview.geojson"],
        "boundaries.delete": ["/admin/boundaries/hcmc-2019/delete", "/admin/boundaries/hcmc-2025/delete",
                              "/admin/boundaries/nowhere/delete"],
        "admin.rejected_csv": [f"/admin/import/{ids['batch_id']}/rejected.csv", "/admin/import/99999/rejected.csv"],
        "api.areas": ["/api/v1/areas?start=2024-13-01&end=2024-12-31",
                      "/api/v1/areas?start=2024-01-01&end=2024-12-31&boundary=nowhere",
                      "/api/v1/areas?start=2024-01-01&end=2024-12-31&category=bogus", "/api/v1/areas"],
        "api.compare": ["/api/v1/compare", "/api/v1/compare?boundary=nowhere&period=2025"],
        "api.complex_areas": ["/api/v1/complex-areas", "/api/v1/complex-areas?unit=bogus"],
        "api.dbscan": ["/api/v1/dbscan", "/api/v1/dbscan?eps=-1"],
        "api.emerging": ["/api/v1/emerging", "/api/v1/emerging?boundary=nowhere"],
        "api.gistar": ["/api/v1/gistar", "/api/v1/gistar?boundary=nowhere"],
        "api.kde": ["/api/v1/kde", "/api/v1/kde?bandwidth=-5"],
        "api.lisa": ["/api/v1/lisa", "/api/v1/lisa?boundary=nowhere"],
        "api.job_status": ["/api/v1/jobs/99999"],
        "api.hours": [f"/api/v1/hours?{Q}&hour_from=22&hour_to=4", "/api/v1/hours?hour_from=25&hour_to=4"],
        "api.months": [f"/api/v1/months?{Q}&weekday=5", "/api/v1/months?weekday=9"],
        "api.forecast": [f"/api/v1/forecast?{Q}&horizon=decade", f"/api/v1/forecast?{Q}&start=2025-01-02"],
        "api.forecast_backtest": [f"/api/v1/forecast/backtest?{Q}&horizon=decade"],
        "api.near_repeat": [f"/api/v1/near-repeat?{Q}", f"/api/v1/near-repeat?{Q}&distance=-1"],
        "api.sites": [f"/api/v1/sites?{Q}&unit={ids['code']}&k=3", f"/api/v1/sites?{Q}&existing=10.77,106.70",
                      f"/api/v1/sites?{Q}&k=0"],
        "api.ward": [f"/api/v1/ward/{ids['code']}?{Q}", f"/api/v1/ward/00000?{Q}"],
        "committee.index": ["/committee/"], "committee.flags": ["/committee/flags"],
        "committee.flags_script": ["/committee/flags.js"], "committee.programmes": ["/committee/programmes"],
        "committee.programmes_script": ["/committee/programmes.js"],
        "committee.programmes_download": ["/committee/programmes.csv", "/committee/programmes.geojson"],
        "committee.plan": [f"/committee/plans/{ids['plan_id']}", "/committee/plans/99999"],
        "committee.area": [f"/committee/areas/{ids['area_id']}"],
        "committee.plan_script": [f"/committee/plans/{ids['plan_id']}.js"],
        "committee.area_script": [f"/committee/areas/{ids['area_id']}.js"],
        "committee.report": ["/committee/report", f"/committee/report?{Q}&former=hcmc-2019:764"],
        "committee.report_download": ["/committee/report.xlsx", "/committee/report.csv", "/committee/report.pdf",
                                      "/committee/report.excel.csv", "/committee/report.docx"],
        "maps.map_page": maps + ["/map/nowhere", f"/map/overview?{Q}&cut=bogus",
                                 f"/map/overview?{Q}&former=hcmc-2019:764", f"/map/compare?{Q}&former=hcmc-2019:764",
                                 f"/map/hotspots?{Q}&unit=26743&unit=26737", f"/map/overview?{Q}&former=bogus",
                                 f"/map/overview?{Q}&unit=bogus",
                                 f"/map/sites?{Q}&unit={ids['code']}&purpose=patrol",
                                 f"/map/sites?{Q}&unit={ids['code']}&existing=106.7,10.77%0Abogus"],
        "maps.map_script": [f"/maps/{p}.js?{Q}" for p in PAGES],
        "maps.export": [f"/export/overview.{fmt}?{Q}" for fmt in ("csv", "png", "pdf")]
                       + [f"/export/compare.csv?{Q}", f"/export/trends.pdf?{Q}", f"/export/places.xlsx?{Q}",
                          f"/export/near-repeat.xlsx?{Q}", f"/export/sites.csv?{Q}&unit={ids['code']}"],
        "static": ["/static/js/panel.js"],
    }


def shape(url: str) -> tuple:
    """A URL's path and the names (not the values) of its query arguments."""
    parts = urlsplit(url)
    return parts.path, tuple(sorted({k for k, _v in parse_qsl(parts.query, keep_blank_values=True)}))


def crawl(app, username: str, ids: dict) -> dict[str, list[str]]:
    """English msgids per URL over the routes and every link reachable from the home page."""
    client = signed_in(app, username)
    samples = route_samples(ids)
    sampled = {u for urls in samples.values() for u in urls}
    todo = [u for urls in samples.values() for u in urls]
    seen, shapes, found = set(), set(), {}
    while todo and len(seen) < 250:
        url = todo.pop(0)
        if url in seen:
            continue
        seen.add(url)
        # A followed link that differs from one already read only in the values of its arguments
        # (another boundary version, period or unit) renders the same template and messages: read
        # one of each shape. The samples above are all read.
        if url not in sampled and shape(url) in shapes:
            continue
        shapes.add(shape(url))
        res = client.get(url)
        assert res.status_code < 500, (url, res.status_code)
        text = text_of(res)
        if res.mimetype == "text/html":
            for href in visible(res.get_data(as_text=True))[1]:
                parts = urlsplit(href)
                if parts.netloc or not parts.path.startswith("/") or "lang=" in (parts.query or ""):
                    continue  # another site, an anchor, or the language switch (it would set a cookie)
                todo.append(parts.path + ("?" + parts.query if parts.query else ""))
        hits = english_shown(without_data(text, ids["data"]), english_phrases_cached())
        if hits:
            found[url] = hits
    return found


_PHRASES: dict = {}


def english_phrases_cached() -> dict[str, str]:
    if not _PHRASES:
        _PHRASES.update(english_phrases())
    return _PHRASES


def test_every_route_has_a_sample(service):
    app, ids = service
    get_endpoints = {r.endpoint for r in app.url_map.iter_rules() if "GET" in r.methods}
    assert get_endpoints == set(route_samples(ids))


@pytest.mark.slow
@pytest.mark.parametrize("username", ["admin", "viewer"])
def test_no_english_in_the_vietnamese_service(service, username):
    app, ids = service
    found = crawl(app, username, ids)
    assert found == {}, "English catalogue messages in Vietnamese output:\n" + "\n".join(
        f"  {url}: {hit}" for url, hits in sorted(found.items()) for hit in hits)


def test_the_english_pages_are_english(service):
    app, ids = service
    client = signed_in(app, "admin")
    phrases = english_phrases_cached()
    home = text_of(client.get("/?lang=en"))
    assert "Crime hot-spot maps" in home and "Bản đồ điểm nóng tội phạm" not in home
    overview = text_of(client.get(f"/map/overview?{Q}&lang=en"))
    assert {"Overview", "Hot spots", "Click a ward to see its figures."} <= set(english_in(overview, phrases))
    labels = json.loads(re.search(r'id="panel-labels">(.*?)</script>',
                                  client.get(f"/map/overview?{Q}&lang=en").get_data(as_text=True), re.S).group(1))
    assert (labels["locale"], labels["incidents"], labels["missing"]) == ("en", "Incidents", "—")
    vi = signed_in(app, "admin").get(f"/map/overview?{Q}").get_data(as_text=True)
    vi_labels = json.loads(re.search(r'id="panel-labels">(.*?)</script>', vi, re.S).group(1))
    assert (vi_labels["locale"], vi_labels["incidents"], vi_labels["loading"]) == ("vi", "Vụ việc", "Đang tải…")
    csv_en = client.get(f"/admin/import/{ids['batch_id']}/rejected.csv?lang=en").get_data().decode("utf-8-sig")
    # stored as rendered when the file was imported (in Vietnamese), whatever the reader's language
    assert csv_en.splitlines()[0].endswith(",Dòng trong tệp gốc,Lý do bị từ chối")
