"""Optional bearer-token check on every call (UNAUTHENTICATED otherwise), except the health
service's: orchestrators' probes (Kubernetes' gRPC probe, grpc_health_probe) send no headers."""
from __future__ import annotations

import hmac

import grpc


OPEN_PREFIXES = ("/grpc.health.v1.Health/",)


def token_matches(header: str, token: str) -> bool:
    """Whether an ``authorization`` header carries ``token`` (constant-time comparison)."""
    return hmac.compare_digest(header.encode(), f"Bearer {token}".encode())


class BearerTokenInterceptor(grpc.ServerInterceptor):
    def __init__(self, token: str, on_refuse=None):
        """``on_refuse(code_name)`` hears each call refused (the metrics count it)."""
        self._token = token

        def deny(request, context):
            if on_refuse:
                on_refuse("UNAUTHENTICATED")
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "a valid bearer token is required")

        self._deny = deny

    def intercept_service(self, continuation, handler_call_details):
        given = dict(handler_call_details.invocation_metadata or ()).get("authorization", "")
        if token_matches(given, self._token) or handler_call_details.method.startswith(OPEN_PREFIXES):
            return continuation(handler_call_details)
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        if handler.request_streaming and handler.response_streaming:
            return grpc.stream_stream_rpc_method_handler(lambda it, ctx: self._deny(None, ctx))
        if handler.request_streaming:
            return grpc.stream_unary_rpc_method_handler(lambda it, ctx: self._deny(None, ctx))
        if handler.response_streaming:
            return grpc.unary_stream_rpc_method_handler(self._deny, handler.request_deserializer)
        return grpc.unary_unary_rpc_method_handler(self._deny, handler.request_deserializer)
