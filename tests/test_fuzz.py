"""A fast subset of the fuzz run (bench/fuzz.py runs 10,000+ cases): every bad request gets
OK or INVALID_ARGUMENT with a message, and the server keeps answering."""
import grpc
import pytest

from bench.fuzz_cases import CORPUS, cases
from captcha.v1 import captcha_pb2 as pb
from captcha.v1 import captcha_pb2_grpc as pb_grpc
from tests.fakes import FakeModel, solid_png
from tests.server_harness import running


@pytest.fixture(scope="module")
def stub(tmp_path_factory):
    from tests.fakes import write_fake
    root = tmp_path_factory.mktemp("fuzzmodels")
    for color in ("red", "yellow", "blue", "black"):
        write_fake(root, color, 1)
    with running(root, FakeModel) as app:
        channel = grpc.insecure_channel(f"127.0.0.1:{app.port}")
        yield pb_grpc.CaptchaServiceStub(channel)
        channel.close()


def call(stub, fields):
    try:
        stub.Recognize(pb.RecognizeRequest(**fields), timeout=30)
        return "OK", ""
    except grpc.RpcError as err:
        return err.code().name, err.details()


def test_fuzz_subset(stub):
    outcomes = {}
    for kind, fields in cases(seed=20261125, count=260):
        code, message = call(stub, fields)
        assert code in ("OK", "INVALID_ARGUMENT"), (kind, code, message)
        assert code == "OK" or message, kind
        outcomes.setdefault(kind, set()).add(code)
    assert outcomes["random"] == {"INVALID_ARGUMENT"} and outcomes["bomb"] == {"INVALID_ARGUMENT"}
    assert outcomes["empty"] == {"INVALID_ARGUMENT"} and outcomes["oversize"] == {"INVALID_ARGUMENT"}
    assert call(stub, {"image": solid_png(), "color": 1})[0] == "OK"  # still alive and answering


def test_corpus_files(stub):
    files = sorted(CORPUS.iterdir())
    assert len(files) >= 10
    for f in files:
        code, message = call(stub, {"image": f.read_bytes(), "color": 3})
        assert code in ("OK", "INVALID_ARGUMENT") and (code == "OK" or message), f.name
        if f.name.startswith("seed-"):
            assert code == "OK"
