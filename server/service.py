"""The gRPC servicer: turns messages into data-plane calls (``server.plane``) and back, and domain
errors into status codes."""
from __future__ import annotations

import logging
import queue
import threading
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor

import grpc

from captcha.v1 import captcha_pb2 as pb
from captcha.v1 import captcha_pb2_grpc as pb_grpc
from captcha_core.colors import Color
from captcha_core.proto_names import values

from .calls import Call, CallEnded
from .errors import CaptchaError, InvalidRequest
from .plane import Advice, Answer, DataPlane, short_id
from .routing import Route

log = logging.getLogger("captcha.service")

COLOR_TO_PB = {Color.parse(name): number for number, name in values(pb.Color, "COLOR").items()}
PB_TO_COLOR = {v: k for k, v in COLOR_TO_PB.items()}
ROUTE_TO_PB = {Route(name): number for number, name in values(pb.Route, "ROUTE").items()}
PB_TO_ROUTE = {v: k for k, v in ROUTE_TO_PB.items()}
ADVICE_TO_PB = {Advice(name): number for number, name in values(pb.Advice, "ADVICE").items()}
STREAM_WINDOW = 64  # pictures of one stream being read at once
PROTOCOL = "grpc"


def resolve_color(request: pb.RecognizeRequest) -> Color:
    by_enum = PB_TO_COLOR.get(request.color)
    if request.color and by_enum is None:
        raise InvalidRequest(f"color {request.color} is not a known Color value")
    by_key4 = None
    if request.key4:
        by_key4 = next((c for c in Color if c.key4 == request.key4), None)
        if by_key4 is None:
            raise InvalidRequest(f"key4 {request.key4[:8]!r} is not one of 00, 01, 02, 03")
    if by_enum and by_key4 and by_enum is not by_key4:
        raise InvalidRequest(f"color {by_enum.label} and key4 {request.key4} disagree")
    color = by_enum or by_key4
    if color is None:
        raise InvalidRequest("color is unspecified: set color (COLOR_RED, ...) or key4 (00, 01, 02, 03)")
    return color


def to_reply(answer: Answer) -> pb.RecognizeResponse:
    return pb.RecognizeResponse(
        text=answer.text, confidence=answer.confidence, route=ROUTE_TO_PB[answer.route], model=answer.model,
        request_id=answer.request_id, model_version=answer.version, color=COLOR_TO_PB[answer.color],
        server_ms=answer.server_ms, reads=answer.reads, agreeing_reads=answer.agreeing, answer_id=answer.answer_id,
        path_confidence=answer.path_confidence, advice=ADVICE_TO_PB[answer.advice],
        min_confidence=answer.min_confidence, calibrated=answer.calibrated, characters=[pb.CharacterScore(character=ch, confidence=p)
                    for ch, p in zip(answer.text, answer.char_confidences)])


class CaptchaService(pb_grpc.CaptchaServiceServicer):
    def __init__(self, plane: DataPlane, stream_pool: ThreadPoolExecutor):
        self.plane, self.pool = plane, stream_pool

    def _answer(self, request: pb.RecognizeRequest, call: Call | None = None) -> pb.RecognizeResponse:
        try:
            color = resolve_color(request)
            if request.route and request.route not in PB_TO_ROUTE:
                raise InvalidRequest(f"route {request.route} is not a known Route value")
        except InvalidRequest as exc:
            self.plane.count_error(exc.code_name, PROTOCOL)
            raise
        min_confidence = request.min_confidence if request.HasField("min_confidence") else None
        return to_reply(self.plane.recognize(request.image, color, PB_TO_ROUTE.get(request.route),
                                             request_id=request.request_id, min_confidence=min_confidence,
                                             call=call, protocol=PROTOCOL))

    @staticmethod
    def _status(exc: Exception) -> tuple[grpc.StatusCode, str]:
        """``exc`` comes from the data plane: a domain error, already counted."""
        if isinstance(exc, CancelledError):  # a stream picture dropped before its turn came
            exc = CallEnded()
        if isinstance(exc, CaptchaError):
            return getattr(grpc.StatusCode, exc.code_name), str(exc)
        log.error("internal error", exc_info=exc)
        return grpc.StatusCode.INTERNAL, "internal error; the server log has the details"

    # -- rpcs --------------------------------------------------------------------------
    def Recognize(self, request, context):
        call = Call.within(context.time_remaining())
        context.add_callback(call.end)  # a caller that cancels frees its queued reading
        try:
            return self._answer(request, call)
        except Exception as exc:
            code, message = self._status(exc)
            log.info("refused: %s", message, extra={"request_id": short_id(request.request_id), "code": code.name})
            context.abort(code, message)

    def RecognizeStream(self, request_iterator, context):
        """Each answer goes back as soon as it and those before it are ready (in request order),
        so a caller may wait for one answer before sending the next. At most STREAM_WINDOW
        pictures of one stream are read at once; when the call ends (done, cancelled, expired),
        what is still queued is dropped."""
        queued: queue.Queue = queue.Queue()
        room = threading.Semaphore(STREAM_WINDOW)
        call = Call.within(context.time_remaining())  # the stream's deadline, for every picture
        context.add_callback(call.end)
        lock = threading.Lock()  # between queueing a picture and dropping the queue at the end

        def take_requests():
            index = 0
            try:
                for request in request_iterator:
                    while not room.acquire(timeout=0.1):
                        if call.ended:
                            return
                    with lock:
                        if call.ended:
                            return
                        queued.put((index, request, self.pool.submit(self._answer, request, call)))
                    index += 1
            except InvalidRequest as exc:  # a request that did not parse: refused in its turn
                self.plane.count_error(exc.code_name, PROTOCOL)
                refused: Future = Future()
                refused.set_exception(exc)
                queued.put((index, pb.RecognizeRequest(), refused))
            except Exception as exc:  # the caller's side of the stream broke off
                log.info("stream ended while reading requests: %s", exc)
            finally:
                queued.put(None)

        threading.Thread(target=take_requests, name="stream-requests", daemon=True).start()
        try:
            while (item := queued.get()) is not None:
                index, request, future = item
                try:
                    reply = future.result()
                except Exception as exc:
                    code, message = self._status(exc)
                    context.abort(code, f"request {index} (request_id {short_id(request.request_id)!r}): {message}")
                room.release()
                yield reply
        finally:
            with lock:
                call.end()  # readings queued for the stream's pictures are dropped
                while True:  # and pictures not yet begun are not read
                    try:
                        item = queued.get_nowait()
                    except queue.Empty:
                        break
                    if item is not None:
                        item[2].cancel()

    def ListModels(self, request, context):
        models = [pb.ModelInfo(
            color=COLOR_TO_PB[c.color], name=c.color.label, version=c.version, input_width=c.input_width,
            input_height=c.input_height, preprocess_version=c.preprocess_version, charset_size=c.charset_size,
            reads_transforms=c.reads_transforms, loaded=c.loaded,
            route=ROUTE_TO_PB[c.route] if c.route else pb.ROUTE_UNSPECIFIED, served_by=c.served_by,
            served_by_version=c.served_by_version, version_policy=c.version_policy, runtime=c.runtime,
            calibrated=c.calibrated, default_min_confidence=c.default_min_confidence)
            for c in self.plane.colors()]
        live = [pb.LiveAccuracy(color=COLOR_TO_PB[Color.parse(x.color)], model=x.model, version=x.version,
                                accepted=x.accepted, rejected=x.rejected, accuracy=x.accuracy)
                for x in self.plane.live()]
        return pb.ListModelsResponse(models=models, confidence_threshold=self.plane.router.threshold,
                                     second_look_views=self.plane.router.views, live_accuracy=live)

    def ReportOutcome(self, request, context):
        try:
            outcome = self.plane.report(request.answer_id, request.accepted, request.submitted_text, PROTOCOL)
        except Exception as exc:
            code, message = self._status(exc)
            log.info("report refused: %s", message, extra={"code": code.name})
            context.abort(code, message)
        return pb.ReportOutcomeResponse(stored=outcome.stored, verified=outcome.verified)
