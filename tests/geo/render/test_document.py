"""Signed reports as Vietnamese administrative documents (PDF, DOCX) and labelled map pictures.

The PDFs are read back with poppler (pdftotext, pdfinfo, pdftohtml, pdfimages), the DOCX with
python-docx: what a reader gets out of the file, not what the renderer meant to put in.
"""
from __future__ import annotations

import io
import re
import subprocess

import docx as python_docx
import geopandas as gpd
import numpy as np
import pytest
from docx.enum.section import WD_ORIENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml.ns import qn
from matplotlib.image import imread

from geo.format import number
from geo.render import document as D
from geo.render import exports as ex
from tests.conftest import HCMC_WARDS_FILE, small_wards

N_ROWS = 150
NAMES = [f"Phường {i:03d}" for i in range(1, N_ROWS + 1)]
COUNTS = [7 * i + 3 for i in range(1, N_ROWS + 1)]
TOTAL = "79.725"                        # 7 × (1 + … + 150) + 3 × 150 = 7 × 11.325 + 450, by hand
TRAP = "<b>x</b> & <font>"                                           # markup that must stay text
ENGLISH_FIXED = ("SOCIALIST REPUBLIC", "Independence", "Freedom", "Happiness", "Recipients")


def _map() -> bytes:
    w = small_wards()
    w["label"] = [f"{n}\n{number(c, 0, locale='vi')}" for n, c in zip(w["name"], w["count"])]
    return ex.map_png(w, "count", title="Số vụ theo phường", label_field="label", dpi=60, size=(6, 6))


def test_total_is_the_sum():
    assert number(sum(COUNTS), 0, locale="vi") == TOTAL


def make_document(lang: str = "vi") -> D.Document:
    rows = [[str(i), name, number(c, 0, locale="vi"), f"giảm {i % 10},{i % 7}%"]
            for i, (name, c) in enumerate(zip(NAMES, COUNTS), start=1)]
    rows.insert(40, ["", "=1+2", "-3", TRAP])                        # user text among the rows
    rows.append(["", "Tổng cộng", TOTAL, "giảm 8,4%"])
    wards = D.Table("Phụ lục 1. Tình hình theo phường, xã",
                    [("STT", "num"), ("Phường, xã", "text"), ("Số vụ", "num"), ("So với cùng kỳ", "text")],
                    rows, bold={len(rows) - 1}, note="Thay đổi được kiểm định bằng phép thử Poisson.")
    wide = D.Table("Phụ lục 2. Số vụ theo tháng và theo nhóm tội",
                   [("Nhóm tội", "text")] + [(f"Tháng {m}", "num") for m in range(1, 13)] + [("Cộng", "num")],
                   [[f"Nhóm tội danh số {g} có tên rất dài cần xuống dòng"] + [str(g * m) for m in range(1, 14)]
                    for g in range(1, 9)], landscape=True)
    return D.Document(
        issuer="BAN CHỈ ĐẠO 138\nQUẬN GÒ VẤP", issuer_parent="UBND QUẬN GÒ VẤP", number="Số:       /BC-BCĐ138",
        place_date="Gò Vấp, ngày 15 tháng 6 năm 2025", title="BÁO CÁO",
        subtitle="Tình hình tội phạm 6 tháng đầu năm 2025 so với cùng kỳ năm 2024",
        body=[("heading", "I. TÌNH HÌNH CHUNG"),
              ("para", "Trong 6 tháng đầu năm 2025, trên địa bàn quận xảy ra 1.234 vụ phạm pháp hình sự, "
                       "giảm 8,4% so với cùng kỳ năm 2024."),
              ("bullet", "Trộm cắp tài sản: 456 vụ, giảm 12,0%;"),
              ("heading", "II. NHIỆM VỤ THỜI GIAN TỚI")],
        tables=[wards, wide], figures=[(_map(), "Hình 1. Số vụ theo phường")],
        recipients=["- Như trên;", "- " + TRAP, "- Lưu: VT."],
        signer=["TM. BAN CHỈ ĐẠO", "TRƯỞNG BAN", "", "", "", "Nguyễn Văn A"], lang=lang,
        properties={"title": "Báo cáo 6 tháng đầu năm 2025", "author": "Ban Chỉ đạo 138 quận Gò Vấp"})


def _run(*cmd: str) -> str:
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def pdf_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("doc") / "report.pdf"
    path.write_bytes(D.pdf(make_document()))
    return path


def _pages(path) -> int:
    return int(re.search(r"^Pages:\s+(\d+)", _run("pdfinfo", str(path)), re.M).group(1))


def _page_texts(path) -> list[str]:
    return [_run("pdftotext", "-layout", "-f", str(p), "-l", str(p), str(path), "-")
            for p in range(1, _pages(path) + 1)]


def test_pdf_holds_every_part_in_vietnamese(pdf_file):
    pages = _page_texts(pdf_file)
    text = "\n".join(pages)
    flat = " ".join(text.split())
    for part in ("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc", "UBND QUẬN GÒ VẤP",
                 "BAN CHỈ ĐẠO 138", "Gò Vấp, ngày 15 tháng 6 năm 2025", "BÁO CÁO", "I. TÌNH HÌNH CHUNG",
                 "- Trộm cắp tài sản: 456 vụ, giảm 12,0%;", "Hình 1. Số vụ theo phường", "Nơi nhận:",
                 "- Như trên;", "- Lưu: VT.", "TM. BAN CHỈ ĐẠO", "TRƯỞNG BAN", "Nguyễn Văn A",
                 "Phụ lục 1. Tình hình theo phường, xã", "Thay đổi được kiểm định bằng phép thử Poisson."):
        assert part in flat, part
    assert "Tình hình tội phạm 6 tháng đầu năm 2025 so với cùng kỳ năm 2024" in flat      # wrapped, whole
    assert re.search(r"Số:\s{3,}/BC-BCĐ138", text)                      # the clerk's blank is kept
    for name in NAMES:                                                   # no row dropped, none twice
        assert len(re.findall(rf"\b{name}\b", text)) == 1, name
    assert re.search(rf"Tổng cộng\s+{re.escape(TOTAL)}\s+giảm 8,4%", text)
    assert "…" not in text                                               # nothing cut short
    for word in ENGLISH_FIXED:
        assert word not in text
    # the header row is repeated on every page of the appendix, which takes more than 3 pages
    appendix = [p for p in pages if re.search(r"Phường \d{3}", p)]
    assert len(appendix) >= 3
    assert all(re.search(r"STT\s+Phường, xã\s+Số vụ\s+So với cùng kỳ", p) for p in appendix)


def test_pdf_pages_a4_landscape_appendix_and_numbers(pdf_file):
    n = _pages(pdf_file)
    assert n > 3
    pages = _page_texts(pdf_file)
    sizes = [re.search(r"Page\s+\d+ size:\s+([\d.]+) x ([\d.]+)",
                       _run("pdfinfo", "-f", str(p), "-l", str(p), str(pdf_file))).groups() for p in range(1, n + 1)]
    sizes = [(round(float(w)), round(float(h))) for w, h in sizes]
    wide = [i for i, p in enumerate(pages) if "Phụ lục 2." in p]
    assert len(wide) == 1
    assert sizes[wide[0]] == (842, 595)                                  # A4 landscape, in points
    assert all(s == (595, 842) for i, s in enumerate(sizes) if i != wide[0])
    assert "Phụ lục 1." not in pages[0] and pages[wide[0] - 1].count("Phụ lục 2.") == 0   # new pages
    # page numbers: none on page 1, then the number alone at the top of each page
    assert pages[0].split()[0] != "1"
    for i in range(1, n):
        assert pages[i].split()[0] == str(i + 1), i
    # the wrapped long cells of the landscape table are all there (read in text order)
    flat = " ".join(_run("pdftotext", "-f", str(wide[0] + 1), "-l", str(wide[0] + 1), str(pdf_file), "-").split())
    assert all(f"Nhóm tội danh số {g} có tên rất dài cần xuống dòng" in flat for g in range(1, 9))


def test_pdf_bold_rows_figure_and_metadata(pdf_file):
    xml = _run("pdftohtml", "-xml", "-i", "-stdout", str(pdf_file))
    bold = set(re.findall(r"<text [^>]*><b>([^<]*)</b></text>", xml))
    assert "Tổng cộng" in bold and any(b.startswith(TOTAL) for b in bold)   # (poppler joins a row's cells)
    assert not any(re.search(r"Phường \d{3}|^1\.053", b) for b in bold)
    assert "BAN CHỈ ĐẠO 138" in bold and "Nguyễn Văn A" in bold
    images = [line.split() for line in _run("pdfimages", "-list", str(pdf_file)).splitlines()[2:]]
    images = [i for i in images if i[2] == "image"]                      # (not the alpha masks)
    assert len(images) == 1 and images[0][0] in ("1", "2")               # the map, after the body
    info = _run("pdfinfo", str(pdf_file))
    assert re.search(r"^Title:\s+Báo cáo 6 tháng đầu năm 2025$", info, re.M)
    assert re.search(r"^Author:\s+Ban Chỉ đạo 138 quận Gò Vấp$", info, re.M)
    fonts = _run("pdffonts", str(pdf_file))
    assert "DejaVuSerif-Bold" in fonts and "DejaVuSerif-Italic" in fonts and "DejaVuSerif-BoldItalic" in fonts


def test_pdf_user_text_is_text(pdf_file):
    text = _run("pdftotext", "-layout", str(pdf_file), "-")
    assert text.count(TRAP) == 2                                          # the recipient and the cell
    assert re.search(r"=1\+2\s+-3\s+" + re.escape(TRAP), text)


def test_pdf_in_english_has_the_english_fixed_words(tmp_path):
    path = tmp_path / "en.pdf"
    path.write_bytes(D.pdf(make_document("en")))
    flat = " ".join(_run("pdftotext", "-layout", str(path), "-").split())
    assert "SOCIALIST REPUBLIC OF VIET NAM" in flat and "Independence - Freedom - Happiness" in flat
    assert "Recipients:" in flat
    assert "CỘNG HÒA" not in flat and "Nơi nhận" not in flat


def test_signature_never_stands_alone(tmp_path):
    for pages in (1, 2, 3):                          # bodies ending at different places on a page
        doc = make_document()
        doc.figures, doc.tables = [], []
        doc.body = doc.body[:3] * (14 * pages) + [("para", "Đoạn cuối của báo cáo.")]
        path = tmp_path / f"long{pages}.pdf"
        path.write_bytes(D.pdf(doc))
        texts = _page_texts(path)
        signed = [p for p in texts if "Nguyễn Văn A" in p]
        assert len(signed) == 1 and "Đoạn cuối của báo cáo." in signed[0] and "Nơi nhận:" in signed[0]


def test_a_cell_longer_than_a_page_goes_on_over_the_break(tmp_path):
    long = " ".join(f"ý{i}" for i in range(3000))
    t = D.Table("Phụ lục 1. Ghi chú", [("Nội dung", "text"), ("Số vụ", "num")],
                [["đầu", "1"], [long, "2"], ["cuối", "3"]])
    path = tmp_path / "tall.pdf"
    path.write_bytes(D.pdf(D.Document(issuer="BAN CHỈ ĐẠO 138", tables=[t])))
    words = _run("pdftotext", str(path), "-").split()
    assert [w for w in words if w.startswith("ý")] == long.split()      # every word, once, in order
    assert "đầu" in words and "cuối" in words and _pages(path) > 3


def test_bad_parts_are_refused():
    doc = make_document()
    doc.tables[0].rows[3] = ["1", "Phường 1"]
    with pytest.raises(ValueError, match=r"row 3: 2 cells for 4 columns"):
        D.pdf(doc)
    with pytest.raises(ValueError, match="lang"):
        D.docx(D.Document(issuer="X", lang="fr"))
    with pytest.raises(ValueError, match="kind"):
        D.pdf(D.Document(issuer="X", body=[("title", "x")]))


def _docx_texts(d) -> list[str]:
    out = [p.text for p in d.paragraphs]
    for t in d.tables:
        for row in t.rows:
            for cell in row.cells:
                out += [p.text for p in cell.paragraphs]
    return out


def test_docx_same_content_editable():
    d = python_docx.Document(io.BytesIO(D.docx(make_document())))
    texts = _docx_texts(d)
    flat = "\n".join(texts)
    for part in ("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc", "UBND QUẬN GÒ VẤP",
                 "BAN CHỈ ĐẠO 138\nQUẬN GÒ VẤP", "Số:       /BC-BCĐ138", "Gò Vấp, ngày 15 tháng 6 năm 2025",
                 "BÁO CÁO", "Tình hình tội phạm 6 tháng đầu năm 2025 so với cùng kỳ năm 2024",
                 "I. TÌNH HÌNH CHUNG", "- Trộm cắp tài sản: 456 vụ, giảm 12,0%;", "Hình 1. Số vụ theo phường",
                 "Nơi nhận:", "- " + TRAP, "TM. BAN CHỈ ĐẠO", "Nguyễn Văn A",
                 "Phụ lục 1. Tình hình theo phường, xã", "Phụ lục 2. Số vụ theo tháng và theo nhóm tội"):
        assert part in texts, part
    for word in ENGLISH_FIXED:
        assert word not in flat
    # header, signature block, two appendices
    assert len(d.tables) == 4
    wards = d.tables[2]
    assert len(wards.rows) == 1 + N_ROWS + 2
    assert [c.text for c in wards.rows[0].cells] == ["STT", "Phường, xã", "Số vụ", "So với cùng kỳ"]
    assert [wards.rows[1 + i].cells[1].text for i in range(N_ROWS + 1) if i != 40] == NAMES
    assert [c.text for c in wards.rows[41].cells] == ["", "=1+2", "-3", TRAP]
    assert wards.rows[0]._tr.trPr.find(qn("w:tblHeader")) is not None
    assert all(r._tr.trPr is None or r._tr.trPr.find(qn("w:tblHeader")) is None for r in wards.rows[1:])
    last = wards.rows[-1].cells
    assert [c.text for c in last] == ["", "Tổng cộng", TOTAL, "giảm 8,4%"]
    assert all(run.bold for c in last for run in c.paragraphs[0].runs if run.text)
    assert not any(run.bold for run in wards.rows[5].cells[1].paragraphs[0].runs)
    number_cell = wards.rows[5].cells[2].paragraphs[0]
    assert WD_ALIGN_PARAGRAPH.RIGHT in (number_cell.alignment, number_cell.style.paragraph_format.alignment)
    assert number_cell.style.font.size.pt == D.TABLE_PT
    # sections: the letter, appendix 1 (portrait), appendix 2 (landscape)
    orient = [(s.orientation, s.page_width > s.page_height) for s in d.sections]
    assert orient == [(WD_ORIENT.PORTRAIT, False), (WD_ORIENT.PORTRAIT, False), (WD_ORIENT.LANDSCAPE, True)]
    assert round(d.sections[0].left_margin.mm) == 30 and round(d.sections[0].right_margin.mm) == 15
    assert d.sections[0].different_first_page_header_footer                 # no number on page 1 …
    assert d.sections[0].header.paragraphs[0]._p.find(qn("w:fldSimple")).get(qn("w:instr")) == "PAGE"
    assert all(s.header.is_linked_to_previous and not s.different_first_page_header_footer
               for s in d.sections[1:])                                      # … then on every page
    assert [round(c.width.mm) for c in wards.columns] == [round(c.width.mm) for c in wards.rows[1].cells]
    assert round(sum(c.width.mm for c in wards.columns)) == 210 - 30 - 15
    assert len(d.inline_shapes) == 1
    assert d.core_properties.title == "Báo cáo 6 tháng đầu năm 2025"
    assert d.core_properties.author == "Ban Chỉ đạo 138 quận Gò Vấp"
    assert d.styles["Normal"].font.name == "Times New Roman"


# --------------------------------------------------------------------------- labelled map


def test_declutter_keeps_boxes_that_do_not_overlap():
    boxes = [(0, 0, 10, 5),        # kept: the first
             (5, 2, 15, 7),        # overlaps the first: dropped
             (10, 0, 20, 5),       # only touches the first at x = 10: kept
             (12, 4, 14, 6),       # overlaps the third (y 4–5): dropped
             (105, 105, 106, 106),  # inside the occupied box (a legend): dropped
             (0, 20, 10, 25)]      # free: kept
    keep = ex._declutter(boxes, occupied=[(100, 100, 110, 110)])
    assert keep.tolist() == [True, False, True, False, False, True]
    assert ex._declutter([]).tolist() == []


def _label_boxes(fig, labels) -> list:
    ax = fig.axes[0]
    renderer = fig.canvas.get_renderer()
    return [t.get_window_extent(renderer) for t in ax.texts if t.get_text() in labels]


def test_labels_on_a_district_all_show():
    w = small_wards()
    plain = ex.map_png(w, "count", title="Số vụ", dpi=60)
    labelled = ex.map_png(w, "count", title="Số vụ", dpi=60, label_field="name")
    a, b = imread(io.BytesIO(plain)), imread(io.BytesIO(labelled))
    assert a.shape == b.shape and np.abs(a - b).max() > 0.5
    assert ex.map_png(w, "count", title="Số vụ", dpi=60, label_field=None) == plain
    fig = ex.map_figure(w, "count", title="Số vụ", label_field="name")
    assert sorted(t.get_text() for t in fig.axes[0].texts if t.get_text() in set(w["name"])) == sorted(w["name"])
    with pytest.raises(ValueError, match="label_field"):
        ex.map_png(w, "count", title="Số vụ", label_field="ten")


def test_labels_on_a_city_fit_without_overlapping():
    g = gpd.read_file(HCMC_WARDS_FILE)
    g["count"] = np.arange(len(g), dtype=float)
    fig = ex.map_figure(g, "count", title="TP. Hồ Chí Minh", label_field="name")
    fig.canvas.draw()
    boxes = _label_boxes(fig, set(g["name"]))
    assert 50 <= len(boxes) < len(g)                   # as many as fit, not all 168
    legend = fig.axes[0].get_legend().get_window_extent(fig.canvas.get_renderer())
    for i, a in enumerate(boxes):
        assert not a.overlaps(legend)
        for b in boxes[i + 1:]:
            assert not a.overlaps(b), (a, b)
