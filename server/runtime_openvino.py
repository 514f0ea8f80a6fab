"""The OpenVINO runtime: a version folder's ``logits`` signature compiled for this CPU, decoded in
numpy (``captcha_core.ctc``). TensorFlow is not imported.

OpenVINO's TensorFlow front end reads a SavedModel's ``serving_default`` signature only, and that
one decodes to strings inside the graph (ops OpenVINO does not have). So the loader gives it a
view of the folder in which ``logits`` is the default: a copy of ``saved_model.pb`` with the two
signature names swapped (read and written with a minimal schema of the SavedModel message; every
other field passes through untouched) beside links to the folder's variables and assets.

The compiled model ends with the log-probability of the best class at each step (a log-sum-exp
in OpenVINO's kernels) beside the logits, whose best class numpy's argmax finds (OpenVINO's TopK
took 8% of an inference); ``logits()`` reads the same compiled model's logits. At ``mixed``
precision the model runs as two compiled parts (``Compiled``): the backbone in bf16, the
classifier and the log-sum-exp in f32.
"""
from __future__ import annotations

import logging
import os
import tempfile
import threading
from functools import lru_cache
from pathlib import Path

import numpy as np

from captcha_core.ctc import Charset, best_classes, decode_best_path

from .models import DEFAULT_PRECISION, ModelSpec, Reading

log = logging.getLogger("captcha.runtime")
LOGITS_SIGNATURE = "logits"
DEFAULT_SIGNATURE = "serving_default"
PRECISIONS = ("auto", "f32", "bf16", "mixed")
#: held while a model compiles and makes its first inference: two threads making their first
#: inference at once can deadlock in OpenVINO's Python binding (a C++ function-local static whose
#: initialiser waits for the GIL that the other thread holds while it waits for the static), so
#: models load one at a time; inferences after the first take no lock
_FIRST_USE = threading.Lock()


@lru_cache(maxsize=1)
def _saved_model_schema():
    """Message classes for the parts of tensorflow/core/protobuf/saved_model.proto needed here:
    SavedModel.meta_graphs (2) -> MetaGraphDef.signature_def (5), a map<string, SignatureDef>
    whose entries are kept as (key 1, value 2 as bytes)."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    f = descriptor_pb2.FileDescriptorProto(name="captcha_saved_model_view.proto", package="captcha_view",
                                           syntax="proto3")
    F = descriptor_pb2.FieldDescriptorProto
    entry = f.message_type.add(name="SignatureEntry")
    entry.field.add(name="key", number=1, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
    entry.field.add(name="value", number=2, type=F.TYPE_BYTES, label=F.LABEL_OPTIONAL)
    meta = f.message_type.add(name="MetaGraph")
    meta.field.add(name="signature_def", number=5, type=F.TYPE_MESSAGE, label=F.LABEL_REPEATED,
                   type_name=".captcha_view.SignatureEntry")
    saved = f.message_type.add(name="SavedModel")
    saved.field.add(name="meta_graphs", number=2, type=F.TYPE_MESSAGE, label=F.LABEL_REPEATED,
                    type_name=".captcha_view.MetaGraph")
    pool = descriptor_pool.DescriptorPool()
    pool.Add(f)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("captcha_view.SavedModel"))


def signatures(saved_model_pb: bytes) -> set[str]:
    model = _saved_model_schema()()
    model.ParseFromString(saved_model_pb)
    return {e.key for m in model.meta_graphs for e in m.signature_def}


def with_default_signature(saved_model_pb: bytes, name: str) -> bytes:
    """``saved_model.pb`` in which signature ``name`` is ``serving_default`` (and the former
    default is called ``name``)."""
    model = _saved_model_schema()()
    model.ParseFromString(saved_model_pb)
    if name not in {e.key for m in model.meta_graphs for e in m.signature_def}:
        raise ValueError(f"the SavedModel has no {name!r} signature")
    for meta in model.meta_graphs:
        for entry in meta.signature_def:
            if entry.key == name:
                entry.key = DEFAULT_SIGNATURE
            elif entry.key == DEFAULT_SIGNATURE:
                entry.key = name
    return model.SerializeToString()


def convert_logits(folder: Path):
    """The ``logits`` signature of the SavedModel in ``folder`` as an OpenVINO model (read by the
    TensorFlow front end, as ``openvino.convert_model`` does, without its Python layer)."""
    folder = Path(folder).resolve()
    with tempfile.TemporaryDirectory(prefix="captcha-ov-") as view:
        view = Path(view)
        (view / "saved_model.pb").write_bytes(
            with_default_signature((folder / "saved_model.pb").read_bytes(), LOGITS_SIGNATURE))
        for part in ("variables", "assets"):
            if (folder / part).exists():
                os.symlink(folder / part, view / part)
        # the view's links are deleted when this returns; the files they name stay
        return _core().read_model(str(view))


def with_best_log_p(model):
    """``model`` (pictures -> logits) ending instead in the logits and each step's best
    log-probability ((B, T, classes) and (B, T)): the log-sum-exp in OpenVINO's kernels; the best
    class is ``captcha_core.ctc.best_classes``'s (numpy's argmax is faster than OpenVINO's TopK)."""
    import openvino as ov
    from openvino import opset13 as ops

    logits = model.get_results()[0].input_value(0)
    top = ops.reduce_max(logits, [-1], True)
    best_log_p = ops.negative(ops.log(ops.reduce_sum(ops.exp(ops.subtract(logits, top)), [-1], False))).output(0)
    return ov.Model([logits, best_log_p], model.get_parameters(), "reader")


def supports_bf16(core) -> bool:
    return "BF16" in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")


def choose_precision(requested: str, core) -> str:
    """``auto``: bf16 where the CPU computes it natively (AMX or AVX-512 BF16), else f32."""
    if requested not in PRECISIONS:
        raise ValueError(f"precision {requested!r}: one of {', '.join(PRECISIONS)}")
    if requested == "auto":
        return "bf16" if supports_bf16(core) else "f32"
    if requested in ("bf16", "mixed") and not supports_bf16(core):
        raise ValueError(f"{requested} was asked for, but this CPU has no native bf16 (AMX or AVX-512 BF16)")
    return requested


def check_precision(requested: str) -> None:
    """Raises ValueError when ``requested`` cannot run on this CPU."""
    choose_precision(requested, _core())


def backbone_output(model):
    """The output of the backbone's last convolution or matrix product in ``model`` (the layers
    the exporter names ``backbone``): where ``mixed`` precision hands over to f32."""
    heavy = [op for op in model.get_ordered_ops() if op.get_type_name() in ("Convolution", "GroupConvolution", "MatMul")
             and op.get_friendly_name().startswith("backbone")]
    if not heavy:
        raise ValueError("mixed precision: this model has no layer named backbone to hand over after")
    return heavy[-1].output(0)


class Compiled:
    """``model`` (pictures -> outputs) compiled for this CPU at ``precision``. ``mixed``: in two
    parts, the backbone in bf16 and the rest (the classifier and the log-sum-exp) in f32, which
    is given the backbone's features and the pictures (for their batch size)."""

    def __init__(self, model, precision: str, config: dict):
        import openvino as ov
        from openvino import opset13 as ops
        core = _core()
        if precision != "mixed":
            self._parts = [core.compile_model(model, "CPU", {**config, "INFERENCE_PRECISION_HINT": precision})]
        else:
            model = model.clone()
            handover = backbone_output(model)
            consumers = list(handover.get_target_inputs())
            front = ov.Model([handover], model.get_parameters(), "backbone")
            features = ops.parameter(handover.get_partial_shape(), handover.get_element_type(), "features")
            for consumer in consumers:
                consumer.replace_source_output(features.output(0))
            back = ov.Model(model.get_results(), [features, *model.get_parameters()], "head")
            self._parts = [core.compile_model(front, "CPU", {**config, "INFERENCE_PRECISION_HINT": "bf16"}),
                           core.compile_model(back, "CPU", {**config, "INFERENCE_PRECISION_HINT": "f32"})]
        self._requests = [part.create_infer_request() for part in self._parts]
        #: one batch at a time: held across ``run`` and the reading of its outputs (the parts hand
        #: over through their requests, and the outputs live in the last one)
        self.lock = threading.Lock()

    def run(self, images: np.ndarray):
        """Runs one batch, read in place (``images`` must not change until this returns); returns
        the infer request that holds the outputs, valid until the next run. The caller holds ``lock``."""
        first = self._requests[0]
        first.infer({0: images}, share_inputs=True, share_outputs=True)
        if len(self._requests) == 1:
            return first
        self._requests[1].infer({0: first.get_output_tensor(0).data, 1: images}, share_inputs=True,
                                share_outputs=True)
        return self._requests[1]


class OpenVinoModel:
    def __init__(self, folder: Path, precision: str = DEFAULT_PRECISION, logits_graph=None, threads: int = 0):
        """``logits_graph``: an OpenVINO model of the folder's ``logits`` signature to run instead of
        the one converted from the SavedModel (a quantised one, say); ``threads``: per call (0:
        OpenVINO decides, every core)."""
        folder = Path(folder)
        self.spec = ModelSpec.from_folder(folder)
        self.charset = Charset.from_file(folder / "assets" / self.spec.charset_file)
        threads_note = f", {threads} thread{'s' if threads > 1 else ''}" if threads else ""
        self._config = {"PERFORMANCE_HINT": "LATENCY"}
        if threads:
            self._config["INFERENCE_NUM_THREADS"] = threads
        with _FIRST_USE:
            self.precision = choose_precision(precision, _core())
            self.runtime = f"openvino ({self.precision}{threads_note})"
            self._logits_model = logits_graph if logits_graph is not None else convert_logits(folder)
            self.blank = self._logits_model.output(0).get_partial_shape()[-1].get_length() - 1
            self._reader = Compiled(with_best_log_p(self._logits_model.clone()), self.precision, self._config)
            self.read(self._warm_up_batch())

    @property
    def logits_graph(self):
        """The OpenVINO model of the ``logits`` signature this model runs (uncompiled)."""
        return self._logits_model

    def logits(self, images: np.ndarray) -> np.ndarray:
        """images (B, H, W, 3) uint8 -> logits (B, T, classes), as the signature computes them
        (through the reader, so a call waits for the batch in progress)."""
        with self._reader.lock:
            return self._reader.run(np.ascontiguousarray(images)).get_output_tensor(0).data.copy()

    def _warm_up_batch(self) -> np.ndarray:
        return np.zeros((1, self.spec.input_height, self.spec.input_width, 3), np.uint8)

    def read(self, images: np.ndarray) -> list[Reading]:
        """One batch at a time (the batcher's)."""
        with self._reader.lock:
            done = self._reader.run(np.ascontiguousarray(images))
            logits, best_log_p = done.get_output_tensor(0).data, done.get_output_tensor(1).data
            return decode_best_path(best_classes(logits), best_log_p, self.charset, self.blank)


@lru_cache(maxsize=1)
def _core():
    import openvino as ov
    return ov.Core()
