"""Decode, check and resize a picture: the one preparation used by training and serving."""
from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image

#: Bump when the preparation below changes; models record the version they were trained with.
PREPROCESS_VERSION = 1
ACCEPTED_FORMATS = ("PNG", "JPEG", "GIF", "BMP")


class InvalidImage(ValueError):
    """The bytes are not a picture this service can read."""


@dataclass(frozen=True)
class ImageLimits:
    max_bytes: int = 256 * 1024
    min_side: int = 16
    max_width: int = 1024
    max_height: int = 512


def decode(data: bytes, limits: ImageLimits = ImageLimits()) -> np.ndarray:
    """Bytes -> RGB uint8 array (H, W, 3), or :class:`InvalidImage` with a clear message."""
    if not data:
        raise InvalidImage("image is empty")
    if len(data) > limits.max_bytes:
        raise InvalidImage(f"image is {len(data)} bytes, above the limit of {limits.max_bytes}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS) as im:
                width, height = im.size
                if not (limits.min_side <= width <= limits.max_width
                        and limits.min_side <= height <= limits.max_height):
                    raise InvalidImage(
                        f"image is {width}x{height}; accepted sizes are {limits.min_side}.."
                        f"{limits.max_width} wide and {limits.min_side}..{limits.max_height} high")
                im.load()
                rgb = im.convert("RGB")
    except InvalidImage:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InvalidImage("image dimensions are unreasonable") from exc
    except Exception as exc:  # Pillow raises many types for damaged data
        raise InvalidImage(f"image could not be decoded ({type(exc).__name__}); accepted formats are "
                           f"{', '.join(ACCEPTED_FORMATS)}") from exc
    return np.asarray(rgb, dtype=np.uint8)


def resize(img: np.ndarray, width: int, height: int) -> np.ndarray:
    """RGB uint8 (H, W, 3) -> RGB uint8 (height, width, 3), bilinear."""
    if img.shape[0] == height and img.shape[1] == width:
        return img
    im = Image.fromarray(img, "RGB").resize((width, height), Image.BILINEAR)
    return np.asarray(im, dtype=np.uint8)
