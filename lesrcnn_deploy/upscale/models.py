"""Which ONNX model an inference run uses: an explicit file, or a default model file.

Inference never builds a model (no PyTorch, no ``onnx``, no export, no quantization here):

* an explicit ``model`` must exist and carry the scale and precision asked for;
* the default int8 model is the one shipped in the package
  (:func:`~lesrcnn_deploy.artifacts.shipped_model`, SHA256-checked);
* the default fp32 model is ``models_dir()/lesrcnn_x{S}.onnx`` as ``lesrcnn-deploy export`` (or
  ``make export``, or the model store of the bench) writes it: this toolkit version's export of
  the official checkpoint. Without it, one line says how to get it (the ``build`` extra) or to
  give a model path.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from .. import __version__
from ..artifacts import shipped_model
from ..build import check_precision as _check_precision
from ..errors import ModelError
from ..paths import models_dir
from ..runtime import read_metadata
from ..scales import check_scale
from ..weights.registry import get_weights

__all__ = ["PRECISIONS", "Precision", "check_precision", "default_model_path", "resolve_model"]

Precision = Literal["int8", "fp32"]
PRECISIONS: tuple[Precision, ...] = ("int8", "fp32")
"""Precisions an upscale run can use."""


def check_precision(precision: str) -> Precision:
    """Return ``precision`` if it is ``"int8"`` or ``"fp32"``, else raise :class:`ConfigError`."""
    return "int8" if _check_precision(precision) == "int8" else "fp32"


def default_model_path(scale: int, precision: str) -> Path:
    """The default model file of ``scale``: the shipped int8 model, or the fp32 export's place
    ``models_dir()/lesrcnn_x{S}.onnx`` (which may not exist yet)."""
    s = check_scale(scale)
    if check_precision(precision) == "int8":
        return shipped_model(s)
    return models_dir() / f"lesrcnn_x{s}.onnx"


def _exported_fp32(scale: int) -> Path:
    path = models_dir() / f"lesrcnn_x{scale}.onnx"
    if not path.is_file():
        problem = "not found"
    else:
        meta = read_metadata(path)
        if (
            meta.get("checkpoint_sha256") == get_weights(scale).sha256
            and meta.get("toolkit_version") == __version__
            and meta.get("precision", "fp32") == "fp32"
        ):
            return path
        problem = f"is not lesrcnn-deploy {__version__}'s export of the official checkpoint"
    msg = (
        f"{path}: fp32 model {problem}: run `lesrcnn-deploy export --scale {scale}` "
        "(needs pip install 'lesrcnn-deploy[build]') or give a model file (--model)"
    )
    raise ModelError(msg)


def resolve_model(scale: int, precision: str, model: str | os.PathLike[str] | None = None) -> Path:
    """The ONNX file for ``scale`` and ``precision``; never builds one.

    Args:
        scale: 2, 3 or 4.
        precision: ``"int8"`` or ``"fp32"``.
        model: explicit ``.onnx`` path; must exist and be a x``scale`` model of ``precision``.

    Returns:
        Path of an existing ONNX model.

    Raises:
        ConfigError: unknown scale or precision.
        ModelError: the model is missing, unreadable, of another scale or precision; the default
            fp32 model has not been exported.
        ChecksumError: the shipped int8 model is damaged.
    """
    s = check_scale(scale)
    prec = check_precision(precision)
    if model is None:
        return shipped_model(s) if prec == "int8" else _exported_fp32(s)
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
