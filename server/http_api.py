"""The seed article's HTTP API, for callers written against it.

``POST /captcha/v1`` with JSON ``{"image": "<base64>", "param_key": "red|blue|yellow|black"}``
(optionally ``"timeout_ms"``: the caller's deadline, and ``"min_confidence"``: the advice threshold,
0..1) answers ``{"uid": ..., "message": "<text or error>", "code": 0, "success": true}``, with the
answer's ``"confidence"`` (calibrated), ``"path_confidence"``, ``"advice"`` (``"submit"`` or
``"refresh"``) and the ``"min_confidence"`` it was given against. Every picture goes through the data plane
(``server.plane``), whose domain errors map to HTTP statuses: a malformed body (``param_key``
missing included) or picture 400, a picture above the byte limit 413, overload 429, no model 503,
no answer before the deadline 504; another method 405, another path 404. When the server has a
bearer token, the request must carry ``Authorization: Bearer <token>`` (401 otherwise), as gRPC
calls must.

With a feedback store the answer carries ``"answer_id"``, and ``POST /captcha/v1/report`` with
``{"answer_id": ..., "accepted": true|false, "submitted_text": optional}`` reports the platform's
verdict (``ReportOutcome``): 404 unknown or expired id, 409 another verdict already reported or no
feedback store, 400 a bad body or text.
"""
from __future__ import annotations

import base64
import binascii
import contextlib
import json
import socket
import threading
import time
import uuid
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from captcha_core.colors import Color

from .auth import token_matches
from .errors import CaptchaError, PictureTooLarge
from .plane import DataPlane

PATH = "/captcha/v1"
REPORT_PATH = "/captcha/v1/report"
PARAM_KEYS = {c.label: c for c in Color}
ERROR_HTTP = {"INVALID_ARGUMENT": 400, "UNAUTHENTICATED": 401, "NOT_FOUND": 404, "FAILED_PRECONDITION": 409,
              "RESOURCE_EXHAUSTED": 429, "CANCELLED": 499, "UNAVAILABLE": 503, "DEADLINE_EXCEEDED": 504}
MAX_BODY = 1024 * 1024
PROTOCOL = "http"


def http_status(exc: CaptchaError) -> int:
    return 413 if isinstance(exc, PictureTooLarge) else ERROR_HTTP.get(exc.code_name, 500)


class Handler(BaseHTTPRequestHandler):
    """One HTTP request; ``make_handler`` binds it to a data plane and a token."""

    server_version = "captcha-http/1"
    plane: DataPlane
    token: str = ""

    def log_message(self, *args):  # requests are logged by the service, bodies never
        pass

    def _reply(self, status: int, body: dict) -> None:
        data = json.dumps(body, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, uid: str, message: str) -> None:
        self._reply(status, {"uid": uid, "message": message, "code": status, "success": False})

    def do_POST(self):
        uid = uuid.uuid4().hex
        path = self.path.rstrip("/")
        if path not in (PATH, REPORT_PATH):
            return self._error(404, uid, f"unknown path; POST {PATH} or {REPORT_PATH}")
        if self.token and not token_matches(self.headers.get("Authorization", ""), self.token):
            return self._refuse(401, uid, "a valid bearer token is required (Authorization: Bearer <token>)",
                                "UNAUTHENTICATED")
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            return self._refuse(400, uid, "bad Content-Length")
        if length > MAX_BODY:
            return self._refuse(413, uid, f"body is {length} bytes, above the limit of {MAX_BODY}")
        if length <= 0:
            return self._refuse(400, uid, f"body must be 1..{MAX_BODY} bytes of JSON")
        try:
            body = json.loads(self.rfile.read(length))
        except ValueError:
            body = None
        return self._report(uid, body) if path == REPORT_PATH else self._recognize(uid, body)

    def _recognize(self, uid: str, body) -> None:
        try:
            image = base64.b64decode(body["image"], validate=True)
            color = PARAM_KEYS[str(body["param_key"]).lower()]
            timeout_ms = body.get("timeout_ms")
            deadline = None if timeout_ms is None else time.monotonic() + float(timeout_ms) / 1000
            if timeout_ms is not None and not float(timeout_ms) > 0:
                raise ValueError("timeout_ms")
            min_confidence = body.get("min_confidence")
            if min_confidence is not None and (isinstance(min_confidence, bool)
                                               or not isinstance(min_confidence, (int, float))):
                raise TypeError("min_confidence")
        except (ValueError, KeyError, TypeError, AttributeError, binascii.Error):
            return self._refuse(400, uid, 'body must be JSON {"image": "<base64>", '
                                          '"param_key": "red|yellow|blue|black"} (and optionally '
                                          '"timeout_ms": a number above 0, "min_confidence": a number 0..1)')
        try:
            answer = self.plane.recognize(image, color, deadline=deadline, request_id=uid,
                                          min_confidence=min_confidence, protocol=PROTOCOL)
        except CaptchaError as exc:  # already counted by the plane
            return self._error(http_status(exc), uid, str(exc))
        reply = {"uid": uid, "message": answer.text, "code": 0, "success": True,
                 "confidence": round(answer.confidence, 6), "path_confidence": round(answer.path_confidence, 6),
                 "advice": answer.advice.value, "min_confidence": round(answer.min_confidence, 6),
                 "calibrated": answer.calibrated}
        if answer.answer_id:
            reply["answer_id"] = answer.answer_id
        self._reply(200, reply)

    def _report(self, uid: str, body) -> None:
        try:
            answer_id, accepted = body["answer_id"], body["accepted"]
            submitted = body.get("submitted_text") or ""
            if not (isinstance(answer_id, str) and isinstance(accepted, bool) and isinstance(submitted, str)):
                raise TypeError
        except (KeyError, TypeError, AttributeError):
            return self._refuse(400, uid, 'body must be JSON {"answer_id": "<id>", "accepted": true|false} '
                                          '(and optionally "submitted_text": "<text>")')
        try:
            outcome = self.plane.report(answer_id, accepted, submitted, protocol=PROTOCOL)
        except CaptchaError as exc:
            return self._error(http_status(exc), uid, str(exc))
        self._reply(200, {"uid": uid, "code": 0, "success": True, "stored": outcome.stored,
                          "verified": outcome.verified})

    def _refuse(self, status: int, uid: str, message: str, code_name: str = "INVALID_ARGUMENT") -> None:
        self.plane.count_error(code_name, PROTOCOL)
        self._error(status, uid, message)

    def _not_allowed(self):
        self.send_response(HTTPStatus.METHOD_NOT_ALLOWED)
        self.send_header("Allow", "POST")
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_PUT = do_DELETE = do_PATCH = do_HEAD = _not_allowed


def make_handler(plane: DataPlane, token: str = ""):
    """A ``Handler`` class whose requests ``plane`` answers; ``token``, when set, is the bearer
    token every request must carry."""
    return type("BoundHandler", (Handler,), {"plane": plane, "token": token})


class _Server(ThreadingHTTPServer):
    daemon_threads = True


class _Server6(_Server):
    address_family = socket.AF_INET6

    def server_bind(self):
        if self.server_address[0] == "::":  # every address, IPv4 ones too, as gRPC's "[::]"
            with contextlib.suppress(OSError, AttributeError):
                self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


def start(host: str, port: int, plane: DataPlane, token: str = "") -> ThreadingHTTPServer:
    """Serves on ``host`` (gRPC's spelling: "[::]" and "0.0.0.0" both work) and ``port``. The
    default "[::]" listens on IPv6 and IPv4 alike, or on IPv4 alone where IPv6 is off."""
    host = host.strip("[]")
    handler = make_handler(plane, token)
    if ":" not in host:
        httpd = _Server((host, port), handler)
    else:
        try:
            httpd = _Server6((host, port), handler)
        except OSError:
            if host != "::":
                raise
            httpd = _Server(("0.0.0.0", port), handler)
    threading.Thread(target=httpd.serve_forever, name="http-api", daemon=True).start()
    return httpd
