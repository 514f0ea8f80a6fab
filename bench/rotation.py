"""How far the models read turned Latin glyphs: exact match (direct route, 90x35, every colour
present, no Chinese) on pictures whose Latin glyphs are all turned by an angle in one band, each
band drawn turned both ways (seeds 91,000,000 and up: never used in training).

    python bench/rotation.py [--models saved_models] [--count 600]

The platform's real pictures show glyphs turned further than the measured style's +-35 degrees;
this says where the models stop following, and which confusions (C->U, U->C) grow.
"""
from __future__ import annotations

import argparse
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from captcha_core.colors import ALL_COLORS  # noqa: E402
from training.evaluate.accuracy import load_models, read_all  # noqa: E402
from training.synth.render import CaptchaRenderer  # noqa: E402
from training.synth.style import REAL  # noqa: E402

BANDS = ((0, 20), (20, 35), (35, 50), (50, 70), (70, 90))
SEED = 91_000_000


def band_result(models, low: int, high: int, count: int, seed: int) -> dict:
    exact, pairs = [], Counter()
    for way, sign in enumerate((1, -1)):
        style = replace(REAL, latin_rotation=tuple(sorted((sign * low, sign * high))), chinese_shares=(1.0,))
        samples = CaptchaRenderer(90, 35, style).render_batch(count, np.random.default_rng(seed + way))
        for color in ALL_COLORS:
            idx = [i for i, s in enumerate(samples) if s.answer(color)]
            for i, read in zip(idx, read_all(models[color.label], [samples[i].image for i in idx])):
                truth, got = samples[i].answer(color).upper(), read.text.upper()
                exact.append(truth == got)
                if len(truth) == len(got):
                    pairs.update(zip(truth, got))
    seen = lambda ch: sum(v for (t, _), v in pairs.items() if t == ch)  # noqa: E731
    return {"band": f"{low}-{high}", "answers": len(exact), "exact": float(np.mean(exact)),
            "C_as_U": f"{pairs[('C', 'U')]}/{seen('C')}", "U_as_C": f"{pairs[('U', 'C')]}/{seen('U')}"}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", type=Path, default=Path("saved_models"))
    p.add_argument("--count", type=int, default=600, help="pictures per band and way")
    args = p.parse_args(argv)
    models = load_models(args.models)
    print("| Latin glyphs turned (degrees, both ways) | answers | exact | C read as U | U read as C |")
    print("|---|---|---|---|---|")
    for k, (low, high) in enumerate(BANDS):
        r = band_result(models, low, high, args.count, SEED + 10 * k)
        print(f"| {r['band']} | {r['answers']} | {100 * r['exact']:.1f}% | {r['C_as_U']} | {r['U_as_C']} |", flush=True)


if __name__ == "__main__":
    main()
