"""The four text colours of the captcha, and the ways callers name them."""
from __future__ import annotations

import enum


class Color(enum.Enum):
    """A text colour the platform can ask for.

    ``key4`` is the platform's code, ``letter`` the one-letter code used in
    generated labels (``U`` for blue, so that ``B`` can mean black).
    """

    RED = ("red", "01", "R", (255, 0, 0))
    YELLOW = ("yellow", "02", "Y", (255, 255, 0))
    BLUE = ("blue", "03", "U", (0, 0, 255))
    BLACK = ("black", "00", "B", (0, 0, 0))

    def __init__(self, label: str, key4: str, letter: str, rgb: tuple[int, int, int]):
        self.label = label
        self.key4 = key4
        self.letter = letter
        self.rgb = rgb

    @classmethod
    def parse(cls, value: "Color | str") -> "Color":
        """Accept a Color, a name ("red", "RED") or a key4 code ("01"). The one-letter codes of
        generated labels are not accepted: "B" is black there, and a caller typing "b" most likely
        means blue."""
        if isinstance(value, Color):
            return value
        text = str(value).strip()
        for color in cls:
            if text.lower() == color.label or text == color.key4:
                return color
        names = ", ".join(f"{c.label}/{c.key4}" for c in cls)
        raise ValueError(f"unknown colour {value!r}; expected one of {names}")


ALL_COLORS = tuple(Color)
