"""Inspect a video file: its container, main video stream, rotation and the other streams.

PyAV (the ``video`` extra) is imported lazily: importing this module costs nothing, and
:func:`import_av` turns a missing install into one line that says what to ``pip install``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import ModuleType
from typing import Any

from ..core.errors import MissingExtraError, UnsupportedFormatError, VideoError
from ..core.extras import require

__all__ = [
    "OUTPUT_CONTAINERS",
    "VIDEO_EXTENSIONS",
    "VideoHeader",
    "VideoInfo",
    "first_frame",
    "import_av",
    "is_video",
    "list_videos",
    "looks_like_video",
    "open_input",
    "pick_video_stream",
    "probe_video",
    "read_header",
]

VIDEO_EXTENSIONS: tuple[str, ...] = (
    ".3gp",
    ".avi",
    ".flv",
    ".m2ts",
    ".m4v",
    ".mkv",
    ".mov",
    ".mp4",
    ".mpeg",
    ".mpg",
    ".mts",
    ".ogv",
    ".ts",
    ".webm",
    ".wmv",
)
"""Extensions (lower case) listed as videos in folder inputs; a single file is probed instead."""

OUTPUT_CONTAINERS: dict[str, str] = {
    ".mp4": "mp4",
    ".m4v": "mp4",
    ".mkv": "matroska",
    ".mov": "mov",
    ".webm": "webm",
}
"""Output extension -> FFmpeg muxer name (the containers we write)."""


def import_av() -> ModuleType:
    """Import PyAV, or raise :class:`MissingExtraError` naming the extra to install."""
    return require("av", "video", what="video upscaling")


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe_video` found.

    Attributes:
        path: the file.
        container: FFmpeg's demuxer name (e.g. ``"mov,mp4,m4a,3gp,3g2,mj2"``, ``"matroska,webm"``).
        codec: video decoder name (e.g. ``"h264"``).
        width: coded frame width in pixels (before rotation).
        height: coded frame height in pixels.
        pix_fmt: decoded pixel format (e.g. ``"yuv420p"``).
        time_base: the video stream's time base (seconds per pts tick).
        frame_rate: average frame rate (frames/s), or the guessed one; ``None`` if unknown.
        frames: frame count from the container index (0 when the container does not say).
        duration: container duration in seconds, ``None`` if unknown.
        rotation: counter-clockwise display rotation in degrees from the display matrix (0 if none).
        display_matrix: the 3x3 display matrix (9 ints, FFmpeg's 16.16 / 2.30 fixed point) or
            ``None``; carried to the output as it is, so flips are kept too.
        audio: number of audio streams.
        subtitles: number of subtitle streams.
        other: number of other streams (data, attachments, extra video tracks, cover pictures).
    """

    path: Path
    container: str
    codec: str
    width: int
    height: int
    pix_fmt: str
    time_base: Fraction
    frame_rate: Fraction | None
    frames: int
    duration: float | None
    rotation: float
    display_matrix: tuple[int, ...] | None
    audio: int
    subtitles: int
    other: int


def open_input(path: str | os.PathLike[str]) -> Any:
    """Open ``path`` with PyAV for reading.

    Raises:
        VideoError: the file is missing, is not a media container FFmpeg can read, or is
            truncated before its header ends.
        MissingExtraError: PyAV is not installed.
    """
    av = import_av()
    p = Path(path)
    if not p.is_file():
        msg = f"{p}: no such file"
        raise VideoError(msg)
    try:
        return av.open(str(p), metadata_errors="ignore")
    except av.FFmpegError as exc:
        msg = f"{p}: not a readable video ({_reason(exc)})"
        raise VideoError(msg) from None


def pick_video_stream(container: Any, path: str | os.PathLike[str]) -> Any:
    """The first video stream of ``container`` that is not a cover picture.

    Raises:
        UnsupportedFormatError: a still image FFmpeg can read (e.g. SVG), not a video.
        VideoError: no such stream (e.g. an audio-only file).
    """
    _refuse_image_demuxer(container, Path(path))
    for stream in container.streams.video:
        if not _is_attached_pic(stream):
            return stream
    kinds = ", ".join(sorted({s.type for s in container.streams})) or "no streams"
    msg = f"{path}: no video stream ({kinds})"
    raise VideoError(msg)


def first_frame(container: Any, stream: Any, *, path: str | os.PathLike[str]) -> Any:
    """Decode the first frame of ``stream`` (its size, format, colour tags, rotation).

    Raises:
        VideoError: the stream cannot be decoded or has no frame.
    """
    av = import_av()
    name = stream.codec_context.name
    try:
        first = next(container.decode(stream), None)
    except av.FFmpegError as exc:
        msg = f"{path}: cannot decode the video stream ({name}): {_reason(exc)}"
        raise VideoError(msg) from None
    if first is None:
        msg = f"{path}: the video stream ({name}) has no decodable frame"
        raise VideoError(msg)
    return first


@dataclass(frozen=True)
class VideoHeader:
    """What the container and stream headers say, before any frame is decoded.

    Attributes:
        width: coded frame width (0 when the header does not say).
        height: coded frame height (0 when the header does not say).
        frames: frame count from the index (0 when unknown), else estimated from the duration.
    """

    width: int
    height: int
    frames: int


def read_header(path: str | os.PathLike[str]) -> VideoHeader:
    """The frame size and count of ``path``'s video stream, from the headers only (nothing is
    decoded: a size limit can be checked before the first frame is).

    Raises:
        UnsupportedFormatError: a still image FFmpeg can read (e.g. SVG), not a video.
        VideoError: not a video container, or no video stream.
        MissingExtraError: PyAV is not installed.
    """
    p = Path(path)
    with open_input(p) as container:
        stream = pick_video_stream(container, p)
        ctx = stream.codec_context
        w, h = (int(ctx.width or 0), int(ctx.height or 0)) if ctx is not None else (0, 0)
        frames = int(stream.frames or 0)
        rate = stream.average_rate or stream.guessed_rate
        if not frames and container.duration and rate:
            frames = round(container.duration / 1e6 * float(rate))
        return VideoHeader(w, h, frames)


def _refuse_image_demuxer(container: Any, path: Path) -> None:
    name = str(getattr(container.format, "name", ""))
    if name in _IMAGE_DEMUXERS or name.endswith("_pipe"):
        msg = f"{path}: not a video (FFmpeg reads it as a still image: {name})"
        raise UnsupportedFormatError(msg)


def probe_video(path: str | os.PathLike[str]) -> VideoInfo:
    """Open ``path``, pick its video stream and decode the first frame.

    Decoding a frame proves the decoder exists and yields the display matrix (rotation), which
    FFmpeg attaches to decoded frames.

    Raises:
        UnsupportedFormatError: a still image FFmpeg can read (e.g. SVG), not a video.
        VideoError: not a video container, no video stream, unsupported codec, or no frame.
        MissingExtraError: PyAV is not installed.
    """
    p = Path(path)
    with open_input(p) as container:
        stream = pick_video_stream(container, p)
        ctx = stream.codec_context
        if ctx is None or not ctx.is_decoder:
            name = getattr(ctx, "name", None) or "unknown"
            msg = f"{p}: video codec {name!r} has no decoder in this FFmpeg"
            raise VideoError(msg)
        first = first_frame(container, stream, path=p)
        matrix = display_matrix(first)
        others = [s for s in container.streams if s.index != stream.index]
        return VideoInfo(
            path=p,
            container=container.format.name,
            codec=ctx.name,
            width=first.width,
            height=first.height,
            pix_fmt=first.format.name,
            time_base=stream.time_base,
            frame_rate=stream.average_rate or stream.guessed_rate,
            frames=int(stream.frames or 0),
            duration=None if container.duration is None else container.duration / 1e6,
            rotation=float(first.rotation or 0),
            display_matrix=matrix,
            audio=sum(s.type == "audio" for s in others),
            subtitles=sum(s.type == "subtitle" for s in others),
            other=sum(s.type not in ("audio", "subtitle") for s in others),
        )


def is_video(path: str | os.PathLike[str]) -> bool:
    """True when FFmpeg opens ``path`` and finds a video stream (not only a cover picture).

    Cheap: reads the container header only, decodes nothing. False for images, audio-only
    files, unreadable files and when PyAV is not installed.
    """
    try:
        av = import_av()
    except MissingExtraError:
        return False
    p = Path(path)
    if not p.is_file():
        return False
    try:
        with av.open(str(p), metadata_errors="ignore") as container:
            name = str(getattr(container.format, "name", ""))
            if name in _IMAGE_DEMUXERS or name.endswith("_pipe"):  # svg_pipe, ...
                return False
            return any(not _is_attached_pic(s) for s in container.streams.video)
    except av.FFmpegError:
        return False


def looks_like_video(path: str | os.PathLike[str]) -> bool:
    """Route a file: image extensions -> image, :data:`VIDEO_EXTENSIONS` -> video (even when
    damaged, so the video path reports why), anything else -> :func:`is_video` (probe)."""
    from ..data import SUPPORTED_EXTENSIONS

    ext = Path(path).suffix.lower()
    if ext in SUPPORTED_EXTENSIONS:
        return False
    if ext in VIDEO_EXTENSIONS:
        return True
    return is_video(path)


def list_videos(folder: str | os.PathLike[str], recursive: bool = False) -> list[Path]:
    """Files of ``folder`` with a :data:`VIDEO_EXTENSIONS` extension, sorted (hidden skipped)."""
    root = Path(folder)
    candidates = root.rglob("*") if recursive else root.iterdir()
    found = []
    for p in candidates:
        if any(part.startswith(".") for part in p.relative_to(root).parts):
            continue
        if p.suffix.lower() in VIDEO_EXTENSIONS and p.is_file():
            found.append(p)
    return sorted(found)


# FFmpeg reads still images as one-frame "videos"; they stay with the image path.
_IMAGE_DEMUXERS = frozenset(
    {
        "image2",
        "png_pipe",
        "jpeg_pipe",
        "webp_pipe",
        "bmp_pipe",
        "tiff_pipe",
        "gif",
        "gif_pipe",
        "jpegls_pipe",
        "jpegxl_pipe",
        "qoi_pipe",
        "ppm_pipe",
        "pgm_pipe",
        "pam_pipe",
    }
)


def display_matrix(frame: Any) -> tuple[int, ...] | None:
    """The 9 int32 of a decoded frame's ``DISPLAYMATRIX`` side data, or ``None``."""
    import struct

    for sd in frame.side_data:
        if str(getattr(sd.type, "name", sd.type)).upper().endswith("DISPLAYMATRIX"):
            raw = bytes(sd)
            if len(raw) >= 36:
                return struct.unpack("<9i", raw[:36])
    return None


def _is_attached_pic(stream: Any) -> bool:
    try:
        return bool(stream.disposition & stream.disposition.__class__.attached_pic)
    except AttributeError:
        return False


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return " ".join(str(text).split()) or type(exc).__name__
