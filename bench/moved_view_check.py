"""Would one more reading of every confident answer keep the confidence honest when the style moves?

    python bench/moved_view_check.py [--views 1] [--out bench/results/moved-view-check.json]

Issue 18's trial of a policy the server does not have: an answer whose path probability is at
or above the second-look threshold is read again, moved a pixel (``captcha_core.views``, the
first ``--views`` moved copies, direct route); when a reading disagrees, the answer gets the full
second look, as an unsure one does. For every calibration set (``CALIBRATION_SETS``, seeds of
their own) and frozen set, and every colour, it reads: the served answers (default policy), the
answers with a second look for every picture (threshold 1), and the direct readings of the moved
copies; then it plays the policy out, fits a calibrator on the calibration sets with two more
features (``checked``: the check agreed; ``checked*log_odds``) and reports, per frozen set and
colour, exact match, expected calibration error, coverage at 99.5% precision and readings per
answer, beside the same fit for today's policy and for a second look at every answer.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from captcha_core.calibration import FEATURES, ece, fit_logistic, threshold_for  # noqa: E402
from captcha_core.calibration import features as calibration_features  # noqa: E402
from captcha_core.colors import ALL_COLORS  # noqa: E402
from captcha_core.views import views  # noqa: E402

FROZEN = ("90x35", "120x50", "wider-90x35", "faces-out-90x35")
COLUMNS = ("path_p", "reads", "agreeing", "transform", "checked", "correct")


def read_sets(model_dir: Path, eval_dir: Path, moved: int) -> dict:
    """(set, colour) -> the three kinds of readings, each a list over the pictures asked."""
    from server.config import ServerConfig
    from server.plane import DataPlane
    from server.routing import Route
    from training.artifacts.calibrate import asked, calibration_sets, open_plane
    from training.evaluate.accuracy import served
    from training.synth.eval_sets import Dataset
    plane = open_plane(model_dir)
    # a second look is taken below the threshold; 2 is above every confidence, 1.0 included
    always = DataPlane.over(plane.manager, 2.0, ServerConfig().second_look_views)
    sets = {f"cal-{name}": ds for name, ds in zip(("90x35", "120x50", "wider"), calibration_sets())}
    sets.update({name: Dataset.load(eval_dir / name) for name in FROZEN})
    out = {}
    for name, ds in sets.items():
        for color in ALL_COLORS:
            images, truths = asked(ds, color)
            copies = [views(image, moved + 1) for image in images]
            out[(name, color.label)] = {
                "truth": truths, "served": served(plane, color, images), "always": served(always, color, images),
                "moved": [served(plane, color, [c[k] for c in copies], route=Route.DIRECT) for k in range(moved + 1)]}
            print(f"read {name} {color.label}: {len(images)} answers", flush=True)
    return out


def row(answer, truth: str, checked: bool = False, reads: int | None = None) -> tuple:
    return (answer.path_confidence, reads or answer.reads, reads or answer.agreeing,
            answer.route.value == "color_transform", checked, answer.text.upper() == truth.upper())


def play(r: dict, policy: str) -> tuple[np.ndarray, np.ndarray]:
    """(answers ``policy`` gives, direct readings of those that got a second look) as rows.
    Policies: ``today``; ``checked`` (a confident answer checked on the moved copies); ``always``
    (a second look for every answer)."""
    given, direct = [], []
    for i, (answer, truth) in enumerate(zip(r["served"], r["truth"])):
        first = r["moved"][0][i]
        if policy == "always":
            given.append(row(r["always"][i], truth))
        elif answer.reads > 1 or policy == "today":
            given.append(row(answer, truth))
        elif all(m[i].text.upper() == first.text.upper() for m in r["moved"][1:]):
            given.append(row(first, truth, checked=True, reads=len(r["moved"])))
            continue
        else:  # the full second look, whose second view is the moved copy already read
            given.append(row(r["always"][i], truth))
        if given[-1][1] > 1:
            direct.append(row(first, truth))
    return np.array(given, dtype=np.float64), np.array(direct, dtype=np.float64).reshape(-1, len(COLUMNS))


def check_counts(r: dict) -> dict:
    """Of the answers today's policy gives without a second look: how many, how many are wrong,
    how many the moved copies read otherwise, and how many of the wrong ones are among those."""
    first = r["moved"][0]
    confident = [i for i, a in enumerate(r["served"]) if a.reads == 1]
    differ = {i for i in confident if any(m[i].text.upper() != first[i].text.upper() for m in r["moved"][1:])}
    wrong = {i for i in confident if r["served"][i].text.upper() != r["truth"][i].upper()}
    return {"confident": len(confident), "wrong": len(wrong), "read_otherwise": len(differ),
            "wrong_among_those": len(wrong & differ)}


def features(rows: np.ndarray) -> np.ndarray:
    """The calibrator's features (``captcha_core.calibration.features``; a checked answer counts
    as one reading there, not as a second look), then ``checked`` and ``checked*log_odds``."""
    checked = rows[:, 4]
    base = calibration_features(rows[:, 0], np.where(checked > 0, 1, rows[:, 1]), rows[:, 2], rows[:, 3])
    return np.column_stack([base, checked, checked * base[:, FEATURES.index("log_odds")]])


def evaluate(readings: dict, policy: str) -> dict:
    out = {}
    for color in ALL_COLORS:
        fit_rows = np.concatenate([np.concatenate(play(r, policy)) for (name, c), r in readings.items()
                                   if c == color.label and name.startswith("cal-")])
        prior = np.zeros(features(fit_rows[:1]).shape[1])
        prior[FEATURES.index("log_odds")] = 1.0
        w = fit_logistic(features(fit_rows), fit_rows[:, 5], prior)
        for name in FROZEN:
            rows, _ = play(readings[(name, color.label)], policy)
            conf, right = 0.5 * (1.0 + np.tanh(0.5 * (features(rows) @ w))), rows[:, 5]
            out[f"{name}/{color.label}"] = {
                "exact": round(float(right.mean()), 5), "ece": round(ece(conf, right), 5),
                "coverage_at_99_5": round(threshold_for(conf, right, 0.995)[1], 4),
                "readings": round(float(rows[:, 1].mean()), 3)}
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", type=Path, default=ROOT / "saved_models")
    p.add_argument("--eval-dir", type=Path, default=ROOT / "data" / "eval")
    p.add_argument("--views", type=int, default=1, help="moved copies read to check a confident answer")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "moved-view-check.json")
    args = p.parse_args()
    readings = read_sets(args.models, args.eval_dir, args.views)
    policies = ("today", "checked", "always")
    report = {"views": args.views, **{policy: evaluate(readings, policy) for policy in policies},
              "check": {f"{name}/{color}": check_counts(r) for (name, color), r in readings.items()
                        if not name.startswith("cal-")}}
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print("Per set/colour, today → checked → always:\n")
    print("| set/colour | exact | ECE | coverage at 99.5% precision | readings an answer |")
    print("|---|---|---|---|---|")
    for key in report["today"]:
        columns = (("exact", pct2), ("ece", pct2), ("coverage_at_99_5", pct0), ("readings", "{:.2f}".format))
        cells = [" → ".join(fmt(report[policy][key][name]) for policy in policies) for name, fmt in columns]
        print(f"| {key} | " + " | ".join(cells) + " |")


def pct2(v: float) -> str:
    return f"{100 * v:.2f}%"


def pct0(v: float) -> str:
    return f"{100 * v:.0f}%"


if __name__ == "__main__":
    main()
