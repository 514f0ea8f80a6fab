"""The two runtimes on the frozen evaluation sets: exact match per set, colour and route for each,
and how many answers are identical.

    python bench/runtimes.py [--data data/eval/90x35 data/eval/120x50 data/eval/wider-90x35] [--limit N]
                             [--precision f32|bf16|mixed|auto] [--out NAME]

Routes: direct (the colour's model), transform (through the red model) and served (the data plane
with the server's defaults, second look included). OpenVINO runs at ``--precision`` (the server's
default unless given). Writes bench/results/runtimes[-PRECISION].md and .json.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from captcha_core.colors import ALL_COLORS, Color  # noqa: E402
from captcha_core.transforms import to_red  # noqa: E402
from training.evaluate.accuracy import loaded_models, open_plane, read_all, score, served  # noqa: E402
from server.runtime_openvino import PRECISIONS  # noqa: E402
from training.synth.eval_sets import Dataset  # noqa: E402

RUNTIMES = ("tensorflow", "openvino")
DEFAULT_SETS = [ROOT / "data" / "eval" / name for name in ("90x35", "120x50", "wider-90x35")]


def answers(plane, ds: Dataset) -> dict:
    """(colour/route) -> (texts, truths) on ``ds``."""
    models, out = loaded_models(plane), {}
    for color in ALL_COLORS:
        idx = [i for i, a in enumerate(ds.answers) if a[color.label]]
        images, truths = [ds.images[i] for i in idx], [ds.answers[i][color.label] for i in idx]
        if not images:
            continue
        out[f"{color.label}/direct"] = ([r.text for r in read_all(models[color.label], images)], truths)
        if color is not Color.RED:
            out[f"{color.label}/transform"] = (
                [r.text for r in read_all(models["red"], [to_red(i, color) for i in images])], truths)
        out[f"{color.label}/served"] = ([a.text for a in served(plane, color, images)], truths)
    return out


def compare(data: list[Path], limit: int | None, precision: str | None = None) -> dict:
    sets = [Dataset.load(d, limit) for d in data]
    by_runtime = {}
    for runtime in RUNTIMES:
        plane = open_plane(ROOT / "saved_models", runtime, precision=precision)
        by_runtime[runtime] = {ds.name: answers(plane, ds) for ds in sets}
        by_runtime[runtime]["_runtime"] = sorted({m.runtime for m in loaded_models(plane).values()})
        plane.manager.close()
    rows, same, total = [], 0, 0
    for ds in sets:
        for key, (tf_texts, truths) in by_runtime["tensorflow"][ds.name].items():
            ov_texts = by_runtime["openvino"][ds.name][key][0]
            identical = sum(a == b for a, b in zip(tf_texts, ov_texts))
            same, total = same + identical, total + len(tf_texts)
            tf_exact, ov_exact = score(tf_texts, truths)["exact"], score(ov_texts, truths)["exact"]
            rows.append({"set": ds.name, "route": key, "pictures": len(truths), "tensorflow": tf_exact,
                         "openvino": ov_exact, "difference": ov_exact - tf_exact, "identical": identical / len(truths)})
    return {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "rows": rows, "identical": same / total,
            "answers": total, "runtimes": {r: by_runtime[r]["_runtime"] for r in RUNTIMES},
            "largest_difference": max(abs(r["difference"]) for r in rows)}


def markdown(report: dict) -> str:
    lines = [f"# TensorFlow and OpenVINO on the frozen sets, {report['date']}", "",
             f"`{report.get('command', 'python bench/runtimes.py')}`; runtimes: {report['runtimes']}.", "",
             f"Identical answers: **{report['identical']:.2%}** of {report['answers']}; largest difference in exact "
             f"match: **{100 * report['largest_difference']:.2f} points**.", "",
             "| set | colour/route | pictures | TensorFlow exact | OpenVINO exact | difference (points) | identical |",
             "|---|---|---|---|---|---|---|"]
    for r in report["rows"]:
        lines.append(f"| {r['set']} | {r['route']} | {r['pictures']} | {100 * r['tensorflow']:.1f}% | "
                     f"{100 * r['openvino']:.1f}% | {100 * r['difference']:+.2f} | {r['identical']:.2%} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, nargs="+", default=DEFAULT_SETS)
    p.add_argument("--limit", type=int)
    p.add_argument("--precision", choices=PRECISIONS)
    p.add_argument("--out", help="results name under bench/results/ (default: runtimes, or runtimes-PRECISION)")
    args = p.parse_args()
    report = compare(args.data, args.limit, args.precision)
    report["command"] = "python bench/runtimes.py" + (f" --precision {args.precision}" if args.precision else "")
    name = args.out or ("runtimes" + (f"-{args.precision}" if args.precision else ""))
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(report, indent=2))
    (out / f"{name}.md").write_text(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
