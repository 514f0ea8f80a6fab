"""Accuracy of the committed models on labelled sets, per set, colour and route.

    python -m training.evaluate --models saved_models --data data/eval/90x35 data/eval/120x50 data/eval/wider-90x35 [--json]

For every colour: the pictures whose answer in that colour is not empty (the platform only
asks for a colour that is there). Direct route: that colour's model. Fallback route: the
picture transformed so that colour becomes red, read by the red model. Policy route
(``policy@T``): the server's ``--confidence-threshold T``, where a direct answer below T is
also read by the fallback route and the more confident answer wins. Served route: what the
server answers with its defaults (``--confidence-threshold``, ``--second-look-views``): a direct
answer below the threshold gets a second look, moved views read by the direct model and through
the transform by the red model, the majority winning (``captcha_core.views``). Exact match is
case-insensitive, as the platform's check is.
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from captcha_core.colors import ALL_COLORS, Color
from captcha_core.preprocess import resize
from captcha_core.transforms import to_red
from captcha_core.views import second_look, views, vote

from .charset import is_chinese


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


@dataclass
class Dataset:
    name: str
    images: list[np.ndarray]
    answers: list[dict]

    @classmethod
    def load(cls, folder: Path, limit: int | None = None) -> "Dataset":
        rows = [json.loads(line) for line in (folder / "labels.jsonl").read_text(encoding="utf-8").splitlines()]
        rows = rows[:limit] if limit else rows
        images = [np.asarray(Image.open(folder / r["file"]).convert("RGB")) for r in rows]
        size = f"{images[0].shape[1]}x{images[0].shape[0]}" if images else "empty"
        name = folder.name if size in folder.name else f"{folder.name} ({size})"
        return cls(name, images, [r["answers"] for r in rows])


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


def served(models: dict, color: Color, images: list[np.ndarray], direct: list, threshold: float,
           n_views: int, reads: list | None = None) -> list[str]:
    """What the server answers (``server.routing.Router`` with these settings): below
    ``threshold`` a second look, the majority of the direct model's readings of ``n_views`` views
    and (for a colour other than red) the red model's readings of them through the transform,
    the later views counted only when the first stage's readings are not settled (all are read
    here, and each stage votes on the readings the server would have in the server's order).
    ``reads``, when given, receives how many readings the server makes of each picture."""
    texts = [r.text for r in direct]
    counts = [1] * len(direct)
    unsure = [j for j, r in enumerate(direct) if r.confidence < threshold]
    moved = [views(images[j], n_views) for j in unsure]
    again = read_all(models[color.label], [v for vs in moved for v in vs[1:]])
    red = (read_all(models["red"], [to_red(v, color) for vs in moved for v in vs])
           if color is not Color.RED and "red" in models else [])
    for k, j in enumerate(unsure):
        mine = [direct[j]] + again[k * (n_views - 1):(k + 1) * (n_views - 1)]  # view i is mine[i]
        theirs = red[k * n_views:(k + 1) * n_views]
        chosen, counts[j], _ = second_look(
            direct[j], lambda stage: [mine[i] for i in stage if i > 0] + [theirs[i] for i in stage if theirs],
            n_views, lambda r: (r.text, r.confidence))
        texts[j] = chosen.text
    if reads is not None:
        reads.extend(counts)
    return texts


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


def evaluate(models: dict, datasets: list[Dataset], views: int | None = None) -> dict:
    """``views``: the second look's views for the served route (default: the server's)."""
    from dataclasses import replace

    from server.config import ServerConfig
    server_defaults = ServerConfig()
    if views is not None:
        server_defaults = replace(server_defaults, second_look_views=views)
    report = {"datasets": {}, "ms_per_picture": {},
              "served": {"confidence_threshold": server_defaults.confidence_threshold,
                         "second_look_views": server_defaults.second_look_views}}
    for ds in datasets:
        result = {}
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
                result[f"{color.label}/served"] = score(
                    served(models, color, images, direct, server_defaults.confidence_threshold,
                           server_defaults.second_look_views), truths)
        report["datasets"][ds.name] = result
    if datasets and datasets[0].images:
        for name, model in models.items():
            report["ms_per_picture"][name] = round(time_per_picture(model, datasets[0].images[0]), 3)
    return report


def load_models(model_dir: Path) -> dict:
    from server.models import load_saved_model
    from training.restore import newest_version
    models = {}
    for color in ALL_COLORS:
        version = newest_version(model_dir / color.label)
        if version is not None:
            models[color.label] = load_saved_model(version)
    return models


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
    lines.append("Model time per picture (batch 1, one TensorFlow thread, best of 5 rounds): " +
                 ", ".join(f"{k} {v} ms" for k, v in report["ms_per_picture"].items()))
    return "\n".join(lines)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", type=Path, default=Path("saved_models"))
    p.add_argument("--data", type=Path, nargs="+", required=True, help="folders with labels.jsonl")
    p.add_argument("--limit", type=int, help="first N pictures of each set")
    p.add_argument("--json", action="store_true")
    p.add_argument("--threads", type=int, default=1, help="TensorFlow threads (1: the bar's 'one core')")
    p.add_argument("--out", type=Path, help="also write accuracy.md and accuracy.json in this folder")
    p.add_argument("--second-look-views", type=int, choices=range(1, 10), metavar="1..9",
                   help="views of the served route's second look (default: the server's default)")
    args = p.parse_args(argv)
    if args.threads:
        import tensorflow as tf
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    models = load_models(args.models)
    report = evaluate(models, [Dataset.load(d, args.limit) for d in args.data], args.second_look_views)
    print(json.dumps(report, indent=2) if args.json else markdown(report))
    if args.out:
        write_report(report, models, args.out)


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


if __name__ == "__main__":
    main()
