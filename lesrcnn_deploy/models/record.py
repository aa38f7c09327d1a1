"""The record of an opened model: what the file is, read and checked once.

:func:`open_model` is the only place that reads a model's ``lesrcnn.*`` metadata and checks it
(a toolkit model, of the scale and file precision asked for); it hashes the same bytes it read.
Everything above (the runtimes, ``Upscaler``, the service, Ray, the benchmark) takes the
:class:`ModelFile` it returns and checks nothing again.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import ModelError
from ..core.onnx_io import check_model, parse_metadata
from ..core.vocab import check_model_precision, check_scale

__all__ = ["ModelFile", "as_record", "is_official_fp32", "open_model"]


@dataclass(frozen=True)
class ModelFile:
    """An opened toolkit model: made by :func:`open_model` only.

    Attributes:
        path: the ``.onnx`` file.
        scale: its scale (2, 3 or 4), from its metadata.
        precision: the file's precision, ``"int8"`` or ``"fp32"`` (not how it runs: that is the
            compute precision, ``f32``/``bf16``, a runtime setting).
        metadata: its ``lesrcnn.*`` metadata (treat as read-only; a plain dict so that the
            record pickles, e.g. to Ray actors).
        sha256: the file's SHA256, computed from the bytes read once.
    """

    path: Path
    scale: int
    precision: str
    metadata: Mapping[str, str]
    sha256: str

    def __fspath__(self) -> str:
        return os.fspath(self.path)


def open_model(
    path: str | os.PathLike[str], *, scale: int = 0, precision: str = "", asked: str = ""
) -> ModelFile:
    """Read ``path`` once and check it: a lesrcnn-deploy model of ``scale`` and ``precision``.

    Args:
        path: the ``.onnx`` file.
        scale: the scale it must have (0 = any).
        precision: the file precision it must have (``"int8"``/``"fp32"``; ``""`` = any).
        asked: what the user asked for, named in the message when it differs from
            ``precision`` (``bf16`` runs an fp32 file).

    Raises:
        ConfigError: unknown scale or precision.
        ModelError: missing, unreadable, not a lesrcnn-deploy model, or of another scale or
            precision.
    """
    p = Path(path)
    if scale:
        check_scale(scale)
    if precision:
        check_model_precision(precision)
    if not p.is_file():
        msg = f"{p}: model file not found"
        raise ModelError(msg)
    data = p.read_bytes()
    metadata = parse_metadata(data, p)
    found = metadata.get("scale")
    if found is None:
        msg = f"{p}: not a lesrcnn-deploy model (no lesrcnn.scale metadata)"
        raise ModelError(msg)
    check_model(p, metadata, scale=scale, precision=precision, asked=asked)
    return ModelFile(
        path=p,
        scale=int(found),
        precision=metadata.get("precision", "fp32"),
        metadata=dict(metadata),
        sha256=hashlib.sha256(data).hexdigest(),
    )


def as_record(model: ModelFile | str | os.PathLike[str], *, scale: int = 0) -> ModelFile:
    """``model`` itself when it is a record (nothing read or checked again), else the path
    opened by :func:`open_model` (of ``scale``, 0 = any)."""
    return model if isinstance(model, ModelFile) else open_model(model, scale=scale)


def is_official_fp32(model: ModelFile) -> bool:
    """True when ``model`` is this toolkit version's fp32 export of the official checkpoint of
    its scale (its metadata names the checkpoint's SHA256 and the version)."""
    from .. import __version__
    from ..weights.registry import get_weights

    return (
        model.precision == "fp32"
        and model.metadata.get("checkpoint_sha256") == get_weights(model.scale).sha256
        and model.metadata.get("toolkit_version") == __version__
    )
