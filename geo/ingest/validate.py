"""Checking and converting incident rows: dates, coordinates, categories, wards.

Every rule is vectorised over the whole table; a row that breaks a rule is
rejected with its row number, the column (the file's own header), the value
and the reason, and the other rows go on. A CSV file's columns are text in Arrow
memory (:func:`geo.ingest.parsing.is_arrow_text`): the common spellings of dates, times
and numbers are read there by pyarrow's compute functions, and only the other cells
become Python objects for the rules below.

Reasons and warnings are catalogue messages rendered in the importing user's language when the
file is read (the request's locale; the command line's BABEL_DEFAULT_LOCALE): the rejected rows
are kept as the CSV that person downloads, a document like any export.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pyproj import CRS, Transformer
from pyproj.crs import ProjectedCRS
from pyproj.crs.coordinate_operation import TransverseMercatorConversion

from geo.categories import BUILTIN, SEVERITY_LOOKUP, Catalogue, normalise_raw, unknown_message
from geo.errors import InputError
from geo.format import gettext as _
from geo.format import number
from geo.ingest.parsing import FIELD_LABELS, RawTable, arrow_text, is_arrow_text
from geo.names import fold, fold_unit, strip_unit_type
from geo.periods import DEFAULT_TIMEZONE

DEFAULT_TZ = DEFAULT_TIMEZONE  # the setting TIMEZONE: the time zone of times without an offset
EXCEL_EPOCH = pd.Timestamp("1899-12-30")
EARLIEST = pd.Timestamp("1900-01-01")  # older dates are typing errors in incident records
VN_LON, VN_LAT = (100.0, 118.0), (6.0, 24.5)  # generous box around Viet Nam and its islands

TRUE_WORDS = {"co", "x", "yes", "y", "true", "1", "da kham pha", "da", "kham pha", "dung"}
FALSE_WORDS = {"khong", "no", "n", "false", "0", "chua", "chua kham pha", "sai"}


@dataclass
class Extent:
    """Where incidents may lie: the union of the loaded boundary versions' bounding boxes."""

    minx: float
    miny: float
    maxx: float
    maxy: float
    margin: float = 0.02  # degrees, about 2 km

    def contains(self, lon, lat):
        return ((lon >= self.minx - self.margin) & (lon <= self.maxx + self.margin)
                & (lat >= self.miny - self.margin) & (lat <= self.maxy + self.margin))

    def __str__(self):
        return f"{self.minx:.3f}–{self.maxx:.3f} E, {self.miny:.3f}–{self.maxy:.3f} N"


@dataclass
class WardIndex:
    """Look-ups of a boundary version's units by code, by name and by (name, parent)."""

    version_id: int
    version_name: str
    valid_from: dt.date | None
    valid_to: dt.date | None
    areas: pd.DataFrame  # area_id, code, name, parent_name
    by_code: dict = field(init=False)
    by_name: dict = field(init=False)
    by_name_parent: dict = field(init=False)

    def __post_init__(self):
        self.by_code = dict(zip(self.areas["code"], self.areas.index))
        self.by_name, self.by_name_parent = {}, {}
        for i, r in self.areas.iterrows():
            key = strip_unit_type(fold_unit(r["name"]))
            self.by_name.setdefault(key, []).append(i)
            if r.get("parent_name"):
                pkey = strip_unit_type(fold_unit(r["parent_name"]))
                self.by_name_parent.setdefault((key, pkey), []).append(i)

    def valid_on(self, d: dt.date) -> bool:
        return ((self.valid_from is None or d >= self.valid_from)
                and (self.valid_to is None or d <= self.valid_to))


@dataclass
class Validated:
    """Rows that passed, rows that did not, and warnings about the file."""

    rows: pd.DataFrame
    rejects: pd.DataFrame
    warnings: list[str]
    # the labels filed as "khac" with their rows (columns label, count), most frequent first
    unknown_categories: pd.DataFrame | None = None


REJECT_COLUMNS = ["row", "column", "value", "reason"]


class _Rejects:
    """Every problem of every row: a row may have several (a bad time, a bad latitude and no
    category are three lines of the report); ``bad`` marks the rows with at least one."""

    def __init__(self, raw: RawTable):
        self.raw, self.parts = raw, []
        self.bad = np.zeros(len(raw.frame), dtype=bool)

    def add(self, mask, field_name: str, reason, values=None):
        mask = np.asarray(mask, dtype=bool)
        if not mask.any():
            return
        f = self.raw.frame
        vals = values if values is not None else (f[field_name] if field_name in f else pd.Series([""] * len(f)))
        reasons = reason[mask] if isinstance(reason, (np.ndarray, pd.Series)) else reason
        self.parts.append(pd.DataFrame({
            "row": f["_row"].to_numpy()[mask],
            "column": self.raw.columns.get(field_name, field_name),
            "value": pd.Series(vals).iloc[np.flatnonzero(mask)].to_numpy(dtype=object),
            "reason": np.asarray(reasons, dtype=object) if not isinstance(reasons, str) else reasons,
        }))
        self.bad |= mask

    def frame(self) -> pd.DataFrame:
        if not self.parts:
            return pd.DataFrame(columns=REJECT_COLUMNS)
        out = pd.concat(self.parts, ignore_index=True).sort_values("row", kind="stable")
        out["value"] = out["value"].map(lambda v: "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v))
        return out.reset_index(drop=True)


def _clean(v):
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return None
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    v = str(v).strip()
    return v or None


#: The characters ``str.strip()`` removes (those of ``str.isspace``), for pyarrow's trim.
WHITESPACE = ("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
              "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")


def _arrow_series(arr, index) -> pd.Series:
    return pd.Series(pd.array(arr, dtype="str"), index=index)


def _text(s: pd.Series) -> pd.Series:
    """Values as stripped strings (whole floats without ".0"), missing or blank as missing (None,
    or NaN in a text column in Arrow memory, which stays there)."""
    if is_arrow_text(s):
        arr = pc.utf8_trim(arrow_text(s), WHITESPACE)
        return _arrow_series(pc.if_else(pc.equal(pc.utf8_length(arr), 0), pa.scalar(None, arr.type), arr), s.index)
    # One comprehension with a fast path for str: measured 3x faster than pandas' .str.strip()
    return pd.Series([(v.strip() or None) if type(v) is str else _clean(v) for v in s.to_numpy(dtype=object)],
                     index=s.index, dtype=object)


def _objects(s: pd.Series, rows: np.ndarray) -> pd.Series:
    """The cells ``rows`` (positions) of ``s`` as Python objects, missing as None, under their labels:
    what the rules for the uncommon spellings read."""
    sub = s.iloc[rows]
    return pd.Series(sub.to_numpy(dtype=object, na_value=None), index=sub.index, dtype=object)


def _missing(n: int, dtype: str):
    """A nullable column of ``n`` missing values ("Int64" or "boolean")."""
    mask = np.ones(n, dtype=bool)
    if dtype == "boolean":
        return pd.arrays.BooleanArray(np.zeros(n, dtype=bool), mask)
    return pd.arrays.IntegerArray(np.zeros(n, dtype=np.int64), mask)


def _map_unique(s: pd.Series, func, dtype=None) -> pd.Series:
    """``s.map(func)`` computed once per distinct value (files repeat a few labels a million times);
    ``dtype`` ("Int64", "boolean") makes the result a nullable column without a conversion per row."""
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    if dtype is not None:
        return pd.Series(pd.array([func(u) for u in uniques], dtype=dtype).take(codes, allow_fill=True),
                         index=s.index)
    mapped = np.array([func(u) for u in uniques] + [None], dtype=object)
    return pd.Series(mapped[codes], index=s.index, dtype=object)


# --------------------------------------------------------------------------- dates

_VN_DATE = re.compile(
    r"^\s*(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})(?:[ T,]+(\d{1,2})\s*(?:[:hg]|giờ)\s*(\d{1,2})?"
    r"(?:\s*(?::|phút)\s*(\d{1,2}))?\s*(?:phút|p)?)?\s*$", re.IGNORECASE)
_ISO_DATE = re.compile(r"^\s*\d{4}-\d{2}-\d{2}")
_TZ_SUFFIX = re.compile(r"(?:Z|[+-]\d{2}:?\d{2})\s*$")
# a time of day: "16:31", "14h30", "14 giờ 30 phút", "6h sáng", "10 giờ đêm"
_TIME_PART = (r"(\d{1,2})\s*(?:[:hg]|giờ)\s*(\d{1,2})?(?:\s*(?::|phút)\s*(\d{1,2}))?\s*(?:phút|p)?"
              r"(?:\s*(sáng|trưa|chiều|tối|đêm))?")
_TIME = re.compile(rf"^\s*{_TIME_PART}\s*$", re.IGNORECASE)
# a time range in one cell: "22:00-06:00", "22h - 6h", "từ 22 giờ đến 6 giờ sáng"
_TIME_RANGE = re.compile(rf"^\s*(?:từ\s*)?{_TIME_PART}\s*(?:-|–|—|~|đến|to)\s*{_TIME_PART}\s*$", re.IGNORECASE)
# a cell that means to be a range (a separator between two numbers), parsed or not
_LOOKS_RANGE = re.compile(r"\d.*(?:-|–|—|~|đến|to).*\d", re.IGNORECASE)


class Times(NamedTuple):
    """What :func:`parse_datetimes` gives: UTC start, date error, time error, whether the row has a
    time of day, and the UTC end of a time range given in the time cell (NaT without one)."""

    utc: pd.Series
    err: pd.Series
    terr: pd.Series
    has_time: np.ndarray
    to: pd.Series


def parse_datetimes(values: pd.Series, times: pd.Series | None = None, *, tz: str = DEFAULT_TZ) -> Times:
    """Parse dates in the forms Vietnamese files use, returning :class:`Times` (UTC timestamps, date
    error, time error, time known, end of a range in the time cell).

    Accepted: ISO 8601 (with or without offset), dd/mm/yyyy, dd/mm/yyyy HH:MM[:SS]
    (also with '-' or '.', and "14h30"), Excel serial numbers, and Excel/openpyxl
    date and datetime cells. Times without an offset are local time in ``tz`` (the setting
    TIMEZONE). ``times`` is an optional separate time-of-day column (:func:`parse_times`),
    used only where the date has no time of its own; a range there ("22:00-06:00") gives the start
    and the end (the next day when the end is not after the start). The errors are text per row, or None.
    """
    n = len(values)
    if is_arrow_text(values):
        # dd/mm/yyyy [HH:MM] in Arrow (measured 30x faster than pandas' parser on 1M rows); the other
        # spellings go through the rules of _parse_dates
        text = _text(values)
        missing_input = text.isna().to_numpy()
        local, has_time, common = _common_dates(text)
        utc = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")
        err = pd.Series(None, index=values.index, dtype=object)
        rest = np.flatnonzero(~common & ~missing_input)
        if len(rest):
            r_local, r_utc, r_err, r_has_time = _parse_dates(_objects(text, rest))
            local.iloc[rest] = r_local.to_numpy()
            utc.iloc[rest] = r_utc.to_numpy()
            err.iloc[rest] = r_err.to_numpy()
            has_time[rest] = r_has_time
    else:
        values = pd.Series(values.to_numpy(dtype=object), index=values.index, dtype=object)
        missing_input = (values.isna() | values.map(lambda v: isinstance(v, str) and not v.strip())).to_numpy()
        local, utc, err, has_time = _parse_dates(values)

    terr = pd.Series(None, index=values.index, dtype=object)
    local_to = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")
    if times is not None:
        seconds, bad_time, end_seconds = parse_times(times)
        ranged = np.zeros(n, dtype=bool)
        ranged[bad_time] = _looks_range(times[bad_time])
        terr[bad_time & ~ranged] = _("not a time of day (expected HH:MM or 14h30)")
        terr[bad_time & ranged] = _("not a time range (expected 22:00-06:00 or từ 22 giờ đến 6 giờ)")
        use = ~np.isnan(seconds) & ~has_time & local.notna().to_numpy()
        day = local[use]
        local[use] = day + pd.to_timedelta(seconds[use], unit="s")
        has_time |= use
        to = use & ~np.isnan(end_seconds)
        if to.any():
            # an end not after the start is on the next day: "22h-6h" ends at 6h the morning after
            next_day = (end_seconds[to] <= seconds[to]).astype(int)
            local_to[to] = (local[to].dt.normalize() + pd.to_timedelta(end_seconds[to], unit="s")
                            + pd.to_timedelta(next_day, unit="D"))

    utc = _to_utc(local, utc, tz)
    err[utc.isna().to_numpy() & missing_input & err.isna().to_numpy()] = _("no date")
    err[utc.isna().to_numpy() & ~missing_input & err.isna().to_numpy()] = (
        _("not a date (expected dd/mm/yyyy, dd/mm/yyyy HH:MM or yyyy-mm-dd)"))
    early = (utc < EARLIEST).to_numpy()
    err[early & err.isna().to_numpy()] = _("date before 1900; check the year")
    utc[early] = pd.NaT
    to = _to_utc(local_to, pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]"), tz)
    return Times(utc, err, terr, has_time & utc.notna().to_numpy(), to.where(utc.notna()))


#: The spellings of dates most files use, read in Arrow: (strptime format, the cells' exact shape, has a
#: time of day).
COMMON_DATES = (("%d/%m/%Y %H:%M", r"^[0-9]{2}/[0-9]{2}/[0-9]{4} [0-9]{2}:[0-9]{2}$", True),
                ("%d/%m/%Y", r"^[0-9]{2}/[0-9]{2}/[0-9]{4}$", False))


def _common_dates(text: pd.Series) -> tuple[pd.Series, np.ndarray, np.ndarray]:
    """Local times, time-known and done masks of the cells of an Arrow text column written exactly in
    a :data:`COMMON_DATES` shape (two-digit day and month) that are a real day of years 1900-2199: the
    parsed day and month must be the cell's ("31/02/2024" is not 2 March). The other cells are left to
    :func:`_parse_dates`, as are years outside pandas' timestamps."""
    n = len(text)
    arr = arrow_text(text)
    local = np.full(n, np.datetime64("NaT"), dtype="datetime64[s]")
    has_time = np.zeros(n, dtype=bool)
    done = np.zeros(n, dtype=bool)
    for fmt, shape, with_time in COMMON_DATES:
        rows = np.flatnonzero(pc.fill_null(pc.match_substring_regex(arr, shape), False).to_numpy(zero_copy_only=False)
                              & ~done)
        if not len(rows):
            continue
        cells = pc.take(arr, rows)
        stamp = pc.strptime(cells, format=fmt, unit="s", error_is_null=True)
        year = pc.year(stamp)
        ok = pc.and_(pc.and_(pc.equal(pc.day(stamp), pc.cast(pc.utf8_slice_codeunits(cells, 0, 2), pa.int64())),
                             pc.equal(pc.month(stamp), pc.cast(pc.utf8_slice_codeunits(cells, 3, 5), pa.int64()))),
                     pc.and_(pc.greater_equal(year, 1900), pc.less(year, 2200)))
        ok = pc.fill_null(ok, False).to_numpy(zero_copy_only=False)
        local[rows[ok]] = stamp.to_numpy(zero_copy_only=False)[ok]
        has_time[rows[ok]] = with_time
        done[rows[ok]] = True
    return pd.Series(local.astype("datetime64[ns]"), index=text.index), has_time, done


def _parse_dates(values: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series, np.ndarray]:
    """Dates of cells that are objects (:func:`parse_datetimes`): local times, UTC times (of cells with an
    offset), errors found so far, and whether each has a time of day."""
    n = len(values)
    local = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")
    utc = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")
    err = pd.Series(None, index=values.index, dtype=object)
    has_time = np.zeros(n, dtype=bool)

    plain_text = pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty")
    is_dt = (np.zeros(n, dtype=bool) if plain_text
             else values.map(lambda v: isinstance(v, (dt.datetime, dt.date)) and v is not pd.NaT).to_numpy(dtype=bool))
    if is_dt.any():
        cells = values[is_dt]
        aware = cells.map(lambda v: isinstance(v, dt.datetime) and v.tzinfo is not None).to_numpy(dtype=bool)
        naive = [v.replace(tzinfo=None) if isinstance(v, dt.datetime) else dt.datetime(v.year, v.month, v.day)
                 for v in cells]
        conv = pd.Series(pd.to_datetime(naive), index=cells.index)
        if aware.any():
            utc[cells.index[aware]] = [pd.Timestamp(v).tz_convert("UTC").tz_localize(None) for v in cells[aware]]
        local[cells.index[~aware]] = conv[~aware]
        has_time[is_dt] = cells.map(lambda v: isinstance(v, dt.datetime) and v.time() != dt.time()).to_numpy()

    is_num = (np.zeros(n, dtype=bool) if plain_text
              else values.map(lambda v: isinstance(v, (int, float, np.integer, np.floating))
                              and not isinstance(v, bool)).to_numpy(dtype=bool) & ~is_dt)
    text = _text(values.where(~(is_dt | is_num), None))
    numeric_text = pd.to_numeric(text.str.replace(",", ".", regex=False), errors="coerce")
    serial = pd.Series(np.nan, index=values.index)
    serial[is_num] = pd.to_numeric(values[is_num], errors="coerce").astype(float)
    looks_serial = numeric_text.notna() & text.str.fullmatch(r"\d{4,5}([.,]\d+)?").fillna(False).astype(bool)
    serial[looks_serial] = numeric_text[looks_serial]
    sel = serial.notna().to_numpy()
    if sel.any():
        ok = sel & (serial >= 1).to_numpy() & (serial < 2958466).to_numpy()
        local[ok] = EXCEL_EPOCH + pd.to_timedelta(serial[ok], unit="D").dt.round("s")
        has_time[ok] = (serial[ok] % 1 != 0).to_numpy()
        err[sel & ~ok] = _("not a date (Excel serial number out of range)")
    text = text.where(~sel, None)

    iso = text.str.match(_ISO_DATE).fillna(False).to_numpy(dtype=bool)
    if iso.any():
        t = text[iso]
        with_tz = t.str.contains(_TZ_SUFFIX).fillna(False).to_numpy(dtype=bool)
        if with_tz.any():
            conv = pd.to_datetime(t[with_tz], format="ISO8601", utc=True, errors="coerce")
            idx = t.index[with_tz]
            utc[idx] = _nanoseconds(conv.dt.tz_localize(None))
        if (~with_tz).any():
            idx = t.index[~with_tz]
            local[idx] = _nanoseconds(pd.to_datetime(t[~with_tz], format="ISO8601", errors="coerce"))
        has_time[iso] = t.str.contains(r"[T ]\d", regex=True).fillna(False).to_numpy(dtype=bool)

    vn = text.notna().to_numpy() & ~iso
    for fmt in ("%d/%m/%Y %H:%M", "%d/%m/%Y"):
        # the common spellings through pandas' C parser first: measured 5x faster than the
        # regular expression below on 1M rows, which then sees only the rest
        if not vn.any():
            break
        conv = _nanoseconds(pd.to_datetime(text[vn], format=fmt, errors="coerce"))
        ok = conv.notna().to_numpy()
        idx = text.index[vn][ok]
        local[idx] = conv[ok]
        has_time[np.flatnonzero(vn)[ok]] = "%H" in fmt
        vn[np.flatnonzero(vn)[ok]] = False
    if vn.any():
        parts = text[vn].str.extract(_VN_DATE)
        num = parts.apply(pd.to_numeric, errors="coerce")
        year = num[2]
        # pandas' nanosecond timestamps end before 1678: an older year is "before 1900" below
        old = (year < 1900).to_numpy()
        conv = _nanoseconds(pd.to_datetime(pd.DataFrame({
            "year": year.where(~old, 1900), "month": num[1], "day": num[0],
            "hour": num[3].fillna(0), "minute": num[4].fillna(0), "second": num[5].fillna(0),
        }), errors="coerce"))
        idx = text.index[vn]
        local[idx] = conv.where(~old, pd.Timestamp("1800-01-01"))
        has_time[vn] = num[3].notna().to_numpy()

    return local, utc, err, has_time


def _nanoseconds(times: pd.Series) -> pd.Series:
    """Parsed times in pandas' nanosecond timestamps, which end before 1678 and after 2262 (pandas keeps
    such years in a coarser unit): an earlier one becomes 1800-01-01, reported as before 1900, a later one
    is no date."""
    if times.dtype == "datetime64[ns]":
        return times
    early, late = times < EARLIEST, times > pd.Timestamp.max
    return times.mask(early, pd.Timestamp("1800-01-01")).mask(late, pd.NaT).astype("datetime64[ns]")


def _to_utc(local: pd.Series, utc: pd.Series, tz: str) -> pd.Series:
    """``utc`` with the local times of ``local`` (in ``tz``) filled in."""
    has_local = local.notna()
    if has_local.any():
        utc[has_local] = (local[has_local].dt.tz_localize(tz, ambiguous="NaT", nonexistent="shift_forward")
                          .dt.tz_convert("UTC").dt.tz_localize(None))
    return utc


def _looks_range(values: pd.Series) -> np.ndarray:
    return np.array([type(v) is str and bool(_LOOKS_RANGE.search(v)) for v in values.to_numpy(dtype=object)],
                    dtype=bool)


def _seconds(parts: pd.DataFrame, first: int) -> tuple[np.ndarray, np.ndarray]:
    """Seconds after midnight from the groups (hour, minute, second, part of the day) of a
    :data:`_TIME_PART` starting at column ``first``, and whether they make a time of day."""
    h, m, sec = (pd.to_numeric(parts[first + k], errors="coerce") for k in range(3))
    word = parts[first + 3].fillna("").str.lower()
    # "2 giờ chiều" is 14:00, "10 giờ đêm" 22:00, "12 giờ trưa" noon
    pm = (word.isin(["chiều", "tối"]) & (h < 12)) | ((word == "đêm") & (h >= 6) & (h < 12))
    h = h + 12 * pm
    ok = (h.notna() & (h <= 23) & (m.fillna(0) <= 59) & (sec.fillna(0) <= 59)).to_numpy()
    return (h * 3600 + m.fillna(0) * 60 + sec.fillna(0)).to_numpy(dtype=float, copy=True), ok.copy()


def parse_times(values: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A time-of-day column as seconds after midnight (NaN where empty), a mask of the cells that are
    no time, and the end of a range in seconds after midnight (NaN without one): "16:31", "14h30",
    "14 giờ 30", "6h sáng", ranges "22:00-06:00", "22h - 6h", "từ 22 giờ đến 6 giờ", time cells
    (``datetime.time``, or a datetime of Excel's day 0), and Excel time fractions (0.6881 = 16:31;
    fractions are rounded to the minute, the precision police records keep)."""
    n = len(values)
    seconds = np.full(n, np.nan)
    end = np.full(n, np.nan)
    if is_arrow_text(values):
        # "HH:MM" in Arrow; the other spellings by the rules below
        text = _text(values)
        arr = arrow_text(text)
        common = np.flatnonzero(pc.fill_null(pc.match_substring_regex(arr, r"^[0-9]{2}:[0-9]{2}$"), False)
                                .to_numpy(zero_copy_only=False))
        cells = pc.take(arr, common)
        h = pc.cast(pc.utf8_slice_codeunits(cells, 0, 2), pa.int64()).to_numpy(zero_copy_only=False)
        m = pc.cast(pc.utf8_slice_codeunits(cells, 3, 5), pa.int64()).to_numpy(zero_copy_only=False)
        ok = (h <= 23) & (m <= 59)
        seconds[common[ok]] = h[ok] * 3600 + m[ok] * 60
        bad = np.zeros(n, dtype=bool)
        rest = np.flatnonzero(text.notna().to_numpy() & np.isnan(seconds))
        if len(rest):
            seconds[rest], bad[rest], end[rest] = parse_times(_objects(text, rest))
        return seconds, bad, end
    col = values.to_numpy(dtype=object)
    kinds = np.array([0 if v is None or (type(v) is float and v != v) else 1 if type(v) is str
                      else 2 if isinstance(v, (dt.time, dt.datetime)) else 3 for v in col])
    cells = np.flatnonzero(kinds == 2)
    seconds[cells] = [v.hour * 3600 + v.minute * 60 + v.second for v in col[cells]]
    frac = np.full(n, np.nan)
    num = np.flatnonzero(kinds == 3)
    frac[num] = pd.to_numeric(pd.Series(col[num], dtype=object), errors="coerce").to_numpy(dtype=float)
    txt = np.flatnonzero(kinds == 1)
    if len(txt):
        tt = _text(pd.Series(col[txt], dtype=object)).map(
            lambda v: unicodedata.normalize("NFC", v) if v else v)  # "từ", "đến" typed decomposed
        one, ok = _seconds(tt.str.extract(_TIME), 0)
        seconds[txt[ok]] = one[ok]
        two = tt.str.extract(_TIME_RANGE)
        a, a_ok = _seconds(two, 0)
        b, b_ok = _seconds(two, 4)
        both = a_ok & b_ok & ~ok
        seconds[txt[both]], end[txt[both]] = a[both], b[both]
        ok |= both
        as_num = pd.to_numeric(tt.str.replace(",", ".", regex=False), errors="coerce").to_numpy(dtype=float)
        frac[txt[~ok]] = as_num[~ok]
        kinds[txt[tt.isna().to_numpy()]] = 0
    fractional = (frac >= 0) & (frac < 1)
    seconds[fractional] = np.round(frac[fractional] * 1440) * 60
    seconds[seconds >= 86400] = np.nan
    bad = (kinds != 0) & np.isnan(seconds)
    end[bad] = np.nan
    return seconds, bad, end


def local_dates(utc: pd.Series, tz: str = DEFAULT_TZ) -> pd.Series:
    """The local calendar day (midnight, naive) in ``tz`` of naive UTC timestamps."""
    return utc.dt.tz_localize("UTC").dt.tz_convert(tz).dt.tz_localize(None).dt.normalize()


# --------------------------------------------------------------------------- coordinates

def parse_number(values: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Numbers with a decimal dot or comma ("10,7769"); returns (floats, unparseable mask)."""
    if pd.api.types.infer_dtype(values, skipna=True) in ("floating", "integer", "mixed-integer-float", "empty"):
        out = pd.to_numeric(values, errors="coerce").astype(float)
        return out, np.zeros(len(values), dtype=bool)
    text = _text(values)
    if is_arrow_text(text):
        # plain decimals in Arrow (the same doubles as pandas' parser); the other cells by the rules below
        arr = arrow_text(text)
        plain = pc.fill_null(pc.match_substring_regex(arr, r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"),
                             False).to_numpy(zero_copy_only=False)
        out = np.full(len(text), np.nan)
        out[plain] = pc.cast(pc.take(arr, np.flatnonzero(plain)), pa.float64()).to_numpy(zero_copy_only=False)
        bad = np.zeros(len(text), dtype=bool)
        rest = np.flatnonzero(text.notna().to_numpy() & ~plain)
        if len(rest):
            rest_out, bad[rest] = parse_number(_objects(text, rest))
            out[rest] = rest_out.to_numpy()
        return pd.Series(out, index=values.index), bad
    out = pd.to_numeric(text, errors="coerce").astype(float)
    retry = (text.notna() & out.isna()).to_numpy()
    if not retry.any():
        return out, retry
    fixed = text[retry].str.replace(r"\s", "", regex=True)
    comma_only = fixed.str.contains(",", regex=False).fillna(False) & ~fixed.str.contains(".", regex=False).fillna(False)
    fixed = fixed.where(~comma_only, fixed.str.replace(",", ".", regex=False))
    out[retry] = pd.to_numeric(fixed, errors="coerce").astype(float)
    bad = (text.notna() & out.isna()).to_numpy()
    return out, bad


def vn2000_tm3(central_meridian: float, *, k: float = 0.9999) -> CRS:
    """VN-2000 transverse Mercator with a given central meridian (TM-3 zones: k = 0.9999)."""
    return ProjectedCRS(
        conversion=TransverseMercatorConversion(
            latitude_natural_origin=0, longitude_natural_origin=central_meridian,
            scale_factor_natural_origin=k, false_easting=500000, false_northing=0),
        geodetic_crs=CRS.from_epsg(4756),
        name=f"VN-2000 / TM-3 {central_meridian:g}")


def parse_crs(spec: str) -> CRS:
    """A CRS from "EPSG:3405", "4756", "VN2000", "VN2000:105.75" / "TM3:105.75" (TM-3 zone by
    central meridian) or any string pyproj understands."""
    s = str(spec).strip()
    m = re.fullmatch(r"(?i)(?:vn-?2000|tm-?3)\s*[:/ ]\s*(?:tm-?3\s*)?(\d{2,3}(?:[.,]\d+)?)", s)
    if m:
        return vn2000_tm3(float(m.group(1).replace(",", ".")))
    if re.fullmatch(r"(?i)vn-?2000", s):
        return CRS.from_epsg(4756)
    if re.fullmatch(r"\d{4,5}", s):
        s = f"EPSG:{s}"
    try:
        return CRS.from_user_input(s)
    except Exception as exc:
        raise InputError(_("Unknown coordinate system %(spec)r; use e.g. EPSG:4326, EPSG:4756, EPSG:3405 "
                           "or VN2000:105.75 (TM-3 zone by central meridian).", spec=spec)) from exc


_TRANSFORMERS: dict[str, Transformer] = {}


def to_wgs84(x: np.ndarray, y: np.ndarray, crs: CRS) -> tuple[np.ndarray, np.ndarray]:
    key = crs.to_wkt()
    if key not in _TRANSFORMERS:
        _TRANSFORMERS[key] = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    return _TRANSFORMERS[key].transform(x, y)


def _in_vn(lon, lat):
    return (lon >= VN_LON[0]) & (lon <= VN_LON[1]) & (lat >= VN_LAT[0]) & (lat <= VN_LAT[1])


# --------------------------------------------------------------------------- the whole table

def validate(raw: RawTable, *, extent: Extent | None, wards: list[WardIndex], crs: str | None = None,
             now: dt.datetime | None = None, tz: str = DEFAULT_TZ, categories: Catalogue = BUILTIN) -> Validated:
    """Check and convert every row of ``raw``; see the module docstring. ``crs`` (the user's choice)
    wins over the CRS the file or its headers name; ``tz`` is the time zone of times without an
    offset (the setting TIMEZONE); ``categories`` files the labels. Every problem of a row is
    reported, not only the first."""
    f = raw.frame
    n = len(f)
    rej = _Rejects(raw)
    warnings: list[str] = []
    out = pd.DataFrame(index=f.index)
    _unsafe_text(raw, rej)

    # --- external id
    if "external_id" in f:
        ext = _text(f["external_id"])
        rej.add(ext.isna().to_numpy(), "external_id", _("no incident id"))
    else:
        ext = None

    # --- date
    times = parse_datetimes(f["occurred_at"], f["time"] if "time" in f else None, tz=tz)
    utc = times.utc
    rej.add(times.err.notna().to_numpy(), "occurred_at", times.err.to_numpy())
    rej.add(times.terr.notna().to_numpy(), "time", times.terr.to_numpy())
    now = now or dt.datetime.now(dt.timezone.utc)
    future = (utc > pd.Timestamp(now).tz_convert(None) + pd.Timedelta(days=1)).to_numpy()
    rej.add(future, "occurred_at", _("date is in the future"))
    out["occurred_at"] = utc
    out["local_date"] = local_dates(utc, tz)
    out["occurred_to"] = _range_end(f, rej, times, tz)
    # a range gives the time its limits even when the start is a date alone ("từ 10/03 đến 12/03")
    out["time_known"] = times.has_time | out["occurred_to"].notna().to_numpy()
    local = utc.dt.tz_localize("UTC").dt.tz_convert(tz)
    # nullable integer columns made from their values and masks (a conversion per row measured 5x slower)
    out["local_hour"] = pd.arrays.IntegerArray(local.dt.hour.to_numpy(dtype=np.int64, na_value=0),
                                               ~out["time_known"].to_numpy(dtype=bool) | local.isna().to_numpy())
    out["local_weekday"] = pd.arrays.IntegerArray(out["local_date"].dt.day_of_week.to_numpy(dtype=np.int64, na_value=0),
                                                  out["local_date"].isna().to_numpy())

    # --- category
    cat_text = _map_unique(_text(f["category"]), normalise_raw)
    rej.add(cat_text.isna().to_numpy(), "category", _("no category"))
    cat = _map_unique(cat_text, categories.lookup)
    unknown_cat = (cat_text.notna() & cat.isna()).to_numpy() & ~rej.bad
    unknown = (cat_text[unknown_cat].value_counts().rename_axis("label").reset_index(name="count")
               .sort_values(["count", "label"], ascending=[False, True], kind="stable").reset_index(drop=True))
    if len(unknown):
        warnings.append(unknown_message(unknown))
    out["category"] = cat.fillna("khac")
    out["category_raw"] = cat_text

    # --- severity
    if "severity" in f:
        sev_text = _text(f["severity"])
        sev = _map_unique(sev_text, lambda v: SEVERITY_LOOKUP.get(fold(v).removesuffix(" 0")), "Int64")
        rej.add((sev_text.notna() & sev.isna()).to_numpy(), "severity",
                _("unknown severity (expected 1–4 or Ít nghiêm trọng / Nghiêm trọng / Rất nghiêm trọng / "
                  "Đặc biệt nghiêm trọng)"))
        out["severity"] = sev
    else:
        out["severity"] = _missing(n, "Int64")

    # --- cleared
    if "cleared" in f:
        cl_text = _text(f["cleared"])
        cl = _map_unique(cl_text, lambda v: True if fold(v) in TRUE_WORDS else False if fold(v) in FALSE_WORDS
                         else None, "boolean")
        rej.add((cl_text.notna() & cl.isna()).to_numpy(), "cleared",
                _("not a yes/no value (expected Có/Không)"))
        out["cleared"] = cl
    else:
        out["cleared"] = _missing(n, "boolean")

    # --- text fields
    for name in ("address", "description", "ward", "district"):
        out[name] = _text(f[name]) if name in f else None

    # --- coordinates
    _coordinates(raw, out, rej, warnings, extent, crs)

    # --- ward given without coordinates
    out["given_version_id"] = _missing(n, "Int64")
    out["given_area_id"] = _missing(n, "Int64")
    no_xy = out["lon"].isna().to_numpy() & ~rej.bad
    if no_xy.any():
        _match_wards(raw, out, rej, no_xy, wards)

    # --- ids: given, or a content hash so that re-importing the same rows updates them
    if ext is None:
        parts = [out["occurred_at"].astype(str), out["category_raw"], out["lon"].round(6).astype(str),
                 out["lat"].round(6).astype(str), out["address"], out["ward"]]
        ext = pd.Series(["h:" + hashlib.sha1("|".join("" if v is None or v != v else str(v) for v in vals)
                                             .encode()).hexdigest()[:16] for vals in zip(*parts)],
                        index=out.index, dtype=object)
        warnings.append(_("The file has no incident id column (e.g. 'Mã vụ'); rows are identified by "
                          "their date, category, place and address."))
    out["external_id"] = ext
    dup = ext.duplicated(keep="first").to_numpy() & ext.notna().to_numpy() & ~rej.bad
    if dup.any():
        first_row = dict(zip(ext[~ext.duplicated(keep="first")], f["_row"][~ext.duplicated(keep="first")]))
        reason = _("duplicate incident id (first at row %(row)s)")  # filled per row below
        reasons = np.array([reason % {"row": first_row[v]} if d else "" for v, d in zip(ext, dup)], dtype=object)
        rej.add(dup, "external_id", reasons)

    if raw.unknown:
        warnings.append(_("Columns not used: %(columns)s", columns=", ".join(raw.unknown)))
    out["_row"] = f["_row"]
    keep = ~rej.bad
    return Validated(rows=(out[keep] if rej.bad.any() else out).reset_index(drop=True), rejects=rej.frame(),
                     warnings=warnings,
                     unknown_categories=unknown)


def _range_end(f: pd.DataFrame, rej: _Rejects, times: Times, tz: str) -> pd.Series:
    """The UTC end of each row's time range, or NaT: from the time cell ("22h-6h"), else from the end
    columns (a date with or without its time, or a time alone on the start's day, the next day when it
    is not after the start; a date alone ends at the end of that day). A range ending before it starts
    is a row error."""
    end = times.to.copy()
    start = times.utc
    if "date_to" in f:
        given = (f["date_to"].notna() & _text(f["date_to"]).notna()).to_numpy()
        to = parse_datetimes(f["date_to"], f["time_to"] if "time_to" in f else None, tz=tz)
        rej.add(given & to.err.notna().to_numpy(), "date_to", to.err.to_numpy())
        if "time_to" in f:
            rej.add(given & to.terr.notna().to_numpy(), "time_to", to.terr.to_numpy())
        whole_day = given & ~to.has_time
        to_utc = to.utc.where(~whole_day, to.utc + pd.Timedelta(days=1))
        use = given & to_utc.notna().to_numpy() & end.isna().to_numpy()
        end[use] = to_utc[use]
    else:
        given = np.zeros(len(f), dtype=bool)
    if "time_to" in f:
        seconds, bad, _end = parse_times(f["time_to"])
        alone = ~given
        rej.add(alone & bad, "time_to", _("not a time of day (expected HH:MM or 14h30)"))
        use = alone & ~np.isnan(seconds) & start.notna().to_numpy() & end.isna().to_numpy()
        if use.any():
            local = start[use].dt.tz_localize("UTC").dt.tz_convert(tz).dt.tz_localize(None)
            start_s = (local - local.dt.normalize()).dt.total_seconds().to_numpy()
            stamp = (local.dt.normalize() + pd.to_timedelta(seconds[use], unit="s")
                     + pd.to_timedelta((seconds[use] <= start_s).astype(int), unit="D"))
            end[use] = (stamp.dt.tz_localize(tz, ambiguous="NaT", nonexistent="shift_forward")
                        .dt.tz_convert("UTC").dt.tz_localize(None))
    backwards = (end <= start).to_numpy()
    rej.add(backwards, "date_to" if "date_to" in f else "time_to",
            _("the end of the time range is not after its start; check the dates and times"))
    return end


# Fields the store keeps in columns of a fixed width (geo.store.Incident): longer text is refused
# per row here rather than by the database (PostgreSQL raises, SQLite would keep it).
FIELD_CHARS = {"external_id": 100, "category": 200, "ward": 200, "district": 200, "crs": 200, "ward_code": 32}


def _unsafe_text(raw: RawTable, rej: _Rejects) -> None:
    """Reject the rows with a NUL byte or a field longer than ``raw.limits.max_field_chars`` (or its
    column's width, FIELD_CHARS): binary data or a pasted document, not an incident record."""
    for name in raw.columns:
        limit = min(raw.limits.max_field_chars, FIELD_CHARS.get(name, raw.limits.max_field_chars))
        series = raw.frame[name]
        if is_arrow_text(series):
            # the bytes of a cell bound its characters, and a column's bytes show whether any holds a NUL:
            # the cells are looked at one by one only when needed
            arr = arrow_text(series)
            size = pc.fill_null(pc.binary_length(arr), 0).to_numpy(zero_copy_only=False)
            if size.max(initial=0) > limit:
                size = pc.fill_null(pc.utf8_length(arr), 0).to_numpy(zero_copy_only=False)
            chunks = arr.chunks if isinstance(arr, pa.ChunkedArray) else [arr]
            if any(c.buffers()[2] is not None and not np.all(np.frombuffer(c.buffers()[2], dtype=np.uint8))
                   for c in chunks):
                nul = pc.fill_null(pc.match_substring(arr, "\x00"), False).to_numpy(zero_copy_only=False)
            else:
                nul = np.zeros(len(arr), dtype=bool)
        else:
            col = series.to_numpy(dtype=object)
            size = np.fromiter((len(v) if type(v) is str else 0 for v in col), dtype=np.int64, count=len(col))
            nul = np.fromiter((type(v) is str and "\x00" in v for v in col), dtype=bool, count=len(col))
        if not (size > limit).any() and not nul.any():
            continue
        shown = np.full(len(series), None, dtype=object)
        for i in np.flatnonzero((size > limit) | nul):  # the report shows the start, without the NULs
            shown[i] = series.iat[i][:80].replace("\x00", "\\0") + ("…" if size[i] > 80 else "")
        rej.add(nul, name, _("holds a NUL byte (binary data, not text); remove it and import the row again"),
                values=shown)
        rej.add(size > limit, name, _("longer than %(limit)s characters; shorten the text and import the row "
                                      "again", limit=number(limit)), values=shown)


def _coordinates(raw, out, rej, warnings, extent, crs):
    f = raw.frame
    n = len(f)
    lon = np.full(n, np.nan)
    lat = np.full(n, np.nan)
    out["orig_x"] = np.nan
    out["orig_y"] = np.nan
    out["orig_crs"] = None
    if crs is None and raw.crs_conflict is not None:
        raise raw.crs_conflict
    file_crs = parse_crs(crs) if crs else (parse_crs(raw.crs) if raw.crs else None)

    if "lon" in f or "lat" in f:
        xf, yf = ("lon", "lat")
    elif "x" in f or "y" in f:
        xf, yf = ("x", "y")
    else:
        out["lon"], out["lat"] = lon, lat
        return
    if xf not in f or yf not in f:
        missing = yf if xf in f else xf
        raise InputError(_("%(name)s: a column for %(x)s/%(y)s is missing (%(missing)s); both are needed.",
                           name=raw.name, x=_(FIELD_LABELS[xf]), y=_(FIELD_LABELS[yf]),
                           missing=_(FIELD_LABELS[missing])))
    x, xbad = parse_number(f[xf])
    y, ybad = parse_number(f[yf])
    rej.add(xbad, xf, _("not a number"))
    rej.add(ybad, yf, _("not a number"))
    one = (x.isna() ^ y.isna()).to_numpy() & ~xbad & ~ybad
    rej.add(one & x.isna().to_numpy(), xf, _("coordinate missing (the other one is given)"))
    rej.add(one & y.isna().to_numpy(), yf, _("coordinate missing (the other one is given)"))
    has = (x.notna() & y.notna()).to_numpy() & ~xbad & ~ybad
    x, y = x.to_numpy(), y.to_numpy()

    row_crs = _text(f["crs"]) if "crs" in f else None
    groups: dict[str, np.ndarray] = {}
    if row_crs is not None and row_crs[has].notna().any():
        for spec in row_crs[has].dropna().unique():
            try:
                parse_crs(spec)
            except InputError as exc:
                rej.add(has & (row_crs == spec).to_numpy(), "crs", str(exc))
                continue
            groups[spec] = has & (row_crs == spec).to_numpy()
        rest = has & row_crs.isna().to_numpy()
    else:
        rest = has
    default = file_crs.to_string() if file_crs is not None else "EPSG:4326"
    if rest.any():
        groups[default] = groups.get(default, np.zeros(n, dtype=bool)) | rest

    swapped_rows, northing_first = [], 0
    for spec, mask in groups.items():
        if not mask.any():
            continue
        c = parse_crs(spec)
        gx, gy = x[mask], y[mask]
        if c.is_geographic:
            # A geographic CRS: values are degrees; a latitude/longitude swap shows as lon in
            # the latitude range and lat in the longitude range.
            swap = ~_in_vn(gx, gy) & _in_vn(gy, gx)
            swapped_rows.extend(f["_row"].to_numpy()[mask][swap].tolist())
        else:
            # Vietnamese surveys write X = northing, Y = easting (the usual convention, not an
            # error); northings in Viet Nam are above 900 km and eastings below.
            swap = (gx > 900_000) & (gy < 900_000)
            northing_first += int(swap.sum())
        gx, gy = np.where(swap, gy, gx), np.where(swap, gx, gy)
        if c.equals(CRS.from_epsg(4326)):
            lo, la = gx, gy
        else:
            lo, la = to_wgs84(gx, gy, c)
            out.loc[mask, "orig_x"] = gx
            out.loc[mask, "orig_y"] = gy
            out.loc[mask, "orig_crs"] = c.to_string() if c.to_epsg() is None else f"EPSG:{c.to_epsg()}"
        lon[mask], lat[mask] = lo, la
    if swapped_rows and len(swapped_rows) > has.sum() / 2:
        warnings.append(_("The columns %(x)s and %(y)s hold latitudes and longitudes in that order (values "
                          "between 8 and 24 are latitudes in Viet Nam, between 102 and 118 longitudes); "
                          "they were read swapped in %(n)s rows.", x=raw.columns[xf], y=raw.columns[yf],
                          n=number(len(swapped_rows))))
    elif swapped_rows:
        shown = ", ".join(map(str, swapped_rows[:10])) + (" …" if len(swapped_rows) > 10 else "")
        warnings.append(_("%(n)s rows had longitude and latitude (or X and Y) swapped and were corrected: "
                          "rows %(rows)s", n=number(len(swapped_rows)), rows=shown))
    if northing_first and _ordinal_header(raw.columns[xf]):
        # "X" means the northing in Vietnamese surveys; "Tọa độ 1" says nothing: the values decided
        warnings.append(_("The column %(x)s holds northings and %(y)s eastings (values above 900,000 m are "
                          "northings in Viet Nam); they were read that way in %(n)s rows.",
                          x=raw.columns[xf], y=raw.columns[yf], n=number(northing_first)))
    fin = np.isfinite(lon) & np.isfinite(lat)
    outside = fin & ~(extent.contains(lon, lat) if extent is not None else _in_vn(lon, lat))
    values = np.full(len(lon), "", dtype=object)
    values[outside] = [f"{a:.6f}, {b:.6f}" for a, b in zip(lon[outside], lat[outside])]
    rej.add(outside, xf, _("point outside the area covered by the loaded boundaries (%(extent)s)", extent=extent)
            if extent is not None else _("point outside Viet Nam"), values=values)
    out["lon"], out["lat"] = lon, lat


def _ordinal_header(header: str) -> bool:
    """A coordinate header that does not say which axis it holds ("Tọa độ 1")."""
    return re.match(r"to\S? do [12]\b", fold(header)) is not None


def _match_wards(raw, out, rej, rows_mask, wards: list[WardIndex]):
    """Match rows without coordinates to a unit by ward code, or ward name (+ district)."""
    f = raw.frame
    if not wards:
        rej.add(rows_mask, "ward" if "ward" in f else "occurred_at",
                _("no coordinates, and no boundaries are loaded to match a ward"))
        return
    blank = pd.Series([None] * len(f), index=f.index, dtype=object)
    everyone = np.arange(len(f))
    code_col, name_col, dist_col = (_objects(_text(f[c]), everyone) if c in f else blank
                                    for c in ("ward_code", "ward", "district"))
    dates = out["local_date"]
    none = rows_mask & code_col.isna().to_numpy() & name_col.isna().to_numpy()
    rej.add(none, "lon" if "lon" in f else ("x" if "x" in f else "ward"),
            _("no coordinates and no ward to place the incident"))
    todo = np.flatnonzero(rows_mask & ~none)
    cache: dict = {}
    for i in todo:
        code, name, dist = code_col.iat[i], name_col.iat[i], dist_col.iat[i]
        if code is None and name is not None and re.fullmatch(r"\d{4,6}", name):
            code, name = name, None
        d = dates.iat[i].date()
        ordered = sorted(wards, key=lambda w: not w.valid_on(d))
        key = (code, name, dist, tuple(w.version_id for w in ordered))
        if key not in cache:
            cache[key] = _find_ward(code, name, dist, ordered)
        hit, problem = cache[key]
        if problem:
            field_name = "ward_code" if code is not None and "ward_code" in f else "ward"
            mask = np.zeros(len(f), dtype=bool)
            mask[i] = True
            rej.add(mask, field_name, problem)
            continue
        w, area_idx = hit
        out.iat[i, out.columns.get_loc("given_version_id")] = w.version_id
        out.iat[i, out.columns.get_loc("given_area_id")] = int(w.areas.at[area_idx, "area_id"])


def _find_ward(code, name, dist, ordered: list[WardIndex]):
    if code is not None:
        code = code.zfill(5) if code.isdigit() and len(code) < 5 else code
        for w in ordered:
            if code in w.by_code:
                return (w, w.by_code[code]), None
        return None, _("unknown ward code %(code)r", code=code)
    key = strip_unit_type(fold_unit(name))
    pkey = strip_unit_type(fold_unit(dist)) if dist else None
    for w in ordered:
        if pkey is not None and (key, pkey) in w.by_name_parent:
            cands = w.by_name_parent[(key, pkey)]
        elif key in w.by_name:
            cands = w.by_name[key]
        else:
            continue
        if len(cands) == 1:
            return (w, cands[0]), None
        listed = "; ".join(_("%(name)s (%(parent)s, code %(code)s)", name=w.areas.at[c, "name"],
                             parent=w.areas.at[c, "parent_name"] or "", code=w.areas.at[c, "code"])
                           for c in cands[:8])
        return None, _("ward name %(name)r is ambiguous in %(version)s: %(n)s units match (%(listed)s); add "
                       "the district or the ward code", name=name, version=w.version_name, n=len(cands),
                       listed=listed)
    if dist:
        return None, _("no ward named %(name)r in district %(district)r in the loaded boundaries",
                       name=name, district=dist)
    return None, _("no ward named %(name)r in the loaded boundaries", name=name)
