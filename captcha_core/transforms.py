"""Fixed colour transforms that turn one text colour into red, and back.

They follow the captcha specification: blue->red swaps R and B; black->red sets
R := 255 - R; yellow->red inverts every channel, then swaps R and B. Each acts on
whole pictures (uint8, ..., 3) and is a bijection, so its inverse is exact.
"""
from __future__ import annotations

import numpy as np

from .colors import Color


def _swap_rb(img: np.ndarray) -> np.ndarray:
    return img[..., ::-1].copy()


def _flip_r(img: np.ndarray) -> np.ndarray:
    out = img.copy()
    out[..., 0] = 255 - out[..., 0]
    return out


def to_red(img: np.ndarray, color: Color) -> np.ndarray:
    """Return a copy of ``img`` in which text of ``color`` has become red."""
    if color is Color.RED:
        return img.copy()
    if color is Color.BLUE:
        return _swap_rb(img)
    if color is Color.BLACK:
        return _flip_r(img)
    if color is Color.YELLOW:
        return _swap_rb(255 - img)
    raise ValueError(f"no transform for {color!r}")


def from_red(img: np.ndarray, color: Color) -> np.ndarray:
    """Inverse of :func:`to_red`: red text becomes ``color`` again."""
    if color is Color.YELLOW:
        return 255 - _swap_rb(img)
    return to_red(img, color)  # the other three are their own inverse


def between(img: np.ndarray, source: Color, target: Color) -> np.ndarray:
    """Move text of ``source`` colour to ``target`` colour (through red)."""
    return from_red(to_red(img, source), target)
