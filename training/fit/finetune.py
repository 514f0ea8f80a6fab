"""Fine-tunes the served models on the platform's verified answers, and exports a new version only
when it is better where it matters and no worse elsewhere.

    python -m training.fit.finetune --store feedback.db --models saved_models --minutes 20

Starts from the newest version of every colour in ``--models`` (on this CPU). Learns from the
verified samples of the feedback store (a text the platform accepted): each teaches the head of
the colour it was asked for and, for another colour, the red head through the colour transform;
every batch also holds synthetic pictures (``--synthetic-share``), so that what the models know is
not forgotten. The newest ``--holdout`` share of the verified samples is never learned from: the
new weights are exported (a new version of every colour, which the server picks up by itself)
only when their exact match on that share beats the served version's and no colour of any frozen
evaluation set drops by more than ``--max-drop`` points (without a frozen set it does not export).
``--report`` gets the before/after figures per colour either way.
"""
from __future__ import annotations

import argparse
import io
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf
from PIL import Image

from captcha_core.colors import ALL_COLORS, Color
from captcha_core.feedback import open_store
from captcha_core.preprocess import resize
from captcha_core.transforms import to_red

from ..synth import charset, eval_sets
from .data import HEAD_ORDER, RED_HEAD, FeedConfig, make_batch, make_renderers
from ..net.encoding import MAX_LEN, Alphabet
from ..synth.eval_sets import Dataset
from ..artifacts.restore import architecture, restore_from_saved_models
from ..artifacts.calibrate import CalibrationJob
from ..artifacts.export import export_all
from .train import Trainer

FROZEN = [Path("data/eval") / name for name in eval_sets.FROZEN]


@dataclass(frozen=True)
class Labelled:
    image: np.ndarray  # at the model's input size
    color: Color
    label: str


def verified_samples(store_spec: str, width: int, height: int) -> list[Labelled]:
    """The store's verified samples, oldest first, resized to the model input."""
    store = open_store(store_spec, create=False)
    try:
        out = []
        for s in store.samples(verified=True):
            picture = np.asarray(Image.open(io.BytesIO(s.picture)).convert("RGB"))
            out.append(Labelled(resize(picture, width, height), Color.parse(s.color), s.label))
        return out
    finally:
        store.close()


def split(samples: list[Labelled], holdout: float) -> tuple[list[Labelled], list[Labelled]]:
    """(to learn from, held out): the newest ``holdout`` share is held out."""
    held = max(1, int(round(len(samples) * holdout))) if samples else 0
    return samples[:len(samples) - held], samples[len(samples) - held:]


def verified_batch(samples: list[Labelled], alphabet: Alphabet, n: int, rng: np.random.Generator,
                   transform_share: float = 0.5):
    """``n`` rows drawn from ``samples``: the asked colour's head learns each; for a colour other
    than red, with ``transform_share``, the red head learns it through the transform instead."""
    heads = len(HEAD_ORDER)
    images = np.empty((n, *samples[0].image.shape), np.uint8)
    labels = np.full((n, heads, MAX_LEN), -1, np.int32)
    weights = np.zeros((n, heads), np.float32)
    for i, k in enumerate(rng.integers(0, len(samples), n)):
        s = samples[int(k)]
        head = HEAD_ORDER.index(s.color)
        images[i] = s.image
        if s.color is not Color.RED and rng.random() < transform_share:
            images[i], head = to_red(s.image[None], s.color)[0], RED_HEAD
        labels[i, head] = alphabet.encode(s.label)
        weights[i, head] = 1.0
    return images, labels, weights


def exact_by_color(trainer: Trainer, samples: list[Labelled]) -> dict:
    """{colour: [right, count]} on the direct route (case-insensitive, as the platform checks)."""
    out = {}
    for color in ALL_COLORS:
        mine = [s for s in samples if s.color is color]
        if mine:
            got = trainer.texts(np.stack([s.image for s in mine]), color.label)
            out[color.label] = [sum(g.upper() == s.label.upper() for g, s in zip(got, mine)), len(mine)]
    return out


def overall(by_color: dict) -> float:
    right, count = (sum(v[i] for v in by_color.values()) for i in (0, 1))
    return right / count if count else 0.0


def frozen_scores(trainer: Trainer, sets: list[Dataset]) -> dict:
    """Exact match of the direct route per frozen set and colour: {"set/colour": share}."""
    scores = {}
    for ds in sets:
        samples = [Labelled(resize(img, trainer.mcfg.input_width, trainer.mcfg.input_height), c, a[c.label])
                   for img, a in zip(ds.images, ds.answers) for c in ALL_COLORS if a.get(c.label)]
        for color, (right, count) in exact_by_color(trainer, samples).items():
            scores[f"{ds.name}/{color}"] = right / count
    return scores


def decide(before: dict, after: dict, max_drop: float, need_frozen: bool = True) -> tuple[bool, str]:
    """(export?, why): better on the held-out verdicts, and no frozen set and colour more than
    ``max_drop`` points lower (``need_frozen``: refuse when there is no frozen set to check)."""
    gain = overall(after["held_out"]) - overall(before["held_out"])
    drops = {k: 100 * (before["frozen"][k] - after["frozen"][k]) for k in before["frozen"]}
    if gain <= 0:
        return False, "not better on the held-out verdicts"
    if need_frozen and not drops:
        return False, "no frozen evaluation set to check against (make eval-sets)"
    worst = max(drops, key=drops.get) if drops else None
    if worst is not None and drops[worst] > max_drop:
        return False, f"{worst} dropped {drops[worst]:.2f} points (more than {max_drop})"
    return True, "better on the held-out verdicts, no frozen set and colour dropped more than " + f"{max_drop} points"


@dataclass(frozen=True)
class Recipe:
    minutes: float = 20.0
    steps: int = 0                 # a limit of steps too (0: none)
    lr: float = 3e-5
    batch_size: int = 64
    synthetic_share: float = 0.5   # of each batch, synthetic pictures
    freeze_norms: bool = True      # batch normalisation as served (its statistics kept, not relearned)
    holdout: float = 0.2
    max_drop: float = 0.5          # points a frozen set may lose
    seed: int = 1


def freeze_norms(trainer: Trainer) -> None:
    """Batch normalisation in its served form while learning: a non-trainable Keras batch-norm
    layer normalises with its stored statistics, so a few thousand pictures of another style do
    not move what every picture is normalised by."""
    import keras
    for layer in trainer.backbone.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False
    trainer.variables = (trainer.backbone.trainable_variables + trainer.classifier.trainable_variables
                         + [v for h in trainer.heads.values() for v in h.trainable_variables])


def learn(trainer: Trainer, samples: list[Labelled], recipe: Recipe) -> int:
    """Trains on batches of verified and synthetic pictures until the time or step limit; returns steps."""
    if recipe.freeze_norms:
        freeze_norms(trainer)
    alphabet = Alphabet(charset.vocabulary())
    rng = np.random.default_rng(recipe.seed)
    synthetic = int(round(recipe.batch_size * recipe.synthetic_share))
    fcfg = FeedConfig(trainer.mcfg.input_width, trainer.mcfg.input_height, synthetic)
    renderers = make_renderers(fcfg) if synthetic else ()
    start, steps = time.time(), 0
    while time.time() - start < recipe.minutes * 60 and not (recipe.steps and steps >= recipe.steps):
        parts = [verified_batch(samples, alphabet, recipe.batch_size - synthetic, rng)]
        if synthetic:
            parts.append(make_batch(renderers, alphabet, fcfg, rng))
        batch = [np.concatenate([p[i] for p in parts]) for i in range(3)]
        trainer.train_step(*[tf.constant(a) for a in batch])
        steps += 1
    return steps


def finetune(store: str, models: Path, recipe: Recipe, frozen: list[Dataset], export: bool = True,
             need_frozen: bool = True, calibration: CalibrationJob = CalibrationJob()) -> dict:
    """``calibration``: how the exported versions are calibrated (``training.artifacts.calibrate``)."""
    mcfg = architecture(models)
    if mcfg is None:
        raise SystemExit(f"no models in {models}")
    samples = verified_samples(store, mcfg.input_width, mcfg.input_height)
    learn_from, held = split(samples, recipe.holdout)
    report = {"verified": len(samples), "learned_from": len(learn_from), "held_out": len(held),
              "recipe": recipe.__dict__}
    if not learn_from:
        return {**report, "exported": None, "reason": "no verified samples to learn from"}
    trainer = Trainer(mcfg, recipe.lr, 10**9)
    restore_from_saved_models(trainer, models)
    before = {"held_out": exact_by_color(trainer, held), "frozen": frozen_scores(trainer, frozen)}
    report["steps"] = learn(trainer, learn_from, recipe)
    after = {"held_out": exact_by_color(trainer, held), "frozen": frozen_scores(trainer, frozen)}
    report.update(before=before, after=after)
    report["held_out_gain_points"] = round(100 * (overall(after["held_out"]) - overall(before["held_out"])), 2)
    report["frozen_drop_points"] = {k: round(100 * (before["frozen"][k] - after["frozen"][k]), 2)
                                    for k in before["frozen"]}
    ok, report["reason"] = decide(before, after, recipe.max_drop, need_frozen)
    report["exported"] = None
    if ok and export:
        export_all(trainer, models, int(trainer.step.numpy()), int(trainer.pictures.numpy()),
                   {f"{c}_held_out": v[0] / v[1] for c, v in after["held_out"].items()}, calibration=calibration)
        report["exported"] = "new version of every colour"
    return report


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--store", required=True, help="the server's --feedback-store")
    p.add_argument("--models", type=Path, default=Path("saved_models"))
    d = Recipe()
    for name, value in d.__dict__.items():
        if isinstance(value, bool):
            p.add_argument(f"--{name.replace('_', '-')}", action=argparse.BooleanOptionalAction, default=value)
        else:
            p.add_argument(f"--{name.replace('_', '-')}", type=type(value), default=value)
    p.add_argument("--frozen", type=Path, nargs="*", default=FROZEN, help="frozen evaluation sets")
    p.add_argument("--frozen-limit", type=int, help="first N pictures of each frozen set")
    p.add_argument("--report", type=Path, help="write the before/after figures here (JSON)")
    p.add_argument("--dry-run", action="store_true", help="measure, never export")
    p.add_argument("--calibration-scale", type=float, default=1.0,
                   help="times the usual calibration pictures for the exported versions (0: not calibrated)")
    p.add_argument("--allow-no-frozen", action="store_true", help="export even without a frozen set to check")
    args = p.parse_args(argv)
    recipe = Recipe(**{k: getattr(args, k) for k in d.__dict__})
    frozen = [Dataset.load(f, args.frozen_limit) for f in args.frozen if (f / "labels.jsonl").exists()]
    missing = [str(f) for f in args.frozen if not (f / "labels.jsonl").exists()]
    if missing:
        print(f"frozen sets missing (make eval-sets draws them): {', '.join(missing)}")
    report = finetune(args.store, args.models, recipe, frozen, export=not args.dry_run,
                      need_frozen=not args.allow_no_frozen, calibration=CalibrationJob(args.calibration_scale))
    text = json.dumps(report, indent=2)
    print(text)
    if args.report:
        args.report.write_text(text + "\n")


if __name__ == "__main__":
    main()
