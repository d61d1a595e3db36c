"""The categories of the store: built-ins and the ones users add, the report groups' members, each
source's label mapping, and re-filing a source's stored incidents under the current mapping.

:func:`catalogue` is read once and kept until a category or a group changes (one small query
tells); the web layer keeps it for the length of a request as well.
"""
from __future__ import annotations

import datetime as dt
import threading
from contextlib import nullcontext

from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.engine import Connection, Engine

from geo.categories import CATEGORIES, CODE_PATTERN, GROUPS, Catalogue, normalise_raw
from geo.errors import InputError
from geo.format import gettext as _
from geo.format import number
from geo.names import fold
from geo.store import accounts
from geo.store.models import Category, CategoryGroup, ImportBatch, SourceCategoryMap, refresh_area_day, utcnow

_cache: dict[str, tuple[tuple, Catalogue]] = {}
_lock = threading.Lock()


def _connect(engine_or_conn):
    return engine_or_conn.connect() if isinstance(engine_or_conn, Engine) else nullcontext(engine_or_conn)


def catalogue(engine_or_conn) -> Catalogue:
    """The store's categories and groups (without a source's mapping)."""
    with _connect(engine_or_conn) as conn:
        stamp = tuple(conn.execute(select(func.count(), func.max(Category.changed_at))).one())
        key = str(conn.engine.url)
        with _lock:
            hit = _cache.get(key)
        if hit and hit[0] == stamp:
            return hit[1]
        rows = conn.execute(select(Category.code, Category.label_vi, Category.label_en)).all()
        # menus list the built-ins in their shipped order, then the users' by label, "Khác" last
        order = {c: i for i, c in enumerate(CATEGORIES)}
        rows.sort(key=lambda r: (r.code == "khac", r.code not in order, order.get(r.code, 0), r.label_vi))
        cats = {r.code: (r.label_vi, r.label_en) for r in rows}
        groups: dict[str, list[str]] = {g: [] for g in GROUPS}
        for g, c in conn.execute(select(CategoryGroup.group_code, CategoryGroup.category)):
            groups.setdefault(g, []).append(c)
    out = Catalogue(cats, {g: tuple(sorted(m)) for g, m in groups.items()})
    with _lock:
        _cache[key] = (stamp, out)
    return out


def source_map(conn: Connection, source: str) -> dict[str, str]:
    """A source's remembered mapping: folded label → category code."""
    return dict(conn.execute(select(SourceCategoryMap.label_folded, SourceCategoryMap.category)
                             .where(SourceCategoryMap.source == source)).all())


def source_rows(engine: Engine) -> list:
    """Every remembered mapping row (source, label, category), for the categories page."""
    with engine.connect() as conn:
        return conn.execute(select(SourceCategoryMap.source, SourceCategoryMap.label, SourceCategoryMap.category)
                            .order_by(SourceCategoryMap.source, SourceCategoryMap.label)).all()


def for_source(conn: Connection, source: str, mapping: dict[str, str] | None = None) -> Catalogue:
    """The catalogue an import of ``source`` files its labels with: ``mapping`` (a new file, which
    replaces the remembered one) or the remembered mapping, then every category's labels."""
    cat = catalogue(conn)
    return cat.with_source_map({fold(k): v for k, v in mapping.items()} if mapping is not None
                               else source_map(conn, source))


def set_source_map(conn: Connection, source: str, mapping: dict[str, str]) -> None:
    """Remember ``mapping`` ({label: code}) as the mapping of ``source`` (replacing the old one)."""
    conn.execute(delete(SourceCategoryMap).where(SourceCategoryMap.source == source))
    rows = [dict(source=source, label_folded=fold(k)[:200], label=k[:200], category=v) for k, v in mapping.items()]
    if rows:
        conn.execute(insert(SourceCategoryMap), rows)


# --------------------------------------------------------------------------- changes

def _check_labels(cat: Catalogue, code: str, vi: str, en: str) -> tuple[str, str]:
    vi, en = normalise_raw(vi) or "", normalise_raw(en) or ""
    if not vi or not en:
        raise InputError(_("Give the category a Vietnamese and an English label."))
    for text_ in (vi, en):
        if len(text_) > 200:
            raise InputError(_("The label %(label)r is longer than %(n)s characters; shorten it.",
                               label=text_[:40] + "…", n=number(200)))
        owner = cat.label_owner(text_)
        if owner and owner != code:
            raise InputError(_("The label %(label)r is already used by the category %(other)s; choose "
                               "another label.", label=text_, other=cat.label(owner)))
    return vi, en


def add(conn: Connection, code: str, vi: str, en: str, groups=()) -> None:
    """Add a user category (its code is a slug: lower-case letters, digits and _)."""
    cat = catalogue(conn)
    code = (code or "").strip()
    if not CODE_PATTERN.match(code):
        raise InputError(_("The code %(code)r is not usable: use 2 to 40 lower-case letters without "
                           "accents, digits or _ and begin with a letter (e.g. trom_xe).", code=code[:40]))
    if code in cat.categories or code in GROUPS:
        raise InputError(_("The code %(code)r is already used; choose another code.", code=code))
    vi, en = _check_labels(cat, code, vi, en)
    conn.execute(insert(Category).values(code=code, label_vi=vi, label_en=en, builtin=False, changed_at=utcnow()))
    _write_groups(conn, code, groups)


def rename(conn: Connection, code: str, vi: str, en: str) -> None:
    cat = _existing(conn, code)
    vi, en = _check_labels(cat, code, vi, en)
    conn.execute(update(Category).where(Category.code == code).values(label_vi=vi, label_en=en, changed_at=utcnow()))


def set_groups(conn: Connection, code: str, groups) -> None:
    """Make ``code`` a member of exactly ``groups`` (codes of geo.categories.GROUPS)."""
    _existing(conn, code)
    conn.execute(delete(CategoryGroup).where(CategoryGroup.category == code))
    _write_groups(conn, code, groups)
    conn.execute(update(Category).where(Category.code == code).values(changed_at=utcnow()))


def _write_groups(conn, code, groups):
    groups = sorted(set(groups))
    unknown = [g for g in groups if g not in GROUPS]
    if unknown:
        raise InputError(_("`group` has unknown code(s) %(codes)s; allowed: %(allowed)s.",
                           codes=", ".join(map(repr, unknown)), allowed=", ".join(GROUPS)))
    if groups:
        conn.execute(insert(CategoryGroup), [dict(group_code=g, category=code) for g in groups])


def remove(conn: Connection, code: str) -> None:
    """Remove a user category that no incident and no source's mapping uses."""
    cat = _existing(conn, code)
    if cat.builtin(code):
        raise InputError(_("%(label)s is a built-in category and cannot be removed.", label=cat.label(code)))
    n = conn.execute(text("SELECT COUNT(*) FROM incident WHERE category = :c"), {"c": code}).scalar()
    if n:
        raise InputError(_("%(n)s incidents are filed under %(label)s; re-file them under another category "
                           "before removing it.", n=number(n), label=cat.label(code)))
    sources = conn.execute(select(SourceCategoryMap.source).where(SourceCategoryMap.category == code)
                           .distinct()).scalars().all()
    if sources:
        raise InputError(_("The label mapping of %(sources)s files labels under %(label)s; change the mapping "
                           "before removing it.", sources=", ".join(sources), label=cat.label(code)))
    conn.execute(delete(Category).where(Category.code == code))


def _existing(conn, code: str) -> Catalogue:
    cat = catalogue(conn)
    if code not in cat.categories:
        raise InputError(_("No category %(code)r; nothing was changed.", code=code[:40]))
    return cat


def usage(engine: Engine) -> dict[str, int]:
    """Incidents per category code."""
    with engine.connect() as conn:
        return dict(conn.execute(text("SELECT category, COUNT(*) FROM incident GROUP BY category")).all())


def sources(engine: Engine) -> list[str]:
    """The sources with stored incidents."""
    with engine.connect() as conn:
        return conn.execute(text("SELECT DISTINCT source FROM incident ORDER BY source")).scalars().all()


# --------------------------------------------------------------------------- re-filing

def refile(engine: Engine, source: str, *, by: accounts.Actor) -> int:
    """File the stored incidents of ``source`` under its current mapping (then the categories' labels,
    else "khac"), recount the day aggregates of the days touched and record it (an import batch
    row, so that cached results see new data, and an audit row); returns the incidents moved."""
    conn = engine.connect().execution_options(sqlite_begin="IMMEDIATE")
    try:
        with conn.begin():
            cat = for_source(conn, source)
            rows = conn.execute(text(
                "SELECT category_raw, category, COUNT(*), MIN(local_date), MAX(local_date) FROM incident "
                "WHERE source = :s GROUP BY category_raw, category"), {"s": source}).all()
            if not rows:
                raise InputError(_("No incidents of the source %(source)r are stored; nothing was changed.",
                                   source=source))
            moved, days = 0, []
            for raw, old, n, lo, hi in rows:
                new = (cat.lookup(raw) if raw is not None else None) or "khac"
                if new == old:
                    continue
                cond = "category_raw = :r" if raw is not None else "category_raw IS NULL"
                conn.execute(text(f"UPDATE incident SET category = :c WHERE source = :s AND category = :o AND {cond}"),
                             {"c": new, "s": source, "o": old, "r": raw})
                moved += n
                days += [_day(lo), _day(hi)]
            if days:
                refresh_area_day(conn, start=min(days), end=max(days))
            now = utcnow()
            conn.execute(insert(ImportBatch).values(
                source=source, file_name=_("Categories re-filed"), sha256="", imported_by=by.username,
                started_at=now, finished_at=now, status="done", accepted=0, updated=moved, rejected=0))
            accounts.record(conn, "category_refile", source, {"moved": moved}, by=by)
    finally:
        conn.close()
    return moved


def _day(v) -> dt.date:
    return v if isinstance(v, dt.date) else dt.date.fromisoformat(str(v)[:10])
