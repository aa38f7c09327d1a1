"""Which model an inference run uses: an explicit file, or a default one. Never builds.

No PyTorch, no ``onnx``, no export, no quantization here:

* an explicit ``model`` must exist and carry the scale and file precision asked for;
* the default int8 model is the one shipped in the package (:func:`~.packaged.shipped`,
  SHA256-checked);
* the default fp32 model is :func:`~.names.model_path` ``(S, "fp32")`` as ``lesrcnn-deploy
  export`` (or ``make export``, or :func:`~.build.build`) writes it: this toolkit version's
  export of the official checkpoint. Without it, one line says how to get it (the ``build``
  extra) or to give a model path.
"""

from __future__ import annotations

import os

from .. import __version__
from ..core.errors import ConfigError, ModelError
from ..core.vocab import check_model_precision, check_scale
from .names import model_path
from .record import ModelFile, is_official_fp32, open_model
from .packaged import shipped

__all__ = ["find"]


def find(
    scale: int | None,
    precision: str | None = "int8",
    *,
    model: str | os.PathLike[str] | None = None,
    asked: str = "",
) -> ModelFile:
    """The opened model for ``scale`` and file ``precision``; never builds one.

    Args:
        scale: 2, 3 or 4; ``None`` or 0: the ``model`` file's own.
        precision: the file precision, ``"int8"`` or ``"fp32"``; ``None``: the ``model``
            file's own, else ``int8``.
        model: explicit ``.onnx`` path; must be a x``scale`` model of ``precision``.
        asked: what the user asked for, named in a mismatch message (``bf16``).

    Raises:
        ConfigError: unknown scale or precision.
        ModelError: the model is missing, unreadable, of another scale or precision; the default
            fp32 model has not been exported.
        ChecksumError: the shipped int8 model is damaged.
    """
    if model is not None:
        return open_model(model, scale=scale or 0, precision=precision or "", asked=asked)
    if not scale:
        msg = "a scale (2, 3 or 4) is needed unless a model file gives it"
        raise ConfigError(msg)
    s = check_scale(scale)
    prec = check_model_precision(precision or "int8")
    if prec == "int8":
        return shipped(s)
    path = model_path(s, "fp32")
    problem = "not found"
    if path.is_file():
        found = open_model(path)
        if found.scale == s and is_official_fp32(found):
            return found
        problem = f"is not lesrcnn-deploy {__version__}'s export of the official checkpoint"
    msg = (
        f"{path}: fp32 model {problem}: run `lesrcnn-deploy export --scale {s}` "
        "(needs pip install 'lesrcnn-deploy[build]') or give a model file (--model)"
    )
    raise ModelError(msg)
