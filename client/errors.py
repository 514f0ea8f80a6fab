"""The SDK's exceptions: one class per status a caller must handle differently."""
from __future__ import annotations

import grpc


class CaptchaError(Exception):
    """Base class; ``code`` is the gRPC status code name (or None for client-side errors)."""

    code: str | None = None


class InvalidArgument(CaptchaError):
    """The picture or the colour was refused (INVALID_ARGUMENT). Do not retry."""
    code = "INVALID_ARGUMENT"


class Unavailable(CaptchaError):
    """No model can answer, or the server cannot be reached (UNAVAILABLE), after the retries."""
    code = "UNAVAILABLE"


class Overloaded(CaptchaError):
    """The server is overloaded (RESOURCE_EXHAUSTED). Retry later."""
    code = "RESOURCE_EXHAUSTED"


class MessageTooLarge(InvalidArgument):
    """The request was larger than the server's transport accepts: gRPC itself refuses it with
    RESOURCE_EXHAUSTED ("Received message larger than max"), before the service sees it. Unlike
    an overload, a retry cannot succeed; it is an InvalidArgument for the caller."""
    code = "RESOURCE_EXHAUSTED"


class Unauthenticated(CaptchaError):
    """A bearer token is needed, or the one given is wrong (UNAUTHENTICATED)."""
    code = "UNAUTHENTICATED"


class DeadlineExceeded(CaptchaError):
    """No answer within the timeout (DEADLINE_EXCEEDED)."""
    code = "DEADLINE_EXCEEDED"


class NotFound(CaptchaError):
    """report(): the answer is unknown to the server or its verdict came too late (NOT_FOUND)."""
    code = "NOT_FOUND"


class FailedPrecondition(CaptchaError):
    """report(): another verdict was reported for this answer, or the server keeps no feedback
    (FAILED_PRECONDITION)."""
    code = "FAILED_PRECONDITION"


class ServerError(CaptchaError):
    """Any other status (INTERNAL, ...)."""


class ClientClosed(CaptchaError):
    """The client was used after ``close()``."""


_BY_CODE = {cls.code: cls for cls in (InvalidArgument, Unavailable, Overloaded, Unauthenticated, DeadlineExceeded,
                                      NotFound, FailedPrecondition)}


def from_rpc_error(exc: grpc.RpcError) -> CaptchaError:
    code = exc.code() if hasattr(exc, "code") else None
    name = code.name if code is not None else "UNKNOWN"
    details = (exc.details() if hasattr(exc, "details") else str(exc)) or ""
    kind = _BY_CODE.get(name, ServerError)
    if name == "RESOURCE_EXHAUSTED" and "larger than max" in details:
        kind = MessageTooLarge
    error = kind(f"{name}: {details}")
    error.code = name
    return error
