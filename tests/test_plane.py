"""The data plane and the version manager with fake models: no grpc, no TensorFlow."""
import io
import shutil
import time

import numpy as np
import pytest
from PIL import Image

from captcha_core.colors import Color
from captcha_core.preprocess import ImageLimits
from server.errors import DeadlineExceeded, InvalidRequest, NoModel, PictureTooLarge
from server.manager import ModelManager
from server.plane import DataPlane
from server.routing import Route
from server.versions import VersionPolicy
from tests.fakes import FakeModel, solid_png, write_fake

PNG = solid_png((10, 20, 200))


def plane_over(root, **kw):
    manager = ModelManager(root, FakeModel, version_policy=kw.pop("version_policy", VersionPolicy()))
    manager.refresh()
    return DataPlane.over(manager, **kw)


def errors(plane, code, protocol="test"):
    return plane.metrics.registry.get_sample_value("captcha_errors_total", {"code": code, "protocol": protocol}) or 0


def test_recognize_answers_in_plain_types(fake_models):
    plane = plane_over(fake_models)
    answer = plane.recognize(PNG, "03", request_id="abc")  # key4 of blue
    assert answer.text == "0A14C8" and answer.color is Color.BLUE and answer.route is Route.DIRECT
    assert (answer.model, answer.version, answer.reads, answer.request_id) == ("blue", 1, 1, "abc")
    assert plane.recognize(PNG, Color.RED).request_id  # one is made when none is given
    by_name = plane.recognize(PNG, "yellow", Route.COLOR_TRANSFORM)
    assert by_name.route is Route.COLOR_TRANSFORM and by_name.model == "red"
    plane.manager.close()


@pytest.mark.parametrize("image, color, error", [
    (PNG, "purple", InvalidRequest),
    (b"", "red", InvalidRequest),
    (b"not a picture", "red", InvalidRequest),
    (b"\0" * 300_000, "red", PictureTooLarge),
])
def test_bad_input_is_a_domain_error_and_counted(fake_models, image, color, error):
    plane = plane_over(fake_models)
    with pytest.raises(error):
        plane.recognize(image, color, protocol="test")
    assert errors(plane, "INVALID_ARGUMENT") == 1
    plane.manager.close()


def test_a_passed_deadline_is_deadline_exceeded(tmp_path):
    write_fake(tmp_path, "red", 1, delay=0.3)
    plane = plane_over(tmp_path)
    plane.recognize(PNG, "red")  # the slow model answers without a deadline
    with pytest.raises(DeadlineExceeded):
        plane.recognize(PNG, "red", deadline=time.monotonic() + 0.05, protocol="test")
    assert errors(plane, "DEADLINE_EXCEEDED") == 1
    plane.manager.close()


def test_no_model_is_unavailable(tmp_path):
    plane = plane_over(tmp_path)
    with pytest.raises(NoModel):
        plane.recognize(PNG, "red")
    assert not plane.serving()
    assert [c.route for c in plane.colors()] == [None] * 4


def test_colors_lists_every_colour_with_its_route(tmp_path):
    write_fake(tmp_path, "red", 2)
    write_fake(tmp_path, "blue", 5)
    plane = plane_over(tmp_path)
    by_color = {c.color: c for c in plane.colors()}
    assert list(by_color) == list(Color)
    assert by_color[Color.BLUE].loaded and by_color[Color.BLUE].route is Route.DIRECT
    assert by_color[Color.BLUE].version == 5 and by_color[Color.BLUE].served_by == "blue"
    yellow = by_color[Color.YELLOW]
    assert not yellow.loaded and yellow.version == 0 and yellow.route is Route.COLOR_TRANSFORM
    assert (yellow.served_by, yellow.served_by_version, yellow.version_policy) == ("red", 2, "latest")
    plane.manager.close()


def test_the_decoded_picture_door_answers_as_the_bytes_door(fake_models):
    plane = plane_over(fake_models)
    picture = np.asarray(Image.open(io.BytesIO(PNG)).convert("RGB"))
    assert plane.recognize_picture(picture, "blue").text == plane.recognize(PNG, "blue").text
    plane.manager.close()


def test_limits_are_the_planes(fake_models):
    manager = ModelManager(fake_models, FakeModel)
    manager.refresh()
    plane = DataPlane.over(manager, limits=ImageLimits(max_bytes=100))
    with pytest.raises(PictureTooLarge, match="above the limit of 100"):
        plane.recognize(PNG, "red")
    manager.close()


# -- versions ------------------------------------------------------------------------------

def test_version_policy_parsing():
    assert VersionPolicy.parse("latest").pinned == {}
    assert VersionPolicy.parse("red=21, blue=latest").pinned == {Color.RED: 21}
    assert VersionPolicy.parse("01=3").pinned == {Color.RED: 3}
    for bad in ("red", "red=new", "purple=2"):
        with pytest.raises(ValueError):
            VersionPolicy.parse(bad)


def test_removing_the_newest_version_rolls_back_without_a_restart(tmp_path):
    for v in (1, 2, 3):
        write_fake(tmp_path, "red", v)
    manager = ModelManager(tmp_path, FakeModel)
    manager.refresh()
    assert manager.get(Color.RED).version == 3
    shutil.rmtree(tmp_path / "red" / "3")
    manager.refresh()
    assert manager.get(Color.RED).version == 2
    shutil.rmtree(tmp_path / "red" / "2")
    manager.refresh()
    assert manager.get(Color.RED).version == 1
    shutil.rmtree(tmp_path / "red")
    manager.refresh()
    assert manager.get(Color.RED) is None
    manager.close()


def test_a_pinned_version_serves_and_newer_ones_are_left_alone(tmp_path):
    for v in (1, 2, 3):
        write_fake(tmp_path, "red", v)
        write_fake(tmp_path, "blue", v)
    manager = ModelManager(tmp_path, FakeModel, version_policy=VersionPolicy.parse("red=2"))
    manager.refresh()
    assert manager.get(Color.RED).version == 2 and manager.get(Color.BLUE).version == 3
    write_fake(tmp_path, "red", 4)
    manager.refresh()
    assert manager.get(Color.RED).version == 2
    shutil.rmtree(tmp_path / "red" / "2")  # the pinned version gone: the colour is not served
    manager.refresh()
    assert manager.get(Color.RED) is None
    manager.close()


def test_a_version_that_failed_is_tried_again_when_its_contents_change(tmp_path):
    write_fake(tmp_path, "red", 1)
    write_fake(tmp_path, "red", 2, fail=True)
    calls = []

    def loader(folder):
        calls.append(folder.name)
        return FakeModel(folder)

    manager = ModelManager(tmp_path, loader)
    manager.refresh()
    assert manager.get(Color.RED).version == 1 and calls == ["2", "1"]  # the newest failed, the one before serves
    manager.refresh()
    assert calls == ["2", "1"]  # unchanged: not tried again
    time.sleep(0.01)
    write_fake(tmp_path, "red", 2)  # repaired
    manager.refresh()
    assert manager.get(Color.RED).version == 2 and calls == ["2", "1", "2"]
    manager.close()


def test_listeners_hear_every_change(tmp_path):
    manager = ModelManager(tmp_path, FakeModel)
    heard = []
    manager.on_change(lambda: heard.append([s.version for s in manager.loaded()]))
    manager.refresh()
    assert heard == []
    write_fake(tmp_path, "red", 1)
    manager.refresh()
    manager.refresh()
    shutil.rmtree(tmp_path / "red")
    manager.refresh()
    assert heard == [[1], []]
    manager.close()
