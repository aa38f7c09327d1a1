"""The set-up the single pass (:mod:`.pipeline`), the segments (:mod:`.segment_run`), the join
(:mod:`.join`) and the segmented job (:mod:`.segmented`) share, written once: the source reopened
after its first frame, the output video stream, the copied streams and tags, the progress bar, and
closing an output after a failure.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from ..core.errors import VideoError
from .checks import reason
from .encoder import EncoderSettings
from .engine import PipelineStats
from .probe import first_frame, import_av, open_input, pick_video_stream
from .streams import Encoding, add_copied_streams, add_video_stream, copy_chapters, tags

__all__ = [
    "OutputVideo",
    "add_output_video",
    "close_quietly",
    "copy_source_streams",
    "even_size",
    "ffmpeg_errors",
    "frame_bar",
    "output_container",
    "reopen_after_first_frame",
]


def even_size(width: int, height: int) -> tuple[int, int]:
    """``(width, height)`` with each odd side one pixel shorter (at least 2)."""
    return max(2, width - width % 2), max(2, height - height % 2)


def reopen_after_first_frame(src: Path) -> tuple[Any, Any, Any]:
    """``(container, video stream, first frame)`` of ``src``: the first frame is decoded, then
    the file is reopened at its start (rather than sought: seeking is not exact in every
    container). Both opens decode the video stream with FFmpeg's automatic threading."""
    inp = open_input(src)
    try:
        vin = pick_video_stream(inp, src)
        vin.thread_type = "AUTO"
        first = first_frame(inp, vin, path=src)
    finally:
        inp.close()
    inp = open_input(src)
    try:
        vin = pick_video_stream(inp, src)
    except BaseException:
        inp.close()
        raise
    vin.thread_type = "AUTO"
    return inp, vin, first


@dataclass(frozen=True)
class OutputVideo:
    """The output frames: the source's ``first`` frame times ``scale`` with even sides, or
    ``size``; ``stretch``: how much wider than tall the frame function makes each pixel."""

    first: Any
    scale: int
    size: tuple[int, int] | None = None
    stretch: Fraction = Fraction(1)


def add_output_video(
    out: Any,
    vin: Any,
    *,
    video: OutputVideo,
    settings: EncoderSettings,
    stats: PipelineStats,
) -> tuple[Any, Encoding]:
    """Add the encoded video stream (codec ``stats.codec``) of ``video`` to ``out``; ``stats``
    gets its pixel format and size. Returns the stream and its encoding (see
    :func:`~.streams.add_video_stream`)."""
    first = video.first
    out_size = video.size or even_size(first.width * video.scale, first.height * video.scale)
    vout, enc = add_video_stream(
        out,
        vin,
        first=first,
        out_size=out_size,
        codec=stats.codec,
        settings=settings,
        stretch=video.stretch,
    )
    stats.pix_fmt, stats.size = vout.codec_context.pix_fmt, out_size
    return vout, enc


def copy_source_streams(out: Any, inp: Any, *, skip: int, fmt: str, stats: Any) -> dict[int, Any]:
    """Copy ``inp``'s audio and subtitle streams, container tags and chapters into ``out``.

    ``stats`` (a :class:`~.engine.PipelineStats` or :class:`~.join.JoinStats`) gets the dropped
    streams, a zero packet count per copied stream and the chapter count. Returns input stream
    index -> output stream (see :func:`~.streams.add_copied_streams`)."""
    copies, stats.dropped_streams = add_copied_streams(out, inp, skip=skip, fmt=fmt)
    stats.copied_packets = {s.index: 0 for s in copies.values()}
    out.metadata.update(tags(inp.metadata))
    stats.chapters = copy_chapters(out, inp)
    return copies


def frame_bar(total: int, *, name: str, progress: bool, initial: int = 0) -> Any:
    """The tqdm bar over a video's frames on stderr (``total`` 0: unknown)."""
    from tqdm import tqdm

    return tqdm(
        total=total or None,
        initial=initial,
        unit="frame",
        desc=name,
        disable=not progress,
        file=sys.stderr,
        dynamic_ncols=True,
        leave=False,
    )


def close_quietly(out: Any) -> None:
    """Close ``out`` after a failure (``None``: nothing to close); its errors are not reported,
    the run failed already and the caller removes the file."""
    if out is not None:
        with contextlib.suppress(Exception):
            out.close()


@contextlib.contextmanager
def ffmpeg_errors(what: str) -> Iterator[None]:
    """Turn an FFmpeg error inside the block into a :class:`VideoError` ``"{what}: {reason}"``."""
    av = import_av()
    try:
        yield
    except av.FFmpegError as exc:
        msg = f"{what}: {reason(exc)}"
        raise VideoError(msg) from None


@contextlib.contextmanager
def output_container(
    dst: str | os.PathLike[str], *, fmt: str, options: Mapping[str, str] | None = None
) -> Iterator[Any]:
    """The output container ``dst`` (muxer ``fmt``), closed (trailer written) when the block
    ends; after a failure it is closed quietly (:func:`close_quietly`)."""
    av = import_av()
    extra = {"options": dict(options)} if options is not None else {}
    out = av.open(str(dst), "w", format=fmt, **extra)
    try:
        yield out
    except BaseException:
        close_quietly(out)
        raise
    out.close()
