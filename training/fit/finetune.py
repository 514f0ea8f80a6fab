"""Fine-tunes the served models on the platform's verified answers, and exports a new version only
when it is better where it matters and no worse elsewhere.

    python -m training.fit.finetune --store feedback.db --models saved_models --minutes 20

Starts from the newest version of every colour in ``--models`` (on this CPU). Learns from the
verified samples of the feedback store (a text the platform accepted): each teaches the head of
the colour it was asked for and, for another colour, the red head through the colour transform;
every batch also holds synthetic pictures (``--synthetic-share``), so that what the models know is
not forgotten. The newest ``--holdout`` share of the verified samples is never learned from: the
new weights are exported (a new version of every colour, which the server picks up by itself)
only when their exact match on that share beats the served version's and no frozen evaluation
set (the mean over its colours) drops by more than ``--max-drop`` points (without a frozen set it does not export).
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
from captcha_core.views import SHIFTS, shifted

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


def stored_samples(store_spec: str, width: int, height: int, verified: bool = True) -> list[Labelled]:
    """The store's verified samples (``verified``) or those with an imported label only, oldest
    first, resized to the model input."""
    store = open_store(store_spec, create=False)
    try:
        out = []
        for s in store.samples(verified=verified):
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
                   transform_share: float = 0.5, hard: tuple[list[int], float] = ((), 0.0), moved: float = 0.0):
    """``n`` rows drawn from ``samples``: the asked colour's head learns each; for a colour other
    than red, with ``transform_share``, the red head learns it through the transform instead.
    ``hard``: (indices of ``samples``, share of the rows drawn from them). ``moved``: the share of
    rows shown as one of the second look's moved views (``captcha_core.views.SHIFTS``) instead."""
    heads = len(HEAD_ORDER)
    images = np.empty((n, *samples[0].image.shape), np.uint8)
    labels = np.full((n, heads, MAX_LEN), -1, np.int32)
    weights = np.zeros((n, heads), np.float32)
    picks = rng.integers(0, len(samples), n)
    if len(hard[0]):
        from_hard = rng.random(n) < hard[1]
        picks[from_hard] = np.asarray(hard[0])[rng.integers(0, len(hard[0]), int(from_hard.sum()))]
    for i, k in enumerate(picks):
        s = samples[int(k)]
        head = HEAD_ORDER.index(s.color)
        images[i] = s.image
        if rng.random() < moved:
            images[i] = shifted(s.image, *SHIFTS[int(rng.integers(1, len(SHIFTS)))])
        if s.color is not Color.RED and rng.random() < transform_share:
            images[i], head = to_red(images[i][None], s.color)[0], RED_HEAD
        labels[i, head] = alphabet.encode(s.label)
        weights[i, head] = 1.0
    return images, labels, weights


def reads_right(trainer: Trainer, samples: list[Labelled]) -> np.ndarray:
    """Whether each sample is read right on the direct route (case-insensitive, as the platform checks)."""
    right = np.zeros(len(samples), bool)
    for color in ALL_COLORS:
        idx = [i for i, s in enumerate(samples) if s.color is color]
        if idx:
            got = trainer.texts(np.stack([samples[i].image for i in idx]), color.label)
            right[idx] = [g.upper() == samples[i].label.upper() for g, i in zip(got, idx)]
    return right


def by_color(samples: list[Labelled], right: np.ndarray) -> dict:
    """{colour: [right, count]} from :func:`reads_right`."""
    out = {}
    for color in ALL_COLORS:
        mine = [i for i, s in enumerate(samples) if s.color is color]
        if mine:
            out[color.label] = [int(right[mine].sum()), len(mine)]
    return out


def exact_by_color(trainer: Trainer, samples: list[Labelled]) -> dict:
    """{colour: [right, count]} on the direct route."""
    return by_color(samples, reads_right(trainer, samples))


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


def set_drops(before: dict, after: dict) -> dict:
    """Points each frozen set lost, the mean over its colours: {"set": points} from {"set/colour": share}."""
    per_set: dict[str, list[float]] = {}
    for key in before:
        per_set.setdefault(key.split("/")[0], []).append(100 * (before[key] - after[key]))
    return {name: float(np.mean(drops)) for name, drops in per_set.items()}


def decide(before: dict, after: dict, max_drop: float, need_frozen: bool = True,
           changed: tuple[int, int] | None = None, z: float = 0.0) -> tuple[bool, str]:
    """(export?, why): better on the held-out verdicts, and no frozen set (the mean over its colours)
    more than ``max_drop`` points lower (``need_frozen``: refuse when there is no frozen set to check).
    ``changed``: (held-out samples the new weights fixed, ones they broke); better then means
    fixed - broken >= ``z`` * sqrt(fixed + broken), a one-sided sign test (z 1.645: 95%)."""
    gain = overall(after["held_out"]) - overall(before["held_out"])
    drops = set_drops(before["frozen"], after["frozen"])
    if gain <= 0:
        return False, "not better on the held-out verdicts"
    if changed is not None and changed[0] - changed[1] < z * float(np.sqrt(sum(changed))):
        return False, (f"not surely better on the held-out verdicts ({changed[0]} fixed, {changed[1]} broken; "
                       f"needs {z:g} standard deviations)")
    if need_frozen and not drops:
        return False, "no frozen evaluation set to check against (make eval-sets)"
    worst = max(drops, key=drops.get) if drops else None
    if worst is not None and drops[worst] > max_drop:
        return False, f"{worst} dropped {drops[worst]:.2f} points (more than {max_drop})"
    return True, f"better on the held-out verdicts, no frozen set dropped more than {max_drop} points"


@dataclass(frozen=True)
class Recipe:
    minutes: float = 20.0
    steps: int = 0                 # a limit of steps too (0: none)
    lr: float = 1e-4
    batch_size: int = 64
    synthetic_share: float = 0.5   # of each batch, synthetic pictures
    synthetic_heads: int = 1       # heads each synthetic picture teaches (4: all it has labels for)
    freeze_norms: bool = True      # batch normalisation as served (its statistics kept, not relearned)
    freeze_convs: bool = False     # the convolutions as served: only the collapse, heads and classifier learn
    distill: float = 4.0           # weight of the served models' outputs on the synthetic pictures
    anchor: float = 0.0            # weight of the L2 pull toward the served weights
    hard_share: float = 0.5        # of the verified rows, drawn from samples the served models read wrong
    imported: bool = False         # learn from imported labels too (unchecked by the platform; never held out)
    moved_views: float = 0.0       # of the verified rows, shown moved by a pixel as the second look moves them
    average: float = 0.995         # decay of the weights' moving average that is kept (0: the last weights)
    holdout: float = 0.2
    max_drop: float = 0.5          # points a frozen set may lose
    significance: float = 1.645    # standard deviations the held-out gain must clear (sign test)
    seed: int = 1


def freeze(trainer: Trainer, norms: bool, convs: bool) -> None:
    """Layers kept as served while learning. ``norms``: batch normalisation (a non-trainable Keras
    batch-norm layer normalises with its stored statistics, so a few thousand pictures of another
    style do not move what every picture is normalised by). ``convs``: the convolutions too (and
    so no gradient flows through them: the steps are cheaper)."""
    import keras
    for layer in trainer.backbone.layers:
        if (norms or convs) and isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False
        if convs and isinstance(layer, (keras.layers.Conv2D, keras.layers.SeparableConv2D)):
            layer.trainable = False
    trainer.variables = (trainer.backbone.trainable_variables + trainer.classifier.trainable_variables
                         + [v for h in trainer.heads.values() for v in h.trainable_variables])


class Tuner:
    """One fine-tuning step: CTC on every labelled row (verified and synthetic) and, with
    ``distill``, the served models' outputs on the synthetic pictures (the batch's last rows), for
    the heads their CTC rows teach, as targets (KL divergence, summed over the time steps); with ``anchor``, an
    L2 pull of every weight toward its served value; with ``average``, a moving average of the
    weights (starting from the served ones) that :meth:`settle` puts in place at the end."""

    def __init__(self, trainer: Trainer, teacher: Trainer | None, distill: float, anchor: float, average: float):
        self.trainer, self.teacher = trainer, teacher
        self.distill, self.anchor, self.decay = float(distill), float(anchor), float(average)
        self.served = [tf.constant(v.numpy()) for v in trainer.variables] if anchor else []
        self.averaged = [tf.Variable(v.numpy(), trainable=False) for v in trainer.variables] if average else []

    @tf.function(reduce_retracing=True)
    def step(self, images, labels, weights, synthetic: int):
        t = self.trainer
        if self.distill:
            rows = tf.where(tf.reshape(weights[-synthetic:], [-1]) > 0)[:, 0]
            served = tf.gather(self.teacher.every_head(images[-synthetic:], False), rows)
            target = tf.nn.log_softmax(self.teacher.classifier(served, training=False))
        with tf.GradientTape() as tape:
            every = t.every_head(images, True)
            loss = t.ctc_objective(every, labels, weights, True)
            if self.distill:
                own = tf.nn.log_softmax(t.classifier(tf.gather(every[-4 * synthetic:], rows), training=True))
                kl = tf.reduce_sum(tf.exp(target) * (target - own), axis=[1, 2])
                loss += self.distill * tf.reduce_mean(kl)
            if self.anchor:
                loss += self.anchor * tf.add_n([tf.reduce_sum(tf.square(v - s)) for v, s in zip(t.variables, self.served)])
        t.apply(tape, loss, tf.shape(images)[0])
        for mean, v in zip(self.averaged, t.variables):
            mean.assign(self.decay * mean + (1.0 - self.decay) * v)
        return loss

    def settle(self) -> None:
        for mean, v in zip(self.averaged, self.trainer.variables):
            v.assign(mean)


def keep_heads(weights: np.ndarray, heads: int, rng: np.random.Generator) -> np.ndarray:
    """``weights`` (B,4) with at most ``heads`` of each row's weighted heads kept, drawn at random:
    a picture that teaches fewer heads costs fewer rows of the classifier and its CTC."""
    out = np.zeros_like(weights)
    for i, row in enumerate(weights):
        taught = np.flatnonzero(row > 0)
        kept = rng.choice(taught, min(heads, len(taught)), replace=False) if len(taught) else taught
        out[i, kept] = row[kept]
    return out


def misread(trainer: Trainer, samples: list[Labelled]) -> list[int]:
    """Indices of the samples that ``trainer`` reads wrong on the direct route."""
    return [int(i) for i in np.flatnonzero(~reads_right(trainer, samples))]


def learn(trainer: Trainer, samples: list[Labelled], recipe: Recipe, teacher: Trainer | None = None,
          on_step=None) -> int:
    """Trains on batches of verified and synthetic pictures until the time or step limit; returns
    steps. ``teacher``: the served models, for ``recipe.distill``; ``on_step(steps, tuner)``: called
    after every step (to measure a trajectory)."""
    freeze(trainer, recipe.freeze_norms, recipe.freeze_convs)
    alphabet = Alphabet(charset.vocabulary())
    rng = np.random.default_rng(recipe.seed)
    synthetic = int(round(recipe.batch_size * recipe.synthetic_share))
    tuner = Tuner(trainer, teacher, recipe.distill if synthetic else 0.0, recipe.anchor, recipe.average)
    hard = (misread(trainer, samples) if recipe.hard_share else [], recipe.hard_share)
    fcfg = FeedConfig(trainer.mcfg.input_width, trainer.mcfg.input_height, synthetic)
    renderers = make_renderers(fcfg) if synthetic else ()
    start, steps = time.time(), 0
    while time.time() - start < recipe.minutes * 60 and not (recipe.steps and steps >= recipe.steps):
        parts = [verified_batch(samples, alphabet, recipe.batch_size - synthetic, rng, hard=hard,
                                moved=recipe.moved_views)]
        if synthetic:
            images, labels, weights = make_batch(renderers, alphabet, fcfg, rng)
            parts.append((images, labels, keep_heads(weights, recipe.synthetic_heads, rng)))
        batch = [np.concatenate([p[i] for p in parts]) for i in range(3)]
        tuner.step(*[tf.constant(a) for a in batch], max(synthetic, 1))
        steps += 1
        if on_step:
            on_step(steps, tuner)
    tuner.settle()
    return steps


def finetune(store: str, models: Path, recipe: Recipe, frozen: list[Dataset], export: bool = True,
             need_frozen: bool = True, calibration: CalibrationJob = CalibrationJob()) -> dict:
    """``calibration``: how the exported versions are calibrated (``training.artifacts.calibrate``)."""
    mcfg = architecture(models)
    if mcfg is None:
        raise SystemExit(f"no models in {models}")
    samples = stored_samples(store, mcfg.input_width, mcfg.input_height)
    learn_from, held = split(samples, recipe.holdout)
    imported = stored_samples(store, mcfg.input_width, mcfg.input_height, verified=False) if recipe.imported else []
    learn_from += imported
    report = {"verified": len(samples), "imported": len(imported), "learned_from": len(learn_from),
              "held_out": len(held), "recipe": recipe.__dict__}
    if not learn_from:
        return {**report, "exported": None, "reason": "no verified samples to learn from"}
    trainer = Trainer(mcfg, recipe.lr, 10**9)
    restore_from_saved_models(trainer, models)
    right_before = reads_right(trainer, held)
    before = {"held_out": by_color(held, right_before), "frozen": frozen_scores(trainer, frozen)}
    teacher = None
    if recipe.distill:
        teacher = Trainer(mcfg, recipe.lr, 10**9)
        restore_from_saved_models(teacher, models)
    report["steps"] = learn(trainer, learn_from, recipe, teacher)
    right_after = reads_right(trainer, held)
    after = {"held_out": by_color(held, right_after), "frozen": frozen_scores(trainer, frozen)}
    changed = (int((right_after & ~right_before).sum()), int((right_before & ~right_after).sum()))
    report["held_out_fixed"], report["held_out_broken"] = changed
    report.update(before=before, after=after)
    report["held_out_gain_points"] = round(100 * (overall(after["held_out"]) - overall(before["held_out"])), 2)
    report["frozen_drop_points"] = {k: round(100 * (before["frozen"][k] - after["frozen"][k]), 2)
                                    for k in before["frozen"]}
    report["frozen_set_drop_points"] = {k: round(v, 2) for k, v in set_drops(before["frozen"], after["frozen"]).items()}
    ok, report["reason"] = decide(before, after, recipe.max_drop, need_frozen, changed, recipe.significance)
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
