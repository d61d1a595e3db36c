from datetime import date, datetime, timedelta, timezone

import pytest
from flask import Flask

from geo.errors import InputError
from geo.format import change, number
from geo.periods import (
    TET,
    Period,
    bins,
    check_base,
    custom,
    local_date,
    parse_period,
    period,
    tet_note,
)

D = date


# ------------------------------------------------------------- named periods

@pytest.mark.parametrize("kind, year, index, start, end, vi, en", [
    ("month", 2024, 1, D(2024, 1, 1), D(2024, 1, 31), "Tháng 1/2024", "January 2024"),
    ("month", 2024, 2, D(2024, 2, 1), D(2024, 2, 29), "Tháng 2/2024", "February 2024"),
    ("month", 2023, 2, D(2023, 2, 1), D(2023, 2, 28), "Tháng 2/2023", "February 2023"),
    ("month", 2024, 12, D(2024, 12, 1), D(2024, 12, 31), "Tháng 12/2024", "December 2024"),
    ("quarter", 2024, 1, D(2024, 1, 1), D(2024, 3, 31), "Quý I/2024", "Q1 2024"),
    ("quarter", 2024, 4, D(2024, 10, 1), D(2024, 12, 31), "Quý IV/2024", "Q4 2024"),
    ("6months", 2024, 1, D(2024, 1, 1), D(2024, 6, 30), "6 tháng đầu năm 2024", "First half of 2024"),
    ("6months", 2024, 2, D(2024, 7, 1), D(2024, 12, 31), "6 tháng cuối năm 2024", "Second half of 2024"),
    ("9months", 2024, None, D(2024, 1, 1), D(2024, 9, 30), "9 tháng năm 2024", "First nine months of 2024"),
    ("year", 2024, None, D(2024, 1, 1), D(2024, 12, 31), "Năm 2024", "Year 2024"),
])
def test_calendar_periods(kind, year, index, start, end, vi, en):
    p = period(kind, year, index)
    assert (p.start, p.end, p.label("vi"), p.label("en")) == (start, end, vi, en)
    assert p.days == (end - start).days + 1
    assert p.cut == "calendar" and p.kind == kind


@pytest.mark.parametrize("kind, year, index, start, end", [
    ("year", 2024, None, D(2023, 12, 15), D(2024, 12, 14)),
    ("quarter", 2024, 1, D(2023, 12, 15), D(2024, 3, 14)),
    ("quarter", 2024, 2, D(2024, 3, 15), D(2024, 6, 14)),
    ("month", 2024, 1, D(2023, 12, 15), D(2024, 1, 14)),
    ("month", 2024, 3, D(2024, 2, 15), D(2024, 3, 14)),
    ("6months", 2024, 2, D(2024, 6, 15), D(2024, 12, 14)),
    ("9months", 2024, None, D(2023, 12, 15), D(2024, 9, 14)),
])
def test_statistical_cut(kind, year, index, start, end):
    p = period(kind, year, index, cut="statistical")
    assert (p.start, p.end) == (start, end)
    # the label is the report's name; the dates are shown on request
    assert p.label("vi") == period(kind, year, index).label("vi")


def test_days_count_both_ends_and_leap_years():
    assert period("quarter", 2024, 1).days == 91      # 31 + 29 + 31
    assert period("quarter", 2023, 1).days == 90
    assert period("year", 2024).days == 366
    assert period("year", 2024, cut="statistical").days == 366  # 15/12/2023 .. 14/12/2024 holds 29/2
    assert period("year", 2023, cut="statistical").days == 365
    assert custom(D(2024, 3, 1), D(2024, 3, 1)).days == 1


def test_label_with_dates():
    assert period("quarter", 2024, 1, cut="statistical").label("vi", with_dates=True) == \
        "Quý I/2024 (15/12/2023 – 14/03/2024)"
    assert period("quarter", 2024, 1).label("en", with_dates=True) == "Q1 2024 (01/01/2024 – 31/03/2024)"
    assert str(period("month", 2024, 6)) == "Tháng 6/2024"


def test_custom_labels():
    p = custom(D(2024, 1, 1), D(2024, 3, 31))
    # dates are written dd/mm/yyyy in both languages (geo.format.date)
    assert p.label("vi") == "01/01/2024 – 31/03/2024"
    assert p.label("en") == "01/01/2024 – 31/03/2024"
    assert p.kind == "custom" and p.year is None


# ------------------------------------------------------------------- cùng kỳ

def test_same_period_last_year_of_february_2024_ends_on_28th():
    base = period("month", 2024, 2).same_period_last_year()
    assert (base.start, base.end, base.label("vi")) == (D(2023, 2, 1), D(2023, 2, 28), "Tháng 2/2023")


def test_same_period_last_year_of_custom_range_ending_29_february():
    base = custom(D(2024, 1, 1), D(2024, 2, 29)).same_period_last_year()
    assert (base.start, base.end) == (D(2023, 1, 1), D(2023, 2, 28))
    base = custom(D(2024, 2, 29), D(2024, 3, 10)).same_period_last_year()
    assert (base.start, base.end) == (D(2023, 2, 28), D(2023, 3, 10))


def test_same_period_last_year_keeps_the_statistical_cut():
    base = period("quarter", 2024, 1, cut="statistical").same_period_last_year()
    assert (base.start, base.end) == (D(2022, 12, 15), D(2023, 3, 14))
    assert base.cut == "statistical" and base.label("vi") == "Quý I/2023"
    base = period("year", 2025, cut="statistical").same_period_last_year()
    assert (base.start, base.end) == (D(2023, 12, 15), D(2024, 12, 14))


def test_same_period_last_year_across_year_end():
    base = period("month", 2025, 1).same_period_last_year()
    assert (base.start, base.end) == (D(2024, 1, 1), D(2024, 1, 31))
    base = custom(D(2024, 12, 20), D(2025, 1, 10)).same_period_last_year()
    assert (base.start, base.end) == (D(2023, 12, 20), D(2024, 1, 10))


# ------------------------------------------------------------------ previous

@pytest.mark.parametrize("p, start, end, vi", [
    (period("quarter", 2024, 1), D(2023, 10, 1), D(2023, 12, 31), "Quý IV/2023"),
    (period("month", 2024, 1), D(2023, 12, 1), D(2023, 12, 31), "Tháng 12/2023"),
    (period("month", 2024, 3), D(2024, 2, 1), D(2024, 2, 29), "Tháng 2/2024"),
    (period("6months", 2024, 1), D(2023, 7, 1), D(2023, 12, 31), "6 tháng cuối năm 2023"),
    (period("year", 2024), D(2023, 1, 1), D(2023, 12, 31), "Năm 2023"),
    (period("month", 2024, 1, cut="statistical"), D(2023, 11, 15), D(2023, 12, 14), "Tháng 12/2023"),
    (period("9months", 2024), D(2023, 4, 1), D(2023, 12, 31), "01/04/2023 – 31/12/2023"),
    (custom(D(2024, 3, 1), D(2024, 3, 10)), D(2024, 2, 20), D(2024, 2, 29), "20/02/2024 – 29/02/2024"),
])
def test_previous(p, start, end, vi):
    prev = p.previous()
    assert (prev.start, prev.end, prev.label("vi")) == (start, end, vi)
    assert prev.end + timedelta(days=1) == p.start


# ------------------------------------------------------------ dates and Tết

def test_contains_uses_local_time():
    q1 = period("quarter", 2024, 1)
    assert q1.contains(D(2024, 3, 31))
    assert not q1.contains(D(2024, 4, 1))
    # 31/03 17:30 UTC is 01/04 00:30 in Hồ Chí Minh City
    assert not q1.contains(datetime(2024, 3, 31, 17, 30, tzinfo=timezone.utc))
    assert q1.contains(datetime(2024, 3, 31, 16, 59, tzinfo=timezone.utc))
    assert q1.contains(datetime(2024, 3, 31, 23, 59))  # naive: already local
    assert local_date(datetime(2023, 12, 31, 17, 0, tzinfo=timezone.utc)) == D(2024, 1, 1)


def test_utc_bounds():
    lo, hi = period("year", 2024).utc_bounds()
    assert lo == datetime(2023, 12, 31, 17, 0, tzinfo=timezone.utc)
    assert hi == datetime(2024, 12, 31, 17, 0, tzinfo=timezone.utc)


def test_tet_moves_between_months_and_cuts():
    assert TET[2024] == D(2024, 2, 10) and TET[2025] == D(2025, 1, 29)
    assert period("month", 2024, 2).tet_days() == [D(2024, 2, 10)]
    assert period("month", 2024, 2, cut="statistical").tet_days() == [D(2024, 2, 10)]  # 15/1–14/2
    assert period("month", 2025, 2).tet_days() == []
    assert period("month", 2025, 1).tet_days() == [D(2025, 1, 29)]
    assert period("month", 2025, 1, cut="statistical").tet_days() == []  # 15/12/2024–14/01/2025
    cur = period("month", 2025, 2)
    assert "chỉ rơi vào kỳ so sánh" in tet_note(cur, cur.same_period_last_year())
    assert "base period" in tet_note(cur, cur.same_period_last_year(), "en")
    q1 = period("quarter", 2025, 1)
    assert tet_note(q1, q1.same_period_last_year()) is None


# --------------------------------------------------------------------- parsing

@pytest.mark.parametrize("spec, kind, start, end", [
    ("2024", "year", D(2024, 1, 1), D(2024, 12, 31)),
    ("2024-06", "month", D(2024, 6, 1), D(2024, 6, 30)),
    ("2024-6", "month", D(2024, 6, 1), D(2024, 6, 30)),
    ("2024-Q1", "quarter", D(2024, 1, 1), D(2024, 3, 31)),
    ("2024-q4", "quarter", D(2024, 10, 1), D(2024, 12, 31)),
    ("2024-H1", "6months", D(2024, 1, 1), D(2024, 6, 30)),
    ("2024-H2", "6months", D(2024, 7, 1), D(2024, 12, 31)),
    ("2024-9M", "9months", D(2024, 1, 1), D(2024, 9, 30)),
    ("2024-Q1:stat", "quarter", D(2023, 12, 15), D(2024, 3, 14)),
    ("2024:statistical", "year", D(2023, 12, 15), D(2024, 12, 14)),
    ("2024-01-01..2024-03-31", "custom", D(2024, 1, 1), D(2024, 3, 31)),
    ("2024-02-29", "custom", D(2024, 2, 29), D(2024, 2, 29)),
    (" 2024-Q2 ", "quarter", D(2024, 4, 1), D(2024, 6, 30)),
])
def test_parse_period(spec, kind, start, end):
    p = parse_period(spec)
    assert (p.kind, p.start, p.end) == (kind, start, end)


@pytest.mark.parametrize("p", [
    *(period("month", 2024, m, cut=c) for m in (1, 2, 12) for c in ("calendar", "statistical")),
    *(period("quarter", 2023, q, cut=c) for q in (1, 4) for c in ("calendar", "statistical")),
    period("6months", 2024, 2), period("9months", 2024, cut="statistical"), period("year", 2025),
    custom(D(2024, 1, 1), D(2024, 3, 31)), custom(D(2024, 2, 29), D(2024, 2, 29)),
])
def test_parse_round_trip(p):
    assert parse_period(p.spec) == p
    assert parse_period(p.spec).spec == p.spec


def test_spec_forms():
    assert period("quarter", 2024, 1, cut="statistical").spec == "2024-Q1:stat"
    assert period("month", 2024, 6).spec == "2024-06"
    assert period("6months", 2024, 1).spec == "2024-H1"
    assert period("9months", 2024).spec == "2024-9M"
    assert custom(D(2024, 1, 1), D(2024, 3, 31)).spec == "2024-01-01..2024-03-31"


@pytest.mark.parametrize("spec, match", [
    ("2024-13", r"`index` là 13 .* từ 1 đến 12"),
    ("2024-Q5", r"`spec` là '2024-Q5' nhưng phải có một trong các dạng: 2024, 2024-06, 2024-Q1"),
    ("Q1/2024", r"`spec` là 'Q1/2024'"),
    ("", r"`spec` là ''"),
    ("2023-02-29..2023-03-01", r"`spec` là '2023-02-29..2023-03-01': có một ngày không tồn tại"),
    ("2024-03-31..2024-01-01", r"`end` \(2024-01-01\) sớm hơn `start` \(2024-03-31\)"),
    ("1800", r"`year` là 1800 nhưng phải là số nguyên từ 1900 đến 2100"),
])
def test_parse_errors(spec, match):
    with pytest.raises(InputError, match=match):
        parse_period(spec)


def test_parse_rejects_non_strings():
    with pytest.raises(InputError, match="`spec` là 2024"):
        parse_period(2024)


def test_parse_errors_name_the_callers_argument_in_english_too():
    english = Flask(__name__)
    english.config["BABEL_DEFAULT_LOCALE"] = "en"
    with english.app_context():
        with pytest.raises(InputError, match=r"^`period` was '2024-Q5' but must look like one of 2024, 2024-06, "):
            parse_period("2024-Q5", name="period")
        with pytest.raises(InputError, match=r"^`period` was '2023-02-29': it holds a date that does not exist; "):
            parse_period("2023-02-29", name="period")
        with pytest.raises(InputError, match=r"^`index` was 13 but for kind 'month' it must be an integer from 1 "
                                             r"to 12\.$"):
            parse_period("2024-13", name="period")
        with pytest.raises(InputError, match=r"for example the same period last year: Q1 2023 "
                                             r"\(01/01/2023 – 31/03/2023\)\.$"):
            check_base(period("quarter", 2024, 1), period("month", 2024, 2))


# ------------------------------------------------------------------- builders

@pytest.mark.parametrize("args, kwargs, match", [
    (("week", 2024, 1), {}, r"`kind` was 'week' but is expected to be in \['month', 'quarter'"),
    (("quarter", 2024, 5), {}, r"`index` là 5 nhưng với kiểu kỳ 'quarter' phải là số nguyên từ 1 đến 4"),
    (("quarter", 2024), {}, r"`index` là None"),
    (("year", 2024, 1), {}, r"`index` là 1 nhưng kiểu kỳ 'year' không có số thứ tự"),
    (("month", "2024", 1), {}, r"`year` là '2024'"),
    (("month", 2024, 1), {"cut": "fiscal"}, r"`cut` was 'fiscal' but is expected to be in \['calendar', 'statistical'\]"),
])
def test_period_errors(args, kwargs, match):
    with pytest.raises(InputError, match=match):
        period(*args, **kwargs)


def test_custom_and_period_errors():
    with pytest.raises(InputError, match=r"`end` \(2024-01-01\) sớm hơn `start` \(2024-02-01\)"):
        custom(D(2024, 2, 1), D(2024, 1, 1))
    with pytest.raises(InputError, match=r"`start` was datetime\.datetime.* must be a datetime\.date"):
        custom(datetime(2024, 1, 1), D(2024, 2, 1))
    with pytest.raises(InputError, match=r"`kind` was 'week'"):
        Period(D(2024, 1, 1), D(2024, 1, 7), "week", "x", "x")


def test_periods_are_hashable_values():
    assert period("quarter", 2024, 1) == parse_period("2024-Q1")
    assert len({period("quarter", 2024, 1), parse_period("2024-Q1")}) == 1


# ----------------------------------------------------------------------- bins

def test_monthly_bins_of_a_year():
    out = bins(D(2024, 1, 1), D(2024, 12, 31))
    assert [p.label("vi") for p in out[:2]] == ["Tháng 1/2024", "Tháng 2/2024"]
    assert len(out) == 12
    assert all(a.end + timedelta(days=1) == b.start for a, b in zip(out, out[1:]))


def test_statistical_bins_across_the_year_boundary():
    out = bins(D(2023, 12, 10), D(2024, 3, 20), "quarter", cut="statistical")
    assert [p.spec for p in out] == ["2023-Q4:stat", "2024-Q1:stat", "2024-Q2:stat"]
    assert out[1].start == D(2023, 12, 15) and out[1].end == D(2024, 3, 14)
    out = bins(D(2023, 12, 20), D(2024, 1, 5), "month", cut="statistical")
    assert [p.spec for p in out] == ["2024-01:stat"]
    out = bins(D(2023, 12, 14), D(2023, 12, 15), "year", cut="statistical")
    assert [p.label("vi") for p in out] == ["Năm 2023", "Năm 2024"]


def test_bins_cover_the_range():
    start, end = D(2022, 11, 3), D(2024, 2, 29)
    for freq in ("month", "quarter", "6months", "year"):
        for cut in ("calendar", "statistical"):
            out = bins(start, end, freq, cut=cut)
            assert out[0].contains(start) and out[-1].contains(end)
            assert all(a.end + timedelta(days=1) == b.start for a, b in zip(out, out[1:]))


def test_bins_errors():
    with pytest.raises(InputError, match=r"`freq` was 'week' but is expected to be in"):
        bins(D(2024, 1, 1), D(2024, 2, 1), "week")
    with pytest.raises(InputError, match=r"`end` \(2023-01-01\) sớm hơn `start`"):
        bins(D(2024, 1, 1), D(2023, 1, 1))


# ----------------------------------------------------------------- check_base

def test_check_base():
    cur = period("quarter", 2024, 1)
    check_base(cur, cur.same_period_last_year())
    check_base(cur, cur.previous())
    with pytest.raises(InputError, match=r"Kỳ so sánh `base` .* trùng với kỳ báo cáo `current` Quý I/2024"):
        check_base(cur, custom(D(2023, 12, 1), D(2024, 1, 1)))
    with pytest.raises(InputError, match=r"cùng kỳ: Quý I/2023"):
        check_base(cur, period("month", 2024, 2))
    # the statistical Q1 starts on 15/12: a calendar December base overlaps it
    with pytest.raises(InputError, match="trùng với kỳ báo cáo"):
        check_base(period("quarter", 2024, 1, cut="statistical"), period("month", 2023, 12))


# ----------------------------------------------------------------- formatting

@pytest.mark.parametrize("x, vi, en", [
    (-8.4, "giảm 8,4%", "down 8.4%"),
    (24, "tăng 24,0%", "up 24.0%"),
    (0, "không đổi", "no change"),
    (0.0, "không đổi", "no change"),
    (1234.56, "tăng 1.234,6%", "up 1,234.6%"),
    (float("nan"), "—", "—"),
    (None, "—", "—"),
])
def test_format_change(x, vi, en):
    assert change(x, locale="vi") == vi
    assert change(x, locale="en") == en


@pytest.mark.parametrize("x, digits, vi, en", [
    (1234.5, None, "1.234,5", "1,234.5"),
    (84.04, None, "84,04", "84.04"),
    (84.04, 2, "84,04", "84.04"),
    (1200000, None, "1.200.000", "1,200,000"),
    (1234567.891, 2, "1.234.567,89", "1,234,567.89"),
    (0.5, 0, "0", "0"),
    (-1234.5, 1, "-1.234,5", "-1,234.5"),
    (float("nan"), None, "—", "—"),
])
def test_format_number(x, digits, vi, en):
    assert number(x, digits, locale="vi") == vi
    assert number(x, digits, locale="en") == en


def test_local_dates_follow_the_timezone_setting():
    """Inside an app, local dates and period bounds are in TIMEZONE (Tokyo: UTC+9, not +7)."""
    q1 = parse_period("2024-Q1")
    assert q1.utc_bounds()[0] == datetime(2023, 12, 31, 17, tzinfo=timezone.utc)  # Asia/Ho_Chi_Minh
    app = Flask(__name__)
    app.config["TIMEZONE"] = "Asia/Tokyo"
    with app.app_context():
        assert q1.utc_bounds() == (datetime(2023, 12, 31, 15, tzinfo=timezone.utc),
                                   datetime(2024, 3, 31, 15, tzinfo=timezone.utc))
        # 15:30 UTC on 31/03 is already 1 April in Tokyo, still 31 March in Hồ Chí Minh City
        assert local_date(datetime(2024, 3, 31, 15, 30, tzinfo=timezone.utc)) == date(2024, 4, 1)
    assert local_date(datetime(2024, 3, 31, 15, 30, tzinfo=timezone.utc)) == date(2024, 3, 31)
