"""The two runtimes behind the same SavedModels: the exporter's logits signature, the numpy CTC
decode against the graph's own, OpenVINO against TensorFlow, and the runtime choice."""
import subprocess
import sys

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
pytest.importorskip("openvino")

from captcha_core.ctc import Charset, greedy_decode  # noqa: E402
from server.models import has_logits_signature, load_model  # noqa: E402
from server.runtime_openvino import (DEFAULT_SIGNATURE, OpenVinoModel, signatures,  # noqa: E402
                                     with_default_signature)
from server.runtime_tf import TensorFlowModel  # noqa: E402
from tests.conftest import ROOT  # noqa: E402


def pictures(n=16, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, 40, 100, 3), dtype=np.uint8)


def test_exported_versions_have_both_signatures(tiny_saved_models):
    folder = tiny_saved_models / "red" / "1"
    assert {DEFAULT_SIGNATURE, "logits"} <= signatures((folder / "saved_model.pb").read_bytes())
    assert has_logits_signature(folder)


def test_signature_swap_keeps_every_other_byte_of_meaning(tiny_saved_models):
    raw = (tiny_saved_models / "red" / "1" / "saved_model.pb").read_bytes()
    swapped = with_default_signature(raw, "logits")
    assert signatures(swapped) == signatures(raw)
    assert with_default_signature(swapped, "logits") != swapped  # swapping back moves them again
    assert len(swapped) == len(raw)
    with pytest.raises(ValueError):
        with_default_signature(raw, "no-such-signature")


def test_numpy_decode_gives_the_graph_decodes_answers(tiny_saved_models):
    folder = tiny_saved_models / "blue" / "1"
    loaded = tf.saved_model.load(str(folder))
    images = pictures(32)
    graph = loaded.signatures["serving_default"](images=tf.constant(images))
    logits = loaded.signatures["logits"](images=tf.constant(images))["logits"].numpy()
    decoded = greedy_decode(logits, Charset.from_file(folder / "assets" / "charset.txt"))
    assert [d.text for d in decoded] == [t.decode() for t in graph["text"].numpy()]
    assert np.allclose([d.confidence for d in decoded], graph["confidence"].numpy(), rtol=1e-5, atol=1e-7)
    for d, row in zip(decoded, graph["char_confidence"].numpy()):
        assert np.allclose(d.char_confidences, [v for v in row if v >= 0], rtol=1e-5)


def test_numpy_decode_by_hand():
    charset = Charset(["A", "B", "C"])  # class 3 is the blank
    logits = np.full((1, 6, 4), -10.0, np.float32)
    for t, k in enumerate([0, 0, 3, 0, 1, 3]):  # A A _ A B _ -> "AAB"
        logits[0, t, k] = 10.0
    (d,) = greedy_decode(logits, charset)
    assert d.text == "AAB" and len(d.char_confidences) == 3 and 0.99 < d.confidence <= 1


def test_both_runtimes_give_the_same_logits_on_a_tiny_model(tiny_saved_models):
    folder = tiny_saved_models / "yellow" / "1"
    on_tf, on_ov = TensorFlowModel(folder), OpenVinoModel(folder, "f32")
    images = pictures(8, seed=1)
    assert np.allclose(on_tf.logits(images), on_ov.logits(images), rtol=1e-4, atol=1e-4)
    assert on_ov.runtime == "openvino (f32)" and on_tf.runtime == "tensorflow"
    one_thread = OpenVinoModel(folder, "f32", threads=1)
    assert np.allclose(one_thread.logits(images), on_ov.logits(images), rtol=1e-4, atol=1e-4)
    assert one_thread.runtime == "openvino (f32, 1 thread)"


def test_mixed_precision_runs_the_backbone_in_bf16_and_the_rest_in_f32(tiny_saved_models):
    from server.runtime_openvino import _core, backbone_output, supports_bf16
    folder = tiny_saved_models / "yellow" / "1"
    f32 = OpenVinoModel(folder, "f32")
    assert backbone_output(f32.logits_graph).get_node().get_friendly_name().startswith("backbone")
    if not supports_bf16(_core()):
        with pytest.raises(ValueError, match="no native bf16"):
            OpenVinoModel(folder, "mixed")
        return
    mixed = OpenVinoModel(folder, "mixed")
    assert mixed.runtime == "openvino (mixed)"
    import openvino as ov
    parts = [part.get_property("INFERENCE_PRECISION_HINT") for part in mixed._reader._parts]
    assert parts == [ov.Type.bf16, ov.Type.f32]

    def convolutions(compiled):
        return sum(op.get_rt_info()["layerType"].astype(str) == "Convolution"
                   for op in compiled.get_runtime_model().get_ordered_ops())
    # the f32 part is given the backbone's features: it does not compute them again
    assert sum(map(convolutions, mixed._reader._parts)) == convolutions(f32._reader._parts[0])
    images = pictures(8, seed=3)  # (an untrained model's near ties may be read either way)
    exact, rounded = f32.logits(images), mixed.logits(images)
    assert np.abs(exact - rounded).max() <= 0.1 * np.abs(exact).max()  # bf16 rounding, not another model


def test_a_precision_this_cpu_cannot_run_is_a_usage_error(monkeypatch, capsys):
    import server.runtime_openvino as rov
    from server.config import parse
    monkeypatch.setattr(rov, "supports_bf16", lambda core: False)
    for precision in ("bf16", "mixed"):
        with pytest.raises(SystemExit):
            parse(["--precision", precision])
        assert "no native bf16" in capsys.readouterr().err
        assert parse(["--precision", precision, "--runtime", "tensorflow"]).precision == precision
    assert parse(["--precision", "auto"]).precision == "auto"


def test_mixed_precision_needs_a_backbone():
    import openvino as ov
    from openvino import opset13 as ops

    from server.runtime_openvino import backbone_output
    x = ops.parameter([1, 4], np.float32, "x")
    product = ops.matmul(x, ops.constant(np.ones((4, 2), np.float32)), False, False)
    product.set_friendly_name("classifier/MatMul")
    with pytest.raises(ValueError, match="no layer named backbone"):
        backbone_output(ov.Model([product], [x]))


@pytest.mark.slow
def test_both_runtimes_give_the_same_answers_with_the_committed_model():
    """(An untrained tiny model's classes are near ties that rounding orders either way; the
    trained tiny model of test_export and the committed one have clear winners.)"""
    from captcha_core.versions import newest
    folder = newest(ROOT / "saved_models" / "red")
    if not has_logits_signature(folder):
        pytest.skip("the newest committed version has no logits signature")
    images = pictures(32, seed=2)
    on_tf, on_ov = TensorFlowModel(folder).read(images), OpenVinoModel(folder, "f32").read(images)
    assert [r.text for r in on_tf] == [r.text for r in on_ov]
    assert np.allclose([r.confidence for r in on_tf], [r.confidence for r in on_ov], atol=1e-3)


def test_runtime_choice(tiny_saved_models, tmp_path):
    folder = tiny_saved_models / "red" / "1"
    assert load_model(folder).runtime == "openvino (f32)"  # auto, where OpenVINO loads; f32 unless asked
    from server.config import ServerConfig
    assert ServerConfig().precision == "f32"
    assert load_model(folder, "tensorflow").runtime == "tensorflow"
    with pytest.raises(ValueError):
        load_model(folder, "onnx")
    with pytest.raises(ValueError):
        OpenVinoModel(folder, "f16")
    from server.config import parse
    assert parse(["--openvino-threads", "1"]).openvino_threads == 1
    assert parse(["--precision", "f32"]).precision == "f32"
    with pytest.raises(SystemExit):
        parse(["--openvino-threads", "-1"])


def test_a_version_without_logits_signature_is_served_by_tensorflow(tmp_path):
    """A version exported before the logits signature (the committed v22): auto picks TensorFlow,
    which reads its serving_default."""
    from captcha_core.versions import versions
    old = [p for v, p in versions(ROOT / "saved_models" / "red") if not has_logits_signature(p)]
    if not old:
        pytest.skip("no committed version without a logits signature")
    model = load_model(old[-1])
    assert model.runtime == "tensorflow" and model.signature == "serving_default"
    assert len(model.read(pictures(2))) == 2


def test_the_openvino_runtime_does_not_import_tensorflow(tiny_saved_models):
    code = ("import sys; from server.models import load_model; from server.runtime_tf import use_threads; "
            "use_threads(2); "  # as the server does with --tf-threads
            f"m = load_model({str(tiny_saved_models / 'red' / '1')!r}, 'openvino'); "
            "import numpy as np; m.read(np.zeros((1, 40, 100, 3), np.uint8)); "
            "assert 'tensorflow' not in sys.modules, 'tensorflow was imported'; print(m.runtime)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().startswith("openvino")


def test_tensorflow_threads_apply_when_its_first_model_loads(tiny_saved_models):
    code = ("from server.runtime_tf import use_threads, TensorFlowModel; use_threads(1); "
            f"TensorFlowModel({str(tiny_saved_models / 'red' / '1')!r}); import tensorflow as tf; "
            "print(tf.config.threading.get_intra_op_parallelism_threads())")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "1"


def test_the_data_plane_imports_no_grpc_and_no_protobuf():
    code = ("import sys; import server.plane, server.manager, server.versions; "
            "bad = [m for m in ('grpc', 'google.protobuf', 'tensorflow') if m in sys.modules]; "
            "assert not bad, bad")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]


def test_auto_falls_back_to_tensorflow_where_openvino_cannot_load(tiny_saved_models, monkeypatch):
    import server.runtime_openvino as ov_runtime

    def broken(*args, **kwargs):
        raise RuntimeError("this OpenVINO cannot read the model")

    monkeypatch.setattr(ov_runtime, "convert_logits", broken)
    model = load_model(tiny_saved_models / "black" / "1")
    assert model.runtime == "tensorflow"
    with pytest.raises(RuntimeError):
        load_model(tiny_saved_models / "black" / "1", "openvino")


def test_a_folder_that_is_no_saved_model_fails_without_importing_tensorflow(tmp_path):
    """(A corrupt version folder appearing while serving must not pull TensorFlow into an
    OpenVINO server, whose model refresh would wait on that import.)"""
    for name, content in (("7", b"corrupt"), ("8", None)):
        (tmp_path / name).mkdir()
        if content is not None:
            (tmp_path / name / "saved_model.pb").write_bytes(content)
    code = ("import sys; from server.models import load_model\n"
            f"for v in ('7', '8'):\n"
            f"    try:\n        load_model({str(tmp_path)!r} + '/' + v)\n"
            "    except ValueError as exc:\n        assert 'no readable SavedModel' in str(exc), exc\n"
            "    else:\n        raise AssertionError('loaded')\n"
            "assert 'tensorflow' not in sys.modules, 'tensorflow was imported'")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
