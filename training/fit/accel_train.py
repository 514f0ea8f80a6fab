"""Trains the four colour readers on an accelerator machine with JAX (no TensorFlow there).

    CAPTCHA_FONT_PACK=build/fontpack python -m training.fit.accel_train \\
        --init build/accel/init.npz --out OUT --seconds 420

What ``training.fit.train`` does, on a GPU: the same network (``accel_model``), the same batches
(``data.make_batch``, rendered by one process per spare core), the same loss (CTC per head,
weighted), Adam with gradient clipping. The learning rate follows the clock: a short warm-up,
then a cosine from ``--lr`` down to ``--lr-floor`` at ``--seconds``, so a run ends cooled
whatever speed the machine has. When the renderers fall behind, a step fills its batch from
recently rendered pictures (``--replay``). Every ``--save-every`` seconds and at the end it
writes ``OUT/weights.npz`` (``training.fit.weights``' layout: ``python -m training.fit.weights load``
brings it back to TensorFlow) and ``OUT/log.csv`` (at the end also ``OUT/curves.png``); it validates the direct route on held-out
pictures (the validation seed of ``training.fit.train``, never used for training batches).
"""
from __future__ import annotations

import argparse
import csv
import math
import os
import queue as queue_module
import time
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

from ..net import accel_model

from ..synth import charset

from . import curves, data
from .data import HEAD_ORDER, FeedConfig, ReplayBuffer
from ..net.encoding import Alphabet
from .weights import ARCH_KEY, architecture_of, trained_array, trained_of

COLORS = tuple(c.label for c in HEAD_ORDER)


def ctc_losses(logits, labels, blank: int):
    """logits (B,T,K), labels (B,L) padded with -1 -> (B,) CTC losses (an empty answer: the
    all-blank path), as ``model.ctc_loss`` computes them."""
    labels = jnp.asarray(labels)
    return optax.ctc_loss(logits, jnp.zeros(logits.shape[:2], jnp.float32), jnp.where(labels < 0, 0, labels),
                          (labels < 0).astype(jnp.float32), blank_id=blank)


def make_step(cfg, optimizer):
    blank = cfg.num_classes - 1

    def loss_fn(params, stats, images, labels, weights):
        logits, new_stats = accel_model.logits(params, stats, images, cfg, COLORS, train=True)
        b, h = weights.shape
        losses = ctc_losses(logits.reshape((b * h,) + logits.shape[2:]), labels.reshape(b * h, -1), blank)
        w = weights.reshape(-1)
        return jnp.sum(losses * w) / jnp.maximum(jnp.sum(w), 1.0), new_stats

    @partial(jax.jit, donate_argnums=(0, 1, 2))
    def step(params, stats, opt_state, images, labels, weights, lr):
        (loss, new_stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, stats, images, labels, weights)
        opt_state[1].hyperparams["learning_rate"] = lr  # the inject_hyperparams part of the chain
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), new_stats, opt_state, loss

    return step


def learning_rate(elapsed: float, seconds: float, step: int, peak: float, floor: float, warmup: int) -> float:
    """Warm-up over ``warmup`` steps, then a cosine from ``peak`` to ``floor`` at ``seconds``."""
    f = min(max(elapsed / seconds, 0.0), 1.0)
    return min(1.0, (step + 1) / warmup) * (floor + (peak - floor) * 0.5 * (1 + math.cos(math.pi * f)))


def validate(params, stats, cfg, val, read, chars) -> dict:
    """The direct route's exact match per colour on ``data.validation_set``'s pictures (those
    ``training.fit.train`` validates on), scored as it scores them (``data.exact``)."""
    images, samples = val
    blank = cfg.num_classes - 1
    best = np.concatenate([np.asarray(read(params, stats, images[i:i + 512])) for i in range(0, len(images), 512)])
    scores = {}
    for h, color in enumerate(HEAD_ORDER):
        idx, truth = data.answered(samples, color)
        got = ["".join(chars[t] for t in ids) for ids in accel_model.greedy(best[idx, h], blank)]
        scores[f"{color.label}_direct"] = data.exact(got, truth)
    scores["mean_direct"] = float(np.mean(list(scores.values())))
    return scores


def _carried(before: dict, pictures: int, steps: int) -> dict:
    return {"pictures": before["pictures"] + pictures, "steps": before["steps"] + steps}


def save(out: Path, params, stats, arch, trained: dict, log_rows) -> None:
    """weights.npz (with the architecture and the training the weights now carry) and log.csv."""
    arrays = {k: np.asarray(v) for k, v in {**params, **stats}.items()}
    arrays[ARCH_KEY] = arch
    arrays.update(trained_array(**trained))
    tmp = out / "weights.tmp.npz"
    np.savez(tmp, **arrays)
    os.replace(tmp, out / "weights.npz")
    with open(out / "log.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=sorted({k for r in log_rows for k in r}))
        w.writeheader()
        w.writerows(log_rows)


PART = 64  # pictures a rendering process sends at a time


def start_renderers(cfg, alphabet: Alphabet, workers: int, seed: int):
    """Processes that render training batches of ``PART`` pictures (``data.make_batch``) into a queue."""
    return data.start_renderers(alphabet, FeedConfig(cfg.input_width, cfg.input_height, PART), seed, workers,
                                4 * workers)


class Mixer:
    """Batches of the freshly rendered parts waiting in the queue, topped up from a replay
    store of the last ``capacity`` pictures (``data.ReplayBuffer``) when the renderers are behind
    the accelerator."""

    def __init__(self, first_part, capacity: int, rng: np.random.Generator):
        self.replay = ReplayBuffer(capacity, first_part)
        self.fresh, self.rng = 0, rng
        self.pending = [first_part]

    def batch(self, feed, size: int) -> list[np.ndarray]:
        """Images, labels, weights of ``size`` pictures, fresh ones first."""
        while sum(len(p[0]) for p in self.pending) + PART <= size:
            try:
                self.pending.append(feed.get_nowait())
            except queue_module.Empty:
                break
        for part in self.pending:
            self.replay.add(part)
        fresh = [np.concatenate(x) for x in zip(*self.pending)] if self.pending else None
        n_fresh = len(fresh[0]) if fresh else 0
        self.fresh += n_fresh
        self.pending = []
        if n_fresh == size:
            return fresh
        reused = self.replay.sample(size - n_fresh, self.rng)
        return reused if fresh is None else [np.concatenate([a, b]) for a, b in zip(fresh, reused)]


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--plot", type=Path, nargs=2, metavar=("LOG_CSV", "PNG"),
                   help="only draw the curves of a log (legs in a 'leg' column) and exit")
    p.add_argument("--init", type=Path, help="weights to start from (training.fit.weights dump)")
    p.add_argument("--out", type=Path)
    p.add_argument("--seconds", type=float, default=420)
    p.add_argument("--batch-size", type=int, default=512)
    p.add_argument("--lr", type=float, default=6e-4)
    p.add_argument("--lr-floor", type=float, default=1e-5)
    p.add_argument("--warmup", type=int, default=300, help="steps")
    p.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 2))
    p.add_argument("--seed", type=int, default=500_000, help="training seed (1..1e6, as training.fit.train)")
    p.add_argument("--replay", type=int, default=200_000, help="pictures kept for reuse")
    p.add_argument("--save-every", type=float, default=60)
    p.add_argument("--validation-count", type=int, default=1024)
    args = p.parse_args(argv)
    if not args.plot and not (args.init and args.out):
        p.error("--init and --out are required for training")
    if args.batch_size < PART:
        p.error(f"--batch-size must be at least {PART} (the pictures a renderer sends at a time)")
    return args


class AccelRun:
    """One leg on the accelerator: the weights it starts from, the renderers, the optimizer."""

    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.arrays = dict(np.load(args.init))
        self.cfg = cfg = architecture_of(self.arrays)
        self.params, self.stats = accel_model.split(self.arrays, cfg)
        self.before = trained_of(self.arrays)  # this leg adds its pictures and steps to what the weights carry
        alphabet = Alphabet(charset.vocabulary())
        self.feed, self.procs = start_renderers(cfg, alphabet, args.workers, args.seed)
        self.optimizer = optax.chain(optax.clip_by_global_norm(5.0),
                                     optax.inject_hyperparams(optax.adam)(learning_rate=args.lr))
        self.opt_state = self.optimizer.init(self.params)
        self.step_fn = make_step(cfg, self.optimizer)
        self.read = jax.jit(lambda pr, st, im: jnp.argmax(accel_model.logits(pr, st, im, cfg, COLORS, train=False)[0], -1))
        self.val = data.validation_set(args.validation_count, cfg.input_width, cfg.input_height)
        self.chars = alphabet.chars
        self.step, self.pictures, self.losses = 0, 0, []

    def validate(self) -> dict:
        return validate(self.params, self.stats, self.cfg, self.val, self.read, self.chars)

    def save(self, log_rows) -> None:
        save(self.args.out, self.params, self.stats, self.arrays[ARCH_KEY],
             _carried(self.before, self.pictures, self.step), log_rows)

    def train_step(self, mixer: "Mixer", elapsed: float) -> float:
        a = self.args
        lr = learning_rate(elapsed, a.seconds, self.step, a.lr, a.lr_floor, a.warmup)
        self.params, self.stats, self.opt_state, loss = self.step_fn(
            self.params, self.stats, self.opt_state, *mixer.batch(self.feed, a.batch_size), jnp.float32(lr))
        self.pictures += a.batch_size
        self.step += 1
        self.losses = self.losses[-49:] + [loss]
        if self.step % 8 == 0:  # keep the clock honest: do not queue minutes of steps ahead
            loss.block_until_ready()
        return lr

    def loop(self, log_rows: list) -> "Mixer":
        """Steps until ``--seconds``: a log row every 20 s, validated and saved every ``--save-every``."""
        mixer = Mixer(self.feed.get(timeout=300), self.args.replay, np.random.default_rng(self.args.seed))
        start = last_save = last_print = time.time()
        try:
            while (elapsed := time.time() - start) < self.args.seconds:
                lr = self.train_step(mixer, elapsed)
                if time.time() - last_print > 20:
                    last_print = time.time()
                    row = {"seconds": round(elapsed, 1), "step": self.step, "pictures": self.pictures,
                           "fresh": mixer.fresh, "loss": round(float(np.mean([float(x) for x in self.losses])), 4),
                           "lr": lr}
                    if time.time() - last_save > self.args.save_every:
                        last_save = time.time()
                        row.update(self.validate())
                        self.save(log_rows + [row])
                    log_rows.append(row)
                    print(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()),
                          flush=True)
        finally:
            for proc in self.procs:
                proc.terminate()
        log_rows.append({"seconds": round(time.time() - start, 1), "step": self.step, "pictures": self.pictures,
                         "fresh": mixer.fresh, **self.validate()})
        return mixer


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.plot:
        curves.draw(*args.plot, "seconds")
        return
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"devices: {jax.devices()}; {args.workers} rendering processes", flush=True)
    run = AccelRun(args)
    scores = run.validate()
    print("start: " + " ".join(f"{k}={v:.3f}" for k, v in scores.items()), flush=True)
    log_rows = [{"seconds": 0, "step": 0, "pictures": 0, "fresh": 0, **scores}]
    run.loop(log_rows)
    run.save(log_rows)
    try:
        curves.draw(args.out / "log.csv", args.out / "curves.png", "seconds")
    except ImportError:
        print("matplotlib is not installed: no curves.png (python -m training.fit.accel_train --plot LOG PNG later)")
    print("end: " + " ".join(f"{k}={v:.4g}" for k, v in log_rows[-1].items()), flush=True)


if __name__ == "__main__":
    main()
