"""A trivial CaptchaService that answers at once without a model: the gRPC floor of this machine.

    python bench/echo_server.py PORT
"""
from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import grpc  # noqa: E402

from captcha.v1 import captcha_pb2 as pb  # noqa: E402
from captcha.v1 import captcha_pb2_grpc as pb_grpc  # noqa: E402
from server import reflection  # noqa: E402


class Echo(pb_grpc.CaptchaServiceServicer):
    def Recognize(self, request, context):
        return pb.RecognizeResponse(text=str(len(request.image)), request_id=request.request_id)


def main() -> None:
    server = grpc.server(ThreadPoolExecutor(64))
    pb_grpc.add_CaptchaServiceServicer_to_server(Echo(), server)
    reflection.enable(["captcha.v1.CaptchaService"], server)
    port = server.add_insecure_port(f"127.0.0.1:{sys.argv[1] if len(sys.argv) > 1 else 0}")
    server.start()
    print(f"echo listening on port {port}", flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    main()
