"""Work pages for analysts and admins: importing files, the audit log, accounts.

Uploads are checked before anything is read: the size (``MAX_CONTENT_LENGTH``),
the type from the content (not the name), and ZIP archives against path
traversal and decompression bombs (:func:`geo.ingest.parsing.incident_file_kind`, which the import command
uses too); the columns and cells while the file is read (``IMPORT_MAX_*``).
"""
from __future__ import annotations

import datetime as dt
import io
import json
import secrets
import time
from pathlib import Path

import pandas as pd
from flask import Blueprint, current_app, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from geo import format, periods
from geo.errors import InputError
from geo.ingest.importer import import_file, preview, rejects_file
from geo.ingest.parsing import FIELD_LABELS, ReadLimits, incident_file_kind, split_header
from geo.render.exports import csv_bytes
from geo.store import accounts
from geo.store.accounts import ROLES
from geo.store.categories import source_map
from geo.store.queries import import_batches, rejected_rows
from web import current_categories
from web import engine as _engine
from web.auth import ROLE_LABELS, actor, audit, role_required
from web.categories import uploaded_map
from web.maps import precompute

bp = Blueprint("admin", __name__, url_prefix="/admin")

#: What each audited action is called on the audit page (the log keeps the code).
ACTION_LABELS = {
    "login": _l("Signed in"), "login_failed": _l("Sign-in failed"), "login_refused": _l("Sign-in refused"),
    "logout": _l("Signed out"), "password_change": _l("Password changed"), "user_create": _l("Account created"),
    "user_deactivate": _l("Account deactivated"), "token_create": _l("API token created"),
    "token_revoke": _l("API token revoked"), "import": _l("File imported"), "import_failed": _l("Import failed"),
    "export": _l("Exported"), "committee_plan": _l("Plan created"), "committee_select": _l("Area selected"),
    "committee_decision_fix": _l("Decision corrected"), "committee_assess": _l("Area assessed"),
    "programme_status": _l("Programme status recorded"), "committee_report": _l("Report downloaded"),
    "boundary_load": _l("Boundary version loaded"), "boundary_replace": _l("Boundary version replaced"),
    "boundary_delete": _l("Boundary version removed"),
    "category_add": _l("Category added"), "category_rename": _l("Category renamed"),
    "category_groups": _l("Category report groups changed"), "category_remove": _l("Category removed"),
    "category_map": _l("Label mapping stored"), "category_refile": _l("Incidents filed again"),
    "programme_export": _l("Programme statuses downloaded"),
}
#: The file formats a download names.
FORMAT_LABELS = {"pdf": "PDF", "xlsx": "XLSX", "csv": "CSV", "excel.csv": _l("CSV for Excel"), "geojson": "GeoJSON",
                 "png": "PNG"}


def engine():
    return _engine()


@bp.route("/import", methods=["GET", "POST"])
@role_required("analyst")
def import_page():
    """Step 1: choose the file and its source; the upload is kept and previewed (nothing is written)."""
    _drop_stale_uploads()
    error = None
    if request.method == "POST":
        upload = request.files.get("file")
        source = (request.form.get("source") or "").strip()
        if not upload or not upload.filename:
            error = _("Choose a file to import.")
        elif not source:
            error = _("Name the source of the file (e.g. the police unit).")
        else:
            staged, error = _stage_upload(upload, source, request.form.get("crs") or None,
                                          request.files.get("categories"))
            if staged:
                return _preview_page(staged)
    return render_template("admin/import.html", result=None, error=error, batches=import_batches(engine())), \
        (400 if error else 200)


@bp.post("/import/confirm")
@role_required("analyst")
def import_confirm():
    """Step 2: the preview again with a corrected column mapping, the import itself, or back."""
    staged = _staged(request.form.get("token") or "")
    if staged is None:
        return render_template("admin/import.html", result=None, batches=import_batches(engine()),
                               error=_("The uploaded file is no longer kept (it is kept for %(n)s minutes); "
                                       "choose it again.", n=UPLOAD_TTL_S // 60)), 400
    action = request.form.get("action")
    if action == "back":
        _discard(staged)
        return redirect(url_for("admin.import_page"))
    mapping, ignore, error = _form_mapping(staged)
    category_map = _form_categories(staged)
    if error or action != "import":
        return _preview_page(staged, mapping, ignore, error, category_map)
    try:
        result = import_file(engine(), staged["path"], source=staged["source"], crs=staged["crs"],
                             mapping=mapping, ignore=ignore, imported_by=current_user.username,
                             display_name=staged["name"], tolerance_m=current_app.config["JOIN_TOLERANCE_M"],
                             limits=ReadLimits.from_config(current_app.config), tz=current_app.config["TIMEZONE"],
                             category_map=category_map)
    except InputError as exc:
        audit("import_failed", staged["name"], {"source": staged["source"], "error": str(exc)})
        _discard(staged)
        return render_template("admin/import.html", result=getattr(exc, "result", None), error=str(exc),
                               batches=import_batches(engine())), 400
    _discard(staged)
    audit("import", staged["name"], {"source": staged["source"], "batch": result.batch_id,
                                     "accepted": result.accepted, "updated": result.updated,
                                     "rejected": result.rejected})
    if category_map is not None:
        audit("category_map", staged["source"], {"labels": len(category_map), "file": staged["name"]})
    precompute(current_app._get_current_object())  # the first visitor of each map page finds it computed
    return render_template("admin/import.html", result=result, error=None, batches=import_batches(engine()))


#: An uploaded file waits this long for its confirmation, then it is deleted.
UPLOAD_TTL_S = 3600


def _upload_dir() -> Path:
    folder = Path(current_app.instance_path) / "import_uploads"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder


def _stage_upload(upload, source, crs, category_file=None):
    """Keep the upload in the private folder under a random token bound to the session, with the
    source's label mapping file when one is given (read now, so that a bad one is said at once)."""
    name = Path(upload.filename).name[:200]
    token = secrets.token_urlsafe(24)
    tmp = _upload_dir() / f"{token}.upload"
    upload.save(tmp)
    try:
        category_map = uploaded_map(category_file)
        kind = incident_file_kind(tmp, name)
    except InputError as exc:
        tmp.unlink(missing_ok=True)
        audit("import_failed", name, {"source": source, "error": str(exc)})
        return None, str(exc)
    path = tmp.rename(tmp.with_suffix("." + {"xlsx": "xlsx", "geojson": "geojson"}.get(kind, "csv")))
    meta = {"name": name, "source": source, "crs": crs, "user": current_user.username, "file": path.name,
            "category_map": category_map}
    (_upload_dir() / f"{token}.json").write_text(json.dumps(meta), encoding="utf-8")
    session["import_upload"] = token
    return {**meta, "token": token, "path": path}, None


def _staged(token: str):
    """The kept upload of ``token`` when it belongs to this session and user, else None."""
    if not token or token != session.get("import_upload") or not token.replace("-", "").replace("_", "").isalnum():
        return None
    meta_path = _upload_dir() / f"{token}.json"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    path = _upload_dir() / meta["file"]
    if meta["user"] != current_user.username or not path.exists():
        return None
    return {**meta, "token": token, "path": path}


def _discard(staged) -> None:
    staged["path"].unlink(missing_ok=True)
    (_upload_dir() / f"{staged['token']}.json").unlink(missing_ok=True)
    session.pop("import_upload", None)


def _drop_stale_uploads() -> None:
    limit = time.time() - UPLOAD_TTL_S
    for f in _upload_dir().iterdir():
        if f.stat().st_mtime < limit:
            f.unlink(missing_ok=True)


def _form_mapping(staged):
    """The mapping chosen on the preview: ``(field -> header, headers not used, error)``."""
    headers = json.loads(request.form.get("headers") or "[]")
    mapping, ignore = {}, []
    for i, header in enumerate(headers):
        field = request.form.get(f"map_{i}", "")
        if field == "":
            if split_header(header)[0] is not None:  # a recognised column the user does not want
                ignore.append(header)
        elif field not in FIELD_LABELS:
            return None, (), _("Unknown field %(field)r for column %(header)r.", field=field[:40], header=header)
        elif field in mapping:
            return None, (), _("The columns %(a)r and %(b)r are both mapped to %(field)s; choose one.",
                               a=mapping[field], b=header, field=_(FIELD_LABELS[field]))
        else:
            mapping[field] = header
    return mapping or None, ignore, None


def _form_categories(staged):
    """The source's label mapping for this import: the uploaded file's (or else the remembered one),
    with the categories chosen on the preview for the labels not in the list; None when neither."""
    labels = json.loads(request.form.get("labels") or "[]")
    chosen = {}
    for i, label in enumerate(labels):
        code = request.form.get(f"cat_{i}", "")
        if code:
            if code not in current_categories().categories:
                raise InputError(_("Unknown category %(code)r for the label %(label)r.", code=code[:40],
                                   label=label[:200]))
            chosen[label] = code
    base = staged.get("category_map")
    if not chosen:
        return base
    if base is None:
        with engine().connect() as conn:
            base = source_map(conn, staged["source"])
    staged["category_map"] = {**base, **chosen}  # kept with the upload for the next check or the import
    meta = {k: v for k, v in staged.items() if k not in ("token", "path")}
    (_upload_dir() / f"{staged['token']}.json").write_text(json.dumps(meta), encoding="utf-8")
    return staged["category_map"]


def _preview_page(staged, mapping=None, ignore=(), error=None, category_map=None):
    category_map = staged.get("category_map") if category_map is None else category_map
    try:
        p = preview(engine(), staged["path"], mapping=mapping, ignore=ignore, crs=staged["crs"],
                    source=staged["source"], category_map=category_map,
                    tz=current_app.config["TIMEZONE"], limits=ReadLimits.from_config(current_app.config),
                    display_name=staged["name"], tolerance_m=current_app.config["JOIN_TOLERANCE_M"],
                    check_rows=current_app.config["IMPORT_PREVIEW_ROWS"])
    except InputError as exc:
        if mapping is None and not ignore:
            _discard(staged)
            return render_template("admin/import.html", result=None, error=str(exc),
                                   batches=import_batches(engine())), 400
        p, error = None, str(exc)
    return render_template("admin/import_preview.html", p=p, staged=staged, error=error, fields=FIELD_LABELS,
                           categories=[(c, current_categories().label(c, format.current_locale()))
                                       for c in current_categories().categories],
                           headers=[h for h, _f, _c in p.headers] if p else json.loads(request.form.get("headers") or "[]"),
                           tz=current_app.config["TIMEZONE"]), (400 if error else 200)


@bp.get("/import/<id:batch_id>/rejected.csv")
@role_required("analyst")
def rejected_csv(batch_id):
    """The rejected rows of an import, as the uploaded file was written (its columns, encoding and
    delimiter, or a workbook) with the row and the reasons added: corrected, it imports again."""
    row = rejected_rows(engine(), batch_id)
    if row is None:
        return render_template("error.html", message=_("No such import.")), 404
    audit("export", f"rejected rows of import {batch_id}")
    if row.rejected_format:
        data, suffix = rejects_file(row.rejected_csv or "", row.rejected_format)
    else:  # stored before the rejected rows kept the file's own table
        data, suffix = _formula_safe_csv(row.rejected_csv or ""), ".csv"
    mimetype = ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" if suffix == ".xlsx"
                else "text/csv")
    resp = current_app.response_class(data, mimetype=mimetype)
    resp.headers["Content-Disposition"] = f'attachment; filename="rejected_{batch_id}{suffix}"'
    return resp


def _formula_safe_csv(text: str) -> bytes:
    """Stored rejected rows as a formula-safe CSV download (UTF-8 with BOM). New imports store
    them formula-safe already; rows stored before that are made safe here, cell by cell."""
    if not text.strip():
        return "\ufeff".encode("utf-8")
    return csv_bytes(pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False))


def _detail(raw) -> dict:
    try:
        out = json.loads(raw) if raw else {}
    except ValueError:
        return {"": str(raw)}
    return out if isinstance(out, dict) else {"": str(out)}


def audit_detail(action: str, target: str, raw) -> str:
    """An audit row's detail as a short text ("Tải báo cáo PDF", "Nhập tệp X: 1.234 dòng"); the
    JSON itself stays in the row (the page keeps it in the cell's data-detail attribute)."""
    d = _detail(raw)
    n = format.number
    results = {"dat": _("Transformed (đạt)"), "khong_dat": _("Not transformed (không đạt)")}
    if action == "import":
        return _("File %(file)s from %(source)s: %(accepted)s rows accepted, %(updated)s updated, %(rejected)s "
                 "rejected", file=target, source=d.get("source", ""), accepted=n(d.get("accepted", 0)),
                 updated=n(d.get("updated", 0)), rejected=n(d.get("rejected", 0)))
    if action == "import_failed":
        return _("File %(file)s was not imported: %(error)s", file=target, error=d.get("error", ""))
    if action in ("committee_report", "programme_export") or (action == "export" and "format" in d):
        return _("Downloaded as %(format)s", format=FORMAT_LABELS.get(d.get("format"), d.get("format", "")))
    if action == "committee_assess":
        return _("Year %(year)s: %(result)s", year=d.get("year"), result=results.get(d.get("result"), ""))
    if action == "user_create" and d.get("role"):
        return _("Role: %(role)s", role=ROLE_LABELS.get(d["role"], d["role"]))
    if action == "category_map":
        return _("%(n)s labels of %(file)s", n=n(d.get("labels", 0)), file=d.get("file", ""))
    # anything else: its figures as "key: value", without the JSON punctuation
    return "; ".join(f"{k}: {v}" if k else str(v) for k, v in d.items() if v not in (None, "", [], {}))


@bp.get("/audit")
@role_required("admin")
def audit_page():
    action, user = request.args.get("action") or "", request.args.get("user") or ""
    rows, actions, total = accounts.audit_page(engine(), action=action, username=user)
    zone = periods.zone()
    def local(at) -> str:   # stored in UTC (SQLite gives it back without the zone)
        at = (at if at.tzinfo else at.replace(tzinfo=dt.timezone.utc)).astimezone(zone)
        return f"{format.date(at)} {at:%H:%M}"
    return render_template("admin/audit.html", rows=rows, actions=actions, action=action, user=user, total=total,
                           action_label=lambda a: ACTION_LABELS.get(a, a), detail=audit_detail, local=local,
                           zone=str(zone))


@bp.route("/users", methods=["GET", "POST"])
@role_required("admin")
def users_page():
    error = created = None
    if request.method == "POST":
        if request.form.get("deactivate"):
            raw = request.form["deactivate"]
            if not (raw.isascii() and raw.isdigit() and len(raw) <= 9):
                error = _("`deactivate` was %(got)r but is expected to be an account number from this "
                          "page; nothing was changed.", got=raw[:40])
            # deactivating also ends the account's sessions (never one's own account)
            elif not accounts.deactivate(engine(), int(raw), by=actor()):
                error = _("No active account number %(n)s other than yours; nothing was changed.", n=raw)
        else:
            username = (request.form.get("username") or "").strip()
            role = request.form.get("role") or ""
            try:
                created = (username, accounts.create_user(engine(), username, role,
                                                          full_name=request.form.get("full_name") or "", by=actor()))
            except InputError as exc:
                error = str(exc)
    return render_template("admin/users.html", users=accounts.users(engine()), roles=ROLES, error=error, created=created), \
        (400 if error else 200)


def init_app(app) -> None:
    app.register_blueprint(bp)
