"""Routing: which model reads a picture, directly or through a colour transform.

Direct: the asked colour's model. Colour transform: the picture is transformed so that the
asked colour becomes red and the red model reads it; without a red model, the transform goes
toward whichever model is loaded. With a confidence threshold, a direct answer below it gets
a second look: the picture is also read by the red model through the transform and, with more
than one view, moved a pixel each way (``captcha_core.views``) and read again by both; the
answer most readings agree on wins (of two readings that disagree, the more confident one).
"""
from __future__ import annotations

import dataclasses
import enum
import logging
import time
from concurrent.futures import Future, wait
from dataclasses import dataclass

import numpy as np

from captcha_core.colors import ALL_COLORS, Color
from captcha_core.preprocess import resize
from captcha_core.transforms import between
from captcha_core.views import second_look, views

from .batching import BatcherClosed
from .calls import Call, CallEnded
from .errors import CaptchaError, NoModel
from .models import Reading
from .manager import ModelManager, Servable

log = logging.getLogger("captcha.routing")


class Route(enum.Enum):
    DIRECT = "direct"
    COLOR_TRANSFORM = "color_transform"


@dataclass(frozen=True)
class Routed:
    """A reading and how it was made."""

    reading: Reading
    route: Route
    model: str
    version: int
    reads: int = 1     # readings made of the picture
    agreeing: int = 1  # of them, those that gave this text


class Router:
    def __init__(self, repository: ModelManager, threshold: float = 0.0, timeout: float = 10.0,
                 views: int = 1):
        """views: pictures read by each model in a second look (1: the picture as sent only)."""
        self.repository, self.threshold, self.timeout, self.views = repository, threshold, timeout, views

    def read(self, image: np.ndarray, color: Color, route: Route | None = None,
             call: Call | None = None) -> Routed:
        """image: decoded RGB uint8 (H, W, 3) at its own size. ``call``: the caller's deadline
        (the router waits at most its own timeout) and the way to drop its readings still queued
        when it goes away: past the deadline TimeoutError, after ``call.end()`` CallEnded."""
        call = call or Call()
        wait_s = call.time_left(self.timeout)
        deadline = time.monotonic() + wait_s
        direct_pick = (lambda: self.repository.get(color)) if route in (None, Route.DIRECT) else None
        fallback_pick = (lambda: self.fallback_target(color)) if route in (None, Route.COLOR_TRANSFORM) else None
        answers = self._via(direct_pick, [image], color, Route.DIRECT, wait_s, call)
        if answers is None:
            if route is Route.DIRECT:
                raise NoModel(f"no {color.label} model is loaded")
            answers = self._via(fallback_pick, [image], color, Route.COLOR_TRANSFORM, wait_s, call)
            if answers is None:
                raise NoModel(f"no model can read {color.label}: none is loaded")
            return answers[0]
        answer = answers[0]
        if route is None and answer.reading.confidence < self.threshold:
            return self._second_look(image, color, answer, max(0.0, deadline - time.monotonic()), call)
        return answer

    def _second_look(self, image: np.ndarray, color: Color, first: Routed, wait_s: float, call: Call) -> Routed:
        """The moved views read by the direct model, and every view by the red model through the
        transform (the red model is the one trained on transforms); the majority wins. In two
        stages (``captcha_core.views.stages``): the later views are read only when the first
        stage's readings are not ``settled``.

        The second look only adds readings to the answer in hand: a model that is overloaded,
        being replaced, failing or too slow leaves its readings out, and the vote goes on without
        them (logged). ``wait_s`` is the caller's time left: both stages together keep to it."""
        deadline = time.monotonic() + wait_s
        moved = views(image, self.views)

        def read_stage(stage: range) -> list[Routed]:
            plans = [(lambda: self.repository.get(color), [moved[i] for i in stage if i > 0], Route.DIRECT)]
            if color is not Color.RED:
                plans.append((lambda: self.repository.get(Color.RED), [moved[i] for i in stage], Route.COLOR_TRANSFORM))
            return self._read_all_you_can([p for p in plans if p[1]], color, max(0.0, deadline - time.monotonic()), call)

        chosen, reads, agreeing = second_look(first, read_stage, len(moved),
                                              lambda a: (a.reading.text, a.reading.confidence))
        return dataclasses.replace(chosen, reads=reads, agreeing=agreeing)

    def _read_all_you_can(self, plans, color: Color, wait_s: float, call: Call) -> list[Routed]:
        """Readings of every (pick, pictures, route) plan that its model gives in time, in plan order."""
        started = []
        for pick, images, route in plans:
            try:
                if (one := self._start(pick, images, color, route, call)) is not None:
                    started.append(one)
            except CaptchaError as exc:
                log.warning("second look without the %s route: %s", route.value, exc)
        wait([f for _, _, futures in started for f in futures], timeout=wait_s)
        for _, _, futures in started:
            for future in futures:
                future.cancel()  # no-op for the finished; a reading still queued is dropped
        answers = []
        for servable, route, futures in started:
            for future in futures:
                if future.cancelled() or not future.done():
                    log.warning("second look: a %s reading missed the deadline", servable.color.label)
                elif future.exception() is not None:
                    log.warning("second look: the %s model failed: %s", servable.color.label, future.exception())
                else:
                    answers.append(Routed(future.result(), route, servable.color.label, servable.version))
        return answers

    def _via(self, pick, images: list[np.ndarray], color: Color, route: Route, wait_s: float,
             call: Call) -> list[Routed] | None:
        """Reads every picture with the servable ``pick()`` gives (None: no such servable)."""
        return self._finish(self._start(pick, images, color, route, call), wait_s)

    def _start(self, pick, images: list[np.ndarray], color: Color, route: Route, call: Call):
        for _ in range(3):  # a servable may be swapped out between look-up and submit
            servable = pick() if pick else None
            if servable is None:
                return None
            try:
                futures = self._submit(servable, images, color)
                call.track(futures)
                return servable, route, futures
            except BatcherClosed:
                continue
        raise NoModel(f"the {color.label} model is being replaced; try again")

    def _finish(self, started, wait_s: float) -> list[Routed] | None:
        if started is None:
            return None
        servable, route, futures = started
        _, late = wait(futures, timeout=wait_s)
        if late:
            for future in late:
                future.cancel()  # still queued: dropped, nobody waits for it any more
            raise TimeoutError(f"the {servable.color.label} model did not answer in time")
        if any(f.cancelled() for f in futures):
            raise CallEnded()
        return [Routed(f.result(), route, servable.color.label, servable.version) for f in futures]

    def fallback_target(self, color: Color) -> Servable | None:
        """The red model, or (without one) any other loaded model, for the transform route."""
        for target in (Color.RED, *ALL_COLORS):
            if target is not color and (servable := self.repository.get(target)):
                return servable
        return None

    def _submit(self, servable: Servable, images: list[np.ndarray], color: Color) -> list[Future]:
        spec = servable.model.spec
        pictures = [image if servable.color is color else between(image, color, servable.color) for image in images]
        return servable.batcher.submit_many([resize(p, spec.input_width, spec.input_height) for p in pictures])
