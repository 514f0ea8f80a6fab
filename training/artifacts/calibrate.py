"""Fits the calibrated confidence of every colour and writes it into the versions' assets.

    python -m training.artifacts.calibrate --models saved_models                 # new versions, fitted on synthetic pictures
    python -m training.artifacts.calibrate --models saved_models --store FILE    # refitted from the platform's verdicts

The calibrator (``captcha_core.calibration``) maps what the server knows of an answer (the path
probability, a second look and how many of its readings agreed, the route) to the probability
that the answer is right. It is fitted on the answers the data plane gives with the server's
default policy, on held-out synthetic pictures (``CALIBRATION_SETS``: seeds no training, no
validation and no frozen set draws from), in both styles; answers that got a second look are also
counted as the direct answer they were, so that a server run with ``--confidence-threshold 0`` is
calibrated too. The red model's file also holds one calibrator per other colour for the colour
transform route (the route that serves a colour whose own model is missing). The advice threshold
``min_confidence`` of a colour is the lowest calibrated confidence at which the frozen 90x35 set's
answers are 99.5% right.

With ``--store``, a colour with at least ``--min-verdicts`` verdicts on the served version's own
answers is refitted on those verdicts (the real pictures); the others keep the synthetic fit.
Either way the result is published as new versions (the same weights, the new calibration), which
a running server picks up by itself. ``export_all`` calibrates every version it exports.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


from captcha_core import versions
from captcha_core.calibration import Calibration, Calibrator, ece, fit, threshold_for
from captcha_core.colors import ALL_COLORS, Color

#: name -> (size, seed, style, pictures): seeds no training, validation or frozen set draws from
CALIBRATION_SETS = {"90x35": ("90x35", 61_000_001, "real", 2000),
                    "120x50": ("120x50", 61_000_002, "real", 1000),
                    "wider-90x35": ("90x35", 61_000_003, "wider", 1000)}
TARGET_PRECISION = 0.995
THRESHOLD_SET = "90x35"  # the frozen set the default advice threshold is chosen on


@dataclass(frozen=True)
class CalibrationJob:
    """How an export calibrates: ``scale`` times the usual calibration pictures (0: not at all);
    the advice threshold chosen on ``frozen`` (its first ``frozen_limit`` pictures)."""

    scale: float = 1.0
    frozen: Path = Path("data/eval") / THRESHOLD_SET
    frozen_limit: int | None = None


@dataclass
class Observations:
    """What the server knew of each answer, and whether the answer was right."""

    path_p: list
    reads: list
    agreeing: list
    transform: list
    correct: list

    @classmethod
    def empty(cls) -> "Observations":
        return cls([], [], [], [], [])

    def add(self, answer, truth: str) -> None:
        """A served answer (``server.plane.Answer``) and the truth it is judged against."""
        self.append(answer.path_confidence, answer.reads, answer.agreeing, answer.route.value,
                    answer.text.upper() == truth.upper())

    def append(self, path_p: float, reads: int, agreeing: int, route: str, correct: bool) -> None:
        self.path_p.append(path_p)
        self.reads.append(reads)
        self.agreeing.append(agreeing)
        self.transform.append(route == "color_transform")
        self.correct.append(correct)

    def extend(self, other: "Observations") -> None:
        for name in ("path_p", "reads", "agreeing", "transform", "correct"):
            getattr(self, name).extend(getattr(other, name))

    def fit(self) -> Calibrator:
        return fit(self.path_p, self.reads, self.agreeing, self.transform, self.correct)

    def __len__(self) -> int:
        return len(self.correct)


def asked(dataset, color: Color) -> tuple[list, list[str]]:
    """The pictures of ``dataset`` that hold ``color`` and their answers in it."""
    idx = [i for i, a in enumerate(dataset.answers) if a[color.label]]
    return [dataset.images[i] for i in idx], [dataset.answers[i][color.label] for i in idx]


def observe(plane, dataset, color: Color, route=None, also_direct: bool = False, workers: int = 64) -> Observations:
    """The answers ``plane`` gives for ``color`` (``route``: forced, or None: the server's policy);
    ``also_direct``: with the policy, a second-looked answer also counts as the direct answer it was."""
    from server.routing import Route

    from ..evaluate.accuracy import served
    images, truths = asked(dataset, color)
    obs = Observations.empty()
    answers = served(plane, color, images, workers, route)
    for answer, truth in zip(answers, truths):
        obs.add(answer, truth)
    if route is None and also_direct:
        again = [i for i, a in enumerate(answers) if a.reads > 1]
        direct = served(plane, color, [images[i] for i in again], workers, Route.DIRECT)
        for i, answer in zip(again, direct):
            obs.add(answer, truths[i])
    return obs


def calibration_sets(scale: float = 1.0, folder: Path | None = None) -> list:
    """The calibration pictures (drawn into ``folder``, a temporary one when None), ``scale``
    times the usual counts."""
    from ..synth.eval_sets import Dataset
    from ..synth.generate import generate
    root = Path(folder or tempfile.mkdtemp(prefix="calibration-"))
    out = []
    for name, (size, seed, style, count) in CALIBRATION_SETS.items():
        n = max(8, int(count * scale))
        if not (root / name / "labels.jsonl").exists() or len(Dataset.load(root / name).answers) != n:
            generate(root / name, size, n, seed, style, progress=False)
        out.append(Dataset.load(root / name))
    if folder is None:
        shutil.rmtree(root, ignore_errors=True)
    return out


def threshold_set(frozen: Path, limit: int | None = None):
    from ..synth.eval_sets import draw
    from ..synth.eval_sets import Dataset
    if not (frozen / "labels.jsonl").exists():
        draw(THRESHOLD_SET, frozen, progress=False)
    return Dataset.load(frozen, limit)


def fit_plane(plane, datasets: list, frozen_set) -> dict[str, Calibration]:
    """colour -> its Calibration, fitted through ``plane`` (the server's default policy) on
    ``datasets``, with the advice threshold chosen on ``frozen_set``."""
    from server.routing import Route
    loaded = {s.color.label for s in plane.manager.loaded()}
    out = {}
    for color in ALL_COLORS:
        if color.label not in loaded:
            continue
        obs = Observations.empty()
        for ds in datasets:
            obs.extend(observe(plane, ds, color, also_direct=True))
        served = obs.fit()
        frozen = observe(plane, frozen_set, color)
        calibrated = served.probabilities(frozen.path_p, frozen.reads, frozen.agreeing, frozen.transform)
        min_conf, coverage, precision = threshold_for(calibrated, frozen.correct, TARGET_PRECISION)
        about = {"fitted_on": "synthetic", "answers": len(obs), "wrong": int(len(obs) - sum(obs.correct)),
                 "sets": {name: list(v[:3]) for name, v in CALIBRATION_SETS.items()},
                 "ece_on_fit": round(ece(served.probabilities(obs.path_p, obs.reads, obs.agreeing, obs.transform),
                                         obs.correct), 5),
                 "min_confidence_on": f"frozen {THRESHOLD_SET}: {len(frozen)} answers, coverage "
                                      f"{coverage:.4f} at precision {precision:.4f}",
                 "fitted_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        out[color.label] = Calibration(served, min_conf, {}, about)
    if "red" in out:
        transform = {}
        for color in ALL_COLORS:
            if color is Color.RED:
                continue
            obs = Observations.empty()
            for ds in datasets:
                obs.extend(observe(plane, ds, color, Route.COLOR_TRANSFORM))
            transform[color.label] = obs.fit()
        red = out["red"]
        out["red"] = Calibration(red.served, red.min_confidence, transform, red.about)
    return out


def open_plane(model_dir: Path):
    from ..evaluate.accuracy import open_plane as plane_over
    return plane_over(model_dir)


def calibrate_in_place(model_dir: Path, job: CalibrationJob = CalibrationJob()) -> dict[str, Calibration]:
    """Fits every colour's newest version in ``model_dir`` and writes its calibration into that
    folder's assets (for versions no server serves yet: the exporter's staging repository)."""
    plane = open_plane(model_dir)
    try:
        found = fit_plane(plane, calibration_sets(job.scale), threshold_set(job.frozen, job.frozen_limit))
    finally:
        plane.manager.close()
    for color, calibration in found.items():
        calibration.write(versions.newest(Path(model_dir) / color))
    return found


def publish(model_dir: Path, calibrations: dict[str, Calibration]) -> dict[str, Path]:
    """Each colour's newest version again as a new version with ``calibrations[colour]`` in its
    assets (the same weights); the folder appears complete or not at all."""
    out = {}
    for color, calibration in calibrations.items():
        color_dir = Path(model_dir) / color
        source = versions.newest(color_dir)
        staging = Path(tempfile.mkdtemp(prefix=".calibrate-", dir=color_dir))
        try:
            copy = staging / "model"
            shutil.copytree(source, copy)
            info = versions.info(copy)
            info["calibrated_from"] = int(source.name)
            (copy / "assets" / "model.json").write_text(json.dumps(info, indent=2, ensure_ascii=False),
                                                        encoding="utf-8")
            calibration.write(copy)
            final = color_dir / str(versions.next_version(color_dir))
            os.rename(copy, final)
            out[color] = final
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return out


def refit_from_store(model_dir: Path, store_spec: str, min_verdicts: int = 200) -> dict[str, Calibration]:
    """colour -> a Calibration refitted on the verdicts on its served version's own answers, for
    the colours with at least ``min_verdicts`` of them (the threshold stays the version's)."""
    from captcha_core.feedback import open_store
    store = open_store(store_spec, create=False)
    out = {}
    try:
        for color in ALL_COLORS:
            folder = versions.newest(Path(model_dir) / color.label)
            if folder is None:
                continue
            old = Calibration.read(folder) or Calibration()
            obs = Observations.empty()
            for v in store.verdicts(color.label, int(folder.name)):
                obs.append(v.path_confidence, v.reads, v.agreeing, v.route, v.accepted)
            if len(obs) < min_verdicts:
                print(f"{color.label}: {len(obs)} verdicts on v{folder.name}'s answers, fewer than {min_verdicts}: kept")
                continue
            served = obs.fit()
            about = {"fitted_on": "verdicts", "answers": len(obs), "rejected": int(len(obs) - sum(obs.correct)),
                     "version": int(folder.name), "refitted_from": old.about,
                     "fitted_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
            out[color.label] = Calibration(served, old.min_confidence, old.transform, about)
    finally:
        store.close()
    return out


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", type=Path, default=Path("saved_models"))
    p.add_argument("--store", help="refit from this feedback store's verdicts (the server's --feedback-store)")
    p.add_argument("--min-verdicts", type=int, default=200)
    p.add_argument("--scale", type=float, default=1.0, help="times the usual count of calibration pictures")
    p.add_argument("--frozen", type=Path, default=Path("data/eval") / THRESHOLD_SET,
                   help="the frozen set the advice threshold is chosen on (drawn when missing)")
    args = p.parse_args(argv)
    if args.store:
        found = refit_from_store(args.models, args.store, args.min_verdicts)
    else:
        plane = open_plane(args.models)
        try:
            found = fit_plane(plane, calibration_sets(args.scale), threshold_set(args.frozen))
        finally:
            plane.manager.close()
    for color, folder in publish(args.models, found).items():
        c = found[color]
        print(f"{color}: {folder} (min_confidence {c.min_confidence:.4f}; {json.dumps(c.about, ensure_ascii=False)})")


if __name__ == "__main__":
    main()
