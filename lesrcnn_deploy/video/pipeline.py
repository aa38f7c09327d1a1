"""Streaming decode -> upscale -> encode of one video file, with everything but the pixels kept.

Three stages overlap, joined by bounded queues (so memory stays bounded for any length):

1. **decode** (thread): demuxes the input, decodes the video stream to RGB arrays (``rgb24``, or
   ``rgb48le`` for inputs deeper than 8 bits), and passes the packets of the copied streams
   (audio, subtitles) through untouched, in file order.
2. **upscale** (the calling thread): ``frame_fn(rgb) -> rgb`` on every video frame.
3. **encode** (thread): converts back to the encoder's pixel format (same YUV matrix and range as
   the input), encodes with the input frame's pts and duration, and muxes the encoded packets and
   the copied packets.

What is kept: every frame with its presentation timestamp in the input's time base (variable
frame rate included; the output stream asks for the same time base, which mp4/mov/mkv give when
they can represent it), each frame's duration, the frame rate, the display matrix (rotation and
flips), colour tags, pixel aspect ratio, audio and subtitle packets byte for byte (never
re-encoded), stream and container metadata. Other streams (data tracks, attachments, extra video
tracks, cover pictures) are dropped and listed in the result.

The output is written to ``dst`` directly; :func:`~lesrcnn_deploy.video.api.upscale_video` wraps
this in an atomic temporary file.
"""

from __future__ import annotations

import contextlib
import os
import queue
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ..core.errors import ConfigError, VideoError
from .probe import OUTPUT_CONTAINERS, display_matrix, import_av, open_input, pick_video_stream

__all__ = [
    "DEFAULT_CODECS",
    "EncoderSettings",
    "PipelineStats",
    "choose_codec",
    "run_pipeline",
]

DEFAULT_CODECS: tuple[str, ...] = ("libx264", "libx265", "libvpx-vp9", "libsvtav1", "mpeg4")
"""Encoders tried in order when no codec is given: the first the FFmpeg build and container take."""

_DEFAULT_CRF: dict[str, int] = {"libx264": 18, "libx265": 20, "libvpx-vp9": 24, "libsvtav1": 28}
"""Quality used when neither crf nor bitrate is given (visually transparent for upscaled video)."""

# Container/stream tags the muxer writes itself; copying the input's would be stale.
_MUXER_TAGS = frozenset(
    {"major_brand", "minor_version", "compatible_brands", "encoder", "duration", "creation_time"}
)

FrameFn = Callable[[npt.NDArray[Any]], npt.NDArray[Any]]


@dataclass(frozen=True)
class EncoderSettings:
    """How the upscaled video is encoded.

    Attributes:
        codec: FFmpeg encoder name (e.g. ``"libx264"``, ``"libx265"``, ``"libvpx-vp9"``,
            ``"ffv1"``); ``None`` picks the first of :data:`DEFAULT_CODECS` that the FFmpeg
            build and the output container support.
        crf: constant-quality factor (encoders with a ``crf`` option); exclusive with bitrate.
        bitrate: target bits per second; exclusive with crf.
        pix_fmt: encoder pixel format (e.g. ``"yuv420p"``, ``"yuv444p"``, ``"gbrp"``); ``None``
            keeps the input's when the encoder takes it, else the encoder's first.
        options: extra encoder options (FFmpeg ``AVOption`` names -> values), e.g.
            ``{"preset": "slow"}``.
    """

    codec: str | None = None
    crf: float | None = None
    bitrate: int | None = None
    pix_fmt: str | None = None
    options: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.crf is not None and self.bitrate is not None:
            msg = "give either crf or bitrate, not both"
            raise ConfigError(msg)
        if self.crf is not None and not (0 <= self.crf <= 63):
            msg = f"crf must be in [0, 63], got {self.crf}"
            raise ConfigError(msg)
        if self.bitrate is not None and self.bitrate < 1:
            msg = f"bitrate must be >= 1 bit/s, got {self.bitrate}"
            raise ConfigError(msg)


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


def container_format(dst: str | os.PathLike[str]) -> str:
    """FFmpeg muxer for ``dst``'s extension (see :data:`OUTPUT_CONTAINERS`).

    Raises:
        ConfigError: an extension we do not write.
    """
    ext = Path(dst).suffix.lower()
    if ext not in OUTPUT_CONTAINERS:
        msg = (
            f"{dst}: unsupported video output extension {ext or '(none)'} "
            f"(supported: {', '.join(OUTPUT_CONTAINERS)})"
        )
        raise ConfigError(msg)
    return OUTPUT_CONTAINERS[ext]


def choose_codec(fmt: str, requested: str | None = None) -> str:
    """The encoder to use in muxer ``fmt``: ``requested`` if usable, else the first default.

    Raises:
        ConfigError: ``requested`` has no encoder in this FFmpeg build or the container cannot
            hold it, or no default encoder fits.
        MissingExtraError: PyAV is not installed.
    """
    av = import_av()
    probe = av.open(os.devnull, "w", format=fmt)
    try:
        supported = set(probe.supported_codecs)
    finally:
        probe.close()

    def usable(name: str) -> bool:
        try:
            codec = av.Codec(name, "w")
        except (av.FFmpegError, ValueError):
            return False
        return codec.type == "video" and (name in supported or codec.name in supported)

    if requested is not None:
        try:
            codec = av.Codec(requested, "w")
        except (av.FFmpegError, ValueError):
            msg = f"no encoder {requested!r} in this FFmpeg build (PyAV {av.__version__})"
            raise ConfigError(msg) from None
        if codec.type != "video":
            msg = f"{requested!r} is a {codec.type} encoder, not a video encoder"
            raise ConfigError(msg)
        if not usable(requested):
            msg = f"the {fmt} container cannot hold {requested!r} video (try .mkv)"
            raise ConfigError(msg)
        return str(codec.name)
    for name in DEFAULT_CODECS:
        if usable(name):
            return name
    msg = f"no video encoder for the {fmt} container in this FFmpeg build"
    raise ConfigError(msg)


class _Stop(Exception):
    """Another stage failed or the run was interrupted."""


_DONE = object()


def run_pipeline(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    frame_fn: FrameFn,
    scale: int,
    settings: EncoderSettings,
    *,
    fmt: str | None = None,
    progress: bool = True,
    queue_size: int = 8,
) -> PipelineStats:
    """Decode ``src``, apply ``frame_fn`` to every frame, encode to ``dst`` (see module doc).

    Args:
        src: input video.
        dst: output file (written directly; wrap in an atomic path).
        frame_fn: ``(H, W, 3)`` RGB uint8 (uint16 for inputs deeper than 8 bits) ->
            ``(H*scale, W*scale, 3)`` of the same dtype; called in the calling thread.
        scale: the upscaling factor of ``frame_fn``.
        settings: encoder settings.
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
        first = _first_frame(av, inp, vin, src_p)
        inp.close()  # reopen rather than seek: seeking is not exact in every container
        inp = open_input(src_p)
        vin = pick_video_stream(inp, src_p)
        vin.thread_type = "AUTO"

        out = av.open(str(dst), "w", format=fmt)
        vout, enc = _add_video_stream(av, out, vin, first, scale, codec_name, settings)
        stats.pix_fmt = vout.codec_context.pix_fmt
        copies = _add_copied_streams(out, inp, vin, stats, fmt)
        out.metadata.update(_tags(inp.metadata))

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
        try:
            _run_stages(
                av, inp, vin, out, vout, copies, enc, frame_fn, scale, fmt, stats, bar, queue_size
            )
        finally:
            bar.close()
        _check_complete(vin, stats, src_p)
        out.close()
        out = None
    except av.FFmpegError as exc:
        msg = f"{src_p}: {_reason(exc)}"
        raise VideoError(msg) from None
    finally:
        if out is not None:
            with contextlib.suppress(Exception):  # the run failed already; dst gets removed
                out.close()
        inp.close()
    stats.wall_s = time.perf_counter() - t_start
    return stats


@dataclass(frozen=True)
class _Encoding:
    """Per-run constants of the encode stage."""

    time_base: Fraction
    rgb_format: str
    pix_fmt: str
    colorspace: int | None
    color_range: int | None
    size: tuple[int, int]


def _first_frame(av: Any, inp: Any, vin: Any, path: Path) -> Any:
    try:
        first = next(inp.decode(vin), None)
    except av.FFmpegError as exc:
        msg = f"{path}: cannot decode the video stream ({vin.codec_context.name}): {_reason(exc)}"
        raise VideoError(msg) from None
    if first is None:
        msg = f"{path}: the video stream ({vin.codec_context.name}) has no decodable frame"
        raise VideoError(msg)
    return first


def _add_video_stream(
    av: Any,
    out: Any,
    vin: Any,
    first: Any,
    scale: int,
    codec_name: str,
    settings: EncoderSettings,
) -> tuple[Any, _Encoding]:
    rate = vin.average_rate or vin.guessed_rate or Fraction(25)
    vout = out.add_stream(codec_name, rate=rate)
    ctx = vout.codec_context
    ctx.width, ctx.height = first.width * scale, first.height * scale
    ctx.pix_fmt = _pick_pix_fmt(av, codec_name, first.format.name, settings.pix_fmt)
    ctx.time_base = vin.time_base
    vout.time_base = vin.time_base
    if vin.sample_aspect_ratio:
        ctx.sample_aspect_ratio = vin.sample_aspect_ratio
    deep = max(c.bits for c in first.format.components) > 8
    is_rgb = av.VideoFormat(ctx.pix_fmt).is_rgb
    # FFmpeg's AVColorSpace / AVColorRange values; 0 and 2 mean "unspecified" (BT.601, limited).
    colorspace = int(first.colorspace) if int(first.colorspace) not in (0, 2) else None
    color_range = int(first.color_range) or None
    if not is_rgb:
        if color_range:
            ctx.color_range = color_range
        if colorspace:
            ctx.colorspace = colorspace
    if int(first.color_primaries) not in (0, 2):
        ctx.color_primaries = int(first.color_primaries)
    if int(first.color_trc) not in (0, 2):
        ctx.color_trc = int(first.color_trc)
    options = dict(settings.options)
    opts = ctx.supported_options
    supported = {o.name for o in (*opts.generic, *opts.private)}
    crf = settings.crf
    if crf is None and settings.bitrate is None:
        crf = _DEFAULT_CRF.get(codec_name)
    if crf is not None:
        if "crf" not in supported:
            msg = f"encoder {codec_name!r} has no crf option; give a bitrate instead"
            raise ConfigError(msg)
        options.setdefault("crf", f"{crf:g}")
        if codec_name == "libvpx-vp9":
            options.setdefault("b", "0")  # constant quality, not constrained quality
    if settings.bitrate is not None:
        ctx.bit_rate = int(settings.bitrate)
    ctx.options = options
    vout.metadata.update(_tags(vin.metadata))
    matrix = display_matrix(first)
    if matrix is not None:
        vout.set_display_matrix(list(matrix))
    enc = _Encoding(
        time_base=vin.time_base,
        rgb_format="rgb48le" if deep else "rgb24",
        pix_fmt=ctx.pix_fmt,
        size=(first.width, first.height),
        colorspace=colorspace,
        color_range=color_range,
    )
    return vout, enc


def _pick_pix_fmt(av: Any, codec: str, source: str, requested: str | None) -> str:
    formats = [f.name for f in (av.Codec(codec, "w").video_formats or [])]
    if requested is not None:
        if formats and requested not in formats:
            msg = f"encoder {codec!r} does not take pix_fmt {requested!r} (takes {formats})"
            raise ConfigError(msg)
        return requested
    if not formats or source in formats:
        return source
    return formats[0]


def _add_copied_streams(
    out: Any, inp: Any, vin: Any, stats: PipelineStats, fmt: str
) -> dict[int, Any]:
    copies: dict[int, Any] = {}
    for s in inp.streams:
        if s.index == vin.index:
            continue
        codec = s.codec_context.name if s.codec_context is not None else "?"
        if s.type not in ("audio", "subtitle"):
            stats.dropped_streams.append(f"#{s.index} {s.type} {codec}")
            continue
        try:
            ostream = out.add_stream_from_template(s)
        except ValueError:
            msg = (
                f"the {fmt} container cannot hold the input's {s.type} stream #{s.index} "
                f"({codec}) without re-encoding; write .mkv instead"
            )
            raise VideoError(msg) from None
        ostream.metadata.update(_tags(s.metadata))
        ostream.disposition = s.disposition
        copies[s.index] = ostream
        stats.copied_packets[ostream.index] = 0
    return copies


def _run_stages(
    av: Any,
    inp: Any,
    vin: Any,
    out: Any,
    vout: Any,
    copies: dict[int, Any],
    enc: _Encoding,
    frame_fn: FrameFn,
    scale: int,
    fmt: str,
    stats: PipelineStats,
    bar: Any,
    queue_size: int,
) -> None:
    q_in: queue.Queue[Any] = queue.Queue(maxsize=queue_size)
    q_out: queue.Queue[Any] = queue.Queue(maxsize=queue_size)
    stop = threading.Event()
    errors: list[BaseException] = []

    def put(q: queue.Queue[Any], item: Any) -> None:
        while True:
            if stop.is_set():
                raise _Stop
            try:
                q.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def get(q: queue.Queue[Any]) -> Any:
        while True:
            if stop.is_set():
                raise _Stop
            try:
                return q.get(timeout=0.1)
            except queue.Empty:
                continue

    def guarded(fn: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                fn()
            except _Stop:
                pass
            except BaseException as exc:
                errors.append(exc)
                stop.set()

        return run

    def decode() -> None:
        # Frames leave the decoder in presentation order; each is held until the next one
        # arrives, so its duration is the gap to the next pts (what a player shows).
        held: tuple[int, int, Any] | None = None  # (pts, decoder's duration, rgb)
        t = time.perf_counter()
        for packet in inp.demux(vin, *[inp.streams[i] for i in copies]):
            if packet.stream.index != vin.index:
                if packet.pts is None and packet.dts is None:
                    continue  # demuxer flush packet
                stats.decode_s += time.perf_counter() - t
                put(q_in, ("packet", packet))
                t = time.perf_counter()
                continue
            for frame in packet.decode():
                pts, dur = _timing(frame, None if held is None else held[0], vin)
                if (frame.width, frame.height) != enc.size:
                    msg = (
                        f"the frame size changes mid-stream ({enc.size[0]}x{enc.size[1]} -> "
                        f"{frame.width}x{frame.height}); not supported"
                    )
                    raise VideoError(msg)
                # YUV -> RGB with the frame's own matrix and range tags (BT.601 when untagged).
                rgb = frame.to_ndarray(format=enc.rgb_format)
                stats.decode_s += time.perf_counter() - t
                if held is not None:
                    put(q_in, ("frame", held[0], pts - held[0], held[2]))
                held = (pts, dur, rgb)
                t = time.perf_counter()
        if held is not None:
            put(q_in, ("frame", held[0], _last_duration(vin, held[0], held[1]), held[2]))
        stats.decode_s += time.perf_counter() - t
        put(q_in, _DONE)

    durations: dict[int, int] = {}
    state: dict[str, Any] = {"held": None, "first_dts": None, "end": 0}
    mov = fmt in ("mp4", "mov")

    def mux_video(packets: list[Any], last: bool = False) -> None:
        # Packet durations: the frame's presentation duration (by pts). mp4/mov store only dts
        # deltas plus the last packet's duration and end the track at last dts + duration -
        # first dts, so the last packet (held back by one) gets what ends the track where
        # the last frame ends.
        for p in packets:
            if p.pts is not None and p.pts in durations:
                p.duration = durations.pop(p.pts)
            if state["first_dts"] is None and p.dts is not None:
                state["first_dts"] = p.dts
            if state["held"] is not None:
                out.mux(state["held"])
            state["held"] = p
        held = state["held"]
        if last and held is not None:
            if mov and held.dts is not None and state["first_dts"] is not None:
                rest = state["end"] - held.dts + min(0, state["first_dts"])
                if rest > 0:
                    held.duration = rest
            out.mux(held)
            state["held"] = None

    def encode() -> None:
        while True:
            item = get(q_out)
            t = time.perf_counter()
            if item is _DONE:
                mux_video(vout.encode(None), last=True)
                stats.encode_s += time.perf_counter() - t
                return
            if item[0] == "packet":
                packet = item[1]
                packet.stream = copies[packet.stream.index]
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
                durations[pts] = dur
                state["end"] = stats.end_pts = max(state["end"], pts + dur)
                mux_video(vout.encode(frame))
                stats.frames += 1
            stats.encode_s += time.perf_counter() - t

    workers = [
        threading.Thread(target=guarded(decode), name="video-decode", daemon=True),
        threading.Thread(target=guarded(encode), name="video-encode", daemon=True),
    ]
    for w in workers:
        w.start()
    try:
        while True:
            item = get(q_in)
            if item is _DONE:
                put(q_out, _DONE)
                break
            if item[0] == "frame":
                _, pts, dur, rgb = item
                t = time.perf_counter()
                up = frame_fn(rgb)
                stats.infer_s += time.perf_counter() - t
                _check_frame(up, rgb, scale)
                put(q_out, ("frame", pts, dur, up))
                bar.update(1)
            else:
                put(q_out, item)
        workers[1].join()
    except _Stop:
        pass
    except BaseException:
        stop.set()
        for w in workers:
            w.join()
        raise
    stop.set()
    for w in workers:
        w.join()
    if errors:
        raise errors[0]


def _timing(frame: Any, last_pts: int | None, vin: Any) -> tuple[int, int]:
    """A frame's pts (strictly increasing) and duration in the stream's time base."""
    pts = frame.pts if frame.pts is not None else frame.dts
    dur = int(frame.duration or 0)
    if pts is None:
        if last_pts is None:
            pts = 0
        else:
            step = dur or _default_step(vin)
            pts = last_pts + step
    if last_pts is not None and pts <= last_pts:
        pts = last_pts + 1  # duplicate/backwards timestamps: the encoder needs them increasing
    return int(pts), dur


def _last_duration(vin: Any, pts: int, decoded: int) -> int:
    """The last frame's duration: to the stream's end when the container says, else decoded."""
    if vin.duration:
        end = int(vin.start_time or 0) + int(vin.duration)
        if end > pts:
            return end - pts
    return decoded or _default_step(vin)


def _default_step(vin: Any) -> int:
    rate = vin.average_rate or vin.guessed_rate or Fraction(25)
    return max(1, round(1 / (rate * vin.time_base)))


def _check_frame(up: npt.NDArray[Any], rgb: npt.NDArray[Any], scale: int) -> None:
    want = (rgb.shape[0] * scale, rgb.shape[1] * scale, 3)
    if not isinstance(up, np.ndarray) or up.shape != want or up.dtype != rgb.dtype:
        got = getattr(up, "shape", type(up).__name__), getattr(up, "dtype", "")
        msg = f"frame_fn returned {got}, expected {want} {rgb.dtype}"
        raise VideoError(msg)


def _check_complete(vin: Any, stats: PipelineStats, path: Path) -> None:
    """Refuse an input that ended before its index said (a cut-off file)."""
    expected = int(vin.frames or 0)
    if expected and stats.frames < expected:
        msg = (
            f"{path}: truncated video: decoded {stats.frames} of the {expected} frames "
            "its index lists"
        )
        raise VideoError(msg)
    if stats.frames == 0:
        msg = f"{path}: no video frame could be decoded"
        raise VideoError(msg)
    # Matroska has no frame index but FFmpeg's muxer tags each stream's DURATION.
    tagged = _parse_duration(dict(vin.metadata).get("DURATION"))
    if tagged is not None and stats.frames > 1:
        start = float((vin.start_time or 0) * vin.time_base)
        got = float(stats.end_pts * vin.time_base) - start
        frame_s = got / stats.frames
        if got < tagged - max(1.5 * frame_s, 0.05):
            msg = (
                f"{path}: truncated video: frames end at {got:.3f} s but the stream's "
                f"duration is {tagged:.3f} s"
            )
            raise VideoError(msg)


def _parse_duration(text: object) -> float | None:
    """``"00:01:02.500000000"`` -> 62.5 (Matroska's DURATION tag), else ``None``."""
    if not isinstance(text, str):
        return None
    parts = text.strip().split(":")
    try:
        h, m, sec = (float(x) for x in parts) if len(parts) == 3 else (0.0, 0.0, float(text))
    except ValueError:
        return None
    return h * 3600 + m * 60 + sec


def _tags(meta: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in dict(meta).items() if str(k).lower() not in _MUXER_TAGS}


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return " ".join(str(text).split()) or type(exc).__name__
