"""The frozen evaluation sets: fixed seeds, never used in training (training seeds are
1..1,000,000 and the validation seed is 4,242,000).

    python -m training.eval_sets --out data/eval      # writes data/eval/90x35 and data/eval/120x50
"""
from __future__ import annotations

import argparse
from pathlib import Path

from .generate import generate

EVAL_SETS = {"90x35": 90_351_001, "120x50": 120_501_001}
EVAL_COUNT = 2000


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("data/eval"))
    p.add_argument("--count", type=int, default=EVAL_COUNT)
    args = p.parse_args(argv)
    for size, seed in EVAL_SETS.items():
        generate(args.out / size, size, args.count, seed, "real")
        print(f"{size}: seed {seed}, {args.count} pictures in {args.out / size}")


if __name__ == "__main__":
    main()
