"""Routing: which model reads a picture, directly or through a colour transform.

Direct: the asked colour's model. Colour transform: the picture is transformed so that the
asked colour becomes red and the red model reads it; without a red model, the transform goes
toward whichever model is loaded. With a confidence threshold, a direct answer below it is
also read through the transform route, and the more confident answer wins.
"""
from __future__ import annotations

import enum
from concurrent.futures import Future
from dataclasses import dataclass

import numpy as np

from captcha_core.colors import ALL_COLORS, Color
from captcha_core.preprocess import resize
from captcha_core.transforms import between

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
        direct = self.repository.get(color) if route in (None, Route.DIRECT) else None
        if route is Route.DIRECT and direct is None:
            raise NoModel(f"no {color.label} model is loaded")
        fallback = self._fallback_target(color) if route in (None, Route.COLOR_TRANSFORM) else None
        if direct is None and fallback is None:
            raise NoModel(f"no model can read {color.label}: none is loaded")
        if direct is None:
            return self._wait(self._submit(fallback, image, color), fallback, Route.COLOR_TRANSFORM)
        answer = self._wait(self._submit(direct, image, color), direct, Route.DIRECT)
        if route is None and fallback is not None and answer.reading.confidence < self.threshold:
            other = self._wait(self._submit(fallback, image, color), fallback, Route.COLOR_TRANSFORM)
            if other.reading.confidence > answer.reading.confidence:
                return other
        return answer

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

    def _wait(self, future: Future, servable: Servable, route: Route) -> Answer:
        reading = future.result(timeout=self.timeout)
        return Answer(reading, route, servable.color.label, servable.version)
