"""The default int8 models, shipped inside the package as release artifacts.

``lesrcnn_x{2,3,4}_int8.onnx`` in this folder are what ``make quantize`` builds from the official
checkpoints and the committed recipes (``calibration/``), byte for byte; ``SHA256SUMS`` pins them
(``sha256sum -c SHA256SUMS`` works here). They are small (0.7-0.9 MB each) and change only when a
recipe or the exporter does, so they ship with the package: a runtime install runs them without
PyTorch, without a download and without building anything. ``make artifacts`` refreshes them from
a rebuild; ``tests/test_artifacts.py`` rebuilds them from the checkpoints and requires the same
SHA256, so they cannot drift from the recipes.

Inference reads them through :func:`shipped_model`, which checks the file's SHA256 once per
process.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from ..core.errors import ChecksumError, ConfigError, ModelError
from ..core.fileio import sha256_file

__all__ = ["SCALES", "artifacts_dir", "shipped_model", "shipped_sha256"]

SCALES = (2, 3, 4)
"""Scales of the shipped int8 models."""

_verified: set[Path] = set()


def artifacts_dir() -> Path:
    """The folder of the shipped models and their ``SHA256SUMS``."""
    return Path(str(resources.files(__name__)))


def shipped_sha256() -> dict[str, str]:
    """``{file name: SHA256}`` from ``SHA256SUMS``."""
    sums = artifacts_dir() / "SHA256SUMS"
    table: dict[str, str] = {}
    for line in sums.read_text(encoding="utf-8").splitlines():
        if line.strip():
            digest, name = line.split(maxsplit=1)
            table[name.lstrip("*")] = digest
    return table


def shipped_model(scale: int) -> Path:
    """The shipped default int8 model of ``scale``, its SHA256 checked (once per process).

    Raises:
        ConfigError: ``scale`` is not 2, 3 or 4.
        ModelError: the file is missing from the installation.
        ChecksumError: the file does not match ``SHA256SUMS`` (a damaged installation).
    """
    if scale not in SCALES:
        msg = f"no shipped int8 model for scale {scale!r}: choose from 2, 3, 4"
        raise ConfigError(msg)
    name = f"lesrcnn_x{scale}_int8.onnx"
    path = artifacts_dir() / name
    if path in _verified:
        return path
    if not path.is_file():
        msg = f"{path}: shipped int8 model missing (reinstall lesrcnn-deploy)"
        raise ModelError(msg)
    want = shipped_sha256().get(name)
    got = sha256_file(path)
    if got != want:
        msg = f"{path}: SHA256 {got[:12]} does not match SHA256SUMS ({str(want)[:12]}); reinstall"
        raise ChecksumError(msg)
    _verified.add(path)
    return path
