"""The reader: a small CNN backbone, one recurrent head per colour, a shared character classifier.

Each colour model that ships is backbone + its head + the classifier, exported alone (see
``export.py``), so that one colour can be retrained and replaced without the others.
"""
from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from .architecture import LEGACY, Block, ModelConfig  # noqa: F401  (the architecture, TF-free)


def build_backbone(cfg: ModelConfig, folded: bool = False) -> keras.Model:
    """uint8 pictures (B,H,W,3) -> features (B,T,C).

    ``folded``: the serving form, batch normalisation folded into the convolutions' weights
    and biases (see :func:`fold_batch_norm`): the same function, fewer operations.
    """
    inp = keras.Input((cfg.input_height, cfg.input_width, 3), dtype="uint8", name="images")
    x = layers.Rescaling(1.0 / 255.0)(inp)
    for i, (filters, separable, pool) in enumerate(cfg.blocks):
        stride = cfg.stem_stride if i == 0 else 1
        conv = layers.SeparableConv2D if separable and i > 0 else layers.Conv2D
        x = conv(filters, 3, strides=stride, padding="same", use_bias=folded, name=f"conv{i}")(x)
        if not folded:
            x = layers.BatchNormalization(name=f"bn{i}")(x)
        x = layers.ReLU()(x)
        if pool:
            x = layers.MaxPooling2D(pool, name=f"pool{i}")(x)
    # collapse the remaining rows into the channels: (B, h, T, C) -> (B, T, h*C) -> (B, T, C)
    x = layers.Permute((2, 1, 3))(x)
    x = layers.Reshape((cfg.steps, cfg.rows * cfg.blocks[-1][0]))(x)
    x = layers.Dense(cfg.feature_width, activation="relu", name="collapse")(x)
    return keras.Model(inp, x, name="backbone")


def batch_norms(trained: keras.Model, cfg: ModelConfig) -> list[np.ndarray]:
    """Per convolution, its batch normalisation as one (4, C) array: gamma, beta, mean, variance."""
    return [np.stack([np.asarray(v) for v in trained.get_layer(f"bn{i}").weights])
            for i in range(len(cfg.blocks))]


def _scale(norm: np.ndarray, eps: float) -> np.ndarray:
    gamma, _, _, var = norm
    return gamma / np.sqrt(var + eps)


def fold_batch_norm(trained: keras.Model, cfg: ModelConfig) -> keras.Model:
    """A folded copy of a trained backbone: each convolution followed by batch normalisation
    becomes one convolution with bias (scale = gamma / sqrt(var + eps))."""
    folded = build_backbone(cfg, folded=True)
    for i, norm in enumerate(batch_norms(trained, cfg)):
        scale = _scale(norm, trained.get_layer(f"bn{i}").epsilon)
        weights = trained.get_layer(f"conv{i}").get_weights()
        folded.get_layer(f"conv{i}").set_weights(weights[:-1] + [weights[-1] * scale, norm[1] - norm[2] * scale])
    folded.get_layer("collapse").set_weights(trained.get_layer("collapse").get_weights())
    return folded


def unfold_batch_norm(folded: keras.Model, norms: list[np.ndarray], trained: keras.Model) -> None:
    """The inverse of :func:`fold_batch_norm`: sets ``trained`` (convolutions without bias, then
    batch normalisation) from a folded backbone and the saved batch-norm statistics."""
    for i, norm in enumerate(norms):
        bn = trained.get_layer(f"bn{i}")
        bn.set_weights(list(norm))
        weights = folded.get_layer(f"conv{i}").get_weights()[:-1]  # the bias follows from the norm
        scale = _scale(norm, bn.epsilon)  # a channel scaled by 0 has folded weights 0: any kernel does
        trained.get_layer(f"conv{i}").set_weights(weights[:-1] + [weights[-1] / np.where(scale == 0, 1, scale)])
    trained.get_layer("collapse").set_weights(folded.get_layer("collapse").get_weights())


def build_head(cfg: ModelConfig, color: str) -> keras.Model:
    """Features -> colour-specific sequence features (picks out the characters of one colour)."""
    inp = keras.Input((cfg.steps, cfg.feature_width), name="features")
    x = layers.Conv1D(cfg.head_width, 3, padding="same", activation="relu", name="select")(inp)
    x = layers.Conv1D(cfg.sequence_width, 3, padding="same", activation="relu", name="sequence")(x)
    return keras.Model(inp, x, name=f"head_{color}")


def build_classifier(cfg: ModelConfig) -> keras.Model:
    """Sequence features -> logits over the vocabulary plus the CTC blank."""
    inp = keras.Input((cfg.steps, cfg.sequence_width), name="sequence")
    x = layers.Dense(cfg.num_classes, name="logits")(inp)
    return keras.Model(inp, x, name="classifier")


def ctc_loss(labels: tf.Tensor, logits: tf.Tensor, blank: int) -> tf.Tensor:
    """labels (B,L) int32 padded with -1; logits (B,T,K). Returns (B,) losses."""
    # Sparse labels select TensorFlow's C++ CTC kernel (dense ones take a much slower path).
    # That kernel refuses empty labels: it scores the others only, and an empty answer, whose one
    # path is all blanks, is scored apart. (A stand-in label for the empty ones made the kernel
    # warn "No valid path found" dozens of times a step: a trained model gives a never-drawn
    # class no probability at all.) The kernel also refuses an empty batch: one row of uniform
    # logits and a one-character label goes last, and its loss is dropped.
    empty = labels[:, 0] < 0
    rows = tf.where(~empty)[:, 0]
    spare = tf.one_hot([0], tf.shape(labels)[1], on_value=0, off_value=-1, dtype=labels.dtype)
    filled = tf.concat([tf.gather(labels, rows), spare], axis=0)
    scored = tf.concat([tf.gather(logits, rows), tf.zeros_like(logits[:1])], axis=0)
    indices = tf.where(filled >= 0)
    sparse = tf.SparseTensor(indices, tf.gather_nd(filled, indices), tf.shape(filled, out_type=tf.int64))
    logit_length = tf.fill([tf.shape(filled)[0]], tf.shape(logits)[1])
    ctc = tf.nn.ctc_loss(sparse, scored, None, logit_length, logits_time_major=False, blank_index=blank)[:-1]
    ctc = tf.scatter_nd(rows[:, None], ctc, tf.shape(labels, out_type=tf.int64)[:1])
    all_blank = -tf.reduce_sum(tf.nn.log_softmax(logits, axis=-1)[:, :, blank], axis=1)
    return tf.where(empty, all_blank, ctc)


def greedy_decode(logits: tf.Tensor, lookup):
    """Greedy CTC decoding inside the graph.

    ``lookup`` maps class ids (int32) to characters (string). Returns text (B,) string, confidence (B,) float (probability of the greedy path) and
    char_confidence (B,T) float: the probability at each emitted character's step, -1 elsewhere.
    """
    best = tf.argmax(logits, axis=-1, output_type=tf.int32)
    best_p = tf.exp(tf.reduce_max(logits, axis=-1) - tf.reduce_logsumexp(logits, axis=-1))
    blank = tf.shape(logits)[-1] - 1
    prev = tf.pad(best[:, :-1], [[0, 0], [1, 0]], constant_values=-1)
    keep = tf.logical_and(tf.not_equal(best, prev), tf.not_equal(best, blank))
    letters = tf.where(keep, lookup(tf.minimum(best, blank - 1)), tf.constant(""))
    text = tf.strings.reduce_join(letters, axis=1)
    confidence = tf.exp(tf.reduce_sum(tf.math.log(tf.maximum(best_p, 1e-12)), axis=1))
    char_confidence = tf.where(keep, best_p, tf.constant(-1.0))
    return text, confidence, char_confidence
