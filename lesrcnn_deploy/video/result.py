"""What a video run wrote: :class:`VideoResult` (single pass or segmented)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["VideoResult"]


@dataclass(frozen=True)
class VideoResult:
    """What :func:`upscale_video` wrote.

    Attributes:
        source: input file.
        output: output file.
        frames: video frames written.
        codec: video encoder used.
        pix_fmt: encoder pixel format.
        copied_packets: packets copied per output stream index (audio, subtitles).
        dropped_streams: input streams not carried over (``"#index type codec"``).
        seconds: wall time, s.
        decode_s: busy time of demux + decode + YUV->RGB, s.
        infer_s: busy time of the network, s.
        encode_s: busy time of RGB->YUV + encode + mux, s.
        size: output frame ``(width, height)``.
        scale: the network scale used.
        chapters: chapters carried over.
        notes: what of the input could not be carried over, besides dropped streams (and, for
            a segmented run, what the work folder held that was discarded or redone).
        segments: segments of a segmented run (0: one pass).
        resumed: segments an earlier, interrupted run had finished (taken from the work folder).
        resumed_frames: the frames of those segments (the wall time covers the rest only).
        segment_s: wall time of each segment this run made (where it ran), s.
        join_s: wall time of the join and final mux, s.
    """

    source: Path
    output: Path
    frames: int
    codec: str
    pix_fmt: str
    copied_packets: Mapping[int, int] = field(default_factory=dict)
    dropped_streams: tuple[str, ...] = ()
    seconds: float = 0.0
    decode_s: float = 0.0
    infer_s: float = 0.0
    encode_s: float = 0.0
    size: tuple[int, int] = (0, 0)
    scale: int = 0
    chapters: int = 0
    notes: tuple[str, ...] = ()
    segments: int = 0
    resumed: int = 0
    resumed_frames: int = 0
    segment_s: tuple[float, ...] = ()
    join_s: float = 0.0

    @property
    def fps(self) -> float:
        """Frames per second of wall time (frames made by this run)."""
        done = self.frames - self.resumed_frames
        return done / self.seconds if self.seconds > 0 else 0.0

    @property
    def shares(self) -> dict[str, float]:
        """Each stage's share of the summed busy time (decode, inference, encode; sums to 1)."""
        busy = {"decode": self.decode_s, "inference": self.infer_s, "encode": self.encode_s}
        total = sum(busy.values())
        return {k: (v / total if total > 0 else 0.0) for k, v in busy.items()}

    def summary(self) -> str:
        """One line: frames, speed and stage shares."""
        sh = self.shares
        cut = ""
        if self.segments:
            cut = f"; {self.segments} segment(s)"
            if self.resumed:
                cut += (
                    f", {self.resumed} ({self.resumed_frames} frames) resumed from the work folder"
                )
        return (
            f"wrote {self.output} ({self.frames} frames, {self.codec} {self.pix_fmt}, "
            f"{self.fps:.2f} frames/s; decode {sh['decode']:.0%}, inference "
            f"{sh['inference']:.0%}, encode {sh['encode']:.0%}{cut})"
        )
