"""Version folders of a model repository: ``<root>/<colour>/<version>/``, TensorFlow Serving's
layout. The one scanner the server's version source and training's exporter and restorer share."""
from __future__ import annotations

import json
from pathlib import Path


def versions(color_dir: Path) -> list[tuple[int, Path]]:
    """(version, folder) of every numbered folder under ``color_dir``, oldest first."""
    color_dir = Path(color_dir)
    if not color_dir.is_dir():
        return []
    return sorted((int(p.name), p) for p in color_dir.iterdir() if p.is_dir() and p.name.isdigit())


def newest(color_dir: Path) -> Path | None:
    found = versions(color_dir)
    return found[-1][1] if found else None


def next_version(color_dir: Path) -> int:
    found = versions(color_dir)
    return found[-1][0] + 1 if found else 1


def info(folder: Path) -> dict:
    """What a version folder's ``assets/model.json`` says (written by the exporter)."""
    return json.loads((Path(folder) / "assets" / "model.json").read_text(encoding="utf-8"))


def fingerprint(folder: Path) -> tuple:
    """Changes when a file in the folder is added, removed, rewritten or touched: a version that
    failed to load is tried again once this changes."""
    try:
        stats = ((p, p.stat()) for p in Path(folder).rglob("*") if p.is_file())
        return tuple(sorted((str(p.relative_to(folder)), s.st_size, s.st_mtime_ns) for p, s in stats))
    except OSError:
        return ()
