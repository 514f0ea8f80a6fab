"""A fine-tune's trajectory: every ``--every`` steps, the gain on held-out samples, on fresh
stand-in pictures read on the direct route and on 1,000 of the samples it learns from, and what
each frozen set lost, for one recipe.

    python bench/finetune_trajectory.py --store FEEDBACK.db [--every 500 --steps 2000] [--recipe JSON] [--out F.json]
    python bench/finetune_trajectory.py --true-labels 12000 ...

``--store``: learn from a feedback store's verified samples (the newest 20% held out), as
``training.fit.finetune`` does. ``--true-labels N``: learn instead from N fresh stand-in pictures
with their true labels (seed 8,100,001; 500 more from seed 8,200,001 held out): what a fine-tune
could gain if every picture had its answer. ``--recipe``: ``training.fit.finetune.Recipe`` fields as
JSON, e.g. '{"distill": 0, "average": 0}'. The stand-in measure is 2,000 pictures of seed
7,900,001, which neither the simulation's crawl nor its test draws. Nothing is exported.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.feedback_sim import stand_in_pictures  # noqa: E402
from captcha_core.colors import Color  # noqa: E402
from captcha_core.preprocess import decode, resize  # noqa: E402
from training.synth.eval_sets import Dataset  # noqa: E402

MEASURE_SEED, TRUE_LABEL_SEED, TRUE_HELD_SEED = 7_900_001, 8_100_001, 8_200_001


def labelled(count: int, seed: int, width: int, height: int) -> list:
    from training.fit.finetune import Labelled
    return [Labelled(resize(decode(png), width, height), Color.parse(c), t)
            for png, c, t in stand_in_pictures(count, seed)]


def served(models: Path, recipe):
    """The served models as a trainer, and again as the teacher when the recipe distils."""
    from training.artifacts.restore import architecture, restore_from_saved_models
    from training.fit.train import Trainer
    mcfg = architecture(models)
    trainer = Trainer(mcfg, recipe.lr, 10**9)
    restore_from_saved_models(trainer, models)
    teacher = None
    if recipe.distill:
        teacher = Trainer(mcfg, recipe.lr, 10**9)
        restore_from_saved_models(teacher, models)
    return mcfg, trainer, teacher


def scores(trainer, seen, held, stand, frozen) -> dict:
    """``seen``: some of the samples learned from, to tell what the fine-tune cannot fit from what
    it fits but does not generalise."""
    from training.fit import finetune as F
    return {"learned_from": F.exact_by_color(trainer, seen), "held_out": F.exact_by_color(trainer, held),
            "stand_in": F.exact_by_color(trainer, stand), "frozen": F.frozen_scores(trainer, frozen)}


def measured(tuner, trainer, before: dict, sets) -> dict:
    """Scores of the weights that would be kept (the average), the training weights put back after."""
    from training.fit import finetune as F
    now = [v.numpy() for v in trainer.variables]
    tuner.settle()
    after = scores(trainer, *sets)
    for v, x in zip(trainer.variables, now):
        v.assign(x)
    points = lambda key: round(100 * (F.overall(after[key]) - F.overall(before[key])), 2)  # noqa: E731
    return {"learned_from_gain": points("learned_from"), "held_out_gain": points("held_out"),
            "stand_in_gain": points("stand_in"),
            "frozen_lost": {k: round(v, 2) for k, v in F.set_drops(before["frozen"], after["frozen"]).items()}}


def run(args) -> dict:
    from training.fit import finetune as F
    recipe = F.Recipe(minutes=1e9, steps=args.steps, **json.loads(args.recipe))
    mcfg, trainer, teacher = served(args.models, recipe)
    size = (mcfg.input_width, mcfg.input_height)
    if args.true_labels:
        learn, held = labelled(args.true_labels, TRUE_LABEL_SEED, *size), labelled(500, TRUE_HELD_SEED, *size)
    else:
        learn, held = F.split(F.stored_samples(args.store, *size), recipe.holdout)
    sets = (learn[:1000], held, labelled(args.stand_in, MEASURE_SEED, *size),
            [Dataset.load(ROOT / f, args.frozen_limit) for f in F.FROZEN])
    before = scores(trainer, *sets)
    report = {"recipe": json.loads(args.recipe), "learned_from": len(learn), "held_out": len(held),
              "learned_from_before": F.overall(before["learned_from"]), "stand_in_before": F.overall(before["stand_in"]),
              "rows": []}
    start = time.time()

    def checkpoint(step: int, tuner) -> None:
        if step % args.every == 0:
            report["rows"].append({"steps": step, "seconds": round(time.time() - start),
                                   **measured(tuner, trainer, before, sets)})
            print(json.dumps(report["rows"][-1]), flush=True)
            if args.out:
                args.out.write_text(json.dumps(report, indent=1))

    F.learn(trainer, learn, recipe, teacher, on_step=checkpoint)
    return report


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--store", help="a feedback store (SQLite path or PostgreSQL URL)")
    source.add_argument("--true-labels", type=int, default=0, help="fresh stand-in pictures with true labels")
    p.add_argument("--models", type=Path, default=ROOT / "saved_models")
    p.add_argument("--recipe", default="{}", help="Recipe fields as JSON")
    p.add_argument("--every", type=int, default=500)
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--stand-in", type=int, default=2000, help="stand-in pictures measured")
    p.add_argument("--frozen-limit", type=int, default=1000, help="pictures of each frozen set measured")
    p.add_argument("--out", type=Path)
    run(p.parse_args(argv))


if __name__ == "__main__":
    main()
