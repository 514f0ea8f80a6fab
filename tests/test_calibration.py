"""Calibrated confidence and the submit/refresh advice: the calibrator, its file, the data plane's
use of it (fake models), and the feedback store keeping what a refit needs."""
import sqlite3

import numpy as np
import pytest

from captcha_core.calibration import (FALLBACK_MIN_CONFIDENCE, Calibration, Calibrator, coverage_curve, ece, fit,
                                      fit_logistic, threshold_for)
from captcha_core.feedback import Report, SQLiteStore
from server.errors import InvalidRequest
from server.manager import ModelManager
from server.plane import Advice, DataPlane
from captcha_core.colors import Color
from server.routing import Route
from tests.fakes import FakeModel, solid_png, write_fake

PNG = solid_png((10, 20, 200))


def overconfident(n, seed=0):
    """Answers whose path probability says p but which are right with probability p**3."""
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.3, 1.0, n)
    return p, rng.uniform(size=n) < p ** 3


def test_fitting_makes_an_overconfident_score_honest():
    p, correct = overconfident(20000)
    assert ece(p, correct) > 0.1
    calibrator = fit(p, np.ones_like(p), np.ones_like(p), np.zeros_like(p), correct)
    p2, correct2 = overconfident(20000, seed=1)  # fresh answers, not the fitted ones
    assert ece(calibrator.probabilities(p2, 1, 1, False), correct2) < 0.02


def test_a_calibrated_score_is_left_about_as_it_is():
    rng = np.random.default_rng(2)
    p = rng.uniform(0.05, 0.999, 20000)
    correct = rng.uniform(size=p.size) < p
    calibrator = fit(p, 1, 1, False, correct)
    assert abs(calibrator(0.8) - 0.8) < 0.03 and abs(calibrator(0.3) - 0.3) < 0.03


def test_agreeing_reads_inform_a_second_look():
    """After a second look, the share of readings that agree tells right from wrong."""
    rng = np.random.default_rng(3)
    n = 20000
    share = rng.uniform(0.2, 1.0, n)
    reads = np.full(n, 9)
    correct = rng.uniform(size=n) < share ** 2
    calibrator = fit(np.full(n, 0.7), reads, np.round(share * 9), False, correct)
    assert calibrator(0.7, 9, 9) > 0.85 and calibrator(0.7, 9, 3) < 0.3


def test_the_logistic_fit_recovers_the_weights_that_drew_the_answers():
    rng = np.random.default_rng(4)
    x = np.column_stack([np.ones(40000), rng.normal(size=40000), rng.integers(0, 2, 40000)])
    truth = np.array([0.5, 2.0, -1.5])
    correct = rng.uniform(size=len(x)) < 1 / (1 + np.exp(-(x @ truth)))
    assert np.allclose(fit_logistic(x, correct, np.zeros(3), l2=1e-6), truth, atol=0.1)


def test_one_answer_gets_what_the_vectorised_form_gives():
    rng = np.random.default_rng(5)
    calibrator = Calibrator(tuple(rng.normal(size=6)))
    n = 500
    path_p = np.concatenate([rng.uniform(0, 1, n - 4), [0.0, 1.0, 1e-9, 1 - 1e-12]])
    reads = rng.choice([1, 3, 6, 9, 18], n)
    agreeing = np.minimum(reads, rng.integers(1, 19, n))
    transform = rng.uniform(size=n) < 0.3
    together = calibrator.probabilities(path_p, reads, agreeing, transform)
    one_by_one = [calibrator(float(p), int(r), int(a), bool(t)) for p, r, a, t in zip(path_p, reads, agreeing, transform)]
    assert np.allclose(one_by_one, together, rtol=0, atol=1e-12)


def test_threshold_is_the_lowest_that_keeps_the_precision():
    conf = np.array([0.99, 0.98, 0.97, 0.9, 0.8, 0.7])
    right = np.array([True, True, True, False, True, False])
    t, coverage, precision = threshold_for(conf, right, 0.75)
    assert (t, coverage, precision) == (0.8, 5 / 6, 0.8)
    assert threshold_for(conf, right, 1.0)[0] == 0.97
    assert threshold_for(np.array([0.9]), np.array([False]), 0.99) == (1.0, 0.0, 1.0)
    thresholds, cov, prec = coverage_curve(conf, right)
    assert list(cov) == [1 / 6, 2 / 6, 3 / 6, 4 / 6, 5 / 6, 1.0] and prec[3] == 0.75


def test_the_file_round_trips_and_refuses_what_it_cannot_read(tmp_path):
    (tmp_path / "assets").mkdir()
    assert Calibration.read(tmp_path) is None
    cal = Calibration(Calibrator((0.1, 1.2, 0.0, 0.0, 0.3, -0.2)), 0.875,
                      {"blue": Calibrator((0.0, 1.0, 0.0, 0.0, 0.0, -0.5))}, {"fitted_on": "test"})
    cal.write(tmp_path)
    assert Calibration.read(tmp_path) == cal
    (tmp_path / "assets" / "calibration.json").write_text('{"features": ["bias"], "served": [1]}')
    with pytest.raises(ValueError):
        Calibration.read(tmp_path)


def plane_over(root, **kw):
    manager = ModelManager(root, FakeModel)
    manager.refresh()
    return DataPlane.over(manager, **kw)


CAL = Calibration(Calibrator((-1.0, 1.0, 0.0, 0.0, 0.0, 0.0)), 0.6,
                  {"yellow": Calibrator((-2.0, 1.0, 0.0, 0.0, 0.0, 0.0))})


def test_the_answer_carries_the_calibrated_confidence_and_the_path_probability(tmp_path):
    write_fake(tmp_path, "red", 1, confidence=0.9, calibration=CAL)
    write_fake(tmp_path, "blue", 1, confidence=0.9)  # a version without calibration
    plane = plane_over(tmp_path)
    red = plane.recognize(PNG, "red")
    assert red.path_confidence == pytest.approx(0.9)
    assert red.confidence == pytest.approx(CAL.served(0.9)) and red.confidence < 0.9 and red.calibrated
    assert red.min_confidence == pytest.approx(0.6) and red.advice is Advice.SUBMIT
    blue = plane.recognize(PNG, "blue")
    assert blue.confidence == pytest.approx(0.9) and not blue.calibrated
    assert blue.min_confidence == FALLBACK_MIN_CONFIDENCE
    # yellow has no model: the red model's transform calibrator for yellow applies
    yellow = plane.recognize(PNG, "yellow")
    assert yellow.route is Route.COLOR_TRANSFORM and yellow.confidence == pytest.approx(CAL.transform["yellow"](0.9))
    statuses = {s.color.label: s for s in plane.colors()}
    assert statuses["red"].calibrated and statuses["red"].default_min_confidence == pytest.approx(0.6)
    assert not statuses["blue"].calibrated
    plane.manager.close()


def test_advice_follows_the_threshold(tmp_path):
    write_fake(tmp_path, "red", 1, confidence=0.9, calibration=CAL)
    plane = plane_over(tmp_path)
    confidence = plane.recognize(PNG, "red").confidence
    assert plane.recognize(PNG, "red", min_confidence=confidence - 1e-4).advice is Advice.SUBMIT
    assert plane.recognize(PNG, "red", min_confidence=min(1.0, confidence + 1e-4)).advice is Advice.REFRESH
    assert plane.recognize(PNG, "red", min_confidence=0).advice is Advice.SUBMIT
    refresh = plane.recognize(PNG, "red", min_confidence=1)
    assert refresh.advice is Advice.REFRESH and refresh.text  # the answer is given all the same
    counted = plane.metrics.registry.get_sample_value("captcha_advice_total", {"color": "red", "advice": "refresh"})
    assert counted == 2
    plane.manager.close()


@pytest.mark.parametrize("bad", [-0.01, 1.01, float("nan"), float("inf")])
def test_a_threshold_outside_0_to_1_is_invalid(tmp_path, bad):
    write_fake(tmp_path, "red", 1)
    plane = plane_over(tmp_path)
    with pytest.raises(InvalidRequest, match="min_confidence"):
        plane.recognize(PNG, "red", min_confidence=bad)
    plane.manager.close()


def test_a_store_of_the_first_schema_is_migrated_and_keeps_its_reports(tmp_path):
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.executescript("""
        CREATE TABLE schema_version (version INTEGER NOT NULL);
        INSERT INTO schema_version VALUES (1);
        CREATE TABLE samples (id INTEGER PRIMARY KEY, picture_hash TEXT NOT NULL, color TEXT NOT NULL,
            picture BLOB NOT NULL, verified_label TEXT, imported_label TEXT, created REAL NOT NULL,
            UNIQUE (picture_hash, color));
        CREATE TABLE reports (answer_id TEXT PRIMARY KEY, sample_id INTEGER NOT NULL, color TEXT NOT NULL,
            answer TEXT NOT NULL, confidence REAL NOT NULL, route TEXT NOT NULL, model TEXT NOT NULL,
            version INTEGER NOT NULL, submitted_text TEXT NOT NULL, ours INTEGER NOT NULL,
            accepted INTEGER NOT NULL, created REAL NOT NULL);
        INSERT INTO samples VALUES (1, 'h', 'red', x'00', 'AB', NULL, 1.0);
        INSERT INTO reports VALUES ('old', 1, 'red', 'AB', 0.75, 'direct', 'red', 3, 'AB', 1, 1, 1.0);
    """)
    db.commit()
    db.close()
    store = SQLiteStore(path)
    (verdict,) = store.verdicts("red", 3)
    assert (verdict.path_confidence, verdict.reads, verdict.agreeing, verdict.accepted) == (0.75, 1, 1, True)
    store.add(Report("new", b"\1", "red", "CD", 0.5, "direct", "red", 3, "CD", False, path_confidence=0.8,
                     reads=9, agreeing=5))
    assert [(v.path_confidence, v.reads, v.agreeing) for v in store.verdicts("red", 3)] == [(0.75, 1, 1), (0.8, 9, 5)]
    store.close()
    assert sqlite3.connect(path).execute("SELECT version FROM schema_version").fetchall() == [(2,)]
    SQLiteStore(path).close()  # opening a current store again changes nothing


def test_a_refit_from_verdicts_becomes_a_new_version(tmp_path):
    import json

    from captcha_core.versions import versions
    from training.artifacts.calibrate import publish, refit_from_store
    folder = write_fake(tmp_path / "models", "red", 4, calibration=CAL)
    (folder / "assets" / "model.json").write_text(json.dumps({"color": "red"}))
    store = SQLiteStore(tmp_path / "feedback.db")
    rng = np.random.default_rng(5)
    for i in range(300):  # the platform accepts the sure answers far more often than the unsure
        p = float(rng.uniform(0.5, 1.0))
        store.add(Report(f"a{i}", bytes([i % 256, i // 256]), "red", "AB", 0.0, "direct", "red", 4, "AB",
                         bool(rng.uniform() < p ** 4), path_confidence=p))
    store.add(Report("other", b"o", "red", "AB", 0.0, "direct", "red", 3, "AB", False, path_confidence=0.99))
    store.close()
    assert refit_from_store(tmp_path / "models", str(tmp_path / "feedback.db"), min_verdicts=301) == {}
    found = refit_from_store(tmp_path / "models", str(tmp_path / "feedback.db"), min_verdicts=100)
    assert set(found) == {"red"} and found["red"].about["answers"] == 300  # v3's verdict is not v4's
    assert found["red"].min_confidence == CAL.min_confidence and found["red"].transform == CAL.transform
    assert found["red"].served(0.6) < 0.3 < 0.9 < found["red"].served(0.999)
    (new,) = publish(tmp_path / "models", found).values()
    assert [v for v, _ in versions(tmp_path / "models" / "red")] == [4, 5] and new.name == "5"
    assert Calibration.read(new) == found["red"] and (new / "fake.json").exists()
    assert json.loads((new / "assets" / "model.json").read_text())["calibrated_from"] == 4


def test_observations_count_each_served_answer_once_and_the_direct_ones_only_when_asked(tmp_path):
    from training.artifacts.calibrate import observe
    from training.synth.eval_sets import Dataset
    write_fake(tmp_path, "red", 1, confidence=0.5)  # unsure: every answer gets a second look
    write_fake(tmp_path, "blue", 1, confidence=0.5)
    plane = plane_over(tmp_path, threshold=0.9, views=3)
    image = np.full((40, 100, 3), 200, np.uint8)
    answers = [{"red": "", "yellow": "", "blue": "C8C8C8", "black": ""}] * 3 + [{"red": "", "yellow": "",
                                                                               "blue": "", "black": ""}]
    ds = Dataset("set", [image] * 4, answers)
    served = observe(plane, ds, Color.BLUE)
    assert len(served) == 3 and all(r > 1 for r in served.reads) and all(served.correct)
    both = observe(plane, ds, Color.BLUE, also_direct=True)
    assert len(both) == 6 and both.reads[3:] == [1, 1, 1] and both.path_p[3:] == [0.5] * 3
    assert len(observe(plane, ds, Color.BLUE, Route.COLOR_TRANSFORM, also_direct=True)) == 3
    plane.manager.close()
