"""A throwaway PostgreSQL server for the tests: initdb into a temporary folder, ``postgres`` on
a free loopback port (as the ``postgres`` user when the tests run as root, since PostgreSQL
refuses root), stopped and removed afterwards. ``scripts/install-postgres.sh`` installs the
server where it is missing."""
from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def binaries() -> Path | None:
    """The folder holding initdb and postgres, or None when PostgreSQL is not installed."""
    found = shutil.which("initdb")
    if found:
        return Path(os.path.realpath(found)).parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(versions[-1]).parent if versions else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running():
    """Yields the URL of a fresh PostgreSQL server's ``postgres`` database."""
    import psycopg
    bindir = binaries()
    if bindir is None:
        raise RuntimeError("PostgreSQL is not installed (scripts/install-postgres.sh installs it)")
    root = Path(tempfile.mkdtemp(prefix="captcha-pg-"))
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_user:
        shutil.chown(root, "postgres", "postgres")
    data, port = root / "data", _free_port()
    subprocess.run(as_user + [str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"],
                   check=True, capture_output=True)
    server = subprocess.Popen(as_user + [str(bindir / "postgres"), "-D", str(data), "-k", str(root),
                                         "-h", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    try:
        for _ in range(100):
            try:
                psycopg.connect(url, connect_timeout=2).close()
                break
            except psycopg.OperationalError:
                if server.poll() is not None:
                    raise RuntimeError("postgres exited at start") from None
                time.sleep(0.1)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(root, ignore_errors=True)


def fresh_database(url: str, name: str) -> str:
    """A new empty database on the server at ``url``: its URL."""
    import psycopg
    with psycopg.connect(url, autocommit=True) as db:
        db.execute(f'DROP DATABASE IF EXISTS "{name}"')
        db.execute(f'CREATE DATABASE "{name}"')
    return url.rsplit("/", 1)[0] + "/" + name
