"""Greedy CTC decoding of a model's logits, in numpy: the same answers as the graph's own decoding
(``training.net.model.greedy_decode``), for runtimes that return logits only.

The last class is the CTC blank; class ``i`` below it is line ``i`` of the model's charset file.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Reading:
    """One picture's reading: what every runtime and the server's routing pass around."""

    text: str
    confidence: float                    # probability of the greedy path
    char_confidences: tuple[float, ...]  # probability at each emitted character's step


class Charset:
    """Class ids -> characters, as the exporter's lookup table maps them (line number -> line)."""

    def __init__(self, lines: list[str]):
        self.lines = tuple(lines)
        self.chars = frozenset(lines)  # what a model with this charset can output

    @classmethod
    def from_file(cls, path: Path) -> "Charset":
        text = Path(path).read_text(encoding="utf-8")
        return cls(text.split("\n")[:-1] if text.endswith("\n") else text.split("\n"))

    def char(self, class_id: int) -> str:
        return self.lines[class_id] if 0 <= class_id < len(self.lines) else ""


def best_classes(logits: np.ndarray) -> np.ndarray:
    """logits (B, T, K) -> the class with the highest score at each step, (B, T)."""
    return logits.argmax(axis=-1)


def best_path(logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """logits (B, T, K) -> (class with the highest score at each step, its log-probability), (B, T) each."""
    logits = np.asarray(logits, dtype=np.float32)
    best = best_classes(logits)
    top = logits.max(axis=-1)
    return best, -np.log(np.exp(logits - top[..., None]).sum(axis=-1))


def decode_best_path(best: np.ndarray, best_log_p: np.ndarray, charset: Charset, blank: int) -> list[Reading]:
    """The greedy path (``best_path``, or ``best_classes`` and a runtime's log-probabilities) -> one
    :class:`Reading` per row: repeats merged, blanks dropped."""
    best_p = np.exp(best_log_p.astype(np.float32))
    prev = np.concatenate([np.full((best.shape[0], 1), -1, best.dtype), best[:, :-1]], axis=1)
    keep = (best != prev) & (best != blank)
    confidence = np.exp(np.log(np.maximum(best_p, 1e-12)).sum(axis=1))
    out = []
    for row in range(best.shape[0]):
        steps = np.flatnonzero(keep[row])
        text = "".join(charset.char(int(best[row, t])) for t in steps)
        out.append(Reading(text, float(confidence[row]), tuple(float(best_p[row, t]) for t in steps)))
    return out


def greedy_decode(logits: np.ndarray, charset: Charset) -> list[Reading]:
    """logits (B, T, K) float -> one :class:`Reading` per row; class K-1 is the blank."""
    best, best_log_p = best_path(logits)
    return decode_best_path(best, best_log_p, charset, np.shape(logits)[-1] - 1)
