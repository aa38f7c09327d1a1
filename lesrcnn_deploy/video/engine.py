"""The streaming engine: decode, upscale and encode overlap in three threads.

1. **decode** (thread): demuxes the input, decodes the video stream to RGB arrays and passes the
   packets of the copied streams (audio, subtitles) through untouched, in file order.
2. **upscale** (the calling thread): ``frame_fn(rgb) -> rgb`` on every video frame.
3. **encode** (thread): converts back to the encoder's pixel format (same YUV matrix and range
   as the input), encodes with the input frame's pts and duration, and muxes the encoded
   packets and the copied ones.

Bounded queues join the stages, so memory stays bounded for any length. The first failure in
any stage stops the others and is raised in the calling thread.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy.typing as npt

from .checks import check_frame, check_frame_size
from .probe import import_av
from .streams import Encoding
from .timing import PacketTimer, frame_timing, last_duration

__all__ = ["EngineIO", "FrameFn", "PipelineStats", "StreamingEngine"]

FrameFn = Callable[[npt.NDArray[Any]], npt.NDArray[Any]]


@dataclass
class PipelineStats:
    """Counts and busy times of one run (seconds of work per stage, not wall time).

    Attributes:
        frames: video frames written.
        copied_packets: audio/subtitle packets copied, by output stream index.
        dropped_streams: ``"#index type codec"`` of input streams not carried over.
        codec: encoder used.
        pix_fmt: encoder pixel format used.
        decode_s: demux + decode + conversion to RGB.
        infer_s: ``frame_fn`` (the network).
        encode_s: conversion from RGB + encode + mux.
        wall_s: the whole run.
        end_pts: where the last frame ends (pts + duration), in the input's time base.
        size: the output frame ``(width, height)``.
        chapters: chapters carried over.
        notes: what of the input could not be carried over, besides dropped streams.
    """

    frames: int = 0
    copied_packets: dict[int, int] = field(default_factory=dict)
    dropped_streams: list[str] = field(default_factory=list)
    codec: str = ""
    pix_fmt: str = ""
    decode_s: float = 0.0
    infer_s: float = 0.0
    encode_s: float = 0.0
    wall_s: float = 0.0
    end_pts: int = 0
    size: tuple[int, int] = (0, 0)
    chapters: int = 0
    notes: list[str] = field(default_factory=list)


class _Stop(Exception):
    """Another stage failed or the run was interrupted."""


_DONE = object()


@dataclass(frozen=True)
class EngineIO:
    """The containers and streams one engine run reads and writes.

    Attributes:
        inp: the input container, positioned at its start.
        out: the output container with its streams added (header not written yet).
        vin: the input video stream.
        vout: the output video stream.
        enc: the encode stage's constants.
        copies: input stream index -> output stream, for the copied streams.
        mov: the muxer is mp4/mov (see :class:`~lesrcnn_deploy.video.timing.PacketTimer`).
        window: ``(start, end)`` pts of one segment (:mod:`.segments`): frames before ``start``
            are decoded but not kept, decoding stops at the first frame at or after ``end``
            (which gives the last kept frame its duration); ``None`` ends: the file's.
    """

    inp: Any
    out: Any
    vin: Any
    vout: Any
    enc: Encoding
    copies: dict[int, Any] = field(default_factory=dict)
    mov: bool = False
    window: tuple[int | None, int | None] = (None, None)


class StreamingEngine:
    """One run of the three stages over an opened input and a set-up output.

    State, all owned by the engine: the two queues, the stop flag, the first error of a worker
    thread, the packet timer (encode thread only) and the stats (each field written by one
    stage).

    Args:
        io: the containers and streams read and written (:class:`EngineIO`).
        frame_fn: the per-frame upscaling, run in the calling thread.
        stats: filled in as the run goes.
        bar: a tqdm bar, advanced once per upscaled frame.
        queue_size: frames held between two stages.
    """

    def __init__(
        self,
        io: EngineIO,
        *,
        frame_fn: FrameFn,
        stats: PipelineStats,
        bar: Any,
        queue_size: int = 8,
    ) -> None:
        self._av = import_av()
        self._inp, self._out, self._vin, self._vout = io.inp, io.out, io.vin, io.vout
        self._copies, self._enc, self._frame_fn = io.copies, io.enc, frame_fn
        self.stats, self._bar = stats, bar
        self._timer = PacketTimer(mov=io.mov)
        self._q_in: queue.Queue[Any] = queue.Queue(maxsize=queue_size)
        self._q_out: queue.Queue[Any] = queue.Queue(maxsize=queue_size)
        self._stop = threading.Event()
        self._errors: list[BaseException] = []
        self._window = io.window

    def run(self) -> None:
        """Run the stages to the end; raise the first error of any stage after stopping all."""
        workers = [
            threading.Thread(target=self._guarded(self._decode), name="video-decode", daemon=True),
            threading.Thread(target=self._guarded(self._encode), name="video-encode", daemon=True),
        ]
        for w in workers:
            w.start()
        try:
            self._upscale()
            workers[1].join()
        except _Stop:
            pass
        except BaseException:
            self._stop.set()
            for w in workers:
                w.join()
            raise
        self._stop.set()
        for w in workers:
            w.join()
        if self._errors:
            raise self._errors[0]

    # --- queues ----------------------------------------------------------------------------

    def _put(self, q: queue.Queue[Any], item: Any) -> None:
        while True:
            if self._stop.is_set():
                raise _Stop
            try:
                q.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def _get(self, q: queue.Queue[Any]) -> Any:
        while True:
            if self._stop.is_set():
                raise _Stop
            try:
                return q.get(timeout=0.1)
            except queue.Empty:
                continue

    def _guarded(self, fn: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                fn()
            except _Stop:
                pass
            except BaseException as exc:
                self._errors.append(exc)
                self._stop.set()

        return run

    # --- stages ----------------------------------------------------------------------------

    def _decode(self) -> None:
        # Frames leave the decoder in presentation order; each is held until the next one
        # arrives, so its duration is the gap to the next pts (what a player shows).
        inp, vin, enc, stats = self._inp, self._vin, self._enc, self.stats
        held: tuple[int, int, Any] | None = None  # (pts, decoder's duration, rgb)
        start, end = self._window
        t = time.perf_counter()
        for packet in inp.demux(vin, *[inp.streams[i] for i in self._copies]):
            if packet.stream.index != vin.index:
                if packet.pts is None and packet.dts is None:
                    continue  # demuxer flush packet
                stats.decode_s += time.perf_counter() - t
                self._put(self._q_in, ("packet", packet))
                t = time.perf_counter()
                continue
            for frame in packet.decode():
                pts, dur = frame_timing(frame, None if held is None else held[0], stream=vin)
                if start is not None and pts < start:
                    continue  # before the segment (decoded from its keyframe on)
                if end is not None and pts >= end:  # the next segment's first frame
                    if held is not None:
                        self._put(self._q_in, ("frame", held[0], pts - held[0], held[2]))
                    stats.decode_s += time.perf_counter() - t
                    self._put(self._q_in, _DONE)
                    return
                check_frame_size(frame, enc.size)
                # YUV -> RGB with the frame's own matrix and range tags (BT.601 when untagged).
                rgb = frame.to_ndarray(format=enc.rgb_format)
                stats.decode_s += time.perf_counter() - t
                if held is not None:
                    self._put(self._q_in, ("frame", held[0], pts - held[0], held[2]))
                held = (pts, dur, rgb)
                t = time.perf_counter()
        if held is not None:
            dur = last_duration(vin, held[0], decoded=held[1])
            self._put(self._q_in, ("frame", held[0], dur, held[2]))
        stats.decode_s += time.perf_counter() - t
        self._put(self._q_in, _DONE)

    def _upscale(self) -> None:
        while True:
            item = self._get(self._q_in)
            if item is _DONE:
                self._put(self._q_out, _DONE)
                return
            if item[0] == "frame":
                _, pts, dur, rgb = item
                t = time.perf_counter()
                up = self._frame_fn(rgb)
                self.stats.infer_s += time.perf_counter() - t
                check_frame(up, rgb, size=self._enc.out_size)
                self._put(self._q_out, ("frame", pts, dur, up))
                self._bar.update(1)
            else:
                self._put(self._q_out, item)

    def _encode(self) -> None:
        av, enc, out, stats, timer = self._av, self._enc, self._out, self.stats, self._timer
        while True:
            item = self._get(self._q_out)
            t = time.perf_counter()
            if item is _DONE:
                for p in timer.finish(self._vout.encode(None)):
                    out.mux(p)
                stats.encode_s += time.perf_counter() - t
                return
            if item[0] == "packet":
                packet = item[1]
                packet.stream = self._copies[packet.stream.index]
                out.mux(packet)
                stats.copied_packets[packet.stream.index] += 1
            else:
                _, pts, dur, rgb = item
                frame = av.VideoFrame.from_ndarray(rgb, format=enc.rgb_format)
                frame = frame.reformat(
                    format=enc.pix_fmt,
                    dst_colorspace=enc.colorspace,
                    dst_color_range=enc.color_range,
                )
                frame.pts = pts
                frame.time_base = enc.time_base
                timer.frame(pts, dur)
                stats.end_pts = timer.end
                for p in timer.ready(self._vout.encode(frame)):
                    out.mux(p)
                stats.frames += 1
            stats.encode_s += time.perf_counter() - t
