"""The character list (shipped in ``vocabulary.txt``, MIT, see ``LICENSE-vocabulary``)."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

VOCABULARY_FILE = Path(__file__).with_name("vocabulary.txt")
#: Latin characters the platform draws: 2-9 and A-Z without O.
LATIN_DRAWN = "23456789ABCDEFGHIJKLMNPQRSTUVWXYZ"


@lru_cache(maxsize=None)
def vocabulary() -> tuple[str, ...]:
    """Every class a model can output (0-9, A-Z, then the Chinese characters)."""
    chars = [line.strip() for line in VOCABULARY_FILE.read_text(encoding="utf-8").splitlines()]
    return tuple(c for c in chars if c)


@lru_cache(maxsize=None)
def chinese() -> tuple[str, ...]:
    return tuple(c for c in vocabulary() if ord(c) > 0x2E80)


def is_chinese(ch: str) -> bool:
    return ord(ch) > 0x2E80
