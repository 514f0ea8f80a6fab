"""On-the-fly training batches: rendered captchas, resized by the shared preprocessing.

Each plain picture teaches all four colour heads at once (red, yellow, blue, black), each with
the answer of its colour ("" where the colour is absent): every character drawn is a label for
one head, so one rendering gives four lessons. A share of the pictures is passed through a colour
transform (blue/yellow/black -> red) instead; those teach the red head only, with the answer of
the transformed colour: this is how the red model learns to read the fallback route.
A share of the pictures is drawn in the wider style (larger, more rotated glyphs): another
renderer of the same specification may draw like that.
"""
from __future__ import annotations

import multiprocessing as mp
import os
from dataclasses import dataclass

import numpy as np

from captcha_core.colors import ALL_COLORS, Color
from captcha_core.preprocess import resize
from captcha_core.transforms import to_red

from ..net.encoding import MAX_LEN, Alphabet
from ..synth.render import CaptchaRenderer
from ..synth.style import REAL, TRAINING, WIDER_TRAINING, Style

HEAD_ORDER = ALL_COLORS  # red, yellow, blue, black
RED_HEAD = HEAD_ORDER.index(Color.RED)
VALIDATION_SEED = 4_242_000  # default_rng(this): training batches come from spawned children, never such a stream


def validation_set(count: int, input_width: int, input_height: int):
    """Held-out pictures in the real style (seed never used in training), at both sizes (every
    fourth 120x50), resized to the model input: (images, samples). Both trainers validate on them."""
    rng = np.random.default_rng(VALIDATION_SEED)
    renderers = (CaptchaRenderer(90, 35, REAL), CaptchaRenderer(120, 50, REAL))
    samples = [renderers[i % 4 == 3].render(rng) for i in range(count)]
    images = np.stack([resize(s.image, input_width, input_height) for s in samples])
    return images, samples


def answered(samples, color: Color) -> tuple[list[int], list[str]]:
    """The validation samples that hold ``color``: their indices and their answers in it."""
    idx = [i for i, s in enumerate(samples) if s.answer(color)]
    return idx, [samples[i].answer(color) for i in idx]


def exact(got: list[str], truth: list[str]) -> float:
    """The share of ``got`` equal to ``truth``: both trainers' validation score."""
    return float(np.mean([g == t for g, t in zip(got, truth)]))


@dataclass(frozen=True)
class FeedConfig:
    input_width: int = 100
    input_height: int = 40
    batch_size: int = 64
    large_share: float = 0.3      # share of 120x50 pictures
    transform_share: float = 0.3  # share of pictures (with a non-red colour) shown to the red head through a transform
    style: Style = TRAINING
    wider_share: float = 0.3      # share of pictures drawn in the wider style
    wider_style: Style = WIDER_TRAINING


def make_renderers(cfg: FeedConfig) -> tuple[CaptchaRenderer, ...]:
    """90x35 and 120x50 in the style, then both in the wider style (``make_batch``'s order)."""
    return tuple(CaptchaRenderer(w, h, style) for style in (cfg.style, cfg.wider_style) for w, h in ((90, 35), (120, 50)))


def make_batch(renderers, alphabet: Alphabet, cfg: FeedConfig, rng: np.random.Generator):
    """Returns images (B,H,W,3) uint8, labels (B,4,6) int32 (-1 padded, one row per head in
    HEAD_ORDER) and weights (B,4) float32 (1 where that head learns from the picture).
    ``renderers``: as ``make_renderers`` gives them."""
    b, heads = cfg.batch_size, len(HEAD_ORDER)
    images = np.empty((b, cfg.input_height, cfg.input_width, 3), np.uint8)
    labels = np.full((b, heads, MAX_LEN), -1, np.int32)
    weights = np.zeros((b, heads), np.float32)
    kind = (rng.random(b) < cfg.large_share) + 2 * (rng.random(b) < cfg.wider_share)
    samples = [s for renderer, count in zip(renderers, np.bincount(kind, minlength=4), strict=True)
               for s in renderer.render_batch(int(count), rng, boxes=False)]
    for i, sample in enumerate(samples):
        img = sample.image
        others = sorted({HEAD_ORDER.index(c) for c in sample.colors} - {RED_HEAD})
        if others and rng.random() < cfg.transform_share:
            color = HEAD_ORDER[others[int(rng.integers(0, len(others)))]]
            img = to_red(img, color)  # the red head learns the fallback route
            labels[i, RED_HEAD] = alphabet.encode(sample.answer(color))
            weights[i, RED_HEAD] = 1.0
        else:
            for h, color in enumerate(HEAD_ORDER):
                labels[i, h] = alphabet.encode(sample.answer(color))
            weights[i] = 1.0
        images[i] = resize(img, cfg.input_width, cfg.input_height)
    return images, labels, weights


def render_worker(queue, seed, alphabet_chars, cfg: FeedConfig):
    """A rendering process: ``make_batch`` after ``make_batch`` into ``queue``, forever."""
    os.nice(5)
    rng = np.random.default_rng(seed)
    renderers = make_renderers(cfg)
    alphabet = Alphabet(alphabet_chars)
    while True:
        queue.put(make_batch(renderers, alphabet, cfg, rng))


def start_renderers(alphabet: Alphabet, cfg: FeedConfig, seed: int, workers: int, queue_size: int):
    """``workers`` rendering processes, each drawing from its own child of ``SeedSequence(seed)``,
    filling one queue of ``queue_size`` batches: (queue, processes)."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue(maxsize=queue_size)
    procs = [ctx.Process(target=render_worker, args=(queue, s, alphabet.chars, cfg), daemon=True)
             for s in np.random.SeedSequence(seed).spawn(workers)]
    for proc in procs:
        proc.start()
    return queue, procs


class BatchFeeder:
    """Background processes that render batches; ``get()`` returns a fresh batch or None."""

    def __init__(self, alphabet: Alphabet, cfg: FeedConfig, seed: int, workers: int = 1):
        self.queue, self.procs = start_renderers(alphabet, cfg, seed, workers, 64)

    def get(self, block: bool):
        import queue as _q
        try:
            return self.queue.get(block=block, timeout=600 if block else None)
        except _q.Empty:
            return None

    def close(self):
        for p in self.procs:
            p.terminate()


class ReplayBuffer:
    """Keeps recent samples so training never waits for the renderer (reuse when it is slow)."""

    def __init__(self, capacity: int, example):
        self.capacity, self.size, self.pos = capacity, 0, 0
        self.arrays = [np.empty((capacity,) + a.shape[1:], a.dtype) for a in example]

    def add(self, batch):
        n = len(batch[0])
        idx = (self.pos + np.arange(n)) % self.capacity
        for store, a in zip(self.arrays, batch):
            store[idx] = a
        self.pos = (self.pos + n) % self.capacity
        self.size = min(self.size + n, self.capacity)

    def sample(self, n: int, rng: np.random.Generator):
        idx = rng.integers(0, self.size, n)
        return tuple(a[idx] for a in self.arrays)
