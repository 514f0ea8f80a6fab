"""The training run's state file: resume keeps the best score, --reset-best moves it aside."""
import json

from training.train import load_state


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
