"""Accuracy of the committed models on labelled sets, per set, colour and route.

    python -m training.evaluate --models saved_models --data data/eval/90x35 data/eval/120x50 data/eval/wider-90x35 [--json]

For every colour: the pictures whose answer in that colour is not empty (the platform only
asks for a colour that is there). Direct route: that colour's model. Fallback route: the
picture transformed so that colour becomes red, read by the red model. Policy route
(``policy@T``): the server's ``--confidence-threshold T``, where a direct answer below T is
also read by the fallback route and the more confident answer wins. Served route: what the
server answers with its defaults (``--confidence-threshold``, ``--second-look-views``), measured
through the server's own data plane (``server.plane``): a direct answer below the threshold gets a
second look, moved views read by the direct model and through the transform by the red model, the
majority winning (``captcha_core.views``). Exact match is
case-insensitive, as the platform's check is.

Calibration, per set and colour, of the served answers: expected calibration error of the
calibrated confidence and of the path probability (15 equal-width bins), the default advice
threshold, the share of answers advised SUBMIT at it (coverage) and their exact match
(precision), and the precision at 90% coverage. With ``--out``, one plot per set
(``calibration-<set>.png``): exact match against coverage, and the reliability diagram.
"""
from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from captcha_core.calibration import coverage_curve, ece, reliability, threshold_for
from captcha_core.colors import ALL_COLORS, Color
from captcha_core.preprocess import resize
from captcha_core.transforms import to_red
from captcha_core.views import vote

from ..synth.charset import is_chinese
from ..synth.eval_sets import Dataset


def edit_distance(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def score(predictions: list[str], truths: list[str]) -> dict:
    """Exact match, character accuracy (1 - edits/length), and both on the Chinese / no-Chinese split."""
    def block(pairs):
        if not pairs:
            return {"count": 0, "exact": None, "char": None}
        exact = sum(p.upper() == t.upper() for p, t in pairs) / len(pairs)
        edits = sum(edit_distance(p.upper(), t.upper()) for p, t in pairs)
        chars = max(1, sum(len(t) for _, t in pairs))
        return {"count": len(pairs), "exact": exact, "char": max(0.0, 1 - edits / chars)}
    pairs = list(zip(predictions, truths))
    return {**block(pairs),
            "with_chinese": block([(p, t) for p, t in pairs if any(is_chinese(c) for c in t)]),
            "without_chinese": block([(p, t) for p, t in pairs if not any(is_chinese(c) for c in t)])}


def read_all(model, images: list[np.ndarray], batch: int = 128) -> list:
    """Readings (text, confidence, ...) of every picture, through the shared preprocessing."""
    spec = model.spec
    out = []
    for i in range(0, len(images), batch):
        chunk = np.stack([resize(img, spec.input_width, spec.input_height) for img in images[i:i + batch]])
        out += model.read(chunk)
    return out


def policy(direct: list, fallback: list, threshold: float) -> list[str]:
    """The server's threshold policy with one view: below ``threshold`` the more confident of the
    two routes wins."""
    return [d.text if d.confidence >= threshold else (d, f)[vote([(d.text, d.confidence), (f.text, f.confidence)])[0]].text
            for d, f in zip(direct, fallback)]


def served(plane, color: Color, images: list[np.ndarray], workers: int = 64, route=None) -> list:
    """What the server answers: every picture through the data plane (``server.plane``), as many at
    once as ``workers`` callers would send (``server.plane.Answer`` each). ``route``: forced (a
    ``server.routing.Route``), or None: the server's policy."""
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda image: plane.recognize_picture(image, color, route), images))


def calibration_figures(answers: list, truths: list[str]) -> dict:
    """How honest the served answers' confidence is, and what the advice threshold gives."""
    conf = np.array([a.confidence for a in answers])
    path = np.array([a.path_confidence for a in answers])
    right = np.array([a.text.upper() == t.upper() for a, t in zip(answers, truths)])
    submit = np.array([a.advice.value == "submit" for a in answers])
    thresholds, coverage, precision = coverage_curve(conf, right)
    at90 = int(np.searchsorted(coverage, 0.9))
    return {"answers": len(answers), "exact": float(right.mean()), "ece": ece(conf, right), "ece_path": ece(path, right),
            "min_confidence": float(answers[0].min_confidence) if answers else None,
            "calibrated": bool(answers and answers[0].calibrated),
            "coverage": float(submit.mean()), "precision": float(right[submit].mean()) if submit.any() else None,
            "precision_at_90_coverage": float(precision[min(at90, len(precision) - 1)]),
            "coverage_at_99_5_precision": threshold_for(conf, right, 0.995)[1],
            "reliability": reliability(conf, right),
            "curve": [(round(float(c), 4), round(float(p), 5)) for c, p in zip(coverage, precision)][::5]}


def time_per_picture(model, image: np.ndarray, repeats: int = 50, rounds: int = 5) -> float:
    """Milliseconds for one picture alone (batch of 1): the best of ``rounds`` rounds, so that a
    busy moment of the machine does not count."""
    x = resize(image, model.spec.input_width, model.spec.input_height)[None]
    model.read(x)
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(repeats):
            model.read(x)
        best = min(best, (time.perf_counter() - start) / repeats * 1000)
    return best


POLICY_THRESHOLDS = (0.5, 0.9, 1.0)


def evaluate(plane, datasets: list[Dataset]) -> dict:
    """Every route of every colour on every set; the served route through ``plane``, with its
    threshold and second look."""
    models = loaded_models(plane)
    report = {"datasets": {}, "ms_per_picture": {},
              "served": {"confidence_threshold": plane.router.threshold, "second_look_views": plane.router.views}}
    report["calibration"] = {}
    for ds in datasets:
        result, calibration = {}, {}
        for color in ALL_COLORS:
            idx = [i for i, a in enumerate(ds.answers) if a[color.label]]
            truths = [ds.answers[i][color.label] for i in idx]
            images = [ds.images[i] for i in idx]
            direct = fallback = None
            if color.label in models and images:
                direct = read_all(models[color.label], images)
                result[f"{color.label}/direct"] = score([r.text for r in direct], truths)
            if color is not Color.RED and "red" in models and images:
                fallback = read_all(models["red"], [to_red(img, color) for img in images])
                result[f"{color.label}/fallback"] = score([r.text for r in fallback], truths)
            if direct and fallback:
                for threshold in POLICY_THRESHOLDS:
                    result[f"{color.label}/policy@{threshold}"] = score(policy(direct, fallback, threshold), truths)
            if direct:
                answers = served(plane, color, images)
                result[f"{color.label}/served"] = score([a.text for a in answers], truths)
                calibration[color.label] = calibration_figures(answers, truths)
        report["datasets"][ds.name] = result
        report["calibration"][ds.name] = calibration
    if datasets and datasets[0].images:
        for name, model in models.items():
            report["ms_per_picture"][name] = round(time_per_picture(model, datasets[0].images[0]), 3)
    return report


def load_models(model_dir: Path, runtime: str = "auto") -> dict:
    """colour name -> its newest model in ``model_dir``, loaded on ``runtime``."""
    from captcha_core.versions import newest
    from server.models import load_model
    return {c.label: load_model(v, runtime) for c in ALL_COLORS if (v := newest(Path(model_dir) / c.label))}


def loaded_models(plane) -> dict:
    """colour name -> the model serving it directly."""
    return {s.color.label: s.model for s in plane.manager.loaded()}


def open_plane(model_dir: Path, runtime: str = "auto", views: int | None = None, precision: str | None = None):
    """A data plane over the models in ``model_dir`` with the server's default policy and batching (``views``:
    the second look's views, ``precision``: OpenVINO's, instead of the defaults), loaded."""
    from server.config import ServerConfig
    from server.manager import ModelManager
    from server.models import loader
    from server.plane import DataPlane
    defaults = ServerConfig()
    manager = ModelManager(model_dir, loader(runtime, precision or defaults.precision, defaults.openvino_threads), defaults.batch_policy())
    manager.refresh()
    return DataPlane.over(manager, defaults.confidence_threshold, views or defaults.second_look_views)


def _pct(v) -> str:
    return "—" if v is None else f"{100 * v:.1f}%"


def markdown(report: dict) -> str:
    lines = ["| set | colour | route | pictures | exact | char | exact, with Chinese (n) | char, with Chinese | exact, no Chinese |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, result in report["datasets"].items():
        for key, s in result.items():
            color, route = key.split("/")
            wc = s["with_chinese"]
            lines.append(f"| {name} | {color} | {route} | {s['count']} | {_pct(s['exact'])} | {_pct(s['char'])} | "
                         f"{_pct(wc['exact'])} ({wc['count']}) | {_pct(wc['char'])} | {_pct(s['without_chinese']['exact'])} |")
    lines.append("")
    lines.append("Model time per picture (batch 1, best of 5 rounds): " +
                 ", ".join(f"{k} {v} ms" for k, v in report["ms_per_picture"].items()))
    lines += ["", calibration_markdown(report.get("calibration", {}))]
    return "\n".join(lines)


def calibration_markdown(calibration: dict) -> str:
    lines = ["Calibration of the served answers (ECE: expected calibration error, 15 bins; coverage: answers "
             "advised SUBMIT at the default threshold; precision: their exact match):", "",
             "| set | colour | answers | exact | ECE | ECE of the path probability | threshold | coverage | precision "
             "| precision at 90% coverage | coverage at 99.5% precision |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, colors in calibration.items():
        for color, c in colors.items():
            threshold = "—" if c["min_confidence"] is None else f"{c['min_confidence']:.3f}"
            lines.append(f"| {name} | {color} | {c['answers']} | {_pct(c['exact'])} | {100 * c['ece']:.2f}% | "
                         f"{100 * c['ece_path']:.2f}% | {threshold}{'' if c['calibrated'] else ' (uncalibrated)'} | "
                         f"{_pct(c['coverage'])} | {_pct2(c['precision'])} | {_pct2(c['precision_at_90_coverage'])} | "
                         f"{_pct(c['coverage_at_99_5_precision'])} |")
    return "\n".join(lines)


def _pct2(v) -> str:
    return "—" if v is None else f"{100 * v:.2f}%"


def plot_calibration(calibration: dict, out: Path) -> list[Path]:
    """One PNG per set: exact match against coverage, and the reliability diagram, per colour."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    paths = []
    for name, colors in calibration.items():
        fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.2))
        for color, c in colors.items():
            cov, prec = zip(*c["curve"]) if c["curve"] else ((), ())
            line, = left.plot(cov, prec, label=color)
            left.plot([c["coverage"]], [c["precision"] or 0], "o", color=line.get_color())
            conf, acc, _ = zip(*c["reliability"]) if c["reliability"] else ((), (), ())
            right.plot(conf, acc, "o-", color=line.get_color(), label=f"{color} (ECE {100 * c['ece']:.1f}%)")
        left.axhline(0.995, color="grey", lw=0.8, ls="--")
        left.axvline(0.9, color="grey", lw=0.8, ls="--")
        left.set(xlabel="coverage (share of answers advised SUBMIT)", ylabel="exact match of those answers",
                 title=f"{name}: exact match against coverage (dot: default threshold)", ylim=(0.85, 1.001))
        right.plot([0, 1], [0, 1], color="grey", lw=0.8)
        right.set(xlabel="calibrated confidence (bin mean)", ylabel="exact match", title=f"{name}: reliability")
        left.legend(loc="lower left")
        right.legend(loc="upper left", fontsize=8)
        fig.tight_layout()
        path = Path(out) / f"calibration-{name.split(' ')[0]}.png"
        fig.savefig(path, dpi=90)
        plt.close(fig)
        paths.append(path)
    return paths


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m training.evaluate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", type=Path, default=Path("saved_models"))
    p.add_argument("--data", type=Path, nargs="+", required=True, help="folders with labels.jsonl")
    p.add_argument("--limit", type=int, help="first N pictures of each set")
    p.add_argument("--json", action="store_true")
    p.add_argument("--runtime", default="auto", choices=("auto", "openvino", "tensorflow"))
    p.add_argument("--threads", type=int, default=1, help="TensorFlow threads with --runtime tensorflow")
    p.add_argument("--out", type=Path, help="also write accuracy.md and accuracy.json in this folder")
    p.add_argument("--second-look-views", type=int, choices=range(1, 10), metavar="1..9",
                   help="views of the served route's second look (default: the server's default)")
    args = p.parse_args(argv)
    if args.runtime == "tensorflow" and args.threads:
        import tensorflow as tf
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    plane = open_plane(args.models, args.runtime, args.second_look_views)
    report = evaluate(plane, [Dataset.load(d, args.limit) for d in args.data])
    print(json.dumps(report, indent=2) if args.json else markdown(report))
    if args.out:
        write_report(report, loaded_models(plane), args.out)
    plane.manager.close()


def write_report(report: dict, models: dict, out: Path) -> None:
    """accuracy.md (dated, with the command and the model versions) and accuracy.json."""
    import sys
    import time
    out.mkdir(parents=True, exist_ok=True)
    versions = ", ".join(f"{name} v{model.spec.version}" for name, model in models.items())
    command = "python -m training.evaluate " + " ".join(a for a in sys.argv[1:] if a != "--json")
    (out / "accuracy.md").write_text(
        f"# Accuracy, {time.strftime('%Y-%m-%d')}, models {versions}\n\n`{command}`\n\n{markdown(report)}\n",
        encoding="utf-8")
    (out / "accuracy.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    plot_calibration(report.get("calibration", {}), out)


if __name__ == "__main__":
    main()
