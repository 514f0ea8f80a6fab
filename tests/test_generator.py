"""The synthetic captcha generator: determinism, labels, sizes, character sets and shares."""
import json
from collections import Counter

import numpy as np
import pytest

from captcha_core.colors import ALL_COLORS, Color
from training.synth import charset
from training.synth.generate import main as generate_main
from training.synth.render import CaptchaRenderer
from training.synth.style import REAL


@pytest.fixture(scope="module")
def samples():
    renderer = CaptchaRenderer(90, 35, REAL)
    rng = np.random.default_rng(123)
    return [renderer.render(rng) for _ in range(2500)]


def test_same_seed_gives_byte_identical_files(tmp_path):
    for out in ("a", "b"):
        generate_main(["--size", "90x35", "--count", "15", "--seed", "77", "--out", str(tmp_path / out)])
    for f in sorted((tmp_path / "a").iterdir()):
        assert f.read_bytes() == (tmp_path / "b" / f.name).read_bytes(), f.name


def test_other_seed_gives_other_pictures(tmp_path):
    generate_main(["--count", "5", "--seed", "1", "--out", str(tmp_path / "a")])
    generate_main(["--count", "5", "--seed", "2", "--out", str(tmp_path / "b")])
    assert (tmp_path / "a" / "000000.png").read_bytes() != (tmp_path / "b" / "000000.png").read_bytes()


@pytest.mark.parametrize("size,shape", [("90x35", (35, 90, 3)), ("120x50", (50, 120, 3))])
def test_labels_file_and_sizes(tmp_path, size, shape):
    from PIL import Image
    generate_main(["--size", size, "--count", "12", "--seed", "5", "--out", str(tmp_path)])
    rows = [json.loads(line) for line in (tmp_path / "labels.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 12
    for row in rows:
        im = Image.open(tmp_path / row["file"])
        assert im.mode == "RGB" and np.asarray(im).shape == shape
        assert len(row["text"]) == 6 and len(row["colors"]) == 6 and set(row["colors"]) <= set("RUYB")
        for color in ALL_COLORS:
            expected = "".join(ch for ch, c in zip(row["text"], row["colors"]) if c == color.letter)
            assert row["answers"][color.label] == expected


def test_character_sets_and_chinese_first(samples):
    chinese = set(charset.chinese())
    for s in samples:
        n = sum(charset.is_chinese(c) for c in s.text)
        assert len(s.text) == 6 and n <= 3
        assert all(c in chinese for c in s.text[:n])
        assert all(c in charset.LATIN_DRAWN for c in s.text[n:])
    drawn = {c for s in samples for c in s.text if not charset.is_chinese(c)}
    assert not drawn & {"0", "1", "O"}


def test_shares_within_tolerance(samples):
    n = len(samples)
    chinese_counts = Counter(sum(charset.is_chinese(c) for c in s.text) for s in samples)
    for k, share in enumerate(REAL.chinese_shares):
        assert abs(chinese_counts[k] / n - share) < 0.03, (k, chinese_counts[k] / n)
    all_black = sum(all(c is Color.BLACK for c in s.colors) for s in samples) / n
    assert abs(all_black - REAL.all_black_share) < 0.03
    for color in ALL_COLORS:
        lengths = Counter(len(s.answer(color)) for s in samples)
        for length in range(1, 7):
            assert lengths[length] >= 0.01 * n, (color, length, lengths)


def nearest_pure(pixels):
    refs = np.array([c.rgb for c in ALL_COLORS], np.float32)
    d = np.linalg.norm(pixels[:, None, :].astype(np.float32) - refs[None], axis=2)
    nearest = d.argmin(1)
    return nearest[d.min(1) < 60]


def test_each_answer_really_has_its_colour_in_the_picture(samples):
    """Pixel statistics per glyph box: the labelled colour is drawn there, absent colours nowhere."""
    glyphs = drawn = pictures = clean = 0
    for s in samples[:400]:
        counts = np.bincount(nearest_pure(s.image.reshape(-1, 3)), minlength=4)
        for i, color in enumerate(ALL_COLORS):
            if color not in s.colors:
                pictures += 1
                clean += counts[i] <= 5  # a few noise dots may land near a pure colour
        for (x0, y0, x1, y1), color in zip(s.boxes, s.colors):
            votes = np.bincount(nearest_pure(s.image[y0:y1, x0:x1].reshape(-1, 3)), minlength=4)
            glyphs += 1
            drawn += votes[ALL_COLORS.index(color)] >= 3
    assert glyphs == 2400 and pictures > 300
    assert drawn / glyphs > 0.93, drawn / glyphs  # the rest: glyphs clipped at the border or covered
    assert clean / pictures > 0.97, clean / pictures


def test_background_is_two_colours_with_the_outside_at_the_origin():
    from dataclasses import replace
    quiet = replace(REAL, dots=(0, 0), line_count_shares=(1.0,), blur_share=0.0)
    renderer = CaptchaRenderer(90, 35, quiet)
    band, outside, inside = renderer._backgrounds(40, np.random.default_rng(9))
    assert band.min() >= 100 and outside.min() >= 100
    assert set(np.unique(inside)) <= {0, 255} and (inside[:, 0, 0] == 0).all()
    assert 0.2 < (inside == 255).mean() < 0.95  # a band, and outside around it


def test_batches_are_seeded_and_sized():
    renderer = CaptchaRenderer(120, 50, REAL)
    one = renderer.render_batch(9, np.random.default_rng(31))
    two = renderer.render_batch(9, np.random.default_rng(31))
    assert len(one) == 9 and renderer.render_batch(0, np.random.default_rng(1)) == []
    for a, b in zip(one, two):
        assert a.text == b.text and a.colors == b.colors and np.array_equal(a.image, b.image)
        assert a.image.shape == (50, 120, 3) and len(a.boxes) == 6
    assert len({s.text for s in one}) == 9


def test_training_batches_teach_every_head_or_the_red_head_through_a_transform():
    from training.fit.data import HEAD_ORDER, RED_HEAD, FeedConfig, make_batch, make_renderers
    from training.net.encoding import Alphabet
    alphabet = Alphabet(charset.vocabulary())
    cfg = FeedConfig(batch_size=48)
    images, labels, weights = make_batch(make_renderers(cfg), alphabet, cfg, np.random.default_rng(4))
    assert images.shape == (48, 40, 100, 3) and labels.shape == (48, len(HEAD_ORDER), 6)
    plain = weights.sum(1) == len(HEAD_ORDER)
    transformed = (weights.sum(1) == 1) & (weights[:, RED_HEAD] == 1)
    assert (plain | transformed).all() and plain.any() and transformed.any()
    for i in np.flatnonzero(plain):  # the heads' answers split the six characters between them
        assert sum(int((labels[i, h] >= 0).sum()) for h in range(len(HEAD_ORDER))) == 6


def _same_drawing(a, b) -> bool:
    """The same ink at the same place in the frame. The frames may differ by a pixel on the right
    or at the bottom: for some faces the two layouts round the glyph's advance differently, which
    moves the box's far edge but not one pixel of ink."""
    box = a.getbbox()
    return (box == b.getbbox() and a.crop(box).tobytes() == b.crop(box).tobytes()
            and abs(a.width - b.width) <= 1 and abs(a.height - b.height) <= 1)


@pytest.mark.skipif(not __import__("PIL.features").features.check("raqm"), reason="Pillow built without raqm")
def test_fast_glyph_path_draws_what_pillow_text_drawing_draws(monkeypatch):
    """The generator loads fonts with the basic layout and renders solid glyphs from the font's
    own mask: the pixels must be those of ImageDraw.text with the shaping (raqm) layout, for
    solid, hollow, extruded and fattened glyphs alike."""
    from PIL import Image, ImageDraw, ImageFont

    from training.synth import charset, fonts
    from training.synth.render import _render_glyph

    def shaped(face, size):
        return ImageFont.truetype(fonts._resolve(face.file), size, index=face.index, layout_engine=ImageFont.Layout.RAQM)

    chinese_faces, latin_faces = fonts.require_fonts()
    fast = {}
    for face in chinese_faces:
        for size, ch in ((14, "票"), (19, "税"), (23, "忝")):
            font = shaped(face, size)
            x0, y0, x1, y1 = font.getbbox(ch)
            expected = Image.new("L", (x1 - x0 + 4, y1 - y0 + 4), 0)
            ImageDraw.Draw(expected).text((2 - x0, 2 - y0), ch, font=font, fill=255)
            got = _render_glyph(face, size, ch, hollow=False, stroke=0)
            assert _same_drawing(got, expected), (face.file, size, ch)
    cases = [(face, size, ch, hollow, extrude, bold) for face in latin_faces for size in (13, 21)
             for ch in charset.LATIN_DRAWN[::3]
             for hollow, extrude, bold in ((False, None, 0), (True, None, 0), (True, (-2, 2), 0), (True, (2, 2), 1))]
    for face, size, ch, hollow, extrude, bold in cases:
        fast[face, size, ch, hollow, extrude, bold] = _render_glyph(face, size, ch, hollow, int(hollow), extrude, bold)
    monkeypatch.setattr(fonts, "load", shaped)
    for face, size, ch, hollow, extrude, bold in cases:
        shaped_glyph = _render_glyph(face, size, ch, hollow, int(hollow), extrude, bold)
        assert _same_drawing(fast[face, size, ch, hollow, extrude, bold], shaped_glyph), (face.file, size, ch, hollow)


def test_fattened_outline_runs_outside_the_plain_one_and_keeps_the_counter():
    """A fattened hollow glyph: its outline lies a pixel further out than the plain outline all
    round, leaves the glyph's own body empty, and an O keeps its hole."""
    import numpy as np

    from training.synth import fonts
    from training.synth.render import _render_glyph

    face = fonts.require_fonts()[1][0]
    plain = np.asarray(_render_glyph(face, 40, "O", True, 2, None, 0)) > 127
    heavy = np.asarray(_render_glyph(face, 40, "O", True, 2, None, 1)) > 127
    body = np.asarray(_render_glyph(face, 40, "O", False, 0)) > 127  # the solid glyph, framed by 2 px
    assert heavy.shape == (plain.shape[0] + 2, plain.shape[1] + 2)
    ys, xs = np.nonzero(plain)
    hy, hx = np.nonzero(heavy)
    assert (hy.min(), hx.min()) == (ys.min(), xs.min())  # both frames keep a 2 px pad
    assert (hy.max() - hy.min(), hx.max() - hx.min()) == (ys.max() - ys.min() + 2, xs.max() - xs.min() + 2)
    # the solid body sits 3 px (2 of stroke, 1 of fattening) inside the heavy frame's ink box
    by, bx = np.nonzero(body)
    inner = heavy[by - by.min() + hy.min() + 3, bx - bx.min() + hx.min() + 3]
    assert inner.mean() < 0.02
    assert not heavy[heavy.shape[0] // 2, heavy.shape[1] // 2]  # the counter is still open


def test_training_batches_split_between_the_four_renderers_as_configured():
    from training.fit.data import FeedConfig, make_batch
    from training.net.encoding import Alphabet

    class Counting:
        def __init__(self, inner):
            self.inner, self.asked = inner, 0

        def render_batch(self, n, rng, boxes=True):
            self.asked += n
            return self.inner.render_batch(n, rng, boxes)

    small, large = CaptchaRenderer(90, 35, REAL), CaptchaRenderer(120, 50, REAL)
    alphabet = Alphabet(charset.vocabulary())
    for large_share, wider_share, which in ((0, 0, 0), (1, 0, 1), (0, 1, 2), (1, 1, 3)):
        renderers = [Counting(small), Counting(large), Counting(small), Counting(large)]
        cfg = FeedConfig(batch_size=8, large_share=large_share, wider_share=wider_share)
        make_batch(renderers, alphabet, cfg, np.random.default_rng(1))
        assert [r.asked for r in renderers] == [8 if i == which else 0 for i in range(4)]


def test_wider_style_draws_larger_glyphs():
    from training.synth.style import WIDER

    def mean_glyph_height(style):
        samples = CaptchaRenderer(90, 35, style).render_batch(300, np.random.default_rng(9))
        return np.mean([y1 - y0 for s in samples for (_, y0, _, y1) in s.boxes if y1 > y0])

    real, wider = mean_glyph_height(REAL), mean_glyph_height(WIDER)
    assert wider > real + 1.0, (real, wider)


def test_faces_added_in_training_draw_only_their_characters_and_leave_the_measured_style_alone():
    from dataclasses import replace

    from training.synth import fonts
    from training.synth.style import TRAINING
    installed = fonts.available(fonts.LATIN_FACES)
    real = CaptchaRenderer(90, 35, REAL)
    assert real._latin_faces == installed  # the frozen sets' faces: nothing added
    only_c = fonts.Face(installed[0].file, installed[0].index, weight=3.0, chars="C")
    renderer = CaptchaRenderer(90, 35, replace(TRAINING, added_latin_faces=(only_c,)))
    assert renderer._latin_faces == installed + (only_c,)
    added = len(installed)
    draws = np.random.default_rng(0).random(4000)
    for ch in "SUG8":
        assert added not in {renderer._latin_face(ch, float(d)) for d in draws}
        # the other characters pick among the same faces with the same draws as before
        assert [renderer._latin_face(ch, float(d)) for d in draws[:200]] == \
            [real._latin_face(ch, float(d)) for d in draws[:200]]
    share = np.mean([renderer._latin_face("C", float(d)) == added for d in draws])
    expected = 3.0 / (3.0 + sum(f.weight for f in installed))
    assert abs(share - expected) < 0.03, (share, expected)
    # a draw at the top end (rounding) lands on the last face that draws the character
    assert renderer._latin_face("C", 1.0) == added and renderer._latin_face("S", 1.0) == added - 1


def test_pictures_without_boxes_are_the_same_pictures():
    renderer = CaptchaRenderer(90, 35, REAL)
    with_boxes = renderer.render_batch(12, np.random.default_rng(8))
    without = renderer.render_batch(12, np.random.default_rng(8), boxes=False)
    assert all(np.array_equal(a.image, b.image) and a.text == b.text for a, b in zip(with_boxes, without))
    assert all(len(a.boxes) == 6 and b.boxes == () for a, b in zip(with_boxes, without))


def test_glyph_cache_is_emptied_at_its_limit_and_draws_the_same(monkeypatch):
    import training.synth.render as render
    renderer = CaptchaRenderer(90, 35, REAL)
    first = renderer.render_batch(6, np.random.default_rng(21))
    monkeypatch.setattr(render, "GLYPH_CACHE_LIMIT", 5)
    render._GLYPH_CACHE.clear()
    again = renderer.render_batch(6, np.random.default_rng(21))
    assert 0 < len(render._GLYPH_CACHE) <= 5
    assert all(np.array_equal(a.image, b.image) for a, b in zip(first, again))


def test_held_out_faces_are_never_drawn_by_training_in_their_role():
    """The held-out-faces evaluation set and the feedback simulation draw faces that training
    never draws in the same role (Chinese or Latin)."""
    from training.synth.fonts import CHINESE_FACES, CURLED_LATIN_FACES, HELD_OUT_FACES, LATIN_FACES
    held_chinese, held_latin = HELD_OUT_FACES
    assert not {f.file for f in held_chinese} & {f.file for f in CHINESE_FACES}
    assert not {f.file for f in held_latin} & {f.file for f in LATIN_FACES + CURLED_LATIN_FACES}


def test_the_core_calls_do_what_the_public_calls_do_on_this_pillow():
    """``training.synth.pillow_core`` skips Pillow's Python layer: each call must still give the
    public method's pixels, or a Pillow upgrade would silently redraw every set."""
    from PIL import Image

    from training.synth import pillow_core as pc
    rng = np.random.default_rng(7)
    mask = Image.fromarray((rng.random((35, 90)) * 255).astype(np.uint8), "L")
    glyph = Image.fromarray((rng.random((30, 24)) * 255).astype(np.uint8), "L")
    table = [min(255, 2 * v) for v in range(256)]

    def pixels(im):
        return np.asarray(im if isinstance(im, Image.Image) else Image.Image()._new(im))

    ours, theirs = Image.new("RGB", (90, 35), (200, 190, 180)), Image.new("RGB", (90, 35), (200, 190, 180))
    pc.paste_colour(pc.core(ours), (10, 20, 30), (0, 0, 90, 35), pc.core(mask))
    theirs.paste((10, 20, 30), (0, 0, 90, 35), mask)
    pc.paste_colour(pc.core(ours), (1, 2, 3), (5, 2, 29, 32), pc.point(pc.core(glyph), table))
    theirs.paste((1, 2, 3), (5, 2, 29, 32), glyph.point(table))
    assert np.array_equal(pixels(ours), pixels(theirs))
    assert np.array_equal(pixels(pc.point(pc.core(glyph), table)), pixels(glyph.point(table)))
    assert pc.bbox(pc.core(glyph)) == glyph.getbbox(alpha_only=False)
    coeffs = (0.9, 0.2, 1.5, -0.1, 0.95, 2.0)
    assert np.array_equal(pixels(pc.affine(pc.core(glyph), (32, 33), coeffs)),
                          pixels(glyph.transform((32, 33), Image.Transform.AFFINE, coeffs, Image.Resampling.BILINEAR)))
    framed_ours, framed_theirs = Image.new("L", (30, 36), 0), Image.new("L", (30, 36), 0)
    pc.paste(pc.core(framed_ours), pc.core(glyph), (3, 3, 27, 33))
    framed_theirs.paste(glyph, (3, 3, 27, 33))
    assert np.array_equal(pixels(framed_ours), pixels(framed_theirs))
