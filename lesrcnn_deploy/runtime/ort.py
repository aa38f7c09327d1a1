"""ONNX Runtime: the reference runtime of the toolkit (CPU execution provider)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core.errors import ModelError, one_line
from ..core.onnx_io import open_session
from ..models import ModelFile, as_record

__all__ = ["OnnxRunner"]


@dataclass
class OnnxRunner:
    """ONNX Runtime CPU session for a LESRCNN ONNX model (fp32 or int8).

    Args:
        model: the opened model (its record), or an ``.onnx`` path (opened here by
            :func:`~lesrcnn_deploy.models.open_model`).
        threads: intra-op threads (``None`` = ORT default).
        scale: a path's expected scale (0 = any); a record's scale is its own.
    """

    model: ModelFile | str | os.PathLike[str]
    threads: int | None = None
    scale: int = 0
    kind: str = "onnx"
    path: Path = field(init=False)
    metadata: Mapping[str, str] = field(init=False)

    def __post_init__(self) -> None:
        record = self._record = as_record(self.model, scale=self.scale)
        self.path, self.scale, self.metadata = record.path, record.scale, record.metadata
        self.kind = "onnx-" + record.precision
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
        """SHA256 of the model file (the record's)."""
        return self.record.sha256

    @property
    def record(self) -> ModelFile:
        """The opened model this runner runs."""
        return self._record

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
