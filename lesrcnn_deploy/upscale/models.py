"""Which ONNX model an upscale run uses: an explicit file, or the default model of the scale.

An explicit ``model`` must exist and carry the scale and precision asked for. Otherwise the default
model comes from :func:`~lesrcnn_deploy.model_store.default_model`: the fp32 export of the official
checkpoint, or the int8 model replayed from its recipe in seconds (never trained on the fly).
"""

from __future__ import annotations

import os
from pathlib import Path

from ..core.onnx_io import check_model, read_metadata
from ..core.vocab import check_model_precision, check_scale
from ..model_store import default_model, default_model_path

__all__ = ["default_model_path", "resolve_model"]


def resolve_model(
    scale: int,
    precision: str,
    *,
    model: str | os.PathLike[str] | None = None,
    build: bool = True,
) -> Path:
    """The ONNX file for ``scale`` and ``precision``.

    Args:
        scale: 2, 3 or 4.
        precision: ``"int8"`` or ``"fp32"``.
        model: explicit ``.onnx`` path; must exist and be a x``scale`` model of ``precision``.
        build: allow exporting / replaying a missing or stale default model.

    Returns:
        Path of an existing ONNX model.

    Raises:
        ConfigError: unknown scale or precision.
        ModelError: the model is missing, unreadable, of another scale or precision.
        RecipeMismatch: the default int8 recipe does not match the fp32 model.
    """
    s = check_scale(scale)
    prec = check_model_precision(precision)
    if model is None:
        return default_model(s, prec, build=build)
    path = Path(model)
    check_model(path, read_metadata(path), scale=s, precision=prec)  # ModelError if not
    return path
