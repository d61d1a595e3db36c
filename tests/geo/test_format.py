"""The one formatter: numbers, percentages, changes and dates as the committees write them."""
import datetime as dt

import numpy as np
import pytest

from geo import format


def test_numbers_have_one_minus_sign_and_one_missing_glyph():
    assert format.number(1234.5, 1, locale="vi") == "1.234,5"
    assert format.number(1234.5, 1, locale="en") == "1,234.5"
    assert format.number(-1234567, 0, locale="vi") == "-1.234.567"
    assert format.number(-0.004, 2, locale="vi") == "0,00"   # never "-0,00"
    assert format.number(np.nan, locale="vi") == format.number(None, locale="en") == "—"


def test_dates_are_dd_mm_yyyy_in_both_languages():
    assert format.date(dt.date(2024, 3, 5), locale="vi") == "05/03/2024"
    assert format.date(dt.date(2024, 3, 5), locale="en") == "05/03/2024"
    assert format.date(dt.datetime(2024, 3, 5, 23, 59), locale="vi") == "05/03/2024"


@pytest.mark.parametrize("count, base, vi, en", [
    (917, 1001, "giảm 8,4%", "down 8.4%"),      # (917 - 1001) / 1001 = -8.39 %
    (1248, 1001, "tăng 24,7%", "up 24.7%"),     # 247 / 1001 = 24.68 %
    (5, 5, "không đổi", "no change"),
    (3, 0, "tăng 3 vụ", "up 3 incidents"),
    (0, 0, "không đổi", "no change"),
])
def test_changes_read_as_in_the_reports(count, base, vi, en):
    assert format.count_change(count, base, locale="vi") == vi
    assert format.count_change(count, base, locale="en") == en


def test_percentages_keep_the_committees_two_decimals():
    assert format.percent(0.8404, 2, locale="vi") == "84,04%"
    assert format.percent(0.8404, 2, locale="en") == "84.04%"
