"""A real gRPC server on port 0 (fake models), driven by the SDK and by raw stubs."""
import base64
import io
import json
import shutil
import time
import urllib.error
import urllib.request

import grpc
import pytest
from PIL import Image

from captcha.v1 import captcha_pb2 as pb
from captcha.v1 import captcha_pb2_grpc as pb_grpc
from client import (AsyncCaptchaClient, CaptchaClient, ClientClosed, InvalidArgument, Overloaded, Unauthenticated,
                    Unavailable)
from tests.fakes import FakeModel, solid_png, write_fake
from tests.server_harness import running

PNG = solid_png((10, 20, 200))


@pytest.fixture
def server(fake_models):
    with running(fake_models, FakeModel, http_port=0) as app:
        yield app


@pytest.fixture
def stub(server):
    channel = grpc.insecure_channel(f"127.0.0.1:{server.port}")
    yield pb_grpc.CaptchaServiceStub(channel)
    channel.close()


def test_sdk_reads_bytes_paths_and_pil_images(server, tmp_path):
    path = tmp_path / "c.png"
    path.write_bytes(PNG)
    with CaptchaClient(f"127.0.0.1:{server.port}") as client:
        for image in (PNG, str(path), path, Image.open(io.BytesIO(PNG))):
            result = client.recognize(image, "blue", request_id="abc")
            assert result.text == "0A14C8" and result.route == "direct" and result.model == "blue"
            assert result.request_id == "abc" and result.model_version == 1 and result.color == "blue"
            assert len(result.characters) == 6


@pytest.mark.parametrize("color,model", [("red", "red"), ("01", "red"), ("02", "yellow"), ("03", "blue"),
                                         ("00", "black"), ("BLACK", "black")])
def test_colour_names_and_key4_reach_the_right_model(server, color, model):
    with CaptchaClient(f"127.0.0.1:{server.port}") as client:
        assert client.recognize(PNG, color).model == model


def test_raw_stub_with_key4_and_a_made_request_id(stub):
    reply = stub.Recognize(pb.RecognizeRequest(image=PNG, key4="03"))
    assert reply.model == "blue" and reply.color == pb.COLOR_BLUE and len(reply.request_id) == 32


def big_png():
    buf = io.BytesIO()
    import numpy as np
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (500, 500, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


@pytest.mark.parametrize("request_kwargs,message", [
    ({"image": b"", "color": pb.COLOR_RED}, "empty"),
    ({"image": b"garbage", "color": pb.COLOR_RED}, "could not be decoded"),
    ({"image": PNG[:50], "color": pb.COLOR_RED}, "could not be decoded"),
    ({"image": solid_png(size=(3000, 20)), "color": pb.COLOR_RED}, "accepted sizes"),
    ({"image": PNG}, "color is unspecified"),
    ({"image": PNG, "color": 9}, "not a known Color"),
    ({"image": PNG, "key4": "07"}, "not one of"),
    ({"image": PNG, "color": pb.COLOR_RED, "key4": "03"}, "disagree"),
    ({"image": PNG, "color": pb.COLOR_RED, "route": 7}, "not a known Route"),
])
def test_bad_requests_get_invalid_argument_with_a_message(stub, request_kwargs, message):
    with pytest.raises(grpc.RpcError) as err:
        stub.Recognize(pb.RecognizeRequest(**request_kwargs))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in err.value.details()


def test_picture_over_the_byte_limit_is_refused(fake_models):
    with running(fake_models, FakeModel, max_image_bytes=1000) as app:
        with CaptchaClient(f"127.0.0.1:{app.port}") as client:
            with pytest.raises(InvalidArgument, match="above the limit of 1000"):
                client.recognize(big_png(), "red")


def test_sdk_raises_its_own_error_classes(server):
    with CaptchaClient(f"127.0.0.1:{server.port}") as client:
        with pytest.raises(InvalidArgument):
            client.recognize(b"nope", "red")
    with pytest.raises(ClientClosed):
        client.recognize(PNG, "red")
    with pytest.raises(ValueError):
        CaptchaClient("127.0.0.1:1").recognize(PNG, "green")


def test_no_model_is_unavailable_and_health_is_not_serving(tmp_path):
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    with running(tmp_path, FakeModel) as app:
        channel = grpc.insecure_channel(f"127.0.0.1:{app.port}")
        health = health_pb2_grpc.HealthStub(channel)
        assert health.Check(health_pb2.HealthCheckRequest()).status == health_pb2.HealthCheckResponse.NOT_SERVING
        with CaptchaClient(f"127.0.0.1:{app.port}", retries=1, backoff=0.01) as client:
            with pytest.raises(Unavailable, match="none is loaded"):
                client.recognize(PNG, "red")
        write_fake(tmp_path, "red", 1)  # a model appears: the server picks it up and becomes ready
        deadline = time.time() + 10
        while health.Check(health_pb2.HealthCheckRequest()).status != health_pb2.HealthCheckResponse.SERVING:
            assert time.time() < deadline
            time.sleep(0.1)
        channel.close()


def test_overload_is_resource_exhausted(fake_models):
    with running(fake_models, FakeModel, max_queue=0) as app:
        with CaptchaClient(f"127.0.0.1:{app.port}") as client:
            with pytest.raises(Overloaded):
                client.recognize(PNG, "red")


def test_removed_colour_moves_to_the_transform_route_and_says_so(server, fake_models):
    shutil.rmtree(fake_models / "blue")
    deadline = time.time() + 10
    with CaptchaClient(f"127.0.0.1:{server.port}") as client:
        while (result := client.recognize(PNG, "blue")).route != "color_transform":
            assert time.time() < deadline
            time.sleep(0.1)
        assert result.model == "red" and result.text == "C8140A"  # blue and red swapped


def test_new_version_is_picked_up_while_serving(server, fake_models):
    with CaptchaClient(f"127.0.0.1:{server.port}") as client:
        assert client.recognize(PNG, "red").model_version == 1
        write_fake(fake_models, "red", 2)
        deadline = time.time() + 10
        while client.recognize(PNG, "red").model_version != 2:
            assert time.time() < deadline
            time.sleep(0.05)
        names = {m["name"]: m["version"] for m in client.list_models() if m["loaded"]}
        assert names == {"red": 2, "yellow": 1, "blue": 1, "black": 1}


def test_stream_answers_in_request_order(server):
    images = [solid_png((i, 2 * i, 3 * i)) for i in range(50)]
    with CaptchaClient(f"127.0.0.1:{server.port}") as client:
        results = list(client.recognize_many((img, "red") for img in images))
    assert [r.text for r in results] == ["%02X%02X%02X" % (i, 2 * i, 3 * i) for i in range(50)]
    assert [r.request_id for r in results] == [str(i) for i in range(50)]


def test_stream_stops_at_a_bad_picture_after_answering_the_ones_before(stub):
    requests = [pb.RecognizeRequest(image=PNG, color=pb.COLOR_RED, request_id=f"r{i}") for i in range(3)]
    requests.insert(2, pb.RecognizeRequest(image=b"bad", color=pb.COLOR_RED, request_id="the-bad-one"))
    got = []
    with pytest.raises(grpc.RpcError) as err:
        for reply in stub.RecognizeStream(iter(requests)):
            got.append(reply.request_id)
    assert got == ["r0", "r1"]
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "the-bad-one" in err.value.details()


def test_stream_answers_each_picture_before_the_next_is_sent(stub):
    # a caller in lock step (send one, wait for its answer, send the next) must not hang
    import queue as queue_module
    outbox = queue_module.Queue()

    def requests():
        while (item := outbox.get()) is not None:
            yield item

    replies = stub.RecognizeStream(requests(), timeout=10)
    for i in range(3):
        outbox.put(pb.RecognizeRequest(image=solid_png((i, 0, 0)), color=pb.COLOR_RED, request_id=f"p{i}"))
        reply = next(replies)
        assert (reply.request_id, reply.text) == (f"p{i}", "%02X0000" % i)
    outbox.put(None)
    assert list(replies) == []


def test_a_callers_deadline_is_kept_and_expired_pictures_are_not_read(tmp_path):
    from captcha_core.colors import Color
    write_fake(tmp_path, "red", 1, delay=1.0)
    with running(tmp_path, FakeModel) as app:
        channel = grpc.insecure_channel(f"127.0.0.1:{app.port}")
        stub = pb_grpc.CaptchaServiceStub(channel)
        busy = stub.Recognize.future(pb.RecognizeRequest(image=PNG, color=pb.COLOR_RED), timeout=10)
        time.sleep(0.2)  # the model is now busy with that picture for a second
        late = [stub.Recognize.future(pb.RecognizeRequest(image=PNG, color=pb.COLOR_RED, request_id=f"l{i}"),
                                      timeout=0.2) for i in range(5)]
        for call in late:
            with pytest.raises(grpc.RpcError) as err:
                call.result()
            assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert busy.result().text
        time.sleep(0.3)  # the batcher has had its chance at the five queued pictures
        assert app.repository.get(Color.RED).model.batches == [1]  # only the busy one was read
        channel.close()


def test_a_cancelled_stream_frees_the_pictures_it_had_queued(tmp_path):
    from captcha_core.colors import Color
    write_fake(tmp_path, "red", 1, delay=0.05)
    with running(tmp_path, FakeModel, max_batch=2) as app:
        channel = grpc.insecure_channel(f"127.0.0.1:{app.port}")
        stub = pb_grpc.CaptchaServiceStub(channel)
        requests = [pb.RecognizeRequest(image=solid_png((i, 0, 0)), color=pb.COLOR_RED) for i in range(60)]
        replies = stub.RecognizeStream(iter(requests), timeout=30)
        next(replies)
        replies.cancel()
        model = app.repository.get(Color.RED).model
        read_at_cancel = sum(model.batches)
        time.sleep(0.6)  # long enough for the model to read a dozen more batches
        assert sum(model.batches) <= read_at_cancel + 2 * 2  # at most the batches already begun
        assert sum(model.batches) < 60
        channel.close()


def test_bytes_that_are_not_a_request_message_get_invalid_argument(server, caplog):
    channel = grpc.insecure_channel(f"127.0.0.1:{server.port}")
    raw = lambda b: b  # noqa: E731 - send bytes as they are
    bad_utf8 = bytes([0x1A, 2, 0xC3, 0x28])  # field 3 (request_id, a string) holding invalid UTF-8
    unary = channel.unary_unary("/captcha.v1.CaptchaService/Recognize", request_serializer=raw,
                                response_deserializer=pb.RecognizeResponse.FromString)
    truncated = bytes([0x0A, 100]) + b"ab"  # field 1 (image) says 100 bytes follow; 2 do
    for junk in (truncated, bad_utf8):
        with pytest.raises(grpc.RpcError) as err:
            unary(junk, timeout=5)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "not a valid protobuf message" in err.value.details()
    stream = channel.stream_stream("/captcha.v1.CaptchaService/RecognizeStream", request_serializer=raw,
                                   response_deserializer=pb.RecognizeResponse.FromString)
    good = pb.RecognizeRequest(image=PNG, color=pb.COLOR_RED, request_id="fine").SerializeToString()
    got = []
    with pytest.raises(grpc.RpcError) as err:
        for reply in stream(iter([good, good, bad_utf8, good]), timeout=5):
            got.append(reply.request_id)
    assert got == ["fine", "fine"]
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and err.value.details().startswith("request 2 ")
    assert "Traceback" not in caplog.text and "Exception deserializing" not in caplog.text
    channel.close()


def test_async_client(server):
    import asyncio

    async def go():
        async with AsyncCaptchaClient(f"127.0.0.1:{server.port}") as client:
            results = await asyncio.gather(*[client.recognize(PNG, c) for c in ("red", "blue", "03")])
            return [r.model for r in results], await client.list_models()

    models, listed = asyncio.run(go())
    assert models == ["red", "blue", "blue"] and [m["name"] for m in listed] == ["red", "yellow", "blue", "black"]
    with CaptchaClient(f"127.0.0.1:{server.port}") as sync_client:
        assert listed == sync_client.list_models()  # the twins answer alike


def test_async_client_streams_and_maps_errors(server):
    import asyncio

    async def go():
        async with AsyncCaptchaClient(f"127.0.0.1:{server.port}") as client:
            texts = [r.text async for r in client.recognize_many([(solid_png((i, 0, 0)), "red") for i in range(5)])]
        async with AsyncCaptchaClient("127.0.0.1:1", retries=0, timeout=2) as nowhere:
            with pytest.raises(Unavailable):
                await nowhere.list_models()
        return texts

    assert asyncio.run(go()) == ["%02X0000" % i for i in range(5)]


def test_stream_item_that_cannot_be_sent_is_named_after_the_answers_before_it(server):
    items = [(PNG, "red"), (PNG, "blue"), (PNG, "purple"), (PNG, "red")]
    got = []
    with CaptchaClient(f"127.0.0.1:{server.port}") as client:
        with pytest.raises(ValueError, match="item 2: unknown colour 'purple'"):
            for result in client.recognize_many(items):
                got.append(result.model)
    assert got == ["red", "blue"]


def test_a_message_over_the_transport_limit_is_not_called_an_overload(fake_models):
    from client import MessageTooLarge
    with running(fake_models, FakeModel) as app:
        with CaptchaClient(f"127.0.0.1:{app.port}") as client:
            with pytest.raises(MessageTooLarge, match="larger than max") as err:
                client.recognize(b"\0" * (9 * 1024 * 1024), "red")
    assert isinstance(err.value, InvalidArgument) and not isinstance(err.value, Overloaded)


def test_command_line_reads_every_picture_and_names_the_ones_refused(server, tmp_path, capsys):
    from client.__main__ import main
    good, bad = tmp_path / "good.png", tmp_path / "bad.png"
    good.write_bytes(PNG)
    bad.write_bytes(b"not a picture")
    address = f"127.0.0.1:{server.port}"
    assert main(["recognize", str(bad), str(good), "--color", "01", "--server", address]) == 1
    out, err = capsys.readouterr()
    assert "0A14C8" in out and f"{bad}: INVALID_ARGUMENT" in err and str(good) not in err
    assert main(["recognize", str(good), "--color", "red", "--server", address]) == 0
    assert capsys.readouterr().out.rstrip().endswith("\tsubmit")
    assert main(["recognize", str(good), "--color", "red", "--server", address, "--min-confidence", "1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["advice"] == "refresh"
    assert main(["recognize", str(good), "--color", "red", "--server", address,
                 "--tls-ca", str(tmp_path / "missing.pem")]) == 1
    assert "missing.pem" in capsys.readouterr().err
    with pytest.raises(SystemExit) as usage:
        main(["recognize", str(good), "--color", "red", "--timeout", "0"])
    assert usage.value.code == 2


def test_health_and_reflection_including_method_lookups(server):
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
    channel = grpc.insecure_channel(f"127.0.0.1:{server.port}")
    health = health_pb2_grpc.HealthStub(channel)
    assert health.Check(health_pb2.HealthCheckRequest(service="captcha.v1.CaptchaService")).status == \
        health_pb2.HealthCheckResponse.SERVING
    refl = reflection_pb2_grpc.ServerReflectionStub(channel)
    asks = [reflection_pb2.ServerReflectionRequest(list_services=""),
            reflection_pb2.ServerReflectionRequest(file_containing_symbol="captcha.v1.CaptchaService.Recognize"),
            reflection_pb2.ServerReflectionRequest(file_containing_symbol="captcha.v1.CaptchaService.Nope")]
    listed, method, missing = list(refl.ServerReflectionInfo(iter(asks)))
    assert "captcha.v1.CaptchaService" in [s.name for s in listed.list_services_response.service]
    assert method.HasField("file_descriptor_response")
    assert missing.HasField("error_response")
    channel.close()


def post(port, body, method="POST", headers=None):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}/captcha/v1", data=data if method == "POST" else None,
                                 method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        payload = err.read()
        return err.code, json.loads(payload) if payload else None


def test_http_api_of_the_seed_article(server):
    status, body = post(server.http_port, {"image": base64.b64encode(PNG).decode(), "param_key": "blue"})
    assert status == 200 and body["success"] is True and body["code"] == 0 and body["message"] == "0A14C8"
    assert body["uid"]
    status, body = post(server.http_port, b"{not json")
    assert status == 400 and body["success"] is False
    status, body = post(server.http_port, {"image": "!!!", "param_key": "red"})
    assert status == 400
    status, body = post(server.http_port, {"image": base64.b64encode(b"xx").decode(), "param_key": "red"})
    assert status == 400 and "could not be decoded" in body["message"]
    status, body = post(server.http_port, {"image": base64.b64encode(PNG).decode()})
    assert status == 400 and "param_key" in body["message"]  # no silent default colour
    status, _ = post(server.http_port, b"", method="GET")
    assert status == 405
    assert server.http.server_address[0] == "127.0.0.1"  # the --host of the gRPC port, not every address
    status, body = post(server.http_port, {"image": base64.b64encode(b"\0" * 300_000).decode(), "param_key": "red"})
    assert status == 413 and "above the limit" in body["message"]
    status, body = post(server.http_port, {"image": base64.b64encode(PNG).decode(), "param_key": "red",
                                           "timeout_ms": 0})
    assert status == 400 and "timeout_ms" in body["message"]
    reg = server.metrics.registry
    assert reg.get_sample_value("captcha_errors_total", {"code": "INVALID_ARGUMENT", "protocol": "http"}) == 6


def test_http_api_answers_504_when_the_deadline_passes(tmp_path):
    write_fake(tmp_path, "red", 1, delay=0.4)
    with running(tmp_path, FakeModel, http_port=0) as app:
        body = {"image": base64.b64encode(PNG).decode(), "param_key": "red"}
        assert post(app.http_port, {**body, "timeout_ms": 50})[0] == 504
        assert post(app.http_port, body)[0] == 200  # without a deadline the slow model answers
        reg = app.metrics.registry
        assert reg.get_sample_value("captcha_errors_total", {"code": "DEADLINE_EXCEEDED", "protocol": "http"}) == 1


def test_health_follows_the_servables_per_colour_too(tmp_path):
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    write_fake(tmp_path, "red", 1)
    serving, not_serving = health_pb2.HealthCheckResponse.SERVING, health_pb2.HealthCheckResponse.NOT_SERVING
    with running(tmp_path, FakeModel) as app:
        channel = grpc.insecure_channel(f"127.0.0.1:{app.port}")
        stub = health_pb2_grpc.HealthStub(channel)

        def status(service=""):
            return stub.Check(health_pb2.HealthCheckRequest(service=service)).status

        def wait_for(service, wanted):
            deadline = time.time() + 10
            while status(service) != wanted:
                assert time.time() < deadline, (service, wanted)
                time.sleep(0.05)

        assert status() == serving and status("captcha.v1.CaptchaService") == serving
        assert status("captcha.v1.CaptchaService/red") == serving
        assert status("captcha.v1.CaptchaService/blue") == not_serving  # answered through red, not by its own
        shutil.rmtree(tmp_path / "red")
        wait_for("", not_serving)
        assert status("captcha.v1.CaptchaService/red") == not_serving
        write_fake(tmp_path, "blue", 3)
        wait_for("", serving)
        assert status("captcha.v1.CaptchaService/blue") == serving
        channel.close()


def test_list_models_reports_every_colour_and_its_route(tmp_path):
    write_fake(tmp_path, "red", 4)
    with running(tmp_path, FakeModel, version_policy="red=4") as app:
        with CaptchaClient(f"127.0.0.1:{app.port}") as client:
            rows = {m["name"]: m for m in client.list_models()}
    assert list(rows) == ["red", "yellow", "blue", "black"]
    assert rows["red"]["loaded"] and rows["red"]["route"] == "direct" and rows["red"]["version"] == 4
    assert rows["red"]["version_policy"] == "pinned 4"
    assert not rows["blue"]["loaded"] and rows["blue"]["version"] == 0
    assert rows["blue"]["route"] == "color_transform" and rows["blue"]["served_by"] == "red"
    assert rows["blue"]["served_by_version"] == 4


def test_bearer_token_is_checked_on_every_call(fake_models):
    with running(fake_models, FakeModel, auth_token="s3cret") as app:
        with CaptchaClient(f"127.0.0.1:{app.port}") as client:
            with pytest.raises(Unauthenticated):
                client.recognize(PNG, "red")
            with pytest.raises(Unauthenticated):
                list(client.recognize_many([(PNG, "red")]))
        with CaptchaClient(f"127.0.0.1:{app.port}", token="wrong") as client:
            with pytest.raises(Unauthenticated):
                client.list_models()
        with CaptchaClient(f"127.0.0.1:{app.port}", token="s3cret") as client:
            assert client.recognize(PNG, "red").model == "red"


def test_http_api_on_the_default_host_answers_ipv4_callers():
    from server import http_api
    from server.config import ServerConfig
    from server.plane import Answer
    from server.routing import Route

    class Plane:  # answers "AB" to every picture
        def recognize(self, image, color, **_):
            return Answer("AB", 0.99, (0.99, 0.99), color, Route.DIRECT, "red", 1, 1, 1, "id", 0.1,
                          path_confidence=0.99, min_confidence=0.9)

        def count_error(self, code_name, protocol):
            raise AssertionError(f"refused: {code_name}")

    httpd = http_api.start(ServerConfig().host, 0, Plane())
    try:
        status, body = post(httpd.server_address[1], {"image": base64.b64encode(PNG).decode(), "param_key": "red"})
        assert status == 200 and body["message"] == "AB"  # reached through 127.0.0.1
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_bearer_token_guards_the_http_api_but_not_health_checks(fake_models):
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    with running(fake_models, FakeModel, auth_token="s3cret", http_port=0) as app:
        body = {"image": base64.b64encode(PNG).decode(), "param_key": "red"}
        assert post(app.http_port, body)[0] == 401
        assert post(app.http_port, body, headers={"Authorization": "Bearer wrong"})[0] == 401
        status, reply = post(app.http_port, body, headers={"Authorization": "Bearer s3cret"})
        assert status == 200 and reply["message"] == "0A14C8"
        channel = grpc.insecure_channel(f"127.0.0.1:{app.port}")  # a probe sends no token
        health = health_pb2_grpc.HealthStub(channel)
        assert health.Check(health_pb2.HealthCheckRequest()).status == health_pb2.HealthCheckResponse.SERVING
        channel.close()


def test_metrics_count_requests_routes_and_errors(server):
    with CaptchaClient(f"127.0.0.1:{server.port}") as client:
        client.recognize(PNG, "red")
        with pytest.raises(InvalidArgument):
            client.recognize(b"", "red")
    reg = server.metrics.registry
    assert reg.get_sample_value("captcha_requests_total", {"model": "red", "route": "direct"}) == 1
    assert reg.get_sample_value("captcha_errors_total", {"code": "INVALID_ARGUMENT", "protocol": "grpc"}) == 1
    assert reg.get_sample_value("captcha_batch_size_count", {"model": "red"}) >= 1


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_tls_with_client_certificates(fake_models, tmp_path):
    import subprocess

    from grpc_health.v1 import health_pb2, health_pb2_grpc

    def make(name, cn, ca=None):
        key, crt = tmp_path / f"{name}.key", tmp_path / f"{name}.crt"
        if ca is None:
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
                            f"/CN={cn}", "-keyout", str(key), "-out", str(crt)], check=True, capture_output=True)
        else:
            csr = tmp_path / f"{name}.csr"
            ext = tmp_path / f"{name}.ext"
            ext.write_text(f"subjectAltName=DNS:{cn},IP:127.0.0.1\n")
            subprocess.run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={cn}", "-keyout",
                            str(key), "-out", str(csr)], check=True, capture_output=True)
            subprocess.run(["openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca[1]), "-CAkey", str(ca[0]),
                            "-CAcreateserial", "-days", "2", "-extfile", str(ext), "-out", str(crt)],
                           check=True, capture_output=True)
        return key, crt

    ca = make("ca", "test-ca")
    server_key, server_crt = make("server", "localhost", ca)
    client_key, client_crt = make("client", "client", ca)
    with running(fake_models, FakeModel, tls_cert=str(server_crt), tls_key=str(server_key),
                 tls_client_ca=str(ca[1]), health_port=0) as app:
        target = f"localhost:{app.port}"
        with grpc.insecure_channel(f"127.0.0.1:{app.health_port}") as probe:  # what a Kubernetes probe sees
            health = health_pb2_grpc.HealthStub(probe)
            assert health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5).status == \
                health_pb2.HealthCheckResponse.SERVING
            with pytest.raises(grpc.RpcError) as only_health:  # the plaintext port serves nothing else
                pb_grpc.CaptchaServiceStub(probe).ListModels(pb.ListModelsRequest(), timeout=5)
            assert only_health.value.code() == grpc.StatusCode.UNIMPLEMENTED
        with CaptchaClient(target, root_certificates=ca[1].read_bytes(), private_key=client_key.read_bytes(),
                           certificate_chain=client_crt.read_bytes()) as client:
            assert client.recognize(PNG, "red").model == "red"
        with CaptchaClient(target, root_certificates=ca[1].read_bytes(), retries=0, timeout=3) as client:
            with pytest.raises(Unavailable):  # no client certificate: the handshake fails
                client.recognize(PNG, "red")
        with CaptchaClient(target, retries=0, timeout=3) as client:  # plaintext against TLS
            with pytest.raises(Unavailable):
                client.recognize(PNG, "red")


def test_logs_hold_request_ids_cut_short_and_never_pictures(server, caplog):
    import logging
    caplog.set_level(logging.DEBUG, logger="captcha")
    long_id = "L" * 5000
    with CaptchaClient(f"127.0.0.1:{server.port}") as client:
        client.recognize(PNG, "red", request_id=long_id)
        with pytest.raises(InvalidArgument):
            client.recognize(b"\x89PNG-secret-bytes", "red", request_id=long_id)
    records = [r for r in caplog.records if r.name in ("captcha.service", "captcha.plane")]
    assert len(records) >= 2
    for r in records:
        assert len(getattr(r, "request_id", "")) <= 64
        assert "secret-bytes" not in r.getMessage() and "L" * 65 not in r.getMessage()


def test_unsure_answer_gets_a_second_look_the_reply_and_the_metrics_say_so(tmp_path):
    import numpy as np
    write_fake(tmp_path, "red", 1, confidence=0.6)
    write_fake(tmp_path, "blue", 1, confidence=0.2)
    img = np.tile(np.array([10, 20, 200], np.uint8), (40, 100, 1))  # the fakes' input size: each moved view shows them another corner pixel
    img[0, 1], img[1, 0], img[1, 1] = (50, 60, 70), (80, 90, 100), (110, 120, 130)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    with running(tmp_path, FakeModel) as app:  # the defaults: threshold 0.9, nine views
        with grpc.insecure_channel(f"127.0.0.1:{app.port}") as channel:
            stub = pb_grpc.CaptchaServiceStub(channel)
            reply = stub.Recognize(pb.RecognizeRequest(image=buf.getvalue(), color=pb.COLOR_BLUE))
            assert (reply.reads, reply.agreeing_reads, reply.route) == (18, 4, pb.ROUTE_COLOR_TRANSFORM)
            forced = stub.Recognize(pb.RecognizeRequest(image=buf.getvalue(), color=pb.COLOR_BLUE, route=pb.ROUTE_DIRECT))
            assert (forced.reads, forced.agreeing_reads) == (1, 1)
            assert stub.ListModels(pb.ListModelsRequest()).second_look_views == 9
        with CaptchaClient(f"127.0.0.1:{app.port}") as client:
            result = client.recognize(buf.getvalue(), "blue")
            assert (result.reads, result.agreeing_reads) == (18, 4)
        assert app.metrics.registry.get_sample_value("captcha_second_looks_total", {"color": "blue"}) == 2


def test_advice_and_min_confidence_on_every_protocol(tmp_path):
    from captcha_core.calibration import Calibration, Calibrator
    calibration = Calibration(Calibrator((-1.0, 1.0, 0.0, 0.0, 0.0, 0.0)), 0.6)
    write_fake(tmp_path, "red", 1, confidence=0.9, calibration=calibration)
    expected = calibration.served(0.9)  # ~0.77
    with running(tmp_path, FakeModel, http_port=0) as app:
        channel = grpc.insecure_channel(f"127.0.0.1:{app.port}")
        stub = pb_grpc.CaptchaServiceStub(channel)
        reply = stub.Recognize(pb.RecognizeRequest(image=PNG, color=pb.COLOR_RED))
        assert reply.confidence == pytest.approx(expected, abs=1e-6) and reply.path_confidence == pytest.approx(0.9)
        assert reply.advice == pb.ADVICE_SUBMIT and reply.min_confidence == pytest.approx(0.6) and reply.calibrated
        reply = stub.Recognize(pb.RecognizeRequest(image=PNG, color=pb.COLOR_RED, min_confidence=0.8))
        assert reply.advice == pb.ADVICE_REFRESH and reply.text and reply.min_confidence == pytest.approx(0.8)
        reply = stub.Recognize(pb.RecognizeRequest(image=PNG, color=pb.COLOR_RED, min_confidence=0.0))
        assert reply.advice == pb.ADVICE_SUBMIT and reply.min_confidence == 0.0  # an explicit 0 is not "unset"
        for bad in (-0.5, 1.5, float("nan")):
            with pytest.raises(grpc.RpcError) as err:
                stub.Recognize(pb.RecognizeRequest(image=PNG, color=pb.COLOR_RED, min_confidence=bad))
            assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "min_confidence" in err.value.details()
        channel.close()
        with CaptchaClient(f"127.0.0.1:{app.port}", min_confidence=0.8) as client:
            assert not client.recognize(PNG, "red").submit  # the client-wide threshold
            result = client.recognize(PNG, "red", min_confidence=0.5)
            assert result.submit and result.advice == "submit" and result.path_confidence == pytest.approx(0.9)
            assert [r.advice for r in client.recognize_many([(PNG, "red")] * 2)] == ["refresh", "refresh"]
            (row,) = [m for m in client.list_models() if m["name"] == "red"]
            assert row["calibrated"] and row["default_min_confidence"] == pytest.approx(0.6)
            with pytest.raises(ValueError):
                client.recognize(PNG, "red", min_confidence=2)
        image = base64.b64encode(PNG).decode()
        status, body = post(app.http_port, {"image": image, "param_key": "red"})
        assert status == 200 and body["advice"] == "submit" and body["confidence"] == pytest.approx(expected, abs=1e-5)
        assert body["path_confidence"] == pytest.approx(0.9) and body["min_confidence"] == pytest.approx(0.6)
        assert body["calibrated"] is True
        status, body = post(app.http_port, {"image": image, "param_key": "red", "min_confidence": 0.8})
        assert status == 200 and body["advice"] == "refresh" and body["message"]
        for bad in (1.5, -1, "0.5", True):
            status, body = post(app.http_port, {"image": image, "param_key": "red", "min_confidence": bad})
            assert status == 400 and "min_confidence" in body["message"], bad


def test_a_reply_without_advice_gets_the_one_its_confidence_earns():
    """A server older than the advice field sends none: the SDK does not call every answer "submit"."""
    from client.result import Result
    assert Result.from_pb(pb.RecognizeResponse(text="AB", confidence=0.95)).advice == "submit"
    assert Result.from_pb(pb.RecognizeResponse(text="AB", confidence=0.5)).advice == "refresh"
    assert Result.from_pb(pb.RecognizeResponse(text="AB", confidence=0.95, min_confidence=0.97)).advice == "refresh"
    assert Result.from_pb(pb.RecognizeResponse(text="AB", confidence=0.5, advice=pb.ADVICE_SUBMIT)).advice == "submit"


def test_the_client_retries_a_reading_cancelled_by_a_stopping_replica_but_not_a_report():
    """A replica shutting down cancels the calls it had received but not started (gRPC answers
    CANCELLED, not UNAVAILABLE): a reading is repeated, a report (it may have been stored) is not."""
    from client import CaptchaClient
    from client.errors import CaptchaError, ClientClosed

    class Cancelled(grpc.RpcError):
        def code(self):
            return grpc.StatusCode.CANCELLED

        def details(self):
            return "CANCELLED"

    calls = []

    def once_cancelled(request, timeout, metadata):
        calls.append(request)
        if len(calls) == 1:
            raise Cancelled()
        return "read"

    with CaptchaClient("127.0.0.1:1", retries=2, backoff=0.001) as client:
        assert client._call(once_cancelled, "picture", 1) == "read" and len(calls) == 2
        calls.clear()
        with pytest.raises(CaptchaError, match="CANCELLED"):
            client._call(once_cancelled, "verdict", 1, reads_only=False)
        assert calls == ["verdict"]

        def closed_meanwhile(request, timeout, metadata):  # close() in another thread cancels the call
            calls.append(request)
            client.close()
            raise Cancelled()

        calls.clear()
        with pytest.raises(ClientClosed):
            client._call(closed_meanwhile, "picture", 1)
        assert calls == ["picture"]


@pytest.mark.parametrize("setting", ["port", "metrics_port", "health_port", "http_port"])
def test_a_port_in_use_is_a_startup_error_naming_the_setting(fake_models, setting):
    import socket

    from server.app import StartupError
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        loaded = []
        with pytest.raises(StartupError, match=f"--{setting.replace('_', '-')} {port}"):
            with running(fake_models, loader=loaded.append, **{setting: port}):
                pass
    assert not loaded  # every port is bound before the models load


def test_a_certificate_that_does_not_parse_is_a_startup_error_naming_it(fake_models, tmp_path):
    from server.app import StartupError
    (tmp_path / "cert.pem").write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    (tmp_path / "key.pem").write_text("not a key\n")
    with pytest.raises(StartupError, match="--tls-cert .*cert.pem and --tls-key .*key.pem"):
        with running(fake_models, tls_cert=str(tmp_path / "cert.pem"), tls_key=str(tmp_path / "key.pem")):
            pass


def test_a_server_that_cannot_start_says_why_in_one_line_and_exits_2(tmp_path):
    import subprocess
    import sys

    from tests.server_harness import ROOT
    out = subprocess.run([sys.executable, "-m", "server", "--port", "0", "--model-dir", str(tmp_path),
                          "--tls-cert", str(tmp_path / "missing.pem"), "--tls-key", str(tmp_path / "missing.key")],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert "--tls-key" in out.stderr and "No such file" in out.stderr and "Traceback" not in out.stderr
