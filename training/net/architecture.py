"""The reader's architecture as data (no TensorFlow here: ``accel_model`` builds it in JAX)."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass


#: one convolution of the backbone: (filters, separable, pooling after it as (rows, columns) or None)
Block = tuple[int, bool, tuple[int, int] | None]


@dataclass(frozen=True)
class ModelConfig:
    """The architecture; exported models carry it in ``assets/model.json`` ("architecture")."""
    input_width: int = 100
    input_height: int = 40
    stem_stride: int = 1
    # full-resolution plain convolutions first (thin Song strokes), separable ones once the
    # picture is small; the last pooling keeps the columns: 25 CTC steps for six characters
    blocks: tuple[Block, ...] = ((32, False, (2, 2)), (64, False, (2, 2)), (128, False, None),
                                 (160, True, (2, 1)), (192, True, None))
    feature_width: int = 192
    head_width: int = 128
    sequence_width: int = 112
    num_classes: int = 3602

    @property
    def steps(self) -> int:
        """CTC time steps (at least 2*6-1 for six characters)."""
        return self.input_width // (self.stem_stride * math.prod(p[1] for _, _, p in self.blocks if p))

    @property
    def rows(self) -> int:
        """Feature rows collapsed into each step."""
        return self.input_height // (self.stem_stride * math.prod(p[0] for _, _, p in self.blocks if p))

    def to_json(self) -> dict:
        return {k: [list(b[:2]) + [list(b[2]) if b[2] else None] for b in v] if k == "blocks" else v
                for k, v in asdict(self).items()}

    @classmethod
    def from_json(cls, data: dict) -> "ModelConfig":
        data = dict(data)
        data["blocks"] = tuple((int(f), bool(s), tuple(p) if p else None) for f, s, p in data["blocks"])
        return cls(**data)


#: the architecture of versions 1-15 (exported before model.json carried one)
LEGACY = ModelConfig(stem_stride=2, blocks=((32, False, None), (64, True, (2, 2)), (96, True, None),
                                            (128, True, (2, 2)), (160, True, None)),
                     feature_width=160, head_width=96, sequence_width=80)
