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

import contextlib
import os
import sys
import time
from fractions import Fraction
from pathlib import Path

from ..core.errors import VideoError
from .checks import check_complete, reason
from .encoder import EncoderSettings, choose_codec, container_format
from .engine import FrameFn, PipelineStats, StreamingEngine
from .hdr import hdr_note
from .probe import first_frame, import_av, open_input, pick_video_stream
from .streams import add_copied_streams, add_video_stream, copy_chapters, tags

__all__ = ["PipelineStats", "even_size", "run_pipeline"]


def even_size(width: int, height: int) -> tuple[int, int]:
    """``(width, height)`` with each odd side one pixel shorter (at least 2)."""
    return max(2, width - width % 2), max(2, height - height % 2)


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
    from tqdm import tqdm

    av = import_av()
    src_p = Path(src)
    fmt = fmt or container_format(dst)
    codec_name = choose_codec(fmt, settings.codec)
    stats = PipelineStats(codec=codec_name)
    t_start = time.perf_counter()

    inp = open_input(src_p)
    out = None
    try:
        vin = pick_video_stream(inp, src_p)
        vin.thread_type = "AUTO"
        first = first_frame(inp, vin, path=src_p)
        inp.close()  # reopen rather than seek: seeking is not exact in every container
        inp = open_input(src_p)
        vin = pick_video_stream(inp, src_p)
        vin.thread_type = "AUTO"

        out = av.open(str(dst), "w", format=fmt)
        out_size = size or even_size(first.width * scale, first.height * scale)
        vout, enc = add_video_stream(
            out,
            vin,
            first=first,
            out_size=out_size,
            codec=codec_name,
            settings=settings,
            stretch=stretch,
        )
        stats.pix_fmt, stats.size = vout.codec_context.pix_fmt, out_size
        if enc.hdr.present and not enc.hdr_written:
            stats.notes.append(hdr_note(codec_name))
        copies, stats.dropped_streams = add_copied_streams(out, inp, skip=vin.index, fmt=fmt)
        stats.copied_packets = {s.index: 0 for s in copies.values()}
        out.metadata.update(tags(inp.metadata))
        stats.chapters = copy_chapters(out, inp)

        total = int(vin.frames or 0)
        if not total and vin.duration and vin.average_rate:
            total = round(float(vin.duration * vin.time_base * vin.average_rate))
        bar = tqdm(
            total=total or None,
            unit="frame",
            desc=src_p.name,
            disable=not progress,
            file=sys.stderr,
            dynamic_ncols=True,
            leave=False,
        )
        engine = StreamingEngine(
            inp,
            out,
            vin=vin,
            vout=vout,
            copies=copies,
            enc=enc,
            frame_fn=frame_fn,
            stats=stats,
            bar=bar,
            mov=fmt in ("mp4", "mov"),
            queue_size=queue_size,
        )
        try:
            engine.run()
        finally:
            bar.close()
        check_complete(vin, src_p, frames=stats.frames, end_pts=stats.end_pts)
        out.close()
        out = None
    except av.FFmpegError as exc:
        msg = f"{src_p}: {reason(exc)}"
        raise VideoError(msg) from None
    finally:
        if out is not None:
            with contextlib.suppress(Exception):  # the run failed already; dst gets removed
                out.close()
        inp.close()
    stats.wall_s = time.perf_counter() - t_start
    return stats
