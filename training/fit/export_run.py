"""Exports the latest checkpoint of a training run as a new version of every colour (validated
first, the figures in ``model.json``).

    python -m training.fit.export_run --run-dir runs/main --out saved_models
"""
from __future__ import annotations

import argparse
from pathlib import Path

from ..artifacts.export import export_all
from .train import load_state, trainer_from_run, validate, validation_set


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
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
