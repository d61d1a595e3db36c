"""Aoristic counts per weekday and hour (Ratcliffe 2002, "Aoristic signatures and the spatio-temporal
analysis of high volume crime patterns", J. Quant. Criminology 18(1)).

A victim often knows only that a motorbike was stolen "from 22h to 6h". Each incident then spreads a
weight of 1 over the hours its range spans, in proportion to the minutes it spends in each hour of the
week; an incident with a single time gives its whole weight to that hour. The matrix sums to the
number of incidents with a known time; those without one are counted apart, never spread.

No library computes this (the method is a few lines of arithmetic over minutes of the week), hence
the code below.

>>> start = np.array(["2025-03-10T22:30", "2025-03-11T08:00", "NaT"], dtype="datetime64[m]")
>>> end = np.array(["2025-03-11T01:30", "NaT", "NaT"], dtype="datetime64[m]")
>>> r = weekday_hour(start, end)
>>> r.matrix[0, 22:24].round(4).tolist(), r.matrix[1, 0:2].round(4).tolist(), float(r.matrix[1, 8]), r.unknown
([0.1667, 0.3333], [0.3333, 0.1667], 1.0, 1)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import N_, InputError

WEEK_MIN = 7 * 24 * 60
# 1970-01-05 was a Monday: minutes counted from it give the minute of the week directly
_MONDAY = np.datetime64("1970-01-05T00:00", "m")
CHUNK = 20_000  # incidents per block: a block holds CHUNK x 168 floats


@dataclass(frozen=True)
class WeekdayHour:
    """``matrix[weekday, hour]`` (weekday 0 = Monday) of aoristic weights; ``unknown`` incidents
    without a time of day, not in the matrix."""

    matrix: np.ndarray
    unknown: int

    @property
    def total(self) -> float:
        return float(self.matrix.sum())


def weekday_hour(start, end=None) -> WeekdayHour:
    """The aoristic weekday x hour matrix of incidents from local ``start`` to local ``end``
    (datetime64 arrays; NaT in ``start``: the time is unknown; NaT in ``end`` or an end equal to the
    start: a single time). A range longer than a week spreads evenly over the week's hours."""
    s = np.asarray(start, dtype="datetime64[s]")
    e = np.full(s.shape, np.datetime64("NaT"), dtype="datetime64[s]") if end is None \
        else np.asarray(end, dtype="datetime64[s]")
    if s.shape != e.shape or s.ndim != 1:
        raise InputError(N_("`start` and `end` must be two lists of the same length (got %(a)s and %(b)s)."),
                         a=s.shape, b=e.shape)
    known = ~np.isnat(s)
    unknown = int((~known).sum())
    s, e = s[known], e[known]
    point = np.isnat(e) | (e == s)
    if (e[~point] < s[~point]).any():
        first = int(np.flatnonzero(~point)[np.argmax(e[~point] < s[~point])])
        raise InputError(N_("incident %(i)s ends (%(end)s) before it starts (%(start)s); swap or correct the times."),
                         i=first, end=str(e[first]), start=str(s[first]))
    # minutes since a Monday midnight, as floats (seconds kept)
    a = (s - _MONDAY).astype("timedelta64[s]").astype(float) / 60.0
    b = (e - _MONDAY).astype("timedelta64[s]").astype(float) / 60.0
    out = np.zeros(168)
    # single times: the whole weight to their hour of the week
    np.add.at(out, (np.floor(a[point] % WEEK_MIN) // 60).astype(int), 1.0)
    a, b = a[~point], b[~point]
    lo = np.arange(168) * 60.0  # each hour of the week starts at this minute
    for i in range(0, len(a), CHUNK):
        ai, bi = a[i:i + CHUNK, None], b[i:i + CHUNK, None]
        out += ((_cumulative(bi, lo) - _cumulative(ai, lo)) / (bi - ai)).sum(axis=0)
    return WeekdayHour(out.reshape(7, 24), unknown)


def _cumulative(x: np.ndarray, lo: np.ndarray) -> np.ndarray:
    """Minutes of [0, x) that fall in the hour of the week starting at minute ``lo``, over all weeks."""
    weeks, rest = np.divmod(x, WEEK_MIN)
    return weeks * 60.0 + np.clip(rest - lo, 0.0, 60.0)
