"""The command line (``flask --app server …``): thin commands, each calling one function.

The commands speak the service's default language (``BABEL_DEFAULT_LOCALE``, Vietnamese unless
set) through the catalogue; an error prints its message alone and exits with status 1.
"""
from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import click
from flask import Flask
from sqlalchemy.engine import make_url

from geo import methods
from geo.categories import read_category_map
from geo.errors import InputError
from geo.format import current_locale, date, number
from geo.format import gettext as _
from geo.ingest import boundaries as gb
from geo.ingest import demo, shipped
from geo.ingest.importer import import_file, preview
from geo.ingest.parsing import FIELD_LABELS, ReadLimits, incident_file_kind, sha256_of
from geo.store import accounts, jobs, queries
from geo.store import categories as store_categories
from geo.store.backup import backup, restore
from geo.store.models import make_engine, upgrade
from geo.store.queries import load_areas
from web import auth
from web.maps import precompute


def fail(exc, status: int = 1):
    """Print the message (red, on stderr) and stop with ``status``."""
    click.secho(str(exc), fg="red", err=True)
    sys.exit(status)


def register(app: Flask) -> None:
    def eng():
        return make_engine(app.config["DATABASE_URL"])

    @app.cli.command("init-db")
    def init_db():
        """Create the store, or upgrade it to the newest schema."""

        upgrade(app.config["DATABASE_URL"])
        click.echo(_("Store ready: %(url)s", url=_safe_url(app.config["DATABASE_URL"])))

    @app.cli.command("create-user")
    @click.argument("username")
    @click.option("--role", type=click.Choice(accounts.ROLES), required=True)
    @click.option("--password", default=None,
                  help="At least 12 characters, not a common one; generated when omitted.")
    @click.option("--full-name", default="")
    @click.option("--if-missing", is_flag=True, help="Do nothing when the user exists.")
    def create_user_cmd(username, role, password, full_name, if_missing):
        """Create an account (the generated password is printed once)."""

        if if_missing and accounts.user_exists(eng(), username):
            click.echo(_("User %(u)s exists; sign in with its password (or: flask --app server set-password "
                         "%(u)s).", u=username))
            return
        try:
            pw = accounts.create_user(eng(), username, role, password, full_name)
        except InputError as exc:
            fail(exc)
        click.echo(_("Created %(role)s %(u)s.", role=auth.role_label(role), u=username)
                   + ("" if password else " " + _("Password: %(pw)s", pw=pw)))

    @app.cli.command("set-password")
    @click.argument("username")
    @click.option("--password", default=None,
                  help="At least 12 characters, not a common one; generated when omitted.")
    def set_password_cmd(username, password):
        """Set a new password for an account (printed once when generated); ends its sessions."""

        try:
            pw = accounts.set_password(eng(), username, password)
        except InputError as exc:
            fail(exc)
        click.echo(_("Password of %(u)s changed; its sessions have ended.", u=username)
                   + ("" if password else " " + _("New password: %(pw)s", pw=pw)))

    @app.cli.command("create-token")
    @click.argument("username")
    @click.option("--name", default="", help="What the token is for.")
    @click.option("--days", type=int, default=None, help="Days the token stays valid (TOKEN_LIFETIME_DAYS).")
    def create_token_cmd(username, name, days):
        """Create a personal API token (printed once; send it as Authorization: Bearer TOKEN)."""

        try:
            click.echo(accounts.new_token(eng(), username, name,
                                          app.config["TOKEN_LIFETIME_DAYS"] if days is None else days))
        except InputError as exc:
            fail(exc)

    @app.cli.command("backup")
    @click.argument("file", type=click.Path(dir_okay=False))
    def backup_cmd(file):
        """Copy the store to FILE while the service runs (SQLite online backup, or pg_dump)."""

        try:
            click.echo(_("Backup written to %(path)s.", path=backup(app.config["DATABASE_URL"], file)))
        except InputError as exc:
            fail(exc)

    @app.cli.command("restore")
    @click.argument("file", type=click.Path(exists=True, dir_okay=False))
    @click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
    def restore_cmd(file, yes):
        """Replace the store with the backup FILE."""

        if not yes:
            click.confirm(_("Replace the store %(url)s with %(file)s?", url=_safe_url(app.config["DATABASE_URL"]),
                            file=file), abort=True)
        try:
            restore(app.config["DATABASE_URL"], file)
        except InputError as exc:
            fail(exc)
        click.echo(_("Store restored."))

    def boundary_places():
        return dict(source_dir=app.config["BOUNDARY_SOURCE_DIR"], cache_dir=app.config["BOUNDARY_CACHE_DIR"],
                    mirror_url=app.config["BOUNDARY_MIRROR_URL"] or None)

    @app.cli.command("load-shipped-boundaries")
    @click.option("--source-dir", default=None, help="Folder with the prepared files (BOUNDARY_SOURCE_DIR).")
    @click.option("--sets", default=None, help="Comma-separated set names, or all (BOUNDARY_SETS).")
    @click.option("--manifest", default=None, type=click.Path(exists=True, dir_okay=False),
                  help="Upstream manifest to check downloads against instead of the pinned one "
                       "(data/boundaries/upstream/), for a mirror of another snapshot.")
    def load_shipped(source_dir, sets, manifest):
        """Load the chosen boundary sets of data/boundaries/registry.json (hash-checked; rebuilt from
        upstream when no prepared file is at hand)."""
        places = boundary_places() | ({"source_dir": source_dir} if source_dir else {})
        try:
            loaded = shipped.load_shipped(eng(), names=shipped.set_names(sets or app.config["BOUNDARY_SETS"]),
                                          manifest=manifest, progress=click.echo, **places)
        except InputError as exc:
            fail(exc)
        click.echo(_("Loaded: %(names)s", names=", ".join(loaded)) if loaded else _("Boundary sets already loaded."))

    @app.cli.command("export-boundaries")
    @click.argument("file", type=click.Path(dir_okay=False))
    @click.option("--sets", default=None,
                  help="Comma-separated set names, or all; default: the shipped sets in the store.")
    def export_boundaries(file, sets):
        """Write the prepared files of boundary sets and their manifest into FILE.zip, for a machine offline."""
        try:
            if sets:
                names = shipped.set_names(sets)
            else:
                have = {v.name for v in queries.versions(eng())}
                names = [n for n in shipped.set_names("all") if n in have] or shipped.set_names(
                    app.config["BOUNDARY_SETS"])
            files = shipped.export_bundle(file, names, progress=click.echo, **boundary_places())
        except InputError as exc:
            fail(exc)
        click.echo(_("Wrote %(files)s to %(out)s. Load it with: flask --app server load-boundaries-bundle %(out)s",
                     files=", ".join(files), out=file))

    @app.cli.command("load-boundaries-bundle")
    @click.argument("file", type=click.Path(exists=True, dir_okay=False))
    def load_bundle(file):
        """Load the boundary sets of a bundle made by export-boundaries (every file hash-checked first)."""
        try:
            loaded = shipped.load_bundle(eng(), file, cache_dir=app.config["BOUNDARY_CACHE_DIR"])
        except InputError as exc:
            fail(exc)
        click.echo(_("Loaded: %(names)s", names=", ".join(loaded)) if loaded else _("Boundary sets already loaded."))

    @app.cli.command("load-boundaries")
    @click.argument("file", type=click.Path(exists=True, dir_okay=False))
    @click.option("--name", required=True, help="Name of the new boundary version, e.g. hcmc-2025.")
    @click.option("--title", default="")
    @click.option("--code-field", default="code", show_default=True)
    @click.option("--name-field", default="name", show_default=True)
    @click.option("--parent-code-field", default=None)
    @click.option("--parent-name-field", default=None)
    @click.option("--level-field", default=None)
    @click.option("--population-field", default=None)
    @click.option("--layer", default=None, help="Layer of a GeoPackage.")
    @click.option("--crs", default=None, help="CRS when the file declares none, e.g. EPSG:3405.")
    @click.option("--valid-from", default=None, help="YYYY-MM-DD")
    @click.option("--valid-to", default=None, help="YYYY-MM-DD")
    @click.option("--source", default="")
    @click.option("--licence", default="")
    @click.option("--attribution", default="")
    @click.option("--replace", is_flag=True, help="Replace a version of the same name.")
    def load_boundaries(file, name, title, code_field, name_field, parent_code_field, parent_name_field,
                        level_field, population_field, layer, crs, valid_from, valid_to, source, licence,
                        attribution, replace):
        """Load a boundary layer (GeoJSON, GeoPackage, zipped Shapefile) as a named version."""
        fields = gb.FieldMap(code=code_field, name=name_field, parent_code=parent_code_field,
                             parent_name=parent_name_field, level=level_field, population=population_field)
        try:
            areas = gb.read_layer(file, fields, layer=layer, crs=crs)
            gb.save_version(eng(), areas, name, title=title, valid_from=valid_from, valid_to=valid_to,
                            source=source or Path(file).name, licence=licence, attribution=attribution,
                            sha256=sha256_of(file), replace=replace)
        except (InputError, ValueError) as exc:
            fail(exc)
        click.echo(_("Loaded %(n)s units as %(name)s.", n=number(len(areas)), name=name))

    @app.cli.command("load-crosswalk")
    @click.argument("file", type=click.Path(exists=True, dir_okay=False))
    @click.option("--old", required=True, help="Old boundary version")
    @click.option("--new", required=True, help="New boundary version")
    def load_crosswalk(file, old, new):
        """Load an old -> new unit crosswalk (CSV: old_code, new_code, area_share)."""
        try:
            n = gb.save_crosswalk(eng(), file, old, new)
        except InputError as exc:
            fail(exc)
        click.echo(_("Loaded %(n)s crosswalk rows %(old)s -> %(new)s.", n=number(n), old=old, new=new))

    @app.cli.command("import-incidents")
    @click.argument("file", type=click.Path(exists=True, dir_okay=False))
    @click.option("--source", required=True, help="System the records come from; ids are unique per source.")
    @click.option("--map", "mapping", multiple=True, metavar="FIELD=HEADER",
                  help="Use column HEADER for FIELD (e.g. --map occurred_at='Ngày'). Repeatable.")
    @click.option("--crs", default=None, help="CRS of the coordinates (default WGS 84), e.g. EPSG:3405, "
                                              "VN2000:105.75.")
    @click.option("--user", default="", help="Who imports (kept with the batch).")
    @click.option("--rejects-out", default=None,
                  help="Where to write the rejected rows (the file's own columns, plus the row and the reasons; "
                       "CSV as the file was written, or .xlsx for a workbook).")
    @click.option("--dry-run", is_flag=True,
                  help="Show the columns, the first rows as read and the problems; write nothing. Exit status 0 "
                       "when the file would import, 1 otherwise.")
    @click.option("--categories", "categories_file", default=None, type=click.Path(exists=True, dir_okay=False),
                  help="The source's label mapping (CSV with columns label,category, or YAML label: category); "
                       "remembered for its next imports.")
    def import_incidents(file, source, mapping, crs, user, rejects_out, dry_run, categories_file):
        """Import incidents from a CSV, XLSX or GeoJSON file."""
        run_import(app, eng(), file, source=source, mapping=mapping, crs=crs, user=user,
                   rejects_out=rejects_out, dry_run=dry_run, categories_file=categories_file)

    @app.cli.command("set-category-map")
    @click.argument("source")
    @click.argument("file", type=click.Path(exists=True, dir_okay=False))
    def set_category_map(source, file):
        """Remember FILE (CSV label,category or YAML label: category) as the label mapping of SOURCE."""
        e = eng()
        try:
            cmap = read_category_map(file, store_categories.catalogue(e))
            with e.begin() as conn:
                store_categories.set_source_map(conn, source, cmap)
                accounts.record(conn, "category_map", source, {"labels": len(cmap), "file": Path(file).name},
                                by=accounts.COMMAND_LINE)
        except InputError as exc:
            fail(exc)
        click.echo(_("Label mapping of %(source)s stored: %(n)s labels. Stored incidents keep their category "
                     "until: flask --app server refile-categories %(source)s", source=source, n=number(len(cmap))))

    @app.cli.command("refile-categories")
    @click.argument("source")
    def refile_categories(source):
        """File the stored incidents of SOURCE again under its current label mapping."""
        try:
            moved = store_categories.refile(eng(), source, by=accounts.COMMAND_LINE)
        except InputError as exc:
            fail(exc)
        click.echo(_("%(n)s incidents of %(source)s were filed again under the current mapping.",
                     n=number(moved), source=source))

    @app.cli.command("worker")
    @click.option("--idle-exit", type=float, default=None,
                  help="Stop after this many seconds without a job (default: run until stopped).")
    def worker_cmd(idle_exit):
        """Run the background analyses one at a time (with JOB_WORKER=external); several may run."""

        click.echo(_("Running background jobs; stop with Ctrl+C."))
        try:
            n = jobs.work(app, eng(), idle_seconds=idle_exit)
        except KeyboardInterrupt:
            return
        click.echo(_("Jobs run: %(n)s.", n=number(n)))

    @app.cli.command("demo-data")
    @click.option("-n", "count", default=None, type=int, help="Number of incidents (DEMO_INCIDENTS).")
    @click.option("--seed", default=138, show_default=True)
    def demo_data(count, seed):
        """Create and import the synthetic demo incidents (2023-2025) in the DEFAULT_BOUNDARY set."""

        n = count or app.config["DEMO_INCIDENTS"]
        boundary = app.config["DEFAULT_BOUNDARY"]
        out_dir = Path(app.instance_path) / "demo"
        out_dir.mkdir(exist_ok=True)
        stem = f"{n}_{seed}" if boundary == "hcmc-2025" else f"{boundary}_{n}_{seed}"
        path = out_dir / f"demo_incidents_{stem}.csv"
        e = eng()
        if not path.exists():
            try:
                wards = load_areas(e, boundary)
            except InputError as exc:
                fail(exc)
            records, truth = demo.generate(wards, n=n, seed=seed)
            demo.write_csv(records, path)
            truth.to_csv(out_dir / f"demo_truth_{stem}.csv", index=False)
        source = "demo" if boundary == "hcmc-2025" else f"demo-{boundary}"
        done = queries.finished_import(e, source, sha256_of(path))
        if done is not None:  # a second `make run` starts at once
            click.echo(_("Demo incidents already imported (batch %(b)s, %(when)s).", b=done.id,
                         when=date(done.finished_at)))
            return
        run_import(app, e, str(path), source=source, mapping=(), crs=None, user="demo", rejects_out=None)

    @app.cli.command("methods")
    def methods_cmd():
        """Print the table of analysis methods and their parameters (Markdown, as in the README)."""
        click.echo(methods.markdown(), nl=False)

    @app.cli.command("export-geojson")
    @click.argument("out", type=click.Path(dir_okay=False, writable=True))
    @click.option("--boundary", default=None, help="Boundary version (DEFAULT_BOUNDARY).")
    @click.option("--start", required=True, help="YYYY-MM-DD")
    @click.option("--end", required=True, help="YYYY-MM-DD")
    @click.option("--category", default="", help="Comma-separated category or group codes.")
    def export_geojson(out, boundary, start, end, category):
        """Write incident counts per area as an RFC 7946 GeoJSON file."""

        try:
            gdf = queries.area_counts(eng(), boundary=boundary or app.config["DEFAULT_BOUNDARY"],
                                      start=dt.date.fromisoformat(start), end=dt.date.fromisoformat(end),
                                      categories=[c for c in category.split(",") if c])
        except (InputError, ValueError) as exc:
            fail(exc)
        Path(out).write_text(gdf.to_json(drop_id=True, to_wgs84=True), encoding="utf-8")
        click.echo(_("Wrote %(n)s areas to %(out)s.", n=number(len(gdf)), out=out))


def run_import(app, eng, file, *, source, mapping, crs, user, rejects_out, dry_run=False, categories_file=None):
    """The import command's body: progress bar, counts, rejected-rows report, exit status
    (``dry_run``: :func:`geo.ingest.importer.preview` of every row, printed; nothing written)."""

    try:  # the checks of the web upload: the type from the content, ZIP traversal and bombs
        incident_file_kind(Path(file), Path(file).name)
        category_map = (read_category_map(categories_file, store_categories.catalogue(eng))
                        if categories_file else None)
    except InputError as exc:
        fail(exc)
    pairs = {}
    for m in mapping:
        if "=" not in m:
            fail(_("--map %(m)s is not FIELD=HEADER.", m=m), 2)
        k, v = m.split("=", 1)
        pairs[k.strip()] = v.strip()
    if dry_run:
        try:
            p = preview(eng, file, mapping=pairs or None, crs=crs, tz=app.config["TIMEZONE"], check_rows=None,
                        limits=ReadLimits.from_config(app.config), tolerance_m=app.config["JOIN_TOLERANCE_M"],
                        source=source, category_map=category_map)
        except InputError as exc:
            fail(exc)
        _print_preview(p, store_categories.catalogue(eng))
        sys.exit(0 if p.would_import else 1)
    stages = ["read", "validate", "join", "write", "aggregate", "done"]
    with click.progressbar(length=len(stages), label=_("Importing %(file)s", file=Path(file).name),
                           item_show_func=lambda s: s) as bar:
        def progress(stage):
            bar.update(1, stage)
        try:
            result = import_file(eng, file, source=source, mapping=pairs or None, crs=crs,
                                 imported_by=user, progress=progress, tz=app.config["TIMEZONE"],
                                 tolerance_m=app.config["JOIN_TOLERANCE_M"],
                                 limits=ReadLimits.from_config(app.config), category_map=category_map)
        except InputError as exc:
            res = getattr(exc, "result", None)
            bar.render_finish()
            if res is not None and res.rejects is not None and len(res.rejects):
                where = _write_rejects(app, res, rejects_out)
                click.echo(_("Rejected rows: %(path)s", path=where), err=True)
            fail(exc)
    for w in result.warnings:
        click.secho(_("Warning: %(w)s", w=w), fg="yellow")
    if result.unknown_categories is not None and len(result.unknown_categories) > 20:
        click.echo(_("Labels filed as 'Khác' (other):"))  # the warning names the first 20; here all
        for r in result.unknown_categories.itertuples():
            click.echo(f"  {r.label}\t{number(int(r.count))}")
    click.echo(_("Accepted %(a)s, updated %(u)s, rejected %(r)s (batch %(b)s).", a=number(result.accepted),
                 u=number(result.updated), r=number(result.rejected), b=result.batch_id))
    total = result.accepted + result.updated
    for name, n in result.outside.items():
        if n < total and (n or result.nearest.get(name)):  # skip versions the file does not touch
            click.echo("  " + _("%(name)s: %(n)s outside every unit, %(near)s placed in the nearest unit "
                                "(within %(m)s m)", name=name, n=number(n), near=number(result.nearest.get(name, 0)),
                                m=number(app.config["JOIN_TOLERANCE_M"])))
    if result.rejected:
        click.echo(_("Rejected rows: %(path)s", path=_write_rejects(app, result, rejects_out)))
    queued = precompute(app, start_worker=False)
    if queued:
        click.echo(_("Queued %(n)s background jobs that compute the default map pages; the web server runs "
                     "them (or `flask --app server worker`).", n=number(len(queued))))


def _write_rejects(app, result, rejects_out) -> str:
    """The rejected rows as the file had them (:func:`geo.ingest.importer.rejects_file`)."""
    data, suffix = result.rejects_file()
    path = Path(rejects_out) if rejects_out else (
        Path(app.instance_path) / "rejected" / f"{Path(result.file_name).stem}_rejected{suffix}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return str(path)


def _print_preview(p, categories) -> None:
    """A dry run's report: the columns, the first rows as read, the problems, the warnings."""
    click.echo(_("Columns of %(name)s:", name=p.file_name))
    for header, field, crs in p.headers:
        click.echo(f"  {header} -> " + (gettext_field(field) if field else _("(not used)"))
                   + (f" [{crs}]" if crs else ""))
    if p.crs:
        click.echo(_("Coordinate system: %(crs)s", crs=p.crs))
    click.echo(_("First rows as read:"))
    table = [[_("Row"), _("Date and time"), _("Longitude"), _("Latitude"), _("Category"), _("Ward")]]
    for r in p.sample.itertuples():
        table.append([str(r.row), r.local.strftime("%d/%m/%Y %H:%M"), f"{r.lon:.6f}" if r.lon == r.lon else "",
                      f"{r.lat:.6f}" if r.lat == r.lat else "", categories.label(r.category, current_locale()), r.ward or ""])
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        click.echo("  " + "  ".join(c.ljust(w) for c, w in zip(row, widths)))
    for pr in p.problems.itertuples():
        click.echo("  " + _("%(n)s rows: %(column)s: %(reason)s (rows %(first)s)", n=number(pr.rows),
                            column=pr.column, reason=pr.reason, first=pr.first))
    for w in p.warnings:
        click.secho(_("Warning: %(w)s", w=w), fg="yellow")
    click.echo(_("%(ok)s of %(n)s rows would be imported, %(bad)s rejected; nothing was written.",
                 ok=number(p.accepted), n=number(p.rows_total), bad=number(p.rejected)))


def gettext_field(field: str) -> str:
    return _(FIELD_LABELS[field])


def _safe_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)
