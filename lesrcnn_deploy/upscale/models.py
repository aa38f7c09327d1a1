"""Which ONNX model an upscale run uses: an explicit file, or the default model of the scale.

An explicit ``model`` must exist and carry the scale and precision asked for. Otherwise the default
model comes from :func:`~lesrcnn_deploy.build.default_model`: the fp32 export of the official
checkpoint, or the int8 model replayed from its recipe in seconds (never trained on the fly).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from ..build import check_precision as _check_precision
from ..build import default_model, default_model_path
from ..errors import ModelError
from ..runtime import read_metadata
from ..scales import check_scale

__all__ = ["PRECISIONS", "Precision", "check_precision", "default_model_path", "resolve_model"]

Precision = Literal["int8", "fp32"]
PRECISIONS: tuple[Precision, ...] = ("int8", "fp32")
"""Precisions an upscale run can use."""


def check_precision(precision: str) -> Precision:
    """Return ``precision`` if it is ``"int8"`` or ``"fp32"``, else raise :class:`ConfigError`."""
    return "int8" if _check_precision(precision) == "int8" else "fp32"


def resolve_model(
    scale: int,
    precision: str,
    model: str | os.PathLike[str] | None = None,
    *,
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
    prec = check_precision(precision)
    if model is None:
        return default_model(s, prec, build=build)
    path = Path(model)
    meta = read_metadata(path)  # raises ModelError if missing or unreadable
    found_scale = meta.get("scale")
    if found_scale is not None and found_scale != str(s):
        msg = f"{path}: this is a x{found_scale} model, asked for x{s}"
        raise ModelError(msg)
    found_prec = meta.get("precision", "fp32")
    if found_prec != prec:
        msg = f"{path}: this is a {found_prec} model, asked for {prec} (use --precision)"
        raise ModelError(msg)
    return path
