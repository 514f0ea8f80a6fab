"""A loaded colour model: the SavedModel, what its assets say, and a batch ``read``."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class Reading:
    text: str
    confidence: float
    char_confidences: tuple[float, ...]


@dataclass(frozen=True)
class ModelSpec:
    """What a model's ``assets/model.json`` says about it."""

    name: str
    version: int
    input_width: int
    input_height: int
    preprocess_version: int
    charset_size: int
    reads_transforms: bool

    @classmethod
    def from_folder(cls, folder: Path) -> "ModelSpec":
        info = json.loads((folder / "assets" / "model.json").read_text(encoding="utf-8"))
        charset = (folder / "assets" / info.get("charset", "charset.txt")).read_text(encoding="utf-8")
        return cls(name=info["color"], version=int(folder.name), input_width=int(info["input_width"]),
                   input_height=int(info["input_height"]),
                   preprocess_version=int(info["preprocess_version"]),
                   charset_size=len([c for c in charset.splitlines() if c.strip()]),
                   reads_transforms=len(info.get("reads", [])) > 1)


class Model(Protocol):
    spec: ModelSpec

    def read(self, images: np.ndarray) -> list[Reading]:
        """images: (B, input_height, input_width, 3) uint8."""


class SavedModelReader:
    """A TF SavedModel with a ``serving_default`` signature (text, confidence, char_confidence)."""

    def __init__(self, folder: Path):
        import tensorflow as tf  # imported here so the rest of the core stays light

        self.spec = ModelSpec.from_folder(folder)
        self._tf = tf
        self._fn = tf.saved_model.load(str(folder)).signatures["serving_default"]
        # one warm-up call traces the graph before the model is put in service
        self.read(np.zeros((1, self.spec.input_height, self.spec.input_width, 3), np.uint8))

    def read(self, images: np.ndarray) -> list[Reading]:
        out = self._fn(images=self._tf.constant(images))
        texts = out["text"].numpy()
        confs = out["confidence"].numpy()
        chars = out["char_confidence"].numpy()
        return [Reading(t.decode("utf-8"), float(c), tuple(float(v) for v in row if v >= 0))
                for t, c, row in zip(texts, confs, chars)]


def load_saved_model(folder: Path) -> Model:
    return SavedModelReader(folder)
