"""The platform's verdicts: the ReportOutcome contract, the answer cache's bounds, the store's
durability and duplicates, live accuracy, and the training side's stats and export."""
import base64
import json
import signal
import sqlite3
import subprocess
import sys
import time

import grpc
import pytest

from captcha.v1 import captcha_pb2 as pb
from captcha.v1 import captcha_pb2_grpc as pb_grpc
from captcha_core.feedback import Report, SQLiteStore
from client import CaptchaClient, FailedPrecondition, InvalidArgument, NotFound, Unauthenticated
from server.answer_cache import AnswerCache, Pending
from tests.conftest import ROOT
from tests.fakes import FakeModel, solid_png
from tests.server_harness import running, spawn

PNG = solid_png((10, 20, 200))
OTHER = solid_png((200, 20, 10))


@pytest.fixture
def served(fake_models, tmp_path):
    store = tmp_path / "feedback.db"
    with running(fake_models, FakeModel, feedback_store=str(store), http_port=0) as app:
        with CaptchaClient(f"127.0.0.1:{app.port}", retries=0) as client:
            yield app, client, store


def test_every_answer_has_its_own_unguessable_id(served):
    _, client, _ = served
    ids = {client.recognize(PNG, "red", request_id="same").answer_id for _ in range(20)}
    assert len(ids) == 20 and all(len(i) >= 20 for i in ids)


def test_report_contract(served):
    app, client, _ = served
    result = client.recognize(PNG, "blue")
    assert client.report(result, accepted=True) == (True, True)        # stored, and the picture verified
    assert client.report(result, accepted=True) == (False, True)       # the same again: OK
    assert client.report(result.answer_id, True, result.text.lower()) == (False, True)  # the same text
    with pytest.raises(FailedPrecondition):
        client.report(result, accepted=False)                           # another verdict
    with pytest.raises(FailedPrecondition):
        client.report(result, accepted=True, submitted_text="AB")       # another text
    with pytest.raises(NotFound):
        client.report("no-such-answer", accepted=True)
    other = client.recognize(PNG, "red")
    with pytest.raises(InvalidArgument, match="at most 6"):
        client.report(other, accepted=False, submitted_text="ABCDEFG")
    with pytest.raises(InvalidArgument, match="cannot read"):
        client.report(other, accepted=False, submitted_text="A$")
    assert client.report(other, accepted=False, submitted_text="中AB") == (True, False)
    reg = app.metrics.registry
    assert reg.get_sample_value("captcha_reports_total", {"color": "blue", "model": "blue", "version": "1",
                                                          "verdict": "accepted", "text": "ours"}) == 1
    assert reg.get_sample_value("captcha_errors_total", {"code": "NOT_FOUND", "protocol": "grpc"}) == 1


def test_without_a_store_nothing_is_kept_and_reports_are_refused(fake_models):
    with running(fake_models, FakeModel) as app:
        with CaptchaClient(f"127.0.0.1:{app.port}") as client:
            result = client.recognize(PNG, "red")
            assert result.answer_id == ""
            stub = pb_grpc.CaptchaServiceStub(client._channel)
            with pytest.raises(grpc.RpcError) as err:
                stub.ReportOutcome(pb.ReportOutcomeRequest(answer_id="x", accepted=True))
            assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION


def test_the_token_guards_reports(fake_models, tmp_path):
    with running(fake_models, FakeModel, auth_token="s3cret", feedback_store=str(tmp_path / "f.db")) as app:
        with CaptchaClient(f"127.0.0.1:{app.port}", token="s3cret") as client:
            result = client.recognize(PNG, "red")
        with CaptchaClient(f"127.0.0.1:{app.port}", token="wrong") as client:
            with pytest.raises(Unauthenticated):
                client.report(result, accepted=True)
        assert app.metrics.registry.get_sample_value("captcha_errors_total", {"code": "UNAUTHENTICATED",
                                                                              "protocol": "grpc"}) == 1


def test_live_accuracy_counts_our_answers_only(served):
    app, client, _ = served
    for accepted in (True, True, False):
        client.report(client.recognize(PNG, "red"), accepted=accepted)
    client.report(client.recognize(OTHER, "red"), accepted=True, submitted_text="XY")  # a person's text
    (live,) = client.live_accuracy()
    assert live == {"color": "red", "model": "red", "version": 1, "accepted": 2, "rejected": 1,
                    "accuracy": pytest.approx(2 / 3)}
    assert app.metrics.registry.get_sample_value("captcha_live_accuracy", {"color": "red", "model": "red",
                                                                           "version": "1"}) == pytest.approx(2 / 3)


def test_live_accuracy_names_the_model_that_answered(tmp_path):
    from tests.fakes import write_fake
    write_fake(tmp_path / "models", "red", 7)
    write_fake(tmp_path / "models", "blue", 3)
    with running(tmp_path / "models", FakeModel, feedback_store=str(tmp_path / "f.db")) as app:
        with CaptchaClient(f"127.0.0.1:{app.port}") as client:
            client.report(client.recognize(PNG, "blue"), accepted=True)
            client.report(client.recognize(PNG, "yellow"), accepted=False)  # through red: no yellow model
            rows = {(x["color"], x["model"], x["version"]): (x["accepted"], x["rejected"])
                    for x in client.live_accuracy()}
    assert rows == {("blue", "blue", 3): (1, 0), ("yellow", "red", 7): (0, 1)}


def test_http_report(served):
    from tests.test_server import post
    app, _, _ = served
    status, body = post(app.http_port, {"image": base64.b64encode(PNG).decode(), "param_key": "red"})
    assert status == 200 and body["answer_id"]
    url_post = lambda data: _post(app.http_port, data)  # noqa: E731
    assert url_post({"answer_id": body["answer_id"], "accepted": True})[0] == 200
    assert url_post({"answer_id": body["answer_id"], "accepted": False})[0] == 409
    assert url_post({"answer_id": "nope", "accepted": True})[0] == 404
    assert url_post({"answer_id": body["answer_id"], "accepted": "yes"})[0] == 400


def _post(port, body):
    import urllib.error
    import urllib.request
    req = urllib.request.Request(f"http://127.0.0.1:{port}/captcha/v1/report", data=json.dumps(body).encode(),
                                 method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


def test_the_same_picture_and_colour_is_kept_once(tmp_path):
    store = SQLiteStore(tmp_path / "s.db")
    base = dict(picture=PNG, color="red", answer="AB", confidence=0.9, route="direct", model="red", version=3)
    assert store.add(Report("a1", submitted_text="AB", accepted=False, **base)) == (True, False)
    assert store.add(Report("a2", submitted_text="AC", accepted=True, **base)) == (True, True)
    assert store.add(Report("a3", submitted_text="AB", accepted=False, **{**base, "color": "blue"}))[0]
    counts = store.counts()
    assert counts["samples"] == 2 and counts["verified"] == 1 and counts["accepted"] == 1 and counts["rejected"] == 2
    (verified,) = list(store.samples())
    assert (verified.label, verified.color, verified.source) == ("AC", "red", "verified")
    store.close()


def test_cache_drops_the_oldest_when_full_and_forgets_the_expired():
    now = [0.0]
    dropped = []
    cache = AnswerCache(ttl_s=10, max_bytes=3 * (1000 + 200), on_drop=dropped.append, clock=lambda: now[0])
    pending = Pending(b"x" * 1000, "red", "", 0.9, "direct", "red", 1, 0.0)
    for i in range(4):
        cache.put(f"a{i}", pending)
    assert cache.get("a0") is None and cache.get("a3") is not None and dropped == ["full"]
    assert cache.bytes <= cache.max_bytes
    now[0] = 11.0
    assert cache.get("a3") is None and dropped == ["full", "expired", "expired", "expired"]
    assert len(cache) == 0 and cache.bytes == 0


def test_cache_bounds_come_from_the_flags(fake_models, tmp_path):
    with running(fake_models, FakeModel, feedback_store=str(tmp_path / "f.db"), feedback_ttl=0.2) as app:
        with CaptchaClient(f"127.0.0.1:{app.port}") as client:
            result = client.recognize(PNG, "red")
            time.sleep(0.3)
            with pytest.raises(NotFound, match="expired"):
                client.report(result, accepted=True)
        assert app.metrics.registry.get_sample_value("captcha_feedback_dropped_total", {"reason": "expired"}) == 1


@pytest.mark.slow
def test_an_acknowledged_report_survives_kill_9(tmp_path):
    store = tmp_path / "feedback.db"
    proc, port = spawn("--model-dir", str(ROOT / "saved_models"), "--feedback-store", str(store))
    try:
        with CaptchaClient(f"127.0.0.1:{port}") as client:
            result = client.recognize(PNG, "red")
            assert client.report(result, accepted=True).stored
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        proc.kill()
    row = sqlite3.connect(store).execute("SELECT accepted, submitted_text FROM reports WHERE answer_id = ?",
                                         (result.answer_id,)).fetchone()
    assert row == (1, result.text.upper())


def test_stats_json_counts_the_reports_sent(served, tmp_path):
    _, client, store = served
    sent = {"red": [True, False], "blue": [True], "black": [False, False]}
    for color, verdicts in sent.items():
        for i, accepted in enumerate(verdicts):
            client.report(client.recognize(solid_png((i * 40, 20, 200)), color), accepted=accepted)
    out = subprocess.run([sys.executable, "-m", "training.artifacts.feedback", "stats", "--store", str(store), "--json"],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    stats = json.loads(out.stdout)
    assert (stats["accepted"], stats["rejected"]) == (2, 3)
    assert {c: stats[c] for c in ("red", "yellow", "blue", "black")} == {"red": 2, "yellow": 0, "blue": 1, "black": 2}
    assert {(x["color"], x["accepted"], x["rejected"]) for x in stats["live_accuracy"]} == \
        {("red", 1, 1), ("blue", 1, 0), ("black", 0, 2)}


def test_export_verified_and_unverified_then_import(served, tmp_path):
    from training.synth.eval_sets import Dataset
    _, client, store = served
    client.report(client.recognize(PNG, "red"), accepted=True)
    client.report(client.recognize(OTHER, "blue"), accepted=False)

    def run(*args):
        out = subprocess.run([sys.executable, "-m", "training.artifacts.feedback", *args, "--store", str(store)], cwd=ROOT,
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        return out.stdout

    run("export", "--out", str(tmp_path / "verified"))
    ds = Dataset.load(tmp_path / "verified")
    assert len(ds.images) == 1 and ds.answers[0]["red"] and ds.answers[0]["blue"] is None
    run("export", "--unverified", "--out", str(tmp_path / "todo"))
    rows = [json.loads(line) for line in (tmp_path / "todo" / "labels.jsonl").read_text().splitlines()]
    assert len(rows) == 1 and rows[0]["color"] == "blue" and rows[0]["label"] == ""
    rows[0]["label"] = "k7"
    (tmp_path / "todo" / "labels.jsonl").write_text(json.dumps(rows[0]) + "\n")
    assert "1 labels imported" in run("import", "--labels", str(tmp_path / "todo" / "labels.jsonl"))
    run("export", "--imported", "--out", str(tmp_path / "imported"))
    (row,) = [json.loads(line) for line in (tmp_path / "imported" / "labels.jsonl").read_text().splitlines()]
    assert row["answers"]["blue"] == "K7" and row["source"] == "imported"
    assert len(Dataset.load(tmp_path / "verified").images) == 1  # imported labels are not verified ones
