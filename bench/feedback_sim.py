"""Proof by simulation: does learning from the platform's verdicts raise accuracy on pictures the
models never saw the like of?

    python bench/feedback_sim.py [--counts 1000 5000 20000] [--minutes 10 20 45] [--test 1000]

A stand-in platform draws pictures in a style training never used: faces held out of training
entirely (``STAND_IN_FACES``: serif, narrow, oblique and mono Latin faces, a bold Chinese sans)
and traits of the real glyphs pushed further (heavier, extruded outlines more often, larger
rotations). A stand-in crawler asks the server (a copy of the committed models, with a feedback
store) for one colour the picture holds, submits the answer, or, where the answer is unsure
(the server's advice is to refresh), a stand-in solving service's reading (right 85% of the time), checks the
submitted text against the stand-in's own label, and reports the verdict as a crawler would.
After each count of verdicts the models are fine-tuned (``training.fit.finetune``; the server picks
up any new version) and exact match is measured again on fresh stand-in pictures (another seed).
Writes docs/feedback-sim.md, .json and .png.
"""
from __future__ import annotations

import argparse
import io
import json
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.procs import start_server  # noqa: E402
from captcha_core.colors import ALL_COLORS  # noqa: E402
from client import CaptchaClient  # noqa: E402
from training.synth import charset  # noqa: E402
from training.synth.fonts import HELD_OUT_FACES  # noqa: E402
from training.synth.render import CaptchaRenderer  # noqa: E402
from training.synth.style import WIDER  # noqa: E402

STAND_IN_FACES = HELD_OUT_FACES
STAND_IN_STYLE = replace(WIDER, fatten_share=0.6, extrude_share=0.8)
SOLVER_RIGHT = 0.85   # a solving service's (people's) share of right readings of this captcha
TEST_SEED, CRAWL_SEED = 7_700_001, 7_800_001


def stand_in_pictures(count: int, seed: int):
    """(png bytes, asked colour, true answer) for ``count`` stand-in pictures, 90x35 and 120x50."""
    rng = np.random.default_rng(seed)
    renderers = (CaptchaRenderer(90, 35, STAND_IN_STYLE, STAND_IN_FACES),
                 CaptchaRenderer(120, 50, STAND_IN_STYLE, STAND_IN_FACES))
    out = []
    for i in range(count):
        sample = renderers[i % 4 == 3].render(rng)
        present = [c for c in ALL_COLORS if sample.answer(c)]
        color = present[int(rng.integers(0, len(present)))]
        buf = io.BytesIO()
        Image.fromarray(sample.image).save(buf, format="PNG")
        out.append((buf.getvalue(), color.label, sample.answer(color)))
    return out


def solver_reading(truth: str, rng: np.random.Generator) -> str:
    """A stand-in solving service: right with SOLVER_RIGHT, else one character wrong."""
    if rng.random() < SOLVER_RIGHT or not truth:
        return truth
    pool = charset.LATIN_DRAWN
    i = int(rng.integers(0, len(truth)))
    wrong = pool[(pool.find(truth[i]) + 1 + int(rng.integers(0, len(pool) - 1))) % len(pool)]
    return truth[:i] + wrong + truth[i + 1:]


def measure(client: CaptchaClient, test) -> dict:
    """Exact match per colour (and the mean over colours) on the test pictures."""
    right = {c.label: [0, 0] for c in ALL_COLORS}
    for png, color, truth in test:
        right[color][0] += client.recognize(png, color).text.upper() == truth.upper()
        right[color][1] += 1
    per = {c: r / n for c, (r, n) in right.items() if n}
    return {"per_color": per, "mean": float(np.mean(list(per.values())))}


def crawl(client: CaptchaClient, pictures, rng: np.random.Generator) -> dict:
    """Asks, submits (ours, or the solver's where unsure), reports the verdict."""
    counts = {"ours": 0, "solver": 0, "accepted": 0}
    for png, color, truth in pictures:
        result = client.recognize(png, color)
        submitted = result.text if result.submit else solver_reading(truth, rng)
        ours = submitted.upper() == result.text.upper()
        accepted = submitted.upper() == truth.upper()
        client.report(result, accepted, None if ours else submitted)
        counts["ours" if ours else "solver"] += 1
        counts["accepted"] += accepted
    return counts


def wait_for_versions(client: CaptchaClient, versions: dict, seconds: float = 60) -> dict:
    deadline = time.time() + seconds
    while time.time() < deadline:
        now = {m["name"]: m["version"] for m in client.list_models() if m["loaded"]}
        if now != versions:
            return now
        time.sleep(1)
    return versions


def run(counts: list[int], minutes: list[float], test_count: int, frozen_limit: int, extra: tuple[str, ...] = ()) -> dict:
    work = Path(tempfile.mkdtemp(prefix="feedback-sim-"))
    models, store = work / "models", work / "feedback.db"
    shutil.copytree(ROOT / "saved_models", models)
    test = stand_in_pictures(test_count, TEST_SEED)
    crawl_pictures = stand_in_pictures(max(counts), CRAWL_SEED)
    proc, port = start_server("--feedback-store", str(store), "--poll-interval", "1",
                              model_dir=str(models))
    rng, rows, done = np.random.default_rng(1), [], 0
    try:
        with CaptchaClient(f"127.0.0.1:{port}", timeout=30) as client:
            versions = {m["name"]: m["version"] for m in client.list_models() if m["loaded"]}
            rows.append({"verdicts": 0, **measure(client, test), "versions": versions})
            print(json.dumps(rows[-1]), flush=True)
            for count, limit in zip(counts, minutes):
                crawled = crawl(client, crawl_pictures[done:count], rng)
                done = count
                tuned = finetune(store, models, limit, frozen_limit, work / f"finetune-{count}.json", extra)
                versions = wait_for_versions(client, versions) if tuned["exported"] else versions
                rows.append({"verdicts": count, **measure(client, test), "versions": versions, "crawl": crawled,
                             "finetune": {k: tuned.get(k) for k in ("exported", "reason", "held_out_gain_points",
                                                                    "frozen_drop_points", "frozen_set_drop_points", "steps",
                                                                    "learned_from", "recipe")}, "minutes": limit})
                print(json.dumps(rows[-1]), flush=True)
    finally:
        proc.terminate()
        proc.wait(30)
    return {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "minutes_per_finetune": minutes,
            "test_pictures": test_count, "finetune_args": list(extra), "rows": rows}


def finetune(store: Path, models: Path, minutes: float, frozen_limit: int, report: Path,
             extra: tuple[str, ...] = ()) -> dict:
    """``extra``: more ``training.fit.finetune`` arguments (a recipe to try: ``--lr 1e-4``)."""
    cmd = [sys.executable, "-m", "training.fit.finetune", "--store", str(store), "--models", str(models),
           "--minutes", str(minutes), "--report", str(report), *extra]
    if frozen_limit:
        cmd += ["--frozen-limit", str(frozen_limit)]
    subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return json.loads(report.read_text())


def minutes_text(result: dict) -> str:
    minutes = result["minutes_per_finetune"]
    return " / ".join(f"{m:g}" for m in minutes) if isinstance(minutes, list) else f"{minutes:g}"


def write(result: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "feedback-sim.json").write_text(json.dumps(result, indent=2) + "\n")
    colors = [c.label for c in ALL_COLORS]
    lines = [f"# Learning from verdicts, simulated ({result['date']})", "",
             f"`python bench/feedback_sim.py` ({minutes_text(result)} minutes of fine-tuning after each "
             f"count, {result['test_pictures']} fresh stand-in pictures measured each time). Exact match on the "
             "stand-in pictures through the server (default policy):", "",
             "| verdicts | " + " | ".join(colors) + " | mean | change (points) | fine-tune: held-out verdicts "
             "(points) | largest frozen set drop (points, mean over its colours) | exported |",
             "|---|" + "---|" * (len(colors) + 5)]
    base = result["rows"][0]["mean"]
    for r in result["rows"]:
        tuned = r.get("finetune", {})
        drops = tuned.get("frozen_set_drop_points") or {}
        worst = max(drops, key=drops.get) if drops else None
        lines.append(f"| {r['verdicts']} | " + " | ".join(f"{100 * r['per_color'].get(c, 0):.1f}%" for c in colors)
                     + f" | {100 * r['mean']:.1f}% | {100 * (r['mean'] - base):+.1f} | "
                     + (f"{tuned.get('held_out_gain_points', 0):+.2f} ({tuned.get('steps')} steps, "
                        f"{tuned.get('learned_from')} samples) | " if tuned else "— | ")
                     + (f"{drops[worst]:.2f} ({worst}) | " if worst else "— | ")
                     + (("yes" if tuned.get("exported") else f"no: {tuned.get('reason')}") if tuned else "—") + " |")
    (out / "feedback-sim.md").write_text("\n".join(lines) + "\n")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    xs = [r["verdicts"] for r in result["rows"]]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for c in colors:
        ax.plot(xs, [100 * r["per_color"].get(c, 0) for r in result["rows"]], marker="o", label=c)
    ax.plot(xs, [100 * r["mean"] for r in result["rows"]], marker="s", color="k", label="mean")
    ax.set_xlabel("verdicts collected")
    ax.set_ylabel("exact match on stand-in pictures (%)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "feedback-sim.png", dpi=100)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--counts", type=int, nargs="+", default=[1000, 5000, 20000])
    p.add_argument("--minutes", type=float, nargs="+", default=[10.0, 20.0, 45.0],
                   help="fine-tuning after each count: one figure for all, or one per count")
    p.add_argument("--test", type=int, default=1000, help="stand-in pictures measured each time")
    p.add_argument("--frozen-limit", type=int, default=0, help="pictures of each frozen set the fine-tune checks (0: all)")
    p.add_argument("--out", type=Path, default=ROOT / "docs")
    p.add_argument("--render", type=Path, help="only write the table and plot again from this feedback-sim.json")
    p.add_argument("--finetune-args", default="", help='more training.fit.finetune arguments, e.g. "--lr 1e-4"')
    args = p.parse_args()
    counts = sorted(args.counts)
    if len(args.minutes) not in (1, len(counts)):
        p.error(f"--minutes: one figure, or one per count ({len(counts)})")
    minutes = args.minutes * len(counts) if len(args.minutes) == 1 else args.minutes
    result = json.loads(args.render.read_text()) if args.render else \
        run(counts, minutes, args.test, args.frozen_limit, tuple(args.finetune_args.split()))
    write(result, args.out)
    print((args.out / "feedback-sim.md").read_text())


if __name__ == "__main__":
    main()
