"""The frozen evaluation sets: ``default_rng`` of fixed seeds, streams training never draws from
(its rendering processes draw from children spawned off a ``SeedSequence``; see docs/generator.md).

    python -m training.synth.eval_sets --out data/eval   # writes data/eval/90x35, 120x50, wider-90x35, faces-out-90x35

``90x35`` and ``120x50`` are drawn as measured on the platform's pictures (the bars of issue 3
are on them); ``wider-90x35`` in the wider style (larger, more rotated glyphs, as another
renderer of the same specification may draw), to measure robustness; ``faces-out-90x35`` in the
real style drawn only with faces that training and calibration never draw
(``fonts.HELD_OUT_FACES``), to measure how honest the confidence stays when the style moves.
"""
from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .generate import generate

#: name -> (size, seed, style, faces)
EVAL_SETS = {"90x35": ("90x35", 90_351_001, "real", "installed"),
             "120x50": ("120x50", 120_501_001, "real", "installed"),
             "wider-90x35": ("90x35", 90_361_001, "wider", "installed"),
             "faces-out-90x35": ("90x35", 90_371_001, "real", "held-out")}
#: the sets the accuracy bars and the fine-tune's gate are on
FROZEN = ("90x35", "120x50", "wider-90x35")
EVAL_COUNT = 2000


@dataclass
class Dataset:
    """A labelled set as ``training.synth.generate`` writes it (pictures and ``labels.jsonl``)."""

    name: str
    images: list[np.ndarray]
    answers: list[dict]

    @classmethod
    def load(cls, folder: Path, limit: int | None = None) -> "Dataset":
        rows = [json.loads(line) for line in (folder / "labels.jsonl").read_text(encoding="utf-8").splitlines()]
        rows = rows[:limit] if limit else rows
        images = [np.asarray(Image.open(folder / r["file"]).convert("RGB")) for r in rows]
        size = f"{images[0].shape[1]}x{images[0].shape[0]}" if images else "empty"
        name = folder.name if size in folder.name else f"{folder.name} ({size})"
        return cls(name, images, [r["answers"] for r in rows])


def draw(name: str, out: Path, count: int = EVAL_COUNT, progress: bool = True) -> Path:
    """The first ``count`` pictures of evaluation set ``name`` into ``out``; returns labels.jsonl."""
    size, seed, style, faces = EVAL_SETS[name]
    return generate(out, size, count, seed, style, progress, faces)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("data/eval"))
    p.add_argument("--count", type=int, default=EVAL_COUNT)
    p.add_argument("--force", action="store_true", help="draw again the sets already there")
    args = p.parse_args(argv)
    for name, (size, seed, style, faces) in EVAL_SETS.items():
        labels = args.out / name / "labels.jsonl"
        there = labels.exists() and len(labels.read_text(encoding="utf-8").splitlines()) == args.count
        if args.force or not there:
            draw(name, args.out / name, args.count)
        print(f"{name}: {size}, {style} style, {faces} faces, seed {seed}, {args.count} pictures in {args.out / name}"
              + ("" if args.force or not there else " (already drawn)"))


if __name__ == "__main__":
    main()
