"""Starting the server for benchmarks and reading its memory."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def start(cmd: list[str], marker: str = "listening on port") -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    if marker not in line:
        proc.kill()
        raise SystemExit(f"{' '.join(cmd[:3])} did not start: {line!r}")
    return proc, int(line.rsplit(" ", 1)[1])


def start_server(*flags: str, model_dir: str = "saved_models") -> tuple[subprocess.Popen, int]:
    return start([sys.executable, "-m", "server", "--port", "0", "--model-dir", model_dir,
                  "--log-level", "WARNING", *flags])


def cpu_description() -> str:
    """This machine's CPU in a few words: cores, model name and the vector units that matter here."""
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    name = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), "CPU")
    flags = set(next((line.split(":", 1)[1].split() for line in info.splitlines() if line.startswith("flags")), []))
    units = [label for flag, label in (("avx2", "AVX2"), ("avx512f", "AVX-512"), ("amx_bf16", "AMX")) if flag in flags]
    return f"{os.cpu_count()} cores, {name}" + (f" ({', '.join(units)})" if units else "")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0
