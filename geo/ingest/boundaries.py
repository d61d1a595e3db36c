"""Ward boundaries: user layers, versions in the store, crosswalks (the shipped sets: geo.ingest.shipped)."""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj.exceptions import CRSError
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import Engine

from clustering.projection import metric_crs_for
from geo.errors import InputError
from geo.format import gettext as _
from geo.ingest.importer import join_all_incidents
from geo.ingest.postgis import build_pieces
from geo.names import fold
from geo.store.models import (
    Area,
    BoundaryVersion,
    CommitteeArea,
    CommitteePlan,
    Crosswalk,
    Incident,
    ProgrammeStatus,
    check_widths,
)
from geo.store.queries import WGS84

AREA_COLUMNS = ["code", "name", "parent_code", "parent_name", "level", "population"]


# --------------------------------------------------------------------------- reading layers

@dataclass
class FieldMap:
    """Which attribute of a boundary layer holds what."""

    code: str = "code"
    name: str = "name"
    parent_code: str | None = None
    parent_name: str | None = None
    level: str | None = None
    population: str | None = None
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: dict) -> FieldMap:
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


# Header spellings of each role in Vietnamese and English layers (compared folded: "MA_XA" -> "ma xa"),
# best first. A ward layer's parent is its district before the 2025 reform, its province after.
FIELD_ALIASES: dict[str, tuple[str, ...]] = {
    "code": ("code", "ma", "ma xa", "maxa", "ma phuong", "ma phuong xa", "ma px", "ma dvhc", "madvhc",
             "ma don vi", "ward code", "commune code", "ma tinh", "province code", "gid 3", "gid 2", "gid 1", "id"),
    "name": ("name", "ten", "ten xa", "tenxa", "ten phuong", "ten phuong xa", "ten px", "ten dvhc", "ten don vi",
             "ward name", "ward", "commune name", "commune", "name 3", "name 2", "name 1"),
    "parent_code": ("parent code", "ma huyen", "mahuyen", "ma quan", "ma quan huyen", "ma qh", "district code",
                    "ma tinh", "matinh", "province code", "gid 2", "gid 1"),
    "parent_name": ("parent name", "ten huyen", "tenhuyen", "ten quan", "ten quan huyen", "ten qh", "quan huyen",
                    "district", "district name", "huyen", "quan", "ten tinh", "tentinh", "province",
                    "province name", "tinh", "name 2", "name 1"),
    "level": ("level", "cap", "cap hanh chinh", "loai", "loai dvhc", "type", "type 3", "engtype 3"),
    "population": ("population", "dan so", "danso", "so dan", "pop", "pop total"),
}
_ID_LIKE = re.compile(r"^[0-9A-Za-z._-]{1,16}$")


def guess_fields(gdf: gpd.GeoDataFrame) -> FieldMap:
    """The likely field of each role of a boundary layer, for the form's preselection.

    By header names first (:data:`FIELD_ALIASES`, as Vietnamese and English layers spell
    them), then by values: the code is a field whose values are unique, short and
    id-like (digits preferred); the name a text field with (almost) unique values.
    No field is used twice. The user confirms or changes the guess.

    >>> g = gpd.GeoDataFrame({"MA_XA": ["26734", "26737"], "TEN_XA": ["Tân Định", "Đa Kao"],
    ...                       "TEN_HUYEN": ["Quận 1", "Quận 1"]}, geometry=[None, None])
    >>> f = guess_fields(g)
    >>> (f.code, f.name, f.parent_code, f.parent_name)
    ('MA_XA', 'TEN_XA', None, 'TEN_HUYEN')
    """
    columns = [c for c in gdf.columns if c != gdf.geometry.name]
    folded = {c: fold(c) for c in columns}
    taken: set[str] = set()
    found: dict[str, str | None] = {}
    for role, aliases in FIELD_ALIASES.items():
        found[role] = None
        for alias in aliases:
            hit = next((c for c in columns if folded[c] == alias and c not in taken
                        and (role != "code" or gdf[c].dropna().is_unique)), None)
            if hit is not None:
                found[role] = hit
                taken.add(hit)
                break
    n = len(gdf)

    def values(c):
        return gdf[c].dropna()

    if found["code"] is None and n:
        ids = []
        for c in columns:
            v = values(c)
            if c in taken or len(v) < n or not v.is_unique:
                continue
            text = v.map(_clean_code).astype(str)
            if text.map(lambda t: bool(_ID_LIKE.match(t))).all():
                ids.append((not text.str.isdigit().all(), text.str.len().mean(), columns.index(c), c))
        if ids:
            found["code"] = min(ids)[-1]
            taken.add(found["code"])
    if found["name"] is None and n:
        names = []
        for c in columns:
            v = values(c)
            if c in taken or v.empty or not pd.api.types.is_string_dtype(v):
                continue
            text = v.astype(str)
            if text.str.contains(r"[^\W\d_]", regex=True).mean() > 0.9 and v.nunique() >= 0.9 * n:
                names.append((-v.nunique(), columns.index(c), c))
        if names:
            found["name"] = min(names)[-1]
    return FieldMap(**found)


def read_layer(path: str | Path, fields: FieldMap | None = None, *, layer: str | None = None,
               crs: str | None = None, display_name: str | None = None) -> gpd.GeoDataFrame:
    """Read a boundary layer (GeoJSON, GeoPackage, zipped Shapefile) into the standard columns.

    Returns a GeoDataFrame in WGS 84 with columns ``code, name, parent_code,
    parent_name, level, population, geometry``, sorted by code, valid
    (Multi)Polygons only. ``crs`` is used when the file declares none.
    Raises :class:`InputError` listing every bad feature (also as its ``problems`` list).
    ``display_name`` names the file in messages (default: its file name).
    """
    fields = fields or FieldMap()
    path = Path(path)
    name = display_name or path.name
    try:
        raw = gpd.read_file(path, layer=layer, engine="pyogrio")
    except Exception as exc:  # pyogrio raises DataSourceError and friends
        raise InputError(_("%(name)s: cannot read as a vector layer (%(error)s).", name=name,
                           error=exc)) from exc
    if raw.crs is None:
        if crs is None:
            raise InputError(_("%(name)s: the layer declares no CRS; give one (e.g. --crs EPSG:3405).",
                               name=name))
        try:
            raw = raw.set_crs(crs)
        except CRSError as exc:
            raise InputError(_("%(name)s: %(crs)r is not a coordinate system (e.g. EPSG:4326, EPSG:3405).",
                               name=name, crs=crs)) from exc
    problems = []
    for role in ("code", "name", "parent_code", "parent_name", "level", "population"):
        col = getattr(fields, role)
        if col is not None and col not in raw.columns:
            problems.append(_("field `%(field)s` (for %(role)s) is not in the layer; it has %(columns)s",
                              field=col, role=role, columns=", ".join(c for c in raw.columns if c != "geometry")))
    if problems:
        raise _refused(name, problems)

    out = gpd.GeoDataFrame(geometry=raw.geometry.values, crs=raw.crs)
    for role in AREA_COLUMNS:
        col = getattr(fields, role)
        out[role] = raw[col].values if col is not None else None
    out["code"] = pd.Series([_clean_code(v) for v in out["code"]], index=out.index, dtype=object)
    out["name"] = pd.Series([None if _isnull(v) else " ".join(str(v).split()) for v in out["name"]],
                            index=out.index, dtype=object)
    if fields.population:
        out["population"] = pd.to_numeric(out["population"], errors="coerce")

    def feature(i):
        code = out["code"].iat[i]
        return (_("feature %(n)s (code %(code)r)", n=i + 1, code=code) if code is not None
                else _("feature %(n)s", n=i + 1))

    geom = out.geometry.values
    empty = shapely.is_missing(geom) | shapely.is_empty(geom)
    for i in np.flatnonzero(empty):
        problems.append(_("%(feature)s: empty geometry", feature=feature(i)))
    kinds = shapely.get_type_id(geom)
    bad_kind = ~empty & ~np.isin(kinds, [3, 6])  # Polygon, MultiPolygon
    for i in np.flatnonzero(bad_kind):
        problems.append(_("%(feature)s: geometry is a %(type)s, not a polygon", feature=feature(i),
                          type=geom[i].geom_type))
    for i in np.flatnonzero(out["code"].isna()):
        problems.append(_("%(feature)s: no code in field `%(field)s`", feature=feature(i), field=fields.code))
    dup = out["code"].notna() & out["code"].duplicated(keep=False)
    for code, idx in out[dup].groupby("code").groups.items():
        problems.append(_("code %(code)r is used by features %(features)s", code=code,
                          features=", ".join(str(i + 1) for i in idx)))
    if problems:
        raise _refused(name, problems)

    fixed = shapely.make_valid(geom)
    fixed = np.array([_polygonal(g) for g in fixed], dtype=object)
    for i in np.flatnonzero(shapely.is_empty(fixed)):
        problems.append(_("%(feature)s: no polygon left after repairing the geometry", feature=feature(i)))
    if problems:
        raise _refused(name, problems)
    out = out.set_geometry(gpd.GeoSeries(fixed, crs=raw.crs, index=out.index))
    out = out.to_crs(WGS84)
    for i, g in enumerate(out.geometry.values):  # e.g. latitude 95, or metres in a file said to be degrees
        xy = shapely.get_coordinates(g)
        bad = ~np.isfinite(xy).all(axis=1) | (np.abs(xy[:, 0]) > 180) | (np.abs(xy[:, 1]) > 90)
        if bad.any():
            x, y = xy[np.argmax(bad)]
            problems.append(_("%(feature)s: coordinate (%(x)s, %(y)s) is outside longitude -180..180 / "
                              "latitude -90..90 (after projecting to WGS 84); check the file's CRS (--crs)",
                              feature=feature(i), x=f"{x:g}", y=f"{y:g}"))
    if problems:
        raise _refused(name, problems)
    return out.sort_values("code", kind="stable").reset_index(drop=True)


def _refused(name: str, problems: list[str]) -> InputError:
    exc = InputError(name + ": " + "; ".join(problems))
    exc.problems = problems
    return exc


def _isnull(v) -> bool:
    return v is None or (isinstance(v, float) and np.isnan(v))


def _clean_code(v) -> str | None:
    if _isnull(v):
        return None
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    s = str(v).strip()
    return s or None


def _polygonal(g):
    """Keep the polygonal part of a repaired geometry as a MultiPolygon."""
    if g is None:
        return shapely.MultiPolygon()
    if g.geom_type == "Polygon":
        return shapely.MultiPolygon([g])
    if g.geom_type == "MultiPolygon":
        return g
    if g.geom_type == "GeometryCollection":
        polys = []
        for part in g.geoms:
            if part.geom_type == "Polygon":
                polys.append(part)
            elif part.geom_type == "MultiPolygon":
                polys.extend(part.geoms)
        return shapely.MultiPolygon(polys)
    return shapely.MultiPolygon()


PREVIEW_MAX_BYTES = 1_000_000  # the preview map's GeoJSON: simplified until it fits


def preview_geojson(raw: gpd.GeoDataFrame, max_bytes: int = PREVIEW_MAX_BYTES) -> str | None:
    """A simplified WGS 84 GeoJSON of a layer's outlines (property ``n``: the feature number) of at most
    ``max_bytes``, for the map of the boundaries page; None when it cannot be placed (no CRS and
    coordinates that are not degrees) or fit."""
    geom = raw.geometry
    if raw.crs is None:
        x0, y0, x1, y1 = geom.total_bounds
        if not (-180 <= x0 <= x1 <= 180 and -90 <= y0 <= y1 <= 90):
            return None
        geom = geom.set_crs(WGS84)
    geom = geom.to_crs(WGS84)
    out = gpd.GeoDataFrame({"n": np.arange(1, len(raw) + 1)}, geometry=geom.values, crs=WGS84)
    out = out[~(geom.isna().to_numpy() | geom.is_empty.to_numpy())]
    x0, y0, x1, y1 = out.total_bounds if len(out) else (0, 0, 0, 0)
    tolerance = max(x1 - x0, y1 - y0, 1e-6) / 2000
    for _step in range(8):
        text = out.set_geometry(out.geometry.simplify(tolerance)).to_json(drop_id=True)
        if len(text) <= max_bytes:
            return text
        tolerance *= 3
    return None


# --------------------------------------------------------------------------- the store

def save_version(engine: Engine, areas: gpd.GeoDataFrame, name: str, *, title: str = "",
                 valid_from: dt.date | str | None = None, valid_to: dt.date | str | None = None,
                 source: str = "", licence: str = "", attribution: str = "", sha256: str = "",
                 replace: bool = False) -> int:
    """Store ``areas`` (from :func:`read_layer`) as boundary version ``name``; returns its id.

    The version and the ward of every stored incident in it are written in one
    transaction. An existing version of that name is an error unless ``replace``.
    """

    areas = areas.assign(**{c: None for c in AREA_COLUMNS if c not in areas.columns})
    check_widths(BoundaryVersion, dict(name=name, title=title, source=source, licence=licence,
                                       attribution=attribution), _("Boundary version"))
    for r in areas.itertuples(index=False):
        check_widths(Area, {c: getattr(r, c) for c in ("code", "name", "parent_code", "parent_name", "level")},
                     _("Unit %(code)s", code=repr(str(r.code)[:40])))
    metric = metric_crs_for(areas)
    km2 = areas.to_crs(metric).area.to_numpy() / 1e6
    with engine.begin() as conn:
        old = conn.execute(select(BoundaryVersion.id).where(BoundaryVersion.name == name)).scalar()
        kept = None
        if old is not None:
            if not replace:
                raise InputError(_("Boundary version %(name)r already exists; choose another --name or pass "
                                   "--replace.", name=name))
            problems = uses(conn, name, codes=set(areas["code"]),
                            parent_codes={str(c) for c in areas["parent_code"] if not _isnull(c)})
            if problems:
                raise InputError(_("Boundary version %(name)r was not replaced: %(problems)s", name=name,
                                   problems=" ".join(problems)))
            kept = _detach(conn, old)
            conn.execute(delete(BoundaryVersion).where(BoundaryVersion.id == old))
        vid = conn.execute(insert(BoundaryVersion).values(
            name=name, title=title or name, valid_from=_date(valid_from), valid_to=_date(valid_to),
            source=source, licence=licence, attribution=attribution, sha256=sha256,
        ).returning(BoundaryVersion.id)).scalar_one()
        rows = [
            dict(version_id=vid, code=r.code, name=r.name or r.code,
                 parent_code=None if _isnull(r.parent_code) else str(r.parent_code),
                 parent_name=None if _isnull(r.parent_name) else str(r.parent_name),
                 level=None if _isnull(r.level) else str(r.level),
                 population=None if _isnull(r.population) else int(r.population),
                 area_km2=float(k), geom_wkb=shapely.to_wkb(r.geometry))
            for r, k in zip(areas.itertuples(index=False), km2)
        ]
        conn.execute(insert(Area), rows)
        build_pieces(conn, vid)  # PostgreSQL: the pieces the database joins with; they go with the units
        if kept:
            _reattach(conn, vid, kept)
        join_all_incidents(conn, vid)
    return vid


def _detach(conn, vid: int) -> tuple[list, list]:
    """What refers to version ``vid`` by row id and would go with it: the incidents placed by a ward
    of it (incident id, ward code) and its crosswalk rows. :func:`_reattach` points them at the
    version that replaces it (same codes; :func:`uses` checked that the codes are still there)."""
    given = conn.execute(select(Incident.id, Area.code).join(Area, Area.id == Incident.given_area_id)
                         .where(Area.version_id == vid)).all()
    walks = [dict(r._mapping) for r in conn.execute(select(Crosswalk).where(
        (Crosswalk.old_version_id == vid) | (Crosswalk.new_version_id == vid)))]
    for w in walks:
        w["old_version_id"] = None if w["old_version_id"] == vid else w["old_version_id"]
        w["new_version_id"] = None if w["new_version_id"] == vid else w["new_version_id"]
    return given, walks


def _reattach(conn, vid: int, kept: tuple[list, list]) -> None:
    given, walks = kept
    ids = dict(conn.execute(select(Area.code, Area.id).where(Area.version_id == vid)).all())
    by_area: dict[int, list[int]] = {}
    for incident, code in given:
        by_area.setdefault(ids[code], []).append(incident)
    for area_id, incidents in by_area.items():
        for chunk in range(0, len(incidents), 500):
            conn.execute(update(Incident).where(Incident.id.in_(incidents[chunk:chunk + 500]))
                         .values(given_area_id=area_id))
    if walks:
        conn.execute(insert(Crosswalk), [
            {**w, "old_version_id": w["old_version_id"] or vid, "new_version_id": w["new_version_id"] or vid}
            for w in walks])


def uses(conn, name: str, *, codes: set | None = None, parent_codes: set | None = None,
         default: str | None = None) -> list[str]:
    """What depends on boundary version ``name`` and would break, as sentences saying what to do.

    Without ``codes``: deleting it (committee plans, areas and programme records name it; incidents
    without coordinates were placed by its wards; it is the ``default`` version). With ``codes``
    (and ``parent_codes``) of a layer that would replace it: the records naming a unit code that
    layer lacks. Crosswalks are reported by :func:`crosswalks_of`.
    """
    out = []
    if codes is None:
        if name == default:
            out.append(_("It is the default boundary version (setting DEFAULT_BOUNDARY): set DEFAULT_BOUNDARY "
                         "to another version and restart the service first."))
        for model, message in ((CommitteePlan, _("%(n)s committee plan(s) use it; a committee's record is "
                                                 "kept, so the version must stay.")),
                               (CommitteeArea, _("%(n)s area(s) selected by committees lie in it; a committee's "
                                                 "record is kept, so the version must stay.")),
                               (ProgrammeStatus, _("%(n)s programme record(s) name its units; the version "
                                                   "must stay."))):
            n = conn.execute(select(func.count()).select_from(model).where(model.boundary == name)).scalar()
            if n:
                out.append(message % {"n": n})
        n = conn.execute(select(func.count()).select_from(Incident).join(Area, Area.id == Incident.given_area_id)
                         .join(BoundaryVersion, BoundaryVersion.id == Area.version_id)
                         .where(BoundaryVersion.name == name)).scalar()
        if n:
            out.append(_("%(n)s incident(s) without coordinates were placed by their ward in this version and "
                         "would lose it; keep the version, or import them again with coordinates.", n=n))
        return out
    parent_codes = parent_codes or set()

    def lacking(found):
        return sorted({str(c) for c in found} - codes)

    missing = lacking(conn.execute(select(CommitteeArea.source_code).where(
        CommitteeArea.boundary == name, CommitteeArea.kind == "ward")).scalars())
    missing += lacking(conn.execute(select(ProgrammeStatus.unit_code).where(ProgrammeStatus.boundary == name))
                       .scalars())
    missing += lacking(conn.execute(select(CommitteePlan.unit_code).where(
        CommitteePlan.boundary == name, CommitteePlan.level == "ward")).scalars())
    missing += lacking(conn.execute(select(Area.code).join(Incident, Incident.given_area_id == Area.id)
                                    .join(BoundaryVersion, BoundaryVersion.id == Area.version_id)
                                    .where(BoundaryVersion.name == name)).scalars())
    for w in crosswalks_of(conn, name):
        missing += lacking(w["codes"])
    districts = sorted({str(c) for c in conn.execute(select(CommitteePlan.unit_code).where(
        CommitteePlan.boundary == name, CommitteePlan.level == "district")).scalars()} - parent_codes)
    if missing:
        out.append(_("Committee records, incidents placed by ward or crosswalks use unit code(s) %(codes)s, "
                     "which the new layer lacks; add them to the layer or load it under a new name.",
                     codes=", ".join(sorted(set(missing)))))
    if districts:
        out.append(_("Committee plans use district code(s) %(codes)s, which no unit of the new layer has as "
                     "parent code; map the parent code field or load the layer under a new name.",
                     codes=", ".join(districts)))
    return out


def crosswalks_of(conn, name: str) -> list[dict]:
    """The crosswalks to or from version ``name``: the other version, the row count and the codes of
    ``name`` they use."""
    me = conn.execute(select(BoundaryVersion.id).where(BoundaryVersion.name == name)).scalar()
    if me is None:
        return []
    names = dict(conn.execute(select(BoundaryVersion.id, BoundaryVersion.name)).all())
    out: dict[int, dict] = {}
    for r in conn.execute(select(Crosswalk).where((Crosswalk.old_version_id == me) |
                                                  (Crosswalk.new_version_id == me))):
        mine_old = r.old_version_id == me
        other = r.new_version_id if mine_old else r.old_version_id
        w = out.setdefault(other, {"other": names[other], "rows": 0, "codes": set()})
        w["rows"] += 1
        w["codes"].add(r.old_code if mine_old else r.new_code)
    return list(out.values())


def delete_version(engine: Engine, name: str, *, default: str | None = None, with_crosswalks: bool = False,
                   on_write=None) -> int:
    """Remove boundary version ``name`` (its units, their incident wards and day counts) in one
    transaction; returns the number of units removed.

    Refused (:class:`InputError`, nothing removed) when :func:`uses` finds something that would
    break, or when crosswalks use it and ``with_crosswalks`` is not set. ``on_write(conn)`` runs
    in the transaction (the audit row).
    """
    with engine.begin() as conn:
        vid = conn.execute(select(BoundaryVersion.id).where(BoundaryVersion.name == name)).scalar()
        if vid is None:
            raise InputError(_("No boundary version %(name)r.", name=name))
        problems = uses(conn, name, default=default)
        if not with_crosswalks:
            problems += [_("The crosswalk with %(other)s (%(n)s rows) would be removed with it; confirm removing "
                           "the crosswalks too.", other=w["other"], n=w["rows"]) for w in crosswalks_of(conn, name)]
        if problems:
            raise InputError(_("Boundary version %(name)r was not removed: %(problems)s", name=name,
                               problems=" ".join(problems)))
        n = conn.execute(select(func.count()).select_from(Area).where(Area.version_id == vid)).scalar()
        conn.execute(delete(BoundaryVersion).where(BoundaryVersion.id == vid))
        if on_write is not None:
            on_write(conn)
    return n


def _date(v):
    if v is None or isinstance(v, dt.date):
        return v
    return dt.date.fromisoformat(v)


SHARE_TOLERANCE = 0.001  # the shares of an old unit sum to 1 within this
MAX_LISTED = 20  # problems listed in one message; the rest are counted


def read_crosswalk(path: str | Path, old_codes: set, new_codes: set, *, old: str = "", new: str = "",
                   display_name: str | None = None) -> pd.DataFrame:
    """Read and check a crosswalk CSV (old_code, new_code, area_share) between units ``old_codes`` of
    version ``old`` and ``new_codes`` of ``new``. Raises :class:`InputError` naming each bad row (the
    row a spreadsheet shows: the header is row 1) and what to fix."""
    name = display_name or Path(path).name
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(_("%(name)s: cannot read as a CSV file (%(error)s).", name=name, error=exc)) from exc
    missing = {"old_code", "new_code", "area_share"} - set(df.columns)
    if missing:
        raise InputError(_("%(name)s: missing column(s) %(columns)s", name=name, columns=", ".join(sorted(missing))))
    df = df[["old_code", "new_code", "area_share"]].apply(lambda c: c.str.strip())
    rows = pd.Series(np.arange(2, len(df) + 2), index=df.index)
    share = pd.to_numeric(df["area_share"].str.replace(",", ".", regex=False), errors="coerce")
    problems = []
    for i in df.index:
        r = df.loc[i]
        if r.old_code not in old_codes:
            problems.append(_("row %(row)s: old_code %(code)r is not a unit of %(version)s", row=rows[i],
                              code=r.old_code, version=old))
        if r.new_code not in new_codes:
            problems.append(_("row %(row)s: new_code %(code)r is not a unit of %(version)s", row=rows[i],
                              code=r.new_code, version=new))
        if not (share[i] > 0 and share[i] <= 1 + SHARE_TOLERANCE):
            problems.append(_("row %(row)s: area_share %(value)r is not a number above 0 and at most 1",
                              row=rows[i], value=r.area_share))
    for (oc, nc), idx in df[df.duplicated(["old_code", "new_code"], keep=False)].groupby(
            ["old_code", "new_code"]).groups.items():
        problems.append(_("rows %(rows)s: the pair %(old)r → %(new)r appears more than once; keep one row",
                          rows=", ".join(str(rows[i]) for i in idx), old=oc, new=nc))
    sums = share.groupby(df["old_code"]).sum()
    for oc, total in sums.items():
        if abs(total - 1) > SHARE_TOLERANCE:
            idx = df.index[df["old_code"] == oc]
            problems.append(_("rows %(rows)s: the shares of old_code %(code)r sum to %(total)s, not 1; "
                              "correct them so that each old unit is shared out whole",
                              rows=", ".join(str(rows[i]) for i in idx), code=oc, total=f"{total:.4f}"))
    if problems:
        more = len(problems) - MAX_LISTED
        raise InputError(name + ": " + "; ".join(problems[:MAX_LISTED])
                         + (_("; and %(n)s more", n=more) if more > 0 else ""))
    return df.assign(area_share=share.astype(float))


def version_codes(conn, name: str) -> set[str]:
    return set(conn.execute(select(Area.code).join(BoundaryVersion, BoundaryVersion.id == Area.version_id)
                            .where(BoundaryVersion.name == name)).scalars())


def save_crosswalk(engine: Engine, path: str | Path, old: str, new: str, *, display_name: str | None = None) -> int:
    """Store a crosswalk CSV (old_code, new_code, area_share) between two stored versions, checked by
    :func:`read_crosswalk`; it replaces the crosswalk between them."""
    name = display_name or Path(path).name
    with engine.begin() as conn:
        ids = dict(conn.execute(select(BoundaryVersion.name, BoundaryVersion.id)
                                .where(BoundaryVersion.name.in_([old, new]))).all())
        for v in (old, new):
            if v not in ids:
                raise InputError(_("Crosswalk %(name)s: boundary version %(version)r is not loaded.",
                                   name=name, version=v))
        df = read_crosswalk(path, version_codes(conn, old), version_codes(conn, new), old=old, new=new,
                            display_name=name)
        conn.execute(delete(Crosswalk).where(Crosswalk.old_version_id == ids[old],
                                             Crosswalk.new_version_id == ids[new]))
        conn.execute(insert(Crosswalk), [
            dict(old_version_id=ids[old], old_code=r.old_code, new_version_id=ids[new],
                 new_code=r.new_code, area_share=float(r.area_share))
            for r in df.itertuples(index=False)])
    return len(df)
