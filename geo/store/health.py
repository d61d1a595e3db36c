"""Whether the store answers and takes a write (the health probe)."""
from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

HEALTH_LOCK_WAIT_MS = 2000  # the health probe waits this long for a writer's lock, then calls the store busy


def store_status(eng) -> tuple[str, str]:
    """``("ok" | "read_only" | "unreachable", detail)``: whether the store answers and takes a write.

    The probe is a real write statement (it changes no row) in a transaction that is rolled back:
    a read-only SQLite file or mount, ``PRAGMA query_only``, a read-only PostgreSQL transaction or a
    standby in recovery all refuse it. A store busy with another writer (an import) is writable: ok.
    """
    try:
        with eng.connect() as conn:
            sqlite = conn.dialect.name == "sqlite"
            if sqlite:
                before = conn.exec_driver_sql("PRAGMA busy_timeout").scalar()
                conn.exec_driver_sql(f"PRAGMA busy_timeout = {HEALTH_LOCK_WAIT_MS}")
            elif conn.dialect.name == "postgresql":
                conn.exec_driver_sql(f"SET LOCAL lock_timeout = {HEALTH_LOCK_WAIT_MS}")
            try:
                conn.execute(text("UPDATE user_account SET id = id WHERE 1 = 0"))
            finally:
                conn.rollback()
                if sqlite:
                    conn.exec_driver_sql(f"PRAGMA busy_timeout = {int(before)}")
                    conn.rollback()
    except DBAPIError as exc:
        orig = exc.orig
        code = getattr(orig, "sqlite_errorname", None) or getattr(orig, "sqlstate", None) or ""
        if code.startswith("SQLITE_READONLY") or code == "25006":  # 25006: read_only_sql_transaction
            return "read_only", code
        if code in ("SQLITE_BUSY", "SQLITE_LOCKED", "55P03"):  # 55P03: lock_not_available
            return "ok", "busy"
        return "unreachable", code or orig.__class__.__name__
    except Exception as exc:  # the store cannot be reached at all: say so, do not crash
        return "unreachable", exc.__class__.__name__
    return "ok", ""
