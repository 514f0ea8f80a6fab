"""The asyncio client (grpc.aio)."""
from __future__ import annotations

import asyncio
from typing import AsyncIterator, Iterable

import grpc

from captcha.v1 import captcha_pb2 as pb
from captcha.v1 import captcha_pb2_grpc as pb_grpc

from .channel import ChannelSettings, Replicas, retryable
from .errors import ClientClosed, NotFound, Unavailable, from_rpc_error
from .result import Outcome, RequestStream, Result, build_request, check_min_confidence, live_rows, model_rows, report_request


class AsyncCaptchaClient:
    """``async with AsyncCaptchaClient("host:port") as c: r = await c.recognize(png, "red")``."""

    def __init__(self, target, *, timeout: float = 5.0, retries: int = 3, backoff: float = 0.05,
                 tls: bool = False, root_certificates: bytes | None = None, private_key: bytes | None = None,
                 certificate_chain: bytes | None = None, token: str | None = None, options=(),
                 min_confidence: float | None = None, server_name: str | None = None):
        self.min_confidence = check_min_confidence(min_confidence)  # every request's advice threshold
        self.settings = ChannelSettings(timeout, retries, backoff, tls, root_certificates, private_key,
                                        certificate_chain, token, server_name)
        self._channel = self.settings.channel(target, options, grpc.aio)
        self._stub = pb_grpc.CaptchaServiceStub(self._channel)
        self._replicas = Replicas(self.settings, target, options, grpc.aio)
        self._closed = False

    async def __aenter__(self) -> "AsyncCaptchaClient":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            await self._channel.close()
            for channel in self._replicas.channels.values():
                await channel.close()

    async def _call(self, method, request, timeout, reads_only: bool = True):
        """``reads_only``: the call only reads (a repeat is harmless), so CANCELLED is retried too."""
        if self._closed:
            raise ClientClosed("this client is closed")
        s = self.settings
        for attempt in range(s.retries + 1):
            try:
                return await method(request, timeout=timeout or s.timeout, metadata=s.metadata())
            except grpc.aio.AioRpcError as exc:
                if self._closed:  # closed while the call was in flight: it ended CANCELLED
                    raise ClientClosed("this client is closed") from None
                if exc.code() in retryable(reads_only) and attempt < s.retries:
                    await asyncio.sleep(s.delay(attempt))
                    continue
                raise from_rpc_error(exc) from None
        raise AssertionError("unreachable")

    async def recognize(self, image, color, *, request_id: str = "", route: str | None = None,
                        timeout: float | None = None, min_confidence: float | None = None) -> Result:
        """As ``CaptchaClient.recognize``."""
        request = build_request(image, color, request_id, route,
                                self.min_confidence if min_confidence is None else min_confidence)
        return Result.from_pb(await self._call(self._stub.Recognize, request, timeout))

    async def recognize_many(self, items: Iterable, *, timeout: float | None = None) -> AsyncIterator[Result]:
        """As ``CaptchaClient.recognize_many``: ``async for result in client.recognize_many(pairs)``."""
        if self._closed:
            raise ClientClosed("this client is closed")
        requests = RequestStream(items, self.min_confidence)
        try:
            async for reply in self._stub.RecognizeStream(iter(requests), timeout=timeout,
                                                          metadata=self.settings.metadata()):
                yield Result.from_pb(reply)
        except grpc.aio.AioRpcError as exc:
            raise from_rpc_error(exc) from None
        if requests.error is not None:
            raise requests.error

    async def list_models(self) -> list[dict]:
        """As ``CaptchaClient.list_models``."""
        return model_rows(await self._call(self._stub.ListModels, pb.ListModelsRequest(), None))

    async def live_accuracy(self) -> list[dict]:
        """As ``CaptchaClient.live_accuracy``."""
        return live_rows(await self._call(self._stub.ListModels, pb.ListModelsRequest(), None))

    async def report(self, result, accepted: bool = True, submitted_text: str | None = None, *,
                     timeout: float | None = None) -> Outcome:
        """As ``CaptchaClient.report``."""
        request = report_request(result, accepted, submitted_text)
        try:
            reply = await self._call(self._stub.ReportOutcome, request, timeout, reads_only=False)
        except NotFound as missing:  # as CaptchaClient.report
            for stub in self._replicas.stubs():
                try:
                    reply = await self._call(stub.ReportOutcome, request, timeout, reads_only=False)
                    break
                except (NotFound, Unavailable) as exc:
                    missing = exc if isinstance(exc, NotFound) else missing
            else:
                raise missing from None
        return Outcome(reply.stored, reply.verified)
