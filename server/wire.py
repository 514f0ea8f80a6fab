"""Requests that are not valid protobuf (truncated, bad UTF-8 in a string field, ...) get
INVALID_ARGUMENT with a message, as any other bad input does. Left to gRPC they become INTERNAL
"Exception deserializing request!" and a traceback in the log for every such call."""
from __future__ import annotations

import logging

import grpc

from .errors import InvalidRequest

log = logging.getLogger("captcha.wire")


class Undecodable:
    """Stands in for a request whose bytes did not parse."""

    def __init__(self, exc: Exception):
        self.reason = f"{type(exc).__name__}: {exc}"[:200]


def _tolerant(deserializer):
    def parse(data: bytes):
        try:
            return deserializer(data)
        except Exception as exc:  # protobuf raises DecodeError, UnicodeDecodeError, ...
            return Undecodable(exc)
    return parse


def _refuse(context, bad: Undecodable, on_refuse=None):
    if on_refuse:
        on_refuse("INVALID_ARGUMENT")
    log.info("refused: request is not a valid message (%s)", bad.reason)
    context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"the request is not a valid protobuf message ({bad.reason})")


def _checked(iterator):
    """A stream's requests; one that did not parse raises InvalidRequest where it stands, so the
    handler can first answer those before it (the servicer's stream does)."""
    for index, request in enumerate(iterator):
        if isinstance(request, Undecodable):
            log.info("refused: stream request %d is not a valid message (%s)", index, request.reason)
            raise InvalidRequest(f"the request is not a valid protobuf message ({request.reason})")
        yield request


def _unary_in(behaviour, on_refuse=None):
    def call(request, context):
        if isinstance(request, Undecodable):
            _refuse(context, request, on_refuse)
        return behaviour(request, context)
    return call


def _stream_in(behaviour):
    return lambda iterator, context: behaviour(_checked(iterator), context)


class DecodeGuard(grpc.ServerInterceptor):
    def __init__(self, on_refuse=None):
        """``on_refuse(code_name)`` hears each unary call refused here (a stream's refusal is
        counted by the servicer, which answers it in its turn)."""
        self._on_refuse = on_refuse

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None or handler.request_deserializer is None:
            return handler
        parse, out = _tolerant(handler.request_deserializer), handler.response_serializer
        if handler.request_streaming and handler.response_streaming:
            return grpc.stream_stream_rpc_method_handler(_stream_in(handler.stream_stream), parse, out)
        if handler.request_streaming:
            return grpc.stream_unary_rpc_method_handler(_stream_in(handler.stream_unary), parse, out)
        if handler.response_streaming:
            return grpc.unary_stream_rpc_method_handler(_unary_in(handler.unary_stream, self._on_refuse), parse, out)
        return grpc.unary_unary_rpc_method_handler(_unary_in(handler.unary_unary, self._on_refuse), parse, out)
