"""The asyncio client (grpc.aio)."""
from __future__ import annotations

import asyncio

import grpc

from captcha.v1 import captcha_pb2 as pb
from captcha.v1 import captcha_pb2_grpc as pb_grpc

from .channel import RETRYABLE, ChannelSettings
from .errors import ClientClosed, from_rpc_error
from .result import Result, build_request


class AsyncCaptchaClient:
    """``async with AsyncCaptchaClient("host:port") as c: r = await c.recognize(png, "red")``."""

    def __init__(self, target: str, *, timeout: float = 5.0, retries: int = 3, backoff: float = 0.05,
                 tls: bool = False, root_certificates: bytes | None = None, private_key: bytes | None = None,
                 certificate_chain: bytes | None = None, token: str | None = None, options=()):
        self.settings = ChannelSettings(timeout, retries, backoff, tls, root_certificates, private_key,
                                        certificate_chain, token)
        self._channel = self.settings.channel(target, options, grpc.aio)
        self._stub = pb_grpc.CaptchaServiceStub(self._channel)
        self._closed = False

    async def __aenter__(self) -> "AsyncCaptchaClient":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            await self._channel.close()

    async def recognize(self, image, color, *, request_id: str = "", route: str | None = None,
                        timeout: float | None = None) -> Result:
        if self._closed:
            raise ClientClosed("this client is closed")
        request = build_request(image, color, request_id, route)
        s = self.settings
        for attempt in range(s.retries + 1):
            try:
                reply = await self._stub.Recognize(request, timeout=timeout or s.timeout, metadata=s.metadata())
                return Result.from_pb(reply)
            except grpc.aio.AioRpcError as exc:
                if exc.code() in RETRYABLE and attempt < s.retries:
                    await asyncio.sleep(s.delay(attempt))
                    continue
                raise from_rpc_error(exc) from None
        raise AssertionError("unreachable")

    async def list_models(self) -> list[str]:
        reply = await self._stub.ListModels(pb.ListModelsRequest(), timeout=self.settings.timeout,
                                            metadata=self.settings.metadata())
        return [m.name for m in reply.models]
