"""training.fit.finetune on a tiny model and a small store: it exports only when it should."""
import shutil

import pytest

pytest.importorskip("tensorflow")

from captcha_core.feedback import Report, SQLiteStore  # noqa: E402
from captcha_core.versions import versions  # noqa: E402


def noise_png(seed: int) -> bytes:
    import io

    import numpy as np
    from PIL import Image
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (35, 90, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture
def setup(tiny_saved_models, tmp_path):
    from training.synth.eval_sets import draw
    from training.synth.eval_sets import Dataset
    models = tmp_path / "models"
    shutil.copytree(tiny_saved_models, models)
    store = SQLiteStore(tmp_path / "feedback.db")
    for i in range(10):  # the platform accepted "K7" for ten pictures of noise asked in red
        store.add(Report(f"a{i}", noise_png(i), "red", "XX", 0.5, "direct", "red", 1, "K7", True, created=1000.0 + i))
    store.close()
    draw("90x35", tmp_path / "frozen", 8, progress=False)
    return models, str(tmp_path / "feedback.db"), [Dataset.load(tmp_path / "frozen")]


def test_exports_when_the_held_out_verdicts_improve(setup, tmp_path):
    from captcha_core.calibration import Calibration
    from server.models import load_model
    from training.artifacts.calibrate import CalibrationJob
    from training.fit.finetune import Recipe, finetune
    models, store, frozen = setup
    # (a tiny model has no room for synthetic pictures besides: it learns "K7" alone in ~100 steps)
    job = CalibrationJob(scale=0.001, frozen=tmp_path / "frozen")  # a few calibration pictures: it is tested
    report = finetune(store, models, Recipe(minutes=5, steps=150, lr=0.01, batch_size=16, synthetic_share=0.0,
                                            holdout=0.4, average=0.0), frozen, calibration=job)
    assert (report["learned_from"], report["held_out"]) == (6, 4)
    assert report["before"]["held_out"]["red"] == [0, 4] and report["after"]["held_out"]["red"] == [4, 4]
    assert (report["held_out_fixed"], report["held_out_broken"]) == (4, 0)  # 4 >= 1.645 * sqrt(4)
    assert report["exported"] and report["held_out_gain_points"] == 100.0
    assert [v for v, _ in versions(models / "red")] == [1, 2]
    assert [v for v, _ in versions(models / "blue")] == [1, 2]
    # the new versions carry their calibration, and the server reads it back
    for color in ("red", "yellow", "blue", "black"):
        calibration = Calibration.read(models / color / "2")
        assert calibration is not None and calibration.served is not None
        assert load_model(models / color / "2").spec.calibration == calibration
    assert set(Calibration.read(models / "red" / "2").transform) == {"yellow", "blue", "black"}
    assert not list(models.glob(".export-*"))  # no staging left behind


def test_does_not_export_what_learned_nothing(setup):
    from training.fit.finetune import Recipe, finetune
    models, store, frozen = setup
    report = finetune(store, models, Recipe(minutes=5, steps=5, lr=0.0, batch_size=8, synthetic_share=0.5), frozen)
    assert report["exported"] is None and report["reason"] == "not better on the held-out verdicts"
    assert [v for v, _ in versions(models / "red")] == [1]


def test_the_export_decision_by_hand():
    from training.fit.finetune import decide
    before = {"held_out": {"red": [5, 10], "blue": [2, 10]}, "frozen": {"90x35/red": 0.90, "90x35/blue": 0.80}}
    better = {"held_out": {"red": [7, 10], "blue": [2, 10]}, "frozen": {"90x35/red": 0.898, "90x35/blue": 0.80}}
    assert decide(before, better, 0.5) == (True, "better on the held-out verdicts, no frozen set dropped more "
                                                 "than 0.5 points")
    shifted = {**better, "frozen": {"90x35/red": 0.91, "90x35/blue": 0.795}}  # the set's mean gained
    assert decide(before, shifted, 0.5)[0]
    forgot = {**better, "frozen": {"90x35/red": 0.90, "90x35/blue": 0.78}}  # the set's mean lost a point
    assert decide(before, forgot, 0.5) == (False, "90x35 dropped 1.00 points (more than 0.5)")
    assert decide(before, before, 0.5) == (False, "not better on the held-out verdicts")
    # better by two pictures: the new weights fixed 2 and broke none, short of 1.645 * sqrt(2)
    assert decide(before, better, 0.5, changed=(2, 0), z=1.645) == (
        False, "not surely better on the held-out verdicts (2 fixed, 0 broken; needs 1.645 standard deviations)")
    assert decide(before, better, 0.5, changed=(12, 4), z=1.645)[0]  # 8 >= 1.645 * 4
    assert not decide(before, better, 0.5, changed=(22, 14), z=1.645)[0]  # 8 < 1.645 * 6
    no_frozen = {"held_out": before["held_out"], "frozen": {}}
    assert not decide(no_frozen, {**better, "frozen": {}}, 0.5)[0]
    assert decide(no_frozen, {**better, "frozen": {}}, 0.5, need_frozen=False)[0]


@pytest.fixture
def tuned(setup):
    """A trainer restored from the tiny served models, the learn-from samples, and the models' folder."""
    from training.artifacts.restore import architecture, restore_from_saved_models
    from training.fit.finetune import stored_samples
    from training.fit.train import Trainer
    models, store, _ = setup
    mcfg = architecture(models)
    trainer = Trainer(mcfg, 0.01, 10**9)
    restore_from_saved_models(trainer, models)
    return trainer, stored_samples(store, mcfg.input_width, mcfg.input_height), models


def weights(trainer):
    """Every weight of the models, trained or not, in one fixed order."""
    parts = [trainer.backbone, trainer.classifier, *trainer.heads.values()]
    return [v.numpy().copy() for part in parts for v in part.weights]


def test_a_moving_average_that_never_moves_keeps_the_served_weights(tuned):
    from training.fit.finetune import Recipe, learn
    trainer, samples, _ = tuned
    served = weights(trainer)
    learn(trainer, samples, Recipe(steps=5, lr=0.01, batch_size=8, synthetic_share=0.0, average=1.0))
    assert all((a == b).all() for a, b in zip(served, weights(trainer)))
    learn(trainer, samples, Recipe(steps=5, lr=0.01, batch_size=8, synthetic_share=0.0, average=0.0))
    assert any((a != b).any() for a, b in zip(served, weights(trainer)))


def test_learn_reports_every_step_with_its_tuner(tuned):
    from training.fit.finetune import Recipe, Tuner, learn
    trainer, samples, _ = tuned
    seen = []
    steps = learn(trainer, samples, Recipe(steps=3, batch_size=8, synthetic_share=0.0),
                  on_step=lambda n, tuner: seen.append((n, isinstance(tuner, Tuner))))
    assert steps == 3 and seen == [(1, True), (2, True), (3, True)]


def test_distillation_adds_nothing_while_the_weights_are_the_served_ones(tuned):
    import numpy as np
    import tensorflow as tf
    from training.artifacts.restore import restore_from_saved_models
    from training.fit.finetune import Tuner, freeze, verified_batch
    from training.fit.train import Trainer
    from training.net.encoding import Alphabet
    from training.synth import charset
    trainer, samples, models = tuned
    freeze(trainer, norms=True, convs=False)
    teacher = Trainer(trainer.mcfg, 0.0, 10**9)
    restore_from_saved_models(teacher, models)
    rng = np.random.default_rng(0)
    batch = [tf.constant(a) for a in verified_batch(samples, Alphabet(charset.vocabulary()), 6, rng)]
    plain = float(trainer.ctc_objective(trainer.every_head(batch[0], True), *batch[1:], True))
    assert float(Tuner(trainer, teacher, 1.0, 0.0, 0.0).step(*batch, 3)) == pytest.approx(plain, rel=1e-4)
    # a teacher that reads otherwise: the same step costs more
    student = Trainer(trainer.mcfg, 0.0, 10**9)
    restore_from_saved_models(student, models)
    freeze(student, norms=True, convs=False)
    for v in teacher.classifier.trainable_variables:
        v.assign(v + rng.normal(0, 0.5, v.shape).astype(np.float32))
    assert float(Tuner(student, teacher, 1.0, 0.0, 0.0).step(*batch, 3)) > plain + 1e-3


def test_hard_rows_come_from_the_misread_samples(tuned):
    import numpy as np
    from training.fit.finetune import Labelled, misread, verified_batch
    from training.net.encoding import Alphabet
    trainer, samples, _ = tuned
    read = trainer.texts(np.stack([s.image for s in samples]), "red")
    wrong = ["Q" if r != "Q" else "K" for r in read]
    relabelled = [Labelled(s.image, s.color, read[i] if i % 2 else wrong[i]) for i, s in enumerate(samples)]
    assert misread(trainer, relabelled) == [i for i in range(len(samples)) if i % 2 == 0]
    from training.synth import charset
    alphabet = Alphabet(charset.vocabulary())
    _, labels, _ = verified_batch(relabelled, alphabet, 12, np.random.default_rng(0), transform_share=0.0,
                                  hard=([4], 1.0))
    assert all((row[0] == alphabet.encode(relabelled[4].label)).all() for row in labels)


def test_a_synthetic_picture_teaches_as_many_heads_as_asked():
    import numpy as np
    from training.fit.finetune import keep_heads
    weights = np.array([[1, 1, 1, 1], [0, 1, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0]], np.float32)
    rng = np.random.default_rng(0)
    one = keep_heads(weights, 1, rng)
    assert one.sum(axis=1).tolist() == [1, 1, 1, 0]
    assert ((one > 0) <= (weights > 0)).all()          # only heads the picture had labels for
    assert (one[1] == weights[1]).all()
    assert (keep_heads(weights, 4, rng) == weights).all()
    drawn = {int(np.flatnonzero(keep_heads(weights[:1], 1, rng)[0])[0]) for _ in range(40)}
    assert drawn == {0, 1, 2, 3}                       # the kept head is drawn, not always the first


def test_moved_rows_are_the_second_looks_views_of_the_sample():
    import numpy as np
    from captcha_core.colors import Color
    from captcha_core.views import SHIFTS, shifted
    from training.fit.finetune import Labelled, verified_batch
    from training.net.encoding import Alphabet
    from training.synth import charset
    image = np.random.default_rng(3).integers(0, 256, (40, 100, 3), dtype=np.uint8)
    samples = [Labelled(image, Color.RED, "AB12")]
    alphabet = Alphabet(charset.vocabulary())
    moved = [shifted(image, dx, dy) for dx, dy in SHIFTS[1:]]
    images, _, _ = verified_batch(samples, alphabet, 20, np.random.default_rng(0), moved=1.0)
    assert all(any((im == m).all() for m in moved) for im in images)
    assert not any((im == image).all() for im in images)
    images, _, _ = verified_batch(samples, alphabet, 5, np.random.default_rng(0), moved=0.0)
    assert all((im == image).all() for im in images)


def test_imported_labels_are_learned_from_only_when_asked_and_never_held_out(setup):
    from training.fit.finetune import Recipe, finetune
    models, store, frozen = setup
    db = SQLiteStore(store)
    db.add(Report("r0", noise_png(99), "red", "XX", 0.5, "direct", "red", 1, "XX", False, created=2000.0))
    (unlabelled,) = list(db.unverified())
    assert db.import_label(unlabelled.id, "K7")
    db.close()
    recipe = Recipe(minutes=5, steps=1, lr=0.0, batch_size=8, synthetic_share=0.0, holdout=0.4)
    report = finetune(store, models, recipe, frozen, export=False)
    assert (report["imported"], report["learned_from"], report["held_out"]) == (0, 6, 4)
    report = finetune(store, models, Recipe(**{**recipe.__dict__, "imported": True}), frozen, export=False)
    assert (report["imported"], report["learned_from"], report["held_out"]) == (1, 7, 4)
