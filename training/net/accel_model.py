"""The reader's network (``model.py``) in JAX, on weights in ``training.fit.weights``' layout.

For training on an accelerator machine that has JAX but not TensorFlow
(``training.fit.accel_train``); the weights come back to TensorFlow through
``python -m training.fit.weights load``. Keras's conventions are kept: NHWC pictures scaled to
0..1, "same" padding, batch normalisation with epsilon 1e-3 and momentum 0.99 (biased batch
variance), max pooling without padding, rows folded into channels before ``collapse``.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from .architecture import ModelConfig

BN_EPSILON = 1e-3
BN_MOMENTUM = 0.99
_IMAGE = ("NHWC", "HWIO", "NHWC")
_SEQUENCE = ("NWC", "WIO", "NWC")


def is_statistic(key: str) -> bool:
    """Batch-norm moving mean (index 2) and variance (3): updated by training, not by gradients."""
    layer, index = key.split("/")[1:]
    return layer.startswith("bn") and index in ("2", "3")


def split(arrays: dict, cfg: ModelConfig) -> tuple[dict, dict]:
    """Weights (``training.fit.weights``' keys) -> (trainable parameters, batch-norm statistics)."""
    keys = [k for k in arrays if k.count("/") == 2]
    params = {k: jnp.asarray(arrays[k]) for k in keys if not is_statistic(k)}
    stats = {k: jnp.asarray(arrays[k]) for k in keys if is_statistic(k)}
    return params, stats


def _conv(x, kernel, stride=1, groups=1):
    return lax.conv_general_dilated(x, kernel, (stride, stride), "SAME", dimension_numbers=_IMAGE,
                                    feature_group_count=groups)


def backbone(params: dict, stats: dict, images, cfg: ModelConfig, train: bool):
    """uint8 (B,H,W,3) -> features (B,T,C), and the batch-norm statistics after this batch."""
    x = images.astype(jnp.float32) / 255.0
    new_stats = dict(stats)
    for i, (filters, separable, pool) in enumerate(cfg.blocks):
        if separable and i > 0:
            depthwise = params[f"backbone/conv{i}/0"]  # (3, 3, C, 1)
            channels = depthwise.shape[2]
            x = _conv(x, depthwise.reshape(3, 3, 1, channels), groups=channels)
            x = _conv(x, params[f"backbone/conv{i}/1"])
        else:
            x = _conv(x, params[f"backbone/conv{i}/0"], stride=cfg.stem_stride if i == 0 else 1)
        mean_key, var_key = f"backbone/bn{i}/2", f"backbone/bn{i}/3"
        if train:
            mean, var = jnp.mean(x, axis=(0, 1, 2)), jnp.var(x, axis=(0, 1, 2))
            new_stats[mean_key] = BN_MOMENTUM * stats[mean_key] + (1 - BN_MOMENTUM) * lax.stop_gradient(mean)
            new_stats[var_key] = BN_MOMENTUM * stats[var_key] + (1 - BN_MOMENTUM) * lax.stop_gradient(var)
        else:
            mean, var = stats[mean_key], stats[var_key]
        x = (x - mean) * lax.rsqrt(var + BN_EPSILON) * params[f"backbone/bn{i}/0"] + params[f"backbone/bn{i}/1"]
        x = jax.nn.relu(x)
        if pool:
            window = (1, pool[0], pool[1], 1)
            x = lax.reduce_window(x, -jnp.inf, lax.max, window, window, "VALID")
    b, rows, steps, channels = x.shape
    x = jnp.transpose(x, (0, 2, 1, 3)).reshape(b, steps, rows * channels)
    return jax.nn.relu(x @ params["backbone/collapse/0"] + params["backbone/collapse/1"]), new_stats


def head(params: dict, color: str, feats):
    """Features (B,T,C) -> this colour's sequence features (B,T,S)."""
    x = feats
    for layer in ("select", "sequence"):
        kernel, bias = params[f"head_{color}/{layer}/0"], params[f"head_{color}/{layer}/1"]
        x = jax.nn.relu(lax.conv_general_dilated(x, kernel, (1,), "SAME", dimension_numbers=_SEQUENCE) + bias)
    return x


def classify(params: dict, sequence):
    """Sequence features (B,T,S) -> logits (B,T,K), the CTC blank last."""
    return sequence @ params["classifier/logits/0"] + params["classifier/logits/1"]


def logits(params: dict, stats: dict, images, cfg: ModelConfig, colors: tuple[str, ...], train: bool):
    """Logits of every colour in ``colors``, stacked (B, len(colors), T, K), and the new statistics."""
    feats, new_stats = backbone(params, stats, images, cfg, train)
    return jnp.stack([classify(params, head(params, c, feats)) for c in colors], axis=1), new_stats


def greedy(ids_per_step, blank: int) -> list[list[int]]:
    """Best class per step (B,T) -> the collapsed label ids per picture (host-side, numpy)."""
    out = []
    for row in ids_per_step.tolist():
        seq, prev = [], -1
        for t in row:
            if t != prev and t != blank:
                seq.append(t)
            prev = t
        out.append(seq)
    return out
