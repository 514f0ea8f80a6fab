"""The TensorFlow runtime: a version folder's ``logits`` signature decoded in numpy
(``captcha_core.ctc``), or, for versions exported before that signature, ``serving_default``."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from captcha_core.ctc import Charset, greedy_decode

from .models import ModelSpec, Reading

_threads = {"wanted": 0, "applied": False}


def use_threads(count: int) -> None:
    """TensorFlow's threads per op (0: TensorFlow decides), applied when the first model loads, so
    that a server on another runtime never imports TensorFlow for it."""
    _threads["wanted"] = count


def _apply_threads(tf) -> None:
    if _threads["wanted"] and not _threads["applied"]:
        _threads["applied"] = True
        try:
            tf.config.threading.set_intra_op_parallelism_threads(_threads["wanted"])
        except RuntimeError as exc:  # TensorFlow already ran in this process
            logging.getLogger("captcha.runtime").warning("TensorFlow threads stay as they are (%s)", exc)


class TensorFlowModel:
    runtime = "tensorflow"

    def __init__(self, folder: Path):
        import tensorflow as tf  # imported here so the rest of the server stays light
        _apply_threads(tf)

        folder = Path(folder)
        self.spec = ModelSpec.from_folder(folder)
        self.charset = Charset.from_file(folder / "assets" / self.spec.charset_file)
        self._tf = tf
        loaded = tf.saved_model.load(str(folder))
        self.signature = "logits" if "logits" in loaded.signatures else "serving_default"
        self._fn = loaded.signatures[self.signature]
        self._loaded = loaded  # the signatures' variables live as long as this
        # one warm-up call traces the graph before the model is put in service
        self.read(np.zeros((1, self.spec.input_height, self.spec.input_width, 3), np.uint8))

    def logits(self, images: np.ndarray) -> np.ndarray:
        if self.signature != "logits":
            raise RuntimeError("this version has no logits signature")
        return self._fn(images=self._tf.constant(images))["logits"].numpy()

    def read(self, images: np.ndarray) -> list[Reading]:
        if self.signature == "logits":
            return greedy_decode(self.logits(images), self.charset)
        out = self._fn(images=self._tf.constant(images))
        return [Reading(t.decode("utf-8"), float(c), tuple(float(v) for v in row if v >= 0))
                for t, c, row in zip(out["text"].numpy(), out["confidence"].numpy(),
                                     out["char_confidence"].numpy())]
