"""Aoristic weekday x hour counts against hand-worked examples."""
import numpy as np
import pytest

from clustering.aoristic import weekday_hour
from clustering.errors import InputError


def t(*values):
    return np.array(values, dtype="datetime64[m]")


def test_a_night_range_across_midnight():
    # Monday 10/03/2025 22:30 to Tuesday 01:30: 180 minutes, 30 + 60 + 60 + 30 of them per hour
    r = weekday_hour(t("2025-03-10T22:30"), t("2025-03-11T01:30"))
    m = r.matrix
    assert m[0, 22] == pytest.approx(0.5 / 3)
    assert m[0, 23] == pytest.approx(1 / 3)
    assert m[1, 0] == pytest.approx(1 / 3)
    assert m[1, 1] == pytest.approx(0.5 / 3)
    assert np.count_nonzero(m) == 4
    assert r.total == pytest.approx(1.0) and r.unknown == 0


def test_single_times_unknown_times_and_sums():
    # Sunday 16/03/2025 23:59 (a single time), Saturday 15/03 08:00-10:00 (half to 8h, half to 9h),
    # an unknown time, and a range of zero length (a single time) on Wednesday 12/03 14:10
    start = t("2025-03-16T23:59", "2025-03-15T08:00", "NaT", "2025-03-12T14:10")
    end = t("NaT", "2025-03-15T10:00", "NaT", "2025-03-12T14:10")
    r = weekday_hour(start, end)
    assert r.matrix[6, 23] == 1.0
    assert r.matrix[5, 8] == pytest.approx(0.5) and r.matrix[5, 9] == pytest.approx(0.5)
    assert r.matrix[2, 14] == 1.0
    assert r.unknown == 1
    assert r.total == pytest.approx(3.0)  # the incidents with a known time


def test_a_range_of_more_than_a_week_spreads_evenly():
    # exactly two weeks from Thursday 06/03/2025 05:00: every hour of the week gets 2 x 60 / 20160
    r = weekday_hour(t("2025-03-06T05:00"), t("2025-03-20T05:00"))
    assert np.allclose(r.matrix, 1 / 168)
    # two weeks and three hours: the three extra hours (Thu 5h, 6h, 7h) get one more hour each
    r = weekday_hour(t("2025-03-06T05:00"), t("2025-03-20T08:00"))
    total_min = 14 * 24 * 60 + 180
    assert r.matrix[3, 5] == pytest.approx(180 / total_min)
    assert r.matrix[3, 8] == pytest.approx(120 / total_min)
    assert r.total == pytest.approx(1.0)


def test_dates_before_1970_and_the_input_checks():
    # Monday 02/01/1967 (before the reference Monday) 23:00-01:00
    r = weekday_hour(t("1967-01-02T23:00"), t("1967-01-03T01:00"))
    assert r.matrix[0, 23] == pytest.approx(0.5) and r.matrix[1, 0] == pytest.approx(0.5)
    with pytest.raises(InputError, match="ends"):
        weekday_hour(t("2025-03-10T22:00"), t("2025-03-10T21:00"))
    with pytest.raises(InputError, match="same length"):
        weekday_hour(t("2025-03-10T22:00"), t("NaT", "NaT"))
