"""Streaming decode -> upscale -> encode of one video file, with everything but the pixels kept.

What is kept: every frame with its presentation timestamp in the input's time base (variable
frame rate included; the output stream asks for the same time base, which mp4/mov/mkv give when
they can represent it), each frame's duration, the frame rate, the display matrix (rotation and
flips), colour tags, pixel aspect ratio, audio and subtitle packets byte for byte (never
re-encoded), stream and container metadata. Other streams (data tracks, attachments, extra video
tracks, cover pictures) are dropped and listed in the result. Chapters (titles and times) and
HDR static metadata (mastering display, content light level; see :mod:`.hdr`) are kept too.
The output's sides are even (what 4:2:0 encoders need): an odd side is cropped by one pixel.

This module wires the parts together: :mod:`.encoder` (encoder policy), :mod:`.streams` (output
streams and metadata), :mod:`.engine` (the three overlapping stages), :mod:`.timing` (timestamp
arithmetic) and :mod:`.checks` (integrity checks). The output is written to ``dst`` directly;
:func:`~lesrcnn_deploy.video.api.upscale_video` wraps this in an atomic temporary file.
"""

from __future__ import annotations

import os
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

from .checks import check_complete
from .encoder import EncoderSettings, choose_codec, container_format
from .engine import EngineIO, FrameFn, PipelineStats, StreamingEngine
from .hdr import hdr_note
from .probe import import_av
from .wiring import (
    OutputVideo,
    add_output_video,
    copy_source_streams,
    even_size,
    ffmpeg_errors,
    frame_bar,
    output_container,
    reopen_after_first_frame,
)

__all__ = ["PipelineStats", "even_size", "run_pipeline"]


def run_pipeline(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    *,
    frame_fn: FrameFn,
    scale: int,
    settings: EncoderSettings,
    size: tuple[int, int] | None = None,
    stretch: Fraction = Fraction(1),
    fmt: str | None = None,
    progress: bool = True,
    queue_size: int = 8,
) -> PipelineStats:
    """Decode ``src``, apply ``frame_fn`` to every frame, encode to ``dst`` (see module doc).

    Args:
        src: input video.
        dst: output file (written directly; wrap in an atomic path).
        frame_fn: ``(H, W, 3)`` RGB uint8 (uint16 for inputs deeper than 8 bits) -> the output
            size's ``(height, width, 3)`` of the same dtype; called in the calling thread.
        scale: the upscaling factor of ``frame_fn`` when ``size`` is not given: the output is
            then ``(W*scale, H*scale)`` with odd sides one pixel shorter (:func:`even_size`).
        settings: encoder settings.
        size: the output ``(width, height)`` (even sides), when not a plain ``scale``.
        stretch: how much wider than tall ``frame_fn`` makes each pixel (the sample aspect ratio
            is multiplied by it); 1 when it keeps the aspect ratio.
        fmt: FFmpeg muxer name; default from ``dst``'s extension.
        progress: tqdm bar on stderr (frames, frames/s, ETA).
        queue_size: frames held between two stages (bounds memory).

    Returns:
        Counts and per-stage busy times.

    Raises:
        VideoError: no video stream, a truncated or undecodable file, a stream the output
            container cannot hold.
        ConfigError: bad encoder settings for the chosen codec.
        KeyboardInterrupt: after stopping the other stages (the caller removes ``dst``).
    """
    import_av()  # MissingExtraError before anything else
    src_p = Path(src)
    fmt = fmt or container_format(dst)
    stats = PipelineStats(codec=choose_codec(fmt, settings.codec))
    t_start = time.perf_counter()

    with ffmpeg_errors(str(src_p)):
        inp, vin, first = reopen_after_first_frame(src_p)
        with inp, output_container(dst, fmt=fmt) as out:
            video = OutputVideo(first, scale, size, stretch)
            vout, enc = add_output_video(out, vin, video=video, settings=settings, stats=stats)
            if enc.hdr.present and not enc.hdr_written:
                stats.notes.append(hdr_note(stats.codec))
            copies = copy_source_streams(out, inp, skip=vin.index, fmt=fmt, stats=stats)
            with frame_bar(_frame_count(vin), name=src_p.name, progress=progress) as bar:
                io = EngineIO(inp, out, vin, vout, enc, copies, mov=fmt in ("mp4", "mov"))
                engine = StreamingEngine(
                    io, frame_fn=frame_fn, stats=stats, bar=bar, queue_size=queue_size
                )
                engine.run()
            check_complete(vin, src_p, frames=stats.frames, end_pts=stats.end_pts)
    stats.wall_s = time.perf_counter() - t_start
    return stats


def _frame_count(vin: Any) -> int:
    """The video stream's frame count from its header, else from its duration (0: unknown)."""
    total = int(vin.frames or 0)
    if not total and vin.duration and vin.average_rate:
        total = round(float(vin.duration * vin.time_base * vin.average_rate))
    return total
