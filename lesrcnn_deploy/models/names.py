"""The one file-name rule of the toolkit's models: ``lesrcnn_x{S}[_int8].onnx``.

Every place that names a default model file, its int8 sibling, its manifest or its recipe asks
this module; nothing else spells the rule.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..core.paths import models_dir
from ..core.vocab import check_model_precision, check_scale

__all__ = [
    "int8_beside",
    "model_file_name",
    "model_path",
    "recipe_file_name",
]

_STEM = "lesrcnn"
_INT8 = "_int8"


def model_file_name(scale: int, precision: str = "fp32", *, blind: bool = False) -> str:
    """``lesrcnn_x{S}.onnx`` (fp32), ``lesrcnn_x{S}_int8.onnx`` (int8) or, for a blind (all
    scales) export, ``lesrcnn_blind_x{S}.onnx``."""
    s = check_scale(scale)
    suffix = _INT8 if check_model_precision(precision) == "int8" else ""
    return f"{_STEM}{'_blind' if blind else ''}_x{s}{suffix}.onnx"


def model_path(
    scale: int, precision: str = "fp32", *, folder: str | os.PathLike[str] | None = None
) -> Path:
    """``folder/model_file_name(scale, precision)``; ``folder`` defaults to
    :func:`~lesrcnn_deploy.core.paths.models_dir`."""
    root = Path(folder) if folder is not None else models_dir()
    return root / model_file_name(scale, precision)


def recipe_file_name(scale: int) -> str:
    """``lesrcnn_x{S}_int8.recipe.json``: the recipe the x``scale`` int8 model is replayed from."""
    return model_file_name(scale, "int8").removesuffix(".onnx") + ".recipe.json"


def int8_beside(fp32: str | os.PathLike[str]) -> Path:
    """The int8 model built from ``fp32``: ``models/lesrcnn_x2.onnx`` ->
    ``models/lesrcnn_x2_int8.onnx``."""
    p = Path(fp32)
    return p.with_name(f"{p.stem}{_INT8}.onnx")

