"""Command line: ``python -m client recognize picture.png --color red --server host:port``."""
from __future__ import annotations

import argparse
import json
import sys

from . import CaptchaClient, CaptchaError


def main(argv=None) -> int:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--server", default="localhost:50051", help="host:port (default localhost:50051)")
    common.add_argument("--timeout", type=float, default=5.0)
    common.add_argument("--token", help="bearer token, when the server asks for one")
    common.add_argument("--tls-ca", help="CA certificate (PEM) to trust; enables TLS")
    p = argparse.ArgumentParser(prog="python -m client", description="Read captcha pictures with the service.")
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("recognize", parents=[common], help="read one or more pictures")
    r.add_argument("pictures", nargs="+")
    r.add_argument("--color", required=True, help="red, yellow, blue, black, or key4 00/01/02/03")
    r.add_argument("--json", action="store_true", help="one JSON object a line")
    sub.add_parser("models", parents=[common], help="list the loaded models")
    args = p.parse_args(argv)
    ca = open(args.tls_ca, "rb").read() if args.tls_ca else None
    try:
        with CaptchaClient(args.server, timeout=args.timeout, token=args.token, tls=bool(ca),
                           root_certificates=ca) as client:
            if args.command == "models":
                for m in client.list_models():
                    print(json.dumps(m))
                return 0
            for path in args.pictures:
                res = client.recognize(path, args.color)
                if args.json:
                    print(json.dumps({"file": path, "text": res.text, "confidence": round(res.confidence, 4),
                                      "route": res.route, "model": res.model, "version": res.model_version,
                                      "reads": res.reads, "agreeing_reads": res.agreeing_reads},
                                     ensure_ascii=False))
                else:
                    print(f"{path}\t{res.text}\t{res.confidence:.3f}\t{res.route}\t{res.model} v{res.model_version}")
    except CaptchaError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
