"""The area a page or report is limited to: the whole version, a former district, or chosen units.

A selection is resolved to unit codes of the page's boundary version (``Filters.units``, the one
field every consumer reads). A former district (``former="hcmc-2019:764"``, Quận Gò Vấp before
July 2025) is resolved through the stored crosswalk between the two versions when there is one,
otherwise by overlaying the polygons; a unit belongs to it when at least half of its area came
from the district's old units.
"""
from __future__ import annotations

import re

import pandas as pd
from sqlalchemy.engine import Engine

from clustering.projection import metric_crs_for
from geo import analysis
from geo import format as fmt
from geo.errors import InputError
from geo.format import N_
from geo.names import fold
from geo.store.queries import crosswalk_rows, versions

#: A unit belongs to a former district when at least this share of its area came from it.
MAJORITY = 0.5
#: How many names :func:`describe` lists before "…".
NAMES_SHOWN = 5

#: Folded unit level -> the plural word for a count of them ("16 phường", "16 wards").
LEVEL_WORDS = {"phuong": N_("wards"), "xa": N_("communes"), "thi tran": N_("townships"),
               "dac khu": N_("special zones"), "tinh": N_("provinces"), "thanh pho": N_("cities")}
_LEVEL_ORDER = list(LEVEL_WORDS)


def _natural(text: str):
    """Sort key that puts "Quận 2" before "Quận 10" (Python sorts text, not numbers in it)."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", fold(text))]


def parse_former(spec: str) -> tuple[str, str]:
    """``"hcmc-2019:764"`` -> ``("hcmc-2019", "764")``."""
    version, sep, code = (spec or "").strip().rpartition(":")
    if not sep or not version or not code:
        raise InputError(fmt.gettext("`former` was %(value)s but is expected as VERSION:DISTRICT_CODE, such as "
                                     "hcmc-2019:764; choose the district in the list.", value=repr(spec[:60])))
    return version, code


def _parents(frame) -> pd.DataFrame:
    """The distinct (parent_code, parent_name) of a version's units."""
    return frame[["parent_code", "parent_name"]].dropna().drop_duplicates("parent_code")


def _overlaps(a, b) -> bool:
    ax0, ay0, ax1, ay1 = a.total_bounds
    bx0, by0, bx1, by1 = b.total_bounds
    return ax0 <= bx1 and bx0 <= ax1 and ay0 <= by1 and by0 <= ay1


def former_shares(engine: Engine, boundary: str, former_version: str, parent_code: str,
                  how: str = "auto") -> pd.Series:
    """Per unit code of ``boundary``: the share of its area that came from the district
    ``parent_code`` of ``former_version`` (units with none are left out). ``how="crosswalk"``: Σ over
    the district's old units of area_share × old area / new area, from the stored crosswalk
    ``former_version`` -> ``boundary``; ``how="polygons"``: the share of the unit's area inside the
    union of the district's old units, in the metric CRS of the data; ``"auto"``: the crosswalk
    when one is stored."""
    new = analysis._ward_frame(engine, boundary)
    old = analysis._ward_frame(engine, former_version)
    district = old[old["parent_code"] == parent_code]
    walk = crosswalk_rows(engine, former_version, boundary) if how != "polygons" else None
    if walk is not None and (len(walk) or how == "crosswalk"):
        walk = walk[walk["old_code"].isin(district.index)]
        came = (walk["area_share"] * walk["old_code"].map(district["area_km2"])).groupby(walk["new_code"]).sum()
        share = came / new["area_km2"].reindex(came.index)
    else:
        crs = metric_crs_for(new)
        metric = new.to_crs(crs).geometry
        share = metric.intersection(district.to_crs(crs).union_all()).area / metric.area
    return share[share > 0].sort_index()


def former_units(engine: Engine, boundary: str, former_version: str, parent_code: str) -> list[str]:
    """The codes of the units of ``boundary`` that were (mostly) the district ``parent_code`` of
    ``former_version``, sorted: at least half of their area came from it (:func:`former_shares`).
    ``boundary == former_version``: the units with that parent."""

    def compute():
        if boundary == former_version:
            new = analysis._ward_frame(engine, boundary)
            return sorted(new.index[new["parent_code"] == parent_code])
        share = former_shares(engine, boundary, former_version, parent_code)
        return sorted(share.index[share >= MAJORITY])

    return analysis.cached("former-units", engine, {"b": boundary, "v": former_version, "p": parent_code}, compute)


def check_former(engine: Engine, boundary: str, spec: str) -> tuple[str, str]:
    """``(version, parent_code)`` of the ``former`` argument, checked: the version is stored, has
    several parents (districts) and one of them has that code."""
    version, code = parse_former(spec)
    if version not in {v.name for v in versions(engine)}:
        raise InputError(fmt.gettext("`former` was %(value)s: no boundary version %(version)s is stored; choose "
                                     "the district in the list.", value=repr(spec[:60]), version=repr(version)))
    parents = _parents(analysis._ward_frame(engine, version))
    if len(parents) <= 1:
        raise InputError(fmt.gettext("`former` was %(value)s: %(version)s has no districts (its units have one "
                                     "parent); choose a version from before July 2025 such as hcmc-2019.",
                                     value=repr(spec[:60]), version=repr(version)))
    if code not in set(parents["parent_code"]):
        raise InputError(fmt.gettext("`former` was %(value)s: %(version)s has no district with code %(code)s; "
                                     "choose the district in the list.", value=repr(spec[:60]),
                                     version=repr(version), code=repr(code)))
    if not former_units(engine, boundary, version, code):
        raise InputError(fmt.gettext("`former` was %(value)s: no unit of %(boundary)s lies mostly in that "
                                     "district; choose another boundary version.", value=repr(spec[:60]),
                                     boundary=repr(boundary)))
    return version, code


def _before(v, locale) -> str:
    """"(before 07/2025)" of a version that ended on 30/06/2025; "" while it is valid."""
    if v.valid_to is None:
        return ""
    nxt = v.valid_to.replace(day=28) + pd.Timedelta(days=4)  # a day of the month after valid_to
    return fmt.gettext(" (before %(month)s)", locale, month=f"{nxt.month:02d}/{nxt.year}")


def choices(engine: Engine, boundary: str, locale: str | None = None) -> list[tuple[str, str]]:
    """The former districts a user can choose on ``boundary``: ``("<version>:<parent_code>", label)``
    for each stored version with several parents (districts) that covers the same place, e.g.
    ``("hcmc-2019:764", "Quận Gò Vấp (trước 07/2025)")``, by name; only districts holding a unit."""
    locale = fmt.current_locale(locale)

    def compute():
        here = analysis._ward_frame(engine, boundary)
        out = []
        for v in versions(engine):
            frame = analysis._ward_frame(engine, v.name)
            parents = _parents(frame)
            if len(parents) <= 1 or not _overlaps(here, frame):
                continue
            suffix = "" if v.name == boundary else _before(v, locale)
            rows = [(f"{v.name}:{p.parent_code}", f"{p.parent_name}{suffix}") for p in parents.itertuples()]
            out += sorted((r for r in rows if former_units(engine, boundary, *r[0].rsplit(":", 1))),
                          key=lambda r: _natural(r[1]))
        return out

    return analysis.cached("former-choices", engine, {"b": boundary, "lang": locale}, compute)


def unit_choices(engine: Engine, boundary: str) -> list[tuple[str, str, str]]:
    """``(code, name, folded name)`` of every unit of ``boundary``, by name: the name carries the
    parent where names repeat; the folded name (no diacritics) is what the search box matches
    (not the parent's name, whose "Thành phố" would match every "thanh")."""
    frame = analysis._ward_frame(engine, boundary)
    rows = [(c, n, fold(n)) for c, n in zip(frame["code"], frame["name"])]
    return sorted(rows, key=lambda r: _natural(r[1]))


def level_word(engine: Engine, boundary: str, codes=None, locale: str | None = None) -> str:
    """The plural word of the units' levels, in their usual order: "phường, xã", "tỉnh, thành phố"."""
    frame = analysis._ward_frame(engine, boundary)
    levels = frame.loc[list(codes), "level"] if codes else frame["level"]
    folded = {fold(x) for x in levels.dropna()}
    known = [k for k in _LEVEL_ORDER if k in folded]
    if not known or len(known) < len(folded):
        return fmt.gettext("units", locale)
    return ", ".join(fmt.gettext(LEVEL_WORDS[k], locale) for k in known)


def describe(engine: Engine, boundary: str, units=(), former: str = "", locale: str | None = None) -> str:
    """The selection in words: "Phường Bến Thành", "3 phường, xã: A, B, C", "địa bàn quận Gò Vấp cũ
    (16 phường)", "toàn Thành phố Hồ Chí Minh" (the whole version)."""
    frame = analysis._ward_frame(engine, boundary)
    units = list(units)
    if former:
        version, code = parse_former(former)
        parents = _parents(analysis._ward_frame(engine, version)).set_index("parent_code")["parent_name"]
        name = str(parents.get(code, code))
        name = name[:1].lower() + name[1:]  # "quận Gò Vấp" inside a sentence
        key = "district" if version == boundary else "former"
        text = {"district": N_("%(district)s (%(n)s %(units)s)"),
                "former": N_("the former %(district)s area (%(n)s %(units)s)")}[key]
        return fmt.gettext(text, locale, district=name, n=fmt.number(len(units), locale=locale),
                           units=level_word(engine, boundary, units, locale))
    if not units:
        parents = _parents(frame)
        if len(parents) == 1:
            return fmt.gettext("all of %(place)s", locale, place=parents["parent_name"].iloc[0])
        return fmt.gettext("the whole area", locale)
    names = [str(frame.at[c, "name"]) for c in units]
    if len(names) == 1:
        return names[0]
    listed = ", ".join(names[:NAMES_SHOWN]) + (", …" if len(names) > NAMES_SHOWN else "")
    return fmt.gettext("%(n)s %(units)s: %(names)s", locale, n=fmt.number(len(names), locale=locale),
                       units=level_word(engine, boundary, units, locale), names=listed)
