"""Soak and faults under load, on a copy of the committed models.

    python bench/reliability.py [--soak 200000] [--soak-chunks 1]

1. Soak: `--soak` requests from 32 callers (ghz); errors and resident memory after warm-up, and
   after each of `--soak-chunks` equal parts of the soak (does memory level off?).
2. Faults under load (ghz running throughout, no error allowed): a new red version dropped in,
   a corrupt blue version, the yellow folder removed (its requests must move to the
   colour-transform route).
3. SIGTERM under load: in-flight calls finish, the process exits within the grace period.
Writes bench/results/reliability.json and .md.
"""
from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.procs import rss_mb, start_server  # noqa: E402
from bench.run import ghz, ghz_binary, requests_from_eval_set  # noqa: E402
from client import CaptchaClient  # noqa: E402
from training.artifacts.restore import newest_version  # noqa: E402


def in_background(fn):
    box = {}
    t = threading.Thread(target=lambda: box.setdefault("result", fn()))
    t.start()
    return t, box


def combine(parts: list[dict]) -> dict:
    """One ghz summary for several runs: counts and status codes added, the rate over the runs'
    whole time, latencies weighted by each run's count (percentiles so combined are approximate
    where runs differ)."""
    if len(parts) == 1:
        return parts[0]
    total = sum(p["count"] for p in parts)
    out = {"count": total, "rps": round(total / sum(p["count"] / p["rps"] for p in parts), 1)}
    for key in ("p50_ms", "p90_ms", "p99_ms", "mean_ms"):
        out[key] = round(sum(p[key] * p["count"] for p in parts) / total, 2)
    out["errors"] = sum(p["errors"] for p in parts)
    status: dict = {}
    for p in parts:
        for code, n in (p["status"] or {}).items():
            status[code] = status.get(code, 0) + n
    out["status"] = status
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--soak", type=int, default=200_000)
    p.add_argument("--soak-chunks", type=int, default=1, help="read resident memory after each of this many parts")
    args = p.parse_args()
    if not 1 <= args.soak_chunks <= args.soak:
        p.error("--soak-chunks must be in 1..--soak")
    binary = ghz_binary()
    data_file = Path(tempfile.mkdtemp()) / "requests.json"
    data_file.write_text(json.dumps(requests_from_eval_set()))
    models = Path(tempfile.mkdtemp(prefix="models-")) / "saved_models"
    shutil.copytree(ROOT / "saved_models", models)
    report = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "command": f"python bench/reliability.py --soak {args.soak} --soak-chunks {args.soak_chunks}"}

    proc, port = start_server("--poll-interval", "1", "--grace", "10", model_dir=str(models))
    ghz(binary, port, data_file, "-c", "32", "-n", "5000")  # warm-up
    rss0 = rss_mb(proc.pid)
    parts, curve = [], []
    for i in range(args.soak_chunks):
        size = args.soak // args.soak_chunks + (1 if i < args.soak % args.soak_chunks else 0)
        parts.append(ghz(binary, port, data_file, "-c", "32", "-n", str(size)))
        curve.append(rss_mb(proc.pid))
    soak = combine(parts)
    report["soak"] = {**soak, "rss_mb_after_warmup": rss0, "rss_mb_after": curve[-1],
                      "rss_growth_mb": round(curve[-1] - rss0, 1), "rss_mb_after_each_part": curve}

    # a request count, not a duration: ghz cancels the calls in flight when a duration ends
    rate = max(50, soak["rps"])
    t, box = in_background(lambda: ghz(binary, port, data_file, "-c", "16", "-n", str(int(rate * 30))))
    time.sleep(4)
    red = newest_version(models / "red")
    shutil.copytree(red, models / "red" / str(int(red.name) + 10))           # new version dropped in
    time.sleep(6)
    blue_bad = models / "blue" / str(int(newest_version(models / "blue").name) + 10)
    blue_bad.mkdir()
    (blue_bad / "saved_model.pb").write_bytes(b"corrupt")                   # corrupt version
    time.sleep(6)
    shutil.move(str(models / "yellow"), str(models.parent / "yellow-removed"))  # colour removed
    time.sleep(4)
    with CaptchaClient(f"127.0.0.1:{port}") as c:
        picture = ROOT / "tests" / "fuzz_corpus" / "seed-0.png"
        yellow = c.recognize(picture, "yellow")
        served = {m["name"]: m["version"] for m in c.list_models()}
    t.join()
    report["faults"] = {**box["result"], "red_version_after_drop_in": served.get("red"),
                        "blue_version_after_corrupt": served.get("blue"),
                        "yellow_route_after_removal": yellow.route, "yellow_model_after_removal": yellow.model}

    t, box = in_background(lambda: ghz(binary, port, data_file, "-c", "16", "-z", "8s"))
    time.sleep(3)
    start = time.time()
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(60)
    t.join()
    report["sigterm"] = {"exit_code": code, "exit_seconds": round(time.time() - start, 2), "grace_seconds": 10,
                         "ghz_status_codes": box["result"]["status"]}
    shutil.rmtree(models.parent, ignore_errors=True)
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "reliability.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
