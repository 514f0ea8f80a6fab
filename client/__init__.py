"""Python SDK for the captcha reading service (no TensorFlow needed).

    from client import CaptchaClient
    with CaptchaClient("localhost:50051") as c:
        result = c.recognize("captcha.png", "red")
        print(result.text, result.confidence, result.route)
"""
from .errors import (CaptchaError, ClientClosed, DeadlineExceeded, InvalidArgument, MessageTooLarge, Overloaded,
                     ServerError, Unauthenticated, Unavailable)
from .result import Result
from .sync import CaptchaClient
from .aio import AsyncCaptchaClient

__all__ = ["CaptchaClient", "AsyncCaptchaClient", "Result", "CaptchaError", "InvalidArgument", "Unavailable",
           "Overloaded", "MessageTooLarge", "Unauthenticated", "DeadlineExceeded", "ServerError", "ClientClosed"]
