"""Ward boundaries: user layers, versions in the store, crosswalks (the shipped sets: geo.ingest.shipped)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import delete, insert, select
from sqlalchemy.engine import Engine

from clustering.projection import metric_crs_for
from geo.errors import InputError
from geo.format import gettext as _
from geo.ingest.importer import join_all_incidents
from geo.store.models import Area, BoundaryVersion, Crosswalk, check_widths
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


def read_layer(path: str | Path, fields: FieldMap | None = None, *, layer: str | None = None,
               crs: str | None = None) -> gpd.GeoDataFrame:
    """Read a boundary layer (GeoJSON, GeoPackage, zipped Shapefile) into the standard columns.

    Returns a GeoDataFrame in WGS 84 with columns ``code, name, parent_code,
    parent_name, level, population, geometry``, sorted by code, valid
    (Multi)Polygons only. ``crs`` is used when the file declares none.
    Raises :class:`InputError` listing every bad feature.
    """
    fields = fields or FieldMap()
    path = Path(path)
    try:
        raw = gpd.read_file(path, layer=layer, engine="pyogrio")
    except Exception as exc:  # pyogrio raises DataSourceError and friends
        raise InputError(_("%(name)s: cannot read as a vector layer (%(error)s).", name=path.name,
                           error=exc)) from exc
    if raw.crs is None:
        if crs is None:
            raise InputError(_("%(name)s: the layer declares no CRS; give one (e.g. --crs EPSG:3405).",
                               name=path.name))
        raw = raw.set_crs(crs)
    problems = []
    for role in ("code", "name", "parent_code", "parent_name", "level", "population"):
        col = getattr(fields, role)
        if col is not None and col not in raw.columns:
            problems.append(_("field `%(field)s` (for %(role)s) is not in the layer; it has %(columns)s",
                              field=col, role=role, columns=", ".join(c for c in raw.columns if c != "geometry")))
    if problems:
        raise InputError(path.name + ": " + "; ".join(problems))

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
        raise InputError(path.name + ": " + "; ".join(problems))

    fixed = shapely.make_valid(geom)
    fixed = np.array([_polygonal(g) for g in fixed], dtype=object)
    for i in np.flatnonzero(shapely.is_empty(fixed)):
        problems.append(_("%(feature)s: no polygon left after repairing the geometry", feature=feature(i)))
    if problems:
        raise InputError(path.name + ": " + "; ".join(problems))
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
        raise InputError(path.name + ": " + "; ".join(problems))
    return out.sort_values("code", kind="stable").reset_index(drop=True)


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
        if old is not None:
            if not replace:
                raise InputError(_("Boundary version %(name)r already exists; choose another --name or pass "
                                   "--replace.", name=name))
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
        join_all_incidents(conn, vid)
    return vid


def _date(v):
    if v is None or isinstance(v, dt.date):
        return v
    return dt.date.fromisoformat(v)


def save_crosswalk(engine: Engine, path: str | Path, old: str, new: str) -> int:
    """Store a crosswalk CSV (old_code, new_code, area_share) between two stored versions."""
    df = pd.read_csv(path, dtype={"old_code": str, "new_code": str})
    missing = {"old_code", "new_code", "area_share"} - set(df.columns)
    if missing:
        raise InputError(_("%(name)s: missing column(s) %(columns)s", name=Path(path).name,
                           columns=", ".join(sorted(missing))))
    with engine.begin() as conn:
        ids = dict(conn.execute(select(BoundaryVersion.name, BoundaryVersion.id)
                                .where(BoundaryVersion.name.in_([old, new]))).all())
        for v in (old, new):
            if v not in ids:
                raise InputError(_("Crosswalk %(name)s: boundary version %(version)r is not loaded.",
                                   name=Path(path).name, version=v))
        conn.execute(delete(Crosswalk).where(Crosswalk.old_version_id == ids[old],
                                             Crosswalk.new_version_id == ids[new]))
        conn.execute(insert(Crosswalk), [
            dict(old_version_id=ids[old], old_code=r.old_code, new_version_id=ids[new],
                 new_code=r.new_code, area_share=float(r.area_share))
            for r in df.itertuples(index=False)])
    return len(df)
