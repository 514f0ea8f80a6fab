"""Builds a font pack: every face the generator draws with, cut down to the characters it
draws (the vocabulary), one face per file. A pack is a few MB where the installed faces are
hundreds, so the generator can travel to a machine without the font packages (the accelerator
machine): point ``CAPTCHA_FONT_PACK`` at the folder there.

    python -m training.synth.fontpack --out build/fontpack

Needs fontTools (``pip install fonttools``; not a dependency of the service).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from . import charset, fonts

#: FreeType's automatic hinter measures a face on these characters (its "blue zones": ASCII
#: letters, and these Chinese ones); a face without them is hinted differently, so they stay
#: in the pack even where the generator never draws them.
HINTER_SAMPLES = (
    "".join(chr(c) for c in range(0x20, 0x7F))
    + "他们你來們到和地对對就席我时時會来為能舰說说这這齊军同已愿既星是景民照现現理用置要軍那配里開雷露面顾"
    + "个为人他以们你來個們到和大对對就我时時有来為要說说主些因它想意理生當看着置者自著裡过还进進過道還里面"
    + "些们你來們到和地她将將就年得情最样樣理能說说这這通即吗吧听呢品响嗎师師收断斷明眼間间际陈限除陳随際隨"
    + "事前學将將情想或政斯新样樣民沒没然特现現球第經谁起例別别制动動吗嗎增指明朝期构物确种調调費费那都間间田囗")


def build(out: Path) -> list[Path]:
    from fontTools import subset
    from fontTools.ttLib import TTFont

    out.mkdir(parents=True, exist_ok=True)
    text = "".join(charset.vocabulary()) + HINTER_SAMPLES
    written = []
    # one file per face: a face listed for both scripts (another weight) is written once
    for face in {fonts.pack_name(f): f for f in fonts.CHINESE_FACES + fonts.LATIN_FACES + fonts.CURLED_LATIN_FACES}.values():
        path = fonts._resolve(face.file)
        if path is None:
            print(f"not installed, left out: {face.file}")
            continue
        font = TTFont(path, fontNumber=face.index, lazy=False)
        options = subset.Options()
        options.hinting = True        # the same pixels as the installed face: hinting and
        options.drop_tables = []      # embedded bitmaps (EBDT/EBLC, drawn at small sizes) stay
        options.legacy_kern = True
        options.layout_features = []  # the generator draws glyph by glyph, without shaping
        options.name_IDs = ["*"]
        options.notdef_outline = True
        sub = subset.Subsetter(options)
        sub.populate(text=text)
        sub.subset(font)
        target = out / fonts.pack_name(face)
        font.save(str(target))
        written.append(target)
        print(f"{target.name}: {target.stat().st_size / 1e6:.2f} MB")
    return written


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("build/fontpack"))
    args = p.parse_args(argv)
    build(args.out)


if __name__ == "__main__":
    main()
