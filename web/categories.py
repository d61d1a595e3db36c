"""The categories page (admins): add a category, rename it, choose its report groups, remove an unused
one, see each source's label mapping and re-file a source's stored incidents under it. Every change
is audited in the transaction that makes it."""
from __future__ import annotations

import tempfile
from pathlib import Path

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from geo.categories import GROUPS, read_category_map
from geo.errors import InputError
from geo.format import number
from geo.store import categories as cs
from web import current_categories, engine, forget_categories
from web.auth import actor, audit, role_required

bp = Blueprint("categories", __name__, url_prefix="/admin")


@bp.get("/categories")
@role_required("admin")
def categories_page():
    return _render(None, 200)


def _render(error, status):
    cat = current_categories()
    used = cs.usage(engine())
    rows = [dict(code=c, vi=vi, en=en, builtin=cat.builtin(c), n=used.get(c, 0),
                 groups={g for g, members in cat.groups.items() if c in members})
            for c, (vi, en) in cat.categories.items()]
    return render_template("admin/categories.html", rows=rows, groups=list(GROUPS), error=error,
                           mappings=cs.source_rows(engine()), sources=cs.sources(engine())), status


@bp.post("/categories")
@role_required("admin")
def categories_change():
    form = request.form
    action = form.get("action") or ""
    try:
        if action == "refile":
            source = form.get("source") or ""
            moved = cs.refile(engine(), source, by=actor())
            flash(_("%(n)s incidents of %(source)s were filed again under the current mapping.",
                    n=number(moved), source=source))
        else:
            with engine().begin() as conn:
                _change(conn, action, form)
    except InputError as exc:
        forget_categories()
        return _render(str(exc), 400)
    forget_categories()
    return redirect(url_for("categories.categories_page"))


def _change(conn, action: str, form) -> None:
    code = (form.get("code") or "").strip()
    groups = form.getlist("group")
    if action == "add":
        cs.add(conn, code, form.get("label_vi", ""), form.get("label_en", ""), groups)
        audit("category_add", code, {"vi": form.get("label_vi", ""), "en": form.get("label_en", ""),
                                     "groups": sorted(groups)}, conn=conn)
    elif action == "save":
        before = cs.catalogue(conn)
        if code not in before.categories:
            raise InputError(_("No category %(code)r; nothing was changed.", code=code[:40]))
        old_vi, old_en = before.categories[code]
        old_groups = sorted(g for g, members in before.groups.items() if code in members)
        vi, en = form.get("label_vi", ""), form.get("label_en", "")
        if (vi.strip(), en.strip()) != (old_vi, old_en):
            cs.rename(conn, code, vi, en)
            audit("category_rename", code, {"from": [old_vi, old_en], "to": [vi.strip(), en.strip()]}, conn=conn)
        if sorted(set(groups)) != old_groups:
            cs.set_groups(conn, code, groups)
            audit("category_groups", code, {"from": old_groups, "to": sorted(set(groups))}, conn=conn)
    elif action == "remove":
        cs.remove(conn, code)
        audit("category_remove", code, conn=conn)
    else:
        raise InputError(_("`action` was %(value)r; nothing was changed.", value=action[:40]))


def uploaded_map(upload) -> dict[str, str] | None:
    """The label mapping of an uploaded CSV or YAML file ({label: code}), None when no file was given;
    a bad file is an InputError naming the line."""
    if not upload or not upload.filename:
        return None
    name = Path(upload.filename).name[:200]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / ("map.yaml" if name.lower().endswith((".yaml", ".yml")) else "map.csv")
        upload.save(path)
        return read_category_map(path, current_categories(), display_name=name)


def init_app(app) -> None:
    app.register_blueprint(bp)
