"""The video API beside :class:`~lesrcnn_deploy.upscale.Upscaler`.

``upscale_video(src, dst, upscaler=...)`` upscales a whole file (streaming, atomic, audio copied),
at the model's scale or to any size (``outscale=1.5``, ``fit=(3840, 2160)``);
``upscale_frames(upscaler, frames)`` upscales any iterator of RGB frames (e.g. from a camera or
another decoder) with the same per-frame call, so its frames equal the image path's output.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from ..core.errors import ConfigError, ImageTooLargeError, VideoTooLargeError
from ..core.fileio import atomic_path
from ..data.outsize import (
    DEFAULT_MAX_OUTPUT_PIXELS,
    OutputPlan,
    check_output_pixels,
    parse_fit,
    resize_to,
    target_size,
)
from .encoder import EncoderSettings, container_format
from .engine import FrameFn
from .pipeline import PipelineStats, even_size, run_pipeline
from .probe import probe_video, read_header

__all__ = ["FrameUpscaler", "UpscalerSet", "VideoResult", "upscale_frames", "upscale_video"]


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
        notes: what of the input could not be carried over, besides dropped streams.
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

    @property
    def fps(self) -> float:
        """Frames per second of wall time."""
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    @property
    def shares(self) -> dict[str, float]:
        """Each stage's share of the summed busy time (decode, inference, encode; sums to 1)."""
        busy = {"decode": self.decode_s, "inference": self.infer_s, "encode": self.encode_s}
        total = sum(busy.values())
        return {k: (v / total if total > 0 else 0.0) for k, v in busy.items()}

    def summary(self) -> str:
        """One line: frames, speed and stage shares."""
        sh = self.shares
        return (
            f"wrote {self.output} ({self.frames} frames, {self.codec} {self.pix_fmt}, "
            f"{self.fps:.2f} frames/s; decode {sh['decode']:.0%}, inference "
            f"{sh['inference']:.0%}, encode {sh['encode']:.0%})"
        )


class FrameUpscaler(Protocol):
    """What the video API needs: a ``scale`` and ``upscale(HWC uint8/uint16) -> same kind``."""

    scale: int

    def upscale(self, img: npt.NDArray[Any]) -> npt.NDArray[Any]: ...


@runtime_checkable
class UpscalerSet(Protocol):
    """Upscalers of several scales, opened on demand (e.g. ``upscale.output.ScaleSet``)."""

    scales: tuple[int, ...]

    def get(self, scale: int) -> FrameUpscaler: ...


def upscale_video(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    *,
    upscaler: FrameUpscaler | UpscalerSet,
    outscale: float | None = None,
    fit: tuple[int, int] | str | None = None,
    codec: str | None = None,
    crf: float | None = None,
    bitrate: int | None = None,
    pix_fmt: str | None = None,
    options: Mapping[str, str] | None = None,
    overwrite: bool = False,
    progress: bool = True,
    queue_size: int = 8,
    max_pixels: int | None = None,
    max_output_pixels: int = DEFAULT_MAX_OUTPUT_PIXELS,
) -> VideoResult:
    """Upscale every frame of ``src`` with ``upscaler.upscale`` and write ``dst``.

    Frames go through ``upscaler.upscale(rgb)`` one by one, exactly as an image would (so a
    lossless codec reproduces the image path's output). Timestamps, frame rate, time base,
    rotation, audio and subtitle packets and metadata are kept (see
    :mod:`~lesrcnn_deploy.video.pipeline`). ``dst`` is written atomically: on any error or
    Ctrl-C nothing appears at ``dst`` (an existing file stays as it was).

    Args:
        src: input video (any container FFmpeg reads).
        dst: output file; its extension picks the container (.mp4, .m4v, .mkv, .mov, .webm).
        upscaler: anything with ``scale`` and ``upscale((H, W, 3) RGB uint8|uint16) ->
            (H*s, W*s, 3)``, e.g. :class:`~lesrcnn_deploy.upscale.Upscaler`; or an
            :class:`UpscalerSet` (``scales`` and ``get(scale)``), from which ``outscale``/``fit``
            take the smallest scale that reaches the size.
        outscale: final size = input size x this factor (e.g. 1.5), rounded, odd sides one
            pixel shorter; exclusive with ``fit``.
        fit: final size = the largest with the input's displayed aspect ratio inside this
            ``(width, height)`` box or ``"WxH"`` (swapped for a video displayed rotated by 90
            degrees), even sides. With either, the network runs at the smallest scale that
            reaches the size, then an area (shrinking) or Lanczos (enlarging) resize gives the
            exact size (:mod:`~lesrcnn_deploy.data.outsize`); the sample aspect ratio is
            corrected for the rounding, so the picture keeps its displayed shape.
        codec: video encoder (default: libx264 where available, see
            :data:`~lesrcnn_deploy.video.encoder.DEFAULT_CODECS`).
        crf: constant quality (default 18 for libx264); exclusive with ``bitrate``.
        bitrate: target bits/s; exclusive with ``crf``.
        pix_fmt: encoder pixel format (default: the input's when the encoder takes it).
        options: extra FFmpeg encoder options, e.g. ``{"preset": "slow"}``.
        overwrite: replace an existing ``dst``.
        progress: tqdm bar on stderr with frames/s and ETA.
        queue_size: frames buffered between stages, at most; fewer when the output frames are
            large, so that the buffered output frames hold at most ``max_output_pixels`` pixels.
        max_pixels: largest input frame ``width * height`` (None: no limit), read from the
            stream header before any frame is decoded.
        max_output_pixels: largest output frame ``width * height`` (network output and final
            size), checked before any frame is decoded.

    Returns:
        A :class:`VideoResult`.

    Raises:
        VideoTooLargeError: the input or output frames pass ``max_pixels`` /
            ``max_output_pixels`` (nothing decoded, nothing written).
        VideoError: no video stream, truncated or undecodable input, a stream the output
            container cannot hold.
        ConfigError: bad encoder settings, unsupported output extension, ``dst`` exists without
            ``overwrite`` or is ``src`` itself.
        MissingExtraError: PyAV is not installed.
    """
    src_p, dst_p = Path(src), Path(dst)
    settings = EncoderSettings(
        codec=codec, crf=crf, bitrate=bitrate, pix_fmt=pix_fmt, options=dict(options or {})
    )
    fmt = container_format(dst_p)
    if dst_p.exists():
        if src_p.exists() and dst_p.resolve() == src_p.resolve():
            msg = f"{dst_p}: the output is the input itself"
            raise ConfigError(msg)
        if not overwrite:
            msg = f"{dst_p}: output exists (pass overwrite=True / --overwrite)"
            raise ConfigError(msg)
    scales, get = _models(upscaler)
    header = read_header(src_p)  # nothing is decoded before the limits are checked
    w, h = header.width, header.height
    if max_pixels is not None and w * h > max_pixels:
        msg = (
            f"{src_p}: video frames too large ({w}x{h} = {w * h} pixels > max_pixels={max_pixels})"
        )
        raise VideoTooLargeError(msg)
    if outscale is None and fit is None:
        s = scales[0]
        out = even_size(w * s, h * s)
        _check_output(src_p, OutputPlan(s, out, (w * s, h * s)), max_output_pixels)
        model = get(s)
        scale, size, stretch = int(model.scale), None, Fraction(1)
        frame_fn: FrameFn = _even_crop(model.upscale)
    else:
        plan, stretch = _plan(src_p, scales, outscale=outscale, fit=fit)
        _check_output(src_p, plan, max_output_pixels)
        scale, size = plan.scale, plan.size
        frame_fn = _resized(get(plan.scale).upscale, plan.size)
        out = plan.size
    # The output frames buffered between the stages hold at most max_output_pixels pixels.
    queue_size = max(1, min(queue_size, max_output_pixels // max(1, out[0] * out[1])))
    with atomic_path(dst_p) as tmp:
        stats: PipelineStats = run_pipeline(
            src_p,
            tmp,
            frame_fn=frame_fn,
            scale=scale,
            settings=settings,
            size=size,
            stretch=stretch,
            fmt=fmt,
            progress=progress,
            queue_size=queue_size,
        )
    return VideoResult(
        source=src_p,
        output=dst_p,
        frames=stats.frames,
        codec=stats.codec,
        pix_fmt=stats.pix_fmt,
        copied_packets=dict(stats.copied_packets),
        dropped_streams=tuple(stats.dropped_streams),
        seconds=stats.wall_s,
        decode_s=stats.decode_s,
        infer_s=stats.infer_s,
        encode_s=stats.encode_s,
        size=stats.size,
        scale=scale,
        chapters=stats.chapters,
        notes=tuple(stats.notes),
    )


def _check_output(src: Path, plan: OutputPlan, limit: int) -> None:
    try:
        check_output_pixels(plan, limit, name=f"{src}: video frame")
    except ImageTooLargeError as err:
        raise VideoTooLargeError(str(err)) from None


def _models(
    upscaler: FrameUpscaler | UpscalerSet,
) -> tuple[tuple[int, ...], Callable[[int], FrameUpscaler]]:
    """The scales ``upscaler`` offers (smallest first) and how to get the model of one."""
    if isinstance(upscaler, UpscalerSet):
        return tuple(sorted(upscaler.scales)), upscaler.get
    if not hasattr(upscaler, "upscale") or not hasattr(upscaler, "scale"):
        msg = f"upscaler must have scale and upscale(), got {type(upscaler).__name__}"
        raise ConfigError(msg)
    one = upscaler
    return (int(one.scale),), lambda _scale: one


def _plan(
    src: Path, scales: tuple[int, ...], *, outscale: float | None, fit: tuple[int, int] | str | None
) -> tuple[OutputPlan, Fraction]:
    """The output plan of ``src`` and how much it stretches each pixel (width over height)."""
    info = probe_video(src)
    w, h = info.width, info.height
    if fit is not None and round(info.rotation) % 180 == 90:  # the box is as displayed
        box_w, box_h = parse_fit(fit) if isinstance(fit, str) else fit
        fit = (box_h, box_w)
    plan = target_size((w, h), outscale=outscale, fit=fit, scales=scales, even=True)
    out_w, out_h = plan.size
    return plan, Fraction(w * out_h, h * out_w)


def _even_crop(fn: FrameFn) -> FrameFn:
    """``fn`` with odd output sides cropped by one pixel (right column, bottom row)."""

    def run(rgb: npt.NDArray[Any]) -> npt.NDArray[Any]:
        up = fn(rgb)
        h, w = getattr(up, "shape", (0, 0))[:2]
        if h % 2 == 0 and w % 2 == 0:
            return up
        return np.ascontiguousarray(up[: max(2, h - h % 2), : max(2, w - w % 2)])

    return run


def _resized(fn: FrameFn, size: tuple[int, int]) -> FrameFn:
    """``fn`` followed by :func:`~lesrcnn_deploy.data.outsize.resize_to` ``size``."""

    def run(rgb: npt.NDArray[Any]) -> npt.NDArray[Any]:
        return resize_to(fn(rgb), size)

    return run


def upscale_frames(
    upscaler: FrameUpscaler, frames: Iterable[npt.NDArray[np.unsignedinteger[Any]]]
) -> Iterator[npt.NDArray[np.unsignedinteger[Any]]]:
    """Lazily upscale an iterator of frames, one ``upscaler.upscale`` call per frame.

    Args:
        upscaler: e.g. :class:`~lesrcnn_deploy.upscale.Upscaler`.
        frames: ``(H, W, 3)`` RGB uint8 (or uint16, gray, RGBA: whatever ``upscale`` takes).

    Yields:
        ``(H*s, W*s, C)`` frames of the same dtype, in order.
    """
    if not hasattr(upscaler, "upscale"):
        msg = f"upscaler must have an upscale() method, got {type(upscaler).__name__}"
        raise ConfigError(msg)
    for frame in frames:
        yield upscaler.upscale(frame)
