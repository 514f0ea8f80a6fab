"""Load benchmark with ghz, the tool our users use.

    python bench/run.py [--quick]       (or: make bench)

Installs ghz (`go install`) when missing, starts the server on the committed models, runs the
scenarios (1, 8 and 32 callers on Recognize; a fixed rate at 80% of the measured maximum for
60 s; RecognizeStream; pictures of all four colours from the frozen evaluation set), measures
the two reference figures (raw batch throughput of one SavedModel in this process, a trivial
gRPC echo server under the same load) and writes bench/results/latest.md and latest.json.
"""
from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results"

from bench.procs import cpu_description, rss_mb, start, start_server  # noqa: E402
from server.models import DEFAULT_PRECISION  # noqa: E402
METHOD = "captcha.v1.CaptchaService.Recognize"
STREAM = "captcha.v1.CaptchaService.RecognizeStream"
DIRECT = "Recognize, 32 callers, direct route only (--confidence-threshold 0)"
COLORS = {"red": "COLOR_RED", "yellow": "COLOR_YELLOW", "blue": "COLOR_BLUE", "black": "COLOR_BLACK"}


def ghz_binary() -> str:
    found = shutil.which("ghz") or str(Path(os.popen("go env GOPATH").read().strip() or "~/go") / "bin" / "ghz")
    if not Path(found).exists():
        print("installing ghz with go install ...", flush=True)
        subprocess.run(["go", "install", "github.com/bojand/ghz/cmd/ghz@latest"], check=True)
    return found


def requests_from_eval_set(count: int = 64) -> list[dict]:
    """Real evaluation pictures, each asked for a colour it contains, all four colours mixed."""
    from training.synth.eval_sets import draw
    folder = Path(tempfile.mkdtemp(prefix="bench-eval-"))
    draw("90x35", folder, count, progress=False)
    rows = [json.loads(line) for line in (folder / "labels.jsonl").read_text(encoding="utf-8").splitlines()]
    out = []
    for i, row in enumerate(rows):
        present = [c for c in COLORS if row["answers"][c]]
        color = present[i % len(present)]
        image = base64.b64encode((folder / row["file"]).read_bytes()).decode()
        out.append({"image": image, "color": COLORS[color], "request_id": f"bench-{i}"})
    shutil.rmtree(folder)
    return out


def ghz(binary: str, port: int, data_file: Path, *args: str, method: str = METHOD, connections: int = 4) -> dict:
    cmd = [binary, "--insecure", "--call", method, "--data-file", str(data_file), "--format", "json",
           "--connections", str(connections), *args, f"127.0.0.1:{port}"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    if out.returncode != 0 and not out.stdout:
        raise SystemExit(f"ghz failed: {out.stderr}")
    report = json.loads(out.stdout)
    lat = {d["percentage"]: d["latency"] / 1e6 for d in report.get("latencyDistribution") or []}
    errors = sum(v for k, v in (report.get("statusCodeDistribution") or {}).items() if k != "OK")
    return {"count": report["count"], "rps": round(report["rps"], 1), "p50_ms": round(lat.get(50, 0), 2),
            "p90_ms": round(lat.get(90, 0), 2), "p99_ms": round(lat.get(99, 0), 2),
            "mean_ms": round(report["average"] / 1e6, 2), "errors": errors,
            "status": report.get("statusCodeDistribution")}


def raw_model_throughput(seconds: float = 8.0, batch: int = 32, runtime: str = "auto",
                         precision: str = DEFAULT_PRECISION, threads: int = 0) -> dict:
    """The newest red model on ``runtime`` (OpenVINO: at ``precision`` with ``threads``), batches of
    ``batch`` in this process: the ceiling the server approaches."""
    import numpy as np
    from captcha_core.versions import newest
    from server.models import load_model
    model = load_model(newest(ROOT / "saved_models" / "red"), runtime, precision, threads)
    x = np.random.default_rng(0).integers(0, 255, (batch, model.spec.input_height, model.spec.input_width, 3),
                                          dtype=np.uint8)
    one = x[:1]
    for _ in range(20):
        model.read(one)
    t, n = time.perf_counter(), 0
    while time.perf_counter() - t < 3:
        model.read(one)
        n += 1
    single_ms = (time.perf_counter() - t) / n * 1000
    model.read(x)
    t, n = time.perf_counter(), 0
    while time.perf_counter() - t < seconds:
        model.read(x)
        n += batch
    return {"batch": batch, "pictures_per_s": round(n / (time.perf_counter() - t), 1),
            "batch1_ms": round(single_ms, 3), "runtime": model.runtime}


def markdown(r: dict) -> str:
    lines = [f"# Benchmark, {r['date']}", "", f"`{r['command']}` on {r['machine']}.", "",
             "| scenario | calls | pictures/s | p50 ms | p90 ms | p99 ms | errors |", "|---|---|---|---|---|---|---|"]
    for name, s in r["scenarios"].items():
        lines.append(f"| {name} | {s['count']} | {s['rps']} | {s['p50_ms']} | {s['p90_ms']} | {s['p99_ms']} | "
                     f"{s['errors']} |")
    raw, echo, tf_raw = r["raw_model"], r["echo"], r["raw_model_tensorflow"]
    start = r["server"]
    lines += ["", f"Server ({start['runtime']}): answering {start['ready_s']} s after start; resident memory "
                  f"{start['rss_mb_ready']} MB when ready, {start['rss_mb_after']} MB after the scenarios.",
              "", "Reference figures measured in the same run:", "",
              f"- raw model (red, {raw['runtime']}), batch {raw['batch']}, in one Python process: "
              f"**{raw['pictures_per_s']} pictures/s**; batch 1: {raw['batch1_ms']} ms",
              f"- the same on TensorFlow: {tf_raw['pictures_per_s']} pictures/s; batch 1: {tf_raw['batch1_ms']} ms",
              f"- trivial gRPC echo (Python, same machine): 1 caller p50 {echo['one']['p50_ms']} ms, "
              f"32 callers {echo['many']['rps']} calls/s",
              f"- server throughput at 32 callers / raw model throughput: **{r['fraction_of_raw']:.0%}**",
              f"- lone-caller p50 {r['scenarios']['Recognize, 1 caller']['p50_ms']} ms against model batch-1 time + "
              f"echo p50 = {r['lone_floor_ms']:.2f} ms"]
    lone, many = r["scenarios"]["Recognize, 1 caller"], r["scenarios"]["Recognize, 32 callers"]
    direct = r["scenarios"][DIRECT]
    verdict = lambda ok: "met" if ok else "NOT met"  # noqa: E731
    echo_share = direct["rps"] / echo["many"]["rps"]
    lines += ["", "Bars (issue #16):", "",
              f"- lone-caller p50 <= 1.5 ms: {lone['p50_ms']} ms, {verdict(lone['p50_ms'] <= 1.5)}",
              f"- 32 callers >= 1,000 pictures/s, p99 <= 50 ms, no errors: {many['rps']}/s, p99 {many['p99_ms']} ms, "
              f"{many['errors']} errors, {verdict(many['rps'] >= 1000 and many['p99_ms'] <= 50 and not many['errors'])}",
              f"- direct route only, 32 callers >= 2,000 pictures/s and >= 50% of the echo: {direct['rps']}/s, "
              f"{echo_share:.0%}, {verdict(direct['rps'] >= 2000 and echo_share >= 0.5)}",
              f"- resident memory <= 300 MB, answering within 3 s of start: {start['rss_mb_after']} MB, "
              f"{start['ready_s']} s, {verdict(start['rss_mb_after'] <= 300 and start['ready_s'] <= 3)}"]
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="short runs (a smoke test of the setup)")
    p.add_argument("--rate-seconds", type=int, default=60)
    p.add_argument("--server-flags", default="", help='extra server flags, e.g. "--confidence-threshold 0"')
    p.add_argument("--out", default="latest", help="results name under bench/results/")
    args = p.parse_args()
    binary = ghz_binary()
    n = 300 if args.quick else 1
    data_file = Path(tempfile.mkdtemp()) / "requests.json"
    data = requests_from_eval_set()
    data_file.write_text(json.dumps(data))
    scenarios = {}
    began = time.perf_counter()
    proc, port = start_server(*args.server_flags.split())
    server = {"ready_s": round(time.perf_counter() - began, 2), "rss_mb_ready": rss_mb(proc.pid)}
    try:
        ghz(binary, port, data_file, "-c", "4", "-n", "400")  # warm-up
        scenarios["Recognize, 1 caller"] = ghz(binary, port, data_file, "-c", "1", "-n", str(max(200, 2000 // n)), connections=1)
        scenarios["Recognize, 8 callers"] = ghz(binary, port, data_file, "-c", "8", "-n", str(max(400, 8000 // n)))
        scenarios["Recognize, 32 callers"] = ghz(binary, port, data_file, "-c", "32", "-n", str(max(800, 20000 // n)))
        rate = int(0.8 * scenarios["Recognize, 32 callers"]["rps"])
        seconds = 10 if args.quick else args.rate_seconds
        scenarios[f"Recognize, fixed {rate}/s for {seconds} s"] = ghz(
            binary, port, data_file, "-c", "64", "--rps", str(rate), "-n", str(rate * seconds))
        scenarios["RecognizeStream, 8 streams x 250"] = ghz(
            binary, port, data_file, "-c", "8", "-n", str(max(16, 80 // n)), "--stream-call-count", "250",
            method=STREAM)
        per_stream = scenarios["RecognizeStream, 8 streams x 250"]
        per_stream["rps"] = round(per_stream["rps"] * 250, 1)  # ghz counts streams; report pictures/s
        server["rss_mb_after"] = rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(30)
    proc, port = start_server("--confidence-threshold", "0", *args.server_flags.split())
    try:
        ghz(binary, port, data_file, "-c", "4", "-n", "400")  # warm-up
        scenarios[DIRECT] = ghz(binary, port, data_file, "-c", "32", "-n", str(max(800, 20000 // n)))
    finally:
        proc.terminate()
        proc.wait(30)
    echo_proc, echo_port = start([sys.executable, "bench/echo_server.py", "0"])
    try:
        echo = {"one": ghz(binary, echo_port, data_file, "-c", "1", "-n", "2000", connections=1),
                "many": ghz(binary, echo_port, data_file, "-c", "32", "-n", "10000")}
    finally:
        echo_proc.terminate()
    from server.config import parse
    served = parse(args.server_flags.split())
    raw = raw_model_throughput(runtime=served.runtime, precision=served.precision, threads=served.openvino_threads)
    server["runtime"] = raw["runtime"]
    tf_raw = raw_model_throughput(runtime="tensorflow")
    result = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "command": "python bench/run.py" + (" --quick" if args.quick else "")
              + (f" --server-flags '{args.server_flags}'" if args.server_flags else ""),
              "machine": cpu_description(), "scenarios": scenarios, "raw_model": raw, "echo": echo,
              "raw_model_tensorflow": tf_raw, "server": server,
              "fraction_of_raw": scenarios["Recognize, 32 callers"]["rps"] / raw["pictures_per_s"],
              "lone_floor_ms": raw["batch1_ms"] + echo["one"]["p50_ms"]}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{args.out}.json").write_text(json.dumps(result, indent=2))
    (RESULTS / f"{args.out}.md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
