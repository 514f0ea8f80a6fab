"""Python SDK for the captcha reading service (no TensorFlow needed).

    from client import CaptchaClient
    with CaptchaClient("localhost:50051") as c:
        result = c.recognize("captcha.png", "red")
        print(result.text, result.confidence, result.route)
"""
from .errors import (CaptchaError, ClientClosed, DeadlineExceeded, FailedPrecondition, InvalidArgument,
                     MessageTooLarge, NotFound, Overloaded, ServerError, Unauthenticated, Unavailable)
from .result import Outcome, Result
from .sync import CaptchaClient
from .aio import AsyncCaptchaClient

__all__ = ["CaptchaClient", "AsyncCaptchaClient", "Result", "Outcome", "CaptchaError", "InvalidArgument", "Unavailable",
           "Overloaded", "MessageTooLarge", "Unauthenticated", "DeadlineExceeded", "NotFound", "FailedPrecondition",
           "ServerError", "ClientClosed"]
