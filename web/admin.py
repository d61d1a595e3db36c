"""Work pages for analysts and admins: importing files, the audit log, accounts.

Uploads are checked before anything is read: the size (``MAX_CONTENT_LENGTH``),
the type from the content (not the name), and ZIP archives against path
traversal and decompression bombs (:func:`geo.ingest.parsing.incident_file_kind`, which the import command
uses too); the columns and cells while the file is read (``IMPORT_MAX_*``).
"""
from __future__ import annotations

import io
import tempfile
from pathlib import Path

import pandas as pd
from flask import Blueprint, current_app, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from geo.errors import InputError
from geo.ingest.importer import import_file
from geo.ingest.parsing import ReadLimits, incident_file_kind
from geo.render.exports import csv_bytes
from geo.store import accounts
from geo.store.accounts import ROLES
from geo.store.queries import import_batches, rejected_rows
from web import engine as _engine
from web.auth import actor, audit, role_required
from web.categories import uploaded_map

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
    "category_add": _l("Category added"), "category_rename": _l("Category renamed"),
    "category_groups": _l("Category report groups changed"), "category_remove": _l("Category removed"),
    "category_map": _l("Label mapping stored"), "category_refile": _l("Incidents filed again"),
}


def engine():
    return _engine()


@bp.route("/import", methods=["GET", "POST"])
@role_required("analyst")
def import_page():
    result = error = None
    if request.method == "POST":
        upload = request.files.get("file")
        source = (request.form.get("source") or "").strip()
        if not upload or not upload.filename:
            error = _("Choose a file to import.")
        elif not source:
            error = _("Name the source of the file (e.g. the police unit).")
        else:
            result, error = _import_upload(upload, source, request.form.get("crs") or None,
                                           request.files.get("categories"))
    return render_template("admin/import.html", result=result, error=error, batches=import_batches(engine())), \
        (400 if error else 200)


def _import_upload(upload, source, crs, category_file=None):
    name = Path(upload.filename).name[:200]
    with tempfile.TemporaryDirectory() as tmp:
        kind_path = Path(tmp) / "upload"
        upload.save(kind_path)
        try:
            category_map = uploaded_map(category_file)  # the source's label mapping (web/categories.py)
            kind = incident_file_kind(kind_path, name)
            path = kind_path.rename(Path(tmp) / ("upload." + {"xlsx": "xlsx", "geojson": "geojson"}.get(kind, "csv")))
            result = import_file(engine(), path, source=source, crs=crs, imported_by=current_user.username,
                                 display_name=name, tolerance_m=current_app.config["JOIN_TOLERANCE_M"],
                                 limits=ReadLimits.from_config(current_app.config), category_map=category_map)
        except InputError as exc:
            audit("import_failed", name, {"source": source, "error": str(exc)})
            return getattr(exc, "result", None), str(exc)
    audit("import", name, {"source": source, "batch": result.batch_id, "accepted": result.accepted,
                           "updated": result.updated, "rejected": result.rejected})
    if category_map is not None:
        audit("category_map", source, {"labels": len(category_map), "file": category_file.filename[:200]})
    return result, None


@bp.get("/import/<id:batch_id>/rejected.csv")
@role_required("analyst")
def rejected_csv(batch_id):
    row = rejected_rows(engine(), batch_id)
    if row is None:
        return render_template("error.html", message=_("No such import.")), 404
    audit("export", f"rejected rows of import {batch_id}")
    resp = current_app.response_class(_formula_safe_csv(row.rejected_csv or ""), mimetype="text/csv")
    resp.headers["Content-Disposition"] = f'attachment; filename="rejected_{batch_id}.csv"'
    return resp


def _formula_safe_csv(text: str) -> bytes:
    """Stored rejected rows as a formula-safe CSV download (UTF-8 with BOM). New imports store
    them formula-safe already; rows stored before that are made safe here, cell by cell."""
    if not text.strip():
        return "\ufeff".encode("utf-8")
    return csv_bytes(pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False))


@bp.get("/audit")
@role_required("admin")
def audit_page():
    action, user = request.args.get("action") or "", request.args.get("user") or ""
    rows, actions, total = accounts.audit_page(engine(), action=action, username=user)
    return render_template("admin/audit.html", rows=rows, actions=actions, action=action, user=user,
                           total=total, action_label=lambda a: ACTION_LABELS.get(a, a))


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
