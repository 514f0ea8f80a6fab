"""The model manager (TensorFlow Serving's AspiredVersionsManager): loads the version the policy
wants for each colour, warms it up, swaps it in once ready and retires the one it replaces.

``refresh()`` asks the source what is on disk and the policy what is wanted, colour by colour
(colours load in parallel, as far as the runtime allows): the most wanted version that is serving stays; one that is not is
loaded (and warmed up by its loader) before it replaces the old one; a version that fails to load
is logged and skipped until its folder's contents change; when no wanted version is on disk any
more the colour is unloaded. So removing the newest folder serves the one before it again.
``watch()`` refreshes on a timer; ``on_change`` listeners hear every swap (health follows them).
"""
from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from captcha_core import versions
from captcha_core.colors import ALL_COLORS, Color

from .batching import Batcher, BatchPolicy
from .models import Model
from .versions import VersionPolicy, VersionSource

log = logging.getLogger("captcha.manager")


@dataclass
class Servable:
    color: Color
    version: int
    model: Model
    batcher: Batcher
    folder: Path | None = None


class ModelManager:
    def __init__(self, root: Path, loader: Callable[[Path], Model], policy: BatchPolicy = BatchPolicy(),
                 on_batch: Callable[[str, int], None] | None = None,
                 version_policy: VersionPolicy = VersionPolicy()):
        self.root = Path(root)
        self.source = VersionSource(self.root)
        self.version_policy = version_policy
        self._loader, self._policy, self._on_batch = loader, policy, on_batch
        self._servables: dict[Color, Servable] = {}
        self._failed: dict[Path, tuple] = {}  # folder -> its contents when it failed to load
        self._lock = threading.Lock()
        self._device = threading.Lock()  # the models take turns on the CPU (see batching)
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        self._listeners: list[Callable[[], None]] = []

    # -- lookups (hot path) ---------------------------------------------------------
    def get(self, color: Color) -> Servable | None:
        return self._servables.get(color)

    def loaded(self) -> list[Servable]:
        return [s for c in ALL_COLORS if (s := self._servables.get(c))]

    def on_change(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    # -- loading ---------------------------------------------------------------------
    def refresh(self) -> None:
        with self._lock:
            if self._stop.is_set():  # closed: nothing is loaded any more
                return
            with ThreadPoolExecutor(len(ALL_COLORS), thread_name_prefix="load") as pool:
                changed = list(pool.map(self._refresh_color, ALL_COLORS))
        if any(changed):
            for listener in self._listeners:
                listener()

    def _refresh_color(self, color: Color) -> bool:
        """Brings ``color`` to its most wanted loadable version; True when what serves changed."""
        current = self._servables.get(color)
        for version, folder in self.version_policy.preference(color, self.source.available(color)):
            if current and current.version == version and current.folder == folder:
                return False
            if self._failed.get(folder) == versions.fingerprint(folder):
                continue
            model = self._load(color, version, folder, current)
            if model is not None:
                self._swap(color, version, folder, model, current)
                return True
        if current:
            log.warning("model %s: no wanted version on disk (%s); unloading version %d", color.label,
                        self.version_policy.describe(color), current.version)
            self._retire(self._servables.pop(color))
            return True
        return False

    def _load(self, color: Color, version: int, folder: Path, current: Servable | None) -> Model | None:
        contents = versions.fingerprint(folder)
        try:
            model = self._loader(folder)
        except Exception as exc:
            self._failed[folder] = contents
            log.error("model %s version %d failed to load (%s: %s); %s", color.label, version,
                      type(exc).__name__, exc,
                      f"version {current.version} keeps serving" if current else "trying older versions")
            return None
        self._failed.pop(folder, None)
        return model

    def _swap(self, color: Color, version: int, folder: Path, model: Model, current: Servable | None) -> None:
        on_batch = (lambda n, name=color.label: self._on_batch(name, n)) if self._on_batch else None
        batcher = Batcher(model.read, self._policy, on_batch, name=f"batch-{color.label}-{version}",
                          device=self._device)
        self._servables[color] = Servable(color, version, model, batcher, folder)
        log.info("model %s version %d serving%s", color.label, version,
                 f" (replaced version {current.version})" if current else "")
        if current:
            self._retire(current)

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
        if self._watcher is not None and self._watcher is not threading.current_thread():
            self._watcher.join()
