"""Reading incident files (CSV, XLSX, GeoJSON) into raw text columns with canonical names.

Everything here is about the file: encodings, delimiters, header names, and the
bounds a file must keep (its type from its content, ZIP archives, columns, cells),
checked while reading so that a hostile file is refused before it is parsed whole.
The values are checked and converted in :mod:`geo.ingest.validate`.
"""
from __future__ import annotations

import csv
import hashlib
import io
import re
import unicodedata
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import shapely

from geo.errors import InputError
from geo.format import N_, number
from geo.format import gettext as _
from geo.names import fold

# Canonical field -> header spellings seen in committees' and police files (compared folded).
HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    "external_id": ("mã vụ", "mã vụ việc", "mã hồ sơ", "số hồ sơ", "số vụ", "id", "external_id",
                    "case id", "case_id", "incident id", "mã"),
    "occurred_at": ("thời gian xảy ra", "ngày xảy ra", "ngày giờ xảy ra", "thời điểm xảy ra",
                    "thời gian", "ngày", "date", "datetime", "occurred_at", "occurred at",
                    "date time", "ngay xay ra"),
    "time": ("giờ xảy ra", "giờ", "time", "hour"),
    # the end of a time range, when the victim does not know when it happened
    "date_to": ("đến ngày", "ngày kết thúc", "thời gian đến", "thời gian kết thúc", "date to", "end date",
                "occurred_to"),
    "time_to": ("đến giờ", "giờ kết thúc", "đến", "time to", "end time"),
    "category": ("loại tội phạm", "loại vụ việc", "tội danh", "loại", "category", "crime type",
                 "type", "offence", "offense"),
    "severity": ("mức độ", "mức độ nghiêm trọng", "phân loại tội phạm", "severity", "grade"),
    "cleared": ("đã khám phá", "khám phá", "đã điều tra khám phá", "điều tra khám phá", "cleared",
                "solved"),
    "lon": ("kinh độ", "lon", "lng", "long", "longitude"),
    "lat": ("vĩ độ", "lat", "latitude"),
    "x": ("x", "tọa độ x", "toạ độ x", "easting", "tọa độ 1", "toạ độ 1"),
    "y": ("y", "tọa độ y", "toạ độ y", "northing", "tọa độ 2", "toạ độ 2"),
    "crs": ("hệ tọa độ", "hệ toạ độ", "crs", "srs", "epsg"),
    "ward": ("phường/xã", "phường xã", "phường", "xã", "ward", "commune", "đơn vị hành chính"),
    "ward_code": ("mã phường/xã", "mã phường", "mã xã", "mã đơn vị", "ward code", "ward_code"),
    "district": ("quận/huyện", "quận huyện", "quận", "huyện", "district"),
    "address": ("địa chỉ", "nơi xảy ra", "địa điểm", "địa điểm xảy ra", "address", "location"),
    "description": ("mô tả", "tóm tắt", "nội dung", "tóm tắt vụ việc", "description", "summary",
                    "notes"),
}
_ALIAS_LOOKUP = {fold(a): field for field, aliases in HEADER_ALIASES.items() for a in aliases}
FIELDS = tuple(HEADER_ALIASES)

#: Fields a header can be mapped to (the import page's preview, messages), with their names.
FIELD_LABELS = {
    "external_id": N_("Incident id"), "occurred_at": N_("Date (and time)"), "time": N_("Time of day"),
    "date_to": N_("Until date (end of a time range)"), "time_to": N_("Until time (end of a time range)"),
    "category": N_("Category"), "severity": N_("Severity"), "cleared": N_("Cleared"),
    "lon": N_("Longitude"), "lat": N_("Latitude"), "x": N_("X (metres)"), "y": N_("Y (metres)"),
    "crs": N_("Coordinate system of the row"), "ward": N_("Ward or commune"), "ward_code": N_("Ward code"),
    "district": N_("District"), "address": N_("Address"), "description": N_("Description"),
}
assert tuple(FIELD_LABELS) == FIELDS

#: The two columns the rejected-rows file adds at the end of the original table (in the importing
#: user's language); a corrected rejects file is imported again with them ignored, in any language.
REJECT_ROW_HEADER, REJECT_REASONS_HEADER = N_("Row in the original file"), N_("Reasons rejected")
_ADDED_HEADERS = {fold(h) for h in (REJECT_ROW_HEADER, REJECT_REASONS_HEADER,
                                    "Dòng trong tệp gốc", "Lý do bị từ chối")}  # = the msgstr in vi

# A qualifier after the field's name: "X (VN-2000, múi 48)", "Kinh độ, WGS84", "Tọa độ X (m)".
_QUALIFIED = re.compile(r"^\s*(?P<base>[^(,]+?)\s*(?:\((?P<paren>[^)]*)\)|,(?P<comma>.*))\s*$")
# Coordinate systems a qualifier may name, matched on its folded form (geo.names.fold: no
# diacritics or punctuation, lower case): "VN-2000, múi 48" -> "vn 2000 mui 48".
_QUALIFIER_CRS = (
    (re.compile(r"\bvn ?2000 (?:utm )?(?:mui|zone) (48|49)\b"),
     lambda m: {"48": "EPSG:3405", "49": "EPSG:3406"}[m.group(1)]),
    (re.compile(r"\bvn ?2000 (?:tm ?3 )?(?:kinh tuyen truc )?(1\d\d)(?: (\d{1,2}))?\b"),
     lambda m: f"VN2000:{int(m.group(1)) + int(m.group(2) or 0) / 60:g}"),
    (re.compile(r"\butm (?:mui |zone )?(48|49) ?n?\b"), lambda m: f"EPSG:326{m.group(1)}"),
    (re.compile(r"\bwgs ?84\b"), lambda m: "EPSG:4326"),
    (re.compile(r"\bvn ?2000\b"), lambda m: "EPSG:4756"),
)


def split_header(header: str) -> tuple[str | None, str | None]:
    """The field a header names and the CRS its qualifier names (as :func:`geo.ingest.validate.parse_crs`
    reads it), e.g. ``"Y (VN-2000, múi 48)"`` -> ``("y", "EPSG:3405")``; ``(None, None)`` for a header
    that names no field."""
    field = _ALIAS_LOOKUP.get(fold(header))
    if field is not None:
        return field, None
    m = _QUALIFIED.match(str(header))
    field = _ALIAS_LOOKUP.get(fold(m.group("base"))) if m else None
    if field is None:
        return None, None
    qualifier = fold(m.group("paren") if m.group("paren") is not None else m.group("comma"))
    for pattern, spec in _QUALIFIER_CRS:
        found = pattern.search(qualifier)
        if found:
            return field, spec(found)
    return field, None


def strip_formula_guard(v):
    """A cell as typed before an export made it formula-safe: ``'=SUM(A1)`` -> ``=SUM(A1)``
    (:func:`geo.render.exports.csv_bytes` adds the ``'`` only before ``= + - @``, tab or CR)."""
    if type(v) is str and len(v) > 1 and v[0] == "'" and v[1] in "=+-@\t\r":
        return v[1:]
    return v

MAX_LINE_CHARS = 1_000_000
MAX_UNZIPPED = 1024 * 1024 * 1024  # bytes a ZIP may expand to
MAX_RATIO = 200  # and at most this many times its own size


@dataclass(frozen=True)
class ReadLimits:
    """The bounds an incident file must keep (settings IMPORT_MAX_COLUMNS, IMPORT_MAX_CELLS and
    IMPORT_MAX_FIELD_CHARS)."""

    max_columns: int = 500
    max_cells: int = 50_000_000
    max_field_chars: int = 10_000

    @classmethod
    def from_config(cls, config) -> ReadLimits:
        return cls(int(config["IMPORT_MAX_COLUMNS"]), int(config["IMPORT_MAX_CELLS"]),
                   int(config["IMPORT_MAX_FIELD_CHARS"]))


def sha256_of(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sniff(path: Path, name: str) -> str:
    """The file's type from its first bytes: "xlsx", "zip" (a zipped Shapefile), "geojson" or "csv"."""
    with open(path, "rb") as f:
        head = f.read(4096)
    if not head:
        raise InputError(_("%(name)s: the file is empty.", name=name))
    if head.startswith(b"PK\x03\x04"):
        check_zip(path, name)
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
        if "[Content_Types].xml" in names and any(n.startswith("xl/") for n in names):
            return "xlsx"
        if any(n.lower().endswith(".shp") for n in names):
            return "zip"
        raise InputError(_("%(name)s: a ZIP archive that is neither an Excel workbook nor a zipped Shapefile.",
                           name=name))
    text = head.lstrip(b"\xef\xbb\xbf").lstrip()
    if text.startswith(b"{"):
        return "geojson"
    if head.startswith((b"%PDF", b"\x89PNG", b"\xd0\xcf\x11\xe0", b"\x7fELF", b"GIF8", b"\xff\xd8")):
        raise InputError(_("%(name)s: not a table (the content is a PDF, an image, an old .xls or a program); "
                           "save it as CSV or .xlsx.", name=name))
    return "csv"


def incident_file_kind(path: Path, name: str) -> str:
    """:func:`sniff` for an incident file: "xlsx", "geojson" or "csv"; a zipped Shapefile is refused
    (it holds boundaries). The one check of the upload page and the import command."""
    kind = sniff(path, name)
    if kind == "zip":
        raise InputError(_("%(name)s: a zipped Shapefile holds boundaries, not incidents; load it on the "
                           "Boundaries page (/admin/boundaries) or with `flask --app server load-boundaries`.",
                           name=name))
    return kind


def check_zip(path: Path, name: str) -> None:
    """Refuse archives with paths that leave the folder, or that expand far beyond their size."""
    try:
        with zipfile.ZipFile(path) as z:
            total = 0
            for info in z.infolist():
                parts = Path(info.filename).parts
                if info.filename.startswith(("/", "\\")) or ".." in parts or ":" in info.filename:
                    raise InputError(_("%(name)s: the archive holds an unsafe path %(path)r.", name=name,
                                       path=info.filename))
                total += info.file_size
        size = max(path.stat().st_size, 1)
    except zipfile.BadZipFile as exc:
        raise InputError(_("%(name)s: a damaged ZIP archive (%(error)s).", name=name, error=exc)) from exc
    if total > MAX_UNZIPPED or total > MAX_RATIO * size:
        raise InputError(_("%(name)s: the archive would expand to %(total)s bytes from %(size)s; refused.",
                           name=name, total=number(total), size=number(size)))


class RawTable:
    """A file's rows as text (or Excel values) under canonical field names.

    ``frame`` has one column per recognised field plus ``_row`` (the row number
    a spreadsheet shows: the header is row 1); ``unknown`` lists headers that
    were not recognised; ``columns`` maps each field to the file's header.
    ``original`` is the whole table as read (every column, in the file's order, row ``_row``
    at position ``_row - 2``) for the rejected-rows file; ``layout`` says how the file was
    written (``kind`` csv/xlsx/geojson, ``encoding``, ``delimiter``) so that file is written
    the same way; ``crs`` is the CRS of the file (GeoJSON) or named in the coordinate headers.
    """

    def __init__(self, frame: pd.DataFrame, columns: dict[str, str], unknown: list[str],
                 name: str, crs: str | None = None, limits: ReadLimits | None = None,
                 original: pd.DataFrame | None = None, layout: dict | None = None):
        self.frame, self.columns, self.unknown, self.name, self.crs = frame, columns, unknown, name, crs
        self.limits = limits or ReadLimits()
        self.original = original
        self.layout = layout or {"kind": "csv", "encoding": "utf-8-sig", "delimiter": ","}
        self.crs_conflict: InputError | None = None  # the headers name two CRSs (raised without a chosen CRS)


def map_headers(headers: list[str], mapping: dict[str, str] | None = None,
                name: str = "file", ignore=()) -> tuple[dict[str, str], list[str]]:
    """Map the file's headers to canonical fields.

    ``mapping`` (field -> header) wins over recognition; headers in ``ignore`` are not used.
    A header is recognised by its name alone or with a qualifier in parentheses or after a
    comma (:func:`split_header`). The two columns a rejected-rows file adds are left out
    silently. Returns ``(field -> header, unknown headers)``. Raises :class:`InputError`
    when a mapped header is missing or two headers claim the same field.
    """
    mapping = dict(mapping or {})
    out: dict[str, str] = {}
    for field, header in mapping.items():
        if field not in FIELDS:
            raise InputError(_("Mapping names an unknown field %(field)r; fields are %(fields)s.", field=field,
                               fields=", ".join(FIELDS)))
        if header not in headers:
            raise InputError(_("%(name)s: mapping %(field)s=%(header)r but there is no such column; columns are "
                               "%(columns)s.", name=name, field=field, header=header, columns=", ".join(headers)))
        out[field] = header
    taken = set(out.values()) | set(ignore)
    unknown = []
    for h in headers:
        if h in taken or fold(h) in _ADDED_HEADERS:
            continue
        field = split_header(h)[0]
        if field is None or field in out:
            if field is not None and field in out and out[field] != h:
                unknown.append(h)  # a second column for a field already mapped
            elif field is None:
                unknown.append(h)
            continue
        out[field] = h
    return out, unknown


def read_table(path: str | Path, *, mapping: dict[str, str] | None = None,
               display_name: str | None = None, limits: ReadLimits | None = None, ignore=()) -> RawTable:
    """Read a CSV, XLSX or GeoJSON file of incidents within ``limits`` (``mapping`` and ``ignore``:
    :func:`map_headers`)."""
    limits = limits or ReadLimits()
    path = Path(path)
    name = display_name or path.name
    suffix = path.suffix.lower()
    with open(path, "rb") as f:
        head = f.read(8)
    crs = None
    if head.startswith(b"PK\x03\x04"):
        if suffix not in (".xlsx", ".xlsm"):
            raise InputError(_("%(name)s: the file is a ZIP archive; only .xlsx workbooks are read this way.",
                               name=name))
        check_zip(path, name)
        table = _read_xlsx(path, name, limits)
        layout = {"kind": "xlsx", "guarded": True}
    elif suffix in (".geojson", ".json"):
        table, crs = _read_geojson(path, name)
        layout = {"kind": "geojson", "encoding": "utf-8-sig", "delimiter": ","}
        mapping = {"lon": GEOM_LON, "lat": GEOM_LAT, **(mapping or {})}
    elif suffix in (".xlsx", ".xlsm"):
        raise InputError(_("%(name)s: not an Excel workbook (no ZIP signature); save it again as .xlsx.", name=name))
    else:
        table, layout = _read_csv(path, name, limits)
    headers = list(table.columns)
    columns, unknown = map_headers(headers, mapping, name, ignore)
    conflict = None
    try:
        crs = crs or _header_crs(columns, name)
    except InputError as exc:  # an error unless the user names the CRS (validate's ``crs``)
        conflict = exc
    shown = ", ".join(h for h in headers if h not in (GEOM_LON, GEOM_LAT))
    if not any(k in columns for k in ("lon", "x", "ward", "ward_code")):
        raise InputError(_("%(name)s: no coordinate columns (Kinh độ/Vĩ độ or X/Y) and no ward column "
                           "(Phường/Xã or Mã phường); columns are %(columns)s.", name=name, columns=shown))
    for field, message in (("occurred_at", N_("%(name)s: no date column (e.g. 'Ngày xảy ra'); columns are "
                                              "%(columns)s.")),
                           ("category", N_("%(name)s: no category column (e.g. 'Loại tội phạm'); columns are "
                                           "%(columns)s."))):
        if field not in columns:
            raise InputError(_(message, name=name, columns=shown))
    unguard = _unguard if layout.get("guarded") else (lambda col: col)
    frame = pd.DataFrame({field: unguard(table[h]) for field, h in columns.items()})
    frame["_row"] = np.arange(2, len(frame) + 2)
    empty = frame.drop(columns="_row").isna().all(axis=1)
    frame = frame[~empty.to_numpy()].reset_index(drop=True)
    raw = RawTable(frame, columns, unknown, name, crs, limits, original=table, layout=layout)
    raw.crs_conflict = conflict
    return raw


def _unguard(col: pd.Series) -> pd.Series:
    """:func:`strip_formula_guard` over a column (text columns of a CSV file in one vectorised step)."""
    if is_arrow_text(col):
        import pyarrow as pa
        import pyarrow.compute as pc

        arr = arrow_text(col)
        guarded = pc.fill_null(pc.match_substring_regex(arr, r"^'[=+\-@\t\r]"), False)
        return pd.Series(pd.array(pc.if_else(guarded, pc.utf8_slice_codeunits(arr, 1), arr), dtype="str"),
                         index=col.index)
    return pd.Series([strip_formula_guard(v) for v in col.to_numpy(dtype=object)], index=col.index, dtype=object)


def is_arrow_text(col: pd.Series) -> bool:
    """Whether ``col`` holds text in Arrow memory (a CSV file's columns), which pyarrow's compute
    functions read without making a Python object per cell; Excel and GeoJSON columns hold objects."""
    return isinstance(col.dtype, pd.StringDtype) and col.dtype.storage == "pyarrow"


def arrow_text(col: pd.Series):
    """The Arrow strings of a column for which :func:`is_arrow_text` holds, as Arrow keeps them (an
    array, or the chunks of a file read in blocks), without a copy."""
    import pyarrow as pa

    return pa.array(col.array)


def _header_crs(columns: dict[str, str], name: str) -> str | None:
    """The CRS the coordinate headers name ("X (VN-2000, múi 48)"), or None; two different ones are
    an error."""
    named = {columns[f]: split_header(columns[f])[1] for f in ("lon", "lat", "x", "y") if f in columns}
    specs = {s for s in named.values() if s}
    if len(specs) > 1:
        raise InputError(_("%(name)s: the coordinate columns name different coordinate systems (%(columns)s); "
                           "correct the headers or choose the coordinate system on import.", name=name,
                           columns="; ".join(f"{h}: {s}" for h, s in named.items() if s)))
    return specs.pop() if specs else None


GEOM_LON, GEOM_LAT = "(geometry x)", "(geometry y)"


def _nfc(s):
    return unicodedata.normalize("NFC", s) if isinstance(s, str) else s


def decode_text(data: bytes, name: str) -> str:
    """Decode a text file: UTF-8 (with or without BOM), UTF-16 (Excel's "Unicode text"),
    else Windows-1258 (Vietnamese ANSI), always returned in Unicode NFC."""
    return _decode(data, name)[0]


def _decode(data: bytes, name: str) -> tuple[str, str, bool]:
    """:func:`decode_text`, the encoding a rejected-rows file is written back in ("utf-16",
    "utf-8-sig" or "cp1258"), and whether ``data`` after its BOM already is that text in UTF-8
    (valid UTF-8 in NFC), so that a reader can take the bytes as they are."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        text, encoding = data.decode("utf-16"), "utf-16"
    else:
        try:  # UTF-8 is written back with a BOM, without which Excel shows Vietnamese as ANSI
            text, encoding = data.decode("utf-8-sig" if data.startswith(b"\xef\xbb\xbf") else "utf-8"), "utf-8-sig"
        except UnicodeDecodeError:
            try:
                text, encoding = data.decode("cp1258"), "cp1258"
            except UnicodeDecodeError as exc:
                raise InputError(_("%(name)s: not UTF-8, UTF-16 or Windows-1258 text (byte %(byte)s).",
                                   name=name, byte=exc.start)) from exc
    if unicodedata.is_normalized("NFC", text):
        return text, encoding, encoding == "utf-8-sig"
    return unicodedata.normalize("NFC", text), encoding, False


def _read_csv(path: Path, name: str, limits: ReadLimits):
    data = path.read_bytes()
    if b"\x00" in data[:4096] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputError(_("%(name)s: binary data, not a CSV file.", name=name))
    text, encoding, as_is = _decode(data, name)
    if not text or text.isspace():  # without the copies of text.strip() and re.split
        raise InputError(_("%(name)s: the file is empty.", name=name))
    text = text.lstrip("\ufeff")
    first = re.match(r"[^\r\n]*", text).group()
    if len(first) > MAX_LINE_CHARS:
        raise InputError(_("%(name)s: the header line is %(n)s characters long; this is not a table.",
                           name=name, n=number(len(first))))
    try:
        dialect = csv.Sniffer().sniff(first, delimiters=",;\t|")
        delimiter = dialect.delimiter
    except csv.Error:
        delimiter = ","
    try:
        headers = [h.strip() for h in next(csv.reader([first], delimiter=delimiter))]
    except (csv.Error, StopIteration) as exc:
        raise InputError(_("%(name)s: the header line cannot be read as CSV (%(error)s).", name=name,
                           error=exc)) from exc
    _check_width(headers, name, limits)
    _check_headers(headers, name)
    _check_cells(text.count("\n") + 1, len(headers), name, limits)
    # pandas takes the fields of a first data row wider than the header as index columns, which for a
    # row of a million fields costs minutes and gigabytes: that row is counted first (csv, one record)
    records = csv.reader(_lines(text), delimiter=delimiter)
    try:
        next(records)
        width = len(next(records, headers))
    except csv.Error as exc:
        raise InputError(_("%(name)s: line 2 cannot be read as CSV (%(error)s).", name=name, error=exc)) from exc
    if width > len(headers):
        raise InputError(_("%(name)s: line 2 has %(n)s fields but the header has %(m)s; check the separator "
                           "and the quotes of that line, or remove the extra fields.",
                           name=name, n=number(width), m=number(len(headers))))
    # the readers take UTF-8 bytes: the file's own when it is UTF-8 in NFC (without a copy), else the text's
    body, start = (data, 3 if data.startswith(b"\xef\xbb\xbf") else 0) if as_is else (text.encode("utf-8"), 0)
    del text, data
    # a byte scan says whether any cell may carry an export's formula guard (the same in UTF-8 as in the text);
    # most files have no "'" at all, which memchr finds at once
    guarded = body.find(b"'", start) >= 0 and re.compile(rb"'[=+\-@\t\r]").search(body, start) is not None
    table = _arrow_csv(body, start, len(headers), delimiter)
    if table is None:
        table = _pandas_csv(memoryview(body)[start:], delimiter, name)
    table.columns = headers
    return table, {"kind": "csv", "encoding": encoding, "delimiter": delimiter, "guarded": guarded}


def _lines(text: str):
    """The lines of ``text`` as iterating ``io.StringIO(text)`` gives them, without its copy of the text."""
    start = 0
    while start < len(text):
        end = text.find("\n", start) + 1 or len(text)
        yield text[start:end]
        start = end


def _arrow_csv(body: bytes, start: int, width: int, delimiter: str) -> pd.DataFrame | None:
    """The rows of a regular CSV file (every row with the header's number of fields) as text columns,
    empty cells missing, by pyarrow's reader: multi-threaded C++, measured 20x faster than pandas'
    C parser into text columns on 1M rows. None when pyarrow cannot read the file as pandas would
    (a row with fewer or more fields, an unclosed quote, a field larger than a block): then
    :func:`_pandas_csv` reads it."""
    import pyarrow as pa
    from pyarrow import csv as pacsv

    names = [str(i) for i in range(width)]
    try:
        table = pacsv.read_csv(
            pa.py_buffer(body).slice(start),
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=1),
            # a quoted field may hold a line break only where the file has quotes at all
            parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=body.find(b'"', start) >= 0,
                                             ignore_empty_lines=False),
            convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(names, pa.large_string()),
                                                 null_values=[""], strings_can_be_null=True,
                                                 quoted_strings_can_be_null=True, check_utf8=False))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    return pd.DataFrame({n: pd.array(table.column(n), dtype="str") for n in names})


def _pandas_csv(body, delimiter: str, name: str) -> pd.DataFrame:
    """The rows as text columns by pandas' C parser, which pads short rows with missing cells and
    keeps blank lines as empty rows (their row numbers count)."""
    try:
        return pd.read_csv(io.BytesIO(body), encoding="utf-8", sep=delimiter, dtype=str, keep_default_na=False,
                           na_values=[""], skip_blank_lines=False, header=0, index_col=False, engine="c")
    except pd.errors.ParserError as exc:
        m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
        raise InputError(_("%(name)s: line %(line)s has %(n)s fields but the header has %(m)s.", name=name,
                           line=m.group(2), n=m.group(3), m=m.group(1)) if m else
                         _("%(name)s: %(error)s.", name=name, error=str(exc).strip())) from exc


def _check_width(headers, name, limits: ReadLimits):
    if len(headers) > limits.max_columns:
        raise InputError(_("%(name)s: %(n)s columns; at most %(max)s are read. Keep the incident columns "
                           "and save the file again.", name=name, n=number(len(headers)),
                           max=number(limits.max_columns)))


def _check_cells(rows: int, width: int, name, limits: ReadLimits):
    if rows * width > limits.max_cells:
        raise _too_many_cells(rows, width, name, limits)


def _too_many_cells(rows: int, width: int, name, limits: ReadLimits) -> InputError:
    return InputError(_("%(name)s: about %(rows)s rows of %(width)s columns is more than %(max)s cells; "
                        "split the file or remove unused columns.", name=name, rows=number(rows),
                        width=number(width), max=number(limits.max_cells)))


def _check_headers(headers, name):
    if not any(headers):
        raise InputError(_("%(name)s: the first row (the header) is empty.", name=name))
    seen = {}
    for i, h in enumerate(headers):
        if h and h in seen:
            raise InputError(_("%(name)s: column %(column)r appears twice (columns %(first)s and %(second)s).",
                               name=name, column=h, first=seen[h] + 1, second=i + 1))
        seen[h] = i


def _read_xlsx(path: Path, name: str, limits: ReadLimits):
    from openpyxl import load_workbook

    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # zipfile.BadZipFile, KeyError for a broken package, ...
        raise InputError(_("%(name)s: cannot open as an Excel workbook (%(error)s).", name=name, error=exc)) from exc
    try:
        ws = wb.worksheets[0]
        # the sheet's declared size (its <dimension>) before any cell is read; then every row is read
        # whatever it declares (openpyxl would stop at a declared size that is too small) and the
        # cells are counted as they come
        if ws.max_row and ws.max_column:
            _check_cells(ws.max_row, ws.max_column, name, limits)
        ws.reset_dimensions()
        it = ws.iter_rows(values_only=True)
        headers = None
        for row in it:
            if row and any(v is not None and str(v).strip() for v in row):
                headers = ["" if v is None else _nfc(str(v)).strip() for v in row]
                break
        if headers is None:
            raise InputError(_("%(name)s: the first sheet is empty.", name=name))
        while headers and not headers[-1]:
            headers.pop()
        _check_width(headers, name, limits)
        _check_headers(headers, name)
        width = len(headers)
        rows, cells = [], 0
        for r in it:
            cells += max(len(r), width)
            if cells > limits.max_cells:
                raise _too_many_cells(len(rows) + 2, max(len(r), width), name, limits)
            rows.append([_nfc(v) for v in r[:width]] + [None] * (width - len(r)))
    finally:
        wb.close()
    headers = [h or _("(column %(n)s)", n=i + 1) for i, h in enumerate(headers)]
    return pd.DataFrame(rows, columns=headers, dtype=object)


def _read_geojson(path: Path, name: str):
    import pyogrio

    try:
        df = pyogrio.read_dataframe(path, datetime_as_string=True)
    except Exception as exc:
        raise InputError(_("%(name)s: cannot read as GeoJSON (%(error)s).", name=name, error=exc)) from exc
    props = [c for c in df.columns if c != "geometry"]
    geom = df.geometry.values
    bad = np.flatnonzero(~(shapely.get_type_id(geom) == 0) & ~geom.isna())
    if len(bad):
        raise InputError(_("%(name)s: feature %(n)s has a %(type)s geometry; incidents must be points.",
                           name=name, n=bad[0] + 1, type=geom[bad[0]].geom_type))
    table = pd.DataFrame({c: [None if v is None or (isinstance(v, float) and np.isnan(v)) else _nfc(v)
                              for v in df[c].astype(object)] for c in props}, dtype=object)
    missing = geom.isna()
    table[GEOM_LON] = np.where(missing, None, df.geometry.x.to_numpy()).astype(object)
    table[GEOM_LAT] = np.where(missing, None, df.geometry.y.to_numpy()).astype(object)
    crs = df.crs.to_string() if df.crs is not None else "EPSG:4326"
    return table, crs
