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

from .. import __version__
from ..artifacts import shipped_model
from ..core.errors import ModelError
from ..core.onnx_io import check_model, read_metadata
from ..core.paths import models_dir
from ..core.vocab import check_model_precision, check_scale
from ..weights.registry import get_weights

__all__ = ["default_model_path", "resolve_model"]


def default_model_path(scale: int, precision: str) -> Path:
    """The default model file of ``scale``: the shipped int8 model, or the fp32 export's place
    ``models_dir()/lesrcnn_x{S}.onnx`` (which may not exist yet)."""
    s = check_scale(scale)
    if check_model_precision(precision) == "int8":
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


def resolve_model(
    scale: int, precision: str, *, model: str | os.PathLike[str] | None = None
) -> Path:
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
    prec = check_model_precision(precision)
    if model is None:
        return shipped_model(s) if prec == "int8" else _exported_fp32(s)
    path = Path(model)
    check_model(path, read_metadata(path), scale=s, precision=prec)  # ModelError if not
    return path
