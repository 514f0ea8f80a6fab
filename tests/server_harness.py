"""Starts a real server on port 0 for tests."""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import replace

from server.app import start
from server.config import ServerConfig


@contextmanager
def running(model_dir, loader=None, **overrides):
    cfg = replace(ServerConfig(), host="127.0.0.1", port=0, model_dir=model_dir, poll_interval=0.2, grace=2.0,
                  **overrides)
    app = start(cfg, loader=loader)
    try:
        yield app
    finally:
        app.stop(1.0)
