"""Tuning knobs of the synthetic captcha, as measured on the real pictures.

Every range is a little wider than what the real pictures show (domain randomisation), so
that a model trained on these pictures also reads captchas drawn a little differently.
Lengths are in pixels of a 90x35 picture; the renderer scales them to the picture size.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from .fonts import CURLED_LATIN_FACES, Face

# (band, outside) background pairs measured on real pictures (captcha spec).
MEASURED_BACKGROUNDS = (
    ((221, 163, 138), (213, 212, 206)), ((164, 218, 198), (225, 249, 210)),
    ((100, 147, 220), (221, 230, 228)), ((141, 206, 187), (230, 228, 230)),
    ((128, 111, 246), (207, 227, 216)), ((182, 186, 204), (242, 200, 246)),
    ((126, 126, 186), (207, 247, 219)), ((169, 171, 207), (232, 207, 219)),
    ((234, 199, 146), (240, 227, 220)), ((233, 231, 190), (214, 215, 221)),
)


@dataclass(frozen=True)
class Style:
    # -- text --------------------------------------------------------------------------
    #: probability of 0, 1, 2, 3 (, ...) Chinese characters (real: 72/11/10/7 %)
    chinese_shares: tuple[float, ...] = (0.72, 0.11, 0.10, 0.07)
    #: probability that all six characters are black (the key4 "00" picture)
    all_black_share: float = 0.10
    #: of the other pictures, the share where one colour gets a chosen count 1..6
    focus_share: float = 0.55
    # -- glyph geometry (90x35 pixels) ------------------------------------------------
    latin_cap_height: tuple[float, float] = (9.5, 13.5)
    chinese_height: tuple[float, float] = (12.0, 17.0)
    latin_rotation: tuple[float, float] = (-35.0, 35.0)
    #: sideways stretch of Latin glyphs: the real comic face is wider than most fonts here
    latin_stretch: tuple[float, float] = (0.95, 1.3)
    chinese_rotation: tuple[float, float] = (-20.0, 20.0)
    chinese_shear_deg: tuple[float, float] = (5.0, 18.0)
    hollow_share: float = 0.9
    #: share of hollow glyphs drawn as the real face's extruded outline: a second outline
    #: offset down and sideways, hidden behind the front glyph
    extrude_share: float = 0.5
    extrude_offset: tuple[float, float] = (1.0, 2.2)
    outline_width: tuple[int, int] = (1, 1)
    #: share of hollow glyphs fattened by half a pixel before outlining: the real comic face is
    #: heavier than the bold faces here (narrow gaps in C and S, small counters)
    fatten_share: float = 0.35
    vertical_jitter: float = 3.5
    horizontal_jitter: float = 2.0
    margin_left: tuple[float, float] = (1.0, 9.0)
    margin_right: tuple[float, float] = (1.0, 9.0)
    color_jitter: int = 12
    text_opacity: tuple[float, float] = (0.85, 1.0)
    # -- background ----------------------------------------------------------------------
    measured_background_share: float = 0.5
    band_center: tuple[float, float] = (15.5, 19.5)
    band_thickness: tuple[float, float] = (31.0, 41.0)
    band_amplitude: tuple[float, float] = (0.0, 5.0)
    band_period: tuple[float, float] = (60.0, 300.0)
    band_tilt: tuple[float, float] = (-0.25, 0.25)
    steep_tilt_share: float = 0.12
    # -- noise -------------------------------------------------------------------------
    line_count_shares: tuple[float, ...] = (0.15, 0.45, 0.4)
    lines_over_text_share: float = 0.8
    dots: tuple[int, int] = (40, 100)
    blur_share: float = 0.15
    blur_radius: tuple[float, float] = (0.3, 0.7)
    # -- faces ---------------------------------------------------------------------------
    #: Latin faces drawn besides ``fonts.LATIN_FACES`` (where installed): none in the measured
    #: style, so that adding faces to training does not redraw the frozen evaluation sets
    added_latin_faces: tuple[Face, ...] = ()
    extra: dict = field(default_factory=dict)


#: What the real platform draws; evaluation sets use it.
REAL = Style()
#: Training style: more pictures with Chinese, since Chinese is the slow part to learn.
#: Up to six Chinese characters (the platform draws at most three) so that each picture teaches
#: 2.75 Chinese glyphs on average: the 3,565 Chinese classes need far more examples than Latin.
TRAINING = Style(chinese_shares=(0.15, 0.15, 0.15, 0.2, 0.15, 0.1, 0.1), added_latin_faces=CURLED_LATIN_FACES)
#: Another renderer of the same specification may draw differently from what we measured: glyphs
#: as tall as the spec's "15-20 px", rotations up to the +-45 degrees other generators use, more
#: solid Latin glyphs and more noise dots. With the platform's shares of Chinese: the robustness
#: evaluation set. Mixed into training as domain randomisation beyond the measurements.
WIDER = replace(REAL, latin_cap_height=(11.0, 17.0), chinese_height=(13.0, 20.0),
                latin_rotation=(-45.0, 45.0), chinese_rotation=(-35.0, 35.0),
                chinese_shear_deg=(0.0, 20.0), hollow_share=0.75, dots=(30, 150))
#: In training the wider style also turns Latin glyphs up to 60 degrees: the real pictures show
#: glyphs turned further than the measured +-35 (569e's C opens upwards and was read as U), and
#: a model trained to +-45 reads 20% of pictures turned 50-70 degrees. Not to 90: a C turned a
#: quarter is a U.
WIDER_TRAINING = replace(WIDER, chinese_shares=TRAINING.chinese_shares, latin_rotation=(-60.0, 60.0),
                         added_latin_faces=CURLED_LATIN_FACES)
