"""Find (or build) the ONNX model an upscale run uses.

Order: an explicit ``model`` path; else ``models_dir()/lesrcnn_x{S}.onnx`` (fp32) or
``models_dir()/lesrcnn_x{S}_int8.onnx`` (int8). A missing fp32 model is exported from the official
checkpoint (fused upsampler, parity-checked against the official unfused graph). A missing int8
model is built with the quantization package's one-call API when it is installed; otherwise the
error says to run ``make quantize``.
"""

from __future__ import annotations

import importlib
import os
import types
from pathlib import Path
from typing import Any, Literal

from ..errors import ConfigError, ModelError
from ..model import check_scale
from ..paths import models_dir
from ..runtime import read_metadata

__all__ = ["PRECISIONS", "Precision", "build_fp32_model", "default_model_path", "resolve_model"]

Precision = Literal["int8", "fp32"]
PRECISIONS: tuple[Precision, ...] = ("int8", "fp32")
"""Precisions an upscale run can use."""


def check_precision(precision: str) -> Precision:
    """Return ``precision`` if it is ``"int8"`` or ``"fp32"``, else raise :class:`ConfigError`."""
    if precision == "int8":
        return "int8"
    if precision == "fp32":
        return "fp32"
    msg = f"unknown precision {precision!r}: choose from {', '.join(PRECISIONS)}"
    raise ConfigError(msg)


def default_model_path(scale: int, precision: str) -> Path:
    """``models_dir()/lesrcnn_x{S}.onnx`` (fp32) or ``.../lesrcnn_x{S}_int8.onnx`` (int8)."""
    s = check_scale(scale)
    suffix = "_int8" if check_precision(precision) == "int8" else ""
    return models_dir() / f"lesrcnn_x{s}{suffix}.onnx"


def build_fp32_model(scale: int, output: Path) -> Path:
    """Export the official x``scale`` checkpoint to ``output`` (fused upsampler, parity-checked).

    The checkpoint is found (or downloaded, checksum-verified) by
    :func:`~lesrcnn_deploy.weights.load_model`.
    """
    from ..export import export_onnx
    from ..weights import load_model

    reference, ckpt, digest = load_model(scale)
    fused, _, _ = load_model(scale, ckpt, allow_custom=True, fuse_upsample=True)
    result = export_onnx(
        fused,
        output,
        scale=scale,
        checkpoint_sha256=digest,
        checkpoint_path=str(ckpt),
        reference=reference,
    )
    return result.path


def _build_int8_model(scale: int, fp32: Path, output: Path) -> Path:
    try:
        quantization: Any = importlib.import_module("lesrcnn_deploy.quantization")
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("lesrcnn_deploy.quantization"):
            quantization = None
        else:
            raise
    quantize = None
    for name in ("quantize_model", "quantize"):  # the one-call API (as bench.gate.build_int8)
        fn = getattr(quantization, name, None) if quantization else None
        if callable(fn) and not isinstance(fn, types.ModuleType):
            quantize = fn
            break
    if quantize is None:
        msg = f"{output}: int8 model not found; run `make quantize` (or pass --precision fp32)"
        raise ModelError(msg)
    result = quantize(fp32, output)
    path = Path(getattr(result, "path", result))
    if not path.is_file():  # pragma: no cover - depends on the quantization package
        msg = f"{output}: quantization did not write the int8 model"
        raise ModelError(msg)
    return path


def resolve_model(
    scale: int,
    precision: str,
    model: str | os.PathLike[str] | None = None,
    *,
    build: bool = True,
) -> Path:
    """The ONNX file for ``scale`` and ``precision``, building the default one if missing.

    Args:
        scale: 2, 3 or 4.
        precision: ``"int8"`` or ``"fp32"``.
        model: explicit ``.onnx`` path; must exist and be a x``scale`` model of ``precision``.
        build: allow exporting / quantizing a missing default model.

    Returns:
        Path of an existing ONNX model.

    Raises:
        ConfigError: unknown scale or precision.
        ModelError: the model is missing, unreadable, of another scale or precision, or cannot be
            built (int8 without the quantization package).
    """
    s = check_scale(scale)
    prec = check_precision(precision)
    if model is not None:
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
    path = default_model_path(s, prec)
    if path.is_file():
        return path
    if not build:
        msg = f"{path}: model not found"
        raise ModelError(msg)
    fp32 = default_model_path(s, "fp32")
    if not fp32.is_file():
        build_fp32_model(s, fp32)
    if prec == "fp32":
        return fp32
    return _build_int8_model(s, fp32, path)
