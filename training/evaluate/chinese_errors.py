"""What goes wrong in answers that contain Chinese: the Chinese count, one or more Chinese
characters, or only the Latin part. Direct route, every colour.

    python -m training.evaluate.chinese_errors --models saved_models --data data/eval/90x35
"""
from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from captcha_core.colors import ALL_COLORS

from ..synth.charset import is_chinese
from ..synth.eval_sets import Dataset
from .accuracy import load_models, read_all

KINDS = ("right", "Chinese count differs", "one Chinese wrong", "two or more Chinese wrong",
         "only Latin wrong")


def error_kind(truth: str, read: str) -> str:
    """One of ``KINDS`` for a reading of an answer (case-insensitive, as the platform compares).
    Chinese always comes first, so each answer splits into its Chinese and Latin parts."""
    if truth.upper() == read.upper():
        return "right"
    t_cn = "".join(ch for ch in truth if is_chinese(ch))
    r_cn = "".join(ch for ch in read if is_chinese(ch))
    if len(t_cn) != len(r_cn):
        return "Chinese count differs"
    wrong = sum(a != b for a, b in zip(t_cn, r_cn))
    if wrong == 0:
        return "only Latin wrong"
    return "one Chinese wrong" if wrong == 1 else "two or more Chinese wrong"


def count_kinds(models: dict, data: Dataset) -> Counter:
    kinds = Counter()
    for color in ALL_COLORS:
        if color.label not in models:
            continue
        idx = [i for i, a in enumerate(data.answers) if any(is_chinese(ch) for ch in a[color.label])]
        reads = read_all(models[color.label], [data.images[i] for i in idx])
        kinds.update(error_kind(data.answers[i][color.label], r.text) for i, r in zip(idx, reads))
    return kinds


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", type=Path, default=Path("saved_models"))
    p.add_argument("--data", type=Path, required=True, help="a folder with labels.jsonl")
    args = p.parse_args(argv)
    kinds = count_kinds(load_models(args.models), Dataset.load(args.data))
    total = sum(kinds.values())
    print(f"{total} answers with Chinese ({args.data}, direct route, all colours)")
    for kind in KINDS:
        print(f"  {kind}: {kinds[kind]} ({100 * kinds[kind] / max(total, 1):.1f}%)")


if __name__ == "__main__":
    main()
