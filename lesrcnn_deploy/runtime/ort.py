"""ONNX Runtime: the reference runtime of the toolkit (CPU execution provider)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core.errors import ModelError, one_line
from ..core.fileio import sha256_file
from ..core.onnx_io import model_metadata, open_session

__all__ = ["OnnxRunner"]


@dataclass
class OnnxRunner:
    """ONNX Runtime CPU session for a LESRCNN ONNX model (fp32 or int8).

    Args:
        path: the ``.onnx`` file.
        threads: intra-op threads (``None`` = ORT default).
        scale: expected scale; checked against the model's metadata.
    """

    path: Path
    threads: int | None = None
    scale: int = 0
    kind: str = "onnx"
    metadata: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        self.metadata, self.scale = model_metadata(self.path, self.scale)
        self.kind = "onnx-" + self.metadata.get("precision", "fp32")
        try:
            self._session = open_session(self.path, threads=self.threads)
        except Exception as exc:  # ORT raises its own Fail/InvalidGraph classes
            first = one_line(exc, limit=160)
            msg = f"{self.path}: ONNX Runtime cannot load the model ({first})"
            raise ModelError(msg) from exc
        inputs = self._session.get_inputs()
        if len(inputs) != 1 or len(inputs[0].shape) != 4:
            msg = f"{self.path}: expected one NCHW input, found {[i.shape for i in inputs]}"
            raise ModelError(msg)
        self._input = inputs[0].name
        self.input_shape = tuple(inputs[0].shape)

    @property
    def sha256(self) -> str:
        """SHA256 of the model file."""
        return sha256_file(self.path)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Upscale float32 ``(N, 3, H, W)`` RGB [0, 1] -> float32 ``(N, 3, H*s, W*s)``."""
        fixed = self.input_shape[2:]
        if all(isinstance(d, int) for d in fixed) and tuple(x.shape[2:]) != tuple(fixed):
            msg = (
                f"{self.path}: model takes a fixed {fixed[1]}x{fixed[0]} input, got "
                f"{x.shape[3]}x{x.shape[2]} (export with --dynamic for any size)"
            )
            raise ModelError(msg)
        out = self._session.run(None, {self._input: np.ascontiguousarray(x, dtype=np.float32)})
        return np.asarray(out[0])
