"""PyTorch eager: the slow fp32 reference (benchmark rows and ``.pth`` checkpoints only).

PyTorch is imported when a runner is called, never by importing this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..core.threads import torch_threads

if TYPE_CHECKING:
    from ..network.lesrcnn import LESRCNN

__all__ = ["TorchRunner"]


@dataclass
class TorchRunner:
    """PyTorch eager runner (fp32, CPU) around a :class:`LESRCNN`."""

    model: LESRCNN
    scale: int
    threads: int | None = None
    kind: str = "torch-fp32"

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Upscale float32 ``(N, 3, H, W)`` RGB [0, 1] -> float32 ``(N, 3, H*s, W*s)``."""
        import torch

        with torch_threads(self.threads), torch.inference_mode():
            y = self.model(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)), self.scale)
        return y.numpy()
