"""How the shipped boundary files are made from the upstream per-ward GeoJSON files.

Upstream (``thanglequoc/vietnamese-provinces-database``) keeps one pretty-printed
FeatureCollection per ward under ``json/geojson/<NN_slug>/wards/<code>_<slug>.geojson`` and the
names, levels and provinces in one unit list (``json/full_json_generated_data_vn_units_*.json``).
A recipe reads those files from a folder laid out like the repository and returns the bytes of
the prepared file, which must hash to the registry's sha256 (data/boundaries/SOURCES.md, §1, §5–8).

The writer is hand-written because the files are compared byte for byte: one feature per line,
compact separators, a top-level bbox, no feature id, exactly as the shipped files were written
(json.dumps alone would give the same numbers but neither the line layout nor the bbox spacing).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import shapely
from pyproj import Transformer
from shapely.geometry import mapping, shape

from geo.errors import InputError
from geo.format import gettext as _

UNIT_LIST = "json/full_json_generated_data_vn_units_2026-07-25__20_49_07.json"
WARD_GLOB = "json/geojson/{folder}/wards/*.geojson"
METRIC = "EPSG:3405"  # VN-2000 / UTM 48N, the metric CRS of the preparation (SOURCES.md §5–8)
MIN_PART_M2 = 1.0  # polygon fragments smaller than this are dropped
PROVINCE_LEVEL = "Tỉnh/Thành phố"


def province_folders(root: Path) -> dict[str, str]:
    """Province code → its folder name (``31`` → ``31_hai_phong``) under json/geojson."""
    return {p.name.split("_", 1)[0]: p.name for p in sorted((root / "json" / "geojson").iterdir()) if p.is_dir()}


def ward_paths(paths: list[str], provinces: list[str] | None) -> list[str]:
    """The upstream per-ward files of ``provinces`` (all when None) among ``paths``, sorted by code."""
    out = []
    for p in paths:
        parts = p.split("/")
        if len(parts) == 5 and parts[:2] == ["json", "geojson"] and parts[3] == "wards" and p.endswith(".geojson"):
            if provinces is None or parts[2].split("_", 1)[0] in provinces:
                out.append(p)
    return sorted(out, key=lambda p: p.rsplit("/", 1)[1].split("_", 1)[0])


def needed(paths: list[str], params: dict) -> list[str]:
    """Every upstream file the recipe with ``params`` reads (the unit list first)."""
    return [UNIT_LIST] + ward_paths(paths, params.get("provinces"))


def build(root: str | Path, paths: list[str], recipe: str, params: dict) -> bytes:
    """Run ``recipe`` (``wards``, ``communes`` or ``provinces``) on the upstream files under ``root``."""
    root = Path(root)
    units = _units(root / UNIT_LIST)
    features = []
    for rel in ward_paths(paths, params.get("provinces")):
        features.append(_ward(root / rel, rel, units))
    if not features:
        raise InputError(_("No upstream ward file found for provinces %(p)s.", p=params.get("provinces")))
    geoms = np.array([g for _props, g in features], dtype=object)
    props = [p for p, _g in features]
    precision = params.get("precision", "grid")
    geoms = np.array([_finish(g, precision) for g in geoms], dtype=object)
    if recipe in ("communes", "provinces"):  # simplified as one coverage, so shared borders stay shared
        simple = _coverage_simplify(geoms, float(params["tolerance_m"]))
        geoms = np.array([_finish(g, precision) for g in simple], dtype=object)
    if recipe == "provinces":
        props, geoms = _dissolve(props, geoms, units, precision)
    return _write(props, geoms, params.get("bbox", "compact"))


def _units(path: Path) -> dict[str, dict]:
    """Ward code → the properties of the shipped file (names, level, province)."""
    out = {}
    for prov in json.loads(path.read_text(encoding="utf-8")):
        out[prov["Code"]] = {"name": prov["FullName"], "level": PROVINCE_LEVEL}
        for w in prov["Wards"]:
            out[w["Code"]] = {
                "code": w["Code"], "name": w["FullName"], "name_en": w["FullNameEn"], "short_name": w["Name"],
                "short_name_en": w["NameEn"], "province_code": prov["Code"], "province": prov["FullName"],
                "level": w["AdministrativeUnitShortName"], "level_en": w["AdministrativeUnitShortNameEn"]}
    return out


def _ward(path: Path, rel: str, units: dict):
    fc = json.loads(path.read_text(encoding="utf-8"))
    if fc.get("type") != "FeatureCollection" or len(fc.get("features") or []) != 1:
        raise InputError(_("%(file)s: expected a FeatureCollection with one ward.", file=rel))
    code = rel.rsplit("/", 1)[1].split("_", 1)[0]
    if code not in units:
        raise InputError(_("%(file)s: ward code %(code)s is not in the unit list %(list)s.", file=rel, code=code,
                           list=UNIT_LIST))
    g = _polygonal(shapely.make_valid(shape(fc["features"][0]["geometry"])))
    return units[code], _drop_fragments(g)


def _polygonal(g):
    parts = [p for p in shapely.get_parts(g) if p.geom_type in ("Polygon", "MultiPolygon")]
    polys = [q for p in parts for q in shapely.get_parts(p)]
    return shapely.MultiPolygon(polys)


_TO_METRIC = Transformer.from_crs("EPSG:4326", METRIC, always_xy=True)
_FROM_METRIC = Transformer.from_crs(METRIC, "EPSG:4326", always_xy=True)


def _to(g, t: Transformer):
    return shapely.transform(g, lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))


def _drop_fragments(g):
    polys = list(g.geoms)
    area = shapely.area(np.array([_to(p, _TO_METRIC) for p in polys], dtype=object))
    return shapely.MultiPolygon([p for p, a in zip(polys, area) if a >= MIN_PART_M2])


def _finish(g, precision: str):
    """Six decimals, valid, RFC 7946 rings.

    ``grid``: GEOS snap-rounding to a 1e-6° grid (removes repeated points); ``round``: plain
    rounding of each coordinate, repaired again where it made a ring collapse.
    """
    if precision == "grid":
        g = shapely.set_precision(g, 1e-6)
    else:
        g = shapely.transform(g, lambda xy: np.round(xy, 6))
        if not shapely.is_valid(g):
            g = shapely.make_valid(g)
    return shapely.orient_polygons(_polygonal(g))


def _coverage_simplify(geoms: np.ndarray, tolerance_m: float) -> np.ndarray:
    metric = np.array([_to(g, _TO_METRIC) for g in geoms], dtype=object)
    simple = shapely.coverage_simplify(metric, tolerance_m)
    return np.array([_polygonal(_to(g, _FROM_METRIC)) for g in simple], dtype=object)


def _dissolve(props: list[dict], geoms: np.ndarray, units: dict, precision: str):
    codes = sorted({p["province_code"] for p in props})
    out_p, out_g = [], []
    for code in codes:
        members = geoms[[p["province_code"] == code for p in props]]
        out_p.append({"code": code, "name": units[code]["name"], "level": units[code]["level"]})
        out_g.append(_finish(_polygonal(shapely.union_all(members, grid_size=1e-6)), precision))
    return out_p, np.array(out_g, dtype=object)


def _write(props: list[dict], geoms: np.ndarray, bbox_style: str) -> bytes:
    x0, y0, x1, y1 = shapely.total_bounds(geoms)
    # ``spaced``: the later files wrote their bbox with json.dumps' default separators
    sep = (",", ":") if bbox_style == "compact" else (", ", ": ")
    head = '{"type":"FeatureCollection","bbox":' + json.dumps([x0, y0, x1, y1], separators=sep) + ',"features":[\n'
    lines = [json.dumps({"type": "Feature", "properties": p, "geometry": _geometry(g)}, ensure_ascii=False,
                        separators=(",", ":")) for p, g in zip(props, geoms)]
    return (head + ",\n".join(lines) + "\n]}\n").encode("utf-8")


def _geometry(g) -> dict:
    m = mapping(g)
    return {"type": m["type"], "coordinates": _lists(m["coordinates"])}


def _lists(c):
    if isinstance(c, (tuple, list)) and c and isinstance(c[0], float):
        return list(c)
    return [_lists(x) for x in c]
