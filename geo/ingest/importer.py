"""Importing incident files into the store: read, validate, join to every boundary version, upsert.

An import is one transaction: every accepted row, its wards and the batch
record land together, or nothing does.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from openpyxl import Workbook
from sqlalchemy import select, text
from sqlalchemy.engine import Connection, Engine

from geo.errors import InputError
from geo.format import N_, gettext
from geo.ingest import postgis
from geo.ingest.join import assign_wards
from geo.ingest.parsing import (
    GEOM_LAT,
    GEOM_LON,
    REJECT_REASONS_HEADER,
    REJECT_ROW_HEADER,
    RawTable,
    ReadLimits,
    arrow_text,
    is_arrow_text,
    read_table,
    sha256_of,
    split_header,
    strip_formula_guard,
)
from geo.ingest.validate import DEFAULT_TZ, Extent, Validated, WardIndex, validate
from geo.render.exports import csv_bytes, xlsx_cell
from geo.store.categories import for_source, set_source_map
from geo.store.models import (
    BoundaryVersion,
    Crosswalk,
    ImportBatch,
    Incident,
    check_widths,
    refresh_area_day,
    utcnow,
)
from geo.store.queries import load_areas

CHUNK = 50_000


@dataclass
class ImportResult:
    batch_id: int | None
    file_name: str
    accepted: int = 0  # new rows
    updated: int = 0  # rows already stored that the file changed (written again)
    unchanged: int = 0  # rows already stored as the file has them, wards included (not written again)
    rejected: int = 0  # rows (a row may have several problems, each a line of ``rejects``)
    outside: dict = field(default_factory=dict)  # version name -> incidents in no unit
    nearest: dict = field(default_factory=dict)  # version name -> incidents placed by tolerance
    warnings: list = field(default_factory=list)
    rejects: pd.DataFrame | None = None  # row, column, value, reason: one line per problem
    rejected_table: pd.DataFrame | None = None  # the rejected rows as they were in the file (rejects_table)
    layout: dict = field(default_factory=dict)  # how the file was written (RawTable.layout)
    unknown_categories: pd.DataFrame | None = None  # labels filed as "khac": label, count

    @property
    def rejects_csv(self) -> str:
        return rejects_to_csv(self.rejects)

    def rejects_file(self) -> tuple[bytes, str]:
        """The rejected-rows file: (bytes, suffix) as :func:`rejects_file`."""
        return rejects_file(rejects_to_csv(self.rejected_table), self.layout)


def rejects_to_csv(rejects: pd.DataFrame | None) -> str:
    """The rejected rows as CSV text (to be written with a BOM so that Excel shows Vietnamese).

    The values are the file's own cells, so they are written formula-safe
    (:func:`geo.render.exports.csv_bytes`): ``=HYPERLINK(...)`` becomes ``'=HYPERLINK(...)``;
    the import reads that ``'`` away again (:func:`geo.ingest.parsing.strip_formula_guard`).
    """
    if rejects is None:
        return ""
    headers = {c: gettext(REJECT_HEADERS.get(c, c)) for c in rejects.columns}
    return csv_bytes(rejects.rename(columns=headers)).decode("utf-8-sig")


#: The headers of the rejected rows' CSV, in the importing user's language like its reasons.
REJECT_HEADERS = {"row": N_("row"), "column": N_("column"), "value": N_("value"), "reason": N_("reason")}


def rejects_table(raw: RawTable, rejects: pd.DataFrame) -> pd.DataFrame:
    """The rejected rows of ``raw`` as the file had them: every column in the file's order, as text,
    then the row number in the file and every reason of the row ("column: reason; …"), in the
    importing user's language. Corrected, it imports again as it is (the two added columns are
    ignored)."""
    original = raw.original
    rows = np.unique(rejects["row"].to_numpy(dtype=np.int64)) if len(rejects) else np.array([], dtype=np.int64)
    table = original.iloc[rows - 2].rename(columns={GEOM_LON: "lon", GEOM_LAT: "lat"}).astype(object)
    table = table.where(table.notna(), None).reset_index(drop=True)
    # a NUL byte (a reason to reject the row) cannot be stored in a PostgreSQL text column: the
    # replacement character marks where it was
    table = table.map(lambda v: v if v is None
                      else (v if isinstance(v, str) else _cell_text(v)).replace("\x00", "\ufffd"))
    joined = (rejects["column"].astype(str) + ": " + rejects["reason"].astype(str)).groupby(rejects["row"]).agg("; ".join)
    table[gettext(REJECT_ROW_HEADER)] = rows.astype(object)
    table[gettext(REJECT_REASONS_HEADER)] = joined.reindex(rows).to_numpy(dtype=object)
    return table


def _cell_text(v) -> str:
    """An Excel cell's value as text a re-import reads the same way."""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, dt.datetime):  # a date cell (midnight) stays a date: a time column then applies
        return v.date().isoformat() if v.time() == dt.time() else v.isoformat(sep=" ")
    return str(v)


def rejects_file(csv_text: str, layout: dict | str | None) -> tuple[bytes, str]:
    """The stored rejected rows (:func:`rejects_to_csv` of :func:`rejects_table`) written as the
    uploaded file was: ``(bytes, ".csv" or ".xlsx")``. A CSV keeps the file's delimiter and
    encoding (Windows-1258, UTF-16, UTF-8 with or without BOM); a workbook gives a workbook. Every
    text cell stays formula-safe."""
    layout = json.loads(layout) if isinstance(layout, str) and layout else (layout or {})
    table = (pd.read_csv(io.StringIO(csv_text), dtype=str, keep_default_na=False) if csv_text.strip()
             else pd.DataFrame())
    if layout.get("kind") == "xlsx":
        wb = Workbook()
        ws = wb.active
        # the workbook shows the cells as typed (quote-prefixed text, never a formula): the CSV's
        # guard comes off here
        for j, header in enumerate(table.columns, start=1):
            xlsx_cell(ws, 1, j, strip_formula_guard(str(header)))
        for i, row in enumerate(table.itertuples(index=False), start=2):
            for j, v in enumerate(row, start=1):
                if v != "":
                    xlsx_cell(ws, i, j, strip_formula_guard(v))
        buf = io.BytesIO()
        wb.save(buf)
        return buf.getvalue(), ".xlsx"
    out = io.StringIO()
    table.to_csv(out, index=False, sep=layout.get("delimiter", ","), lineterminator="\r\n",
                 quoting=csv.QUOTE_MINIMAL)
    return encode_text(out.getvalue(), layout.get("encoding", "utf-8-sig")), ".csv"


def encode_text(text: str, encoding: str) -> bytes:
    """``text`` in ``encoding``; Windows-1258 by hand, since Python's codec has only some precomposed
    letters (â ê ô ơ ư ă đ): any other is written as one of those (or its base letter) followed by
    the combining tone mark, as Vietnamese Windows writes it. A character the encoding cannot hold
    makes the whole file UTF-8 with BOM."""
    if encoding != "cp1258":
        try:
            return text.encode(encoding)
        except UnicodeEncodeError:
            return text.encode("utf-8-sig")
    out = []
    for ch in text:
        try:
            out.append(ch.encode("cp1258"))
            continue
        except UnicodeEncodeError:
            pass
        d = unicodedata.normalize("NFD", ch)
        base, marks = d[0], d[1:]
        for i, mark in enumerate(marks):
            composed = unicodedata.normalize("NFC", base + mark)
            if len(composed) == 1 and composed.encode("cp1258", errors="ignore"):
                base, marks = composed, marks[:i] + marks[i + 1:]
                break
        try:
            out.append((base + marks).encode("cp1258"))
        except UnicodeEncodeError:
            return text.encode("utf-8-sig")
    return b"".join(out)


# --------------------------------------------------------------------------- versions in memory

@dataclass
class VersionData:
    id: int
    name: str
    valid_from: dt.date | None
    valid_to: dt.date | None
    areas: gpd.GeoDataFrame  # sorted by code, with area_id
    crosswalk: pd.DataFrame  # into this version: old_version_id, old_code -> new_code (largest share)


def load_versions(conn: Connection) -> list[VersionData]:
    cw = pd.DataFrame(conn.execute(select(
        Crosswalk.new_version_id, Crosswalk.old_version_id, Crosswalk.old_code, Crosswalk.new_code,
        Crosswalk.area_share)).all(), columns=["new_version_id", "gv", "old_code", "new_code", "share"])
    best = (cw.sort_values(["gv", "old_code", "share", "new_code"], ascending=[True, True, False, True])
              .drop_duplicates(["new_version_id", "gv", "old_code"]))
    out = []
    for v in conn.execute(select(BoundaryVersion.id, BoundaryVersion.name, BoundaryVersion.valid_from,
                                 BoundaryVersion.valid_to).order_by(BoundaryVersion.id)).all():
        out.append(VersionData(v.id, v.name, v.valid_from, v.valid_to, load_areas(conn, v.id),
                               best[best["new_version_id"] == v.id].drop(columns=["new_version_id", "share"])))
    return out


def _extent(versions: list[VersionData]) -> Extent | None:
    if not versions:
        return None
    b = np.array([v.areas.total_bounds for v in versions])
    return Extent(b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max())


def _ward_indexes(versions: list[VersionData]) -> list[WardIndex]:
    return [WardIndex(v.id, v.name, v.valid_from, v.valid_to,
                      pd.DataFrame(v.areas[["area_id", "code", "name", "parent_name"]]))
            for v in versions]


# --------------------------------------------------------------------------- joining

def join_rows(versions: list[VersionData], lon, lat, given_version, given_area, *, tolerance_m: float,
              only: int | None = None) -> dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Ward of each row in each version: ``{version_id: (area_id or -1, method, distance_m)}``.

    Rows with coordinates are joined point-in-polygon. Rows placed by a ward
    code/name keep that ward in its own version; in another version they take
    the unit that holds the largest share of it by the crosswalk when there is
    one, else the unit that holds the ward's representative point. ``only``
    limits the work to one version id. Pure computation: safe in a thread.
    """
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    gv = np.asarray(pd.array(given_version, dtype="Int64").fillna(-1), dtype=np.int64)
    ga = np.asarray(pd.array(given_area, dtype="Int64").fillna(-1), dtype=np.int64)
    has_given = ga >= 0
    rep, codes = {}, {}
    if has_given.any():
        # codes and representative points of the given wards, for carrying them across versions
        wanted = set(ga[has_given].tolist())
        for v in versions:
            sel = v.areas[v.areas["area_id"].isin(wanted)]
            pts = sel.geometry.representative_point()
            rep.update(dict(zip(sel["area_id"], zip(pts.x, pts.y))))
            codes.update(dict(zip(sel["area_id"], sel["code"])))

    def one(v):
        a = assign_wards(lon, lat, v.areas, tolerance_m=tolerance_m)
        area_id = np.where(a.index >= 0, v.areas["area_id"].to_numpy()[np.maximum(a.index, 0)], -1)
        method = a.method.copy()
        dist = a.distance_m.copy()
        if has_given.any():
            own = has_given & (gv == v.id)
            area_id[own] = ga[own]
            method[own] = "given"
            dist[own] = np.nan
            other = np.flatnonzero(has_given & (gv != v.id))
            if len(other):
                _carry_given(v, gv[other], ga[other], rep, codes, area_id, method, dist, other, tolerance_m)
        return area_id, method, dist

    return {v.id: one(v) for v in versions if only is None or v.id == only}


def _carry_given(v, gv, ga, rep, codes, area_id, method, dist, rows, tolerance_m):
    pairs = pd.DataFrame({"row": rows, "gv": gv, "ga": ga})
    pairs["old_code"] = pairs["ga"].map(codes)
    m = pairs.merge(v.crosswalk, on=["gv", "old_code"], how="left")
    new_ids = m["new_code"].map(dict(zip(v.areas["code"], v.areas["area_id"])))
    done = new_ids.notna().to_numpy()
    area_id[pairs["row"][done]] = new_ids[done].astype(np.int64).to_numpy()
    method[pairs["row"][done]] = "crosswalk"
    dist[pairs["row"][done]] = np.nan
    left = pairs[~done]
    if len(left):
        xy = np.array([rep.get(a, (np.nan, np.nan)) for a in left["ga"]])
        a = assign_wards(xy[:, 0], xy[:, 1], v.areas, tolerance_m=tolerance_m)
        ids = np.where(a.index >= 0, v.areas["area_id"].to_numpy()[np.maximum(a.index, 0)], -1)
        area_id[left["row"]] = ids
        method[left["row"]] = np.where(ids >= 0, "crosswalk", "outside")
        dist[left["row"]] = np.nan


def join_all_incidents(conn: Connection, version_id: int, *, tolerance_m: float = 50.0) -> int:
    """(Re)compute the ward of every stored incident in one version; returns the count joined.

    On PostgreSQL the points are joined in the database (PostGIS, GiST index); on SQLite, and
    for incidents placed by a ward name, in Python.
    """
    versions = load_versions(conn)
    if not any(v.id == version_id for v in versions):
        return 0
    conn.execute(text("DELETE FROM incident_area WHERE version_id = :v"), {"v": version_id})
    in_db = conn.dialect.name == "postgresql"
    if in_db:
        postgis.join_in_database(conn, [version_id], tolerance_m)
    df = pd.DataFrame(conn.execute(text(
        "SELECT i.id, i.lon, i.lat, a.version_id AS gv, i.given_area_id AS ga FROM incident i "
        "LEFT JOIN area a ON a.id = i.given_area_id" + (" WHERE i.lon IS NULL" if in_db else ""))).all(),
        columns=["id", "lon", "lat", "gv", "ga"])
    if len(df):
        joined = join_rows(versions, df["lon"].astype(float), df["lat"].astype(float),
                           df["gv"], df["ga"], tolerance_m=tolerance_m, only=version_id)
        _insert_areas(conn, df["id"].to_numpy(), joined)
    refresh_area_day(conn, version_id=version_id)
    return len(df)


# --------------------------------------------------------------------------- writing

def _ph(conn: Connection) -> str:
    return "?" if conn.dialect.paramstyle == "qmark" else "%s"


def _plain(s: pd.Series) -> list:
    """A column as a list of plain Python values for DB-API executemany, None for missing, made by
    numpy and pyarrow in C (measured 5x faster on 1M rows than pandas' astype(object) and where). Text
    that repeats (labels, addresses, days) becomes one str object per distinct value."""
    if is_arrow_text(s):
        arr = arrow_text(s)
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        if arr.null_count == len(arr):
            return [None] * len(arr)
        coded = pc.dictionary_encode(arr)
        if 2 * len(coded.dictionary) < len(arr):
            words = np.append(coded.dictionary.to_numpy(zero_copy_only=False), None)
            return words[pc.fill_null(coded.indices, -1).to_numpy()].tolist()
        return arr.to_numpy(zero_copy_only=False).tolist()
    numpy = isinstance(s.dtype, np.dtype)
    if numpy and s.dtype.kind == "f":
        a = s.to_numpy()
        missing = np.isnan(a)
        if not missing.any():
            return a.tolist()
        if missing.all():
            return [None] * len(a)
        obj = a.astype(object)
        obj[missing] = None
        return obj.tolist()
    if numpy and s.dtype.kind in "biu":
        return s.to_numpy().tolist()
    return s.to_numpy(dtype=object, na_value=None).tolist()


def _values(df: pd.DataFrame) -> list[tuple]:
    """Rows as tuples of plain Python values (None for missing) for DB-API executemany."""
    return list(zip(*(_plain(df[c]) for c in df.columns)))


def _executemany(conn: Connection, sql: str, frame: pd.DataFrame) -> None:
    """``sql`` for every row of ``frame``, in batches of ``CHUNK`` rows (their plain values are made per
    batch, so they never all live at once)."""
    for start in range(0, len(frame), CHUNK):
        conn.exec_driver_sql(sql, _values(frame.iloc[start:start + CHUNK]))


def _insert(conn: Connection, table: str, frame: pd.DataFrame, constants: dict) -> None:
    """INSERT the rows of ``frame`` into ``table`` with ``constants`` (the importer's own ids and codes,
    never a file's text) written as SQL literals and the columns missing in every row left out (NULL):
    fewer parameters per row, measured 1.5x faster on 1M incidents than binding every column."""
    if frame.empty:
        return
    bound = [c for c in frame.columns if frame[c].notna().any()]
    for value in constants.values():  # literals: integers, and codes such as "within"
        if not (isinstance(value, (int, np.integer)) or re.fullmatch(r"[a-z_]+", str(value))):
            raise ValueError(f"not a literal: {value!r}")
    literals = [str(int(v)) if isinstance(v, (int, np.integer)) else f"'{v}'" for v in constants.values()]
    sql = (f"INSERT INTO {table} ({', '.join([*constants, *bound])}) "
           f"VALUES ({', '.join([*literals, *[_ph(conn)] * len(bound)])})")
    _executemany(conn, sql, frame[bound])


def _insert_day_counts(conn: Connection, rows: pd.DataFrame, joined: dict) -> None:
    """The day aggregates (area_day) of ``rows``, counted in memory, for a store that held no incident
    before them: the same rows as :func:`geo.store.models.refresh_area_day` (measured 2x faster on 1M
    rows than its GROUP BY over the stored incidents), in the order of the table's key."""
    day = rows["local_date"].to_numpy("datetime64[D]")
    cat, cats = pd.factorize(rows["category"], sort=True)  # codes in the order of the key's text
    severity = rows["severity"].fillna(0).to_numpy(dtype=np.int64)
    counts = pd.DataFrame({"n": np.ones(len(rows), dtype=np.int64),
                           "n_cleared": rows["cleared"].fillna(False).to_numpy(dtype=np.int64),
                           **{f"n_sev{k}": (severity == k).astype(np.int64) for k in (1, 2, 3, 4)}})
    for vid, (area_id, _, _) in sorted(joined.items()):
        keep = area_id >= 0
        g = counts[keep].groupby([day[keep], area_id[keep], cat[keep]], sort=True).sum()
        days, areas, codes = (g.index.get_level_values(k).to_numpy() for k in range(3))
        frame = pd.DataFrame({"local_date": pd.array(pc.cast(pa.array(days.astype("datetime64[D]")), pa.string()),
                                                     dtype="str"),
                              "area_id": areas, "category": np.asarray(cats, dtype=object)[codes]})
        _insert(conn, "area_day", pd.concat([frame, g.reset_index(drop=True)], axis=1), {"version_id": vid})


def _fetch(conn: Connection, sql: str, params=()) -> list[tuple]:
    """Rows of ``sql`` as tuples from the DB-API cursor of the connection's transaction: SQLAlchemy's Row
    objects measured 3x slower on 1M rows."""
    cur = conn.connection.dbapi_connection.cursor()
    try:
        cur.execute(sql, params)
        return cur.fetchall()
    finally:
        cur.close()


def _rows_with_ids(conn: Connection, head: str, params: tuple, key: str, ids: np.ndarray) -> np.ndarray:
    """The rows of ``head`` (a SELECT ending in WHERE or AND) whose ``key`` is one of the sorted ``ids``
    (and maybe others between them), as a 2-D object array: one range scan where the ids fill most of
    their range, else lists of them."""
    ph = _ph(conn)
    lo, hi = int(ids[0]), int(ids[-1])
    if hi - lo < 2 * len(ids):
        rows = _fetch(conn, f"{head} {key} BETWEEN {ph} AND {ph}", (*params, lo, hi))
    else:
        rows = []
        for start in range(0, len(ids), 5_000):
            part = ids[start:start + 5_000].tolist()
            rows += _fetch(conn, f"{head} {key} IN ({', '.join([ph] * len(part))})", (*params, *part))
    return np.array(rows, dtype=object) if rows else np.empty((0, 1), dtype=object)


def _insert_areas(conn: Connection, incident_ids: np.ndarray, joined: dict) -> None:
    """Write the ward of each incident in each version; incidents outside a version get no row. The
    rows of one version and method go in together, ordered by incident (appended to the (version,
    incident) key), with the version and the method as literals."""
    for vid, (area_id, method, dist) in sorted(joined.items()):
        keep = area_id >= 0
        order = np.argsort(incident_ids[keep], kind="stable")
        d = dist[keep][order]
        frame = pd.DataFrame({"incident_id": incident_ids[keep][order].astype(np.int64),
                              "area_id": area_id[keep][order].astype(np.int64),
                              "distance_m": np.where(d > 0, np.round(d, 2), np.nan)})
        kinds = method[keep][order]
        for code in pd.unique(kinds):
            _insert(conn, "incident_area", frame[kinds == code], {"version_id": vid, "method": code})


INCIDENT_COLUMNS = ["id", "source", "external_id", "occurred_at", "local_date", "time_known", "occurred_to",
                    "local_hour", "local_weekday", "category",
                    "category_raw", "severity", "cleared", "lon", "lat", "orig_x", "orig_y",
                    "orig_crs", "address", "ward_given", "district_given", "description",
                    "given_area_id", "batch_id"]


def import_file(engine: Engine, path: str | Path, *, source: str, mapping: dict | None = None,
                crs: str | None = None, imported_by: str = "", tolerance_m: float = 50.0,
                display_name: str | None = None, progress=None, now: dt.datetime | None = None,
                limits: ReadLimits | None = None, tz: str = DEFAULT_TZ, ignore=(),
                category_map: dict[str, str] | None = None) -> ImportResult:
    """Import one incident file. See the module docstring. ``mapping`` (field -> header) and
    ``ignore`` (headers not to use) correct the recognised columns; ``tz`` is the time zone of
    times without an offset (TIMEZONE).

    Labels are filed by ``category_map`` ({label: code}, remembered for the source's next
    imports) or else the source's remembered mapping, then by the categories' labels, else "khac".

    Raises :class:`InputError` (and changes nothing) when the file cannot be
    read or no row is acceptable; the error carries the rejected rows as
    ``exc.result``.
    """
    path = Path(path)
    name = display_name or path.name
    step = progress or (lambda label: None)
    if not source or not source.strip():
        raise InputError(gettext("`source` is empty; name the system the file comes from (e.g. 'cong-an-q1')."))
    check_widths(ImportBatch, dict(source=source, imported_by=imported_by), name)
    name = name[-255:]  # the batch keeps the end of a very long file name (its extension)
    step("read")
    raw = read_table(path, mapping=mapping, display_name=name, limits=limits, ignore=ignore)
    digest = sha256_of(path)
    with engine.connect() as conn:
        versions = load_versions(conn)
        categories = for_source(conn, source, category_map)
    step("validate")
    checked = validate(raw, extent=_extent(versions), wards=_ward_indexes(versions), crs=crs, now=now, tz=tz,
                       categories=categories)
    rows = checked.rows
    result = ImportResult(None, name, rejected=checked.rejects["row"].nunique(), warnings=checked.warnings,
                          rejects=checked.rejects, rejected_table=rejects_table(raw, checked.rejects),
                          layout=raw.layout, unknown_categories=checked.unknown_categories)
    read_rows = len(raw.frame)
    raw.frame = raw.original = None  # only the rejected rows' cells are kept
    if rows.empty:
        first = checked.rejects.iloc[0] if len(checked.rejects) else None
        err = InputError(gettext("%(name)s: no row could be imported (%(n)s rows, all rejected; first problem: "
                                 "row %(row)s, column %(column)r: %(reason)s).", name=name, n=read_rows,
                                 row=first["row"], column=first["column"], reason=first["reason"])
                         if first is not None else gettext("%(name)s: the file has no data rows.", name=name))
        err.result = result
        raise err

    step("join")
    # Large files on PostgreSQL are joined by PostGIS after the rows are written; the rest here.
    in_db = postgis.joins_in_database(engine, len(rows))
    placed = rows["lon"].notna().to_numpy() if in_db else np.zeros(len(rows), dtype=bool)
    joined = join_rows(versions, rows["lon"].where(~placed), rows["lat"].where(~placed),
                       rows["given_version_id"], rows["given_area_id"], tolerance_m=tolerance_m)
    for v in versions:
        _, method, _ = joined[v.id]
        method[placed] = "in_database"
        result.outside[v.name] = int((method == "outside").sum())
        result.nearest[v.name] = int((method == "nearest").sum())
    conn = engine.connect().execution_options(sqlite_begin="IMMEDIATE")
    try:
        with conn.begin():
            step("write")
            batch_id = conn.execute(ImportBatch.__table__.insert().values(
                source=source, file_name=name, sha256=digest, imported_by=imported_by,
                started_at=utcnow(), status="running").returning(ImportBatch.id)).scalar_one()
            ids, is_new = _assign_ids(conn, source, rows["external_id"])
            frame = _incident_frame(rows, source, ids, batch_id, conn)
            changed = ~is_new
            old_dates = pd.Series([], dtype="datetime64[ns]")
            if changed.any():
                # a row stored as it is in the file, wards included, is not written again
                same, dates = _stored(conn, frame[changed], {v: tuple(a[changed] for a in arrs)
                                                            for v, arrs in joined.items()})
                changed[np.flatnonzero(changed)[same]] = False
                old_dates = dates[~same]
            written = is_new | changed
            # into an empty table, the secondary indexes are built once after the rows (a sort)
            # rather than row by row
            rebuild = [] if conn.exec_driver_sql("SELECT 1 FROM incident LIMIT 1").first() else list(
                Incident.__table__.indexes)
            for index in rebuild:
                index.drop(conn)
            _write_incidents(conn, frame, is_new, changed)
            del frame
            _insert_areas(conn, ids[written], {v: tuple(a[written] for a in arrs) for v, arrs in joined.items()})
            for index in rebuild:
                index.create(conn)
            if category_map is not None:
                set_source_map(conn, source, category_map)
            if in_db:
                counts = postgis.join_in_database(conn, [v.id for v in versions], tolerance_m, batch_id=batch_id)
                for v in versions:
                    result.outside[v.name] += int(placed.sum()) - counts[v.id]["within"] - counts[v.id]["nearest"]
                    result.nearest[v.name] += counts[v.id]["nearest"]
            step("aggregate")
            if rebuild:  # a first load: its rows are all the store holds
                conn.exec_driver_sql("DELETE FROM area_day")
                _insert_day_counts(conn, rows, joined)
            else:
                # recount the days the written rows touch (an update may move an incident to another day)
                touched = pd.concat([rows["local_date"][written], old_dates])
                if len(touched):
                    refresh_area_day(conn, start=touched.min().date(), end=touched.max().date())
            result.batch_id = batch_id
            result.accepted = int(is_new.sum())
            result.updated = int(changed.sum())
            result.unchanged = len(rows) - result.accepted - result.updated
            conn.execute(ImportBatch.__table__.update().where(ImportBatch.id == batch_id).values(
                finished_at=utcnow(), status="done", accepted=result.accepted, updated=result.updated,
                rejected=result.rejected, outside=max(result.outside.values(), default=0),
                warnings="\n".join(result.warnings), rejected_csv=rejects_to_csv(result.rejected_table),
                rejected_format=json.dumps(raw.layout)))
    finally:
        conn.close()
    step("done")
    return result


def _assign_ids(conn: Connection, source: str, external_ids: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Existing ids for known (source, external id), fresh ones for the rest, and which are fresh.

    Fresh ids continue from the largest id; the import holds the write lock
    (BEGIN IMMEDIATE on SQLite, a table lock elsewhere) so no other writer
    can take them meanwhile.
    """
    ph = _ph(conn)
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("LOCK TABLE incident IN SHARE ROW EXCLUSIVE MODE")
    existing = _fetch(conn, f"SELECT external_id, id FROM incident WHERE source = {ph}", (source,))
    known = pd.Index([e for e, _ in existing]).get_indexer(external_ids)
    is_new = known < 0
    start = (conn.execute(text("SELECT MAX(id) FROM incident")).scalar() or 0) + 1
    ids = np.array([i for _, i in existing] + [0], dtype=np.int64)[known]
    ids[is_new] = np.arange(start, start + is_new.sum())
    return ids, is_new


#: The columns compared with the stored row on a re-import (the batch is not: it says which import
#: wrote the row), and how to read them as the importer writes them.
COMPARED = [c for c in INCIDENT_COLUMNS if c not in ("id", "source", "external_id", "batch_id")]
_AS_WRITTEN = {"postgresql": {
    "occurred_at": "to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || '+00:00'",
    "occurred_to": "to_char(occurred_to AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || '+00:00'",
    "local_date": "to_char(local_date, 'YYYY-MM-DD')"}}


def _stored(conn: Connection, frame: pd.DataFrame, joined: dict) -> tuple[np.ndarray, pd.Series]:
    """For incidents already stored (``frame``, as :func:`_incident_frame`, and their wards ``joined``):
    which equal the stored row (every :data:`COMPARED` column, and the unit, method and distance in
    every version), and the local dates they had. The store is read a chunk of ids at a time."""
    ids = frame["id"].to_numpy()
    as_written = _AS_WRITTEN.get(conn.dialect.name, {})
    ph = _ph(conn)
    head = f"SELECT id, {', '.join(as_written.get(c, c) for c in COMPARED)} FROM incident WHERE"
    same = np.zeros(len(ids), dtype=bool)
    old_dates = np.full(len(ids), None, dtype=object)
    by_id = np.argsort(ids, kind="stable")
    chunks = [by_id[start:start + CHUNK] for start in range(0, len(ids), CHUNK)]
    for pos in chunks:  # positions in frame, by id
        got = _rows_with_ids(conn, head, (), "id", ids[pos])
        at = pd.Index(ids[pos]).get_indexer(got[:, 0].astype(np.int64)) if len(got) else np.array([], dtype=int)
        got, here = got[at >= 0], pos[at[at >= 0]]
        equal = np.ones(len(here), dtype=bool)
        part = frame.iloc[here]
        for k, c in enumerate(COMPARED, start=1):
            equal &= np.asarray(_plain(part[c]), dtype=object) == got[:, k]
        same[here] = equal
        old_dates[here] = got[:, 1 + COMPARED.index("local_date")]
    for vid, (area_id, method, dist) in joined.items():
        dist = np.where(dist > 0, np.round(dist, 2), np.nan)
        head = f"SELECT incident_id, area_id, method, distance_m FROM incident_area WHERE version_id = {ph} AND"
        for pos in chunks:
            got = _rows_with_ids(conn, head, (vid,), "incident_id", ids[pos])
            stored_area = np.full(len(pos), -1, dtype=np.int64)
            stored_method = np.full(len(pos), None, dtype=object)
            stored_dist = np.full(len(pos), np.nan)
            if len(got):
                at = pd.Index(ids[pos]).get_indexer(got[:, 0].astype(np.int64))
                got, at = got[at >= 0], at[at >= 0]
                stored_area[at] = got[:, 1].astype(np.int64)
                stored_method[at] = got[:, 2]
                stored_dist[at] = got[:, 3].astype(float)
            inside = area_id[pos] >= 0
            same[pos] &= ((stored_area == area_id[pos])
                          & (~inside | (stored_method == method[pos]))
                          & (~inside | (stored_dist == dist[pos]) | (np.isnan(stored_dist) & np.isnan(dist[pos]))))
    return same, pd.to_datetime(pd.Series(old_dates, dtype=object))


def _incident_frame(rows: pd.DataFrame, source: str, ids, batch_id: int, conn) -> pd.DataFrame:
    """The incident rows as written: times as text in UTC (what SQLite keeps; with the offset for
    PostgreSQL), the rest as validated."""
    offset = "+00:00" if conn.dialect.name == "postgresql" else ".000000"

    def stamp(col, unit, end=""):
        # Arrow's cast writes ISO times ("2024-03-15 07:30:00") in C: measured 15x faster than its
        # strftime and 7x faster than numpy's datetime_as_string on 1M rows
        text = pc.cast(pa.array(rows[col].to_numpy(unit), from_pandas=True), pa.string())  # NaT: missing
        return pd.array(pc.binary_join_element_wise(text, end, "") if end else text, dtype="str")

    return pd.DataFrame({
        "id": ids,
        "source": source,
        "external_id": rows["external_id"].astype("str"),
        "occurred_at": stamp("occurred_at", "datetime64[s]", offset),
        "local_date": stamp("local_date", "datetime64[D]"),
        "time_known": rows["time_known"],
        "occurred_to": stamp("occurred_to", "datetime64[s]", offset),
        "local_hour": rows["local_hour"],
        "local_weekday": rows["local_weekday"],
        "category": rows["category"],
        "category_raw": rows["category_raw"],
        "severity": rows["severity"],
        "cleared": rows["cleared"],
        "lon": rows["lon"].round(7),
        "lat": rows["lat"].round(7),
        "orig_x": rows["orig_x"],
        "orig_y": rows["orig_y"],
        "orig_crs": rows["orig_crs"],
        "address": rows["address"],
        "ward_given": rows["ward"],
        "district_given": rows["district"],
        "description": rows["description"],
        "given_area_id": rows["given_area_id"],
        "batch_id": batch_id,
    })[INCIDENT_COLUMNS]


def _write_incidents(conn: Connection, frame: pd.DataFrame, is_new: np.ndarray, changed: np.ndarray) -> None:
    """Insert the new rows, update the changed ones (and drop their wards, written again after)."""
    ph = _ph(conn)
    new = frame if is_new.all() else frame[is_new]
    _insert(conn, "incident", new.drop(columns="batch_id"), {"batch_id": int(frame["batch_id"].iloc[0])})
    old = frame[changed]
    if len(old):
        upd_cols = [c for c in INCIDENT_COLUMNS if c not in ("id", "source", "external_id")]
        _executemany(conn, f"UPDATE incident SET {', '.join(f'{c} = {ph}' for c in upd_cols)} WHERE id = {ph}",
                     old[upd_cols + ["id"]])
        versions = conn.exec_driver_sql("SELECT id FROM boundary_version").scalars().all()
        pairs = pd.DataFrame({"v": np.repeat(versions, len(old)), "i": np.tile(old["id"].to_numpy(), len(versions))})
        _executemany(conn, f"DELETE FROM incident_area WHERE version_id = {ph} AND incident_id = {ph}", pairs)


# --------------------------------------------------------------------------- preview

PREVIEW_ROWS = 20  # rows shown as parsed
PREVIEW_CHECK_ROWS = 5_000  # rows the preview page validates; the import validates every row


@dataclass
class Preview:
    """What an import would do, before anything is written (:func:`preview`)."""

    file_name: str
    headers: list  # (header, field or None, CRS the header names or None)
    crs: str | None  # the CRS the coordinates are read in (the user's, the headers', the file's)
    rows_total: int
    rows_checked: int
    rejected: int  # rows with a problem among those checked
    sample: pd.DataFrame  # row, local time, lon, lat, category, ward: the first accepted rows as parsed
    problems: pd.DataFrame  # reason, column, rows (count), first (the first row numbers)
    rejects: pd.DataFrame  # the first problem lines (row, column, value, reason)
    warnings: list
    unknown_categories: pd.DataFrame  # labels among the checked rows that would be filed as "khac": label, count

    @property
    def accepted(self) -> int:
        return self.rows_checked - self.rejected

    @property
    def would_import(self) -> bool:
        return self.accepted > 0


def preview(engine: Engine, path: str | Path, *, mapping: dict | None = None, ignore=(), crs: str | None = None,
            tz: str = DEFAULT_TZ, limits: ReadLimits | None = None, display_name: str | None = None,
            check_rows: int | None = PREVIEW_CHECK_ROWS, now: dt.datetime | None = None,
            tolerance_m: float = 50.0, source: str = "", category_map: dict[str, str] | None = None) -> Preview:
    """Read ``path`` as :func:`import_file` would and validate its first ``check_rows`` rows (every row
    when None); nothing is written. Labels are filed as :func:`import_file` files them for ``source``.
    Raises :class:`InputError` when the file cannot be read."""
    path = Path(path)
    name = display_name or path.name
    raw = read_table(path, mapping=mapping, display_name=name, limits=limits, ignore=ignore)
    with engine.connect() as conn:
        versions = load_versions(conn)
        categories = for_source(conn, source, category_map)
    head = raw
    if check_rows is not None and len(raw.frame) > check_rows:
        head = RawTable(raw.frame.iloc[:check_rows].reset_index(drop=True), raw.columns, raw.unknown, raw.name,
                        raw.crs, raw.limits, raw.original, raw.layout)
        head.crs_conflict = raw.crs_conflict
    checked: Validated = validate(head, extent=_extent(versions), wards=_ward_indexes(versions), crs=crs,
                                  now=now, tz=tz, categories=categories)
    rows = checked.rows.head(PREVIEW_ROWS)
    joined = join_rows(versions, rows["lon"], rows["lat"], rows["given_version_id"], rows["given_area_id"],
                       tolerance_m=tolerance_m)
    ward = np.full(len(rows), None, dtype=object)
    # the newest version first: the ward a committee knows the place by today
    for v in sorted(versions, key=lambda v: (v.valid_from or dt.date.min, v.id), reverse=True):
        area_id = joined[v.id][0]
        names = dict(zip(v.areas["area_id"], v.areas["name"]))
        todo = (ward == None) & (area_id >= 0)  # noqa: E711 (element-wise)
        ward[todo] = [names[a] for a in area_id[todo]]
    local = rows["occurred_at"].dt.tz_localize("UTC").dt.tz_convert(tz).dt.tz_localize(None)
    sample = pd.DataFrame({"row": rows["_row"], "local": local, "lon": rows["lon"], "lat": rows["lat"],
                           "category": rows["category"], "category_raw": rows["category_raw"], "ward": ward})
    rej = checked.rejects
    problems = (rej.groupby(["reason", "column"], sort=False)["row"]
                .agg(rows="nunique", first=lambda r: ", ".join(map(str, sorted(set(r))[:5])))
                .reset_index().sort_values("rows", ascending=False, kind="stable").reset_index(drop=True))
    headers = [(h, next((f for f, c in raw.columns.items() if c == h), None), split_header(h)[1])
               for h in raw.original.columns if h not in (GEOM_LON, GEOM_LAT)]
    return Preview(name, headers, crs or raw.crs, len(raw.frame), len(head.frame), int(rej["row"].nunique()),
                   sample, problems, rej.head(50), checked.warnings, checked.unknown_categories)
