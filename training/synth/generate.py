"""Writes a labelled set of synthetic captchas.

    python -m training.synth.generate --size 90x35 --count N --seed S --out DIR

writes N PNG files and DIR/labels.jsonl (one JSON object a line: file, text, colors, answers).
The same seed and arguments give byte-identical files.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from captcha_core.colors import ALL_COLORS

from .fonts import HELD_OUT_FACES
from .render import SIZES, CaptchaRenderer, Sample, parse_size
from .style import REAL, TRAINING, WIDER

STYLES = {"real": REAL, "training": TRAINING, "wider": WIDER}
#: the faces drawn with: the installed ones training uses, or ``fonts.HELD_OUT_FACES``
FACES = {"installed": None, "held-out": HELD_OUT_FACES}
CHUNK = 64  # pictures drawn together; part of what a seed means, so fixed


def label_record(file_name: str, sample: Sample) -> dict:
    return {"file": file_name, "text": sample.text, "colors": sample.color_letters,
            "answers": {c.label: sample.answer(c) for c in ALL_COLORS}}


def generate(out: Path, size: str, count: int, seed: int, style: str = "real", progress: bool = True,
             faces: str = "installed") -> Path:
    width, height = parse_size(size)
    renderer = CaptchaRenderer(width, height, STYLES[style], FACES[faces])
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    labels = out / "labels.jsonl"
    with open(labels, "w", encoding="utf-8") as fh:
        with tqdm(total=count, desc=f"drawing {size}", unit="pic", disable=not progress or count < 500) as bar:
            for first in range(0, count, CHUNK):
                for i, sample in enumerate(renderer.render_batch(min(CHUNK, count - first), rng), first):
                    name = f"{i:06d}.png"
                    Image.fromarray(sample.image, "RGB").save(out / name, optimize=False)
                    fh.write(json.dumps(label_record(name, sample), ensure_ascii=False) + "\n")
                    bar.update()
    return labels


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", default="90x35", choices=sorted(SIZES))
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--style", default="real", choices=sorted(STYLES),
                   help="real: as measured on the platform's pictures (evaluation); training: more Chinese; "
                        "wider: larger, more rotated glyphs (robustness evaluation)")
    p.add_argument("--faces", default="installed", choices=sorted(FACES),
                   help="installed: the faces training draws with; held-out: faces no training draws with")
    args = p.parse_args(argv)
    if args.count < 1:
        p.error("--count must be at least 1")
    labels = generate(args.out, args.size, args.count, args.seed, args.style, faces=args.faces)
    print(f"wrote {args.count} pictures and {labels}")


if __name__ == "__main__":
    main()
