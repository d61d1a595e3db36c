"""A private PostgreSQL + PostGIS server for the tests, on a free loopback port.

It is started once per test session (``initdb`` into a temporary folder, as the
``postgres`` system user when the tests run as root, since PostgreSQL refuses
to run as root) and stopped at the end.
"""
from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, attach: dict | None = None):
        """A new server, or (``attach``: the ``info`` of a running one) the server another process started."""
        self.bin = pg_bin()
        self.as_root = os.geteuid() == 0
        if attach is not None:
            self.dir, self.port = Path(attach["dir"]), int(attach["port"])
            self.admin_url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"
            return
        if self.bin is None:
            raise RuntimeError("PostgreSQL is not installed (Debian packages postgresql and "
                               "postgresql-15-postgis-3; `make test` installs them).")
        self.dir = Path(tempfile.mkdtemp(prefix="hotspot-pg-"))
        self.port = _free_port()
        if self.as_root:
            shutil.chown(self.dir, "postgres", "postgres")
        self._run("initdb", "-D", str(self.dir / "data"), "-A", "trust", "-U", "postgres", "-E", "UTF8",
                  "--no-sync")
        self._run("pg_ctl", "-D", str(self.dir / "data"), "-l", str(self.dir / "log"), "-w", "-o",
                  f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
                  f"-c synchronous_commit=off -c full_page_writes=off", "start")
        self.admin_url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def info(self) -> dict:
        return {"dir": str(self.dir), "port": self.port}

    def _run(self, tool: str, *args: str) -> None:
        cmd = [str(self.bin / tool), *args]
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"{tool} failed: {done.stderr or done.stdout}")

    def url(self, db: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{db}"

    def sql(self, statement: str, db: str = "postgres") -> None:
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname={db}",
                             autocommit=True) as conn:
            conn.execute(statement)

    def create(self, db: str, template: str | None = None) -> str:
        for attempt in range(20):  # a template cannot be copied while a connection is open on it
            try:
                self.sql(f'CREATE DATABASE "{db}"' + (f' TEMPLATE "{template}"' if template else ""))
                break
            except Exception:
                if attempt == 19:
                    raise
                time.sleep(0.25)
        if template is None:
            self.sql("CREATE EXTENSION IF NOT EXISTS postgis", db)
        return self.url(db)

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.dir / "data"), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
