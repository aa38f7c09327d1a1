"""Decode, upscale and encode one segment of a video into its own file (video only).

Every segment's encoder is set up from the same things as the single pass's (the source's first
frame: size, pixel format, colour tags, HDR metadata; the same encoder settings and codec), so
the segments join by stream copy (:mod:`.join`). The segment file is NUT, FFmpeg's own
container: it keeps any codec and the source's timestamps exactly. Audio, subtitles and chapters
are not in it: the join muxes them once from the source.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from ..core.errors import VideoError
from .encoder import EncoderSettings, choose_codec
from .engine import EngineIO, FrameFn, PipelineStats, StreamingEngine
from .probe import import_av
from .segments import Segment
from .wiring import (
    OutputVideo,
    add_output_video,
    ffmpeg_errors,
    frame_bar,
    output_container,
    reopen_after_first_frame,
)

__all__ = ["SEGMENT_FORMAT", "SegmentJob", "encode_segment"]

SEGMENT_FORMAT = "nut"
"""Muxer of the segment files (any codec, timestamps in any time base, no edit lists)."""


@dataclass(frozen=True)
class SegmentJob:
    """What every segment of one video is made with (picklable: Ray actors receive it).

    Attributes:
        source: the input video (at the same path on every node).
        scale: the frame function's factor when ``size`` is not given.
        settings: encoder settings.
        fmt: the final output's muxer (it decides the codec, :func:`choose_codec`).
        size: the output ``(width, height)`` when not a plain ``scale``.
        stretch: how much wider than tall the frame function makes each pixel.
    """

    source: str
    scale: int
    settings: EncoderSettings = field(default_factory=EncoderSettings)
    fmt: str = "matroska"
    size: tuple[int, int] | None = None
    stretch: Fraction = Fraction(1)


def encode_segment(
    job: SegmentJob,
    segment: Segment,
    *,
    frame_fn: FrameFn,
    dst: str | os.PathLike[str],
    bar: Any = None,
    queue_size: int = 8,
) -> PipelineStats:
    """Write ``segment`` of ``job.source`` upscaled by ``frame_fn`` to ``dst`` (NUT, directly).

    Args:
        job: the video's settings.
        segment: which frames (:func:`~lesrcnn_deploy.video.segments.plan_segments`).
        frame_fn: RGB frame -> upscaled RGB frame (see :func:`.pipeline.run_pipeline`).
        dst: the segment file (wrap in an atomic path).
        bar: a tqdm bar advanced once per frame, or ``None``.
        queue_size: frames held between two stages.

    Raises:
        VideoError: the source cannot be decoded, or the segment does not hold the frames the
            plan counted (a seek that missed its keyframe, a changed file).
    """
    import_av()  # MissingExtraError before anything else
    src = Path(job.source)
    codec = choose_codec(job.fmt, job.settings.codec)
    stats = PipelineStats(codec=codec)
    own_bar = frame_bar(0, name=src.name, progress=False) if bar is None else None
    bar_scope = own_bar if own_bar is not None else contextlib.nullcontext(bar)
    with bar_scope as bar, ffmpeg_errors(f"{src}: segment {segment.index}"):
        # the file's first frame sets up every segment
        inp, vin, first = reopen_after_first_frame(src)
        with inp:
            if segment.start is not None:
                inp.seek(segment.start, stream=vin, backward=True, any_frame=False)
            options = {"avoid_negative_ts": "disabled"}
            with output_container(dst, fmt=SEGMENT_FORMAT, options=options) as out:
                video = OutputVideo(first, job.scale, job.size, job.stretch)
                vout, enc = add_output_video(
                    out, vin, video=video, settings=job.settings, stats=stats
                )
                window = (segment.start, segment.end)
                io = EngineIO(inp, out, vin, vout, enc, window=window)
                engine = StreamingEngine(
                    io, frame_fn=frame_fn, stats=stats, bar=bar, queue_size=queue_size
                )
                engine.run()
    _check_frames(src, segment, decoded=stats.frames)
    return stats


def _check_frames(src: Path, segment: Segment, *, decoded: int) -> None:
    """Refuse a segment that did not decode the frames the plan counted, or none."""
    if segment.frames and decoded != segment.frames:
        msg = (
            f"{src}: segment {segment.index} decoded {decoded} frames where the file's "
            f"index lists {segment.frames} (a seek that missed its keyframe, or a changed file)"
        )
        raise VideoError(msg)
    if decoded == 0:
        msg = f"{src}: segment {segment.index}: no video frame could be decoded"
        raise VideoError(msg)
