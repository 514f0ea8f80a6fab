"""Draws synthetic captchas, a batch at a time: background band, glyphs, green lines, dots.

Seeded by a ``numpy.random.Generator``: the same generator state and batch size give the same
pictures.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFilter

from captcha_core.colors import ALL_COLORS, Color

from . import charset, fonts, pillow_core
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

    def __init__(self, width: int = 90, height: int = 35, style: Style = Style(),
                 faces: tuple[tuple, tuple] | None = None):
        """``faces``: (Chinese faces, Latin faces) to draw with instead of the installed ones of
        ``fonts`` (a stand-in for another renderer, say)."""
        self.width, self.height, self.style = width, height, style
        self.scale = height / REFERENCE_HEIGHT
        self.xscale = width / 90.0
        if faces is None:
            chinese_faces, latin_faces = fonts.require_fonts()
            latin_faces += fonts.available(style.added_latin_faces)
        else:
            chinese_faces, latin_faces = (fonts.available(tuple(f)) for f in faces)
        self._chinese_faces = chinese_faces
        self._chinese_cdf = np.cumsum(_normalise([f.weight for f in chinese_faces]))
        self._latin_faces = latin_faces
        self._latin_cdfs: dict[str, tuple[np.ndarray, int]] = {}  # per character: see _latin_face
        self._chinese_count_cdf = np.cumsum(_normalise(style.chinese_shares))
        self._line_count_cdf = np.cumsum(_normalise(style.line_count_shares))
        self._chinese_chars = charset.chinese()
        self._yy = np.arange(height, dtype=np.float32)[:, None]
        self._xx = np.arange(width, dtype=np.float32)[None, :]
        self._glyph_cache = _GLYPH_CACHE  # shared: every renderer in a process draws the same glyphs

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
        return self.render_batch(1, rng)[0]

    def render_batch(self, n: int, rng: np.random.Generator, boxes: bool = True) -> list[Sample]:
        """``n`` pictures at once: the per-picture choices, then each drawing stage on all of
        them together (numpy), which is what makes the generator fast enough to feed training.
        ``boxes=False``: the samples' glyph boxes are left empty (training needs none; the
        pictures are the same)."""
        if n <= 0:
            return []
        texts = [self.choose_text(rng) for _ in range(n)]
        colors = [self.choose_colors(rng) for _ in range(n)]
        return self.draw_batch(texts, colors, rng, boxes)

    def draw_batch(self, texts, colors, rng: np.random.Generator, boxes: bool = True) -> list[Sample]:
        st, n = self.style, len(texts)
        band, outside, inside = self._backgrounds(n, rng)  # numpy for the whole batch
        lines_first = rng.random(n) >= st.lines_over_text_share
        glyphs = self._glyph_params(texts, colors, rng)
        images = np.empty((n, self.height, self.width, 3), np.uint8)
        found = []
        size = (self.width, self.height)
        whole = (0, 0) + size
        for i in range(n):  # band, glyphs and lines: Pillow's C paths (its core images), one picture at a time
            canvas = Image.new("RGB", size, tuple(outside[i].tolist()))
            core = pillow_core.core(canvas)
            pillow_core.paste_colour(core, tuple(band[i].tolist()), whole,
                                     pillow_core.core(Image.fromarray(inside[i], "L")))
            lines = self._lines_mask(rng)
            if lines_first[i] and lines is not None:
                pillow_core.paste_colour(core, LINE_GREEN, whole, pillow_core.core(lines))
            drawn = tuple(self._draw_glyph(core, *g, boxes) for g in glyphs[i])
            found.append(drawn if boxes else ())
            if not lines_first[i] and lines is not None:
                pillow_core.paste_colour(core, LINE_GREEN, whole, pillow_core.core(lines))
            images[i] = np.asarray(canvas)
        self._dots(images, rng)
        blurred = rng.random(n) < st.blur_share
        radii = rng.uniform(*st.blur_radius, n) * self.scale
        for i in np.flatnonzero(blurred):
            images[i] = np.asarray(Image.fromarray(images[i]).filter(ImageFilter.GaussianBlur(float(radii[i]))))
        return [Sample(image=images[i], text=texts[i], colors=tuple(colors[i]), boxes=found[i]) for i in range(n)]

    def _backgrounds(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Two colours split by a band whose edges are sine curves: band and outside colours
        (uint8, (n, 3)) and the band's mask (uint8 0/255, (n, H, W))."""
        st, s = self.style, self.scale
        measured = np.array(MEASURED_BACKGROUNDS, np.int64)  # (k, 2, 3): band, outside
        pick = measured[rng.integers(0, len(measured), n)]
        band_m = np.clip(pick[:, 0] + rng.integers(-12, 13, (n, 3)), 100, 255)
        outside_m = np.clip(pick[:, 1] + rng.integers(-10, 11, (n, 3)), 195, 255)
        outside_r = rng.integers(200, 251, (n, 3))
        band_r = rng.integers(115, 241, (n, 3))
        band_r[np.arange(n), rng.integers(0, 3, n)] = rng.integers(110, 210, n)  # one channel mostly lower
        use_measured = (rng.random(n) < st.measured_background_share)[:, None]
        band, outside = np.where(use_measured, band_m, band_r), np.where(use_measured, outside_m, outside_r)
        tilt = rng.uniform(*st.band_tilt, n)
        steep = rng.random(n) < st.steep_tilt_share
        tilt = np.where(steep, rng.choice([-1.0, 1.0], n) * rng.uniform(0.25, 0.5, n), tilt) * (s / self.xscale)
        x = self._xx  # (1, W)
        col = lambda v: v[:, None]  # noqa: E731  (n,) -> (n, 1)
        period = col(rng.uniform(*st.band_period, n) * self.xscale)
        top = col((rng.uniform(*st.band_center, n) - rng.uniform(*st.band_thickness, n) / 2) * s)
        top = top + col(rng.uniform(*st.band_amplitude, n) * s) * np.sin(
            2 * np.pi * x / period + col(rng.uniform(0, 2 * np.pi, n)))
        top = top + col(tilt) * (x - self.width / 2)
        thickness = col(rng.uniform(*st.band_thickness, n) * s)
        period2 = col(rng.uniform(*st.band_period, n) * self.xscale)
        bottom = top + thickness + col(rng.uniform(*st.band_amplitude, n) * s) * np.sin(
            2 * np.pi * x / period2 + col(rng.uniform(0, 2 * np.pi, n)))
        y = self._yy[None]  # (1, H, 1)
        inside = (y >= np.floor(top)[:, None, :]) & (y < np.floor(bottom)[:, None, :])
        inside[:, 0, 0] = False  # the platform's pixel (0,0) is always the outside colour
        return band.astype(np.uint8), outside.astype(np.uint8), inside.astype(np.uint8) * np.uint8(255)

    def _glyph_params(self, texts, colors, rng) -> list[list[tuple]]:
        """Per picture, per glyph: (mask, centre x, centre y, opacity, colour). The random
        choices are drawn slot by slot for all pictures at once."""
        st, s = self.style, self.scale
        n, length = len(texts), len(texts[0])
        left = rng.uniform(*st.margin_left, n) * self.xscale
        right = self.width - rng.uniform(*st.margin_right, n) * self.xscale
        step = (right - left) / length
        cx = left[:, None] + (np.arange(length)[None, :] + 0.5) * step[:, None] \
            + rng.uniform(-1, 1, (n, length)) * st.horizontal_jitter * self.xscale
        cy = self.height / 2 + rng.uniform(-1, 1, (n, length)) * st.vertical_jitter * s
        opacity = rng.uniform(*st.text_opacity, (n, length))
        jitter = rng.integers(0, st.color_jitter + 1, (n, length, 3))
        base = np.array([[c.rgb for c in cs] for cs in colors], np.int64)
        rgb = np.where(base > 127, base - jitter, base + jitter)
        masks = [self._glyph_masks([t[slot] for t in texts], rng) for slot in range(length)]
        return [[(masks[slot][i], float(cx[i, slot]), float(cy[i, slot]), float(opacity[i, slot]),
                  tuple(rgb[i, slot].tolist())) for slot in range(length)] for i in range(n)]

    def _glyph_masks(self, chars: list[str], rng: np.random.Generator) -> list:
        """One glyph mask (a Pillow core image, "L", its own size) per character, each with its own face, size,
        shear and rotation."""
        st, s, n = self.style, self.scale, len(chars)
        chinese_face = _pick_many(self._chinese_cdf, rng, n)
        latin_draw = rng.random(n)
        chinese_size = rng.uniform(*st.chinese_height, n) * s / 0.88
        latin_cap = rng.uniform(*st.latin_cap_height, n) * s
        chinese_shear = np.tan(np.radians(rng.uniform(*st.chinese_shear_deg, n)))
        latin_shear = np.tan(np.radians(rng.uniform(-6, 6, n)))
        chinese_angle = rng.uniform(*st.chinese_rotation, n)
        latin_angle = rng.uniform(*st.latin_rotation, n)
        latin_stretch = rng.uniform(*st.latin_stretch, n)
        hollow = rng.random(n) < st.hollow_share
        strokes = np.maximum(1, np.round(rng.integers(st.outline_width[0], st.outline_width[1] + 1, n) * s)).astype(int)
        extruded = rng.random(n) < st.extrude_share
        fattened = rng.random(n) < st.fatten_share
        depth = np.round(rng.uniform(*st.extrude_offset, n) * s).astype(int)
        side = np.where(rng.random(n) < 0.5, -1, 1)
        masks = []
        for i, ch in enumerate(chars):
            chinese = charset.is_chinese(ch)
            if chinese:
                face, size, shear, angle = (self._chinese_faces[chinese_face[i]], chinese_size[i],
                                            chinese_shear[i], chinese_angle[i])
                is_hollow, stroke = False, 0
            else:
                face = self._latin_faces[self._latin_face(ch, float(latin_draw[i]))]
                size, shear, angle = latin_cap[i] / face.cap, latin_shear[i], latin_angle[i]
                is_hollow = bool(hollow[i])
                stroke = int(strokes[i]) if is_hollow else 0
            extrude = (int(side[i] * depth[i]), int(depth[i])) if stroke and extruded[i] else None
            # glyphs are rendered at a few cached sizes and scaled by at most ~8% in the affine step
            base_size = max(8, int(round(8 * 1.16 ** round(math.log(max(size, 8) / 8, 1.16)))))
            fatten = 0
            if stroke and fattened[i]:  # half a pixel heavier: drawn twice as large, fattened by one pixel
                fatten, base_size, stroke = 1, 2 * base_size, 2 * stroke
                extrude = extrude and (2 * extrude[0], 2 * extrude[1])
            key = (face, base_size, ch, is_hollow, stroke, extrude, fatten)
            base = self._glyph_cache.get(key)
            if base is None:
                if len(self._glyph_cache) >= GLYPH_CACHE_LIMIT:
                    self._glyph_cache.clear()
                base = self._glyph_cache[key] = _render_glyph(face, base_size, ch, is_hollow, stroke, extrude, fatten)
            stretch = 1.0 if chinese else float(latin_stretch[i])
            masks.append(_rotate_shear(pillow_core.core(base), float(angle), float(shear), size / base_size, stretch))
        return masks

    def _latin_face(self, ch: str, draw: float) -> int:
        """The index of the Latin face for ``ch`` given a uniform ``draw``: faces picked by weight
        among those that draw ``ch`` (as ``_pick`` does where every face draws every character)."""
        known = self._latin_cdfs.get(ch)
        if known is None:
            weights = [f.weight if not f.chars or ch in f.chars else 0.0 for f in self._latin_faces]
            known = self._latin_cdfs[ch] = (np.cumsum(_normalise(weights)), int(np.flatnonzero(weights)[-1]))
        cdf, last = known
        return min(int(np.searchsorted(cdf, draw, side="right")), last)

    def _draw_glyph(self, canvas, mask, cx: float, cy: float, opacity: float, rgb: tuple,
                    box: bool = True) -> tuple[int, int, int, int] | None:
        """Blends one glyph (core image) centred at (cx, cy) on ``canvas`` (a core image);
        returns the box of its solid pixels, clipped (None without ``box``)."""
        w, h = mask.size
        x0, y0 = int(round(cx - w / 2)), int(round(cy - h / 2))
        # resampling softens thin strokes: the table restores solid cores (and applies opacity)
        pillow_core.paste_colour(canvas, rgb, (x0, y0, x0 + w, y0 + h), pillow_core.point(mask, _edge_table(opacity)))
        if not box:
            return None
        box = pillow_core.bbox(pillow_core.point(mask, _SOLID_TABLE))
        if box is None:
            return (0, 0, 0, 0)
        return (max(x0 + box[0], 0), max(y0 + box[1], 0), min(x0 + box[2], self.width), min(y0 + box[3], self.height))

    def _lines_mask(self, rng) -> Image.Image | None:
        """Green noise lines, long (one end in each half, mostly), drawn 4x larger and reduced
        (anti-aliased); None when the picture has none."""
        count = _pick(self._line_count_cdf, rng)
        if count == 0:
            return None
        k = 4
        mask = Image.new("L", (self.width * k, self.height * k), 0)
        draw = ImageDraw.Draw(mask)
        x0 = rng.uniform(0, 0.6 * self.width, count) * k
        x1 = rng.uniform(0.4 * self.width, self.width, count) * k
        y0, y1 = rng.uniform(0, self.height, count) * k, rng.uniform(0, self.height, count) * k
        for j in range(count):
            draw.line([(x0[j], y0[j]), (x1[j], y1[j])], fill=255, width=int(k * 1.4))
        return mask.reduce(k)

    def _dots(self, images: np.ndarray, rng) -> None:
        lo, hi = self.style.dots
        n = len(images)
        counts = (rng.integers(lo, hi + 1, n) * self.scale * self.xscale).astype(np.int64)
        most = int(counts.max(initial=0))
        ys, xs = rng.integers(0, self.height, (n, most)), rng.integers(0, self.width, (n, most))
        values = rng.integers(0, 256, (n, most, 3), dtype=np.uint8)
        keep = np.arange(most)[None, :] < counts[:, None]
        pic = np.broadcast_to(np.arange(n)[:, None], (n, most))
        images[pic[keep], ys[keep], xs[keep]] = values[keep]


LINE_GREEN = (0, 255, 0)

#: glyph masks before the affine step, by (face, base size, character, hollow, stroke, extrude,
#: fatten): nothing in the key depends on the picture size or style, so one process's renderers
#: share it and warm it together (about 170,000 masks and 0.9 GB after two minutes of training
#: batches). Emptied when it reaches the limit, so that hours of training stay within memory.
_GLYPH_CACHE: dict = {}
GLYPH_CACHE_LIMIT = 250_000

_EDGE_LUT = np.clip((np.arange(256, dtype=np.float32) - 30) * (255 / 130), 0, 255)
_SOLID_TABLE = [255 if v > 96 else 0 for v in _EDGE_LUT]  # the solid core of a glyph
_EDGE_TABLES: dict[int, list[int]] = {}


def _edge_table(opacity: float) -> list[int]:
    """Mask value -> alpha: edges sharpened, scaled by the opacity (in steps of 1%)."""
    key = int(round(opacity * 100))
    table = _EDGE_TABLES.get(key)
    if table is None:
        table = _EDGE_TABLES[key] = [int(v) for v in (_EDGE_LUT * (key / 100)).astype(np.uint8)]
    return table


def _render_glyph(face, size: int, ch: str, hollow: bool, stroke: int,
                  extrude: tuple[int, int] | None = None, fatten: int = 0) -> Image.Image:
    """One glyph mask: solid, or hollow (the outline only), optionally extruded: the outline
    repeated ``extrude`` (dx, dy) pixels away, where the front glyph does not cover it. ``fatten``
    (hollow glyphs only) first fattens the glyph by that many pixels all round, so the outline
    runs further out, counters shrink and gaps narrow, as in the real comic face."""
    font = fonts.load(face, size)
    pad = 2
    if not hollow:  # the glyph's own mask, framed by the pad (what draw.text would draw, one layout less)
        core, _ = font.getmask2(ch, "L")
        w, h = core.size
        im = Image.new("L", (w + 2 * pad, h + 2 * pad), 0)
        pillow_core.paste(pillow_core.core(im), core, (pad, pad, pad + w, pad + h))
        return im
    x0, y0, x1, y1 = font.getbbox(ch, stroke_width=stroke + fatten)
    dx, dy = extrude or (0, 0)
    frame = (x1 - x0 + 2 * pad + abs(dx), y1 - y0 + 2 * pad + abs(dy))
    ox, oy = pad - x0 + max(-dx, 0), pad - y0 + max(-dy, 0)

    def outline(x: int, y: int) -> Image.Image:
        ring = Image.new("L", frame, 0)
        if not fatten:  # the stroke around the glyph, its inside left empty
            ImageDraw.Draw(ring).text((x, y), ch, font=font, fill=0, stroke_width=stroke, stroke_fill=255)
            return ring
        ImageDraw.Draw(ring).text((x, y), ch, font=font, fill=255, stroke_width=stroke + fatten, stroke_fill=255)
        return ImageChops.subtract(ring, filled(x, y, fatten))

    def filled(x: int, y: int, width: int) -> Image.Image:
        im = Image.new("L", frame, 0)
        ImageDraw.Draw(im).text((x, y), ch, font=font, fill=255, stroke_width=width, stroke_fill=255)
        return im

    im = outline(ox, oy)
    if extrude:
        back, front = outline(ox + dx, oy + dy), filled(ox, oy, stroke + fatten)
        im.paste(255, (0, 0), ImageChops.multiply(back, ImageChops.invert(front)))
    return im


def _rotate_shear(mask, angle_deg: float, shear: float, scale: float, stretch: float = 1.0):
    """Stretch sideways, shear to the right (top leans right), rotate and scale, about the centre.
    ``mask`` and the result are Pillow core images ("L"; ``pillow_core.affine``)."""
    w, h = mask.size
    a = math.radians(angle_deg)
    cos, sin = math.cos(a), math.sin(a)
    # forward map M = scale * R @ [[1, -shear], [0, 1]] @ [[stretch, 0], [0, 1]]
    m00, m01 = scale * cos * stretch, scale * (-cos * shear - sin)
    m10, m11 = scale * sin * stretch, scale * (-sin * shear + cos)
    hw, hh = w / 2, h / 2
    ow = int(math.ceil(2 * (abs(m00) * hw + abs(m01) * hh))) + 1
    oh = int(math.ceil(2 * (abs(m10) * hw + abs(m11) * hh))) + 1
    det = m00 * m11 - m01 * m10
    i00, i01, i10, i11 = m11 / det, -m01 / det, -m10 / det, m00 / det
    ox, oy = ow / 2, oh / 2
    coeffs = (i00, i01, hw - (i00 * ox + i01 * oy), i10, i11, hh - (i10 * ox + i11 * oy))
    return pillow_core.affine(mask, (ow, oh), coeffs)


def _pick_many(cdf: np.ndarray, rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` indices drawn with the probabilities whose cumulative sums are ``cdf``."""
    return np.minimum(np.searchsorted(cdf, rng.random(n), side="right"), len(cdf) - 1)


def _pick(cdf: np.ndarray, rng: np.random.Generator) -> int:
    """One index, as ``_pick_many(cdf, rng, 1)[0]`` (the same draw), without array overhead:
    it runs a few times per picture."""
    return min(int(np.searchsorted(cdf, rng.random(), side="right")), len(cdf) - 1)


def _normalise(weights) -> np.ndarray:
    w = np.asarray(weights, dtype=np.float64)
    return w / w.sum()
