"""The data plane: one transport-free call that answers a picture, used by every protocol (gRPC,
HTTP), the evaluation, ``read_real`` and the benchmarks alike.

``DataPlane.recognize(image bytes, colour or key4, route, deadline, request id, min_confidence)
-> Answer`` owns decoding, routing (direct, colour transform), the second look, the calibrated
confidence and the advice, the metrics of what it answered and refused, and raises only domain errors (``server.errors``). Plain Python types in and out:
no protobuf, no grpc.
"""
from __future__ import annotations

import dataclasses
import enum
import logging
import math
import time
import uuid
from concurrent.futures import CancelledError
from dataclasses import dataclass

import numpy as np

from captcha_core.calibration import FALLBACK_MIN_CONFIDENCE, Calibration, Calibrator
from captcha_core.colors import ALL_COLORS, Color
from captcha_core.feedback import StoreUnavailable
from captcha_core.preprocess import ImageLimits, InvalidImage, decode

from .calls import Call, CallEnded
from .errors import CaptchaError, DeadlineExceeded, FailedPrecondition, InvalidRequest, PictureTooLarge, StoreBusy
from .feedback import Feedback, Outcome, new_answer_id
from .manager import ModelManager
from .metrics import Metrics
from .routing import Route, Router

log = logging.getLogger("captcha.plane")
LOGGED_ID_CHARS = 64  # a caller's request id is cut to this in logs and messages


def short_id(request_id: str) -> str:
    return request_id[:LOGGED_ID_CHARS]


class Advice(enum.Enum):
    SUBMIT = "submit"     # the calibrated confidence is at least the threshold
    REFRESH = "refresh"   # below it: fetching a new picture is likely cheaper than a wrong answer


@dataclass(frozen=True)
class Answer:
    text: str
    confidence: float     # calibrated: the probability that the whole answer is right
    char_confidences: tuple[float, ...]
    color: Color
    route: Route
    model: str            # the model that gave the answer
    version: int
    reads: int            # readings made of the picture (more than 1: a second look)
    agreeing: int         # of them, those that gave this text
    request_id: str
    server_ms: float
    answer_id: str = ""   # what a verdict report names (empty without a feedback store)
    path_confidence: float = 0.0  # the decoded path's probability, as the model gave it
    advice: Advice = Advice.SUBMIT
    min_confidence: float = 0.0   # the threshold the advice was given against
    calibrated: bool = False      # False: the version carries no calibration; confidence is the path's


@dataclass(frozen=True)
class ColorStatus:
    """What serves one colour now (``ListModels``)."""

    color: Color
    loaded: bool                 # the colour's own model
    version: int                 # of its own model (0: none)
    route: Route | None          # the route that answers it now (None: nothing can)
    served_by: str               # the model that answers it
    served_by_version: int
    version_policy: str
    runtime: str
    input_width: int = 0
    input_height: int = 0
    preprocess_version: int = 0
    charset_size: int = 0
    reads_transforms: bool = False
    calibrated: bool = False              # the version serving it carries a calibration
    default_min_confidence: float = FALLBACK_MIN_CONFIDENCE


def check_min_confidence(value: float | None) -> float | None:
    if value is not None and not (isinstance(value, (int, float)) and not math.isnan(value) and 0.0 <= value <= 1.0):
        raise InvalidRequest(f"min_confidence {value} is outside 0..1")
    return None if value is None else float(value)


def parse_color(color: Color | str) -> Color:
    try:
        return Color.parse(color)
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from None


class DataPlane:
    def __init__(self, manager: ModelManager, router: Router, metrics: Metrics | None = None,
                 limits: ImageLimits = ImageLimits(), feedback: Feedback | None = None):
        """``feedback``: where answered pictures wait for their verdict (None: nothing is kept)."""
        self.manager, self.router, self.limits, self.feedback = manager, router, limits, feedback
        self.metrics = metrics or Metrics()

    @classmethod
    def over(cls, manager: ModelManager, threshold: float = 0.0, views: int = 1, metrics: Metrics | None = None,
             limits: ImageLimits = ImageLimits()) -> "DataPlane":
        return cls(manager, Router(manager, threshold, views=views), metrics, limits)

    # -- answering -----------------------------------------------------------------
    def recognize(self, image: bytes, color: Color | str, route: Route | None = None, deadline: float | None = None,
                  request_id: str | None = None, *, min_confidence: float | None = None, call: Call | None = None,
                  protocol: str = "") -> Answer:
        """``deadline``: ``time.monotonic()`` by which the caller wants the answer (None: the
        router's own limit); ``min_confidence``: the advice threshold, 0..1 (None: the colour's
        default, from its calibration); ``call``: a transport's handle on the call, to drop its
        queued readings when it ends (it carries the deadline then). ``protocol`` labels the metrics."""
        start = time.perf_counter()
        request_id = request_id or uuid.uuid4().hex
        try:
            color = parse_color(color)
            min_confidence = check_min_confidence(min_confidence)
            if len(image) > self.limits.max_bytes:
                raise PictureTooLarge(f"image is {len(image)} bytes, above the limit of {self.limits.max_bytes}")
            try:
                picture = decode(image, self.limits)
            except InvalidImage as exc:
                raise InvalidRequest(str(exc)) from None
            answer = self._answer(picture, color, route, call or Call(deadline), request_id, start, min_confidence)
        except Exception as exc:
            raise self.refused(exc, request_id, protocol) from None
        if self.feedback is None:
            return answer
        answer_id = new_answer_id()
        self.feedback.remember(answer_id, image, answer)
        return dataclasses.replace(answer, answer_id=answer_id)

    def report(self, answer_id: str, accepted: bool, submitted_text: str = "", protocol: str = "") -> Outcome:
        """The platform's verdict on answer ``answer_id`` (on ``submitted_text`` when the caller
        submitted that instead), stored durably before this returns."""
        try:
            if self.feedback is None:
                raise FailedPrecondition("this server keeps no feedback (start it with --feedback-store)")
            if not answer_id:
                raise InvalidRequest("answer_id is empty")
            return self.feedback.report(answer_id, accepted, submitted_text, self._charset())
        except Exception as exc:
            raise self.refused(exc, answer_id[:64], protocol) from None

    def _charset(self):
        """The characters the served models can output (None when they do not say)."""
        for servable in self.manager.loaded():
            charset = getattr(servable.model, "charset", None)
            if charset is not None:
                return charset.chars
        return None

    def live(self):
        """Live accuracy per colour and version (empty without feedback)."""
        return self.feedback.live() if self.feedback else []

    def recognize_picture(self, picture: np.ndarray, color: Color | str, route: Route | None = None,
                          deadline: float | None = None, request_id: str | None = None,
                          min_confidence: float | None = None) -> Answer:
        """As ``recognize``, for a picture already decoded (RGB uint8, H x W x 3): the evaluation's door."""
        start = time.perf_counter()
        request_id = request_id or uuid.uuid4().hex
        try:
            return self._answer(picture, parse_color(color), route, Call(deadline), request_id, start,
                                check_min_confidence(min_confidence))
        except Exception as exc:
            raise self.refused(exc, request_id, "") from None

    def _answer(self, picture: np.ndarray, color: Color, route: Route | None, call: Call, request_id: str,
                start: float, min_confidence: float | None = None) -> Answer:
        routed = self.router.read(picture, color, route, call)
        elapsed = time.perf_counter() - start
        self.metrics.requests.labels(routed.model, routed.route.value).inc()
        self.metrics.latency.labels(routed.model).observe(elapsed)
        if routed.reads > 1:
            self.metrics.second_looks.labels(color.label).inc()
        log.debug("answered", extra={"request_id": short_id(request_id), "color": color.label,
                                     "route": routed.route.value, "model": routed.model, "version": routed.version,
                                     "ms": round(elapsed * 1e3, 3)})
        r = routed.reading
        calibration, calibrator = self.calibration(color, routed)
        confidence = r.confidence if calibrator is None else calibrator(
            r.confidence, routed.reads, routed.agreeing, routed.route is Route.COLOR_TRANSFORM)
        if min_confidence is None:
            min_confidence = calibration.min_confidence if calibration else FALLBACK_MIN_CONFIDENCE
        advice = Advice.SUBMIT if confidence >= min_confidence else Advice.REFRESH
        self.metrics.advice.labels(color.label, advice.value).inc()
        return Answer(r.text, confidence, r.char_confidences, color, routed.route, routed.model, routed.version,
                      routed.reads, routed.agreeing, request_id, elapsed * 1e3, path_confidence=r.confidence,
                      advice=advice, min_confidence=min_confidence, calibrated=calibrator is not None)

    def calibration(self, color: Color, routed) -> tuple[Calibration | None, Calibrator | None]:
        """The calibration whose threshold applies to an answer for ``color`` and the calibrator
        for the way it was read: the colour's own for its served answers (direct or after a second
        look), the answering model's transform calibrator for the colour-transform route alone."""
        own = self.manager.get(color)
        own_cal = getattr(own.model.spec, "calibration", None) if own else None
        if own is not None and (routed.route is Route.DIRECT or routed.reads > 1):
            return own_cal, own_cal.served if own_cal else None
        by = self.manager.get(Color.parse(routed.model))
        by_cal = getattr(by.model.spec, "calibration", None) if by else None
        calibrator = by_cal.transform.get(color.label) if by_cal else None
        return own_cal or by_cal, calibrator

    def refused(self, exc: Exception, request_id: str, protocol: str) -> CaptchaError:
        """The domain error for ``exc`` (counted in the metrics; an unexpected one is logged with
        its traceback and becomes a plain internal error)."""
        if isinstance(exc, CancelledError):  # the server stopped before the picture's turn came
            exc = CallEnded()
        elif isinstance(exc, TimeoutError):
            exc = DeadlineExceeded(f"no answer in time: {exc}")
        elif isinstance(exc, StoreUnavailable):  # the feedback store is locked or unreachable
            log.error("feedback store: %s", exc)
            exc = StoreBusy(f"the feedback store cannot take the report now ({exc}); try again")
        elif not isinstance(exc, CaptchaError):
            log.error("internal error", exc_info=exc, extra={"request_id": short_id(request_id)})
            exc = CaptchaError("internal error; the server log has the details")
        self.count_error(exc.code_name, protocol)
        return exc

    def count_error(self, code_name: str, protocol: str) -> None:
        """Counts a refusal; transports call it for those they make themselves (a body that is
        not JSON, a missing token)."""
        self.metrics.errors.labels(code_name, protocol or "none").inc()

    # -- what serves -----------------------------------------------------------------
    def colors(self) -> list[ColorStatus]:
        """Every colour, loaded or not, with the route and model that answer it now."""
        out = []
        for color in ALL_COLORS:
            own = self.manager.get(color)
            target = own or self.router.fallback_target(color)
            spec = own.model.spec if own else None
            calibration = getattr(spec, "calibration", None) or (
                getattr(target.model.spec, "calibration", None) if target else None)
            out.append(ColorStatus(
                color=color, loaded=own is not None, version=own.version if own else 0,
                route=(Route.DIRECT if own else Route.COLOR_TRANSFORM) if target else None,
                served_by=target.color.label if target else "", served_by_version=target.version if target else 0,
                version_policy=self.manager.version_policy.describe(color),
                runtime=getattr(target.model, "runtime", "") if target else "",
                input_width=spec.input_width if spec else 0, input_height=spec.input_height if spec else 0,
                preprocess_version=spec.preprocess_version if spec else 0,
                charset_size=spec.charset_size if spec else 0, reads_transforms=bool(spec and spec.reads_transforms),
                calibrated=bool(calibration and calibration.served),
                default_min_confidence=calibration.min_confidence if calibration else FALLBACK_MIN_CONFIDENCE))
        return out

    def serving(self) -> bool:
        """Whether at least one colour can be answered."""
        return bool(self.manager.loaded())
