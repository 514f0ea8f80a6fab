"""Colours, colour transforms and the shared preprocessing (no grpc, no TensorFlow)."""
import io

import numpy as np
import pytest
from PIL import Image

from captcha_core.colors import ALL_COLORS, Color
from captcha_core.preprocess import ImageLimits, InvalidImage, decode, resize
from captcha_core.transforms import between, from_red, to_red
from tests.fakes import solid_png


def picture_of(rgb):
    return np.array([[rgb]], np.uint8)


@pytest.mark.parametrize("color", ALL_COLORS)
def test_each_colour_becomes_red_and_back(color):
    moved = to_red(picture_of(color.rgb), color)
    assert tuple(moved[0, 0]) == (255, 0, 0)
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (35, 90, 3), dtype=np.uint8)
    assert np.array_equal(from_red(to_red(img, color), color), img)


def test_between_moves_one_colour_to_another():
    assert tuple(between(picture_of(Color.BLUE.rgb), Color.BLUE, Color.YELLOW)[0, 0]) == Color.YELLOW.rgb
    assert tuple(between(picture_of(Color.RED.rgb), Color.RED, Color.BLACK)[0, 0]) == Color.BLACK.rgb


def test_transforms_do_not_modify_their_input():
    img = np.full((2, 2, 3), 7, np.uint8)
    for color in ALL_COLORS:
        to_red(img, color)
    assert (img == 7).all()


@pytest.mark.parametrize("text,expected", [("red", Color.RED), ("RED", Color.RED), ("01", Color.RED),
                                           ("00", Color.BLACK), ("blue", Color.BLUE), ("03", Color.BLUE),
                                           ("02", Color.YELLOW), (" Black ", Color.BLACK)])
def test_colour_names_and_key4(text, expected):
    assert Color.parse(text) is expected


@pytest.mark.parametrize("text", ["green", "b", "B", "U", "R", "1", ""])
def test_unknown_colour_is_refused_with_the_choices(text):
    # one-letter codes are the generator's label alphabet, not a caller's: "b" would be ambiguous
    with pytest.raises(ValueError, match="red/01"):
        Color.parse(text)


def encoded(fmt, size=(90, 35)):
    buf = io.BytesIO()
    Image.new("RGB", size, (200, 100, 50)).save(buf, format=fmt)
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "BMP"])
def test_accepted_formats_decode_to_rgb(fmt):
    img = decode(encoded(fmt))
    assert img.shape == (35, 90, 3) and img.dtype == np.uint8


def test_rgba_and_palette_pictures_become_rgb():
    buf = io.BytesIO()
    Image.new("RGBA", (90, 35), (1, 2, 3, 128)).save(buf, format="PNG")
    assert decode(buf.getvalue()).shape == (35, 90, 3)


@pytest.mark.parametrize("data,message", [
    (b"", "empty"),
    (b"not a picture at all", "could not be decoded"),
    (solid_png()[:60], "could not be decoded"),
    (b"\0" * 300_000, "above the limit"),
    (encoded("TIFF", (90, 35)), "accepted formats are PNG, JPEG, GIF, BMP"),
])
def test_bad_bytes_are_refused_with_a_clear_message(data, message):
    with pytest.raises(InvalidImage, match=message):
        decode(data)


def test_unreasonable_dimensions_are_refused_before_decoding():
    with pytest.raises(InvalidImage, match="accepted sizes"):
        decode(encoded("PNG", (4000, 10)))
    with pytest.raises(InvalidImage, match="accepted sizes"):
        decode(encoded("PNG", (5, 5)))


def test_decompression_bomb_is_refused():
    buf = io.BytesIO()
    Image.new("1", (20000, 20000)).save(buf, format="PNG")  # tiny file, 400 M pixels
    assert len(buf.getvalue()) < 256 * 1024
    with pytest.raises(InvalidImage):
        decode(buf.getvalue(), ImageLimits(max_width=100000, max_height=100000))


def test_resize_gives_the_model_input_size_and_keeps_colour():
    img = decode(solid_png((255, 0, 0), (120, 50)))
    out = resize(img, 100, 40)
    assert out.shape == (40, 100, 3) and tuple(out[20, 50]) == (255, 0, 0)
    assert resize(decode(solid_png()), 100, 40).shape == (40, 100, 3)


def test_moved_views_repeat_the_edge_and_keep_the_size():
    from captcha_core.views import SHIFTS, shifted, views
    img = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)
    right = shifted(img, 1, 0)
    assert right.shape == img.shape and (right[:, 1:] == img[:, :-1]).all() and (right[:, 0] == img[:, 0]).all()
    up = shifted(img, 0, -1)
    assert (up[:-1] == img[1:]).all() and (up[-1] == img[-1]).all()
    both = shifted(img, -1, 1)
    assert (both[1:, :-1] == img[:-1, 1:]).all()
    seen = views(img, len(SHIFTS))
    assert seen[0] is img and len(seen) == 9 and len({v.tobytes() for v in seen}) == 9
    assert len(views(img, 3)) == 3
    with pytest.raises(ValueError):
        views(img, 0)
    with pytest.raises(ValueError):
        shifted(img, 5, 0)


def test_vote_takes_the_majority_then_the_confidence_then_the_surest_reading():
    from captcha_core.views import vote
    assert vote([("AB", 0.99), ("CD", 0.4), ("cd", 0.3)]) == (1, 2)  # two weak readings outvote one sure one
    assert vote([("AB", 0.6), ("CD", 0.7)]) == (1, 1)  # a tie: the larger confidence
    assert vote([("AB", 0.2), ("XY", 0.3), ("AB", 0.5), ("XY", 0.3)]) == (2, 2)  # tie on counts: sums 0.7 > 0.6
    assert vote([("", 0.5)]) == (0, 1)
    with pytest.raises(ValueError):
        vote([])


def test_second_look_stages_and_when_the_first_is_enough():
    from captcha_core.views import settled, stages
    assert stages(9) == [range(3), range(3, 9)] and stages(5) == [range(3), range(3, 5)]
    assert stages(3) == [range(3)] and stages(1) == [range(1)]
    assert settled(5, 6) and not settled(4, 6) and settled(3, 3) and not settled(2, 3) and settled(1, 1)
