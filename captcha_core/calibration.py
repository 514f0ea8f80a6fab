"""Calibrated confidence: the probability that a whole served answer is right.

A ``Calibrator`` is a logistic model over what the server knows of an answer: the decoded
path's probability (as log-odds), whether a second look was taken, the share of its readings
that agreed, and whether the answer came through the colour transform. It is fitted on held-out
pictures (``training.artifacts.calibrate``) and travels with the model in ``assets/calibration.json``
(``Calibration``): one calibrator for the colour's served answers, the default ``min_confidence``
below which the advice is to fetch a new picture, and, in the red model's file, one calibrator
per colour the red model answers through the transform. The measures (``ece``, ``coverage_curve``,
``threshold_for``) are the ones the evaluation and the fit share. Numpy only.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

FILE = "calibration.json"
FEATURES = ("bias", "log_odds", "second_look", "second_look*log_odds", "agreeing_share", "transform")
EPS = 1e-6
#: the advice threshold of a version that carries no calibration
FALLBACK_MIN_CONFIDENCE = 0.9


def features(path_p, reads, agreeing, transform) -> np.ndarray:
    """(N, len(FEATURES)) from arrays (or scalars) of the path probability, readings made,
    readings agreeing and whether the transform route answered."""
    p = np.clip(np.asarray(path_p, dtype=np.float64), EPS, 1 - EPS)
    reads = np.asarray(reads, dtype=np.float64)
    log_odds = np.log(p) - np.log1p(-p)
    second = (reads > 1).astype(np.float64)
    share = np.where(second > 0, np.asarray(agreeing, dtype=np.float64) / np.maximum(reads, 1), 0.0)
    transform = np.asarray(transform, dtype=np.float64)
    return np.stack(np.broadcast_arrays(np.ones_like(log_odds), log_odds, second, second * log_odds, share,
                                        transform), axis=-1).reshape(-1, len(FEATURES))


@dataclass(frozen=True)
class Calibrator:
    weights: tuple[float, ...]

    def probabilities(self, path_p, reads, agreeing, transform) -> np.ndarray:
        z = features(path_p, reads, agreeing, transform) @ np.asarray(self.weights)
        return 0.5 * (1.0 + np.tanh(0.5 * z))

    def __call__(self, path_p: float, reads: int = 1, agreeing: int = 1, transform: bool = False) -> float:
        """One answer's calibrated confidence: ``probabilities`` for one, in plain floats (a
        request's hot path; numpy's per-call cost on six numbers is ten times the arithmetic)."""
        p = min(max(float(path_p), EPS), 1 - EPS)
        log_odds = math.log(p) - math.log1p(-p)
        second = 1.0 if reads > 1 else 0.0
        share = agreeing / max(reads, 1) if second else 0.0
        x = (1.0, log_odds, second, second * log_odds, share, 1.0 if transform else 0.0)
        z = sum(w * v for w, v in zip(self.weights, x))
        return 0.5 * (1.0 + math.tanh(0.5 * z))


def fit(path_p, reads, agreeing, transform, correct, l2: float = 1e-2, steps: int = 50) -> Calibrator:
    """Maximum likelihood (``fit_logistic``) with a small L2 pull toward the identity map: weight
    1 on the log-odds, 0 elsewhere, so that a feature the data never varies stays neutral."""
    prior = np.zeros(len(FEATURES))
    prior[FEATURES.index("log_odds")] = 1.0
    w = fit_logistic(features(path_p, reads, agreeing, transform), correct, prior, l2, steps)
    return Calibrator(tuple(float(v) for v in w))


def fit_logistic(x: np.ndarray, correct, prior: np.ndarray, l2: float = 1e-2, steps: int = 50) -> np.ndarray:
    """Weights of a logistic model of ``correct`` over the columns of ``x``: Newton's method with a
    halving step, from ``prior`` and pulled toward it with weight ``l2``."""
    y = np.asarray(correct, dtype=np.float64)

    def loss(w):
        z = x @ w
        return float(np.sum(np.logaddexp(0.0, z) - y * z) + 0.5 * l2 * np.sum((w - prior) ** 2))

    w = np.asarray(prior, dtype=np.float64).copy()
    current = loss(w)
    for _ in range(steps):
        p = 0.5 * (1.0 + np.tanh(0.5 * (x @ w)))
        grad = x.T @ (p - y) + l2 * (w - prior)
        hess = (x * (p * (1 - p))[:, None]).T @ x + l2 * np.eye(len(w))
        delta = np.linalg.solve(hess, grad)
        step = 1.0
        while step > 1e-6 and loss(w - step * delta) > current:  # halve the step until the loss falls
            step /= 2
        if step <= 1e-6:
            break
        w = w - step * delta
        previous, current = current, loss(w)
        if previous - current < 1e-10 * max(1.0, abs(current)):
            break
    return w


@dataclass(frozen=True)
class Calibration:
    """What a version's ``assets/calibration.json`` holds."""

    served: Calibrator | None = None          # the colour's own answers
    min_confidence: float = FALLBACK_MIN_CONFIDENCE
    transform: dict[str, Calibrator] = field(default_factory=dict)  # asked colour -> (red model's file)
    about: dict = field(default_factory=dict)  # how and on what it was fitted

    def to_json(self) -> str:
        return json.dumps({"features": list(FEATURES), "min_confidence": round(self.min_confidence, 6),
                           "served": list(self.served.weights) if self.served else None,
                           "transform": {c: list(k.weights) for c, k in self.transform.items()},
                           "about": self.about}, indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def from_json(cls, text: str) -> "Calibration":
        raw = json.loads(text)
        if tuple(raw.get("features", ())) != FEATURES:
            raise ValueError(f"calibration features {raw.get('features')} are not {list(FEATURES)}")
        served = raw.get("served")
        min_confidence = float(raw.get("min_confidence", FALLBACK_MIN_CONFIDENCE))
        if not 0.0 <= min_confidence <= 1.0:
            raise ValueError(f"min_confidence {min_confidence} is outside 0..1")
        return cls(Calibrator(tuple(map(float, served))) if served else None, min_confidence,
                   {c: Calibrator(tuple(map(float, w))) for c, w in (raw.get("transform") or {}).items()},
                   raw.get("about") or {})

    @classmethod
    def read(cls, folder: Path) -> "Calibration | None":
        """The calibration in ``folder/assets`` (None when the version has none)."""
        path = Path(folder) / "assets" / FILE
        return cls.from_json(path.read_text(encoding="utf-8")) if path.is_file() else None

    def write(self, folder: Path) -> Path:
        path = Path(folder) / "assets" / FILE
        path.write_text(self.to_json(), encoding="utf-8")
        return path


# -- measures -----------------------------------------------------------------------------------
def ece(confidence, correct, bins: int = 15) -> float:
    """Expected calibration error: over ``bins`` equal-width confidence bins, the gap between mean
    confidence and accuracy, weighted by the bin's share of the answers."""
    conf, ok = np.asarray(confidence, dtype=np.float64), np.asarray(correct, dtype=np.float64)
    if conf.size == 0:
        return 0.0
    idx = np.minimum((conf * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        m = idx == b
        if m.any():
            total += m.sum() * abs(conf[m].mean() - ok[m].mean())
    return float(total / conf.size)


def reliability(confidence, correct, bins: int = 15) -> list[tuple[float, float, int]]:
    """(mean confidence, accuracy, answers) of each non-empty equal-width bin."""
    conf, ok = np.asarray(confidence, dtype=np.float64), np.asarray(correct, dtype=np.float64)
    idx = np.minimum((conf * bins).astype(int), bins - 1)
    return [(float(conf[idx == b].mean()), float(ok[idx == b].mean()), int((idx == b).sum()))
            for b in range(bins) if (idx == b).any()]


def coverage_curve(confidence, correct) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each distinct threshold t (descending confidence): t, the share of answers with
    confidence >= t (coverage) and the share of those that are right (precision)."""
    conf, ok = np.asarray(confidence, dtype=np.float64), np.asarray(correct, dtype=np.float64)
    order = np.argsort(-conf, kind="stable")
    conf, ok = conf[order], ok[order]
    last = np.r_[conf[1:] != conf[:-1], True]  # keep the last of each run of equal confidences
    kept = np.cumsum(ok)[last]
    n = np.arange(1, conf.size + 1)[last]
    return conf[last], n / max(conf.size, 1), kept / n


def threshold_for(confidence, correct, precision: float) -> tuple[float, float, float]:
    """The lowest threshold whose answers at or above it are at least ``precision`` right:
    (threshold, coverage, precision reached). When no threshold reaches it: (1.0, 0.0, 1.0)."""
    t, cov, prec = coverage_curve(confidence, correct)
    good = np.nonzero(prec >= precision)[0]
    if good.size == 0:
        return 1.0, 0.0, 1.0
    i = good[-1]
    return float(t[i]), float(cov[i]), float(prec[i])
