"""Backups of the store: SQLite's online backup API, or pg_dump/pg_restore on PostgreSQL."""
from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path

from sqlalchemy.engine import make_url

from geo.errors import InputError
from geo.format import gettext


def _sqlite_path(url: str) -> Path | None:
    u = make_url(url)
    return Path(u.database) if u.get_backend_name() == "sqlite" and u.database else None


def backup(url: str, dest: str | Path) -> Path:
    """Copy the store at ``url`` to ``dest`` while it is in use (a consistent snapshot)."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    path = _sqlite_path(url)
    if path is not None:
        if not path.exists():
            raise InputError(gettext("No store at %(path)s.", path=path))
        tmp = dest.with_suffix(dest.suffix + ".part")
        tmp.unlink(missing_ok=True)
        src, dst = sqlite3.connect(path), sqlite3.connect(tmp)
        try:
            src.backup(dst)
        finally:
            dst.close()
            src.close()
        tmp.replace(dest)
        return dest
    _pg_tool("pg_dump", ["-Fc", "-f", str(dest), _pg_dsn(url)])
    return dest


def restore(url: str, src: str | Path) -> None:
    """Replace the store at ``url`` with the backup ``src`` (checked to be a store first)."""
    src = Path(src)
    if not src.exists():
        raise InputError(gettext("No backup file %(path)s.", path=src))
    path = _sqlite_path(url)
    if path is not None:
        try:
            with sqlite3.connect(f"file:{src}?mode=ro", uri=True) as check:
                ok = check.execute("PRAGMA integrity_check").fetchone()[0]
                version = check.execute("SELECT version_num FROM alembic_version").fetchone()
        except sqlite3.DatabaseError as exc:
            raise InputError(gettext("%(name)s: not a store backup (%(error)s).", name=src.name,
                                     error=exc)) from exc
        if ok != "ok" or version is None:
            raise InputError(gettext("%(name)s: not a sound store backup (integrity: %(result)s).",
                                     name=src.name, result=ok))
        path.parent.mkdir(parents=True, exist_ok=True)
        source, target = sqlite3.connect(src), sqlite3.connect(path, timeout=60)
        try:
            source.backup(target)  # page by page under the target's lock: readers see old or new
        finally:
            target.close()
            source.close()
        return
    try:
        _pg_tool("pg_restore", ["--list", str(src)])
    except InputError as exc:
        raise InputError(gettext("%(name)s: not a store backup (%(error)s).", name=src.name, error=exc)) from exc
    _pg_tool("pg_restore", ["--clean", "--if-exists", "--no-owner", "--single-transaction", "-d", _pg_dsn(url),
                            str(src)])


def _pg_dsn(url: str) -> str:
    u = make_url(url).set(drivername="postgresql")
    return u.render_as_string(hide_password=False)


def _pg_tool(name: str, args: list[str]) -> None:
    if shutil.which(name) is None:
        raise InputError(gettext("%(name)s is not installed (Debian package postgresql-client).", name=name))
    done = subprocess.run([name, *args], capture_output=True, text=True)
    if done.returncode:
        raise InputError(gettext("%(name)s failed: %(error)s", name=name, error=done.stderr.strip()))
