"""The exporter: signature, assets, versions; a tiny model trained a few steps, read back."""
import json

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from captcha_core.preprocess import PREPROCESS_VERSION, decode, resize  # noqa: E402
from server.runtime_tf import TensorFlowModel  # noqa: E402
from tests.conftest import tiny_config  # noqa: E402
from tests.fakes import solid_png  # noqa: E402


def prepare(png: bytes, width: int, height: int):
    """The server's preprocessing: decode, then resize to the model's input."""
    return resize(decode(png), width, height)


def test_signature_and_assets(tiny_saved_models):
    folder = tiny_saved_models / "red" / "1"
    fn = tf.saved_model.load(str(folder)).signatures["serving_default"]
    (spec,) = fn.structured_input_signature[1].values()
    assert spec.dtype == tf.uint8 and spec.shape.as_list() == [None, 40, 100, 3]
    assert set(fn.structured_outputs) == {"text", "confidence", "char_confidence"}
    info = json.loads((folder / "assets" / "model.json").read_text())
    assert info["color"] == "red" and info["input_width"] == 100 and info["input_height"] == 40
    assert info["preprocess_version"] == PREPROCESS_VERSION
    charset = (folder / "assets" / "charset.txt").read_text(encoding="utf-8").split()
    assert len(charset) == 3601 and charset[:3] == ["0", "1", "2"]
    assert (folder / "assets" / "LICENSE-vocabulary").exists()


def test_versions_are_new_integer_folders_and_no_temporary_is_left(tiny_saved_models, tmp_path):
    from training.artifacts.export import export_color
    from training.net.model import build_backbone, build_classifier, build_head
    cfg = tiny_config()
    parts = build_backbone(cfg), build_head(cfg, "blue"), build_classifier(cfg)
    first = export_color(tmp_path, "blue", *parts, cfg, {})
    second = export_color(tmp_path, "blue", *parts, cfg, {})
    assert (first.name, second.name) == ("1", "2")
    assert sorted(p.name for p in (tmp_path / "blue").iterdir()) == ["1", "2"]


def test_tiny_model_trained_a_few_steps_is_read_back_through_the_shared_preprocessing(tmp_path):
    """Trains on one fixed picture until it reads it, exports, and reads it back from PNG bytes."""
    from training.net.encoding import Alphabet
    from training.synth import charset
    from training.artifacts.export import export_color
    from training.net.model import build_backbone, build_classifier, build_head, ctc_loss
    tf.keras.utils.set_random_seed(7)
    cfg = tiny_config()
    backbone, head, classifier = build_backbone(cfg), build_head(cfg, "red"), build_classifier(cfg)
    png = solid_png((200, 30, 30), (90, 35))
    image = prepare(png, 100, 40)[None]
    alphabet = Alphabet(charset.vocabulary())
    labels = tf.constant(alphabet.encode("K7")[None])
    variables = backbone.trainable_variables + head.trainable_variables + classifier.trainable_variables
    opt = tf.keras.optimizers.Adam(0.02)
    for _ in range(60):
        with tf.GradientTape() as tape:
            # batch normalisation in inference form (what the export folds): with one picture,
            # batch statistics would differ from the moving averages the reader uses
            loss = tf.reduce_mean(ctc_loss(labels, classifier(head(backbone(image, training=False))), 3601))
        opt.apply_gradients(zip(tape.gradient(loss, variables), variables))
    folder = export_color(tmp_path, "red", backbone, head, classifier, cfg, {"reads": ["red"]})
    reader = TensorFlowModel(folder)
    (reading,) = reader.read(prepare(png, reader.spec.input_width, reader.spec.input_height)[None])
    assert reading.text == "K7"
    assert 0 < reading.confidence <= 1 and len(reading.char_confidences) == 2
    pytest.importorskip("openvino")
    from server.runtime_openvino import OpenVinoModel
    (on_openvino,) = OpenVinoModel(folder, "f32").read(prepare(png, 100, 40)[None])
    assert on_openvino.text == "K7" and abs(on_openvino.confidence - reading.confidence) < 1e-4


def test_resume_from_committed_models_restores_the_weights(tmp_path):
    from training.artifacts.export import export_color
    from training.net.model import build_backbone, build_classifier, build_head
    from training.artifacts.restore import architecture, restore_from_saved_models

    class Parts:
        def __init__(self):
            self.mcfg = cfg = tiny_config()
            self.backbone, self.classifier = build_backbone(cfg), build_classifier(cfg)
            self.heads = {c: build_head(cfg, c) for c in ("red", "yellow", "blue", "black")}

    a, b = Parts(), Parts()
    set_trained_statistics(a.backbone, np.random.default_rng(1))
    for color, head in a.heads.items():
        export_color(tmp_path, color, a.backbone, head, a.classifier, a.mcfg, {})
    assert architecture(tmp_path) == a.mcfg
    restore_from_saved_models(b, tmp_path)
    # the backbone is stored folded and unfolded on restore: equal up to float rounding
    for x, y in zip(a.backbone.weights, b.backbone.weights):
        assert np.allclose(x.numpy(), y.numpy(), rtol=1e-5, atol=1e-6), x.name
    for x, y in zip(a.heads["blue"].weights + a.classifier.weights, b.heads["blue"].weights + b.classifier.weights):
        assert np.array_equal(x.numpy(), y.numpy())


def set_trained_statistics(backbone, rng) -> None:
    """Batch-norm statistics as after training (fresh ones are the identity)."""
    for layer in backbone.layers:
        if layer.name.startswith("bn"):
            n = layer.gamma.shape[0]
            layer.set_weights([rng.uniform(0.5, 2, n), rng.normal(0, 1, n), rng.normal(0, 1, n), rng.uniform(0.1, 3, n)])


def test_folded_backbone_computes_what_the_trained_one_does():
    from training.net.model import build_backbone, fold_batch_norm
    cfg = tiny_config()
    trained = build_backbone(cfg)
    rng = np.random.default_rng(0)
    set_trained_statistics(trained, rng)
    images = rng.integers(0, 256, (4, 40, 100, 3), dtype=np.uint8)
    expected = trained(images, training=False).numpy()
    got = fold_batch_norm(trained, cfg)(images).numpy()
    assert np.allclose(got, expected, atol=1e-4 * max(1.0, np.abs(expected).max()))


def test_resume_from_models_exported_before_the_architecture_travelled(tmp_path):
    """Versions 1-15 hold the unfolded backbone under "backbone" and no architecture in model.json."""
    import json
    from training.net.model import LEGACY, build_backbone, build_classifier, build_head
    from training.artifacts.restore import architecture, restore_from_saved_models

    class Parts:
        def __init__(self):
            self.mcfg = LEGACY
            self.backbone, self.classifier = build_backbone(LEGACY), build_classifier(LEGACY)
            self.heads = {c: build_head(LEGACY, c) for c in ("red", "yellow", "blue", "black")}

    old, new = Parts(), Parts()
    set_trained_statistics(old.backbone, np.random.default_rng(2))
    for color, head in old.heads.items():
        version = tmp_path / color / "15"
        (version / "assets").mkdir(parents=True)
        (version / "assets" / "model.json").write_text(json.dumps({"color": color}))
        tf.train.Checkpoint(backbone=old.backbone, head=head, classifier=old.classifier).write(
            str(version / "variables" / "variables"))
    assert architecture(tmp_path) == LEGACY
    restore_from_saved_models(new, tmp_path)
    for x, y in zip(old.backbone.weights + old.classifier.weights + old.heads["black"].weights,
                    new.backbone.weights + new.classifier.weights + new.heads["black"].weights):
        assert np.array_equal(x.numpy(), y.numpy())


def test_ctc_loss_scores_every_row_as_alone_and_takes_batches_of_empty_answers():
    from training.net.model import ctc_loss
    rng = np.random.default_rng(4)
    logits = rng.normal(size=(4, 9, 6)).astype(np.float32) * 2
    labels = np.array([[-1, -1, -1], [2, 3, -1], [-1, -1, -1], [1, 1, 4]], np.int32)
    together = ctc_loss(tf.constant(labels), tf.constant(logits), 5).numpy()
    alone = [ctc_loss(tf.constant(labels[i:i + 1]), tf.constant(logits[i:i + 1]), 5).numpy()[0] for i in range(4)]
    np.testing.assert_allclose(together, alone, rtol=1e-5)
    # an empty answer is the all-blank path, also in a batch with no other answer
    blank_only = -tf.reduce_sum(tf.nn.log_softmax(logits[[0, 2]], axis=-1)[:, :, 5], axis=1).numpy()
    np.testing.assert_allclose(ctc_loss(tf.constant(labels[[0, 2]]), tf.constant(logits[[0, 2]]), 5).numpy(),
                               blank_only, rtol=1e-5)
    # a confident model (blank everywhere, class 0 never): empty answers cost nothing, the loss stays finite
    sure = np.full((2, 9, 6), -200.0, np.float32)
    sure[:, :, 5] = 0.0
    sure[1, 4, 2] = 10.0
    loss = ctc_loss(tf.constant([[-1, -1, -1], [2, -1, -1]], tf.int32), tf.constant(sure), 5).numpy()
    assert np.isfinite(loss).all() and loss[0] < 1e-3
