"""Command line: ``python -m client recognize picture.png --color red --server host:port``.

Exit status: 0 when every picture was read, 1 when a picture was refused (the others are still
read; each refusal names its file) or the service could not answer, 2 for a usage error."""
from __future__ import annotations

import argparse
import json
import sys

from . import CaptchaClient, CaptchaError, InvalidArgument


def _seconds(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError("must be a number of seconds above 0")
    return value


def _threshold(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError("must be in 0..1")
    return value


def main(argv=None) -> int:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--server", default="localhost:50051", help="host:port (default localhost:50051)")
    common.add_argument("--timeout", type=_seconds, default=5.0, help="seconds for each call (default 5)")
    common.add_argument("--token", help="bearer token, when the server asks for one")
    common.add_argument("--tls-ca", help="CA certificate (PEM) to trust; enables TLS")
    p = argparse.ArgumentParser(prog="python -m client", description="Read captcha pictures with the service.")
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("recognize", parents=[common], help="read one or more pictures")
    r.add_argument("pictures", nargs="+")
    r.add_argument("--color", required=True, help="red, yellow, blue, black, or key4 00/01/02/03")
    r.add_argument("--json", action="store_true", help="one JSON object a line")
    r.add_argument("--min-confidence", type=_threshold, help="advice threshold 0..1 (default: the server's)")
    sub.add_parser("models", parents=[common], help="list the loaded models")
    rep = sub.add_parser("report", parents=[common], help="report the platform's verdict on an answer")
    rep.add_argument("answer_id", help="the answer_id of a recognize result (--json prints it)")
    verdict = rep.add_mutually_exclusive_group(required=True)
    verdict.add_argument("--accepted", action="store_true", help="the platform accepted the text submitted")
    verdict.add_argument("--rejected", action="store_true", help="the platform rejected it")
    rep.add_argument("--submitted-text", help="what was submitted, when it was not the server's answer")
    args = p.parse_args(argv)
    failed = 0
    try:
        ca = None
        if args.tls_ca:
            with open(args.tls_ca, "rb") as fh:
                ca = fh.read()
        with CaptchaClient(args.server, timeout=args.timeout, token=args.token, tls=bool(ca),
                           root_certificates=ca) as client:
            if args.command == "models":
                for m in client.list_models():
                    print(json.dumps(m))
                return 0
            if args.command == "report":
                outcome = client.report(args.answer_id, args.accepted, args.submitted_text)
                print(json.dumps({"answer_id": args.answer_id, "stored": outcome.stored, "verified": outcome.verified}))
                return 0
            for path in args.pictures:
                try:
                    res = client.recognize(path, args.color, min_confidence=args.min_confidence)
                except (InvalidArgument, OSError) as exc:  # this picture only: go on with the next
                    print(f"error: {path}: {exc}", file=sys.stderr)
                    failed += 1
                    continue
                if args.json:
                    print(json.dumps({"file": path, "text": res.text, "confidence": round(res.confidence, 4),
                                      "route": res.route, "model": res.model, "version": res.model_version,
                                      "reads": res.reads, "agreeing_reads": res.agreeing_reads,
                                      "answer_id": res.answer_id, "path_confidence": round(res.path_confidence, 4),
                                      "advice": res.advice, "min_confidence": round(res.min_confidence, 4)},
                                     ensure_ascii=False))
                else:
                    print(f"{path}\t{res.text}\t{res.confidence:.3f}\t{res.route}\t{res.model} v{res.model_version}"
                          f"\t{res.advice}")
    except (CaptchaError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
