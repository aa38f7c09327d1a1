"""The work of one job: an image (counted in tiles) or a video (counted in frames).

Both run the shared model through a wrapper of its runner that checks the job's cancel flag before
every tile, so ``DELETE`` and SIGTERM stop a job within one tile's work, whatever the size of the
image or of the video frame. Image jobs take the same ``outscale``/``fit``/``strip_metadata`` as
``POST /v1/upscale`` and give the same bytes (they call the same :func:`.engine.upscale_bytes`);
video jobs take ``outscale``/``fit``. Every size limit is checked from the header, before any
decoding.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy.typing as npt

from ..core.errors import LesrcnnError
from ..core.fileio import atomic_write_bytes
from ..data import image_size
from ..data.image_io import check_pixels
from ..upscale.output import OutputOptions
from ..upscale.tiling import tile_windows
from .engine import CancellableRunner, LoadedModel, RequestCancelled, upscale_bytes

__all__ = ["JobCancelled", "check_upload", "run_image", "run_video"]


class JobCancelled(LesrcnnError):
    """The job was cancelled (``DELETE``, or the server is shutting down)."""


def _checked(model: LoadedModel, job: Any, *, tiles: bool) -> LoadedModel:
    """``model`` on a shallow copy of its upscaler whose runner checks ``job.cancel``."""

    def count() -> None:
        if tiles:
            job.done += 1

    view = copy.copy(model.upscaler)
    view.runner = CancellableRunner(
        model.upscaler.runner, job.cancel, on_tile=count, error=JobCancelled
    )
    return dataclasses.replace(model, upscaler=view)


def _tile_count(h: int, w: int, tile: int, overlap: int) -> int:
    if tile == 0:
        return 1
    return len(tile_windows(h, tile, overlap=overlap)) * len(tile_windows(w, tile, overlap=overlap))


def check_upload(
    path: Path, kind: str, *, scales: tuple[int, ...], options: OutputOptions, limit: int
) -> int:
    """Refuse an upload from its header before its job is queued, nothing decoded: an image's
    input and output pixels, a video's frames and output frames from its stream header (413; a
    still such as SVG posted as a video 415; no video stream 400).

    Returns:
        A video's frame count from its header (0 for an image, or when the header does not say).
    """
    if kind == "image":
        size = image_size(path, name="upload", any_extension=True)
        check_pixels(size, limit, name="upload")
        options.plan(size, scales, name="upload")
        return 0
    from ..video.api import check_video_limits

    header = check_video_limits(
        path,
        scales=scales,
        outscale=options.outscale,
        fit=options.fit,
        max_pixels=limit,
        max_output_pixels=options.max_output_pixels,
    )
    return header.frames


def run_image(job: Any, *, max_pixels: int) -> None:
    """Upscale an image job's upload into its output file (as ``POST /v1/upscale`` would).

    Raises:
        JobCancelled: ``job.cancel`` was set. ImageError (and subclasses): bad or too large input.
    """
    data = Path(job.input).read_bytes()
    options: OutputOptions = job.options
    pool: Mapping[int, LoadedModel] = job.choices or {job.model.key[0]: job.model}
    scales = tuple(sorted(pool))
    w, h = image_size(data, name="upload")
    plan = options.plan((w, h), scales, name="upload")  # refused here: nothing decoded yet
    used = pool[plan.scale]
    job.model = used
    up = used.upscaler
    job.total = _tile_count(h, w, up.tile, up.tile_overlap)
    try:
        result = upscale_bytes(
            _checked(used, job, tiles=True),
            data,
            fmt=job.fmt,
            max_pixels=max_pixels,
            cancel=job.cancel,
            options=options,
            name="upload",
        )
    except RequestCancelled:
        raise JobCancelled("cancelled") from None
    job.inference_seconds = result.inference_seconds
    atomic_write_bytes(job.output, result.data)


class _Frames:
    """What the video API needs of one scale (``scale``, ``upscale``): frames counted, time
    summed, the cancel flag checked before every tile."""

    def __init__(self, model: LoadedModel, job: Any) -> None:
        self._upscaler = _checked(model, job, tiles=False).upscaler
        self._job = job
        self.scale: int = model.upscaler.scale

    def upscale(self, img: npt.NDArray[Any]) -> npt.NDArray[Any]:
        t = time.perf_counter()
        out = self._upscaler.upscale(img)
        self._job.inference_seconds += time.perf_counter() - t
        self._job.done += 1
        return out


class _FrameSet:
    """The loaded scales for ``outscale``/``fit`` (the video API's ``UpscalerSet``)."""

    def __init__(self, pool: Mapping[int, LoadedModel], job: Any) -> None:
        self.scales = tuple(sorted(pool))
        self._pool = pool
        self._job = job

    def get(self, scale: int) -> _Frames:
        self._job.model = self._pool[scale]
        return _Frames(self._pool[scale], self._job)


def run_video(job: Any, *, max_pixels: int) -> None:
    """Upscale a video job's upload into its output file; limits checked before decoding.

    Raises:
        JobCancelled: ``job.cancel`` was set. VideoError (and VideoTooLargeError),
        UnsupportedFormatError: bad, too large or not a video.
    """
    from ..video import upscale_video
    from ..video.probe import read_header

    options: OutputOptions = job.options
    job.total = read_header(job.input).frames  # an SVG or other still: 415 before any work
    pool = job.choices or {job.model.key[0]: job.model}
    frames: Any = _FrameSet(pool, job) if options.resizes else _Frames(job.model, job)
    upscale_video(
        job.input,
        job.output,
        upscaler=frames,
        outscale=options.outscale,
        fit=options.fit,
        progress=False,
        overwrite=True,
        max_pixels=max_pixels,
        max_output_pixels=options.max_output_pixels,
    )
    job.total = max(job.total, job.done)
