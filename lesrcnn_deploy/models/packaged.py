"""The default int8 models shipped inside the package (:mod:`lesrcnn_deploy.artifacts`).

``lesrcnn_x{2,3,4}_int8.onnx`` there are what ``make quantize`` builds from the official
checkpoints and the committed recipes, byte for byte; ``SHA256SUMS`` pins them. Inference opens
them through :func:`shipped`, which checks each file against ``SHA256SUMS`` once per process (the
digest is the record's, computed from the one read).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import NoReturn

from ..core.errors import ChecksumError, ConfigError, ModelError
from ..core.fileio import sha256_file
from ..core.vocab import SCALES
from .names import model_file_name
from .record import ModelFile, open_model

__all__ = ["artifacts_dir", "shipped", "shipped_sha256"]

_opened: dict[Path, ModelFile] = {}


def artifacts_dir() -> Path:
    """The folder of the shipped models and their ``SHA256SUMS``."""
    return Path(str(resources.files("lesrcnn_deploy.artifacts")))


def shipped_sha256() -> dict[str, str]:
    """``{file name: SHA256}`` from ``SHA256SUMS``."""
    sums = artifacts_dir() / "SHA256SUMS"
    table: dict[str, str] = {}
    for line in sums.read_text(encoding="utf-8").splitlines():
        if line.strip():
            digest, name = line.split(maxsplit=1)
            table[name.lstrip("*")] = digest
    return table


def shipped(scale: int) -> ModelFile:
    """The shipped default int8 model of ``scale``, its SHA256 checked (once per process).

    Raises:
        ConfigError: ``scale`` is not 2, 3 or 4.
        ModelError: the file is missing from the installation.
        ChecksumError: the file does not match ``SHA256SUMS`` (a damaged installation).
    """
    if scale not in SCALES or isinstance(scale, bool):
        msg = f"no shipped int8 model for scale {scale!r}: choose from 2, 3, 4"
        raise ConfigError(msg)
    name = model_file_name(scale, "int8")
    path = artifacts_dir() / name
    if path in _opened:
        return _opened[path]
    if not path.is_file():
        msg = f"{path}: shipped int8 model missing (reinstall lesrcnn-deploy)"
        raise ModelError(msg)
    want = str(shipped_sha256().get(name))
    try:
        model = open_model(path, scale=scale, precision="int8")
    except ModelError:  # damaged past reading: the checksum says so
        _mismatch(path, sha256_file(path), want)
    if model.sha256 != want:
        _mismatch(path, model.sha256, want)
    _opened[path] = model
    return model


def _mismatch(path: Path, got: str, want: str) -> NoReturn:
    msg = f"{path}: SHA256 {got[:12]} does not match SHA256SUMS ({want[:12]}); reinstall"
    raise ChecksumError(msg)
