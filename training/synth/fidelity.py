"""Fidelity report: generated pictures beside the real ones, and measurable statistics of both.

    python -m training.synth.fidelity --out docs        # writes docs/fidelity.png and docs/fidelity.md
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from captcha_core.colors import ALL_COLORS

from .render import CaptchaRenderer
from .style import REAL, WIDER, Style

REAL_DIR = Path(__file__).resolve().parent.parent.parent / "shared" / "realdata"
FIDELITY_SEED = 5_550_001  # not a training seed
SAMPLES_SEED = 8_080_001


def stats(img: np.ndarray) -> dict:
    px = img.reshape(-1, 3).astype(np.int32)
    outside = img[0, 0].astype(np.int32)
    colours, counts = np.unique(px, axis=0, return_counts=True)
    order = np.argsort(-counts)
    far = [i for i in order if np.abs(colours[i] - outside).sum() > 30]
    band = colours[far[0]] if far else outside
    refs = np.array([c.rgb for c in ALL_COLORS])
    dist = np.linalg.norm(px[:, None, :] - refs[None], axis=2)
    near = (dist < 60)
    green = np.linalg.norm(px - np.array([0, 255, 0]), axis=1) < 90
    i32 = img.astype(np.int32)
    centre = i32[1:-1, 1:-1]
    diffs = [np.abs(centre - i32[1 + dy:i32.shape[0] - 1 + dy, 1 + dx:i32.shape[1] - 1 + dx]).sum(2)
             for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1))]
    dots = int((np.min(diffs, axis=0) > 60).sum())
    band_mask = (np.abs(i32 - band).sum(2) < 12)
    text = near.any(1).reshape(img.shape[:2])
    ys = np.nonzero(text)[0]
    band_cols = band_mask.sum(0)
    scale = 35 / img.shape[0]
    return {
        "outside min channel": float(outside.min()),
        "band min channel": float(band.min()),
        "band share of pixels": float(band_mask.mean()),
        "band height at centre (px of 35)": float(np.median(band_cols[img.shape[1] // 3: 2 * img.shape[1] // 3]) * scale),
        "isolated noise dots": float(dots),
        "green line pixels": float(green.sum()),
        "text height, 5-95% rows (px of 35)": float((np.percentile(ys, 95) - np.percentile(ys, 5)) * scale) if len(ys) else 0.0,
        **{f"share near pure {c.label}": float(near[:, i].mean()) for i, c in enumerate(ALL_COLORS)},
    }


def table(real: list[dict], generated: list[dict]) -> str:
    lines = ["| statistic | real (mean ± sd) | generated (mean ± sd) |", "|---|---|---|"]
    for key in real[0]:
        r = np.array([s[key] for s in real])
        g = np.array([s[key] for s in generated])
        fmt = "{:.3f}" if r.max() <= 1 else "{:.1f}"
        lines.append(f"| {key} | {fmt.format(r.mean())} ± {fmt.format(r.std())} | "
                     f"{fmt.format(g.mean())} ± {fmt.format(g.std())} |")
    return "\n".join(lines)


def sheet(real: list[np.ndarray], generated: list[np.ndarray], scale: int = 4) -> Image.Image:
    rows = len(real)
    w, h = 90 * scale, 35 * scale
    out = Image.new("RGB", (2 * w + 30, rows * (h + 6) + 24), "white")
    draw = ImageDraw.Draw(out)
    draw.text((10, 4), "real (shared/realdata)", fill="black")
    draw.text((w + 30, 4), "generated (seed %d)" % FIDELITY_SEED, fill="black")
    for i, img in enumerate(real):
        out.paste(Image.fromarray(img).resize((w, h), Image.NEAREST), (0, 24 + i * (h + 6)))
    for i, img in enumerate(generated[:rows]):
        out.paste(Image.fromarray(img).resize((w, h), Image.NEAREST), (w + 30, 24 + i * (h + 6)))
    return out


def samples_sheet(per_size: int = 8, scale: int = 3, style: Style = REAL) -> Image.Image:
    """Generated samples at both sizes, enlarged, each with its text and colour letters."""
    from . import fonts
    font = fonts.load(fonts.available(fonts.CHINESE_FACES)[0], 14)
    cols = []
    for width, height in ((90, 35), (120, 50)):
        renderer = CaptchaRenderer(width, height, style)
        rng = np.random.default_rng(SAMPLES_SEED)
        cols += [[renderer.render(rng) for _ in range(per_size // 2)] for _ in range(2)]
    cell_w, cell_h = 120 * scale + 10, 50 * scale + 22
    out = Image.new("RGB", (len(cols) * cell_w, (per_size // 2) * cell_h), "white")
    draw = ImageDraw.Draw(out)
    for c, column in enumerate(cols):
        for r, sample in enumerate(column):
            h, w = sample.image.shape[:2]
            x, y = c * cell_w, r * cell_h
            out.paste(Image.fromarray(sample.image).resize((w * scale, h * scale), Image.NEAREST), (x, y))
            draw.text((x, y + h * scale + 2), f"{sample.text}  {sample.color_letters}", fill="black", font=font)
    return out


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--real", type=Path, default=REAL_DIR)
    p.add_argument("--out", type=Path, default=Path("docs"))
    p.add_argument("--count", type=int, default=300)
    args = p.parse_args(argv)
    real = [np.asarray(Image.open(f).convert("RGB")) for f in sorted(args.real.glob("*.png"))]
    renderer = CaptchaRenderer(90, 35, REAL)
    rng = np.random.default_rng(FIDELITY_SEED)
    generated = [renderer.render(rng).image for _ in range(args.count)]
    args.out.mkdir(parents=True, exist_ok=True)
    sheet(real, generated).save(args.out / "fidelity.png")
    samples_sheet().save(args.out / "samples.png")
    samples_sheet(style=WIDER).save(args.out / "samples-wider.png")
    text = (f"# Generator fidelity, {time.strftime('%Y-%m-%d')}\n\n"
            f"`python -m training.synth.fidelity --out docs`: {len(real)} real pictures against {args.count} generated "
            f"(90x35, seed {FIDELITY_SEED}). Side by side: `fidelity.png`.\n\n"
            + table([stats(i) for i in real], [stats(i) for i in generated]) + "\n")
    (args.out / "fidelity.md").write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
