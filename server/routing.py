"""Routing: which model reads a picture, directly or through a colour transform.

Direct: the asked colour's model. Colour transform: the picture is transformed so that the
asked colour becomes red and the red model reads it; without a red model, the transform goes
toward whichever model is loaded. With a confidence threshold, a direct answer below it is
also read by the red model through the transform, and the more confident answer wins.
"""
from __future__ import annotations

import enum
from concurrent.futures import Future
from dataclasses import dataclass

import numpy as np

from captcha_core.colors import ALL_COLORS, Color
from captcha_core.preprocess import resize
from captcha_core.transforms import between

from .batching import BatcherClosed
from .errors import NoModel
from .models import Reading
from .repository import ModelRepository, Servable


class Route(enum.Enum):
    DIRECT = "direct"
    COLOR_TRANSFORM = "color_transform"


@dataclass(frozen=True)
class Answer:
    reading: Reading
    route: Route
    model: str
    version: int


class Router:
    def __init__(self, repository: ModelRepository, threshold: float = 0.0, timeout: float = 10.0):
        self.repository, self.threshold, self.timeout = repository, threshold, timeout

    def read(self, image: np.ndarray, color: Color, route: Route | None = None) -> Answer:
        """image: decoded RGB uint8 (H, W, 3) at its own size."""
        direct_pick = (lambda: self.repository.get(color)) if route in (None, Route.DIRECT) else None
        fallback_pick = (lambda: self._fallback_target(color)) if route in (None, Route.COLOR_TRANSFORM) else None
        answer = self._via(direct_pick, image, color, Route.DIRECT)
        if answer is None:
            if route is Route.DIRECT:
                raise NoModel(f"no {color.label} model is loaded")
            answer = self._via(fallback_pick, image, color, Route.COLOR_TRANSFORM)
            if answer is None:
                raise NoModel(f"no model can read {color.label}: none is loaded")
            return answer
        if route is None and color is not Color.RED and answer.reading.confidence < self.threshold:
            # a second opinion comes from the red model only: it is the one trained on transforms
            other = self._via(lambda: self.repository.get(Color.RED), image, color, Route.COLOR_TRANSFORM)
            if other is not None and other.reading.confidence > answer.reading.confidence:
                return other
        return answer

    def _via(self, pick, image: np.ndarray, color: Color, route: Route) -> Answer | None:
        """Reads with the servable ``pick()`` gives (None: no such servable)."""
        for _ in range(3):  # a servable may be swapped out between look-up and submit
            servable = pick() if pick else None
            if servable is None:
                return None
            try:
                future = self._submit(servable, image, color)
            except BatcherClosed:
                continue
            return Answer(future.result(timeout=self.timeout), route, servable.color.label, servable.version)
        raise NoModel(f"the {color.label} model is being replaced; try again")

    def _fallback_target(self, color: Color) -> Servable | None:
        """The red model, or (without one) any other loaded model, for the transform route."""
        for target in (Color.RED, *ALL_COLORS):
            if target is not color and (servable := self.repository.get(target)):
                return servable
        return None

    def _submit(self, servable: Servable, image: np.ndarray, color: Color) -> Future:
        spec = servable.model.spec
        picture = image if servable.color is color else between(image, color, servable.color)
        return servable.batcher.submit(resize(picture, spec.input_width, spec.input_height))
