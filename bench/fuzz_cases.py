"""Seeded bad (and some good) requests for fuzzing the service.

Every case must be answered with OK or INVALID_ARGUMENT and a message; the server stays up.
"""
from __future__ import annotations

import io
import random
from pathlib import Path

from PIL import Image

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "fuzz_corpus"
COLOR_VALUES = (1, 2, 3, 4)


def _png(size=(90, 35), colour=(180, 120, 90), fmt="PNG", mode="RGB") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, colour if mode == "RGB" else 0).save(buf, format=fmt)
    return buf.getvalue()


def _bomb() -> bytes:
    buf = io.BytesIO()
    Image.new("1", (30000, 30000)).save(buf, format="PNG")  # ~110 KB file, 900 M pixels
    return buf.getvalue()


def seeds() -> list[bytes]:
    """Valid pictures to mutate: the corpus's files, or plain generated ones."""
    files = sorted(CORPUS.glob("*.png")) if CORPUS.exists() else []
    return [f.read_bytes() for f in files] or [_png(), _png((120, 50))]


def cases(seed: int, count: int):
    """Yields (kind, request fields) pairs."""
    rng = random.Random(seed)
    valid = seeds()
    bomb = _bomb()
    kinds = ["random", "truncated", "mutated", "bomb", "huge", "tiny", "empty", "colour", "key4", "oversize",
             "format", "request_id", "route"]
    for i in range(count):
        kind = kinds[i % len(kinds)]
        base = rng.choice(valid)
        fields = {"image": base, "color": rng.choice(COLOR_VALUES)}
        if kind == "random":
            fields["image"] = rng.randbytes(rng.randint(1, 4000))
        elif kind == "truncated":
            fields["image"] = base[:rng.randint(1, len(base) - 1)]
        elif kind == "mutated":
            data = bytearray(base)
            for _ in range(rng.randint(1, 20)):
                data[rng.randrange(len(data))] = rng.randrange(256)
            fields["image"] = bytes(data)
        elif kind == "bomb":
            fields["image"] = bomb
        elif kind == "huge":
            fields["image"] = _png((rng.randint(1100, 6000), rng.randint(20, 60)))
        elif kind == "tiny":
            fields["image"] = _png((rng.randint(1, 15), rng.randint(1, 15)))
        elif kind == "empty":
            fields["image"] = b""
        elif kind == "colour":
            fields["color"] = rng.choice([0, 5, 6, 99, 2**31 - 1, -1])
        elif kind == "key4":
            fields.pop("color")
            fields["key4"] = rng.choice(["", "04", "1", "001", "红色", "\x00", "0" * 500, "01 "])
        elif kind == "oversize":
            fields["image"] = base + rng.randbytes(rng.randint(256 * 1024, 3 * 1024 * 1024))
        elif kind == "format":
            fields["image"] = _png(fmt=rng.choice(["JPEG", "GIF", "BMP", "TIFF", "ICO", "WEBP"]))
        elif kind == "request_id":
            fields["request_id"] = rng.choice(["x" * 10000, "\u2603" * 100, "\x00\x01", ""])
        elif kind == "route":
            fields["route"] = rng.choice([0, 1, 2, 3, 77])
        yield kind, fields


def write_corpus(folder: Path = CORPUS) -> None:
    """The corpus committed in tests/: valid seeds and one case of each kind."""
    folder.mkdir(parents=True, exist_ok=True)
    from training.synth.eval_sets import draw
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        draw("90x35", Path(tmp), 3, progress=False)
        for i in range(3):
            (folder / f"seed-{i}.png").write_bytes((Path(tmp) / f"{i:06d}.png").read_bytes())
    for kind, fields in cases(1, 13):
        if len(fields["image"]) < 200_000:
            (folder / f"case-{kind}.bin").write_bytes(fields["image"])


if __name__ == "__main__":
    write_corpus()
    print(f"wrote {CORPUS}")
