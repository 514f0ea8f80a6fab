"""The model repository: the newest version of each colour under ``<root>/<colour>/<version>/``.

``refresh()`` scans the folders: a newer version is loaded first and replaces the old one only
once it is ready; a version that fails to load is logged, remembered and skipped (the old one
keeps serving); a colour whose folder disappears is unloaded. ``watch()`` refreshes on a timer.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from captcha_core.colors import ALL_COLORS, Color

from .batching import Batcher, BatchPolicy
from .models import Model

log = logging.getLogger("captcha.repository")


@dataclass
class Servable:
    color: Color
    version: int
    model: Model
    batcher: Batcher


class ModelRepository:
    def __init__(self, root: Path, loader: Callable[[Path], Model], policy: BatchPolicy = BatchPolicy(),
                 on_batch: Callable[[str, int], None] | None = None):
        self.root = Path(root)
        self._loader, self._policy, self._on_batch = loader, policy, on_batch
        self._servables: dict[Color, Servable] = {}
        self._failed: set[Path] = set()
        self._lock = threading.Lock()
        self._device = threading.Lock()  # the models take turns on the CPU (see batching)
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None

    # -- lookups (hot path) ---------------------------------------------------------
    def get(self, color: Color) -> Servable | None:
        return self._servables.get(color)

    def loaded(self) -> list[Servable]:
        return [s for c in ALL_COLORS if (s := self._servables.get(c))]

    # -- loading ---------------------------------------------------------------------
    def refresh(self) -> None:
        with self._lock:
            for color in ALL_COLORS:
                self._refresh_color(color)

    def _refresh_color(self, color: Color) -> None:
        current = self._servables.get(color)
        versions = _versions(self.root / color.label)
        if not versions:
            if current:
                log.warning("model %s removed from %s: unloading version %d", color.label, self.root, current.version)
                self._retire(self._servables.pop(color))
            return
        for version, folder in reversed(versions):
            if current and version <= current.version:
                return
            if folder in self._failed:
                continue
            try:
                model = self._loader(folder)
            except Exception as exc:
                self._failed.add(folder)
                log.error("model %s version %d failed to load (%s: %s); %s", color.label, version,
                          type(exc).__name__, exc,
                          f"version {current.version} keeps serving" if current else "nothing serves this colour")
                continue
            on_batch = (lambda n, name=color.label: self._on_batch(name, n)) if self._on_batch else None
            batcher = Batcher(model.read, self._policy, on_batch, name=f"batch-{color.label}-{version}",
                              device=self._device)
            self._servables[color] = Servable(color, version, model, batcher)
            log.info("model %s version %d serving%s", color.label, version,
                     f" (replaced version {current.version})" if current else "")
            if current:
                self._retire(current)
            return

    @staticmethod
    def _retire(servable: Servable) -> None:
        # requests already queued on the old batcher are answered before it stops
        threading.Thread(target=servable.batcher.close, daemon=True).start()

    def watch(self, interval: float) -> None:
        def loop():
            while not self._stop.wait(interval):
                try:
                    self.refresh()
                except Exception:
                    log.exception("model refresh failed")
        self._watcher = threading.Thread(target=loop, name="model-watcher", daemon=True)
        self._watcher.start()

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            for servable in self._servables.values():
                servable.batcher.close()
            self._servables.clear()


def _versions(color_dir: Path) -> list[tuple[int, Path]]:
    if not color_dir.is_dir():
        return []
    return sorted((int(p.name), p) for p in color_dir.iterdir() if p.is_dir() and p.name.isdigit())
