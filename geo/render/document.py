"""Reports as Vietnamese administrative documents (văn bản hành chính), in PDF and DOCX.

A :class:`Document` holds the parts of a document in the form of Nghị định 30/2020/NĐ-CP:
the two-column header (the issuing body and the số/ký hiệu on the left, the quốc hiệu and
tiêu ngữ and the place and date on the right), the title, the body, the figures (maps), the
"Nơi nhận" and the signature block, then the appendices (tables), each on a new page.
:func:`pdf` lays it out with reportlab (A4, as many pages as needed, no row ever dropped, the
table header repeated on every page, landscape pages for wide tables, page numbers from page
2 on, a heading kept with its text, the signature block never alone on a page, a figure
shrunk a little rather than leave a page half empty); :func:`docx` writes the same content
with python-docx, so a clerk can edit it (Word sections for the landscape appendices, the
table header row repeated, the same keep-together rules).

The texts come already formatted (``geo.format``) and are data: they go into reportlab's
Paragraph markup escaped, and into Word as plain runs. The only fixed words (quốc hiệu, tiêu
ngữ, "Nơi nhận:") come from the catalogue in ``Document.lang``.
"""
from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

import docx as python_docx
import matplotlib
from docx.enum.section import WD_ORIENT, WD_SECTION
from docx.enum.style import WD_STYLE_TYPE
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_BREAK
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Mm, Pt
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_JUSTIFY, TA_LEFT, TA_RIGHT
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import (
    BaseDocTemplate,
    Flowable,
    Frame,
    HRFlowable,
    KeepTogether,
    LongTable,
    NextPageTemplate,
    PageBreak,
    PageTemplate,
    Paragraph,
    Spacer,
    TableStyle,
)
from reportlab.platypus import Table as Grid  # ``Table`` is this module's appendix

from geo.format import LOCALES, N_, gettext

__all__ = ["Document", "Table", "docx", "pdf"]

# The document's fixed words (catalogue msgids).
_TEXT = {"nation": N_("SOCIALIST REPUBLIC OF VIET NAM"), "motto": N_("Independence - Freedom - Happiness"),
         "recipients": N_("Recipients:")}

# Page margins of Nghị định 30/2020/NĐ-CP (Phụ lục I): top and bottom 20 mm, left 30 mm (the
# binding edge), right 15 mm. A landscape page keeps the binding edge, now at the top.
MARGINS = {"top": 20 * mm, "bottom": 20 * mm, "left": 30 * mm, "right": 15 * mm}
MARGINS_LANDSCAPE = {"top": 30 * mm, "bottom": 15 * mm, "left": 20 * mm, "right": 20 * mm}

# Times New Roman, the decree's font, is not on every server; DejaVu Serif ships inside
# matplotlib (always installed here) and has every Vietnamese glyph. The DOCX names Times
# New Roman instead: Word has it, LibreOffice substitutes a metric-compatible serif.
SERIF = "DocSerif"
WORD_FONT = "Times New Roman"
_FONT_FILES = {SERIF: "DejaVuSerif.ttf", f"{SERIF}-Bold": "DejaVuSerif-Bold.ttf",
               f"{SERIF}-Italic": "DejaVuSerif-Italic.ttf", f"{SERIF}-BoldItalic": "DejaVuSerif-BoldItalic.ttf"}

BODY_PT = 13
TABLE_PT = 10.5
# Characters XML 1.0 cannot hold (control characters other than tab, line feed, carriage
# return): PDF text and Word both refuse them, so they are dropped.
_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


@dataclass
class Table:
    title: str                        # appendix title, e.g. "Phụ lục 1. Tình hình theo phường, xã"
    columns: list[tuple[str, str]]    # (header, kind); kind "text" (left) or "num" (right-aligned)
    rows: list[list[str]]             # cells already formatted as text (geo.format did it)
    bold: set[int] = field(default_factory=set)       # row indexes drawn bold (total, subtotal rows)
    widths: list[float] | None = None # relative column widths; None: from the content
    landscape: bool = False           # this appendix on landscape pages (wide tables)
    note: str = ""                    # a line under the table (e.g. how the change is tested)


@dataclass
class Document:
    issuer: str                       # issuing body, upper case, may contain "\n"
    issuer_parent: str = ""           # the body above it (cơ quan chủ quản); "" = none
    number: str = ""                  # the số/ký hiệu line, e.g. "Số:       /BC-BCĐ138"
    place_date: str = ""              # "Gò Vấp, ngày 15 tháng 6 năm 2025" (italic, right)
    title: str = ""                   # "BÁO CÁO"
    subtitle: str = ""                # what the report is about (trích yếu)
    body: list[tuple[str, str]] = field(default_factory=list)   # ("heading"|"para"|"bullet", text)
    tables: list[Table] = field(default_factory=list)           # appendices, after the signature
    figures: list[tuple[bytes, str]] = field(default_factory=list)  # (PNG, caption): maps, after the body
    recipients: list[str] = field(default_factory=list)         # "Nơi nhận:" lines
    signer: list[str] = field(default_factory=list)             # signature block lines, "" = blank line
    lang: str = "vi"
    properties: dict = field(default_factory=dict)              # metadata: title, author, subject


def _words(doc: Document) -> dict:
    if doc.lang not in LOCALES:
        raise ValueError(f"lang must be one of {sorted(LOCALES)}, got {doc.lang!r}")
    return {k: gettext(msg, doc.lang) for k, msg in _TEXT.items()}


def _check(doc: Document) -> None:
    kinds = {"heading", "para", "bullet"}
    for i, (kind, _text) in enumerate(doc.body):
        if kind not in kinds:
            raise ValueError(f"body part {i}: kind must be one of {sorted(kinds)}, got {kind!r}")
    for t in doc.tables:
        n = len(t.columns)
        if n == 0:
            raise ValueError(f"table {t.title!r} has no columns")
        for header, kind in t.columns:
            if kind not in ("text", "num"):
                raise ValueError(f"table {t.title!r}, column {header!r}: kind must be 'text' or 'num', got {kind!r}")
        for r, row in enumerate(t.rows):
            if len(row) != n:
                raise ValueError(f"table {t.title!r}, row {r}: {len(row)} cells for {n} columns")
        if t.widths is not None and (len(t.widths) != n or any(w <= 0 for w in t.widths)):
            raise ValueError(f"table {t.title!r}: widths must be {n} positive numbers")


def _clean(text) -> str:
    return _ILLEGAL.sub("", str(text))


def _markup(text) -> str:
    """User text as Paragraph markup that shows it literally (Paragraph parses tags)."""
    text = escape(_clean(text)).replace("\r\n", "\n").replace("\n", "<br/>")
    # Paragraph collapses spaces; the blank of "Số:       /BC-…" (left for the clerk) must stay
    return re.sub(r" {2,}", lambda m: "&nbsp;" * len(m.group()), text)


# --------------------------------------------------------------------------- PDF

_registered = False


def _register_fonts() -> None:
    global _registered
    if _registered:
        return
    folder = matplotlib.get_data_path() + "/fonts/ttf/"
    for name, file in _FONT_FILES.items():
        pdfmetrics.registerFont(TTFont(name, folder + file))
    pdfmetrics.registerFontFamily(SERIF, normal=SERIF, bold=f"{SERIF}-Bold", italic=f"{SERIF}-Italic",
                                  boldItalic=f"{SERIF}-BoldItalic")
    _registered = True


def _styles() -> dict[str, ParagraphStyle]:
    base = ParagraphStyle("base", fontName=SERIF, fontSize=BODY_PT, leading=BODY_PT * 1.3)
    bold = f"{SERIF}-Bold"

    def s(name, **kw):
        return ParagraphStyle(name, parent=base, **kw)

    return {
        "para": s("para", alignment=TA_JUSTIFY, firstLineIndent=10 * mm, spaceAfter=6),
        "heading": s("heading", fontName=bold, alignment=TA_JUSTIFY, firstLineIndent=10 * mm,
                     spaceBefore=6, spaceAfter=6, keepWithNext=1),
        "head_left": s("head_left", fontSize=12.5, leading=15.5, alignment=TA_CENTER),
        "head_left_bold": s("head_left_bold", fontName=bold, fontSize=12.5, leading=15.5, alignment=TA_CENTER),
        "number": s("number", alignment=TA_CENTER),
        "nation": s("nation", fontName=bold, fontSize=12, leading=15.5, alignment=TA_CENTER),
        "motto": s("motto", fontName=bold, leading=16, alignment=TA_CENTER),
        "place_date": s("place_date", fontName=f"{SERIF}-Italic", alignment=TA_CENTER),
        "title": s("title", fontName=bold, fontSize=14, leading=18, alignment=TA_CENTER),
        "subtitle": s("subtitle", fontName=bold, fontSize=13.5, leading=17.5, alignment=TA_CENTER),
        "caption": s("caption", fontName=f"{SERIF}-Italic", fontSize=12, leading=15, alignment=TA_CENTER,
                     spaceAfter=8),
        "recipients_head": s("recipients_head", fontName=f"{SERIF}-BoldItalic", fontSize=12, leading=14),
        "recipient": s("recipient", fontSize=11, leading=13),
        "signer": s("signer", fontName=bold, leading=17, alignment=TA_CENTER),
        "appendix": s("appendix", fontName=bold, fontSize=13.5, leading=17.5, alignment=TA_CENTER, spaceAfter=8),
        "cell": s("cell", fontSize=TABLE_PT, leading=TABLE_PT * 1.22, alignment=TA_LEFT),
        "cell_num": s("cell_num", fontSize=TABLE_PT, leading=TABLE_PT * 1.22, alignment=TA_RIGHT),
        "cell_head": s("cell_head", fontName=bold, fontSize=TABLE_PT, leading=TABLE_PT * 1.22,
                       alignment=TA_CENTER),
        "note": s("note", fontName=f"{SERIF}-Italic", fontSize=11, leading=14, alignment=TA_JUSTIFY,
                  spaceBefore=6),
    }


def _fit_size(text: str, font: str, size: float, width: float, smallest: float = 9) -> float:
    """The largest font size up to ``size`` at which the longest line of ``text`` fits ``width``."""
    longest = max((pdfmetrics.stringWidth(line, font, 1) for line in text.split("\n")), default=0)
    return size if longest * size <= width else max(smallest, width / longest * 0.98)


def _sized(style: ParagraphStyle, text: str, width: float) -> ParagraphStyle:
    size = _fit_size(text, style.fontName, style.fontSize, width)
    if size == style.fontSize:
        return style
    return ParagraphStyle(style.name + "_fit", parent=style, fontSize=size, leading=size * style.leading / style.fontSize)


def _column_widths(table: Table, total: float) -> list[float]:
    """Column widths in points filling ``total``: the given relative widths, or from the content.

    From the content: each column wants its longest cell (header: its longest word) on one
    line; when they do not fit, the widest columns are capped at the same width (found by
    bisection), and the room left is shared out in proportion.
    """
    if table.widths is not None:
        return [total * w / sum(table.widths) for w in table.widths]
    pad = 8
    bold = f"{SERIF}-Bold"
    want = []
    for c, (header, _kind) in enumerate(table.columns):
        head = max((pdfmetrics.stringWidth(w, bold, TABLE_PT) for w in str(header).split()), default=0)
        cells = [pdfmetrics.stringWidth(_clean(row[c]), bold if r in table.bold else SERIF, TABLE_PT)
                 for r, row in enumerate(table.rows)]
        want.append(max([head, *cells]) + pad)
    if sum(want) > total:
        lo, hi = 0.0, max(want)
        for _ in range(40):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if sum(min(w, mid) for w in want) <= total else (lo, mid)
        want = [min(w, lo) for w in want]
    return [w * total / sum(want) for w in want]


def _pdf_table(table: Table, width: float, st: dict) -> LongTable:
    widths = _column_widths(table, width)
    bold_cell = ParagraphStyle("cell_bold", parent=st["cell"], fontName=f"{SERIF}-Bold")
    bold_num = ParagraphStyle("cell_num_bold", parent=st["cell_num"], fontName=f"{SERIF}-Bold")
    pad = 6                                                     # left + right padding
    data = [[Paragraph(_markup(h), st["cell_head"]) for h, _k in table.columns]]
    for r, row in enumerate(table.rows):
        strong = r in table.bold
        font = bold_cell.fontName if strong else SERIF
        cells = []
        for cell, (_h, kind), w in zip(row, table.columns, widths):
            text = _clean(cell)
            if "\n" not in text and pdfmetrics.stringWidth(text, font, TABLE_PT) <= w - pad:
                cells.append(text)        # fits one line: drawn as it is, without markup (and faster)
            else:                         # wraps: a Paragraph, escaped
                cells.append(Paragraph(_markup(text), (bold_num if strong else st["cell_num"]) if kind == "num"
                                       else (bold_cell if strong else st["cell"])))
        data.append(cells)
    # splitInRow: a row taller than a page (a very long cell) goes on over the page break
    out = LongTable(data, colWidths=widths, repeatRows=1, hAlign="CENTER", splitInRow=1)
    style = [("FONT", (0, 1), (-1, -1), SERIF, TABLE_PT, TABLE_PT * 1.22)]
    style += [("ALIGN", (c, 1), (c, -1), "RIGHT") for c, (_h, kind) in enumerate(table.columns) if kind == "num"]
    style += [("FONTNAME", (0, 1 + r), (-1, 1 + r), bold_cell.fontName) for r in sorted(table.bold)
              if 0 <= r < len(table.rows)]
    out.setStyle(TableStyle(style + [
        ("GRID", (0, 0), (-1, -1), 0.5, colors.black),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("BACKGROUND", (0, 0), (-1, 0), colors.Color(0.92, 0.92, 0.92)),
        ("LEFTPADDING", (0, 0), (-1, -1), 3), ("RIGHTPADDING", (0, 0), (-1, -1), 3),
        ("TOPPADDING", (0, 0), (-1, -1), 2), ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
    ]))
    return out


class _Figure(Flowable):
    """A picture at the text width with its caption under it, never taller than 80 % of the
    page. Where less room is left on the page, it shrinks (to 60 % at the least) to end that
    page rather than leave it half empty; with even less room it starts the next page whole."""

    GAP = 4

    def __init__(self, png: bytes, caption: Paragraph | None, frame_height: float):
        super().__init__()
        self.image = ImageReader(io.BytesIO(png))
        self.caption, self.frame_height = caption, frame_height

    def wrap(self, avail_width, avail_height):
        iw, ih = self.image.getSize()
        cap = self.caption.wrap(avail_width, avail_height)[1] if self.caption else 0
        h = min(avail_width * ih / iw, self.frame_height * 0.8)
        room = avail_height - cap - 2 * self.GAP
        if h > room >= 0.6 * h:
            h = room
        self.img_w, self.img_h, self.cap_h = h * iw / ih, h, cap
        self.width = avail_width
        return avail_width, h + cap + 2 * self.GAP

    def draw(self):
        self.canv.drawImage(self.image, (self.width - self.img_w) / 2, self.cap_h + self.GAP, self.img_w,
                            self.img_h, mask="auto")
        if self.caption:
            self.caption.drawOn(self.canv, 0, 0)


def _page_number(canvas, doc) -> None:
    """The page number, centred in the top margin, from page 2 on (the decree's place for it)."""
    n = canvas.getPageNumber()
    if n < 2:
        return
    w, h = canvas._pagesize
    canvas.saveState()
    canvas.setFont(SERIF, 13)
    canvas.drawCentredString(w / 2, h - 12 * mm, str(n))
    canvas.restoreState()


def pdf(doc: Document) -> bytes:
    """``doc`` as an A4 PDF (reportlab platypus), with DejaVu Serif embedded."""
    _check(doc)
    words = _words(doc)
    _register_fonts()
    st = _styles()
    page_w, page_h = A4
    width = page_w - MARGINS["left"] - MARGINS["right"]
    height = page_h - MARGINS["top"] - MARGINS["bottom"]
    lw, lh = landscape(A4)
    l_width = lw - MARGINS_LANDSCAPE["left"] - MARGINS_LANDSCAPE["right"]
    props = doc.properties
    buf = io.BytesIO()
    template = BaseDocTemplate(
        buf, pagesize=A4, leftMargin=MARGINS["left"], rightMargin=MARGINS["right"], topMargin=MARGINS["top"],
        bottomMargin=MARGINS["bottom"], title=_clean(props.get("title", doc.title)),
        author=_clean(props.get("author", doc.issuer.replace("\n", " "))),
        subject=_clean(props.get("subject", doc.subtitle)), creator="hotspot138", lang=doc.lang)
    template.addPageTemplates([
        PageTemplate("portrait", pagesize=A4, onPage=_page_number,
                     frames=[Frame(MARGINS["left"], MARGINS["bottom"], width, height, id="p",
                                   leftPadding=0, rightPadding=0, topPadding=0, bottomPadding=0)]),
        PageTemplate("landscape", pagesize=landscape(A4), onPage=_page_number,
                     frames=[Frame(MARGINS_LANDSCAPE["left"], MARGINS_LANDSCAPE["bottom"], l_width,
                                   lh - MARGINS_LANDSCAPE["top"] - MARGINS_LANDSCAPE["bottom"], id="l",
                                   leftPadding=0, rightPadding=0, topPadding=0, bottomPadding=0)]),
    ])

    # ---- the header: issuing body | quốc hiệu, tiêu ngữ
    left_w, right_w = width * 0.42, width * 0.58
    left: list = []
    if doc.issuer_parent:
        text = doc.issuer_parent.upper()
        left.append(Paragraph(_markup(text), _sized(st["head_left"], text, left_w - 4)))
    issuer = doc.issuer.upper()
    issuer_style = _sized(st["head_left_bold"], issuer, left_w - 4)
    left.append(Paragraph(_markup(issuer), issuer_style))
    issuer_line = max(pdfmetrics.stringWidth(line, issuer_style.fontName, issuer_style.fontSize)
                      for line in issuer.split("\n"))
    left.append(HRFlowable(width=max(issuer_line / 3, 20 * mm), thickness=0.6, color=colors.black,
                           spaceBefore=3, spaceAfter=6, hAlign="CENTER"))
    if doc.number:
        left.append(Paragraph(_markup(doc.number), st["number"]))
    nation_style = _sized(st["nation"], words["nation"], right_w - 4)
    motto_style = _sized(st["motto"], words["motto"], right_w - 4)
    right = [Paragraph(_markup(words["nation"]), nation_style), Paragraph(_markup(words["motto"]), motto_style),
             HRFlowable(width=pdfmetrics.stringWidth(words["motto"], motto_style.fontName, motto_style.fontSize),
                        thickness=0.6, color=colors.black, spaceBefore=3, spaceAfter=6, hAlign="CENTER")]
    if doc.place_date:
        right.append(Paragraph(_markup(doc.place_date), st["place_date"]))
    head = Grid([[left, right]], colWidths=[left_w, right_w])
    head.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("ALIGN", (0, 0), (-1, -1), "CENTER"),
                              ("LEFTPADDING", (0, 0), (-1, -1), 0),
                              ("RIGHTPADDING", (0, 0), (-1, -1), 0)]))
    story: list = [head, Spacer(1, 10 * mm)]

    # ---- title, body, figures
    if doc.title:
        story.append(Paragraph(_markup(doc.title), st["title"]))
    if doc.subtitle:
        story.append(Paragraph(_markup(doc.subtitle), st["subtitle"]))
    if doc.title or doc.subtitle:
        story += [HRFlowable(width=40 * mm, thickness=0.6, color=colors.black, spaceBefore=2, spaceAfter=10,
                             hAlign="CENTER")]
    for kind, text in doc.body:
        if kind == "bullet":
            story.append(Paragraph("- " + _markup(text), st["para"]))
        else:
            story.append(Paragraph(_markup(text), st[kind]))
    for png, caption in doc.figures:
        story.append(_Figure(png, Paragraph(_markup(caption), st["caption"]) if caption else None, height))

    # ---- Nơi nhận | signature block
    recipients = [Paragraph(_markup(words["recipients"]), st["recipients_head"])]
    recipients += [Paragraph(_markup(line), st["recipient"]) for line in doc.recipients]
    signer = [Paragraph(_markup(line) if line else "&nbsp;", st["signer"]) for line in doc.signer]
    sign = Grid([[recipients, signer or [Spacer(1, 1)]]], colWidths=[width * 0.45, width * 0.55])
    sign.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0),
                              ("RIGHTPADDING", (0, 0), (-1, -1), 0)]))
    # the signature never stands alone on a page: the last paragraph or figure goes with it
    last = [story.pop()] if doc.body or doc.figures else []
    story.append(KeepTogether([*last, Spacer(1, 6 * mm), sign]))

    # ---- appendices, each from a new page
    for table in doc.tables:
        story += [NextPageTemplate("landscape" if table.landscape else "portrait"), PageBreak()]
        story.append(Paragraph(_markup(table.title), st["appendix"]))
        story.append(_pdf_table(table, l_width if table.landscape else width, st))
        if table.note:
            story.append(Paragraph(_markup(table.note), st["note"]))
    template.build(story)
    return buf.getvalue()


# --------------------------------------------------------------------------- DOCX


def _run(paragraph, text: str, *, bold=False, italic=False, size: float | None = None):
    run = paragraph.add_run(_clean(text))
    if bold:
        run.bold = True
    if italic:
        run.italic = True
    if size:
        run.font.size = Pt(size)
    return run


def _para(container, text: str = "", *, align=None, bold=False, italic=False, size=None,
          indent=False, after: float = 0):
    p = container.add_paragraph()
    lines = _clean(text).replace("\r\n", "\n").split("\n")
    for i, line in enumerate(lines):
        run = _run(p, line, bold=bold, italic=italic, size=size)
        if i < len(lines) - 1:
            run.add_break(WD_BREAK.LINE)
    fmt = p.paragraph_format
    if align is not None:
        p.alignment = align
    if indent:
        fmt.first_line_indent = Mm(10)
    fmt.space_before, fmt.space_after = Pt(0), Pt(after)
    return p


def _rule_under(paragraph, cell_width: float, rule_width: float) -> None:
    """A bottom border on ``paragraph``, indented so that it is ``rule_width`` long and centred."""
    side = max(0.0, (cell_width - rule_width) / 2)
    paragraph.paragraph_format.left_indent = Pt(side)
    paragraph.paragraph_format.right_indent = Pt(side)
    ppr = paragraph._p.get_or_add_pPr()
    border = OxmlElement("w:pBdr")
    bottom = OxmlElement("w:bottom")
    for k, v in (("w:val", "single"), ("w:sz", "6"), ("w:space", "1"), ("w:color", "000000")):
        bottom.set(qn(k), v)
    border.append(bottom)
    ppr.append(border)


def _two_columns(document, widths_mm: tuple[float, float]):
    """A borderless table of one row and two cells (header, signature)."""
    t = document.add_table(rows=1, cols=2)          # the default table style has no borders
    t.alignment = WD_TABLE_ALIGNMENT.CENTER
    t.autofit = False
    for column, cell, w in zip(t.columns, t.rows[0].cells, widths_mm):
        column.width = cell.width = Mm(w)          # the grid (LibreOffice) and the cell (Word)
    return t.rows[0].cells


def _page_field(paragraph) -> None:
    """A PAGE field: Word fills in the page number."""
    field = OxmlElement("w:fldSimple")
    field.set(qn("w:instr"), "PAGE")
    run = OxmlElement("w:r")
    text = OxmlElement("w:t")
    text.text = "2"
    run.append(text)
    field.append(run)
    paragraph._p.append(field)


def _set_page(section, landscape_page: bool) -> None:
    m = MARGINS_LANDSCAPE if landscape_page else MARGINS
    section.orientation = WD_ORIENT.LANDSCAPE if landscape_page else WD_ORIENT.PORTRAIT
    section.page_width, section.page_height = (Mm(297), Mm(210)) if landscape_page else (Mm(210), Mm(297))
    section.top_margin, section.bottom_margin = Mm(m["top"] / mm), Mm(m["bottom"] / mm)
    section.left_margin, section.right_margin = Mm(m["left"] / mm), Mm(m["right"] / mm)
    section.header_distance = Mm(8)


def _row_flag(tr, tag: str) -> None:
    """Switch on a row property: ``w:tblHeader`` (repeated on every page), ``w:cantSplit``."""
    flag = OxmlElement(tag)
    flag.set(qn("w:val"), "true")
    tr.get_or_add_trPr().append(flag)


def docx(doc: Document) -> bytes:
    """``doc`` as a Word document (python-docx) with the same parts as :func:`pdf`, editable."""
    _check(doc)
    words = _words(doc)
    d = python_docx.Document()
    normal = d.styles["Normal"]
    normal.font.name = WORD_FONT
    normal.font.size = Pt(BODY_PT)
    normal.element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), WORD_FONT)
    normal.paragraph_format.space_after = Pt(0)
    section = d.sections[0]
    _set_page(section, False)
    section.different_first_page_header_footer = True      # no number on page 1
    number_line = section.header.paragraphs[0]
    number_line.alignment = WD_ALIGN_PARAGRAPH.CENTER
    _page_field(number_line)
    width_mm = 210 - (MARGINS["left"] + MARGINS["right"]) / mm
    left_mm, right_mm = width_mm * 0.42, width_mm * 0.58

    # ---- header
    left, right = _two_columns(d, (left_mm, right_mm))
    left.paragraphs[0]._p.getparent().remove(left.paragraphs[0]._p)
    right.paragraphs[0]._p.getparent().remove(right.paragraphs[0]._p)
    centre = WD_ALIGN_PARAGRAPH.CENTER
    if doc.issuer_parent:
        _para(left, doc.issuer_parent.upper(), align=centre, size=12.5)
    issuer = doc.issuer.upper()
    p = _para(left, issuer, align=centre, bold=True, size=12.5)
    longest = max(len(line) for line in issuer.split("\n")) * 12.5 * 0.6      # points, roughly
    _rule_under(p, left_mm / 25.4 * 72, max(longest / 3, 57))
    if doc.number:
        _para(left, doc.number, align=centre).paragraph_format.space_before = Pt(6)
    _para(right, words["nation"], align=centre, bold=True, size=12)
    p = _para(right, words["motto"], align=centre, bold=True)
    _rule_under(p, right_mm / 25.4 * 72, len(words["motto"]) * BODY_PT * 0.5)
    if doc.place_date:
        _para(right, doc.place_date, align=centre, italic=True).paragraph_format.space_before = Pt(6)

    # ---- title, body, figures
    _para(d, "", after=6)
    if doc.title:
        _para(d, doc.title, align=centre, bold=True, size=14)
    if doc.subtitle:
        _para(d, doc.subtitle, align=centre, bold=True, size=13.5)
    if doc.title or doc.subtitle:
        _rule_under(_para(d, "", after=10), width_mm / 25.4 * 72, 40 / 25.4 * 72)
    for i, (kind, text) in enumerate(doc.body):
        p = _para(d, ("- " if kind == "bullet" else "") + text, align=WD_ALIGN_PARAGRAPH.JUSTIFY,
                  bold=kind == "heading", indent=True, after=6)
        # a heading stays with its text, the last paragraph with the signature
        p.paragraph_format.keep_with_next = kind == "heading" or (i == len(doc.body) - 1 and not doc.figures)
    for i, (png, caption) in enumerate(doc.figures):
        d.add_picture(io.BytesIO(png), width=Mm(width_mm))
        picture = d.paragraphs[-1]
        picture.alignment = centre
        picture.paragraph_format.keep_with_next = bool(caption) or i == len(doc.figures) - 1
        if caption:
            p = _para(d, caption, align=centre, italic=True, size=12, after=8)
            p.paragraph_format.keep_with_next = i == len(doc.figures) - 1

    # ---- Nơi nhận | signature block
    _para(d, "").paragraph_format.keep_with_next = True
    left, right = _two_columns(d, (width_mm * 0.45, width_mm * 0.55))
    left.paragraphs[0]._p.getparent().remove(left.paragraphs[0]._p)
    right.paragraphs[0]._p.getparent().remove(right.paragraphs[0]._p)
    _row_flag(left._tc.getparent(), "w:cantSplit")            # the signature block on one page
    _para(left, words["recipients"], bold=True, italic=True, size=12)
    for line in doc.recipients:
        _para(left, line, size=11)
    for line in doc.signer or [""]:
        _para(right, line, align=centre, bold=True)

    # ---- appendices, each a new section (landscape or not)
    cell_styles = {}                 # one paragraph style per kind of cell: quicker than formatting each
    for key, name, align in (("head", "Tiêu đề bảng", WD_ALIGN_PARAGRAPH.CENTER),
                             ("text", "Ô bảng", WD_ALIGN_PARAGRAPH.LEFT), ("num", "Ô bảng số", WD_ALIGN_PARAGRAPH.RIGHT)):
        style = cell_styles[key] = d.styles.add_style(name, WD_STYLE_TYPE.PARAGRAPH)
        style.base_style = normal
        style.font.size = Pt(TABLE_PT)
        style.paragraph_format.alignment = align
    for table in doc.tables:
        sec = d.add_section(WD_SECTION.NEW_PAGE)
        _set_page(sec, table.landscape)
        sec.different_first_page_header_footer = False
        _para(d, table.title, align=centre, bold=True, size=13.5, after=8)
        t = d.add_table(rows=1 + len(table.rows), cols=len(table.columns), style="Table Grid")
        t.alignment = WD_TABLE_ALIGNMENT.CENTER
        _row_flag(t.rows[0]._tr, "w:tblHeader")
        m = MARGINS_LANDSCAPE if table.landscape else MARGINS
        total_mm = (297 if table.landscape else 210) - (m["left"] + m["right"]) / mm
        _register_fonts()                     # the PDF's font metrics size the columns
        widths = _column_widths(table, total_mm * mm)
        for column, w in zip(t.columns, widths):
            column.width = Pt(w)
        grid = t._cells             # all cells in one pass (``row.cells`` walks the whole table each time)
        n = len(table.columns)
        for cells, texts, r in zip((grid[i:i + n] for i in range(0, len(grid), n)),
                                   [[h for h, _k in table.columns], *table.rows], range(-1, len(table.rows))):
            for c, (cell, text, (_h, kind)) in enumerate(zip(cells, texts, table.columns)):
                cell.width = Pt(widths[c])
                p = cell.paragraphs[0]
                p._p.style = cell_styles["head" if r < 0 else kind].style_id    # (``p.style =`` looks it up by name)
                _run(p, text, bold=r < 0 or r in table.bold)
        if table.note:
            _para(d, table.note, italic=True, size=11).paragraph_format.space_before = Pt(6)

    props = doc.properties
    core = d.core_properties
    core.title = _clean(props.get("title", doc.title))
    core.author = _clean(props.get("author", doc.issuer.replace("\n", " ")))
    core.subject = _clean(props.get("subject", doc.subtitle))
    core.language = doc.lang
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()
