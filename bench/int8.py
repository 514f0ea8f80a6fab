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

from captcha_core.ctc import decode_best_path  # noqa: E402
from captcha_core.preprocess import resize  # noqa: E402
from server.runtime_openvino import OpenVinoModel, _core, with_best_path  # noqa: E402
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
        ops = [op for op in model._logits_model.get_ordered_ops() if op.get_type_name() in ("Convolution", "MatMul")]
        kept["ignored_scope"] = nncf.IgnoredScope(names=[ops[0].get_friendly_name(), ops[-1].get_friendly_name()])
    return nncf.quantize(model._logits_model.clone(), nncf.Dataset(calib), subset_size=len(calib), **kept)


class Reader:
    def __init__(self, ov_model, model: OpenVinoModel):
        config = {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY"}
        self.request = _core().compile_model(with_best_path(ov_model), "CPU", config).create_infer_request()
        self.charset, self.blank = model.charset, model.blank

    def texts(self, x: np.ndarray) -> list[str]:
        self.request.infer({0: np.ascontiguousarray(x)})
        best, log_p = self.request.get_output_tensor(0).data, self.request.get_output_tensor(1).data
        return [r.text for r in decode_best_path(best, log_p, self.charset, self.blank)]

    def pictures_per_second(self, x: np.ndarray, repeats: int) -> float:
        self.texts(x)
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            for _ in range(repeats):
                self.texts(x)
            best = min(best, (time.perf_counter() - start) / repeats)
        return len(x) / best


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--color", default="red")
    p.add_argument("--version", default="24")
    p.add_argument("--keep-first-and-last", action="store_true")
    args = p.parse_args(argv)
    model = OpenVinoModel(ROOT / "saved_models" / args.color / args.version, "f32")
    readers = {"f32": Reader(model._logits_model.clone(), model),
               "int8": Reader(quantised(model, args.keep_first_and_last), model)}
    for name in FROZEN:
        ds = Dataset.load(ROOT / "data" / "eval" / name)
        keep = [i for i, a in enumerate(ds.answers) if a[args.color]]
        x = np.stack([resize(ds.images[i], model.spec.input_width, model.spec.input_height) for i in keep])
        truth = [ds.answers[i][args.color].upper() for i in keep]
        texts = {k: sum((r.texts(x[i:i + 64]) for i in range(0, len(x), 64)), []) for k, r in readers.items()}
        exact = {k: 100 * np.mean([a.upper() == t for a, t in zip(v, truth)]) for k, v in texts.items()}
        same = 100 * np.mean([a == b for a, b in zip(texts["f32"], texts["int8"])])
        print(f"{name} {args.color}: exact f32 {exact['f32']:.2f}% int8 {exact['int8']:.2f}%, identical {same:.2f}%")
    for k, r in readers.items():
        print(f"{k}: batch 1 {r.pictures_per_second(x[:1], 300):.0f} pictures/s, "
              f"batch 32 {r.pictures_per_second(x[:32], 20):.0f} pictures/s")


if __name__ == "__main__":
    main()
