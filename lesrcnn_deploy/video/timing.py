"""Timestamp arithmetic: frame pts and durations in, packet durations out.

All values are integers in the input video stream's time base, which the output video stream
asks for too, so no rescaling happens anywhere.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

__all__ = ["PacketTimer", "default_step", "frame_timing", "last_duration", "parse_duration"]


def frame_timing(frame: Any, last_pts: int | None, *, stream: Any) -> tuple[int, int]:
    """A decoded frame's pts (strictly increasing) and duration in ``stream``'s time base.

    Args:
        frame: the decoded frame (``pts``, ``dts``, ``duration``).
        last_pts: the previous frame's pts, ``None`` for the first frame.
        stream: the input video stream (for the default step when a pts is missing).
    """
    pts = frame.pts if frame.pts is not None else frame.dts
    dur = int(frame.duration or 0)
    if pts is None:
        if last_pts is None:
            pts = 0
        else:
            step = dur or default_step(stream)
            pts = last_pts + step
    if last_pts is not None and pts <= last_pts:
        pts = last_pts + 1  # duplicate/backwards timestamps: the encoder needs them increasing
    return int(pts), dur


def last_duration(stream: Any, pts: int, *, decoded: int) -> int:
    """The last frame's duration: to the stream's end when the container says, else decoded."""
    if stream.duration:
        end = int(stream.start_time or 0) + int(stream.duration)
        if end > pts:
            return end - pts
    return decoded or default_step(stream)


def default_step(stream: Any) -> int:
    """One frame at the stream's (average, else guessed, else 25/s) rate, in its time base."""
    rate = stream.average_rate or stream.guessed_rate or Fraction(25)
    return max(1, round(1 / (rate * stream.time_base)))


def parse_duration(text: object) -> float | None:
    """``"00:01:02.500000000"`` -> 62.5 (Matroska's DURATION tag), else ``None``."""
    if not isinstance(text, str):
        return None
    parts = text.strip().split(":")
    try:
        h, m, sec = (float(x) for x in parts) if len(parts) == 3 else (0.0, 0.0, float(text))
    except ValueError:
        return None
    return h * 3600 + m * 60 + sec


class PacketTimer:
    """Gives encoded video packets their frame's duration and ends the track where it should.

    Packet durations are the frame's presentation duration (by pts). mp4/mov store only dts
    deltas plus the last packet's duration and end the track at last dts + duration - first
    dts, so the last packet is held back by one and gets the duration that ends the track where
    the last frame ends.

    Attributes:
        mov: the muxer is mp4/mov (fix the last packet's duration).
        end: where the latest frame ends (pts + duration).
    """

    def __init__(self, *, mov: bool) -> None:
        self.mov = mov
        self.end = 0
        self._durations: dict[int, int] = {}  # pts -> duration of frames not yet encoded
        self._held: Any = None  # the newest packet, muxed once the next one arrives
        self._first_dts: int | None = None

    def frame(self, pts: int, duration: int) -> None:
        """Record a frame sent to the encoder."""
        self._durations[pts] = duration
        self.end = max(self.end, pts + duration)

    def ready(self, packets: list[Any]) -> list[Any]:
        """The packets to mux now, in order, given the encoder's new ``packets``."""
        out = []
        for p in packets:
            if p.pts is not None and p.pts in self._durations:
                p.duration = self._durations.pop(p.pts)
            if self._first_dts is None and p.dts is not None:
                self._first_dts = p.dts
            if self._held is not None:
                out.append(self._held)
            self._held = p
        return out

    def finish(self, packets: list[Any]) -> list[Any]:
        """The packets to mux at the end: :meth:`ready`'s plus the held last one."""
        out = self.ready(packets)
        held, self._held = self._held, None
        if held is not None:
            if self.mov and held.dts is not None and self._first_dts is not None:
                rest = self.end - held.dts + min(0, self._first_dts)
                if rest > 0:
                    held.duration = rest
            out.append(held)
        return out
