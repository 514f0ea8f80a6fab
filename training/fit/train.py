"""Trains the four colour readers together (shared backbone and classifier, one head per colour).

    python -m training.fit.train --run-dir runs/main --minutes 120

Renders pictures on the fly in a background process, logs to ``RUN/log.csv``, checkpoints to
``RUN/ckpt`` at every validation and at the end (SIGTERM or Ctrl-C also end the run that way), resumes from the latest checkpoint there (or, with
``--init-from saved_models``, from the newest committed models), validates on held-out
pictures (seed never used in training) and exports a new version of every colour to
``--export-to`` whenever the validation score beats the best so far. ``RUN/curves.png`` plots
loss and accuracy over time.
"""
from __future__ import annotations

import argparse
import csv
import json
import signal
import time
from pathlib import Path

import numpy as np
import tensorflow as tf
from tqdm import tqdm

from captcha_core.colors import Color

from ..synth import charset

from . import curves, data
from .data import HEAD_ORDER, BatchFeeder, FeedConfig, ReplayBuffer
from ..net.encoding import Alphabet
from ..artifacts.calibrate import CalibrationJob
from ..artifacts.export import export_all
from ..net.model import LEGACY, ModelConfig, build_backbone, build_classifier, build_head, ctc_loss, greedy_decode
from captcha_core.transforms import to_red

class Trainer:
    def __init__(self, mcfg: ModelConfig, lr: float, half_life: int):
        self.mcfg = mcfg
        self.backbone = build_backbone(mcfg)
        self.heads = {c.label: build_head(mcfg, c.label) for c in HEAD_ORDER}
        self.classifier = build_classifier(mcfg)
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.pictures = tf.Variable(0, dtype=tf.int64, trainable=False)
        schedule = tf.keras.optimizers.schedules.ExponentialDecay(lr, half_life, 0.5)
        self.optimizer = tf.keras.optimizers.Adam(schedule, clipnorm=5.0)
        self.blank = mcfg.num_classes - 1
        self.variables = (self.backbone.trainable_variables + self.classifier.trainable_variables
                          + [v for h in self.heads.values() for v in h.trainable_variables])
        chars = tf.constant(list(charset.vocabulary()))
        self._lookup = lambda ids: tf.gather(chars, ids)
        self._read = {c.label: self._reader(c.label) for c in HEAD_ORDER}

    def checkpoint(self) -> tf.train.Checkpoint:
        return tf.train.Checkpoint(backbone=self.backbone, classifier=self.classifier, step=self.step,
                                   pictures=self.pictures, optimizer=self.optimizer, **self.heads)

    def every_head(self, images, training: bool):
        """(B*4, T, sequence width): each picture through every head, HEAD_ORDER rows per picture."""
        feats = self.backbone(images, training=training)
        every = tf.stack([self.heads[c.label](feats, training=training) for c in HEAD_ORDER], axis=1)
        return tf.reshape(every, [-1, self.mcfg.steps, self.mcfg.sequence_width])

    def ctc_objective(self, every, labels, weights, training: bool):
        """The weighted mean CTC loss of the rows of ``every`` that have a weight: labels (B,4,L)
        and weights (B,4), one row per head (HEAD_ORDER); only those rows run through the classifier."""
        flat_weights = tf.reshape(weights, [-1])
        rows = tf.where(flat_weights > 0)[:, 0]
        logits = self.classifier(tf.gather(every, rows), training=training)
        losses = ctc_loss(tf.gather(tf.reshape(labels, [-1, tf.shape(labels)[-1]]), rows), logits, self.blank)
        w = tf.gather(flat_weights, rows)
        return tf.reduce_sum(losses * w) / tf.maximum(tf.reduce_sum(w), 1.0)

    def apply(self, tape: tf.GradientTape, loss, pictures) -> None:
        """One optimiser step on ``loss`` (recorded by ``tape``), counting ``pictures``."""
        grads = tape.gradient(loss, self.variables)
        self.optimizer.apply_gradients(zip(grads, self.variables))
        self.step.assign_add(1)
        self.pictures.assign_add(tf.cast(pictures, tf.int64))

    @tf.function(reduce_retracing=True)
    def train_step(self, images, labels, weights):
        with tf.GradientTape() as tape:
            loss = self.ctc_objective(self.every_head(images, True), labels, weights, True)
        self.apply(tape, loss, tf.shape(images)[0])
        return loss

    def read(self, images, head: str):
        return self._read[head](images)

    def texts(self, images: np.ndarray, head: str, chunk: int = 256) -> list[str]:
        """What ``head`` reads on each picture (uint8, model input size), ``chunk`` at a time."""
        out = []
        for i in range(0, len(images), chunk):
            out += [t.decode() for t in self.read(tf.constant(images[i:i + chunk]), head).numpy()]
        return out

    def _reader(self, head: str):
        @tf.function(input_signature=[tf.TensorSpec([None, self.mcfg.input_height, self.mcfg.input_width, 3], tf.uint8)])
        def read(images):
            feats = self.backbone(images, training=False)
            logits = self.classifier(self.heads[head](feats, training=False), training=False)
            return greedy_decode(logits, self._lookup)[0]
        return read


def validation_set(count: int, mcfg: ModelConfig):
    """``data.validation_set`` at the model's input size."""
    return data.validation_set(count, mcfg.input_width, mcfg.input_height)


def validate(trainer: "Trainer", val) -> dict:
    images, samples = val
    scores, chinese = {}, []
    for color in HEAD_ORDER:
        idx, truth = data.answered(samples, color)
        for route, head in (("direct", color.label), ("fallback", Color.RED.label)):
            if route == "fallback" and color is Color.RED:
                continue
            batch = images[idx] if route == "direct" else to_red(images[idx], color)
            got = trainer.texts(batch, head)
            scores[f"{color.label}_{route}"] = data.exact(got, truth)
            if route == "direct":
                chinese += [g == t for g, t in zip(got, truth) if any(charset.is_chinese(c) for c in t)]
    scores["mean"] = float(np.mean(list(scores.values())))
    scores["chinese_direct"] = float(np.mean(chinese)) if chinese else 0.0  # not in the mean
    return scores


def load_state(state_file: Path, reset_best: bool = False) -> dict:
    """The run's state (best validation score, minutes trained, ...), fresh where there is none.
    ``reset_best`` moves the best score to ``earlier_bests``: scores on a redrawn validation set
    do not compare with it."""
    state = json.loads(state_file.read_text()) if state_file.exists() else {"best": -1.0, "minutes": 0.0}
    if reset_best and state["best"] >= 0:
        state.setdefault("earlier_bests", []).append(state["best"])
        state["best"] = -1.0
    return state


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run-dir", type=Path, default=Path("runs/main"))
    p.add_argument("--minutes", type=float, default=60.0, help="stop after this many minutes")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--half-life", type=int, default=30_000, help="steps for the learning rate to halve")
    p.add_argument("--seed", type=int, default=1, help="training seed (1..1e6; evaluation uses others)")
    p.add_argument("--workers", type=int, default=1, help="rendering processes")
    p.add_argument("--threads", type=int, default=0, help="TensorFlow threads (0: all cores)")
    p.add_argument("--validate-every", type=float, default=10.0, help="minutes")
    p.add_argument("--validation-count", type=int, default=1024)
    p.add_argument("--init-from", type=Path, help="start from the newest models in this folder")
    p.add_argument("--export-to", type=Path, help="export every colour here when validation improves")
    p.add_argument("--calibration-scale", type=float, default=1.0,
                   help="times the usual calibration pictures for each export (0: not calibrated; "
                        "python -m training.artifacts.calibrate does it later)")
    p.add_argument("--replay", type=int, default=100_000, help="pictures kept for reuse")
    p.add_argument("--wider-share", type=float, default=FeedConfig.wider_share,
                   help="share of pictures drawn in the wider style (larger, more rotated glyphs)")
    p.add_argument("--reset-best", action="store_true",
                   help="forget the run's best validation score (after a change to the generator, which "
                        "redraws the validation set), so the next validation exports")
    args = p.parse_args(argv)
    if not 1 <= args.seed <= 1_000_000:
        p.error("--seed must be in 1..1000000")
    if not 0 <= args.wider_share <= 1:
        p.error("--wider-share must be in 0..1")
    return args


LOG_FIELDS = ["minutes", "step", "pictures", "fresh", "loss", "lr"] + \
    [f"{c.label}_{r}" for c in HEAD_ORDER for r in ("direct", "fallback")] + ["mean", "chinese_direct"]


class Run:
    """One leg of a training run in ``args.run_dir``: its state, checkpoints, batches and log."""

    def __init__(self, args: argparse.Namespace):
        self.args, self.stopping = args, False
        args.run_dir.mkdir(parents=True, exist_ok=True)
        self.state_file = args.run_dir / "state.json"
        self.state = load_state(self.state_file, args.reset_best)
        mcfg = run_architecture(args.run_dir, self.state, args.init_from)
        self.state["architecture"] = mcfg.to_json()
        self.state["wider_share"] = args.wider_share  # of this leg of the run
        self.save_state(self.state.get("minutes", 0.0))  # before any checkpoint: a resume must know what it built
        self.trainer = self.restore(Trainer(mcfg, args.lr, args.half_life))
        fcfg = FeedConfig(mcfg.input_width, mcfg.input_height, args.batch_size, wider_share=args.wider_share)
        self.feeder = BatchFeeder(Alphabet(charset.vocabulary()), fcfg,
                                  seed=args.seed * 1000 + int(self.trainer.step.numpy()) % 1000, workers=args.workers)
        self.val = validation_set(args.validation_count, mcfg)
        self.batch = self.feeder.get(block=True)
        self.replay = ReplayBuffer(args.replay, self.batch)
        self.replay.add(self.batch)
        self.rng = np.random.default_rng(args.seed)
        self.log_path = args.run_dir / "log.csv"
        new_log = not self.log_path.exists()
        self.log = open(self.log_path, "a", newline="")
        self.writer = csv.DictWriter(self.log, fieldnames=LOG_FIELDS, extrasaction="ignore")
        if new_log:
            self.writer.writeheader()
        self.base_minutes, self.fresh, self.losses = self.state["minutes"], 0, []

    def restore(self, trainer: Trainer) -> Trainer:
        """The run's latest checkpoint, else (``--init-from``) the newest exported models."""
        checkpoint = trainer.checkpoint()
        self.checkpoints = tf.train.CheckpointManager(checkpoint, str(self.args.run_dir / "ckpt"), max_to_keep=3)
        if self.checkpoints.latest_checkpoint:
            checkpoint.restore(self.checkpoints.latest_checkpoint)
            print(f"resumed from {self.checkpoints.latest_checkpoint} at step {int(trainer.step.numpy())}")
        elif self.args.init_from:
            from ..artifacts.restore import restore_from_saved_models
            restore_from_saved_models(trainer, self.args.init_from)
        return trainer

    def save_state(self, minutes: float) -> None:
        self.state["minutes"] = minutes
        self.state_file.write_text(json.dumps(self.state))

    def step(self) -> None:
        """One training step, then the next batch: fresh when a renderer has one, else replayed."""
        self.losses.append(float(self.trainer.train_step(*[tf.constant(a) for a in self.batch])))
        new = self.feeder.get(block=False)
        if new is not None:
            self.replay.add(new)
            self.fresh += len(new[0])
            self.batch = new
        else:
            self.batch = self.replay.sample(self.args.batch_size, self.rng)

    def validate_and_export(self, started: float) -> dict:
        """Validates, checkpoints, and exports when the mean beats the run's best."""
        step = int(self.trainer.step.numpy())
        scores = validate(self.trainer, self.val)
        self.checkpoints.save()
        tqdm.write(f"step {step}: " + " ".join(f"{k}={v:.3f}" for k, v in scores.items()))
        if self.args.export_to and scores["mean"] > self.state["best"]:
            self.state["best"] = scores["mean"]
            export_all(self.trainer, self.args.export_to, step, int(self.trainer.pictures.numpy()), scores,
                       self.args.wider_share, CalibrationJob(self.args.calibration_scale))
        self.save_state(self.base_minutes + (time.time() - started) / 60)
        return {k: round(v, 4) for k, v in scores.items()}

    def log_row(self, elapsed: float, scores: dict) -> None:
        lr = self.trainer.optimizer.learning_rate
        self.writer.writerow({"minutes": round(self.base_minutes + elapsed / 60, 2),
                              "step": int(self.trainer.step.numpy()), "pictures": int(self.trainer.pictures.numpy()),
                              "fresh": self.fresh, "loss": round(float(np.mean(self.losses[-500:])), 4),
                              "lr": float(lr.numpy()) if hasattr(lr, "numpy") else self.args.lr, **scores})
        self.log.flush()
        curves.draw(self.log_path, self.args.run_dir / "curves.png", "minutes")

    def loop(self) -> None:
        """Trains until ``--minutes`` pass or a stop is asked, validating every ``--validate-every``
        minutes and at the end."""
        started = last_val = time.time()
        bar = tqdm(total=int(self.args.minutes * 60), unit="s", desc="training", mininterval=5)
        try:
            while (elapsed := time.time() - started) < self.args.minutes * 60 and not self.stopping:
                self.step()
                step = int(self.trainer.step.numpy())
                if step % 100 == 0:
                    bar.n = int(elapsed)
                    bar.set_postfix(step=step, loss=f"{np.mean(self.losses[-100:]):.3f}", fresh=self.fresh)
                due = time.time() - last_val > self.args.validate_every * 60
                if step % 500 == 0 or due:
                    scores = {}
                    if due:
                        last_val = time.time()
                        scores = self.validate_and_export(started)
                    self.log_row(elapsed, scores)
            self.validate_and_export(started)  # the end of a run counts too
        finally:
            bar.close()
            self.checkpoints.save()
            self.save_state(self.base_minutes + (time.time() - started) / 60)

    def close(self) -> None:
        self.feeder.close()
        self.log.close()


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    run = Run(args)

    def request_stop(signum, frame):  # finish the step, validate, export, checkpoint, exit
        run.stopping = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    try:
        run.loop()
    finally:
        run.close()


def trainer_from_run(run_dir: Path) -> tuple["Trainer", str]:
    """A trainer holding the latest checkpoint of ``run_dir`` (its path too); exits without one."""
    state = load_state(run_dir / "state.json")
    trainer = Trainer(run_architecture(run_dir, state, None), 1e-3, 1000)
    latest = tf.train.latest_checkpoint(str(run_dir / "ckpt"))
    if latest is None:
        raise SystemExit(f"no checkpoint in {run_dir / 'ckpt'}")
    trainer.checkpoint().restore(latest).expect_partial()
    return trainer, latest


def run_architecture(run_dir: Path, state: dict, init_from: Path | None) -> ModelConfig:
    """The run's own architecture when it has checkpoints, else that of the models it starts
    from, else today's default."""
    if "architecture" in state:
        return ModelConfig.from_json(state["architecture"])
    if tf.train.latest_checkpoint(str(run_dir / "ckpt")):
        return LEGACY  # a run begun before runs recorded their architecture
    if init_from is not None:
        from ..artifacts.restore import architecture
        return architecture(init_from) or ModelConfig()
    return ModelConfig()


if __name__ == "__main__":
    main()
