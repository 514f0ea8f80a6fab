"""Fake models for tests that need no TensorFlow.

A fake model folder holds ``fake.json``: {"name": ..., "confidence": ..., "fail": false, "fail_reads": false,
"delay": 0}: ``delay`` seconds spent on every batch. The
fake reads every picture as a text telling what it saw, so routing can be checked: the mean
colour of the picture's centre row says which transform (if any) was applied.
"""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np

from captcha_core.calibration import Calibration
from captcha_core.ctc import Charset
from server.models import ModelSpec, Reading

#: what a fake model can output: hex digits (what it reads) and the rest of the Latin set, two Chinese
FAKE_CHARSET = Charset(list("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ") + ["中", "国"])


class FakeModel:
    def __init__(self, folder: Path):
        info = json.loads((folder / "fake.json").read_text())
        if info.get("fail"):
            raise RuntimeError("this version is corrupt")
        self.spec = ModelSpec(name=info["name"], version=int(folder.name), input_width=100, input_height=40,
                              preprocess_version=1, charset_size=3601, reads_transforms=info["name"] == "red",
                              calibration=Calibration.read(folder))
        self.charset = FAKE_CHARSET
        self.confidence = float(info.get("confidence", 0.9))
        self.fail_reads = bool(info.get("fail_reads"))
        self.delay = float(info.get("delay", 0))
        self.batches: list[int] = []
        self.lock = threading.Lock()

    def read(self, images: np.ndarray) -> list[Reading]:
        assert images.dtype == np.uint8 and images.shape[1:] == (40, 100, 3)
        with self.lock:
            self.batches.append(len(images))
        time.sleep(self.delay)
        if self.fail_reads:
            raise RuntimeError("this model fails at every read")
        # the text is the picture's top-left pixel, so a test can see which transform ran
        return [Reading("%02X%02X%02X" % tuple(int(v) for v in img[0, 0]), self.confidence,
                        (self.confidence,) * 6) for img in images]


def write_fake(root: Path, color: str, version: int, confidence: float = 0.9, fail: bool = False,
               fail_reads: bool = False, delay: float = 0.0, calibration: Calibration | None = None) -> Path:
    """``calibration``: written in the folder's assets, as the exporter does."""
    folder = Path(root) / color / str(version)
    folder.mkdir(parents=True, exist_ok=True)
    if calibration is not None:
        (folder / "assets").mkdir(exist_ok=True)
        calibration.write(folder)
    (folder / "fake.json").write_text(json.dumps({"name": color, "confidence": confidence, "fail": fail,
                                                  "fail_reads": fail_reads, "delay": delay}))
    return folder


def solid_png(rgb=(10, 20, 30), size=(90, 35)) -> bytes:
    import io
    from PIL import Image
    buf = io.BytesIO()
    Image.new("RGB", size, rgb).save(buf, format="PNG")
    return buf.getvalue()
