"""Re-exports the newest version of every colour with today's exporter, as a new version with
the same weights (for instance to add the ``logits`` signature to models exported before it).

    python -m training.reexport --models saved_models

Each colour's backbone, head and classifier come from its own newest folder; ``model.json``
keeps what it said (training figures, validation) and records ``reexported_from``.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import tensorflow as tf

from captcha_core import versions
from captcha_core.colors import ALL_COLORS

from .export import export_color
from .model import build_backbone, build_classifier, build_head, unfold_batch_norm
from .restore import version_architecture

EXPORTER_KEYS = ("color", "input_height", "input_width", "preprocess_version", "charset", "architecture",
                 "exported_at")


def load_parts(folder: Path, color: str):
    """(backbone in training form, head, classifier, architecture) as exported in ``folder``."""
    cfg = version_architecture(folder)
    backbone, head, classifier = build_backbone(cfg), build_head(cfg, color), build_classifier(cfg)
    folded = build_backbone(cfg, folded=True)
    norms = [tf.Variable(np.zeros((4, filters), np.float32)) for filters, _, _ in cfg.blocks]
    tf.train.Checkpoint(head=head, classifier=classifier, serving_backbone=folded, norms=norms) \
        .read(str(folder / "variables" / "variables")).assert_existing_objects_matched().expect_partial()
    unfold_batch_norm(folded, [n.numpy() for n in norms], backbone)
    return backbone, head, classifier, cfg


def reexport(model_dir: Path, color: str) -> Path | None:
    folder = versions.newest(Path(model_dir) / color)
    if folder is None:
        return None
    backbone, head, classifier, cfg = load_parts(folder, color)
    meta = {k: v for k, v in versions.info(folder).items() if k not in EXPORTER_KEYS}
    meta["reexported_from"] = int(folder.name)
    return export_color(model_dir, color, backbone, head, classifier, cfg, meta)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", type=Path, default=Path("saved_models"))
    args = p.parse_args(argv)
    for color in ALL_COLORS:
        path = reexport(args.models, color.label)
        print(f"{color.label}: " + (f"exported {path}" if path else "no version to re-export"))


if __name__ == "__main__":
    main()
