"""Exports one colour's reader as a TF-Serving SavedModel version folder, atomically.

The folder holds two signatures over uint8 pictures of the model input size: ``serving_default``
(-> text, confidence, char_confidence: standard TensorFlow ops, for TensorFlow Serving) and
``logits`` (-> logits (B, T, classes), the last class the CTC blank: for runtimes that decode
outside the graph, ``captcha_core.ctc``) and, in ``assets/``, the character set and ``model.json``
(colour, input size, preprocessing version, what the model was trained to read).
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import tensorflow as tf

from captcha_core.preprocess import PREPROCESS_VERSION
from captcha_core.versions import next_version

from .charset import VOCABULARY_FILE
from .model import ModelConfig, batch_norms, fold_batch_norm, greedy_decode

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


def main(argv=None) -> None:
    """``python -m training.export --run-dir runs/main --out saved_models``: exports the latest
    checkpoint of a run as a new version of every colour (validated first, figures in model.json)."""
    import argparse

    from .train import export_all, load_state, trainer_from_run, validate, validation_set
    p = argparse.ArgumentParser(description=main.__doc__)
    p.add_argument("--run-dir", type=Path, required=True)
    p.add_argument("--out", type=Path, default=Path("saved_models"))
    p.add_argument("--validation-count", type=int, default=1024)
    args = p.parse_args(argv)
    state = load_state(args.run_dir / "state.json")
    trainer, latest = trainer_from_run(args.run_dir)
    scores = validate(trainer, validation_set(args.validation_count, trainer.mcfg))
    print(f"{latest}: " + " ".join(f"{k}={v:.3f}" for k, v in scores.items()))
    export_all(trainer, args.out, int(trainer.step.numpy()), int(trainer.pictures.numpy()), scores,
               state.get("wider_share"))


if __name__ == "__main__":
    main()
