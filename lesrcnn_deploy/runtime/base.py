"""What every runner is: a callable from a float32 NCHW RGB batch to its upscaled batch."""

from __future__ import annotations

from typing import Protocol

import numpy as np

__all__ = ["Runner"]


class Runner(Protocol):
    """Anything that upscales a float32 NCHW RGB batch."""

    scale: int
    kind: str

    def __call__(self, x: np.ndarray) -> np.ndarray: ...
