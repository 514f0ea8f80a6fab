"""Domain errors; the transport maps each to its status code (INVALID_ARGUMENT, ...)."""


class CaptchaError(Exception):
    """Base of the errors a caller can cause or see."""

    code_name = "INTERNAL"


class InvalidRequest(CaptchaError):
    code_name = "INVALID_ARGUMENT"


class NoModel(CaptchaError):
    code_name = "UNAVAILABLE"


class Overloaded(CaptchaError):
    code_name = "RESOURCE_EXHAUSTED"
