"""A training run's weights as plain arrays (``.npz``), to train elsewhere and come back.

    python -m training.fit.weights dump --run-dir runs/main --out build/accel/init.npz
    python -m training.fit.weights dump --models saved_models --out build/accel/init.npz
    python -m training.fit.weights load --npz weights.npz --run-dir runs/next

``dump`` writes every weight of a run's latest checkpoint, or of the newest committed models
(backbone with its batch-norm statistics, the four heads, the classifier), keyed ``part/layer/index`` in Keras's own layout,
plus the architecture and how long the weights were trained (pictures, steps; each leg of
``training.fit.accel_train`` adds its own). ``load`` starts a run folder from such a file: a checkpoint that
``training.fit.train --run-dir`` resumes (with a fresh optimizer) and ``training.fit.export_run`` exports.
``training.fit.accel_train`` reads and writes the same layout.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from ..net.architecture import ModelConfig

ARCH_KEY = "architecture_json"
TRAINED_KEY = "trained_json"  # {"pictures": N, "steps": S}: the training the weights carry


def _parts(trainer) -> dict:
    return {"backbone": trainer.backbone, "classifier": trainer.classifier,
            **{f"head_{c}": h for c, h in trainer.heads.items()}}


def _weights(trainer):
    """(key, variable) for every weight of the trainer, keyed ``part/layer/index``."""
    for part, model in _parts(trainer).items():
        for layer in model.layers:
            for i, w in enumerate(layer.weights):
                yield f"{part}/{layer.name}/{i}", w


def to_arrays(trainer) -> dict[str, np.ndarray]:
    trained = {"pictures": int(trainer.pictures.numpy()), "steps": int(trainer.step.numpy())}
    return {ARCH_KEY: np.array(json.dumps(trainer.mcfg.to_json())), **trained_array(**trained),
            **{key: np.asarray(w) for key, w in _weights(trainer)}}


def trained_array(pictures: int, steps: int) -> dict[str, np.ndarray]:
    return {TRAINED_KEY: np.array(json.dumps({"pictures": int(pictures), "steps": int(steps)}))}


def trained_of(arrays) -> dict[str, int]:
    """Pictures and steps the weights were trained for (0 and 0 for files written without them)."""
    data = json.loads(str(arrays[TRAINED_KEY])) if TRAINED_KEY in arrays else {}
    return {"pictures": int(data.get("pictures", 0)), "steps": int(data.get("steps", 0))}


def architecture_of(arrays) -> ModelConfig:
    return ModelConfig.from_json(json.loads(str(arrays[ARCH_KEY])))


def from_arrays(trainer, arrays) -> None:
    """Sets every weight of ``trainer`` from ``arrays``; a missing or misshapen one is an error."""
    if architecture_of(arrays) != trainer.mcfg:
        raise ValueError("the weights are of another architecture than the run's")
    for key, w in _weights(trainer):
        if key not in arrays or tuple(arrays[key].shape) != tuple(w.shape):
            raise ValueError(f"{key}: missing or of another shape")
        w.assign(arrays[key])


def main(argv=None) -> None:
    import tensorflow as tf

    from .train import Trainer, trainer_from_run
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser("dump")
    source = d.add_mutually_exclusive_group(required=True)
    source.add_argument("--run-dir", type=Path, help="a training run: its latest checkpoint")
    source.add_argument("--models", type=Path, help="a model folder: its newest version of each colour")
    d.add_argument("--out", type=Path, required=True)
    ld = sub.add_parser("load")
    ld.add_argument("--npz", type=Path, required=True)
    ld.add_argument("--run-dir", type=Path, required=True)
    ld.add_argument("--pictures", type=int, help="pictures the weights were trained on (default: as the file says)")
    ld.add_argument("--step", type=int, help="training steps the weights were trained for (default: as the file says)")
    args = p.parse_args(argv)
    if args.command == "dump":
        if args.run_dir:
            trainer, latest = trainer_from_run(args.run_dir)
        else:
            from ..artifacts.restore import architecture, newest_version, restore_from_saved_models, version_info
            mcfg = architecture(args.models)
            if mcfg is None:
                raise SystemExit(f"no models in {args.models}")
            # the training the models carry: the red model's (the backbone and classifier are its)
            red = newest_version(args.models / "red")
            info = version_info(red) if red else {}
            trainer, latest = Trainer(mcfg, 1e-3, 1000), args.models
            restore_from_saved_models(trainer, args.models)
            trainer.pictures.assign(int(info.get("training_pictures", 0)))
            trainer.step.assign(int(info.get("training_step", 0)))
        args.out.parent.mkdir(parents=True, exist_ok=True)
        np.savez(args.out, **to_arrays(trainer))
        print(f"{latest} -> {args.out}")
    else:
        arrays = dict(np.load(args.npz))
        if (args.run_dir / "ckpt").exists():
            raise SystemExit(f"{args.run_dir} already has checkpoints: choose a new run folder")
        mcfg = architecture_of(arrays)
        trainer = Trainer(mcfg, 1e-3, 1000)
        from_arrays(trainer, arrays)
        trained = trained_of(arrays)
        trainer.pictures.assign(trained["pictures"] if args.pictures is None else args.pictures)
        trainer.step.assign(trained["steps"] if args.step is None else args.step)
        args.run_dir.mkdir(parents=True, exist_ok=True)
        (args.run_dir / "state.json").write_text(json.dumps({"best": -1.0, "minutes": 0.0,
                                                               "architecture": mcfg.to_json()}))
        path = tf.train.CheckpointManager(trainer.checkpoint(), str(args.run_dir / "ckpt"), max_to_keep=3).save()
        print(f"{args.npz} -> {path}")


if __name__ == "__main__":
    main()
