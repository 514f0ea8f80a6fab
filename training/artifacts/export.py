"""Exports one colour's reader as a TF-Serving SavedModel version folder, atomically.

The folder holds two signatures over uint8 pictures of the model input size: ``serving_default``
(-> text, confidence, char_confidence: standard TensorFlow ops, for TensorFlow Serving) and
``logits`` (-> logits (B, T, classes), the last class the CTC blank: for runtimes that decode
outside the graph, ``captcha_core.ctc``) and, in ``assets/``, the character set and ``model.json``
(colour, input size, preprocessing version, what the model was trained to read).
``export_all`` exports the four colours of a trainer together, calibrated (``calibrate``).
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import tensorflow as tf

from captcha_core.colors import ALL_COLORS, Color
from captcha_core.preprocess import PREPROCESS_VERSION
from captcha_core.versions import newest, next_version

from ..net.model import ModelConfig, batch_norms, fold_batch_norm, greedy_decode
from ..synth.charset import VOCABULARY_FILE
from .calibrate import CalibrationJob, calibrate_in_place

LICENSE_FILE = VOCABULARY_FILE.with_name("LICENSE-vocabulary")


class ColorReader(tf.Module):
    def __init__(self, backbone, head, classifier, charset_path: str, cfg: ModelConfig):
        super().__init__()
        # serving runs the folded backbone; the batch-norm statistics are kept beside it so that
        # training can resume from this folder (unfold_batch_norm) without a second copy
        self.head, self.classifier = head, classifier
        self.serving_backbone = fold_batch_norm(backbone, cfg)
        self.norms = [tf.Variable(n, trainable=False) for n in batch_norms(backbone, cfg)]
        self.charset_asset = tf.saved_model.Asset(charset_path)
        self.table = tf.lookup.StaticHashTable(
            tf.lookup.TextFileInitializer(self.charset_asset, tf.int64, tf.lookup.TextFileIndex.LINE_NUMBER,
                                          tf.string, tf.lookup.TextFileIndex.WHOLE_LINE), default_value="")
        spec = tf.TensorSpec([None, cfg.input_height, cfg.input_width, 3], tf.uint8, name="images")
        self.serve = tf.function(self._serve, input_signature=[spec])
        self.logits = tf.function(self._logits, input_signature=[spec])

    def _logits(self, images):
        return {"logits": self.classifier(self.head(self.serving_backbone(images), training=False), training=False)}

    def _serve(self, images):
        logits = self._logits(images)["logits"]
        text, confidence, char_confidence = greedy_decode(
            logits, lambda ids: self.table.lookup(tf.cast(ids, tf.int64)))
        return {"text": text, "confidence": confidence, "char_confidence": char_confidence}


def export_color(model_dir: Path, color: str, backbone, head, classifier, cfg: ModelConfig,
                 metadata: dict) -> Path:
    """Writes ``model_dir/color/<next version>/`` and returns its path."""
    color_dir = Path(model_dir) / color
    color_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".export-", dir=color_dir))
    try:
        (staging / "src").mkdir()
        charset_copy = staging / "src" / "charset.txt"
        shutil.copyfile(VOCABULARY_FILE, charset_copy)
        reader = ColorReader(backbone, head, classifier, str(charset_copy), cfg)
        out = staging / "model"
        tf.saved_model.save(reader, str(out), signatures={"serving_default": reader.serve, "logits": reader.logits})
        assets = out / "assets"  # charset.txt was copied here by the Asset
        shutil.copyfile(LICENSE_FILE, assets / "LICENSE-vocabulary")
        info = {"color": color, "input_height": cfg.input_height, "input_width": cfg.input_width,
                "preprocess_version": PREPROCESS_VERSION, "charset": "charset.txt",
                "architecture": cfg.to_json(),
                "exported_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **metadata}
        (assets / "model.json").write_text(json.dumps(info, indent=2, ensure_ascii=False), encoding="utf-8")
        version = next_version(color_dir)
        final = color_dir / str(version)
        os.rename(out, final)  # atomic: the version folder appears complete or not at all
        return final
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def export_all(trainer, model_dir: Path, step: int, pictures: int, scores: dict,
               wider_share: float | None = None, calibration=None) -> list[Path]:
    """``trainer``'s four readers (its ``backbone``, ``heads``, ``classifier`` and ``mcfg``)
    as a new version of every colour in ``model_dir``, calibrated (``calibration``: a
    ``training.artifacts.calibrate.CalibrationJob``; None: the default one; scale 0: not calibrated) before it
    appears there: the four are exported into a staging repository, fitted together (the second
    look reads with two models), then each is moved into place."""
    Path(model_dir).mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".export-", dir=model_dir))
    try:
        for color in ALL_COLORS:
            reads = [color.label] + (["blue", "yellow", "black (through the colour transforms)"]
                                     if color is Color.RED else [])
            meta = {"training_step": step, "training_pictures": pictures, "reads": reads, "wider_share": wider_share,
                    "validation_exact_match": {k: v for k, v in scores.items() if k.startswith(color.label)}}
            export_color(staging, color.label, trainer.backbone, trainer.heads[color.label], trainer.classifier,
                         trainer.mcfg, meta)
        calibration = calibration or CalibrationJob()
        if calibration.scale > 0:
            calibrate_in_place(staging, calibration)
        out = []
        for color in ALL_COLORS:
            color_dir = Path(model_dir) / color.label
            color_dir.mkdir(exist_ok=True)
            final = color_dir / str(next_version(color_dir))
            os.rename(newest(staging / color.label), final)
            print(f"exported {final}", flush=True)
            out.append(final)
        return out
    finally:
        shutil.rmtree(staging, ignore_errors=True)
