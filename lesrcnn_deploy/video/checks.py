"""Integrity checks: refuse what would silently give a wrong or short output.

A frame function that returns the wrong shape, a frame size that changes mid-stream, a file
that ends before its index (or Matroska's DURATION tag) says, a stream with no frame at all.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ..core.errors import VideoError
from .timing import parse_duration

__all__ = ["check_complete", "check_frame", "check_frame_size", "reason"]


def check_frame(up: npt.NDArray[Any], rgb: npt.NDArray[Any], *, size: tuple[int, int]) -> None:
    """Refuse a frame function's output ``up`` for input ``rgb`` unless ``size`` and same dtype.

    Args:
        up: what the frame function returned.
        rgb: its ``(H, W, 3)`` input.
        size: the expected output ``(width, height)``.

    Raises:
        VideoError: another shape or dtype, or not an array.
    """
    want = (size[1], size[0], 3)
    if not isinstance(up, np.ndarray) or up.shape != want or up.dtype != rgb.dtype:
        got = getattr(up, "shape", type(up).__name__), getattr(up, "dtype", "")
        msg = f"frame_fn returned {got}, expected {want} {rgb.dtype}"
        raise VideoError(msg)


def check_frame_size(frame: Any, size: tuple[int, int]) -> None:
    """Refuse a decoded ``frame`` whose size is not the first frame's ``(width, height)``.

    Raises:
        VideoError: the frame size changes mid-stream.
    """
    if (frame.width, frame.height) != size:
        msg = (
            f"the frame size changes mid-stream ({size[0]}x{size[1]} -> "
            f"{frame.width}x{frame.height}); not supported"
        )
        raise VideoError(msg)


def check_complete(stream: Any, path: Path, *, frames: int, end_pts: int) -> None:
    """Refuse an input that ended before its index said (a cut-off file).

    Args:
        stream: the input video stream (frame count, time base, DURATION tag).
        path: the input file (for the message).
        frames: frames decoded and written.
        end_pts: where the last frame ends, in ``stream``'s time base.

    Raises:
        VideoError: fewer frames than the index lists, none at all, or frames that end well
            before Matroska's DURATION tag.
    """
    expected = int(stream.frames or 0)
    if expected and frames < expected:
        msg = f"{path}: truncated video: decoded {frames} of the {expected} frames its index lists"
        raise VideoError(msg)
    if frames == 0:
        msg = f"{path}: no video frame could be decoded"
        raise VideoError(msg)
    # Matroska has no frame index but FFmpeg's muxer tags each stream's DURATION.
    tagged = parse_duration(dict(stream.metadata).get("DURATION"))
    if tagged is not None and frames > 1:
        start = float((stream.start_time or 0) * stream.time_base)
        got = float(end_pts * stream.time_base) - start
        frame_s = got / frames
        if got < tagged - max(1.5 * frame_s, 0.05):
            msg = (
                f"{path}: truncated video: frames end at {got:.3f} s but the stream's "
                f"duration is {tagged:.3f} s"
            )
            raise VideoError(msg)


def reason(exc: BaseException) -> str:
    """An FFmpeg error as one line (its strerror, else its text, else its type)."""
    text = getattr(exc, "strerror", None) or str(exc)
    return " ".join(str(text).split()) or type(exc).__name__
