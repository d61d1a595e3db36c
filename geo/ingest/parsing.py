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
    "category": ("loại tội phạm", "loại vụ việc", "tội danh", "loại", "category", "crime type",
                 "type", "offence", "offense"),
    "severity": ("mức độ", "mức độ nghiêm trọng", "phân loại tội phạm", "severity", "grade"),
    "cleared": ("đã khám phá", "khám phá", "đã điều tra khám phá", "điều tra khám phá", "cleared",
                "solved"),
    "lon": ("kinh độ", "lon", "lng", "long", "longitude"),
    "lat": ("vĩ độ", "lat", "latitude"),
    "x": ("x", "tọa độ x", "toạ độ x", "easting"),
    "y": ("y", "tọa độ y", "toạ độ y", "northing"),
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
    """

    def __init__(self, frame: pd.DataFrame, columns: dict[str, str], unknown: list[str],
                 name: str, crs: str | None = None, limits: ReadLimits | None = None):
        self.frame, self.columns, self.unknown, self.name, self.crs = frame, columns, unknown, name, crs
        self.limits = limits or ReadLimits()


def map_headers(headers: list[str], mapping: dict[str, str] | None = None,
                name: str = "file") -> tuple[dict[str, str], list[str]]:
    """Map the file's headers to canonical fields.

    ``mapping`` (field -> header) wins over recognition. Returns
    ``(field -> header, unknown headers)``. Raises :class:`InputError` when a
    mapped header is missing or two headers claim the same field.
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
    taken = set(out.values())
    unknown = []
    for h in headers:
        if h in taken:
            continue
        field = _ALIAS_LOOKUP.get(fold(h))
        if field is None or field in out:
            if field is not None and field in out and out[field] != h:
                unknown.append(h)  # a second column for a field already mapped
            elif field is None:
                unknown.append(h)
            continue
        out[field] = h
    return out, unknown


def read_table(path: str | Path, *, mapping: dict[str, str] | None = None,
               display_name: str | None = None, limits: ReadLimits | None = None) -> RawTable:
    """Read a CSV, XLSX or GeoJSON file of incidents within ``limits``."""
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
    elif suffix in (".geojson", ".json"):
        table, crs = _read_geojson(path, name)
        mapping = {"lon": GEOM_LON, "lat": GEOM_LAT, **(mapping or {})}
    elif suffix in (".xlsx", ".xlsm"):
        raise InputError(_("%(name)s: not an Excel workbook (no ZIP signature); save it again as .xlsx.", name=name))
    else:
        table = _read_csv(path, name, limits)
    headers = list(table.columns)
    columns, unknown = map_headers(headers, mapping, name)
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
    frame = pd.DataFrame({field: table[h].to_numpy(dtype=object) for field, h in columns.items()})
    frame["_row"] = np.arange(2, len(frame) + 2)
    empty = frame.drop(columns="_row").isna().all(axis=1)
    frame = frame[~empty.to_numpy()].reset_index(drop=True)
    return RawTable(frame, columns, unknown, name, crs, limits)


GEOM_LON, GEOM_LAT = "(geometry x)", "(geometry y)"


def _nfc(s):
    return unicodedata.normalize("NFC", s) if isinstance(s, str) else s


def decode_text(data: bytes, name: str) -> str:
    """Decode a text file: UTF-8 (with or without BOM), UTF-16 (Excel's "Unicode text"),
    else Windows-1258 (Vietnamese ANSI), always returned in Unicode NFC."""
    if data.startswith(b"\xef\xbb\xbf"):
        text = data[3:].decode("utf-8", errors="strict")
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = data.decode("utf-16")
    else:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            try:
                text = data.decode("cp1258")
            except UnicodeDecodeError as exc:
                raise InputError(_("%(name)s: not UTF-8, UTF-16 or Windows-1258 text (byte %(byte)s).",
                                   name=name, byte=exc.start)) from exc
    return unicodedata.normalize("NFC", text)


def _read_csv(path: Path, name: str, limits: ReadLimits):
    data = path.read_bytes()
    if b"\x00" in data[:4096] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputError(_("%(name)s: binary data, not a CSV file.", name=name))
    text = decode_text(data, name)
    if not text.strip():
        raise InputError(_("%(name)s: the file is empty.", name=name))
    text = text.lstrip("\ufeff")
    first = re.split(r"\r\n|\r|\n", text, maxsplit=1)[0]
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
    records = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        next(records)
        width = len(next(records, headers))
    except csv.Error as exc:
        raise InputError(_("%(name)s: line 2 cannot be read as CSV (%(error)s).", name=name, error=exc)) from exc
    if width > len(headers):
        raise InputError(_("%(name)s: line 2 has %(n)s fields but the header has %(m)s; check the separator "
                           "and the quotes of that line, or remove the extra fields.",
                           name=name, n=number(width), m=number(len(headers))))
    # pandas' C parser reads UTF-8 bytes much faster than a str (measured 3x on 180 MB)
    try:
        table = pd.read_csv(io.BytesIO(text.encode("utf-8")), encoding="utf-8", sep=delimiter, dtype=str,
                            keep_default_na=False, na_values=[""], skip_blank_lines=False, header=0,
                            index_col=False, engine="c")
    except pd.errors.ParserError as exc:
        m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
        raise InputError(_("%(name)s: line %(line)s has %(n)s fields but the header has %(m)s.", name=name,
                           line=m.group(2), n=m.group(3), m=m.group(1)) if m else
                         _("%(name)s: %(error)s.", name=name, error=str(exc).strip())) from exc
    table.columns = headers
    return table


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
