"""Query and form arguments, checked: the messages say which argument is wrong and what is expected."""
from __future__ import annotations

import datetime as dt

from flask import abort, current_app, request
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.routing import IntegerConverter

from geo.categories import normalise_raw, raw_terms, time_terms
from geo.errors import InputError
from geo.format import number
from geo.methods import METHODS, Param
from geo.periods import parse_period
from geo.scope import check_former

PERIOD_KEYS = ("boundary", "start", "end", "categories")


class RowId(IntegerConverter):
    """``<id:name>`` in a route: a row id, at most a 64-bit integer (a larger one is no row: 404, where
    the database would fail with a 500)."""

    def __init__(self, url_map, **kwargs):
        super().__init__(url_map, max=2 ** 63 - 1)


def date_arg(name: str, default: dt.date | None = None) -> dt.date:
    value = request.args.get(name)
    if not value:
        if default is None:
            raise InputError(_("`%(name)s` is required (YYYY-MM-DD).", name=name))
        return default
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise InputError(_("`%(name)s` was %(value)s but is expected as YYYY-MM-DD.", name=name,
                           value=repr(value))) from None


def period_arg(spec: str):
    """The named period ``spec`` of the ``period`` argument (``2024-Q1``, ``2024-H1:stat``, ``2024``)."""
    return parse_period(spec, name="period")


def check_range(start: dt.date, end: dt.date) -> None:
    if end < start:
        raise InputError(_("`end` (%(end)s) is before `start` (%(start)s).", end=end.isoformat(),
                           start=start.isoformat()))


def request_period() -> str | None:
    """The named period of the query (``period``), in the statistical cut with ``cut=stat`` as the
    map pages send it (``period=2025-H1&cut=stat`` is ``2025-H1:stat``)."""
    spec = request.args.get("period")
    if spec and spec != "custom" and request.args.get("cut") == "stat" and ":" not in spec:
        return spec + ":stat"
    return spec


def area_query_args() -> dict:
    """The query parameters every area endpoint shares: boundary, start and end (or a named
    ``period`` such as ``2024-Q1``, ``2024-H1:stat``, ``2024``), category, raw labels (``raw=``, repeatable)."""

    boundary = request.args.get("boundary") or current_app.config["DEFAULT_BOUNDARY"]
    spec = request_period()
    if spec and not (request.args.get("start") or request.args.get("end")):
        p = period_arg(spec)
        start, end = p.start, p.end
    else:
        start = date_arg("start")
        end = date_arg("end")
    check_range(start, end)
    cats = [c for c in (request.args.get("category") or "").split(",") if c] + list(raw_terms(raw_arg()))
    return dict(boundary=boundary, start=start, end=end, categories=cats + list(time_terms(*time_args())))


def _whole(name: str, raw: str, top: int) -> int:
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if not 0 <= value <= top:
        raise InputError(_("`%(name)s` was %(value)s but is expected to be a whole number from 0 to %(maximum)s.",
                           name=name, value=repr(raw[:20]), maximum=top))
    return value


def time_args() -> tuple[int | None, int | None, tuple[int, ...]]:
    """``(hour_from, hour_to, weekdays)`` of ``hour_from=``/``hour_to=`` (0–23, both or neither; the
    window runs from hour_from through hour_to and wraps midnight when hour_to is smaller: 22 and 4
    are 22:00–05:00) and ``weekday=`` (repeatable, 0 = Monday … 6 = Sunday)."""
    a, b = (request.args.get(k, "").strip() for k in ("hour_from", "hour_to"))
    if bool(a) != bool(b):
        raise InputError(_("Give both `hour_from` and `hour_to` (the first and the last hour of the window, "
                           "0 to 23), or neither."))
    days = tuple(sorted({_whole("weekday", v.strip(), 6) for v in request.args.getlist("weekday") if v.strip()}))
    if a:
        return _whole("hour_from", a, 23), _whole("hour_to", b, 23), days
    return None, None, days


RAW_MAX = 50


def raw_arg() -> tuple[str, ...]:
    """The raw labels of ``raw=`` (repeatable; the files' own category labels, matched exactly after
    normalising Unicode and white space), sorted."""
    values = sorted({v for v in (normalise_raw(x) for x in request.args.getlist("raw")) if v})
    if len(values) > RAW_MAX:
        raise InputError(_("`raw` names %(n)s labels; choose at most %(max)s.", n=number(len(values)),
                           max=number(RAW_MAX)))
    long = [v for v in values if len(v) > 200]
    if long:
        raise InputError(_("`raw` was %(value)s: longer than %(max)s characters.", value=repr(long[0][:40] + "…"),
                           max=number(200)))
    return tuple(values)


UNITS_MAX = 500
TEXT_MAX = 20_000  # characters of a text parameter (the existing sites)


#: The complex-areas page's own ``unit`` choice (ward or spot) shares the argument's name with the
#: unit codes; the two are told apart by value (no unit code is a word).
UNIT_KINDS = METHODS["complex-areas"].param("unit").values


def unit_arg(known) -> tuple[str, ...]:
    """The unit codes of ``unit=`` (repeatable): the units a page or report is limited to, in
    the order given, each one of ``known`` (the codes of the boundary version); () for all."""
    values = tuple(dict.fromkeys(v.strip() for v in request.args.getlist("unit")
                                 if v.strip() and v.strip() not in UNIT_KINDS))
    if len(values) > UNITS_MAX:
        raise InputError(_("`unit` names %(n)s units; choose at most %(max)s.", n=number(len(values)),
                           max=number(UNITS_MAX)))
    unknown = [v for v in values if v not in known]
    if unknown:
        raise InputError(_("`unit` was %(value)s: no unit of the chosen boundary version has that code.",
                           value=repr(unknown[0][:40])))
    return values


def former_arg(engine, boundary: str) -> str:
    """The former district of ``former=`` ("hcmc-2019:764"), checked by :func:`geo.scope.check_former`; "" for none."""
    value = (request.args.get("former") or "").strip()
    if value:
        check_former(engine, boundary, value)
    return value


def _number(p: Param, raw: str):
    try:
        value = int(raw) if p.kind == "int" else float(raw)
    except ValueError:
        if p.kind == "int":
            raise InputError(_("`%(name)s` was %(value)s but is expected to be a whole number.",
                               name=p.name, value=repr(raw))) from None
        raise InputError(_("`%(name)s` was %(value)s but is expected to be a number.",
                           name=p.name, value=repr(raw))) from None
    if value != value or (p.minimum is not None and (value <= p.minimum if p.exclusive else value < p.minimum)):
        if p.exclusive:
            raise InputError(_("`%(name)s` was %(value)s but must be above %(minimum)s.", name=p.name,
                               value=repr(raw), minimum=number(p.minimum)))
        raise InputError(_("`%(name)s` was %(value)s but must be at least %(minimum)s.", name=p.name,
                           value=repr(raw), minimum=number(p.minimum)))
    if p.maximum is not None and value > p.maximum:
        raise InputError(_("`%(name)s` was %(value)s but must be at most %(maximum)s.", name=p.name,
                           value=repr(raw), maximum=number(p.maximum)))
    return value


def param_value(p: Param):
    """One parameter of the registry (geo.methods) from the query string, checked, or its default.
    Analyst-only parameters set by anyone else are refused (403)."""

    raw = request.args.get(p.name)
    if raw in (None, ""):
        return p.default
    if p.analyst and not current_user.can("analyst"):
        abort(403, description=_("Only analysts may set `%(name)s`.", name=p.name))
    if p.kind == "date":
        return date_arg(p.name)
    if p.kind == "text":
        if len(raw) > TEXT_MAX:
            raise InputError(_("`%(name)s` is longer than %(max)s characters.", name=p.name, max=number(TEXT_MAX)))
        return raw
    if p.kind == "choice":
        return choice_arg(p.name, p.default, p.values)
    return _number(p, raw)


def method_args(method: str) -> dict:
    """Every parameter of ``method`` (geo.methods.METHODS), checked, by argument name; see
    :meth:`geo.methods.Method.keywords` for the analysis function's names."""
    return {p.name: param_value(p) for p in METHODS[method].params}


def method_kwargs(method: str) -> dict:
    """:func:`method_args` as the keyword arguments of the method's analysis function."""
    return METHODS[method].keywords(method_args(method))


def choice_arg(name: str, default: str, allowed: tuple[str, ...]) -> str:
    """The value of ``name`` among ``allowed``; of a repeated argument (``unit=`` also names unit
    codes) the one that is a choice."""
    given = [v for v in request.args.getlist(name) if v]
    value = next((v for v in given if v in allowed), given[0] if given else default)
    if value not in allowed:
        raise InputError(_("`%(name)s` was %(value)s but is expected to be one of %(choices)s.", name=name,
                           value=repr(value), choices=", ".join(allowed)))
    return value


def analysis_args() -> dict:
    args = area_query_args()
    args["categories"] = tuple(args["categories"])
    return args


def to_params(args: dict) -> dict:
    """Analysis arguments as JSON values (dates as ISO text), for a job row."""
    return {k: v.isoformat() if isinstance(v, dt.date) else list(v) if isinstance(v, tuple) else v
            for k, v in args.items()}


def from_params(params: dict, date_keys=("start", "end", "base_start", "base_end", "forecast_start")) -> dict:
    out = {k: dt.date.fromisoformat(v) if k in date_keys and v else v for k, v in params.items()}
    if "categories" in out:
        out["categories"] = tuple(out["categories"])
    return out
