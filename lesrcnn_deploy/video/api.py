"""The video API beside :class:`~lesrcnn_deploy.upscale.Upscaler`.

``upscale_video(src, dst, upscaler=...)`` upscales a whole file (streaming, atomic, audio copied),
at the model's scale or to any size (``outscale=1.5``, ``fit=(3840, 2160)``);
``upscale_frames(upscaler, frames)`` upscales any iterator of RGB frames (e.g. from a camera or
another decoder) with the same per-frame call, so its frames equal the image path's output.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from ..core.errors import ConfigError, ImageTooLargeError, VideoTooLargeError
from ..core.fileio import atomic_path, sha256_file
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
from .probe import VideoHeader, probe_video, read_header
from .result import VideoResult

__all__ = [
    "FramePlan",
    "FrameUpscaler",
    "UpscalerSet",
    "VideoResult",
    "check_video_limits",
    "frame_plan",
    "upscale_frames",
    "upscale_video",
]


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
    segment_seconds: float | None = None,
    restart: bool = False,
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
        segment_seconds: cut the video at keyframes into segments of about this many seconds,
            each upscaled and encoded on its own, then joined by stream copy
            (:mod:`~lesrcnn_deploy.video.segmented`); finished segments are kept in a work
            folder beside ``dst`` (``.{name}.parts``), so calling again after a crash
            continues where it stopped. ``None`` (the default) or 0: one pass, no work folder.
        restart: with ``segment_seconds``, discard the work folder of an earlier run first.
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
    _check_destination(src_p, dst_p, overwrite=overwrite)
    _check_limits(
        src_p, upscaler, outscale=outscale, fit=fit, limits=(max_pixels, max_output_pixels)
    )  # from the headers: nothing is decoded before the limits are checked
    plan = frame_plan(src_p, upscaler, outscale=outscale, fit=fit)
    out_w, out_h = _output_check(src_p, plan, max_output_pixels)
    # The output frames buffered between the stages hold at most max_output_pixels pixels.
    queue_size = max(1, min(queue_size, max_output_pixels // max(1, out_w * out_h)))
    run = _Run(plan=plan, settings=settings, fmt=fmt, progress=progress)
    if segment_seconds:
        return _segmented(src_p, dst_p, run=run, seconds=segment_seconds, restart=restart)
    return _single_pass(src_p, dst_p, run=run, queue_size=queue_size)


@dataclass(frozen=True)
class _Run:
    """What a video is upscaled with: the frame plan, the encoder, the muxer, a progress bar."""

    plan: FramePlan
    settings: EncoderSettings
    fmt: str
    progress: bool


def _segmented(src: Path, dst: Path, *, run: _Run, seconds: float, restart: bool) -> VideoResult:
    """Upscale ``src`` into ``dst`` in segments (:mod:`~lesrcnn_deploy.video.segmented`)."""
    from .segment_run import SegmentJob
    from .segmented import local_runner, run_segmented

    plan = run.plan
    job = SegmentJob(
        str(src), plan.scale, run.settings, fmt=run.fmt, size=plan.size, stretch=plan.stretch
    )
    return run_segmented(
        job,
        dst,
        seconds=seconds,
        runner=local_runner(plan.frame_fn),
        identity={"upscaler": plan.identity},
        restart=restart,
        progress=run.progress,
    )


def _single_pass(src: Path, dst: Path, *, run: _Run, queue_size: int) -> VideoResult:
    """Upscale ``src`` into ``dst`` (atomically) in one :func:`~.pipeline.run_pipeline` pass."""
    plan = run.plan
    with atomic_path(dst) as tmp:
        stats: PipelineStats = run_pipeline(
            src,
            tmp,
            frame_fn=plan.frame_fn,
            scale=plan.scale,
            settings=run.settings,
            size=plan.size,
            stretch=plan.stretch,
            fmt=run.fmt,
            progress=run.progress,
            queue_size=queue_size,
        )
    return _single_pass_result(src, dst, stats=stats, scale=plan.scale)


def _check_destination(src: Path, dst: Path, *, overwrite: bool) -> None:
    """Refuse a ``dst`` that is ``src`` itself, or that exists without ``overwrite``."""
    if dst.exists():
        if src.exists() and dst.resolve() == src.resolve():
            msg = f"{dst}: the output is the input itself"
            raise ConfigError(msg)
        if not overwrite:
            msg = f"{dst}: output exists (pass overwrite=True / --overwrite)"
            raise ConfigError(msg)


def _single_pass_result(src: Path, dst: Path, *, stats: PipelineStats, scale: int) -> VideoResult:
    """The :class:`VideoResult` of one :func:`~.pipeline.run_pipeline` pass."""
    return VideoResult(
        source=src,
        output=dst,
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


def _too_large(src: Path, plan: OutputPlan, limit: int) -> None:
    try:
        check_output_pixels(plan, limit, name=f"{src}: video frame")
    except ImageTooLargeError as err:
        raise VideoTooLargeError(str(err)) from None


def _check_limits(
    src: Path,
    upscaler: FrameUpscaler | UpscalerSet,
    *,
    outscale: float | None,
    fit: tuple[int, int] | str | None,
    limits: tuple[int | None, int],
) -> None:
    check_video_limits(
        src,
        scales=_models(upscaler)[0],
        outscale=outscale,
        fit=fit,
        max_pixels=limits[0],
        max_output_pixels=limits[1],
    )


def check_video_limits(
    src: str | os.PathLike[str],
    *,
    scales: tuple[int, ...],
    outscale: float | None = None,
    fit: tuple[int, int] | str | None = None,
    max_pixels: int | None = None,
    max_output_pixels: int = DEFAULT_MAX_OUTPUT_PIXELS,
) -> VideoHeader:
    """Refuse, from the stream header alone (nothing decoded), input frames beyond
    ``max_pixels`` and output frames beyond ``max_output_pixels`` at the smallest of ``scales``
    that reaches the size (for ``fit``, the smaller of the two orientations: the display
    rotation is only known once a frame is decoded, and the first frame's exact size is checked
    again then). What :func:`upscale_video` checks first, and the service at a job's POST.

    Returns:
        The header (frame size, frame count: a job's progress total from its POST on).

    Raises:
        VideoTooLargeError: the frames, or the output frames, are too large (413).
        UnsupportedFormatError: a still image FFmpeg can read (e.g. SVG), not a video (415).
        VideoError: not a video container, or no video stream (400).
    """
    src = Path(src)
    header = read_header(src)
    w, h = header.width, header.height
    if max_pixels is not None and w * h > max_pixels:
        msg = f"{src}: video frames too large ({w}x{h} = {w * h} pixels > {max_pixels=})"
        raise VideoTooLargeError(msg)
    if not w or not h:
        return header  # the header does not say: checked on the first decoded frame
    if outscale is None and fit is None:
        s = scales[0]
        _too_large(src, OutputPlan(s, even_size(w * s, h * s), (w * s, h * s)), max_output_pixels)
        return header
    boxes: list[tuple[int, int] | str | None] = [fit]
    if fit is not None:
        box_w, box_h = parse_fit(fit) if isinstance(fit, str) else fit
        boxes.append((box_h, box_w))
    plans = [target_size((w, h), outscale=outscale, fit=b, scales=scales, even=True) for b in boxes]
    smallest = min(plans, key=lambda p: p.size[0] * p.size[1])
    _too_large(src, smallest, max_output_pixels)
    return header


def _output_check(src: Path, plan: FramePlan, limit: int) -> tuple[int, int]:
    """The exact output size of ``plan`` once the first frame is known, checked."""
    info = probe_video(src)
    net = (info.width * plan.scale, info.height * plan.scale)
    size = plan.size or even_size(*net)
    _too_large(src, OutputPlan(plan.scale, size, net), limit)
    return size


@dataclass(frozen=True)
class FramePlan:
    """How each frame of a video is made.

    Attributes:
        frame_fn: RGB frame -> the output frame (even sides, the exact size).
        scale: the network scale used.
        size: the output ``(width, height)`` when resized (``None``: ``scale`` x, even sides).
        stretch: how much wider than tall each pixel becomes (1: the aspect ratio is kept).
        identity: the model that runs (its ``repr``), part of a segmented job's key.
    """

    frame_fn: FrameFn
    scale: int
    size: tuple[int, int] | None
    stretch: Fraction
    identity: str


def frame_plan(
    src: str | os.PathLike[str],
    upscaler: FrameUpscaler | UpscalerSet,
    *,
    outscale: float | None = None,
    fit: tuple[int, int] | str | None = None,
) -> FramePlan:
    """The frame function of ``src``: the model at its scale (odd sides cropped), or with
    ``outscale``/``fit`` the smallest scale that reaches the size, then a resize to it."""
    scales, get = _models(upscaler)
    if outscale is None and fit is None:
        model = get(scales[0])
        fn = _even_crop(model.upscale)
        return FramePlan(fn, int(model.scale), None, Fraction(1), _identity(model))
    plan, stretch = _plan(Path(src), scales, outscale=outscale, fit=fit)
    model = get(plan.scale)
    return FramePlan(
        _resized(model.upscale, plan.size), plan.scale, plan.size, stretch, _identity(model)
    )


def _identity(model: FrameUpscaler) -> str:
    """What names ``model``'s pixels: its ``repr`` (or class and scale) and its model file's SHA."""
    kind = type(model)
    text = repr(model) if kind.__repr__ is not object.__repr__ else f"{kind.__module__}."
    if kind.__repr__ is object.__repr__:
        text += f"{kind.__qualname__}(scale={model.scale})"
    path = getattr(model, "model_path", None)
    if isinstance(path, Path) and path.is_file():
        text += f" sha256={sha256_file(path)}"
    return text


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
