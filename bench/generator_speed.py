"""Pictures per second of the generator's fast path (in memory, one core), at both sizes:
``render_batch`` alone, and the whole training batch (pictures, resize, labels).

    python bench/generator_speed.py [--count 3000]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from training.synth import charset  # noqa: E402
from training.fit.data import FeedConfig, make_batch, make_renderers  # noqa: E402
from training.net.encoding import Alphabet  # noqa: E402
from training.synth.render import CaptchaRenderer  # noqa: E402
from training.synth.style import REAL, TRAINING  # noqa: E402


def pictures_per_second(draw, rounds: int, batch: int) -> float:
    """Times ``rounds`` calls of ``draw()`` (each ``batch`` pictures) after as many to warm the
    glyph cache, as a long training run does."""
    for _ in range(rounds):
        draw()
    start = time.perf_counter()
    for _ in range(rounds):
        draw()
    return rounds * batch / (time.perf_counter() - start)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--count", type=int, default=3000)
    args = p.parse_args()
    batch = 64
    rounds = max(1, args.count // batch)
    for name, style in (("real shares", REAL), ("training shares", TRAINING)):
        for w, h in ((90, 35), (120, 50)):
            renderer, rng = CaptchaRenderer(w, h, style), np.random.default_rng(777)
            rate = pictures_per_second(lambda: renderer.render_batch(batch, rng), rounds, batch)
            print(f"{w}x{h}, {name}: {rate:,.0f} pictures/s on one core")
    alphabet, cfg, rng = Alphabet(charset.vocabulary()), FeedConfig(batch_size=batch), np.random.default_rng(5)
    renderers = make_renderers(cfg)
    rate = pictures_per_second(lambda: make_batch(renderers, alphabet, cfg, rng), rounds, batch)
    print(f"training batches (both sizes, both styles, resize, labels, transforms): {rate:,.0f} pictures/s on one core")


if __name__ == "__main__":
    main()
