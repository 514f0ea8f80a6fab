"""A second look at a picture the model is unsure of: the picture moved by a pixel in each
direction, every copy read, and the answer most reads agree on wins.

A reading's errors depend on where the strokes fall on the model's grid; moved by one pixel, the
same picture is read afresh, and the readings' majority is right more often than any one of
them (measured on the frozen evaluation sets: docs/accuracy-history.md). The server and the
evaluation use this one module, so the figures measure what is served.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import TypeVar

import numpy as np

R = TypeVar("R")

#: (columns, rows) moves of the original picture, the unmoved one first
SHIFTS: tuple[tuple[int, int], ...] = ((0, 0), (1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (-1, -1), (1, -1), (-1, 1))
#: views each model reads first; the rest only when these readings are not settled
FIRST_STAGE = 3


def shifted(image: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """``image`` (H, W, 3) moved ``dx`` columns right and ``dy`` rows down, at the same size: the
    edge row or column is repeated into the space left behind."""
    h, w = image.shape[:2]
    if abs(dx) >= w or abs(dy) >= h:
        raise ValueError(f"a move of ({dx}, {dy}) leaves nothing of a {w}x{h} picture")
    rows = np.clip(np.arange(h) - dy, 0, h - 1)
    cols = np.clip(np.arange(w) - dx, 0, w - 1)
    return image[rows[:, None], cols[None, :]]


def views(image: np.ndarray, count: int) -> list[np.ndarray]:
    """The first ``count`` moved copies (``SHIFTS`` order, the unmoved picture first)."""
    if not 1 <= count <= len(SHIFTS):
        raise ValueError(f"between 1 and {len(SHIFTS)} views, not {count}")
    return [image if (dx, dy) == (0, 0) else shifted(image, dx, dy) for dx, dy in SHIFTS[:count]]


def stages(count: int) -> list[range]:
    """The views (indices into ``views(image, count)``) read in each stage of a second look."""
    if count <= FIRST_STAGE:
        return [range(count)]
    return [range(FIRST_STAGE), range(FIRST_STAGE, count)]


def settled(agreeing: int, readings: int) -> bool:
    """After the first stage: are the readings near enough unanimous (five in six) to stop?
    (Measured on the frozen sets: stopping there keeps the nine-view accuracy for two thirds of
    the readings; docs/accuracy-history.md.)"""
    return 6 * agreeing >= 5 * readings


def vote(readings: Sequence[tuple[str, float]]) -> tuple[int, int]:
    """readings: (text, confidence) pairs. Returns (index of the reading chosen, how many readings
    agree with it). The text most readings gave wins (compared case-insensitively, as the platform
    does); a tie goes to the larger sum of confidences; of the winning readings, the most
    confident one is chosen."""
    if not readings:
        raise ValueError("nothing to vote on")
    counts, sums = Counter(), Counter()
    for text, confidence in readings:
        counts[text.upper()] += 1
        sums[text.upper()] += confidence
    winner = max(counts, key=lambda t: (counts[t], sums[t]))
    chosen = max((i for i, (text, _) in enumerate(readings) if text.upper() == winner), key=lambda i: readings[i][1])
    return chosen, counts[winner]


def second_look(first: R, read_stage: Callable[[range], list[R]], count: int,
                key: Callable[[R], tuple[str, float]]) -> tuple[R, int, int]:
    """The vote of a second look over ``count`` views, stage by stage (``stages``): ``first`` is
    the reading in hand, ``read_stage(views)`` the readings of those views (the server reads them
    then; the evaluation has them already), ``key(reading)`` its (text, confidence). Stops once
    ``settled``. Returns (the reading chosen, readings counted, how many agree with it)."""
    readings = [first]
    for stage in stages(count):
        readings += read_stage(stage)
        chosen, agreeing = vote([key(r) for r in readings])
        if settled(agreeing, len(readings)):
            break
    return readings[chosen], len(readings), agreeing
