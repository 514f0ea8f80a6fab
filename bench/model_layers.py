"""Where one model's time goes, layer by layer, on the OpenVINO runtime.

    python bench/model_layers.py [--color red] [--precision f32] [--batch 1] [--rounds 200] [--out FILE]

Compiles the newest version of one colour as the server does (the ``logits`` signature ending in
the logits and each step's best log-probability, OpenVINO's latency setting, every core), times
whole inferences without profiling, then numpy's argmax over the logits (the best class at each
step, which the server takes after the inference), then the inference again with OpenVINO's
per-layer counters, and prints (and writes to ``--out``) the wall times, the sum of the layers'
times (the rest is the call itself and the threads' hand-offs) and the heaviest layers.
"""
from __future__ import annotations

import argparse
import collections
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from captcha_core.versions import newest  # noqa: E402
from captcha_core.ctc import best_classes  # noqa: E402
from server.runtime_openvino import _core, choose_precision, convert_logits, with_best_log_p  # noqa: E402


def median_seconds(call, rounds: int, warm_up: int = 20) -> float:
    """Median seconds of ``call()`` over ``rounds`` calls, after ``warm_up`` calls not counted."""
    for _ in range(warm_up):
        call()
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def infer(request, images: np.ndarray):
    return lambda: request.infer({0: images}, share_inputs=True, share_outputs=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", type=Path, default=ROOT / "saved_models")
    p.add_argument("--color", default="red")
    p.add_argument("--precision", default="f32", choices=("f32", "bf16"))
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--rounds", type=int, default=200)
    p.add_argument("--top", type=int, default=15)
    p.add_argument("--out", type=Path, help="also write the report here")
    args = p.parse_args()
    report = measure(args)
    print(report)
    if args.out:
        args.out.write_text(report + "\n")


def measure(args) -> str:
    folder = newest(args.models / args.color)
    model = with_best_log_p(convert_logits(folder.resolve()).clone())
    config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": choose_precision(args.precision, _core())}
    rng = np.random.default_rng(0)
    height, width = (int(d.get_length()) for d in model.input(0).get_partial_shape()[1:3])
    images = rng.integers(0, 256, (args.batch, height, width, 3), dtype=np.uint8)
    plain_request = _core().compile_model(model, "CPU", config).create_infer_request()
    plain = median_seconds(infer(plain_request, images), args.rounds)
    logits = plain_request.get_output_tensor(0).data
    argmax = median_seconds(lambda: best_classes(logits), args.rounds, warm_up=0)
    request = _core().compile_model(model, "CPU", {**config, "PERF_COUNT": True}).create_infer_request()
    profiled = median_seconds(infer(request, images), 20)
    layers: collections.Counter = collections.Counter()
    for _ in range(args.rounds):
        request.infer({0: images}, share_inputs=True, share_outputs=True)
        for info in request.profiling_info:
            layers[(info.node_type, info.exec_type, info.node_name)] += info.real_time.total_seconds() / args.rounds
    total = sum(layers.values())
    lines = [f"{args.color} v{folder.name}, {args.precision}, batch {args.batch}: {1e3 * plain:.3f} ms an inference "
             f"and {1e3 * argmax:.3f} ms numpy's argmax ({args.batch / (plain + argmax):.0f} pictures/s); with the "
             f"layer counters {1e3 * profiled:.3f} ms an inference, of which the layers {1e3 * total:.3f} ms"]
    for (kind, kernel, name), seconds in layers.most_common(args.top):
        lines.append(f"{1e3 * seconds:8.3f} ms {100 * seconds / total:5.1f}%  {kind:16s} {kernel:24s} {name[:60]}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
