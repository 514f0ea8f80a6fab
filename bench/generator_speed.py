"""Pictures per second of the generator's fast path (in memory, one core), at both sizes.

    python bench/generator_speed.py [--count 3000]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from training.render import CaptchaRenderer  # noqa: E402
from training.style import REAL, TRAINING  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--count", type=int, default=3000)
    args = p.parse_args()
    for name, style in (("real shares", REAL), ("training shares", TRAINING)):
        for w, h in ((90, 35), (120, 50)):
            renderer = CaptchaRenderer(w, h, style)
            rng = np.random.default_rng(777)
            for _ in range(args.count):  # warm the glyph cache, as a long training run does
                renderer.render(rng)
            start = time.perf_counter()
            for _ in range(args.count):
                renderer.render(rng)
            rate = args.count / (time.perf_counter() - start)
            print(f"{w}x{h}, {name}: {rate:,.0f} pictures/s on one core")


if __name__ == "__main__":
    main()
