"""Turns answers into class ids and back (the model's alphabet is the vocabulary plus a blank)."""
from __future__ import annotations

import numpy as np

MAX_LEN = 6


class Alphabet:
    def __init__(self, chars):
        self.chars = tuple(chars)
        self.index = {c: i for i, c in enumerate(self.chars)}
        self.blank = len(self.chars)  # CTC blank is the last class

    @property
    def num_classes(self) -> int:
        return len(self.chars) + 1

    def encode(self, text: str) -> np.ndarray:
        """Text -> int32 ids padded with -1 to MAX_LEN."""
        ids = np.full(MAX_LEN, -1, np.int32)
        for i, ch in enumerate(text):
            ids[i] = self.index[ch]
        return ids
