"""The generator's hot path on Pillow's core images (``Image.Image.im``): per picture and per
glyph, the calls ``render`` makes go straight to Pillow's C layer, without the Python checks the
public methods wrap around the same C calls. Each function does what the public call named in
its docstring does, pixel for pixel: ``tests/test_generator.py`` pins that for the installed
Pillow, so an upgrade that changes the core layer fails there, not in the pictures.

Why not the public calls: ``python bench/pillow_paths.py`` measures them slower on the
generator's sizes (2026-12-03, this 2-core machine: a glyph's point-and-paste 13 µs on the core
against 52 µs public, its affine transform 22 against 34 µs), about a tenth of the generator's
time at six glyphs a picture.
"""
from __future__ import annotations

from PIL import Image

AFFINE, BILINEAR = Image.Transform.AFFINE, Image.Resampling.BILINEAR


def core(image: Image.Image):
    """The core image behind ``image`` (drawing on it draws on ``image``)."""
    return image.im


def paste_colour(dst, colour: tuple, box: tuple, mask) -> None:
    """``Image.paste(colour, box, mask)``: ``colour`` blended into ``dst`` through ``mask``."""
    dst.paste(colour, box, mask)


def paste(dst, src, box: tuple) -> None:
    """``Image.paste(src, box)``."""
    dst.paste(src, box)


def point(src, table: list[int]):
    """``Image.point(table)`` of an "L" image."""
    return src.point(table, None)


def bbox(src):
    """``Image.getbbox(alpha_only=False)``: the box of the non-zero pixels, or None."""
    return src.getbbox(False)


def affine(src, size: tuple[int, int], coeffs: tuple):
    """``Image.transform(size, AFFINE, coeffs, BILINEAR)`` of an "L" image."""
    out = Image.core.new("L", size)
    out.transform((0, 0) + tuple(size), src, AFFINE, coeffs, BILINEAR, 1)
    return out
