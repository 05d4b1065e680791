"""A throwaway PostgreSQL server for the tests: initdb into a temporary folder, listen on a free
loopback port, drop it afterwards. Needs Debian's postgresql package (.ci/run installs it)."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql): .ci/run installs it")
    return found[-1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="mockidp-pg-"))
        self.port = _free_port()
        # initdb refuses to run as root: run the server as the postgres account the package creates.
        self.prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://mockidp@127.0.0.1:{self.port}/mockidp"

    def database(self, name: str) -> PostgresDatabase:
        """A fresh database of its own on this server: one test module's, so modules sharing the server do
        not see each other's directory."""
        engine = sqlalchemy.create_engine(self.url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}"'))
                conn.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
        finally:
            engine.dispose()
        return PostgresDatabase(f"{self.url.rsplit('/', 1)[0]}/{name}")

    def _run(self, *cmd: str) -> None:
        subprocess.run([*self.prefix, *cmd], check=True, capture_output=True, timeout=120)

    def __enter__(self) -> PostgresServer:
        if self.prefix:
            shutil.chown(self.dir, "postgres", "postgres")
        data = str(self.dir / "data")
        self._run(_bin("initdb"), "-D", data, "-U", "mockidp", "--auth=trust", "-E", "UTF8")
        self._run(_bin("pg_ctl"), "-D", data, "-l", str(self.dir / "log"), "-w", "-o",
                  f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off", "start")
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                self._run(_bin("createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "mockidp", "mockidp")
                return self
            except subprocess.CalledProcessError:
                time.sleep(0.3)
        raise RuntimeError("PostgreSQL did not start")

    def __exit__(self, *exc: object) -> None:
        subprocess.run([*self.prefix, _bin("pg_ctl"), "-D", str(self.dir / "data"), "-m", "immediate", "stop"],
                       capture_output=True, timeout=60, check=False)
        shutil.rmtree(self.dir, ignore_errors=True)


@dataclass(frozen=True)
class PostgresDatabase:
    url: str  # SQLAlchemy's URL, as --database-url takes it
