"""Capacity for planning a fleet: pictures/s per core under both policies, measured with the
server pinned to 1 and to 2 cores (``taskset``), and the latency at the autoscaler's target load
(70% of the measured maximum); then replicas and cores for 1k / 10k / 100k pictures/s.

    python bench/capacity.py          # writes bench/results/capacity.json and docs/capacity.md

ghz runs beside the server, unpinned, as in ``bench/run.py``; on this 2-core machine it shares
the cores when the server has both, so the 2-core figures are the lower bound.
"""
from __future__ import annotations

import json
import math
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.procs import cpu_description, start  # noqa: E402
from bench.run import RESULTS, ghz, ghz_binary, requests_from_eval_set  # noqa: E402

POLICIES = {"default (second look)": [], "direct route only": ["--confidence-threshold", "0"]}
TARGET_LOAD = 0.7        # the HorizontalPodAutoscaler's CPU target (deploy/k8s/base/hpa.yaml)
CORES_PER_POD = 1        # the Deployment's CPU limit
DEMANDS = (1_000, 10_000, 100_000)


def measure(binary: str, data_file: Path, cores: int, flags: list[str], rate_seconds: int) -> dict:
    cpus = ",".join(str(c) for c in range(cores))
    proc, port = start(["taskset", "-c", cpus, sys.executable, "-m", "server", "--port", "0", "--model-dir",
                        "saved_models", "--log-level", "WARNING", *flags])
    try:
        ghz(binary, port, data_file, "-c", "4", "-n", "300")  # warm-up
        peak = ghz(binary, port, data_file, "-c", "32", "-n", "3000")
        rate = max(1, int(TARGET_LOAD * peak["rps"]))
        at_target = ghz(binary, port, data_file, "-c", "64", "--rps", str(rate), "-n", str(rate * rate_seconds))
    finally:
        proc.terminate()
        proc.wait(30)
    return {"cores": cores, "peak": peak, "rate": rate, "at_target": at_target,
            "per_core": round(peak["rps"] / cores, 1)}


def plan(per_core: float) -> list[dict]:
    """Cores and pods for each demand, each pod kept at the autoscaler's target load."""
    out = []
    for demand in DEMANDS:
        cores = demand / (per_core * TARGET_LOAD)
        out.append({"demand": demand, "cores": math.ceil(cores), "pods": math.ceil(cores / CORES_PER_POD)})
    return out


def markdown(result: dict) -> str:
    lines = [f"# Capacity ({result['date']})", "",
             f"`{result['command']}` on {result.get('machine', 'the development machine')}, "
             "models as committed on OpenVINO f32, pictures of all four colours from the frozen 90x35 set. "
             "The server is pinned to 1 or 2 cores; ghz runs beside it unpinned (with 2 server cores it shares "
             "them, so those figures are a lower bound). *At 70%*: a fixed rate of 70% of the measured maximum, "
             "the autoscaler's CPU target.", "",
             "| policy | server cores | max pictures/s (32 callers) | per core | p99 at the max (ms) | "
             "rate at 70% | p50 at 70% (ms) | p99 at 70% (ms) | errors |", "|---|---|---|---|---|---|---|---|---|"]
    for policy, runs in result["runs"].items():
        for r in runs:
            lines.append(f"| {policy} | {r['cores']} | {r['peak']['rps']} | {r['per_core']} | {r['peak']['p99_ms']} | "
                         f"{r['rate']}/s | {r['at_target']['p50_ms']} | {r['at_target']['p99_ms']} | "
                         f"{r['peak']['errors'] + r['at_target']['errors']} |")
    lines += ["", f"Replicas for a demand, each pod ({CORES_PER_POD} core{'s' if CORES_PER_POD > 1 else ''}, "
              "`deploy/k8s`) at 70% CPU, from the 1-core figure per core (the one free of ghz's share):", "",
              f"| policy | pictures/s | cores | {CORES_PER_POD}-core pods |", "|---|---|---|---|"]
    for policy, rows in result["plans"].items():
        for row in rows:
            lines.append(f"| {policy} | {row['demand']:,} | {row['cores']:,} | {row['pods']:,} |")
    lines += ["", "The p99 to expect is the *p99 at 70%* column: the default policy's second look reads an unsure "
              "picture up to 18 times, so its tail is long; the direct route's is short. A caller that needs a "
              "short tail runs the direct route (`--confidence-threshold 0`) and refreshes the unsure pictures "
              "(the advice), at some accuracy (docs/results.md). Per-core figures depend on the CPU "
              "(AVX-512 and AMX most: docs/results.md): measure on the fleet's nodes with this command."]
    return "\n".join(lines) + "\n"


def main() -> None:
    binary = ghz_binary()
    data_file = Path(tempfile.mkdtemp()) / "requests.json"
    data_file.write_text(json.dumps(requests_from_eval_set()))
    runs = {policy: [measure(binary, data_file, cores, flags, 20) for cores in (1, 2)]
            for policy, flags in POLICIES.items()}
    result = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "command": "python bench/capacity.py",
              "machine": cpu_description(),
              "runs": runs, "plans": {policy: plan(r[0]["per_core"]) for policy, r in runs.items()}}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "capacity.json").write_text(json.dumps(result, indent=2) + "\n")
    text = markdown(result)
    (ROOT / "docs" / "capacity.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
