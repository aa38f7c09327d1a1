"""Named exceptions of lesrcnn-deploy.

Every error the toolkit raises on purpose derives from :class:`LesrcnnError`; the CLI turns any of
them into a one-line message and a non-zero exit, never a traceback.
"""

from __future__ import annotations

__all__ = [
    "CalibrationError",
    "ChecksumError",
    "ConfigError",
    "DatasetError",
    "DownloadError",
    "ExportError",
    "ImageError",
    "LesrcnnError",
    "ModelError",
    "QuantizationError",
    "RuntimeUnavailableError",
    "WeightsError",
]


class LesrcnnError(Exception):
    """Base class of every error raised on purpose by lesrcnn-deploy."""


class ConfigError(LesrcnnError, ValueError):
    """An option or argument has a value outside its allowed set."""


class ChecksumError(LesrcnnError):
    """A file's SHA256 does not match the digest on record."""


class WeightsError(LesrcnnError):
    """A checkpoint is missing, unreadable, of the wrong scale or has missing/unexpected keys."""


class DownloadError(LesrcnnError):
    """A download failed or was cut short."""


class ImageError(LesrcnnError):
    """An image file is empty, truncated, not an image, or of an unsupported kind."""


class DatasetError(LesrcnnError):
    """A dataset folder has no recognised layout, or its HR and LR files do not match."""


class ModelError(LesrcnnError):
    """An ONNX model is unreadable or is not a LESRCNN model of the requested scale."""


class ExportError(LesrcnnError):
    """An export failed its parity check or the ONNX checker."""


class QuantizationError(LesrcnnError):
    """Quantization produced a model that breaks an invariant (e.g. float DepthToSpace)."""


class CalibrationError(LesrcnnError):
    """Calibration data is missing, unreadable or too small."""


class RuntimeUnavailableError(LesrcnnError):
    """An optional inference runtime (e.g. OpenVINO) is not installed."""
