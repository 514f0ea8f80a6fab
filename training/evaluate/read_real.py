"""What the models read on the ten real pictures (no answer key: compare by eye).

    python -m training.evaluate.read_real --models saved_models [--real ../shared/realdata]

For each picture: the colour asked (all four where it was not recorded), the direct route's
answer and confidence, the colour-transform route's answer, and what the server answers with
its default policy, through the server's data plane (``server.plane``).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from captcha_core.colors import ALL_COLORS, Color
from captcha_core.preprocess import resize
from captcha_core.transforms import to_red

from .accuracy import loaded_models, open_plane
from ..synth.fidelity import REAL_DIR


def asked_colours(name: str) -> list[Color]:
    code = name.split("_")[1].split("-")[0]
    match = [c for c in ALL_COLORS if c.key4 == code]
    return match or list(ALL_COLORS)


def read_one(model, image: np.ndarray):
    spec = model.spec
    (reading,) = model.read(resize(image, spec.input_width, spec.input_height)[None])
    return reading


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--models", type=Path, default=Path("saved_models"))
    p.add_argument("--real", type=Path, default=REAL_DIR)
    args = p.parse_args(argv)
    plane = open_plane(args.models)
    models = loaded_models(plane)
    print("| picture | colour asked | direct: read (confidence) | colour transform + red model | served |")
    print("|---|---|---|---|---|")
    for f in sorted(args.real.glob("*.png")):
        image = np.asarray(Image.open(f).convert("RGB"))
        for color in asked_colours(f.name):
            direct = read_one(models[color.label], image) if color.label in models else None
            fallback = read_one(models["red"], to_red(image, color)) if color is not Color.RED else None
            d = f"`{direct.text}` ({direct.confidence:.2f})" if direct else "—"
            t = f"`{fallback.text}` ({fallback.confidence:.2f})" if fallback else "(same as direct)"
            answer = plane.recognize_picture(image, color).text if direct else None
            a = "—" if answer is None else f"`{answer}`" + ("" if answer == direct.text else " (second look)")
            print(f"| {f.name} | {color.label} | {d} | {t} | {a} |")


if __name__ == "__main__":
    main()
