"""Typed results and request building shared by the sync and async clients."""
from __future__ import annotations

import io
import os
from dataclasses import dataclass
from typing import NamedTuple

from captcha.v1 import captcha_pb2 as pb
from captcha_core.colors import Color
from captcha_core.proto_names import values

_COLOR_TO_PB = {Color.parse(name): number for number, name in values(pb.Color, "COLOR").items()}
_ROUTES = values(pb.Route, "ROUTE")  # number -> "direct", "color_transform"
_ROUTE_TO_PB = {v: k for k, v in _ROUTES.items()}
_ADVICE = values(pb.Advice, "ADVICE")  # number -> "submit", "refresh"


@dataclass(frozen=True)
class Result:
    text: str
    confidence: float          # calibrated: the probability that the whole answer is right
    route: str                 # "direct" or "color_transform"
    model: str                 # colour name of the model that answered
    model_version: int
    request_id: str
    color: str                 # the colour that was read
    characters: tuple[tuple[str, float], ...]
    server_ms: float
    reads: int = 1             # readings the server made (more than 1 after a second look)
    agreeing_reads: int = 1    # of them, those that gave this text
    answer_id: str = ""        # what report() names (empty when the server keeps no feedback)
    path_confidence: float = 0.0  # the decoded path's probability, uncalibrated
    advice: str = "submit"     # "submit", or "refresh": confidence below min_confidence
    min_confidence: float = 0.0   # the threshold the advice was given against
    calibrated: bool = False   # False: confidence is the path's probability (the version has no calibration)

    @property
    def submit(self) -> bool:
        """Whether the server advises submitting this answer (else: fetch a new picture)."""
        return self.advice == "submit"

    @classmethod
    def from_pb(cls, r: pb.RecognizeResponse) -> "Result":
        color = next((c.label for c, v in _COLOR_TO_PB.items() if v == r.color), "")
        return cls(text=r.text, confidence=r.confidence, route=_ROUTES.get(r.route, "unspecified"), model=r.model,
                   model_version=r.model_version, request_id=r.request_id, color=color,
                   characters=tuple((c.character, c.confidence) for c in r.characters), server_ms=r.server_ms,
                   reads=r.reads or 1, agreeing_reads=r.agreeing_reads or 1, answer_id=r.answer_id,
                   path_confidence=r.path_confidence, advice=_ADVICE.get(r.advice) or _advice_of(r),
                   min_confidence=r.min_confidence, calibrated=r.calibrated)


def _advice_of(r: pb.RecognizeResponse) -> str:
    """The advice a server that gives none (one older than the field) would have given: the
    confidence against the threshold it names, else 0.9."""
    return "submit" if r.confidence >= (r.min_confidence or 0.9) else "refresh"


class Outcome(NamedTuple):
    stored: bool    # this call stored the report (False: the same report had been stored before)
    verified: bool  # the picture now has a verified label


def report_request(result, accepted: bool, submitted_text: str | None) -> pb.ReportOutcomeRequest:
    """``result``: a Result (or its answer_id as a string)."""
    answer_id = result if isinstance(result, str) else getattr(result, "answer_id", "")
    if not answer_id:
        raise ValueError("this result has no answer_id: the server keeps no feedback (--feedback-store)")
    if not isinstance(accepted, bool):
        raise TypeError("accepted must be True or False")
    return pb.ReportOutcomeRequest(answer_id=answer_id, accepted=accepted, submitted_text=submitted_text or "")


def live_rows(reply: pb.ListModelsResponse) -> list[dict]:
    """ListModels' live accuracy as plain dicts."""
    names = {v: c.label for c, v in _COLOR_TO_PB.items()}
    return [{"color": names.get(x.color, ""), "model": x.model, "version": x.version, "accepted": x.accepted,
             "rejected": x.rejected, "accuracy": x.accuracy} for x in reply.live_accuracy]


def image_bytes(image) -> bytes:
    """Accepts bytes, a path (str or os.PathLike) or a PIL image."""
    if isinstance(image, (bytes, bytearray, memoryview)):
        return bytes(image)
    if isinstance(image, (str, os.PathLike)):
        with open(image, "rb") as fh:
            return fh.read()
    if hasattr(image, "save") and hasattr(image, "mode"):  # a PIL image, without importing PIL
        buf = io.BytesIO()
        image.save(buf, format="PNG")
        return buf.getvalue()
    raise TypeError(f"image must be bytes, a path or a PIL image, not {type(image).__name__}")


def check_min_confidence(value: float | None) -> float | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1):
        raise ValueError(f"min_confidence must be a number in 0..1 or None, not {value!r}")
    return value


def build_request(image, color, request_id: str = "", route: str | None = None,
                  min_confidence: float | None = None) -> pb.RecognizeRequest:
    """``color``: a Color, a name ("red"), a key4 code ("01") or the proto enum value;
    ``min_confidence``: the advice threshold (None: the server's default for the colour)."""
    if isinstance(color, int) and not isinstance(color, bool):
        pb_color = color
    else:
        pb_color = _COLOR_TO_PB[Color.parse(color)]
    if route is not None and route not in _ROUTE_TO_PB:
        raise ValueError(f"route must be one of {sorted(_ROUTE_TO_PB)} or None")
    request = pb.RecognizeRequest(image=image_bytes(image), color=pb_color, request_id=request_id,
                                  route=_ROUTE_TO_PB.get(route, pb.ROUTE_UNSPECIFIED))
    if check_min_confidence(min_confidence) is not None:
        request.min_confidence = min_confidence
    return request


def model_rows(reply: pb.ListModelsResponse) -> list[dict]:
    """ListModels' answer as plain dicts (the same for the sync and async clients)."""
    return [{"name": m.name, "version": m.version, "loaded": m.loaded,
             "route": pb.Route.Name(m.route).removeprefix("ROUTE_").lower(), "served_by": m.served_by,
             "served_by_version": m.served_by_version, "version_policy": m.version_policy, "runtime": m.runtime,
             "input_size": (m.input_width, m.input_height), "charset_size": m.charset_size,
             "reads_transforms": m.reads_transforms, "calibrated": m.calibrated,
             "default_min_confidence": round(m.default_min_confidence, 6)} for m in reply.models]


class RequestStream:
    """The requests of ``recognize_many`` from (image, colour) pairs. A pair that cannot become a
    request (unknown colour, unreadable file, ...) ends the stream there, so that the answers
    before it still arrive, and is kept in ``error`` for the client to raise afterwards (raised
    inside gRPC's sending thread it would only become an opaque UNKNOWN status)."""

    def __init__(self, items, min_confidence: float | None = None):
        self._items, self._min_confidence = items, min_confidence
        self.error: Exception | None = None

    def __iter__(self):
        for i, item in enumerate(self._items):
            try:
                image, color = item
                request = build_request(image, color, request_id=str(i), min_confidence=self._min_confidence)
            except (OSError, TypeError, ValueError) as exc:
                self.error = type(exc)(f"item {i}: {exc}")
                return
            yield request
