"""Query and form arguments, checked: the messages say which argument is wrong and what is expected."""
from __future__ import annotations

import datetime as dt

from flask import abort, current_app, request
from flask_login import current_user
from werkzeug.routing import IntegerConverter

from geo.errors import InputError
from geo.periods import parse_period

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
            raise InputError(f"`{name}` is required (YYYY-MM-DD).")
        return default
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise InputError(f"`{name}` was {value!r} but is expected as YYYY-MM-DD.") from None


def area_query_args() -> dict:
    """The query parameters every area endpoint shares: boundary, start and end (or a named
    ``period`` such as ``2024-Q1``, ``2024-H1:stat``, ``2024``), category."""

    boundary = request.args.get("boundary") or current_app.config["DEFAULT_BOUNDARY"]
    spec = request.args.get("period")
    if spec and not (request.args.get("start") or request.args.get("end")):
        try:
            p = parse_period(spec)
        except InputError as exc:
            raise InputError(str(exc).replace("`spec`", "`period`", 1)) from None
        start, end = p.start, p.end
    else:
        start = date_arg("start")
        end = date_arg("end")
    if end < start:
        raise InputError(f"`end` ({end}) is before `start` ({start}).")
    cats = [c for c in (request.args.get("category") or "").split(",") if c]
    return dict(boundary=boundary, start=start, end=end, categories=cats)


def number_arg(name: str, default, *, kind=float, minimum=None, exclusive=True, maximum=None):
    """A numeric query parameter, checked; ``None`` default means optional."""

    raw = request.args.get(name)
    if raw in (None, ""):
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise InputError(f"`{name}` was {raw!r} but is expected to be a "
                         f"{'whole number' if kind is int else 'number'}.") from None
    if value != value or (minimum is not None and (value <= minimum if exclusive else value < minimum)):
        raise InputError(f"`{name}` was {raw!r} but must be {'above' if exclusive else 'at least'} {minimum}.")
    if maximum is not None and value > maximum:
        raise InputError(f"`{name}` was {raw!r} but must be at most {maximum}.")
    return value


def analyst_arg(name: str, default, **kw):
    """A tuning parameter (eps, bandwidth, …): analysts may set it, others get the default."""

    if request.args.get(name) not in (None, "") and not current_user.can("analyst"):
        abort(403, description=f"Only analysts may set `{name}`.")
    return number_arg(name, default, **kw)


def choice_arg(name: str, default: str, allowed: tuple[str, ...]) -> str:
    value = request.args.get(name) or default
    if value not in allowed:
        raise InputError(f"`{name}` was {value!r} but is expected to be one of {', '.join(allowed)}.")
    return value


def analysis_args() -> dict:
    args = area_query_args()
    args["categories"] = tuple(args["categories"])
    return args


def to_params(args: dict) -> dict:
    """Analysis arguments as JSON values (dates as ISO text), for a job row."""
    return {k: v.isoformat() if isinstance(v, dt.date) else list(v) if isinstance(v, tuple) else v
            for k, v in args.items()}


def from_params(params: dict, date_keys=("start", "end", "base_start", "base_end")) -> dict:
    out = {k: dt.date.fromisoformat(v) if k in date_keys and v else v for k, v in params.items()}
    if "categories" in out:
        out["categories"] = tuple(out["categories"])
    return out
