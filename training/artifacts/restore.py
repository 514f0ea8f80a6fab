"""Starts training from the newest committed SavedModels (one per colour)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf

from captcha_core import versions
from captcha_core.colors import ALL_COLORS

from ..net.model import LEGACY, ModelConfig, build_backbone, unfold_batch_norm


newest_version = versions.newest
version_info = versions.info


def version_architecture(version: Path) -> ModelConfig:
    """The architecture a version folder was exported with."""
    info = version_info(version)
    return ModelConfig.from_json(info["architecture"]) if "architecture" in info else LEGACY


def architecture(model_dir: Path) -> ModelConfig | None:
    """The architecture of the newest red model (else of any colour); None without models."""
    for color in ALL_COLORS:  # red first
        version = newest_version(Path(model_dir) / color.label)
        if version is not None:
            return version_architecture(version)
    return None


def read_parts(version: Path, cfg: ModelConfig, head, classifier=None, backbone=None) -> None:
    """Sets ``head`` (and ``classifier`` and ``backbone``, in training form, where given) from a
    version folder. Versions exported since the architecture travels in model.json hold the
    folded backbone and its batch-norm statistics, from which the training form is rebuilt
    exactly; older versions hold the training form itself."""
    path = str(version / "variables" / "variables")
    parts, folded = {"head": head}, None
    if classifier is not None:
        parts["classifier"] = classifier
    if backbone is not None:
        names = {name.split("/")[0] for name, _ in tf.train.list_variables(path)}
        if "backbone" in names:
            parts["backbone"] = backbone
        else:
            folded = build_backbone(cfg, folded=True)
            norms = [tf.Variable(np.zeros((4, filters), np.float32)) for filters, _, _ in cfg.blocks]
            parts.update(serving_backbone=folded, norms=norms)
    tf.train.Checkpoint(**parts).read(path).assert_existing_objects_matched().expect_partial()
    if folded is not None:
        unfold_batch_norm(folded, [n.numpy() for n in parts["norms"]], backbone)


def restore_from_saved_models(trainer, model_dir: Path) -> None:
    """Backbone and classifier from the red model (the most trained), each head from its own
    (``read_parts``)."""
    for color, head in trainer.heads.items():
        version = newest_version(Path(model_dir) / color)
        if version is None:
            print(f"no committed {color} model: its head starts fresh")
            continue
        if version_architecture(version) != trainer.mcfg:
            print(f"{version} has another architecture: not used ({color} starts fresh)")
            continue
        shared = color == "red" or not (Path(model_dir) / "red").exists()
        read_parts(version, trainer.mcfg, head, *((trainer.classifier, trainer.backbone) if shared else ()))
        print(f"{color}: initialised from {version}")
