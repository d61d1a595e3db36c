"""The boundaries page (analysts and admins): the stored boundary versions, loading a new layer in
two steps (upload, then map the fields on a preview map and save), replacing and removing a version.

An upload is checked by its content (GeoJSON, GeoPackage or a zipped Shapefile, the ZIP checked
against unsafe paths and decompression bombs by :func:`geo.ingest.parsing.check_zip`, the size by
``MAX_CONTENT_LENGTH``) and kept between the steps in a private folder under the instance path,
named by a random token held in the user's session; it is deleted when the version is saved, when
the user cancels, or ``BOUNDARY_UPLOAD_MINUTES`` after the upload. Nothing enters the store before
the user saves.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import secrets
import shutil
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import pyogrio
from flask import Blueprint, abort, current_app, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user
from pyproj.exceptions import CRSError
from sqlalchemy import func, select

from geo import format
from geo.errors import InputError
from geo.ingest import boundaries as bd
from geo.ingest.parsing import sha256_of, sniff
from geo.names import fold
from geo.store.models import Area
from geo.store.queries import versions
from web import engine
from web.auth import audit, role_required

bp = Blueprint("boundaries", __name__, url_prefix="/admin/boundaries")

ROLES = ("code", "name", "parent_code", "parent_name", "level", "population")
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
TOKEN = re.compile(r"^[A-Za-z0-9_-]{32}$")
SESSION_KEY = "boundary_upload"


def role_labels() -> dict[str, str]:
    return {"code": _("Unit code"), "name": _("Unit name"), "parent_code": _("Parent unit code"),
            "parent_name": _("Parent unit name"), "level": _("Level"), "population": _("Population")}


# --------------------------------------------------------------------------- the kept upload

def _uploads_dir() -> Path:
    return Path(current_app.instance_path) / "boundary_uploads"


def _purge_old() -> None:
    """Delete the uploads older than BOUNDARY_UPLOAD_MINUTES (of every user)."""
    limit = time.time() - 60 * float(current_app.config["BOUNDARY_UPLOAD_MINUTES"])
    if not _uploads_dir().exists():
        return
    for folder in _uploads_dir().iterdir():
        if folder.is_dir() and folder.stat().st_mtime < limit:
            shutil.rmtree(folder, ignore_errors=True)


def _current_upload() -> dict | None:
    """The signed-in user's kept upload: its metadata with ``folder`` and ``path``; None without one."""
    _purge_old()
    token = session.get(SESSION_KEY) or ""
    if not TOKEN.match(token):
        return None
    folder = _uploads_dir() / token
    try:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if meta.get("user_id") != current_user.id:
        return None
    return {**meta, "folder": folder, "path": folder / meta["file"]}


def _discard(upload: dict | None) -> None:
    session.pop(SESSION_KEY, None)
    if upload is not None:
        shutil.rmtree(upload["folder"], ignore_errors=True)


def _keep_upload(upload) -> None:
    """Check the uploaded file and keep it for the next step (raises InputError, keeping nothing)."""
    name = Path(upload.filename).name[:200]
    _uploads_dir().mkdir(mode=0o700, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=_uploads_dir()) as tmp:
        path = Path(tmp) / "upload"
        upload.save(path)
        kind = layer_kind(path, name)
        layered = path.rename(Path(tmp) / f"layer.{kind}")
        try:
            layers = [str(n) for n, _geom in pyogrio.list_layers(layered)]
        except Exception as exc:  # pyogrio raises DataSourceError and friends
            raise InputError(_("%(name)s: cannot read as a vector layer (%(error)s).", name=name, error=exc)) from exc
        if not layers:
            raise InputError(_("%(name)s: the file holds no layer.", name=name))
        old = _current_upload()
        token = secrets.token_urlsafe(24)
        folder = _uploads_dir() / token
        folder.mkdir(mode=0o700)
        layered.rename(folder / layered.name)
    (folder / "meta.json").write_text(json.dumps({
        "user_id": current_user.id, "file_name": name, "file": f"layer.{kind}", "kind": kind, "layers": layers,
        "sha256": sha256_of(folder / f"layer.{kind}"), "uploaded": dt.datetime.now(dt.timezone.utc).isoformat()}),
        encoding="utf-8")
    _discard(old)
    session[SESSION_KEY] = token


def layer_kind(path: Path, name: str) -> str:
    """The layer's type from its content: "geojson", "gpkg" or "zip" (a zipped Shapefile)."""
    with open(path, "rb") as f:
        head = f.read(16)
    if head.startswith(b"SQLite format 3\x00"):
        return "gpkg"
    if head.startswith(b"PK\x03\x04") and sniff(path, name) == "zip":  # sniff checks the archive
        return "zip"
    if head.lstrip(b"\xef\xbb\xbf").lstrip().startswith(b"{"):
        return "geojson"
    raise InputError(_("%(name)s is not a vector layer: choose a GeoJSON file, a GeoPackage (.gpkg) or a "
                       "zipped Shapefile (.zip holding the .shp, .shx, .dbf and .prj).", name=name))


# --------------------------------------------------------------------------- step 1: the list and the upload

def _version(name: str):
    return next((v for v in versions(engine()) if v.name == name), None)


def _unit_counts() -> dict[int, int]:
    with engine().connect() as conn:
        return dict(conn.execute(select(Area.version_id, func.count()).group_by(Area.version_id)).all())


@bp.route("", methods=["GET", "POST"])
@role_required("analyst")
def index():
    error = None
    if request.method == "POST":
        upload = request.files.get("file")
        if not upload or not upload.filename:
            error = _("Choose a boundary file to upload.")
        else:
            try:
                _keep_upload(upload)
                return redirect(url_for("boundaries.fields"))
            except InputError as exc:
                error = str(exc)
    return _index(error=error), (400 if error else 200)


def _index(**context):
    have = {v.name for v in versions(engine())}
    saved, removed = request.args.get("saved"), request.args.get("removed")
    return render_template("admin/boundaries.html", versions=versions(engine()), units=_unit_counts(),
                           upload=_current_upload(), default=current_app.config["DEFAULT_BOUNDARY"],
                           saved=saved if saved in have else None,
                           removed=removed if removed and SLUG.match(removed) and removed not in have else None,
                           **context)


# --------------------------------------------------------------------------- step 2: the fields

def _read_raw(upload: dict, layer: str | None) -> gpd.GeoDataFrame:
    try:
        return gpd.read_file(upload["path"], layer=layer, engine="pyogrio")
    except Exception as exc:  # pyogrio raises DataSourceError and friends
        raise InputError(_("%(name)s: cannot read as a vector layer (%(error)s).", name=upload["file_name"],
                           error=exc)) from exc


def _layer_arg(upload: dict, value: str | None) -> str:
    layer = value or upload["layers"][0]
    if layer not in upload["layers"]:
        raise InputError(_("`layer` was %(got)r; the file's layers are %(layers)s.", got=layer[:80],
                           layers=", ".join(upload["layers"])))
    return layer


@bp.route("/fields", methods=["GET", "POST"])
@role_required("analyst")
def fields():
    upload = _current_upload()
    if upload is None:
        return redirect(url_for("boundaries.index"))
    if request.method == "POST" and "cancel" in request.form:
        _discard(upload)
        return redirect(url_for("boundaries.index"))
    form = request.form if request.method == "POST" else request.args
    layer = _layer_arg(upload, form.get("layer"))
    raw = _read_raw(upload, layer)
    columns = [c for c in raw.columns if c != raw.geometry.name]
    problems, error, replace_offer = [], None, None
    chosen = bd.guess_fields(raw).__dict__ if request.method == "GET" else {
        r: (request.form.get(r) or None) for r in ROLES}
    meta = {k: (form.get(k) or "").strip() for k in
            ("version_name", "title", "valid_from", "valid_to", "source", "licence", "attribution", "crs",
             "crosswalk_version", "crosswalk_direction")}
    if request.method == "GET":
        meta["version_name"] = _slug(Path(upload["file_name"]).stem)
    if request.method == "POST":
        try:
            saved = _save(upload, layer, raw, chosen, meta)
            return redirect(url_for("boundaries.index", saved=saved))
        except InputError as exc:
            problems = getattr(exc, "problems", None) or []
            error = None if problems else str(exc)
            replace_offer = getattr(exc, "replace_offer", None)
    existing = {v.name: v for v in versions(engine())}
    return render_template(
        "admin/boundaries_fields.html", upload=upload, layer=layer, columns=columns, chosen=chosen,
        roles=role_labels(), meta=meta, features=len(raw), declared_crs=raw.crs.to_string() if raw.crs else None,
        problems=problems, error=error, replace_offer=replace_offer, existing=existing,
        preview_url=url_for("boundaries.preview", layer=layer, crs=meta["crs"] or None),
        sample=raw[columns].head(5).astype(str).values.tolist(),
    ), (400 if (problems or error) else 200)


def _slug(text: str) -> str:
    """A version name proposed from the file name: "Ranh giới P.XÃ 2026" -> "ranh-gioi-p-xa-2026"."""
    return re.sub(r"[^a-z0-9]+", "-", fold(text))[:64].strip("-") or "boundaries"


def _date_field(value: str, field: str) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise InputError(_("`%(field)s` was %(got)r; give a date (dd/mm/yyyy).", field=field,
                           got=value[:40])) from None


def _save(upload: dict, layer: str, raw, chosen: dict, meta: dict) -> str:
    """Check the form, read the layer with the chosen fields and store it; returns the version name."""
    name = meta["version_name"]
    if not SLUG.match(name):
        raise InputError(_("The version name %(got)r is not valid: use 1 to 64 lower-case letters, digits and "
                           "hyphens, starting with a letter or digit (e.g. hcmc-2026).", got=name[:80]))
    for role in ("code", "name"):
        if not chosen.get(role):
            raise InputError(_("Choose the field that holds the %(role)s.", role=role_labels()[role].lower()))
    columns = set(raw.columns)
    for role, col in chosen.items():
        if col is not None and col not in columns:
            raise InputError(_("`%(role)s` was %(got)r, which is not a field of the layer.", role=role,
                               got=col[:80]))
    valid_from, valid_to = _date_field(meta["valid_from"], "valid_from"), _date_field(meta["valid_to"], "valid_to")
    if valid_from and valid_to and valid_from > valid_to:
        raise InputError(_("Valid from (%(start)s) is after valid to (%(end)s); correct one of them.",
                           start=format.date(valid_from), end=format.date(valid_to)))
    areas = bd.read_layer(upload["path"], bd.FieldMap(**chosen), layer=layer, crs=meta["crs"] or None,
                          display_name=upload["file_name"])
    existing = _version(name)
    replace = existing is not None
    if replace and request.form.get("replace") != name:
        exc = InputError(_("A version named %(name)s already exists. Tick the box to replace it, or choose "
                           "another name.", name=name))
        exc.replace_offer = {"name": name, "units": _unit_counts().get(existing.id, 0), "loaded": existing.loaded_at}
        raise exc
    crosswalk = _crosswalk(areas, name, meta)
    vid = bd.save_version(engine(), areas, name, title=meta["title"], valid_from=valid_from, valid_to=valid_to,
                          source=meta["source"], licence=meta["licence"], attribution=meta["attribution"],
                          sha256=upload["sha256"], replace=replace)
    detail = {"file": upload["file_name"], "units": len(areas), "version_id": vid,
              "fields": {r: c for r, c in chosen.items() if c}}
    if crosswalk is not None:
        path, old, new = crosswalk
        detail["crosswalk"] = {"old": old, "new": new, "rows": bd.save_crosswalk(
            engine(), path, old, new, display_name=request.files["crosswalk"].filename)}
    audit("boundary_replace" if replace else "boundary_load", name, detail)
    _discard(upload)
    return name


def _crosswalk(areas, name: str, meta: dict):
    """The crosswalk CSV given with the layer, checked against the new units: (path, old, new) or None."""
    upload = request.files.get("crosswalk")
    if not upload or not upload.filename:
        return None
    other = meta["crosswalk_version"]
    if other not in {v.name for v in versions(engine())} or other == name:
        raise InputError(_("Choose the stored version the crosswalk leads from or to."))
    old, new = (other, name) if meta["crosswalk_direction"] != "to" else (name, other)
    path = _current_upload()["folder"] / "crosswalk.csv"
    upload.save(path)
    with engine().connect() as conn:
        codes = bd.version_codes(conn, other)
    mine = set(areas["code"])
    bd.read_crosswalk(path, codes if old == other else mine, mine if new == name else codes, old=old, new=new,
                      display_name=Path(upload.filename).name[:200])
    return path, old, new


@bp.get("/preview.geojson")
@role_required("analyst")
def preview():
    """The kept upload's outlines, simplified (geo.ingest.boundaries.preview_geojson), computed once per layer."""
    upload = _current_upload()
    if upload is None:
        abort(404, description=_("No uploaded boundary file: upload one on the boundaries page."))
    layer = _layer_arg(upload, request.args.get("layer"))
    crs = (request.args.get("crs") or "")[:40]
    key = hashlib.sha256(f"{layer}\n{crs}".encode()).hexdigest()[:16]
    cached = upload["folder"] / f"preview-{key}.geojson"
    if not cached.exists():
        raw = _read_raw(upload, layer)
        if raw.crs is None and crs:
            try:
                raw = raw.set_crs(crs)
            except CRSError:
                pass  # the save step names the bad coordinate system
        text = bd.preview_geojson(raw)
        cached.write_text(text or '{"type": "FeatureCollection", "features": []}', encoding="utf-8")
    return current_app.response_class(cached.read_bytes(), mimetype="application/geo+json")


# --------------------------------------------------------------------------- removing a version

@bp.route("/<name>/delete", methods=["GET", "POST"])
@role_required("analyst")
def delete(name):
    version = _version(name)
    if version is None:
        abort(404, description=_("No boundary version %(name)s.", name=name[:80]))
    units = _unit_counts().get(version.id, 0)
    with engine().connect() as conn:
        problems = bd.uses(conn, name, default=current_app.config["DEFAULT_BOUNDARY"])
        walks = bd.crosswalks_of(conn, name)
    error = None
    if request.method == "POST":
        with_walks = request.form.get("with_crosswalks") == "1"
        try:
            bd.delete_version(engine(), name, default=current_app.config["DEFAULT_BOUNDARY"],
                              with_crosswalks=with_walks,
                              on_write=lambda conn: audit("boundary_delete", name, {
                                  "units": units, "crosswalks": [w["other"] for w in walks]}, conn=conn))
            return redirect(url_for("boundaries.index", removed=name))
        except InputError as exc:
            error = str(exc)
    return render_template("admin/boundaries_delete.html", version=version, units=units, problems=problems,
                           crosswalks=walks, error=error), (400 if error else 200)


def init_app(app) -> None:
    app.register_blueprint(bp)
