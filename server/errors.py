"""Domain errors. Each names its gRPC status (``code_name``); each transport maps them to its own
statuses (``server.service`` for gRPC, ``server.http_api`` for HTTP)."""


class CaptchaError(Exception):
    """Base of the errors a caller can cause or see."""

    code_name = "INTERNAL"


class InvalidRequest(CaptchaError):
    code_name = "INVALID_ARGUMENT"


class PictureTooLarge(InvalidRequest):
    """The picture is above the server's byte limit (HTTP 413)."""


class NoModel(CaptchaError):
    code_name = "UNAVAILABLE"


class StoreBusy(CaptchaError):
    """The feedback store cannot take a write now (locked, disk full): retry."""
    code_name = "UNAVAILABLE"


class Overloaded(CaptchaError):
    code_name = "RESOURCE_EXHAUSTED"


class DeadlineExceeded(CaptchaError):
    code_name = "DEADLINE_EXCEEDED"


class NotFound(CaptchaError):
    code_name = "NOT_FOUND"


class FailedPrecondition(CaptchaError):
    code_name = "FAILED_PRECONDITION"
