"""The inference settings: which model and how it runs, as one frozen value.

The CLI, the service, Ray, video and the Python API build one :class:`InferenceSettings` and pass
it whole; every value is checked here, once.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.errors import ConfigError
from ..core.vocab import (
    check_compute,
    check_model_precision,
    check_runtime,
    check_scale,
    check_tile,
    split_precision,
)
from .find import find
from .record import ModelFile

__all__ = ["InferenceSettings"]


def _at_least_one(name: str, value: int | None) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        msg = f"{name} must be an integer >= 1, got {value!r}"
        raise ConfigError(msg)


@dataclass(frozen=True)
class InferenceSettings:
    """Which model runs and how; checked when made.

    Attributes:
        scale: 2, 3 or 4; ``None``: the ``model`` file's own (a run without a model and
            without a scale opens one per scale, :meth:`replace` ``(scale=...)``).
        precision: the model file's precision, ``"int8"`` or ``"fp32"``; ``None``: the
            ``model`` file's own, else ``int8``.
        compute: the float layers' precision, ``"f32"`` or ``"bf16"`` (OpenVINO; fp32 files).
        model: an explicit ``.onnx`` file (a path, or a model already opened by
            :func:`~.record.open_model`); ``None``: the default model (:func:`~.find.find`).
        tile: core tile size in LR pixels, 0 = whole image; ``None``: the default of the scale
            and the runtime that runs.
        tile_overlap: context pixels around each tile; ``None``: the receptive field (exact).
        threads: intra-op threads; ``None``: the runtime's default.
        runtime: ``"ort"``, ``"openvino"``, ``"auto"``; ``None``: the default runtime.
        streams: OpenVINO inference streams; ``None``: one.
    """

    scale: int | None = 2
    precision: str | None = "int8"
    compute: str = "f32"
    model: Path | ModelFile | None = None
    tile: int | None = None
    tile_overlap: int | None = None
    threads: int | None = None
    runtime: str | None = None
    streams: int | None = None

    def __post_init__(self) -> None:
        if self.scale is not None:
            check_scale(self.scale)
        if self.precision is not None:
            check_model_precision(self.precision)
        if check_compute(self.compute) == "bf16" and self.precision == "int8":
            msg = "bf16 runs the fp32 model (precision bf16), not the int8 one"
            raise ConfigError(msg)
        if self.model is not None and not isinstance(self.model, ModelFile):
            object.__setattr__(self, "model", Path(self.model))
        if self.tile is not None:
            check_tile(self.tile)
        overlap = self.tile_overlap
        if overlap is not None and (isinstance(overlap, bool) or not isinstance(overlap, int)):
            overlap = -1
        if overlap is not None and overlap < 0:
            msg = f"tile_overlap must be an integer >= 0, got {self.tile_overlap!r}"
            raise ConfigError(msg)
        if overlap is not None and self.tile == 0:
            msg = "--tile-overlap has no effect with --no-tile (tile 0: the whole image at once)"
            raise ConfigError(msg)
        _at_least_one("threads", self.threads)
        _at_least_one("streams", self.streams)
        if self.runtime is not None:
            check_runtime(self.runtime)

    @classmethod
    def from_precision(cls, word: str | None, **values: Any) -> InferenceSettings:
        """Settings from a ``--precision`` word (``int8``, ``fp32``, ``bf16``; ``None``: the
        model's own), split once by :func:`~lesrcnn_deploy.core.vocab.split_precision`."""
        precision, compute = split_precision(word) if word is not None else (None, "f32")
        return cls(precision=precision, compute=compute, **values)

    @property
    def precision_word(self) -> str | None:
        """The ``--precision`` word these settings stand for (``bf16`` for fp32 run in bf16)."""
        return "bf16" if self.compute == "bf16" else self.precision

    def replace(self, **values: Any) -> InferenceSettings:
        """A copy with ``values`` changed (checked again)."""
        return dataclasses.replace(self, **values)

    def open_model(self) -> ModelFile:
        """The model these settings run (never built here, see :func:`~.find.find`)."""
        if isinstance(self.model, ModelFile):
            return self.model
        precision = "fp32" if self.compute == "bf16" else self.precision
        return find(self.scale, precision, model=self.model, asked=self.precision_word or "")

    def opened(self) -> InferenceSettings:
        """These settings with the model opened (:meth:`open_model`) and its scale and file
        precision filled in: what a caller keeps to open upscalers without reading it again."""
        model = self.open_model()
        return self.replace(model=model, scale=model.scale, precision=model.precision)
