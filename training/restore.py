"""Starts training from the newest committed SavedModels (one per colour)."""
from __future__ import annotations

from pathlib import Path

import tensorflow as tf


def newest_version(color_dir: Path) -> Path | None:
    versions = sorted((int(p.name), p) for p in color_dir.glob("*") if p.is_dir() and p.name.isdigit())
    return versions[-1][1] if versions else None


def restore_from_saved_models(trainer, model_dir: Path) -> None:
    """Backbone and classifier from the red model (the most trained), each head from its own."""
    for color, head in trainer.heads.items():
        version = newest_version(Path(model_dir) / color)
        if version is None:
            print(f"no committed {color} model: its head starts fresh")
            continue
        parts = {"head": head}
        if color == "red" or not (Path(model_dir) / "red").exists():
            parts.update(backbone=trainer.backbone, classifier=trainer.classifier)
        tf.train.Checkpoint(**parts).read(str(version / "variables" / "variables")).expect_partial()
        print(f"{color}: initialised from {version}")
