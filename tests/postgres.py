"""A throwaway PostgreSQL server for the tests: initdb (UTF-8, no locale) into a temporary
folder, ``postgres`` on a free loopback port (as the ``postgres`` user when the tests run as
root, since PostgreSQL refuses root), its log kept for the error when it fails to start, stopped
with a fast shutdown and removed afterwards. ``scripts/install-postgres.sh`` installs the
server where it is missing."""
from __future__ import annotations

import contextlib
import glob
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def binaries() -> Path | None:
    """The folder holding initdb and postgres (the newest version), or None when PostgreSQL is
    not installed."""
    found = shutil.which("initdb")
    if found:
        return Path(os.path.realpath(found)).parent
    versions = glob.glob("/usr/lib/postgresql/*/bin/initdb")
    newest = max(versions, key=lambda p: [int(x) for x in re.findall(r"\d+", Path(p).parent.parent.name)], default=None)
    return Path(newest).parent if newest else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running():
    """Yields the URL of a fresh PostgreSQL server's ``postgres`` database (UTF-8, whatever the
    machine's locale)."""
    import psycopg
    bindir = binaries()
    if bindir is None:
        raise RuntimeError("PostgreSQL is not installed (scripts/install-postgres.sh installs it)")
    root = Path(tempfile.mkdtemp(prefix="captcha-pg-"))
    as_postgres = {"user": "postgres", "group": "postgres"} if os.geteuid() == 0 else {}
    if as_postgres:  # PostgreSQL refuses to run as root
        shutil.chown(root, "postgres", "postgres")
    data, port, log = root / "data", _free_port(), root / "server.log"
    made = subprocess.run([str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8",
                           "--no-locale", "--no-sync"], cwd=root, capture_output=True, text=True, **as_postgres)
    if made.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"initdb failed: {made.stderr[-2000:]}")
    with open(log, "w") as log_file:
        if as_postgres:
            shutil.chown(log, "postgres", "postgres")
        server = subprocess.Popen([str(bindir / "postgres"), "-D", str(data), "-k", str(root), "-h", "127.0.0.1",
                                   "-p", str(port)], cwd=root, stdout=log_file, stderr=subprocess.STDOUT, **as_postgres)
    url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    try:
        for _ in range(150):
            try:
                psycopg.connect(url, connect_timeout=2).close()
                break
            except psycopg.OperationalError:
                if server.poll() is not None:
                    break
                time.sleep(0.1)
        else:
            raise RuntimeError(f"postgres did not accept connections: {log.read_text()[-2000:]}")
        if server.poll() is not None:
            raise RuntimeError(f"postgres exited at start: {log.read_text()[-2000:]}")
        yield url
    finally:
        server.send_signal(signal.SIGINT)  # fast shutdown: sessions are ended, not waited for
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(5)
        shutil.rmtree(root, ignore_errors=True)


def fresh_database(url: str, name: str) -> str:
    """A new empty database on the server at ``url``: its URL."""
    import psycopg
    with psycopg.connect(url, autocommit=True) as db:
        db.execute(f'DROP DATABASE IF EXISTS "{name}"')
        db.execute(f'CREATE DATABASE "{name}"')
    return url.rsplit("/", 1)[0] + "/" + name
