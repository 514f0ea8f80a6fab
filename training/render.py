"""Draws one synthetic captcha: background band, glyphs, green lines, dots.

Seeded by a ``numpy.random.Generator``: the same generator state gives the same picture.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from captcha_core.colors import ALL_COLORS, Color

from . import charset, fonts
from .style import MEASURED_BACKGROUNDS, Style

REFERENCE_HEIGHT = 35.0
SIZES = {"90x35": (90, 35), "120x50": (120, 50)}


@dataclass(frozen=True)
class Sample:
    image: np.ndarray          # (H, W, 3) uint8
    text: str                  # the six characters
    colors: tuple[Color, ...]  # colour of each character
    boxes: tuple[tuple[int, int, int, int], ...]  # glyph boxes (x0, y0, x1, y1)

    def answer(self, color: Color) -> str:
        return "".join(ch for ch, c in zip(self.text, self.colors) if c is color)

    @property
    def color_letters(self) -> str:
        return "".join(c.letter for c in self.colors)


def parse_size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"size must look like 90x35, not {text!r}") from None
    return width, height


class CaptchaRenderer:
    """Draws captchas of one size in one style."""

    def __init__(self, width: int = 90, height: int = 35, style: Style = Style()):
        self.width, self.height, self.style = width, height, style
        self.scale = height / REFERENCE_HEIGHT
        self.xscale = width / 90.0
        chinese_faces, latin_faces = fonts.require_fonts()
        self._chinese_faces = chinese_faces
        self._chinese_cdf = np.cumsum(_normalise([f.weight for f in chinese_faces]))
        self._latin_faces = latin_faces
        self._latin_cdf = np.cumsum(_normalise([f.weight for f in latin_faces]))
        self._chinese_count_cdf = np.cumsum(_normalise(style.chinese_shares))
        self._line_count_cdf = np.cumsum(_normalise(style.line_count_shares))
        self._chinese_chars = charset.chinese()
        self._yy = np.arange(height, dtype=np.float32)[:, None]
        self._xx = np.arange(width, dtype=np.float32)[None, :]
        self._glyph_cache: dict = {}

    # -- what to draw ----------------------------------------------------------------
    def choose_text(self, rng: np.random.Generator) -> str:
        n_chinese = _pick(self._chinese_count_cdf, rng)
        chinese = [self._chinese_chars[i] for i in rng.integers(0, len(self._chinese_chars), n_chinese)]
        latin = [charset.LATIN_DRAWN[i] for i in rng.integers(0, len(charset.LATIN_DRAWN), 6 - n_chinese)]
        return "".join(chinese + latin)

    def choose_colors(self, rng: np.random.Generator) -> tuple[Color, ...]:
        st = self.style
        if rng.random() < st.all_black_share:
            return (Color.BLACK,) * 6
        colors = [ALL_COLORS[i] for i in rng.integers(0, 4, 6)]
        if rng.random() < st.focus_share:
            focus = ALL_COLORS[int(rng.integers(0, 4))]
            count = int(rng.integers(1, 7))
            others = [c for c in ALL_COLORS if c is not focus]
            chosen = set(rng.choice(6, count, replace=False).tolist())
            colors = [focus if i in chosen else others[int(rng.integers(0, 3))] for i in range(6)]
        return tuple(colors)

    # -- drawing ---------------------------------------------------------------------
    def render(self, rng: np.random.Generator) -> Sample:
        text, colors = self.choose_text(rng), self.choose_colors(rng)
        return self.draw(text, colors, rng)

    def draw(self, text: str, colors: tuple[Color, ...], rng: np.random.Generator) -> Sample:
        st = self.style
        canvas = self._background(rng)
        lines_first = rng.random() >= st.lines_over_text_share
        if lines_first:
            self._lines(canvas, rng)
        boxes = self._glyphs(canvas, text, colors, rng)
        if not lines_first:
            self._lines(canvas, rng)
        image = np.array(canvas)
        self._dots(image, rng)
        if rng.random() < st.blur_share:
            radius = float(rng.uniform(*st.blur_radius)) * self.scale
            image = np.asarray(Image.fromarray(image).filter(ImageFilter.GaussianBlur(radius)))
        return Sample(image=image, text=text, colors=colors, boxes=tuple(boxes))

    def _background(self, rng: np.random.Generator) -> np.ndarray:
        st, s = self.style, self.scale
        if rng.random() < st.measured_background_share:
            band, outside = MEASURED_BACKGROUNDS[int(rng.integers(0, len(MEASURED_BACKGROUNDS)))]
            band = np.clip(np.array(band) + rng.integers(-12, 13, 3), 100, 255)
            outside = np.clip(np.array(outside) + rng.integers(-10, 11, 3), 195, 255)
        else:
            outside = rng.integers(200, 251, 3)
            band = rng.integers(100, 241, 3)
            band[int(rng.integers(0, 3))] = rng.integers(100, 200)
        tilt = rng.uniform(*st.band_tilt)
        if rng.random() < st.steep_tilt_share:
            tilt = rng.choice([-1, 1]) * rng.uniform(0.25, 0.5)
        tilt *= s / self.xscale
        x, y = self._xx, self._yy
        period = rng.uniform(*st.band_period) * self.xscale
        top = (rng.uniform(*st.band_center) - rng.uniform(*st.band_thickness) / 2) * s
        top = top + rng.uniform(*st.band_amplitude) * s * np.sin(2 * np.pi * x / period + rng.uniform(0, 2 * np.pi))
        top = top + tilt * (x - self.width / 2)
        thickness = rng.uniform(*st.band_thickness) * s
        bottom = top + thickness + rng.uniform(*st.band_amplitude) * s * np.sin(
            2 * np.pi * x / (rng.uniform(*st.band_period) * self.xscale) + rng.uniform(0, 2 * np.pi))
        inside = (y >= np.floor(top)) & (y < np.floor(bottom))
        inside[0, 0] = False  # the platform's pixel (0,0) is always the outside colour
        canvas = np.where(inside[..., None], band.astype(np.uint8), outside.astype(np.uint8))
        return Image.fromarray(canvas, "RGB")

    def _glyphs(self, canvas, text, colors, rng):
        st, s = self.style, self.scale
        left = rng.uniform(*st.margin_left) * self.xscale
        right = self.width - rng.uniform(*st.margin_right) * self.xscale
        step = (right - left) / len(text)
        boxes = []
        for i, (ch, color) in enumerate(zip(text, colors)):
            mask = self._glyph_mask(ch, rng)
            cx = left + (i + 0.5) * step + rng.uniform(-1, 1) * st.horizontal_jitter * self.xscale
            cy = self.height / 2 + rng.uniform(-1, 1) * st.vertical_jitter * s
            boxes.append(self._composite(canvas, mask, cx, cy, color, rng))
        return boxes

    def _glyph_mask(self, ch: str, rng: np.random.Generator) -> Image.Image:
        st, s = self.style, self.scale
        if charset.is_chinese(ch):
            face = self._chinese_faces[_pick(self._chinese_cdf, rng)]
            size = rng.uniform(*st.chinese_height) * s / 0.88
            hollow, stroke = False, 0
            shear = math.tan(math.radians(rng.uniform(*st.chinese_shear_deg)))
            angle = rng.uniform(*st.chinese_rotation)
        else:
            face = self._latin_faces[_pick(self._latin_cdf, rng)]
            size = rng.uniform(*st.latin_cap_height) * s / 0.72
            hollow = bool(rng.random() < st.hollow_share)
            stroke = max(1, int(round(rng.integers(st.outline_width[0], st.outline_width[1] + 1) * s))) if hollow else 0
            shear = math.tan(math.radians(rng.uniform(-6, 6)))
            angle = rng.uniform(*st.latin_rotation)
        # glyphs are rendered at a few cached sizes and scaled by at most ~8% in the affine step
        base_size = max(8, int(round(8 * 1.16 ** round(math.log(max(size, 8) / 8, 1.16)))))
        key = (face, base_size, ch, hollow, stroke)
        base = self._glyph_cache.get(key)
        if base is None:
            base = self._glyph_cache[key] = _render_glyph(face, base_size, ch, hollow, stroke)
        return _rotate_shear(base, angle, shear, size / base_size)

    def _composite(self, canvas: Image.Image, mask: Image.Image, cx, cy, color: Color, rng):
        w, h = mask.size
        x0, y0 = int(round(cx - w / 2)), int(round(cy - h / 2))
        alpha = _EDGE_LUT[np.asarray(mask)]  # resampling softens thin strokes: restore solid cores
        opacity = rng.uniform(*self.style.text_opacity)
        mask = Image.fromarray((alpha * opacity).astype(np.uint8), "L")
        jitter = rng.integers(0, self.style.color_jitter + 1, 3)
        rgb = tuple(v - j if v > 127 else v + j for v, j in zip(color.rgb, jitter.tolist()))
        canvas.paste(rgb, (x0, y0, x0 + w, y0 + h), mask)
        solid = alpha > 96
        cols, rows = np.flatnonzero(solid.any(0)), np.flatnonzero(solid.any(1))
        if len(cols) == 0:
            return (0, 0, 0, 0)
        return (max(x0 + int(cols[0]), 0), max(y0 + int(rows[0]), 0),
                min(x0 + int(cols[-1]) + 1, self.width), min(y0 + int(rows[-1]) + 1, self.height))

    def _lines(self, canvas: Image.Image, rng):
        count = _pick(self._line_count_cdf, rng)
        if count == 0:
            return
        k = 4
        mask = Image.new("L", (self.width * k, self.height * k), 0)
        draw = ImageDraw.Draw(mask)
        for _ in range(count):
            # long lines, as on the real pictures: one end in each half, mostly
            x0 = rng.uniform(0, 0.6 * self.width) * k
            x1 = rng.uniform(0.4 * self.width, self.width) * k
            y0, y1 = rng.uniform(0, self.height, 2) * k
            draw.line([(x0, y0), (x1, y1)], fill=255, width=int(k * 1.4))
        canvas.paste((0, 255, 0), (0, 0, self.width, self.height), mask.reduce(k))

    def _dots(self, canvas, rng):
        lo, hi = self.style.dots
        n = int(rng.integers(lo, hi + 1) * self.scale * self.xscale)
        ys = rng.integers(0, self.height, n)
        xs = rng.integers(0, self.width, n)
        canvas[ys, xs] = rng.integers(0, 256, (n, 3), dtype=np.uint8)


_EDGE_LUT = np.clip((np.arange(256, dtype=np.float32) - 30) * (255 / 130), 0, 255).astype(np.uint8)


def _render_glyph(face, size: int, ch: str, hollow: bool, stroke: int) -> Image.Image:
    font = fonts.load(face, size)
    x0, y0, x1, y1 = font.getbbox(ch, stroke_width=stroke)
    pad = 2
    im = Image.new("L", (x1 - x0 + 2 * pad, y1 - y0 + 2 * pad), 0)
    draw = ImageDraw.Draw(im)
    if hollow:
        draw.text((pad - x0, pad - y0), ch, font=font, fill=0, stroke_width=stroke, stroke_fill=255)
    else:
        draw.text((pad - x0, pad - y0), ch, font=font, fill=255)
    return im


def _rotate_shear(mask: Image.Image, angle_deg: float, shear: float, scale: float) -> Image.Image:
    """Scale, shear to the right (top leans right), then rotate, about the centre."""
    w, h = mask.size
    a = math.radians(angle_deg)
    cos, sin = math.cos(a), math.sin(a)
    # forward map M = scale * R @ [[1, -shear], [0, 1]]
    m00, m01 = scale * cos, scale * (-cos * shear - sin)
    m10, m11 = scale * sin, scale * (-sin * shear + cos)
    hw, hh = w / 2, h / 2
    ow = int(math.ceil(2 * (abs(m00) * hw + abs(m01) * hh))) + 1
    oh = int(math.ceil(2 * (abs(m10) * hw + abs(m11) * hh))) + 1
    det = m00 * m11 - m01 * m10
    i00, i01, i10, i11 = m11 / det, -m01 / det, -m10 / det, m00 / det
    ox, oy = ow / 2, oh / 2
    coeffs = (i00, i01, hw - (i00 * ox + i01 * oy), i10, i11, hh - (i10 * ox + i11 * oy))
    return mask.transform((ow, oh), Image.AFFINE, coeffs, resample=Image.BILINEAR)


def _pick(cdf: np.ndarray, rng: np.random.Generator) -> int:
    return min(int(np.searchsorted(cdf, rng.random(), side="right")), len(cdf) - 1)


def _normalise(weights) -> np.ndarray:
    w = np.asarray(weights, dtype=np.float64)
    return w / w.sum()
