"""Fuzzes a server started on the committed models: at least 10,000 cases.

    python bench/fuzz.py [--cases 10000]

Every case must get OK or INVALID_ARGUMENT with a message; afterwards the server must still
answer and its resident memory must be flat: a first round of cases warms the server up (threads,
allocator pools, batch shapes), then memory is read before and after the counted round.
Writes bench/results/fuzz.json.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import grpc  # noqa: E402

from bench.fuzz_cases import cases  # noqa: E402
from bench.procs import rss_mb, start_server  # noqa: E402
from captcha.v1 import captcha_pb2 as pb  # noqa: E402
from captcha.v1 import captcha_pb2_grpc as pb_grpc  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--cases", type=int, default=10_000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--warm-up", type=int, default=10_000, help="cases sent before memory is first read")
    args = p.parse_args()
    proc, port = start_server()
    stub = pb_grpc.CaptchaServiceStub(grpc.insecure_channel(f"127.0.0.1:{port}",
                                                            [("grpc.max_send_message_length", 8 << 20)]))
    valid = pb.RecognizeRequest(image=(ROOT / "tests/fuzz_corpus/seed-0.png").read_bytes(), color=1)
    def one(item):
        kind, fields = item
        try:
            stub.Recognize(pb.RecognizeRequest(**fields), timeout=30)
            return kind, "OK", True
        except grpc.RpcError as err:
            return kind, err.code().name, bool(err.details())

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(one, cases(args.seed + 1_000_000, args.warm_up)))  # other seed: not counted
        rss_before = rss_mb(proc.pid)
        start = time.time()
        results = list(pool.map(one, cases(args.seed, args.cases)))
    codes = Counter(code for _, code, _ in results)
    bad = [(k, c) for k, c, has_message in results if c not in ("OK", "INVALID_ARGUMENT") or not has_message]
    stub.Recognize(valid)  # still alive
    rss_after = rss_mb(proc.pid)
    proc.terminate()
    proc.wait(30)
    report = {"cases": len(results), "seconds": round(time.time() - start, 1), "codes": dict(codes),
              "unexpected": len(bad), "examples_unexpected": bad[:10], "warm_up_cases": args.warm_up, "rss_mb_before": rss_before,
              "rss_mb_after": rss_after, "alive_after": True,
              "by_kind": {k: dict(Counter(c for kk, c, _ in results if kk == k)) for k in sorted({r[0] for r in results})}}
    (ROOT / "bench" / "results").mkdir(exist_ok=True)
    (ROOT / "bench" / "results" / "fuzz.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
