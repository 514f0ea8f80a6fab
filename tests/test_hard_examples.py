"""Hard-example replay: which pictures are kept, how often they come back, how a batch is made up,
and the per-picture losses the trainer reports for it."""
import numpy as np

from training.data import HEAD_ORDER, HardExamples, ReplayBuffer


def _batch(n, first=0):
    images = np.arange(first, first + n, dtype=np.uint8)[:, None, None, None] * np.ones((1, 2, 3, 3), np.uint8)
    labels = np.full((n, 4, 6), -1, np.int32)
    labels[:, :, 0] = np.arange(first, first + n)[:, None]
    return images, labels, np.ones((n, 4), np.float32)


def test_keeps_pictures_above_the_fresh_quantile_and_gives_the_hardest_first():
    hard = HardExamples(capacity=100, quantile=0.5)
    losses = np.array([0.1, 5.0, 0.2, 3.0, 0.3, 4.0], np.float32)
    hard.offer(_batch(6), losses, np.zeros(6, int), np.ones(6, bool))
    assert len(hard) == 3  # above the median of the fresh losses
    (images, labels, weights), replays = hard.take(2)
    assert list(labels[:, 0, 0]) == [1, 5] and list(replays) == [1, 1]
    assert (images[0] == 1).all() and (images[1] == 5).all() and weights.shape == (2, 4)
    assert len(hard) == 1
    assert list(hard.take(5)[0][1][:, 0, 0]) == [3]
    assert hard.take(1) is None


def test_a_picture_comes_back_at_most_max_replays_times_and_replays_do_not_move_the_threshold():
    hard = HardExamples(capacity=100, quantile=0.5, max_replays=2)
    hard.offer(_batch(4), np.array([0.0, 0.0, 1.0, 1.0], np.float32), np.zeros(4, int), np.ones(4, bool))
    before = hard.threshold()
    batch, replays = hard.take(10)
    for expected in (1, 2):
        assert list(replays) == [expected, expected]
        hard.offer(batch, np.array([9.0, 9.0], np.float32), replays, np.zeros(2, bool))
        assert hard.threshold() == before
        if expected == 1:
            batch, replays = hard.take(10)
    assert len(hard) == 0  # replayed twice: not kept a third time, however hard


def test_capacity_keeps_the_hardest():
    hard = HardExamples(capacity=2, quantile=0.0)
    hard.offer(_batch(4), np.array([1.0, 4.0, 2.0, 3.0], np.float32), np.zeros(4, int), np.ones(4, bool))
    assert sorted(hard.take(4)[0][1][:, 0, 0]) == [1, 3]


def test_batches_keep_their_size_and_pair_every_picture_with_its_labels():
    from training.train import with_hard_examples
    rng = np.random.default_rng(0)
    replay = ReplayBuffer(50, _batch(6, first=100))
    replay.add(_batch(6, first=100))
    hard = HardExamples(capacity=10, quantile=0.0)
    batch, replays = with_hard_examples(_batch(6), hard, 3, replay, rng)  # none yet: topped up
    assert len(batch[0]) == 9 and list(replays) == [0] * 9
    assert all(set(labels[:, 0]) == {img[0, 0, 0]} for img, labels in zip(batch[0], batch[1]))
    hard.offer(_batch(3, first=50), np.array([2.0, 0.5, 1.0], np.float32), np.zeros(3, int), np.ones(3, bool))
    batch, replays = with_hard_examples(_batch(6), hard, 3, replay, rng)  # 50 and 52 kept, topped up
    assert len(batch[0]) == 9 and list(replays) == [0] * 6 + [1, 1, 0]
    assert list(batch[1][6:8, 0, 0]) == [50, 52] and batch[1][8, 0, 0] >= 100
    assert with_hard_examples(_batch(6), hard, 0, replay, rng)[0][0].shape[0] == 6


def test_trainer_reports_each_pictures_weighted_loss():
    import tensorflow as tf

    from tests.conftest import tiny_config
    from training.model import ctc_loss
    from training.train import Trainer
    trainer = Trainer(tiny_config(), 0.0, 1000)  # a rate of 0: the step leaves the weights as they are
    images = np.random.default_rng(1).integers(0, 255, (3, 40, 100, 3), dtype=np.uint8)
    labels = np.full((3, 4, 6), -1, np.int32)
    labels[:, :, :2] = [[[5, 6]], [[7, 8]], [[9, 1]]]
    weights = np.array([[1, 1, 1, 1], [1, 0, 0, 0], [0, 0, 0, 0]], np.float32)
    _, per_picture = trainer.train_step(tf.constant(images), tf.constant(labels), tf.constant(weights))
    feats = trainer.backbone(images, training=True)
    expected = []
    for i in range(3):
        rows = [ctc_loss(labels[i:i + 1, h], trainer.classifier(trainer.heads[c.label](feats[i:i + 1], training=True),
                                                                training=True), trainer.blank)[0]
                for h, c in enumerate(HEAD_ORDER)]
        expected.append(sum(float(r) * w for r, w in zip(rows, weights[i])))
    np.testing.assert_allclose(per_picture.numpy(), expected, rtol=1e-3, atol=1e-3)
    assert per_picture.numpy()[2] == 0.0
