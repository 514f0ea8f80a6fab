"""``python -m server``: starts the service and stops it gracefully on SIGTERM or Ctrl-C."""
from __future__ import annotations

import logging
import signal
import threading

from . import logs
from .config import parse


def main(argv=None) -> None:
    cfg = parse(argv)
    logs.setup(cfg.log_level)
    if cfg.tf_threads:
        from .runtime_tf import use_threads
        use_threads(cfg.tf_threads)
    from .app import StartupError, start

    try:
        app = start(cfg)
    except StartupError as exc:
        logging.getLogger("captcha.server").error("cannot start: %s", exc)
        raise SystemExit(2) from None
    print(f"captcha server listening on port {app.port}", flush=True)
    done = threading.Event()

    def on_signal(signum, frame):
        logging.getLogger("captcha.server").info("signal %d: finishing in-flight calls (grace %.1fs)", signum, cfg.grace)
        done.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    done.wait()
    app.stop()
    logging.getLogger("captcha.server").info("stopped")
