"""Starts a real server on port 0 for tests: in this process (``running``) or as
``python -m server`` (``spawn``)."""
from __future__ import annotations

import subprocess
import sys
import threading
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from server.app import start
from server.config import ServerConfig


@contextmanager
def running(model_dir, loader=None, **overrides):
    cfg = replace(ServerConfig(), **{"host": "127.0.0.1", "port": 0, "model_dir": model_dir, "poll_interval": 0.2,
                                     "grace": 2.0, **overrides})
    app = start(cfg, loader=loader)
    try:
        yield app
    finally:
        app.stop(1.0)


ROOT = Path(__file__).resolve().parent.parent


def spawn(*args: str, ready_within: float = 120.0) -> tuple[subprocess.Popen, int]:
    """``python -m server --port 0 --log-level WARNING *args`` in the repository; returns the
    process and its port once it prints "listening on port N". A server that exits first, or says
    nothing within ``ready_within`` seconds, is killed and fails the test with what it wrote."""
    proc = subprocess.Popen([sys.executable, "-m", "server", "--port", "0", "--log-level", "WARNING", *args],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    said: list[str] = []  # stderr, read from the start so that a full pipe never stalls the server
    drain = threading.Thread(target=lambda: said.extend(proc.stderr), daemon=True)
    drain.start()
    line: list[str] = []
    reader = threading.Thread(target=lambda: line.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(ready_within)
    if line and "listening on port" in line[0]:
        return proc, int(line[0].rsplit(" ", 1)[1])
    proc.kill()
    proc.wait(30)
    drain.join(5)
    raise AssertionError(f"server {' '.join(args)} did not start within {ready_within:.0f}s "
                         f"(exit {proc.returncode}): {''.join(said)[-2000:]}")
