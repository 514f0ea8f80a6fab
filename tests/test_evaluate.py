"""Evaluation arithmetic on hand-made cases."""
import pytest

from training.evaluate.accuracy import edit_distance, score


def test_edit_distance():
    assert edit_distance("ABC", "ABC") == 0
    assert edit_distance("ABC", "AC") == 1
    assert edit_distance("", "AB") == 2
    assert edit_distance("AXC", "ABC") == 1


def test_score_by_hand():
    truths = ["AB", "中CD", "EF", "国家G"]
    preds = ["ab", "中CX", "EF", "国G"]
    s = score(preds, truths)
    assert s["count"] == 4
    assert s["exact"] == 0.5                     # "ab" (case-insensitive) and "EF"
    assert abs(s["char"] - (1 - 2 / 10)) < 1e-9  # one substitution, one deletion over 10 characters
    assert s["with_chinese"]["count"] == 2 and s["with_chinese"]["exact"] == 0.0
    assert s["without_chinese"]["count"] == 2 and s["without_chinese"]["exact"] == 1.0


def test_score_of_nothing():
    assert score([], [])["exact"] is None


def test_threshold_policy_by_hand():
    from server.models import Reading
    from training.evaluate.accuracy import policy
    direct = [Reading("A", 0.95, ()), Reading("B", 0.4, ()), Reading("C", 0.4, ())]
    fallback = [Reading("x", 0.99, ()), Reading("y", 0.8, ()), Reading("z", 0.1, ())]
    assert policy(direct, fallback, 0.9) == ["A", "y", "C"]
    assert policy(direct, fallback, 1.0) == ["x", "y", "C"]


def test_chinese_error_kinds_on_hand_made_readings():
    from training.evaluate.chinese_errors import error_kind
    assert error_kind("票税AB", "票税ab") == "right"
    assert error_kind("票税AB", "票AB") == "Chinese count differs"
    assert error_kind("票税AB", "票锐AB") == "one Chinese wrong"
    assert error_kind("票税AB", "漂锐AB") == "two or more Chinese wrong"
    assert error_kind("票税AB", "票税A8") == "only Latin wrong"
    assert error_kind("票税AB", "票锐A8") == "one Chinese wrong"  # Chinese errors count first


def test_served_route_answers_what_the_router_answers(tmp_path):
    """The evaluation's served route (the data plane, many pictures at once) and the server's
    router read one at a time, on the same fake models and pictures whose moved views the fakes
    read differently, give the same answers and make as many readings."""
    import numpy as np

    from captcha_core.colors import Color
    from server.manager import ModelManager
    from server.routing import Router
    from server.models import Reading
    from tests.fakes import FakeModel, write_fake
    from server.plane import DataPlane
    from training.evaluate.accuracy import served

    class Unsteady(FakeModel):
        """Its confidence follows the pixel it reads, so readings differ in confidence too
        (ties between texts are settled by it) and some pictures are sure, some not."""
        def read(self, images):
            return [Reading(r.text, 0.5 + (int(img[0, 0].sum()) % 50) / 100, r.char_confidences)
                    for r, img in zip(super().read(images), images)]

    for color in ("red", "blue", "black"):
        write_fake(tmp_path, color, 1)
    repo = ModelManager(tmp_path, Unsteady)
    repo.refresh()
    rng = np.random.default_rng(3)
    images = []
    for i in range(12):
        img = np.full((40, 100, 3), 200, np.uint8)
        img[:2, :2] = rng.integers(0, 4, (2, 2, 3)) * 60  # the fakes read the top-left pixel
        if i % 3 == 0:
            img[0, 1] = img[0, 0]  # the first three views read alike: the red model's look stops early
        images.append(img)
    for color in (Color.RED, Color.BLUE, Color.BLACK):
        for n_views in (1, 5, 9):
            router = Router(repo, threshold=0.9, views=n_views)
            answers = [router.read(img, color) for img in images]
            given = served(DataPlane(repo, router), color, images)
            texts, reads = [a.text for a in given], [a.reads for a in given]
            assert texts == [a.reading.text for a in answers], (color, n_views)
            assert reads == [a.reads for a in answers], (color, n_views)
            looked = [a.reads > 1 for a in answers]
            assert n_views == 1 and color is Color.RED or 0 < sum(looked) < len(images)  # sure and unsure ones
    repo.close()


def test_evaluate_reports_every_route_and_the_time_per_picture(tmp_path):
    import numpy as np

    from captcha_core.colors import Color
    from captcha_core.transforms import to_red
    from server.manager import ModelManager
    from tests.fakes import FakeModel, write_fake
    from server.plane import DataPlane
    from training.evaluate.accuracy import evaluate, markdown, plot_calibration
    from training.synth.eval_sets import Dataset
    for color in ("red", "blue"):
        write_fake(tmp_path, color, 1, confidence=0.95)
    repo = ModelManager(tmp_path, FakeModel)
    repo.refresh()
    img = np.full((40, 100, 3), (10, 20, 200), np.uint8)
    right = "%02X%02X%02X" % (10, 20, 200)  # what the fake reads there directly
    via_red = "%02X%02X%02X" % tuple(int(v) for v in to_red(img, Color.BLUE)[0, 0])
    answers = [{"red": right, "yellow": "", "blue": right, "black": ""}, {"red": "", "yellow": "", "blue": "X", "black": ""}]
    report = evaluate(DataPlane.over(repo, threshold=0.9, views=9), [Dataset("set", [img, img], answers)])
    result = report["datasets"]["set"]
    assert result["red/direct"]["count"] == 1 and result["red/direct"]["exact"] == 1.0
    assert result["blue/direct"]["count"] == 2 and result["blue/direct"]["exact"] == 0.5
    assert result["blue/fallback"]["exact"] == 0.0 and via_red != right  # the transform route reads another text
    assert result["blue/served"]["exact"] == 0.5  # sure direct answers: served as read
    assert set(report["ms_per_picture"]) == {"red", "blue"} and report["ms_per_picture"]["red"] > 0
    assert "| set | blue | served | 2 |" in markdown(report)
    calibration = report["calibration"]["set"]["blue"]
    assert (calibration["answers"], calibration["exact"], calibration["calibrated"]) == (2, 0.5, False)
    assert calibration["coverage"] == 1.0 and calibration["precision"] == 0.5  # 0.95 is above the fallback 0.9
    assert calibration["ece"] == pytest.approx(0.45)  # one bin: confidence 0.95, exact match 0.5
    assert "| set | blue | 2 | 50.0% | 45.00% |" in markdown(report)
    (tmp_path / "plots").mkdir()
    (plot,) = plot_calibration(report["calibration"], tmp_path / "plots")
    assert plot.name == "calibration-set.png" and plot.stat().st_size > 1000
    repo.close()


def test_the_evaluations_plane_batches_as_the_server_does(tiny_saved_models, monkeypatch):
    """``open_plane`` (evaluation, calibration, read_real) serves with the server's defaults:
    its threshold, second look and batching, not the manager's own (server defaults changed here,
    so that they differ from BatchPolicy's and the router's own)."""
    import dataclasses

    import server.config
    from training.evaluate.accuracy import open_plane

    @dataclasses.dataclass(frozen=True)
    class Changed(server.config.ServerConfig):
        max_batch: int = 3
        max_wait_ms: float = 1.5
        confidence_threshold: float = 0.7
        second_look_views: int = 5

    monkeypatch.setattr(server.config, "ServerConfig", Changed)
    plane = open_plane(tiny_saved_models, "tensorflow")
    try:
        defaults = Changed()
        assert plane.manager._policy == defaults.batch_policy()
        assert plane.router.threshold == defaults.confidence_threshold
        assert plane.router.views == defaults.second_look_views
    finally:
        plane.manager.close()
