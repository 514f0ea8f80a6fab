"""8-bit OpenVINO models by post-training quantisation (NNCF), against the f32 model they come from:
exact match and identical answers on the frozen sets (direct route), and speed at batch 1 and 32.

    pip install nncf   # not a dependency of the project: this is a measurement
    python bench/int8.py [--color red] [--version 24] [--keep-first-and-last]

The quantiser calibrates on 600 synthetic pictures drawn from seeds no training, calibration or
frozen set draws from (200 each at 90x35 and 120x50 in the real style and 90x35 in the wider one).
``--keep-first-and-last`` leaves the first convolution and the classifier in f32.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from captcha_core.preprocess import resize  # noqa: E402
from server.runtime_openvino import OpenVinoModel  # noqa: E402
from training.synth.eval_sets import FROZEN, Dataset  # noqa: E402
from training.synth.generate import generate  # noqa: E402

QUANTISATION_SETS = (("90x35", 55_001_001, "real"), ("120x50", 55_002_001, "real"), ("90x35", 55_003_001, "wider"))


def calibration_pictures(width: int, height: int, count: int = 200) -> list[np.ndarray]:
    out = []
    with tempfile.TemporaryDirectory(prefix="captcha-int8-") as tmp:
        for size, seed, style in QUANTISATION_SETS:
            folder = Path(tmp) / f"{size}-{style}"
            generate(folder, size, count, seed, style, False)
            out += [resize(im, width, height)[None] for im in Dataset.load(folder).images]
    return out


def quantised(model: OpenVinoModel, keep_first_and_last: bool):
    import nncf
    calib = calibration_pictures(model.spec.input_width, model.spec.input_height)
    kept = {}
    if keep_first_and_last:
        ops = [op for op in model.logits_graph.get_ordered_ops() if op.get_type_name() in ("Convolution", "MatMul")]
        kept["ignored_scope"] = nncf.IgnoredScope(names=[ops[0].get_friendly_name(), ops[-1].get_friendly_name()])
    return nncf.quantize(model.logits_graph.clone(), nncf.Dataset(calib), subset_size=len(calib), **kept)


def texts(model: OpenVinoModel, x: np.ndarray) -> list[str]:
    return [r.text for r in model.read(x)]


def pictures_per_second(model: OpenVinoModel, x: np.ndarray, repeats: int) -> float:
    texts(model, x)
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(repeats):
            texts(model, x)
        best = min(best, (time.perf_counter() - start) / repeats)
    return len(x) / best


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--color", default="red")
    p.add_argument("--version", default="24")
    p.add_argument("--keep-first-and-last", action="store_true")
    args = p.parse_args(argv)
    folder = ROOT / "saved_models" / args.color / args.version
    model = OpenVinoModel(folder, "f32")
    readers = {"f32": model, "int8": OpenVinoModel(folder, "f32", quantised(model, args.keep_first_and_last))}
    for name in FROZEN:
        ds = Dataset.load(ROOT / "data" / "eval" / name)
        keep = [i for i, a in enumerate(ds.answers) if a[args.color]]
        x = np.stack([resize(ds.images[i], model.spec.input_width, model.spec.input_height) for i in keep])
        truth = [ds.answers[i][args.color].upper() for i in keep]
        texts_of = {k: sum((texts(r, x[i:i + 64]) for i in range(0, len(x), 64)), []) for k, r in readers.items()}
        exact = {k: 100 * np.mean([a.upper() == t for a, t in zip(v, truth)]) for k, v in texts_of.items()}
        same = 100 * np.mean([a == b for a, b in zip(texts_of["f32"], texts_of["int8"])])
        print(f"{name} {args.color}: exact f32 {exact['f32']:.2f}% int8 {exact['int8']:.2f}%, identical {same:.2f}%")
    for k, r in readers.items():
        print(f"{k}: batch 1 {pictures_per_second(r, x[:1], 300):.0f} pictures/s, "
              f"batch 32 {pictures_per_second(r, x[:32], 20):.0f} pictures/s")


if __name__ == "__main__":
    main()
