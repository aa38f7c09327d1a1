"""Cut a video into segments at keyframes: what each segment decodes and how many frames it holds.

One pass over the video stream's packets (demuxed, not decoded: seconds for a film) lists the
keyframes and every packet's presentation timestamp. Segments start at keyframes at least
``seconds`` apart; segment ``i`` holds the frames with ``start_i <= pts < start_{i+1}`` (the first
holds everything before the second's start, the last everything from its start on). Decoding a
segment seeks to its keyframe, and frames come out of the decoder in presentation order, so the
frames of each segment are exactly those the single pass gives it.

A file whose video packets lack timestamps, or whose keyframes cannot be sought to (no index),
is one segment: nothing is cut where it could not be cut exactly.
"""

from __future__ import annotations

import bisect
import math
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from ..core.errors import ConfigError, VideoError
from .checks import reason
from .probe import import_av, open_input, pick_video_stream

__all__ = ["Segment", "SegmentPlan", "plan_segments"]

_SEEKABLE = ("mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm", "nut")
"""Demuxers whose index seeks to a keyframe exactly (others are one segment)."""


@dataclass(frozen=True)
class Segment:
    """One segment of the source.

    Attributes:
        index: 0-based position.
        start: pts of its first frame (a keyframe) in the video stream's time base; ``None``
            for the first segment (decoded from the file's start, no seek).
        end: pts of the next segment's first frame; ``None`` for the last.
        frames: frames it holds (video packets with ``start <= pts < end``); 0 when not known
            before decoding (a file without timestamps, one segment).
    """

    index: int
    start: int | None
    end: int | None
    frames: int


@dataclass(frozen=True)
class SegmentPlan:
    """The segments of one source.

    Attributes:
        segments: in order; together they hold every frame once.
        frames: all frames.
        time_base: the video stream's time base.
        note: why the file is one segment although longer than ``seconds`` (``""`` otherwise).
    """

    segments: tuple[Segment, ...]
    frames: int
    time_base: Fraction
    note: str = ""


def plan_segments(src: str | os.PathLike[str], seconds: float) -> SegmentPlan:
    """Cut ``src`` at keyframes into segments of at least ``seconds`` (the last may be shorter).

    Raises:
        ConfigError: ``seconds`` is not positive.
        VideoError: the file cannot be read or has no video stream.
    """
    if not seconds > 0:
        msg = f"segment length must be > 0 s, got {seconds:g}"
        raise ConfigError(msg)
    av = import_av()
    p = Path(src)
    with open_input(p) as inp:
        vin = pick_video_stream(inp, p)
        tb = Fraction(vin.time_base)
        keys: list[int] = []
        all_pts: list[int] = []
        missing = False
        try:
            for packet in inp.demux(vin):
                if packet.size == 0 or packet.is_discard:
                    continue  # flush packets; frames an edit list cuts (never shown)
                if packet.pts is None:
                    missing = True
                    continue
                all_pts.append(int(packet.pts))
                if packet.is_keyframe:
                    keys.append(int(packet.pts))
        except av.FFmpegError as exc:
            msg = f"{p}: {reason(exc)}"
            raise VideoError(msg) from None
        seekable = inp.format.name in _SEEKABLE
    note = ""
    if missing:  # the frame count is known only after decoding: 0 = not checked beforehand
        note = "video packets without timestamps: one segment"
        return SegmentPlan((Segment(0, None, None, 0),), 0, tb, note)
    elif not seekable:
        note = "container without a keyframe index: one segment"
        keys = []
    starts: list[int] = []
    if not math.isfinite(seconds):
        keys = []  # one segment
    step = round(seconds / tb) if tb and math.isfinite(seconds) else 0
    first = min(all_pts, default=0)
    for k in sorted(set(keys)):
        last = starts[-1] if starts else first
        if k - last >= step and k > first:
            starts.append(k)
    all_pts.sort()
    bounds: list[int | None] = [None, *starts, None]
    segments = []
    lo = 0
    for i in range(len(bounds) - 1):
        end = bounds[i + 1]
        hi = len(all_pts) if end is None else _count_below(all_pts, end)
        segments.append(Segment(i, bounds[i], end, hi - lo))
        lo = hi
    return SegmentPlan(tuple(segments), len(all_pts), tb, note)


def _count_below(sorted_pts: list[int], value: int) -> int:
    return bisect.bisect_left(sorted_pts, value)
