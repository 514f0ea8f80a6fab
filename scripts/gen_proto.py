"""Generates the Python gRPC code from proto/ (the one command; never edit the output by hand).

    python scripts/gen_proto.py            # writes captcha/v1/*_pb2*.py (package captcha.v1)
    python scripts/gen_proto.py --check    # fails when the committed code is stale
"""
from __future__ import annotations

import argparse
import filecmp
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "proto"
OUT_DIR = ROOT
PROTOS = ["captcha/v1/captcha.proto"]


def generate(out: Path) -> None:
    from grpc_tools import protoc
    import grpc_tools
    include = str(Path(grpc_tools.__file__).parent / "_proto")
    out.mkdir(parents=True, exist_ok=True)
    args = ["protoc", f"-I{PROTO_DIR}", f"-I{include}", f"--python_out={out}", f"--pyi_out={out}",
            f"--grpc_python_out={out}", *PROTOS]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    for package in {Path(p).parent for p in PROTOS}:
        for d in [out / package, *[(out / package).parents[i] for i in range(len(package.parts) - 1)]]:
            (d / "__init__.py").touch()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--check", action="store_true")
    args = p.parse_args()
    if not args.check:
        generate(OUT_DIR)
        return
    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp))
        stale = [str(f.relative_to(tmp)) for f in Path(tmp).rglob("*.py*")
                 if not (OUT_DIR / f.relative_to(tmp)).exists()
                 or not filecmp.cmp(f, OUT_DIR / f.relative_to(tmp), shallow=False)]
    if stale:
        sys.exit(f"generated code is stale: {stale}; run python scripts/gen_proto.py")
    print("generated code is up to date")


if __name__ == "__main__":
    main()
