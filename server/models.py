"""A loaded colour model: what its assets say (``ModelSpec``) and a batch ``read``, on one of
two runtimes: TensorFlow (``server.runtime_tf``) or OpenVINO (``server.runtime_openvino``).
``load_model`` picks the runtime; nothing here imports either."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from captcha_core import versions
from captcha_core.calibration import Calibration
from captcha_core.ctc import Reading  # noqa: F401  (the reading every model returns)

log = logging.getLogger("captcha.models")
RUNTIMES = ("auto", "openvino", "tensorflow")
#: OpenVINO's precision unless asked otherwise (f32: the same answers as TensorFlow)
DEFAULT_PRECISION = "f32"


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
    charset_file: str = "charset.txt"
    calibration: Calibration | None = None  # assets/calibration.json (None: confidence stays the path's)

    @classmethod
    def from_folder(cls, folder: Path) -> "ModelSpec":
        info = versions.info(folder)
        charset_file = info.get("charset", "charset.txt")
        charset = (folder / "assets" / charset_file).read_text(encoding="utf-8")
        return cls(name=info["color"], version=int(folder.name), input_width=int(info["input_width"]),
                   input_height=int(info["input_height"]),
                   preprocess_version=int(info["preprocess_version"]),
                   charset_size=len([c for c in charset.splitlines() if c.strip()]),
                   reads_transforms=len(info.get("reads", [])) > 1, charset_file=charset_file,
                   calibration=Calibration.read(folder))


class Model(Protocol):
    spec: ModelSpec

    def read(self, images: np.ndarray) -> list[Reading]:
        """images: (B, input_height, input_width, 3) uint8."""


def openvino_available() -> bool:
    try:
        import openvino  # noqa: F401
    except ImportError:
        return False
    return True


def has_logits_signature(folder: Path) -> bool:
    """Whether the version's SavedModel has a ``logits`` signature; ValueError when the folder
    holds no readable SavedModel (no runtime can load it, and none is tried)."""
    from google.protobuf.message import DecodeError

    from .runtime_openvino import LOGITS_SIGNATURE, signatures
    try:
        return LOGITS_SIGNATURE in signatures((Path(folder) / "saved_model.pb").read_bytes())
    except (OSError, DecodeError) as exc:
        raise ValueError(f"{folder} holds no readable SavedModel ({type(exc).__name__}: {exc})") from None


def load_model(folder: Path, runtime: str = "auto", precision: str = DEFAULT_PRECISION, threads: int = 0) -> Model:
    """``runtime``: ``openvino``, ``tensorflow``, or ``auto``: OpenVINO where it is installed, the
    version has a ``logits`` signature and OpenVINO loads it, else TensorFlow. ``precision`` and
    ``threads`` (per model call, 0: the runtime decides) are OpenVINO's."""
    if runtime not in RUNTIMES:
        raise ValueError(f"runtime {runtime!r}: one of {', '.join(RUNTIMES)}")
    if runtime == "auto":
        if openvino_available() and has_logits_signature(folder):  # a folder that is no SavedModel fails here
            try:
                return load_model(folder, "openvino", precision, threads)
            except Exception as exc:
                log.warning("OpenVINO could not load %s (%s: %s); TensorFlow serves it", folder,
                            type(exc).__name__, exc)
        runtime = "tensorflow"
    if runtime == "openvino":
        from .runtime_openvino import OpenVinoModel
        model = OpenVinoModel(folder, precision, threads=threads)
        detail = f"openvino, {model.precision}"
    else:
        from .runtime_tf import TensorFlowModel
        model = TensorFlowModel(folder)
        detail = f"tensorflow, {model.signature} signature"
    log.info("loaded %s (%s)", folder, detail)
    return model


def loader(runtime: str = "auto", precision: str = DEFAULT_PRECISION, threads: int = 0):
    """A folder -> Model function for the repository."""
    return lambda folder: load_model(folder, runtime, precision, threads)
