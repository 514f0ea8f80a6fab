"""The training run's state file (resume keeps the best score, --reset-best moves it aside) and its curves."""
import json

import pytest

from training.fit.train import load_state


def test_fresh_run_has_no_best(tmp_path):
    assert load_state(tmp_path / "state.json") == {"best": -1.0, "minutes": 0.0}


def test_resume_keeps_the_best_and_reset_moves_it_aside(tmp_path):
    path = tmp_path / "state.json"
    path.write_text(json.dumps({"best": 0.81, "minutes": 90.5, "earlier_bests": [0.84]}))
    assert load_state(path)["best"] == 0.81
    state = load_state(path, reset_best=True)
    assert state["best"] == -1.0 and state["earlier_bests"] == [0.84, 0.81] and state["minutes"] == 90.5
    fresh = load_state(tmp_path / "none.json", reset_best=True)
    assert fresh["best"] == -1.0 and "earlier_bests" not in fresh


def test_curves_lay_legs_end_to_end_and_draw_the_log_of_either_trainer(tmp_path):
    pytest.importorskip("matplotlib")
    from training.fit.curves import clock, draw
    legs = [{"leg": "1", "seconds": "0"}, {"leg": "1", "seconds": "20"}, {"leg": "2", "seconds": "0"},
            {"leg": "2", "seconds": "5"}]
    assert clock(legs, "seconds") == [0, 20, 20, 25]
    assert clock([{"minutes": "1.5"}, {"minutes": "3"}], "minutes") == [1.5, 3]
    log = tmp_path / "log.csv"
    log.write_text("minutes,step,loss,red_direct,red_fallback\n1,10,2.0,,\n2,20,1.5,0.4,0.3\n")
    assert draw(log, tmp_path / "c.png", "minutes")
    assert (tmp_path / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    (tmp_path / "empty.csv").write_text("minutes,loss\n")
    assert not draw(tmp_path / "empty.csv", tmp_path / "e.png") and not (tmp_path / "e.png").exists()


def test_a_short_run_trains_validates_exports_and_resumes(tiny_saved_models, tmp_path, capsys):
    """``training.fit.train`` end to end on the tiny architecture: a leg of a few seconds exports
    (its first validation beats the empty best), and the next leg resumes from its checkpoint."""
    import json

    from captcha_core.versions import versions
    from training.fit.train import main
    args = ["--run-dir", str(tmp_path / "run"), "--minutes", "0.02", "--batch-size", "4", "--validation-count", "8",
            "--init-from", str(tiny_saved_models), "--export-to", str(tmp_path / "out"), "--calibration-scale", "0"]
    main(args)
    state = json.loads((tmp_path / "run" / "state.json").read_text())
    assert state["best"] >= 0 and state["minutes"] > 0 and (tmp_path / "run" / "log.csv").exists()
    assert [v for v, _ in versions(tmp_path / "out" / "red")] == [1]
    capsys.readouterr()
    main(args)
    assert "resumed from" in capsys.readouterr().out
    assert json.loads((tmp_path / "run" / "state.json").read_text())["minutes"] > state["minutes"]  # legs add up
