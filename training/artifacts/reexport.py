"""Re-exports the newest version of every colour with today's exporter, as a new version with
the same weights (for instance to add the ``logits`` signature to models exported before it).

    python -m training.artifacts.reexport --models saved_models

Each colour's backbone, head and classifier come from its own newest folder; ``model.json``
keeps what it said (training figures, validation) and records ``reexported_from``.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from captcha_core import versions
from captcha_core.colors import ALL_COLORS

from .export import export_color
from ..net.model import build_backbone, build_classifier, build_head
from .restore import read_parts, version_architecture

EXPORTER_KEYS = ("color", "input_height", "input_width", "preprocess_version", "charset", "architecture",
                 "exported_at")


def load_parts(folder: Path, color: str):
    """(backbone in training form, head, classifier, architecture) as exported in ``folder``."""
    cfg = version_architecture(folder)
    backbone, head, classifier = build_backbone(cfg), build_head(cfg, color), build_classifier(cfg)
    read_parts(folder, cfg, head, classifier, backbone)
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
