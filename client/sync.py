"""The blocking client."""
from __future__ import annotations

import time
from typing import Iterable, Iterator

import grpc

from captcha.v1 import captcha_pb2 as pb
from captcha.v1 import captcha_pb2_grpc as pb_grpc

from .channel import ChannelSettings, Replicas, retryable
from .errors import ClientClosed, NotFound, Unavailable, from_rpc_error
from .result import Outcome, RequestStream, Result, build_request, check_min_confidence, live_rows, model_rows, report_request


class CaptchaClient:
    """``CaptchaClient("host:port", timeout=5, retries=3, tls=False, token=None)``; a context manager.

    ``target``: "host:port"; "dns:///name:port" (every address the name resolves to, a Kubernetes
    headless Service say); or a list of "ip:port" replicas. Calls go round-robin over the
    replicas, and a call refused with UNAVAILABLE (a replica stopping) is retried, on the next one;
    so is a reading that a stopping replica cancelled before it began (CANCELLED).
    """

    def __init__(self, target, *, timeout: float = 5.0, retries: int = 3, backoff: float = 0.05,
                 tls: bool = False, root_certificates: bytes | None = None, private_key: bytes | None = None,
                 certificate_chain: bytes | None = None, token: str | None = None, options=(),
                 min_confidence: float | None = None, server_name: str | None = None):
        self.min_confidence = check_min_confidence(min_confidence)  # every request's advice threshold
        self.settings = ChannelSettings(timeout, retries, backoff, tls, root_certificates, private_key,
                                        certificate_chain, token, server_name)
        self._channel = self.settings.channel(target, options, grpc)
        self._stub = pb_grpc.CaptchaServiceStub(self._channel)
        self._replicas = Replicas(self.settings, target, options, grpc)
        self._closed = False

    def __enter__(self) -> "CaptchaClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._channel.close()
            for channel in self._replicas.channels.values():
                channel.close()

    def _call(self, method, request, timeout, reads_only: bool = True):
        """``reads_only``: the call only reads (a repeat is harmless), so CANCELLED is retried too."""
        if self._closed:
            raise ClientClosed("this client is closed")
        s = self.settings
        for attempt in range(s.retries + 1):
            try:
                return method(request, timeout=timeout or s.timeout, metadata=s.metadata())
            except grpc.RpcError as exc:
                if self._closed:  # closed while the call was in flight: it ended CANCELLED
                    raise ClientClosed("this client is closed") from None
                if exc.code() in retryable(reads_only) and attempt < s.retries:
                    time.sleep(s.delay(attempt))
                    continue
                raise from_rpc_error(exc) from None

    def recognize(self, image, color, *, request_id: str = "", route: str | None = None,
                  timeout: float | None = None, min_confidence: float | None = None) -> Result:
        """Reads the ``color`` characters of ``image`` (bytes, a path or a PIL image).

        ``color``: "red", "yellow", "blue", "black", a key4 code ("01") or a Color.
        ``min_confidence``: the advice threshold, 0..1 (default: the client's, else the server's
        for the colour); ``result.advice`` is "submit" or "refresh" against it.
        """
        request = build_request(image, color, request_id, route, self._threshold(min_confidence))
        return Result.from_pb(self._call(self._stub.Recognize, request, timeout))

    def _threshold(self, min_confidence: float | None) -> float | None:
        return self.min_confidence if min_confidence is None else min_confidence

    def recognize_many(self, items: Iterable, *, timeout: float | None = None) -> Iterator[Result]:
        """Reads many (image, color) pairs over one stream; results come in the same order, each
        with ``request_id`` its index. ``timeout``: seconds for the whole stream (default none: a
        stream may be long). An item that cannot be sent (unknown colour, unreadable file) raises
        its ValueError/TypeError/OSError, naming the item, after the results before it."""
        if self._closed:
            raise ClientClosed("this client is closed")
        requests = RequestStream(items, self.min_confidence)
        try:
            for reply in self._stub.RecognizeStream(iter(requests), timeout=timeout,
                                                    metadata=self.settings.metadata()):
                yield Result.from_pb(reply)
        except grpc.RpcError as exc:
            raise from_rpc_error(exc) from None
        if requests.error is not None:
            raise requests.error

    def list_models(self) -> list[dict]:
        return model_rows(self._call(self._stub.ListModels, pb.ListModelsRequest(), None))

    def live_accuracy(self) -> list[dict]:
        """Of the server's answers that callers submitted, the share the platform accepted, per
        colour and model version (from the verdicts reported)."""
        return live_rows(self._call(self._stub.ListModels, pb.ListModelsRequest(), None))

    def report(self, result, accepted: bool = True, submitted_text: str | None = None, *,
               timeout: float | None = None) -> Outcome:
        """Reports the platform's verdict on ``result`` (a Result, or its ``answer_id``):
        ``accepted`` as the platform said; ``submitted_text`` when what was submitted was not the
        server's answer (a person's reading, say). Idempotent: the same report again is fine."""
        request = report_request(result, accepted, submitted_text)
        try:
            reply = self._call(self._stub.ReportOutcome, request, timeout, reads_only=False)
        except NotFound as missing:  # over several replicas: ask each in turn (``channel.Replicas``)
            for stub in self._replicas.stubs():
                try:
                    reply = self._call(stub.ReportOutcome, request, timeout, reads_only=False)
                    break
                except (NotFound, Unavailable) as exc:
                    missing = exc if isinstance(exc, NotFound) else missing
            else:
                raise missing from None
        return Outcome(reply.stored, reply.verified)
