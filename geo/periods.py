"""Reporting periods: month, quarter, 6 and 9 months, year, and custom date ranges.

Reports of the crime-prevention committees compare a period with "cùng kỳ",
the same period one year earlier ("kéo giảm 8,4 % số vụ … so với cùng kỳ").
Two ways of cutting a period are in use:

* ``cut="calendar"``: whole calendar months (Quý I/2024 = 01/01/2024 – 31/03/2024);
* ``cut="statistical"``: the government statistical cut, from the 15th of the
  month before the period's first month to the 14th of its last month
  (Quý I/2024 = 15/12/2023 – 14/03/2024; Năm 2024 = 15/12/2023 – 14/12/2024).

Dates are :class:`datetime.date` in local time (:func:`zone`: the setting TIMEZONE,
Asia/Ho_Chi_Minh, UTC+7, unless set) and ranges are inclusive: ``[start, end]``. Time stamps are
converted to local dates with :func:`local_date` before they are compared.

Periods are written in URLs as short specs (:func:`parse_period`,
:attr:`Period.spec`): ``2024``, ``2024-06``, ``2024-Q1``, ``2024-H1``,
``2024-9M``, a ``:stat`` suffix for the statistical cut, and
``2024-01-01..2024-03-31`` for a custom range.

Examples
--------
>>> q = period("quarter", 2024, 1, cut="statistical")
>>> q.label("vi"), q.label("en"), q.start.isoformat(), q.end.isoformat(), q.days
('Quý I/2024', 'Q1 2024', '2023-12-15', '2024-03-14', 91)
>>> q.same_period_last_year().spec
'2023-Q1:stat'
>>> parse_period("2024-02").same_period_last_year().end.isoformat()
'2023-02-28'

Labels come from the catalogue in the user's language (:mod:`geo.format`); numbers and
changes are formatted there too.
"""
from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from flask import current_app, has_app_context

from geo.errors import InputError
from geo.format import N_, date_range, gettext
from geo.format import date as format_date

DEFAULT_TIMEZONE = "Asia/Ho_Chi_Minh"


def zone() -> ZoneInfo:
    """The local time zone: the setting TIMEZONE of the running app, else Asia/Ho_Chi_Minh."""
    if not has_app_context():
        return ZoneInfo(DEFAULT_TIMEZONE)
    return ZoneInfo(current_app.config.get("TIMEZONE") or DEFAULT_TIMEZONE)

#: Named kinds, with the number of months each spans.
KIND_MONTHS = {"month": 1, "quarter": 3, "6months": 6, "9months": 9, "year": 12}
KINDS = (*KIND_MONTHS, "custom")
#: Allowed ``index`` for each named kind (``None``: the kind takes no index).
KIND_INDEX = {"month": range(1, 13), "quarter": range(1, 5), "6months": range(1, 3),
              "9months": None, "year": None}
CUTS = ("calendar", "statistical")
#: Kinds that tile the year, usable as ``bins`` frequencies.
FREQS = ("month", "quarter", "6months", "year")
YEAR_RANGE = range(1900, 2101)

#: First day (mùng 1) of Tết Nguyên Đán. Add a year here when it is needed.
TET = {
    2015: date(2015, 2, 19), 2016: date(2016, 2, 8), 2017: date(2017, 1, 28),
    2018: date(2018, 2, 16), 2019: date(2019, 2, 5), 2020: date(2020, 1, 25),
    2021: date(2021, 2, 12), 2022: date(2022, 2, 1), 2023: date(2023, 1, 22),
    2024: date(2024, 2, 10), 2025: date(2025, 1, 29), 2026: date(2026, 2, 17),
    2027: date(2027, 2, 6), 2028: date(2028, 1, 26), 2029: date(2029, 2, 13),
}

#: Labels of the named periods (catalogue msgids; ``%(year)s`` filled in at display).
MONTH_LABELS = (N_("January %(year)s"), N_("February %(year)s"), N_("March %(year)s"),
                N_("April %(year)s"), N_("May %(year)s"), N_("June %(year)s"), N_("July %(year)s"),
                N_("August %(year)s"), N_("September %(year)s"), N_("October %(year)s"),
                N_("November %(year)s"), N_("December %(year)s"))
QUARTER_LABELS = (N_("Q1 %(year)s"), N_("Q2 %(year)s"), N_("Q3 %(year)s"), N_("Q4 %(year)s"))
HALF_LABELS = (N_("First half of %(year)s"), N_("Second half of %(year)s"))
NINE_MONTHS_LABEL = N_("First nine months of %(year)s")
YEAR_LABEL = N_("Year %(year)s")


# --------------------------------------------------------------------------- dates

def local_date(value) -> date:
    """The local (:func:`zone`) calendar date of a date, datetime or pandas Timestamp.

    Aware time stamps are converted to local time first; naive ones are taken
    as local already.

    >>> local_date(datetime(2024, 2, 29, 17, 30, tzinfo=timezone.utc)).isoformat()
    '2024-03-01'
    """
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(zone())
        return date(value.year, value.month, value.day)
    if isinstance(value, date):
        return value
    raise InputError(f"Expected a date or datetime, got {value!r} ({type(value).__name__}).")


def _as_date(value, name: str) -> date:
    if isinstance(value, datetime) or not isinstance(value, date):
        raise InputError(f"`{name}` was {value!r} but must be a datetime.date "
                         "(convert time stamps with `local_date(...)`).")
    return value


def _check_order(start: date, end: date) -> None:
    if end < start:
        raise InputError(gettext("`end` (%(end)s) is before `start` (%(start)s).", end=end.isoformat(),
                                 start=start.isoformat()))


def _minus_year(d: date) -> date:
    """The same day one year earlier; 29 February becomes 28 February."""
    if d.month == 2 and d.day == 29:
        return date(d.year - 1, 2, 28)
    return date(d.year - 1, d.month, d.day)


def _add_months(year: int, month: int, k: int) -> tuple[int, int]:
    m = year * 12 + (month - 1) + k
    return m // 12, m % 12 + 1


def _span(year: int, first_month: int, n_months: int, cut: str) -> tuple[date, date]:
    last_y, last_m = _add_months(year, first_month, n_months - 1)
    if cut == "statistical":
        y0, m0 = _add_months(year, first_month, -1)
        return date(y0, m0, 15), date(last_y, last_m, 14)
    return date(year, first_month, 1), date(last_y, last_m, calendar.monthrange(last_y, last_m)[1])


def _first_month(kind: str, index: int | None) -> int:
    if kind == "month":
        return index
    if kind == "quarter":
        return 3 * (index - 1) + 1
    if kind == "6months":
        return 1 if index == 1 else 7
    return 1


# ------------------------------------------------------------------------- labels

def _named_label(kind: str, index: int | None) -> str:
    if kind == "month":
        return MONTH_LABELS[index - 1]
    if kind == "quarter":
        return QUARTER_LABELS[index - 1]
    if kind == "6months":
        return HALF_LABELS[index - 1]
    if kind == "9months":
        return NINE_MONTHS_LABEL
    return YEAR_LABEL


# ------------------------------------------------------------------------- Period

@dataclass(frozen=True)
class Period:
    """An inclusive date range ``[start, end]``, labelled in the user's language by :meth:`label`.

    Build one with :func:`period`, :func:`custom` or :func:`parse_period`
    rather than directly. ``year``, ``index`` and ``cut`` say which named
    period it is (``None`` for a custom range).
    """

    start: date
    end: date
    kind: str
    cut: str = "calendar"
    year: int | None = None
    index: int | None = None

    def __post_init__(self):
        _as_date(self.start, "start")
        _as_date(self.end, "end")
        _check_order(self.start, self.end)
        if self.kind not in KINDS:
            raise InputError(f"`kind` was {self.kind!r} but is expected to be in {list(KINDS)}.")
        if self.cut not in CUTS:
            raise InputError(f"`cut` was {self.cut!r} but is expected to be in {list(CUTS)}.")

    # -- facts
    @property
    def days(self) -> int:
        """Number of days, both ends included."""
        return (self.end - self.start).days + 1

    @property
    def spec(self) -> str:
        """The URL form, read back by :func:`parse_period`."""
        if self.kind == "custom":
            if self.start == self.end:
                return self.start.isoformat()
            return f"{self.start.isoformat()}..{self.end.isoformat()}"
        suffix = {"month": f"-{self.index or 0:02d}", "quarter": f"-Q{self.index}",
                  "6months": f"-H{self.index}", "9months": "-9M", "year": ""}[self.kind]
        body = f"{self.year}{suffix}"
        return body + (":stat" if self.cut == "statistical" else "")

    def label(self, locale: str | None = None, *, with_dates: bool = False) -> str:
        """The label in ``locale`` (default: the user's); ``with_dates`` appends the date range.

        >>> period("year", 2024, cut="statistical").label("vi", with_dates=True)
        'Năm 2024 (15/12/2023 – 14/12/2024)'
        >>> period("month", 2024, 6).label("vi"), period("month", 2024, 6).label("en")
        ('Tháng 6/2024', 'June 2024')
        """
        if self.kind == "custom":
            return date_range(self.start, self.end, locale=locale)
        text = gettext(_named_label(self.kind, self.index), locale, year=str(self.year))
        if with_dates:
            text += f" ({date_range(self.start, self.end, locale=locale)})"
        return text

    def __str__(self) -> str:
        return self.label()

    def contains(self, d) -> bool:
        """Whether the local date of ``d`` (date, datetime or Timestamp) lies in the period."""
        d = local_date(d)
        return self.start <= d <= self.end

    def utc_bounds(self) -> tuple[datetime, datetime]:
        """``[from, to)`` in UTC: local midnight of ``start`` and of the day after ``end``."""
        tz = zone()
        lo = datetime.combine(self.start, time(0), tz).astimezone(timezone.utc)
        hi = datetime.combine(self.end + timedelta(days=1), time(0), tz).astimezone(timezone.utc)
        return lo, hi

    def tet_days(self) -> list[date]:
        """The first days of Tết (from :data:`TET`) that fall in the period."""
        return [d for y, d in TET.items() if self.start <= d <= self.end]

    # -- related periods
    def same_period_last_year(self) -> Period:
        """"Cùng kỳ": the same span one year earlier.

        A named period gives the same named period of the year before, with the
        same cut (so Tháng 2/2024 = 01/02–29/02/2024 gives 01/02–28/02/2023, and
        a statistical cut keeps its 15th-to-14th dates). A custom range moves
        both dates back one year, 29 February becoming 28 February.
        """
        if self.kind == "custom":
            return custom(_minus_year(self.start), _minus_year(self.end))
        return period(self.kind, self.year - 1, self.index, cut=self.cut)

    def previous(self) -> Period:
        """The period just before, of the same length.

        Month, quarter, half-year and year give the preceding one of the same
        kind (Quý I/2024 -> Quý IV/2023). "9 tháng" gives the nine months
        before it, as a custom range. A custom range gives the range of the
        same number of days that ends the day before it starts.
        """
        if self.kind == "custom":
            return custom(self.start - timedelta(days=self.days), self.start - timedelta(days=1))
        return self._shift(-1)

    def _shift(self, k: int) -> Period:
        n = KIND_MONTHS[self.kind]
        if self.kind == "9months":
            y, m = _add_months(self.year, _first_month(self.kind, self.index), k * n)
            return custom(*_span(y, m, n, self.cut))
        per_year = 12 // n
        pos = (self.index or 1) - 1 + k
        y, i = self.year + pos // per_year, pos % per_year + 1
        return period(self.kind, y, None if self.kind == "year" else i, cut=self.cut)


# ---------------------------------------------------------------------- builders

def _check_choice(value, name: str, allowed) -> None:
    if value not in allowed:
        raise InputError(f"`{name}` was {value!r} but is expected to be in {list(allowed)}.")


def period(kind: str, year: int, index: int | None = None, *, cut: str = "calendar") -> Period:
    """A named reporting period.

    Parameters
    ----------
    kind : {"month", "quarter", "6months", "9months", "year"}
    year : int
        The report year (for a statistical cut, the year of the period's last day).
    index : int, optional
        Month 1–12, quarter 1–4, or half 1–2 (1 = "6 tháng đầu năm", 2 = "6
        tháng cuối năm"). Not used for "9months" (January–September) and "year".
    cut : {"calendar", "statistical"}
        Whole calendar months, or the 15th of the month before the first
        month to the 14th of the last month.

    Examples
    --------
    >>> p = period("6months", 2024, 1)
    >>> p.label("vi"), p.label("en"), p.end.isoformat()
    ('6 tháng đầu năm 2024', 'First half of 2024', '2024-06-30')
    """
    _check_choice(kind, "kind", tuple(KIND_MONTHS))
    _check_choice(cut, "cut", CUTS)
    if isinstance(year, bool) or not isinstance(year, int) or year not in YEAR_RANGE:
        raise InputError(gettext("`year` was %(value)s but must be an integer from %(lo)s to %(hi)s.",
                                 value=repr(year), lo=YEAR_RANGE.start, hi=YEAR_RANGE.stop - 1))
    allowed = KIND_INDEX[kind]
    if allowed is None:
        if index is not None:
            raise InputError(gettext("`index` was %(value)s but kind %(kind)s takes no index; leave it out.",
                                     value=repr(index), kind=repr(kind)))
    elif isinstance(index, bool) or not isinstance(index, int) or index not in allowed:
        raise InputError(gettext("`index` was %(value)s but for kind %(kind)s it must be an integer from "
                                 "%(lo)s to %(hi)s.", value=repr(index), kind=repr(kind), lo=allowed.start,
                                 hi=allowed.stop - 1))
    start, end = _span(year, _first_month(kind, index), KIND_MONTHS[kind], cut)
    return Period(start, end, kind, cut=cut, year=year, index=index)


def custom(start: date, end: date) -> Period:
    """A custom inclusive range, labelled "01/01/2024 – 31/03/2024"."""
    start, end = _as_date(start, "start"), _as_date(end, "end")
    _check_order(start, end)
    return Period(start, end, "custom")


_SPEC_FORMS = ("2024", "2024-06", "2024-Q1", "2024-H1", "2024-9M", "2024-Q1:stat",
               "2024-01-01..2024-03-31", "2024-01-15")
_NAMED = re.compile(r"^(\d{4})(?:-(?:(\d{1,2})|[qQ]([1-4])|[hH]([12])|(9[mM])))?"
                    r"(?::(stat|statistical|cal|calendar))?$")
_RANGE = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:\.\.(\d{4}-\d{2}-\d{2}))?$")


def parse_period(spec: str, name: str = "spec") -> Period:
    """The period written as ``spec``; the inverse of :attr:`Period.spec`. Errors name the argument ``name``.

    Accepted forms: ``2024`` (year), ``2024-06`` (month), ``2024-Q1``
    (quarter), ``2024-H1``/``2024-H2`` (first/last 6 months), ``2024-9M``
    (9 months), each with an optional ``:stat`` suffix for the statistical
    cut, and ``2024-01-01..2024-03-31`` or ``2024-01-15`` for custom ranges.

    >>> parse_period("2024-Q1:stat").label("vi", with_dates=True)
    'Quý I/2024 (15/12/2023 – 14/03/2024)'
    """
    text = spec.strip() if isinstance(spec, str) else None
    bad = InputError(gettext("`%(name)s` was %(value)s but must look like one of %(forms)s.", name=name,
                             value=repr(spec), forms=", ".join(_SPEC_FORMS)))
    if not text:
        raise bad
    m = _RANGE.match(text)
    if m:
        try:
            start = date.fromisoformat(m.group(1))
            end = date.fromisoformat(m.group(2)) if m.group(2) else start
        except ValueError:
            raise InputError(gettext("`%(name)s` was %(value)s: it holds a date that does not exist; write "
                                     "real dates as YYYY-MM-DD.", name=name, value=repr(spec))) from None
        return custom(start, end)
    m = _NAMED.match(text)
    if not m:
        raise bad
    year, month, quarter, half, nine, cut = m.groups()
    cut = "statistical" if cut in ("stat", "statistical") else "calendar"
    if month:
        return period("month", int(year), int(month), cut=cut)
    if quarter:
        return period("quarter", int(year), int(quarter), cut=cut)
    if half:
        return period("6months", int(year), int(half), cut=cut)
    if nine:
        return period("9months", int(year), cut=cut)
    return period("year", int(year), cut=cut)


def _containing(freq: str, d: date, cut: str) -> Period:
    y, m = d.year, d.month
    if cut == "statistical" and d.day >= 15:
        y, m = _add_months(y, m, 1)
    index = {"month": m, "quarter": (m - 1) // 3 + 1, "6months": 1 if m <= 6 else 2,
             "year": None}[freq]
    return period(freq, y, index, cut=cut)


def bins(start: date, end: date, freq: str = "month", *, cut: str = "calendar") -> list[Period]:
    """The consecutive periods of kind ``freq`` that cover ``[start, end]``, for time series.

    Whole periods are returned: the first and last may begin before
    ``start`` or end after ``end``.

    >>> [p.spec for p in bins(date(2023, 11, 20), date(2024, 2, 1), "month", cut="statistical")]
    ['2023-12:stat', '2024-01:stat', '2024-02:stat']
    """
    _check_choice(freq, "freq", FREQS)
    _check_choice(cut, "cut", CUTS)
    start, end = _as_date(start, "start"), _as_date(end, "end")
    _check_order(start, end)
    out = [_containing(freq, start, cut)]
    while out[-1].end < end:
        out.append(out[-1]._shift(1))
    return out


def check_base(current: Period, base: Period) -> None:
    """Raise :class:`InputError` if the base period overlaps the current one."""
    if base.start <= current.end and current.start <= base.end:
        raise InputError(gettext(
            "`base` period %(base)s overlaps `current` period %(current)s; choose a base period that ends "
            "before %(first)s or starts after %(last)s, for example the same period last year: %(same)s.",
            base=base.label(with_dates=True), current=current.label(with_dates=True),
            first=format_date(current.start), last=format_date(current.end),
            same=current.same_period_last_year().label(with_dates=True)))


def tet_note(current: Period, base: Period, locale: str | None = None) -> str | None:
    """A warning when Tết falls in one of the two periods but not in the other, else None.

    Only years listed in :data:`TET` are known.

    >>> tet_note(period("month", 2024, 2), period("month", 2023, 2), "vi")
    'Tết Nguyên đán chỉ rơi vào kỳ này; một phần thay đổi có thể do dịp Tết.'
    """
    a, b = bool(current.tet_days()), bool(base.tet_days())
    if a == b:
        return None
    if a:
        return gettext("Tết falls in this period only; holiday effects may explain part of the change.", locale)
    return gettext("Tết falls in the base period only; holiday effects may explain part of the change.", locale)
