"""Named exceptions of lesrcnn-deploy.

Every error the toolkit raises on purpose derives from :class:`LesrcnnError`; the CLI turns any of
them into a one-line message and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import re

__all__ = [
    "BenchError",
    "CalibrationError",
    "ChecksumError",
    "ConfigError",
    "DatasetError",
    "DownloadError",
    "ExportError",
    "ImageError",
    "ImageTooLargeError",
    "LesrcnnError",
    "MissingExtraError",
    "ModelError",
    "QuantizationError",
    "RuntimeUnavailableError",
    "ServerBusyError",
    "StorageError",
    "UnsupportedFormatError",
    "VideoError",
    "VideoTooLargeError",
    "WeightsError",
    "one_line",
]


class LesrcnnError(Exception):
    """Base class of every error raised on purpose by lesrcnn-deploy.

    Attributes:
        http_status: what the HTTP service answers for it (``docs/robustness.md``). The CLI
            exits 2 for any of them that stops a command; ``upscale`` exits 1 instead when
            image or video errors failed some inputs and the others were written.
    """

    http_status: int = 500


class ConfigError(LesrcnnError, ValueError):
    """An option or argument has a value outside its allowed set."""

    http_status = 400


class StorageError(LesrcnnError, OSError):
    """A file could not be read or written (disk full, permissions, missing folder); the message
    names the file and the operating system's reason (``errno``/``strerror`` are kept)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else super().__str__()


class ChecksumError(LesrcnnError):
    """A file's SHA256 does not match the digest on record."""


class WeightsError(LesrcnnError):
    """A checkpoint is missing, unreadable, of the wrong scale or has missing/unexpected keys."""


class DownloadError(LesrcnnError):
    """A download failed or was cut short."""


class ImageError(LesrcnnError):
    """An image file is empty, truncated, not an image, or of an unsupported kind."""

    http_status = 400


class MissingExtraError(LesrcnnError):
    """An optional capability is used without its extra installed (the message names it)."""


class ImageTooLargeError(ImageError):
    """An image has more input or output pixels than the configured limit (read from its
    header, before any work)."""

    http_status = 413


class UnsupportedFormatError(ImageError):
    """A format (or a format/content combination) that cannot be read or written: SVG, GIF as
    a still, an unknown file."""

    http_status = 415


class ServerBusyError(LesrcnnError):
    """The inference queue is full; the request was refused without doing any work."""

    http_status = 503


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


class VideoError(LesrcnnError):
    """A video has no video stream, is truncated, or has a codec or layout we cannot handle."""

    http_status = 400


class VideoTooLargeError(VideoError):
    """A video's frames (input, or the planned output) pass the configured pixel limit (read from
    the stream header, before any frame is decoded)."""

    http_status = 413


class BenchError(LesrcnnError):
    """A bench measurement could not be made (a server did not start, a job failed)."""


class RuntimeUnavailableError(MissingExtraError):
    """An optional inference runtime (e.g. OpenVINO) is not installed."""


# Where-lines of C++ libraries that say nothing of the reason (OpenVINO's "Exception from
# src/inference/src/cpp/core.cpp:84:", "Check '...' failed at src/...:117:").
_WHERE = re.compile(r"^(Exception from \S+:\d+:?|Check '.*' failed at \S+:\d+:?)$")


def one_line(exc: BaseException, *, limit: int = 0) -> str:
    """The one-line form of ``exc`` for messages: its first non-empty line, whitespace collapsed,
    cut to ``limit`` characters (0 = no cut), or the exception's type name when it says nothing.

    A message that begins with C++ source locations (OpenVINO's ``Exception from
    src/...cpp:84:``) keeps its reason instead: the lines after them, joined.

    Every "error: ..." line of the CLI, the service and the batch summaries goes through here.
    """
    lines = [" ".join(line.split()) for line in str(exc).splitlines()]
    lines = [line for line in lines if line]
    if lines and _WHERE.match(lines[0]):
        reason = [line for line in lines if not _WHERE.match(line)]
        text = " ".join(reason) or lines[0]
    else:
        text = next(iter(lines), "") or type(exc).__name__
    return text[:limit] if limit > 0 else text
