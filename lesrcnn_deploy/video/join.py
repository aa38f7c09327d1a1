"""Join encoded segments by stream copy and mux audio, subtitles and chapters once from the source.

The segments' video packets go into the output untouched (same bytes), with the source's
presentation timestamps; decode timestamps are recomputed for the whole stream (each segment's
encoder started its own, which overlap at the joins): packet ``j`` in decode order gets the
``j - d``-th smallest pts, ``d`` the stream's reorder depth, so they increase strictly and never
pass a pts. Each packet lasts until the next frame (the last until where the source's last frame
ends), as in the single pass, and mp4/mov end the track there too
(:class:`~lesrcnn_deploy.video.timing.PacketTimer`). Audio and subtitle packets, container and
stream tags, dispositions, chapters and the display matrix come from the source, as the single
pass writes them (:mod:`.streams`); the packets of all streams are interleaved by time.
"""

from __future__ import annotations

import heapq
import itertools
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from ..core.errors import VideoError
from .probe import display_matrix, first_frame, open_input, pick_video_stream
from .streams import tags
from .timing import PacketTimer
from .wiring import copy_source_streams, ffmpeg_errors, output_container

__all__ = ["JoinStats", "join_segments", "segment_timestamps"]


@dataclass
class JoinStats:
    """What the join wrote.

    Attributes:
        frames: video packets (frames) written.
        copied_packets: audio/subtitle packets copied, by output stream index.
        dropped_streams: ``"#index type codec"`` of input streams not carried over.
        chapters: chapters carried over.
    """

    frames: int = 0
    copied_packets: dict[int, int] = field(default_factory=dict)
    dropped_streams: list[str] = field(default_factory=list)
    chapters: int = 0


def segment_timestamps(path: str | os.PathLike[str], time_base: Fraction) -> list[int]:
    """The pts of every video packet of a segment file in decode order, in ``time_base``.

    Raises:
        VideoError: a timestamp that ``time_base`` cannot hold exactly, or a packet without one.
    """
    p = Path(path)
    with open_input(p) as c:
        v = c.streams.video[0]
        return [
            _rebase(pk.pts, Fraction(v.time_base), time_base, p) for pk in c.demux(v) if pk.size
        ]


def _rebase(ts: int | None, src: Fraction, dst: Fraction, path: Path) -> int:
    if ts is None:
        msg = f"{path}: a video packet without a timestamp"
        raise VideoError(msg)
    value = ts * src / dst
    if value.denominator != 1:
        msg = f"{path}: timestamp {ts} x {src} is not a whole number of {dst}"
        raise VideoError(msg)
    return int(value)


def join_segments(
    src: str | os.PathLike[str],
    parts: Sequence[str | os.PathLike[str]],
    *,
    dst: str | os.PathLike[str],
    fmt: str,
    end_pts: int,
) -> JoinStats:
    """Write ``dst`` (directly; wrap in an atomic path) from the segment files ``parts``.

    Args:
        src: the source video (audio, subtitles, chapters, tags, display matrix, time base).
        parts: the segment files in order (:mod:`.segment_run`).
        dst: the output file.
        fmt: its muxer.
        end_pts: where the last frame ends, in the source video stream's time base.

    Raises:
        VideoError: segments encoded differently (codec parameters), a timestamp out of order,
            or a stream the container cannot hold.
    """
    src_p = Path(src)
    stats = JoinStats()
    with ffmpeg_errors(f"{src_p}: joining the segments"):
        with open_input(src_p) as inp:
            vin = pick_video_stream(inp, src_p)
            tb = Fraction(vin.time_base)
            first = first_frame(inp, vin, path=src_p)
            matrix = display_matrix(first)
            rate = vin.average_rate or vin.guessed_rate
            vin_index, vin_tags = vin.index, tags(vin.metadata)
        order = [segment_timestamps(p, tb) for p in parts]
        everything = sorted(ts for seg in order for ts in seg)
        if len(set(everything)) != len(everything):
            msg = f"{src_p}: the segments overlap (a frame's timestamp appears twice)"
            raise VideoError(msg)
        depth = _reorder_depth(order)
        with open_input(src_p) as inp, output_container(dst, fmt=fmt) as out:
            vout = _video_stream(out, parts, tb=tb, rate=rate)
            vout.metadata.update(vin_tags)
            if matrix is not None:
                vout.set_display_matrix(list(matrix))
            copies = copy_source_streams(out, inp, skip=vin_index, fmt=fmt, stats=stats)
            timer = PacketTimer(mov=fmt in ("mp4", "mov"))
            video = _video_packets(parts, everything, depth=depth, tb=tb, end_pts=end_pts)
            others = _copied_packets(inp, copies)
            for kind, packet in heapq.merge(video, others, key=lambda item: _time(item[1])):
                if kind == "copy":
                    out.mux(packet)
                    stats.copied_packets[packet.stream.index] += 1
                    continue
                packet.stream = vout
                timer.frame(packet.pts, packet.duration)
                for p in timer.ready([packet]):
                    out.mux(p)
                stats.frames += 1
            for p in timer.finish([]):
                out.mux(p)
    return stats


def _video_stream(
    out: Any, parts: Sequence[str | os.PathLike[str]], *, tb: Fraction, rate: Any
) -> Any:
    """The output video stream, a copy of the first segment's; every segment must match it."""
    params = []
    stream = None
    for i, p in enumerate(parts):
        with open_input(p) as c:
            v = c.streams.video[0]
            ctx = v.codec_context
            params.append(
                (ctx.name, ctx.width, ctx.height, ctx.pix_fmt, bytes(ctx.extradata or b""))
            )
            if i == 0:
                stream = out.add_stream_from_template(v)
    if any(x != params[0] for x in params):
        bad = next(i for i, x in enumerate(params) if x != params[0])
        msg = f"{parts[bad]}: encoded with other codec parameters than the first segment"
        raise VideoError(msg)
    assert stream is not None
    stream.time_base = tb
    if rate:
        stream.codec_context.framerate = rate
    return stream


def _reorder_depth(order: Sequence[Sequence[int]]) -> int:
    """How many packets decoding runs ahead of presentation, at most, over all segments."""
    depth = 0
    for seg in order:
        rank = {ts: r for r, ts in enumerate(sorted(seg))}
        depth = max(depth, *(j - rank[ts] for j, ts in enumerate(seg)), 0)
    return depth


def _video_packets(
    parts: Sequence[str | os.PathLike[str]],
    everything: list[int],
    *,
    depth: int,
    tb: Fraction,
    end_pts: int,
) -> Iterator[tuple[str, Any]]:
    """The segments' packets in order with source pts, recomputed dts and frame durations."""
    nxt = dict(itertools.pairwise(everything))
    step = (everything[1] - everything[0]) if len(everything) > 1 else 1
    j = 0
    for path in parts:
        p = Path(path)
        with open_input(p) as c:
            v = c.streams.video[0]
            seg_tb = Fraction(v.time_base)
            for packet in c.demux(v):
                if not packet.size:
                    continue
                pts = _rebase(packet.pts, seg_tb, tb, p)
                dts = everything[j - depth] if j >= depth else everything[0] - (depth - j) * step
                packet.pts, packet.dts = pts, dts
                packet.time_base = tb
                packet.duration = nxt.get(pts, end_pts) - pts
                j += 1
                yield "video", packet


def _copied_packets(inp: Any, copies: dict[int, Any]) -> Iterator[tuple[str, Any]]:
    """The source's audio and subtitle packets, in file order, pointed at their output streams."""
    if not copies:
        return
    for packet in inp.demux(*[inp.streams[i] for i in copies]):
        if packet.pts is None and packet.dts is None:
            continue  # demuxer flush packet
        packet.stream = copies[packet.stream.index]
        yield "copy", packet


def _time(packet: Any) -> Fraction:
    ts = packet.dts if packet.dts is not None else packet.pts
    return Fraction(ts or 0) * Fraction(packet.time_base)
