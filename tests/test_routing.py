"""Routing, batching and the model repository with fake models (no grpc, no TensorFlow)."""
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from captcha_core.colors import Color
from captcha_core.transforms import between, to_red
from server.batching import Batcher, BatchPolicy
from server.calls import Call, CallEnded
from server.errors import NoModel, Overloaded
from server.models import Reading
from server.manager import ModelManager
from server.routing import Route, Router
from tests.fakes import FakeModel, write_fake

PIXEL = (10, 20, 200)


def picture():
    return np.tile(np.array(PIXEL, np.uint8), (35, 90, 1))


def hex_of(img):
    return "%02X%02X%02X" % tuple(int(v) for v in img[0, 0])


def loaded(root, policy=BatchPolicy()):
    """A repository of the fake models under ``root``, loaded."""
    repo = ModelManager(root, FakeModel, policy)
    repo.refresh()
    return repo


def router_for(root, threshold=0.0):
    return Router(loaded(root), threshold)


def test_direct_route_uses_the_asked_colours_model(fake_models):
    answer = router_for(fake_models).read(picture(), Color.BLUE)
    assert answer.route is Route.DIRECT and answer.model == "blue" and answer.version == 1
    assert answer.reading.text == hex_of(picture())  # untransformed


def test_missing_model_falls_back_to_red_through_the_transform(tmp_path):
    write_fake(tmp_path, "red", 3)
    answer = router_for(tmp_path).read(picture(), Color.YELLOW)
    assert answer.route is Route.COLOR_TRANSFORM and answer.model == "red" and answer.version == 3
    assert answer.reading.text == hex_of(to_red(picture(), Color.YELLOW))


def test_without_red_the_transform_goes_toward_a_loaded_model(tmp_path):
    write_fake(tmp_path, "black", 1)
    answer = router_for(tmp_path).read(picture(), Color.RED)
    assert answer.route is Route.COLOR_TRANSFORM and answer.model == "black"
    assert answer.reading.text == hex_of(between(picture(), Color.RED, Color.BLACK))


def test_no_model_at_all_is_unavailable(tmp_path):
    with pytest.raises(NoModel):
        router_for(tmp_path).read(picture(), Color.RED)


def test_forced_direct_route_without_that_model_is_unavailable(tmp_path):
    write_fake(tmp_path, "red", 1)
    with pytest.raises(NoModel, match="no blue model"):
        router_for(tmp_path).read(picture(), Color.BLUE, Route.DIRECT)


def test_unsure_direct_answer_is_checked_by_the_transform_route_and_the_surer_wins(tmp_path):
    write_fake(tmp_path, "red", 1, confidence=0.9)
    write_fake(tmp_path, "blue", 1, confidence=0.2)
    router = router_for(tmp_path, threshold=0.5)
    assert router.read(picture(), Color.BLUE).route is Route.COLOR_TRANSFORM
    write_fake(tmp_path, "blue", 2, confidence=0.95)
    router.repository.refresh()
    assert router.read(picture(), Color.BLUE).route is Route.DIRECT  # sure enough: no second read
    assert router_for(tmp_path, threshold=0.0).read(picture(), Color.BLUE).route is Route.DIRECT


def test_unsure_direct_answer_is_kept_when_the_transform_route_is_less_sure(tmp_path):
    write_fake(tmp_path, "red", 1, confidence=0.1)
    write_fake(tmp_path, "blue", 1, confidence=0.3)
    assert router_for(tmp_path, threshold=0.5).read(picture(), Color.BLUE).route is Route.DIRECT


def test_batcher_gathers_concurrent_requests():
    sizes, gate = [], threading.Event()

    def read(images):
        gate.wait(5)
        sizes.append(len(images))
        return [Reading(str(int(img[0, 0, 0])), 1.0, ()) for img in images]

    batcher = Batcher(read, BatchPolicy(max_batch=8, max_wait=0.05))
    futures = [batcher.submit(np.full((2, 2, 3), i, np.uint8)) for i in range(20)]
    gate.set()
    assert [f.result(5).text for f in futures] == [str(i) for i in range(20)]  # each its own answer
    assert max(sizes) == 8 and sum(sizes) == 20 and len(sizes) <= 4
    batcher.close()


def test_pictures_submitted_together_share_one_batch_even_without_waiting():
    sizes = []

    def read(images):
        sizes.append(len(images))
        return [Reading(str(int(img[0, 0, 0])), 1.0, ()) for img in images]

    batcher = Batcher(read, BatchPolicy(max_batch=8, max_wait=0.0))
    futures = batcher.submit_many([np.full((2, 2, 3), i, np.uint8) for i in range(9)])
    assert [f.result(5).text for f in futures] == [str(i) for i in range(9)]
    assert sizes == [8, 1]  # at most max_batch a batch, nothing read alone before its company
    gate = threading.Event()
    slow = Batcher(lambda x: (gate.wait(5), [Reading("", 1.0, ())] * len(x))[1], BatchPolicy(1, 0.0, max_queue=3))
    with pytest.raises(Overloaded):  # more than the queue holds: none of them is queued
        slow.submit_many([np.zeros((1, 1, 3), np.uint8)] * 4)
    held = slow.submit_many([np.zeros((1, 1, 3), np.uint8)] * 3)  # so three still fit
    gate.set()
    assert all(f.result(5).text == "" for f in held)
    batcher.close()
    slow.close()


def test_batch_policy_defaults_are_the_servers():
    from server.config import ServerConfig
    assert BatchPolicy() == ServerConfig().batch_policy()  # a manager built without a policy batches as the server does


def test_lone_request_is_not_held_past_the_wait_bound():
    batcher = Batcher(lambda x: [Reading("", 1.0, ())] * len(x), BatchPolicy(max_batch=32, max_wait=0.01))
    start = time.perf_counter()
    batcher.submit(np.zeros((2, 2, 3), np.uint8)).result(5)
    assert time.perf_counter() - start < 1.0  # generous: checks it does not wait for a full batch
    batcher.close()


def test_full_queue_is_overload():
    gate = threading.Event()
    batcher = Batcher(lambda x: (gate.wait(5), [Reading("", 1.0, ())] * len(x))[1], BatchPolicy(1, 0.0, max_queue=2))
    first = batcher.submit(np.zeros((1, 1, 3), np.uint8))
    time.sleep(0.05)  # the first is being read; two more may wait
    batcher.submit(np.zeros((1, 1, 3), np.uint8))
    batcher.submit(np.zeros((1, 1, 3), np.uint8))
    with pytest.raises(Overloaded):
        batcher.submit(np.zeros((1, 1, 3), np.uint8))
    gate.set()
    first.result(5)
    batcher.close()


def test_model_failure_reaches_every_caller_of_the_batch():
    def read(images):
        raise RuntimeError("boom")
    batcher = Batcher(read, BatchPolicy(4, 0.01))
    futures = [batcher.submit(np.zeros((1, 1, 3), np.uint8)) for _ in range(3)]
    for f in futures:
        with pytest.raises(RuntimeError):
            f.result(5)
    batcher.close()


def test_repository_hot_swaps_new_versions_and_survives_corrupt_ones(tmp_path):
    write_fake(tmp_path, "red", 1)
    repo = loaded(tmp_path)
    assert repo.get(Color.RED).version == 1 and repo.get(Color.BLUE) is None
    write_fake(tmp_path, "red", 2)
    write_fake(tmp_path, "blue", 1)
    repo.refresh()
    assert repo.get(Color.RED).version == 2 and repo.get(Color.BLUE).version == 1
    write_fake(tmp_path, "red", 3, fail=True)
    repo.refresh()
    assert repo.get(Color.RED).version == 2  # the corrupt version is skipped, the old one serves
    (tmp_path / "red" / "4").mkdir()  # an empty folder is corrupt too
    repo.refresh()
    assert repo.get(Color.RED).version == 2
    import shutil
    shutil.rmtree(tmp_path / "blue")
    repo.refresh()
    assert repo.get(Color.BLUE) is None
    repo.close()


def test_requests_during_a_swap_all_get_answers(tmp_path):
    write_fake(tmp_path, "red", 1)
    repo = loaded(tmp_path, BatchPolicy(8, 0.001))
    router = Router(repo)
    stop = threading.Event()

    def swapper():
        v = 2
        while not stop.is_set():
            write_fake(tmp_path, "red", v)
            repo.refresh()
            v += 1

    t = threading.Thread(target=swapper)
    t.start()
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: router.read(picture(), Color.RED), range(400)))
    stop.set()
    t.join()
    assert len(answers) == 400 and all(a.reading.text == hex_of(picture()) for a in answers)
    assert len({a.version for a in answers}) > 1
    repo.close()


def test_unsure_red_answer_gets_no_second_opinion_from_a_model_not_trained_on_transforms(tmp_path):
    write_fake(tmp_path, "red", 1, confidence=0.1)
    write_fake(tmp_path, "yellow", 1, confidence=0.99)
    answer = router_for(tmp_path, threshold=0.9).read(picture(), Color.RED)
    assert answer.route is Route.DIRECT and answer.model == "red"


def test_batchers_sharing_a_device_take_turns_and_gather_while_waiting():
    device, running, overlaps, sizes = threading.Lock(), [], [], []
    first_started, release_first = threading.Event(), threading.Event()

    def reader(name):
        def read(images):
            running.append(name)
            overlaps.append(len(running) > 1)
            if name == "a":
                first_started.set()
                release_first.wait(5)
            else:
                sizes.append(len(images))
            running.remove(name)
            return [Reading(name, 1.0, ())] * len(images)
        return read

    a = Batcher(reader("a"), BatchPolicy(max_batch=32, max_wait=0.0), device=device)
    b = Batcher(reader("b"), BatchPolicy(max_batch=32, max_wait=0.0), device=device)
    held = a.submit(np.zeros((1, 1, 3), np.uint8))
    assert first_started.wait(5)
    waiting = [b.submit(np.zeros((1, 1, 3), np.uint8)) for _ in range(5)]  # queue while "a" holds the device
    time.sleep(0.05)
    release_first.set()
    assert held.result(5).text == "a" and [f.result(5).text for f in waiting] == ["b"] * 5
    assert not any(overlaps)
    assert sizes == [5]  # all five taken together once the device was free
    a.close()
    b.close()


def corner_picture():
    """100x40 (the fakes' input size: no resizing) with four colours in the top-left 2x2 corner,
    so that each moved view shows the fake another top-left pixel: of the nine views, four see
    (0,0), two (0,1), two (1,0) and one (1,1)."""
    img = np.tile(np.array(PIXEL, np.uint8), (40, 100, 1))
    img[0, 1], img[1, 0], img[1, 1] = (50, 60, 70), (80, 90, 100), (110, 120, 130)
    return img


def test_second_look_reads_moved_views_through_both_routes_and_the_majority_wins(tmp_path):
    write_fake(tmp_path, "red", 1, confidence=0.6)
    write_fake(tmp_path, "blue", 1, confidence=0.2)
    repo = loaded(tmp_path)
    img = corner_picture()
    answer = Router(repo, threshold=0.5, views=9).read(img, Color.BLUE)
    # direct: four readings of the corner's own pixel; transform: four of its transformed pixel;
    # a tie on counts goes to the surer model
    assert (answer.reads, answer.agreeing) == (18, 4)
    assert answer.route is Route.COLOR_TRANSFORM and answer.reading.text == hex_of(to_red(img, Color.BLUE))
    assert sum(repo.get(Color.BLUE).model.batches) == 9
    assert sum(repo.get(Color.RED).model.batches) == 9
    sure = Router(repo, threshold=0.1, views=9).read(img, Color.BLUE)  # sure enough: one reading
    assert (sure.reads, sure.agreeing, sure.route) == (1, 1, Route.DIRECT)
    forced = Router(repo, threshold=0.5, views=9).read(img, Color.BLUE, Route.DIRECT)
    assert forced.reads == 1  # a forced route is read once, as asked
    repo.close()


def test_second_look_at_red_reads_moved_views_with_the_red_model_only(tmp_path):
    write_fake(tmp_path, "red", 1, confidence=0.3)
    write_fake(tmp_path, "yellow", 1, confidence=0.99)
    repo = loaded(tmp_path)
    answer = Router(repo, threshold=0.5, views=9).read(corner_picture(), Color.RED)
    assert answer.route is Route.DIRECT and (answer.reads, answer.agreeing) == (9, 4)
    assert answer.reading.text == hex_of(corner_picture())
    assert not repo.get(Color.YELLOW).model.batches
    one = Router(repo, threshold=0.5, views=1).read(corner_picture(), Color.RED)
    assert (one.reads, one.agreeing) == (1, 1)
    repo.close()


def test_one_view_second_look_is_the_more_confident_of_the_two_routes(tmp_path):
    write_fake(tmp_path, "red", 1, confidence=0.7)
    write_fake(tmp_path, "blue", 1, confidence=0.4)
    router = router_for(tmp_path, threshold=0.5)
    answer = router.read(picture(), Color.BLUE)
    assert answer.route is Route.COLOR_TRANSFORM and (answer.reads, answer.agreeing) == (2, 1)
    router.repository.close()


def test_a_failing_or_overloaded_second_look_keeps_the_answer_in_hand(tmp_path):
    write_fake(tmp_path, "red", 1, confidence=0.9, fail_reads=True)
    write_fake(tmp_path, "blue", 1, confidence=0.2)
    repo = loaded(tmp_path)
    answer = Router(repo, threshold=0.5, views=9).read(corner_picture(), Color.BLUE)
    assert answer.route is Route.DIRECT and (answer.reads, answer.agreeing) == (9, 4)  # the blue readings only
    assert answer.reading.text == hex_of(corner_picture())
    repo.close()
    small = loaded(tmp_path, BatchPolicy(max_queue=1))  # a stage's 2 or 3 pictures do not fit
    answer = Router(small, threshold=0.5, views=9).read(corner_picture(), Color.BLUE)
    assert answer.route is Route.DIRECT and (answer.reads, answer.agreeing) == (1, 1)
    small.close()


def test_a_second_look_keeps_to_the_callers_deadline_and_drops_what_is_still_queued(tmp_path):
    write_fake(tmp_path, "red", 1, confidence=0.9, delay=0.5)  # slow: one picture a batch, 0.5 s each
    write_fake(tmp_path, "blue", 1, confidence=0.2)
    repo = loaded(tmp_path, BatchPolicy(max_batch=1))
    start = time.monotonic()
    answer = Router(repo, threshold=0.5, views=9).read(corner_picture(), Color.BLUE, call=Call.within(0.3))
    took = time.monotonic() - start
    assert answer.route is Route.DIRECT and answer.reading.text == hex_of(corner_picture())
    assert took < 1.4  # the red model alone needs 1.5 s for a stage's three views
    time.sleep(1.2)
    red = repo.get(Color.RED).model
    assert sum(red.batches) < 3  # the red pictures still queued at the deadline were never read
    repo.close()


def test_a_call_that_ends_drops_its_queued_readings_and_hears_so(tmp_path):
    write_fake(tmp_path, "red", 1, delay=0.4)
    repo = loaded(tmp_path, BatchPolicy(max_batch=1))
    router = Router(repo)
    busy = ThreadPoolExecutor(1).submit(router.read, picture(), Color.RED)  # holds the model
    time.sleep(0.1)
    call = Call()
    waiting = ThreadPoolExecutor(1).submit(router.read, picture(), Color.RED, None, call)
    time.sleep(0.1)
    call.end()  # e.g. the stream it came by was cancelled
    with pytest.raises(CallEnded):
        waiting.result(timeout=5)
    assert busy.result(timeout=5).reading.text
    time.sleep(0.5)
    assert repo.get(Color.RED).model.batches == [1]  # the ended call's picture was never read
    full = loaded(tmp_path, BatchPolicy(max_batch=1, max_queue=1))
    first = full.get(Color.RED).batcher.submit_many([np.zeros((40, 100, 3), np.uint8)])
    time.sleep(0.1)  # the model is busy with it: the queue is empty, with room for one
    queued = full.get(Color.RED).batcher.submit_many([np.zeros((40, 100, 3), np.uint8)])
    queued[0].cancel()  # abandoned: it no longer takes the queue's room
    full.get(Color.RED).batcher.submit_many([np.zeros((40, 100, 3), np.uint8)])
    assert first[0].result(timeout=5)
    repo.close()
    full.close()


def test_second_look_stops_after_three_views_when_the_readings_agree(tmp_path):
    write_fake(tmp_path, "red", 1, confidence=0.6)
    write_fake(tmp_path, "blue", 1, confidence=0.2)
    repo = loaded(tmp_path)
    router = Router(repo, threshold=0.7, views=9)  # both models below it
    grey = np.full((40, 100, 3), 120, np.uint8)  # every view, either route, reads the same text (R = B)
    blue = router.read(grey, Color.BLUE)
    assert (blue.reads, blue.agreeing) == (6, 6)
    red = router.read(grey, Color.RED)  # red is read by the red model only: three views
    assert (red.reads, red.agreeing) == (3, 3)
    split = router.read(corner_picture(), Color.RED)  # the corner splits the first three: all nine
    assert (split.reads, split.agreeing) == (9, 4)
    repo.close()
