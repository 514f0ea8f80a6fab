"""Font faces the generator draws with, found on the machine and cached per size."""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from PIL import ImageFont

FONT_DIRS = ("/usr/share/fonts",)
#: a folder made by ``training.synth.fontpack``: each face cut down to the characters drawn, for a
#: machine without the font packages (the accelerator machine). Looked up before FONT_DIRS.
PACK_ENV = "CAPTCHA_FONT_PACK"


@dataclass(frozen=True)
class Face:
    file: str
    index: int = 0
    weight: float = 1.0  # relative sampling weight
    cap: float = 0.72  # height of a capital letter, in em (Latin faces are sized by it)
    chars: str = ""  # the Latin characters the face is drawn for ("": all)


# Song/Ming faces first: the platform draws Chinese in a SimSun-like face. Hei and Kai
# faces are there for domain randomisation, with lower weight.
CHINESE_FACES = (
    Face("arphic/uming.ttc", 0, 3.0),
    Face("arphic-gbsn00lp/gbsn00lp.ttf", 0, 3.0),
    Face("noto/NotoSerifCJK-Regular.ttc", 2, 3.0),
    Face("noto/NotoSerifCJK-Bold.ttc", 2, 0.7),
    Face("noto/NotoSansCJK-Regular.ttc", 2, 1.0),
    Face("wqy/wqy-microhei.ttc", 0, 0.7),
    Face("wqy/wqy-zenhei.ttc", 0, 0.5),
    Face("arphic/ukai.ttc", 0, 0.6),
    Face("arphic-gkai00mp/gkai00mp.ttf", 0, 0.5),
)

# Bold, round faces for the hollow Latin glyphs. The platform's is a heavy comic face: the two
# comic faces (uneven strokes, round C, S and G) come first.
LATIN_FACES = (
    Face("humor-sans/Humor-Sans.ttf", 0, 2.5, cap=0.60),
    Face("comic-neue/ComicNeue-Bold.otf", 0, 2.0, cap=0.69),
    Face("dejavu/DejaVuSans-Bold.ttf", 0, 2.0),
    Face("dejavu/DejaVuSansCondensed-Bold.ttf", 0, 1.0),
    Face("dejavu/DejaVuSerif-Bold.ttf", 0, 0.6),
    Face("urw-base35/URWGothic-Demi.otf", 0, 1.5),
    Face("urw-base35/URWBookman-Demi.otf", 0, 1.5),
    Face("urw-base35/NimbusSans-Bold.otf", 0, 1.5),
    Face("urw-base35/C059-Bold.otf", 0, 0.8),
    Face("urw-base35/P052-Bold.otf", 0, 0.8),
    Face("urw-base35/NimbusSans-BoldItalic.otf", 0, 0.6),
    Face("freefont/FreeSansBold.ttf", 0, 1.0),
    Face("liberation/LiberationSans-Bold.ttf", 0, 1.0),
    Face("noto/NotoSansCJK-Bold.ttc", 2, 1.0),
    Face("wqy/wqy-microhei.ttc", 0, 0.5),
)


# Drawn in training only (``Style.added_latin_faces``), so the frozen evaluation sets keep their
# pictures. The real comic face curls the top terminal of C back in (read as U by models that
# never saw a curled C): Leckerli One, a script face, draws C so, and draws only C here (a fifth
# of the Cs); Reggae One is heavy and round like the real face and draws everything.
CURLED_LATIN_FACES = (
    Face("leckerli-one/LeckerliOne-Regular.ttf", 0, 5.0, cap=0.76, chars="C"),
    Face("reggae/ReggaeOne-Regular.ttf", 0, 1.0, cap=0.78),
)


# Never drawn in training, in calibration or in the frozen sets of the training style: the faces
# of the held-out-faces evaluation set (``training.synth.eval_sets``) and of the feedback simulation's
# stand-in platform. (Chinese faces, Latin faces.)
HELD_OUT_FACES = (
    (Face("noto/NotoSansCJK-Bold.ttc", 2, 1.0),),
    (Face("liberation/LiberationSerif-Bold.ttf", 0, 1.0), Face("freefont/FreeSerifBold.ttf", 0, 1.0),
     Face("freefont/FreeSansBoldOblique.ttf", 0, 1.0), Face("liberation/LiberationSansNarrow-Bold.ttf", 0, 1.0),
     Face("liberation/LiberationMono-Bold.ttf", 0, 0.5)),
)


def pack_name(face: Face) -> str:
    """The file name of ``face`` in a font pack (one face per file, so its index there is 0)."""
    return f"{face.file.replace('/', '--')}--{face.index}.font"


def _packed(face: Face) -> str | None:
    pack = os.environ.get(PACK_ENV)
    if pack and (Path(pack) / pack_name(face)).exists():
        return str(Path(pack) / pack_name(face))
    return None


@lru_cache(maxsize=None)
def _resolve(relative: str) -> str | None:
    for base in FONT_DIRS:
        for sub in ("truetype", "opentype"):
            candidate = Path(base) / sub / relative
            if candidate.exists():
                return str(candidate)
    return None


def available(faces: tuple[Face, ...]) -> tuple[Face, ...]:
    """The faces of ``faces`` installed on this machine (or in the font pack, where one is set)."""
    return tuple(f for f in faces if _packed(f) or _resolve(f.file))


@lru_cache(maxsize=4096)
def load(face: Face, size: int) -> ImageFont.FreeTypeFont:
    """The face at ``size``, with Pillow's basic layout: the generator draws one glyph at a time,
    which needs no text shaping, and the basic layout draws the same pixels about a third faster."""
    packed = _packed(face)
    path, index = (packed, 0) if packed else (_resolve(face.file), face.index)
    if path is None:
        raise FileNotFoundError(f"font {face.file} is not installed")
    return ImageFont.truetype(path, size, index=index, layout_engine=ImageFont.Layout.BASIC)


def require_fonts() -> tuple[tuple[Face, ...], tuple[Face, ...]]:
    chinese, latin = available(CHINESE_FACES), available(LATIN_FACES)
    if not chinese or not latin:
        raise RuntimeError(
            "no Chinese or Latin font found: install fonts-noto-cjk, fonts-arphic-uming and "
            "fonts-dejavu (scripts/install-fonts.sh does it)")
    return chinese, latin
