"""Training elsewhere: the JAX network computes what the Keras one does, on weights that go
out (``training.fit.weights``) and come back; its CTC loss is TensorFlow's; the font pack draws
the installed faces' pixels."""
import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
jax = pytest.importorskip("jax")
optax = pytest.importorskip("optax")

from captcha_core.colors import ALL_COLORS  # noqa: E402
from tests.test_export import set_trained_statistics  # noqa: E402
from training.net import accel_model  # noqa: E402
from training.fit.weights import ARCH_KEY, TRAINED_KEY  # noqa: E402

COLORS = tuple(c.label for c in ALL_COLORS)


@pytest.fixture(scope="module")
def trainer():
    """The shipped architecture with random weights and trained-looking batch statistics."""
    from training.net.model import ModelConfig
    from training.fit.train import Trainer
    tf.keras.utils.set_random_seed(3)
    t = Trainer(ModelConfig(), 1e-3, 1000)
    set_trained_statistics(t.backbone, np.random.default_rng(4))
    return t


def _pictures(n=6, seed=5):
    return np.random.default_rng(seed).integers(0, 256, (n, 40, 100, 3), dtype=np.uint8)


def test_weights_go_out_and_come_back_unchanged(trainer, tmp_path):
    from training.net.model import ModelConfig
    from training.fit.train import Trainer
    from training.fit.weights import from_arrays, to_arrays
    arrays = to_arrays(trainer)
    np.savez(tmp_path / "w.npz", **arrays)
    other = Trainer(ModelConfig(), 1e-3, 1000)
    from_arrays(other, dict(np.load(tmp_path / "w.npz")))
    images = tf.constant(_pictures())
    for color in COLORS:
        assert np.array_equal(trainer.read(images, color).numpy(), other.read(images, color).numpy())
    mine, theirs = to_arrays(trainer), to_arrays(other)
    assert all(np.array_equal(mine[k], theirs[k]) for k in mine)
    broken = dict(arrays)
    broken["classifier/logits/0"] = broken["classifier/logits/0"][:, :10]
    with pytest.raises(ValueError, match="classifier/logits/0"):
        from_arrays(other, broken)


@pytest.mark.parametrize("train", [False, True])
def test_jax_network_computes_the_keras_logits(trainer, train):
    from training.net import accel_model
    from training.fit.weights import to_arrays
    images = _pictures()
    params, stats = accel_model.split(to_arrays(trainer), trainer.mcfg)
    got, new_stats = accel_model.logits(params, stats, images, trainer.mcfg, COLORS, train)
    feats = trainer.backbone(tf.constant(images), training=train)
    for i, color in enumerate(COLORS):
        want = trainer.classifier(trainer.heads[color](feats, training=train), training=train).numpy()
        np.testing.assert_allclose(np.asarray(got[:, i]), want, rtol=1e-3, atol=2e-3 * np.abs(want).max())
    if train:  # Keras moved its statistics during that call (momentum 0.99): so must the JAX step
        for i in range(len(trainer.mcfg.blocks)):
            bn = trainer.backbone.get_layer(f"bn{i}")
            np.testing.assert_allclose(np.asarray(new_stats[f"backbone/bn{i}/2"]), bn.moving_mean.numpy(), rtol=1e-3, atol=1e-4)
            np.testing.assert_allclose(np.asarray(new_stats[f"backbone/bn{i}/3"]), bn.moving_variance.numpy(), rtol=1e-3, atol=1e-4)
    else:
        assert all(np.array_equal(np.asarray(new_stats[k]), np.asarray(stats[k])) for k in stats)


def test_jax_ctc_loss_is_tensorflows_also_for_empty_answers():
    from training.fit.accel_train import ctc_losses
    from training.net.model import ctc_loss
    rng = np.random.default_rng(8)
    logits = rng.normal(0, 3, (4, 25, 40)).astype(np.float32)
    labels = np.full((4, 6), -1, np.int32)
    labels[0, :3] = [5, 5, 7]
    labels[1, :6] = [1, 2, 3, 4, 5, 6]
    labels[3, :1] = [38]  # row 2 stays empty: the all-blank path
    want = ctc_loss(tf.constant(labels), tf.constant(logits), 39).numpy()
    got = np.asarray(ctc_losses(logits, labels, 39))
    np.testing.assert_allclose(got, want, rtol=1e-4)


def test_jax_greedy_decoding_collapses_repeats_and_drops_blanks():
    from training.net.accel_model import greedy
    assert greedy(np.array([[9, 3, 3, 9, 3, 4, 4, 9]]), blank=9) == [[3, 3, 4]]


def test_font_pack_draws_the_installed_faces(tmp_path, monkeypatch):
    pytest.importorskip("fontTools")
    from training.synth import fontpack, fonts
    face = fonts.available(fonts.LATIN_FACES)[0]
    monkeypatch.setattr(fonts, "LATIN_FACES", (face,))
    monkeypatch.setattr(fonts, "CHINESE_FACES", ())
    monkeypatch.setattr(fonts, "CURLED_LATIN_FACES", ())
    (written,) = fontpack.build(tmp_path)
    assert written.name == fonts.pack_name(face)
    installed = fonts.load(face, 16)
    fonts.load.cache_clear()
    monkeypatch.setenv(fonts.PACK_ENV, str(tmp_path))
    packed = fonts.load(face, 16)
    fonts.load.cache_clear()
    assert packed.path == str(written) and installed.path != packed.path
    for ch in "CS8KW":
        assert np.array_equal(np.asarray(installed.getmask(ch)), np.asarray(packed.getmask(ch))), ch


def test_loaded_weights_make_a_run_that_training_and_export_resume(trainer, tmp_path):
    from training.fit.train import trainer_from_run
    from training.fit.weights import main, to_arrays
    np.savez(tmp_path / "w.npz", **to_arrays(trainer))
    main(["load", "--npz", str(tmp_path / "w.npz"), "--run-dir", str(tmp_path / "run"), "--pictures", "1234", "--step", "56"])
    resumed, latest = trainer_from_run(tmp_path / "run")
    assert latest.endswith("ckpt-1")
    assert (int(resumed.step.numpy()), int(resumed.pictures.numpy())) == (56, 1234)
    mine, theirs = to_arrays(trainer), to_arrays(resumed)
    assert all(np.array_equal(mine[k], theirs[k]) for k in mine if k != TRAINED_KEY)
    with pytest.raises(SystemExit, match="already has checkpoints"):
        main(["load", "--npz", str(tmp_path / "w.npz"), "--run-dir", str(tmp_path / "run")])


def test_the_training_a_file_carries_travels_through_dump_an_accelerator_leg_and_load(trainer, tmp_path):
    from training.fit.accel_train import _carried, save
    from training.fit.train import trainer_from_run
    from training.fit.weights import main, to_arrays, trained_of
    trainer.pictures.assign(5000)
    trainer.step.assign(70)
    arrays = to_arrays(trainer)
    assert trained_of(arrays) == {"pictures": 5000, "steps": 70}
    params, stats = accel_model.split(arrays, trainer.mcfg)
    save(tmp_path, params, stats, arrays[ARCH_KEY], _carried(trained_of(arrays), 1024, 2), [{"step": 2}])
    main(["load", "--npz", str(tmp_path / "weights.npz"), "--run-dir", str(tmp_path / "run")])
    resumed, _ = trainer_from_run(tmp_path / "run")
    assert (int(resumed.pictures.numpy()), int(resumed.step.numpy())) == (6024, 72)
    older = {k: v for k, v in arrays.items() if k != TRAINED_KEY}  # a file from before the counts
    assert trained_of(older) == {"pictures": 0, "steps": 0}


def test_learning_rate_warms_up_then_follows_the_clock_down_to_the_floor():
    from training.fit.accel_train import learning_rate
    assert learning_rate(0, 100, 0, 1e-3, 1e-5, 10) == pytest.approx(1e-4)  # first of ten warm-up steps
    assert learning_rate(0, 100, 50, 1e-3, 1e-5, 10) == pytest.approx(1e-3)
    assert learning_rate(50, 100, 50, 1e-3, 1e-5, 10) == pytest.approx((1e-3 + 1e-5) / 2)
    assert learning_rate(100, 100, 500, 1e-3, 1e-5, 10) == pytest.approx(1e-5)
    assert learning_rate(150, 100, 500, 1e-3, 1e-5, 10) == pytest.approx(1e-5)  # past the end: the floor


def test_mixer_uses_fresh_pictures_first_and_tops_up_from_the_replay_store():
    import queue
    from training.fit.accel_train import PART, Mixer

    def part(value):
        return [np.full((PART, 2), value, np.uint8), np.full((PART, 1), value, np.int32)]

    feed = queue.Queue()
    mixer = Mixer(part(1), capacity=3 * PART, rng=np.random.default_rng(0))
    feed.put(part(2))
    images, labels = mixer.batch(feed, 2 * PART)  # both fresh parts, nothing reused
    assert images[:PART].max() == images[:PART].min() == 1 and images[PART:].min() == 2
    assert mixer.fresh == 2 * PART and np.array_equal(images[:, 0], labels[:, 0])
    images, labels = mixer.batch(feed, 2 * PART)  # nothing fresh: all from the store, rows kept together
    assert set(np.unique(images)) <= {1, 2} and mixer.fresh == 2 * PART
    assert np.array_equal(images[:, 0], labels[:, 0])
    for v in (3, 4):
        feed.put(part(v))
    images, _ = mixer.batch(feed, 3 * PART)  # two fresh parts, then one reused; the store holds the last 3 parts
    assert images[:2 * PART, 0].tolist() == [3] * PART + [4] * PART
    assert set(np.unique(images[2 * PART:])) <= {2, 3, 4} and mixer.fresh == 4 * PART


def test_weights_dumped_from_exported_models_are_the_trained_ones(trainer, tmp_path):
    """Exported models hold the folded backbone and its statistics: the dump unfolds them."""
    from training.artifacts.calibrate import CalibrationJob
    from training.artifacts.export import export_all
    from training.fit.weights import main, to_arrays, trained_of
    export_all(trainer, tmp_path / "models", 1, 64, {}, calibration=CalibrationJob(scale=0))
    main(["dump", "--models", str(tmp_path / "models"), "--out", str(tmp_path / "w.npz")])
    dumped, mine = dict(np.load(tmp_path / "w.npz")), to_arrays(trainer)
    assert set(dumped) == set(mine)
    assert trained_of(dumped) == {"pictures": 64, "steps": 1}  # as export_all wrote them in model.json
    for key in mine:
        if key not in (ARCH_KEY, TRAINED_KEY):
            np.testing.assert_allclose(dumped[key], mine[key], rtol=1e-4, atol=1e-5 * max(1.0, np.abs(mine[key]).max()))


def test_accelerator_log_of_two_legs_is_drawn(tmp_path):
    pytest.importorskip("matplotlib")
    from training.fit.accel_train import main
    log = tmp_path / "log.csv"
    log.write_text("leg,seconds,step,loss,red_direct\n1,0,0,,0.5\n1,20,10,1.2,\n1,40,20,1.0,0.6\n"
                   "2,0,0,,0.6\n2,20,10,0.9,0.7\n")
    main(["--plot", str(log), str(tmp_path / "curves.png")])
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_short_leg_runs_on_the_cpu_and_carries_its_training(tiny_saved_models, tmp_path):
    """``training.fit.accel_train`` end to end (JAX on this CPU): starts from the dumped weights,
    trains a few seconds, validates and writes weights.npz and log.csv that count its steps."""
    from training.fit.accel_train import main
    from training.fit.weights import main as weights_main
    from training.fit.weights import trained_of
    weights_main(["dump", "--models", str(tiny_saved_models), "--out", str(tmp_path / "init.npz")])
    main(["--init", str(tmp_path / "init.npz"), "--out", str(tmp_path / "out"), "--seconds", "3", "--batch-size", "64",
          "--workers", "1", "--validation-count", "8", "--warmup", "2", "--replay", "64"])
    carried = trained_of(dict(np.load(tmp_path / "out" / "weights.npz")))
    assert carried["steps"] > 0 and carried["pictures"] == 64 * carried["steps"]
    rows = (tmp_path / "out" / "log.csv").read_text().splitlines()
    assert "red_direct" in rows[0] and len(rows) >= 3  # the start, the end
