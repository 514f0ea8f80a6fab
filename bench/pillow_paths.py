"""The generator's Pillow calls on the core layer (``training.synth.pillow_core``) against the
public methods that do the same, on the generator's sizes: microseconds per call.

    python bench/pillow_paths.py
"""
from __future__ import annotations

import sys
import timeit
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from training.synth import pillow_core as pc  # noqa: E402


def main() -> None:
    rng = np.random.default_rng(0)
    canvas = Image.new("RGB", (90, 35), (200, 200, 200))
    band = (rng.random((35, 90)) * 255).astype(np.uint8)
    glyph = Image.fromarray((rng.random((30, 24)) * 255).astype(np.uint8), "L")
    table, coeffs = list(range(256)), (0.9, 0.1, 1.0, -0.1, 0.9, 2.0)
    cases = {
        "background band (once a picture)": (
            lambda: pc.paste_colour(pc.core(canvas), (10, 20, 30), (0, 0, 90, 35), pc.core(Image.fromarray(band, "L"))),
            lambda: canvas.paste((10, 20, 30), (0, 0, 90, 35), Image.fromarray(band, "L"))),
        "glyph affine transform (a glyph)": (
            lambda: pc.affine(pc.core(glyph), (32, 32), coeffs),
            lambda: glyph.transform((32, 32), Image.Transform.AFFINE, coeffs, Image.Resampling.BILINEAR)),
        "glyph point and paste (a glyph)": (
            lambda: pc.paste_colour(pc.core(canvas), (1, 2, 3), (10, 2, 34, 32), pc.point(pc.core(glyph), table)),
            lambda: canvas.paste((1, 2, 3), (10, 2, 34, 32), glyph.point(table))),
    }
    for name, (core_call, public_call) in cases.items():
        core_us, public_us = (min(timeit.repeat(f, number=5000, repeat=5)) / 5000 * 1e6 for f in (core_call, public_call))
        print(f"{name}: core {core_us:.1f} us, public {public_us:.1f} us ({public_us / core_us:.1f}x)")


if __name__ == "__main__":
    main()
