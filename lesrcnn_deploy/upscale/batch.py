"""Upscale many files: inputs -> jobs (output names), then run them with a progress bar.

Output naming: ``{stem}_x{S}.{ext}`` with ``ext`` from ``fmt`` (default ``png``; an animated
GIF or WebP stays GIF/WebP); with ``--outscale 1.5`` the tag is ``x1.5``, with ``--fit 3840x2160``
``fit3840x2160`` (also in the default output folder's name).

* No ``output``: a file's result goes beside it; a folder ``photos/``'s results go to the sibling
  folder ``photos_x{S}/`` (sub-folders mirrored), so a rerun never picks up its own outputs.
* ``output`` with an image extension (and no such folder): the one output file; its extension
  chooses the format. Only allowed when the inputs are exactly one image.
* Otherwise ``output`` is a folder: files go into it, folder inputs are mirrored into it.

Rules, per job: an output that is another job's input is refused; an output that is its own input
needs ``overwrite``; an existing output is skipped with ``skip_existing``, replaced with
``overwrite``, and otherwise reported as failed. Files are written atomically (temporary file, then
rename), so an interrupted run (Ctrl-C) leaves complete outputs only and can be finished with
``skip_existing``. Unreadable or unsupported images fail that job with the reason and the run goes
on; anything else (model errors, Ctrl-C) stops the run.

Videos (container recognised by FFmpeg; in folders: by extension, see
:data:`~lesrcnn_deploy.video.VIDEO_EXTENSIONS`) become ``kind="video"`` jobs named
``{stem}_x{S}{container ext}`` (``.mkv`` for containers we do not write) and are run by the
``video`` callable given to :func:`run_batch` (see :mod:`lesrcnn_deploy.video`).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..core.errors import ConfigError, ImageError, VideoError, one_line
from ..core.vocab import check_scale
from ..data import DEFAULT_MAX_PIXELS, SUPPORTED_EXTENSIONS, list_images, load_image, save_image
from ..data.animation import ANIMATION_FORMATS, is_animated
from .output import ImageUpscaler, OutputOptions, ScaleSet, upscale_animation, upscale_pixels

__all__ = [
    "OUTPUT_FORMATS",
    "BatchResult",
    "ImageUpscaler",
    "Job",
    "Outcome",
    "check_job",
    "check_plan",
    "output_name",
    "plan_jobs",
    "run_batch",
    "upscale_job",
]

OUTPUT_FORMATS: tuple[str, ...] = (
    "png",
    "jpg",
    "jpeg",
    "webp",
    "bmp",
    "tif",
    "tiff",
    "avif",
    "jxl",
    "gif",
)
"""Output formats (extensions without the dot); ``gif`` holds animations only."""


@dataclass(frozen=True)
class Job:
    """One file to upscale: ``source`` -> ``output``; ``kind`` is ``"image"`` or ``"video"``."""

    source: Path
    output: Path
    kind: Literal["image", "video"] = "image"


@dataclass(frozen=True)
class Outcome:
    """What happened to one job: ``status`` is ``"done"``, ``"skipped"`` or ``"failed"``."""

    job: Job
    status: Literal["done", "skipped", "failed"]
    reason: str = ""


@dataclass(frozen=True)
class BatchResult:
    """Outcomes of a run, in job order, and its wall time in seconds."""

    outcomes: tuple[Outcome, ...]
    seconds: float

    def _with(self, status: str) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == status]

    @property
    def done(self) -> list[Outcome]:
        """Jobs whose output was written."""
        return self._with("done")

    @property
    def skipped(self) -> list[Outcome]:
        """Jobs not run (output exists and ``skip_existing``)."""
        return self._with("skipped")

    @property
    def failed(self) -> list[Outcome]:
        """Jobs that failed, each with its reason."""
        return self._with("failed")

    @property
    def ok(self) -> bool:
        """True when no job failed."""
        return not self.failed

    def summary(self) -> str:
        """Multi-line text: counts, then one line per skipped or failed job with its reason."""
        lines = [
            f"done {len(self.done)}, skipped {len(self.skipped)}, failed {len(self.failed)} "
            f"({self.seconds:.1f} s)"
        ]
        for o in self.skipped + self.failed:
            lines.append(f"  {o.status}: {o.job.source}: {o.reason}")
        return "\n".join(lines)


def _check_format(fmt: str) -> str:
    ext = fmt.lower().lstrip(".")
    if ext not in OUTPUT_FORMATS:
        msg = f"unknown output format {fmt!r}: choose from {', '.join(OUTPUT_FORMATS)}"
        raise ConfigError(msg)
    return ext


def output_name(source: Path, scale: int, *, fmt: str = "png", tag: str | None = None) -> str:
    """``{stem}_x{scale}.{fmt}`` (or ``{stem}_{tag}.{fmt}``), e.g. ``cat.jpg`` -> ``cat_x4.png``."""
    return f"{source.stem}_{tag or f'x{scale}'}.{_check_format(fmt)}"


def _default_ext(source: Path, fmt: str | None) -> str:
    """``fmt``, or ``png`` except for an animated GIF/WebP, which stays GIF/WebP."""
    if fmt is not None:
        return _check_format(fmt)
    ext = source.suffix.lower()
    if ext in (".gif", ".webp") and is_animated(source):
        return ext[1:]
    return "png"


def plan_jobs(
    inputs: Sequence[str | os.PathLike[str]],
    *,
    scale: int | None = None,
    output: str | os.PathLike[str] | None = None,
    fmt: str | None = None,
    recursive: bool = False,
    tag: str | None = None,
) -> list[Job]:
    """Expand files and folders into jobs with their output paths (see the module docstring).

    Args:
        inputs: image files and/or folders.
        scale: 2, 3 or 4 (goes into the output names as ``x{scale}``).
        output: output folder, or output file for a single image; ``None`` for the defaults.
        fmt: output format for generated names (``png`` when ``None``); not allowed together with
            an output file name, whose extension decides.
        recursive: list sub-folders of folder inputs too.
        tag: the names' tag instead of ``x{scale}`` (e.g. ``x1.5``, see
            :meth:`~lesrcnn_deploy.upscale.output.OutputOptions.suffix`).

    Returns:
        Jobs in input order (folder contents sorted).

    Raises:
        ConfigError: no inputs, a missing input, no images found, an output file name for several
            images, or two inputs mapping to the same output.
        DatasetError: a folder cannot be listed.
    """
    if tag is None:
        if scale is None:
            msg = "plan_jobs needs a scale or a tag"
            raise ConfigError(msg)
        tag = f"x{check_scale(scale)}"
    if not inputs:
        msg = "no inputs given"
        raise ConfigError(msg)
    from ..video.probe import OUTPUT_CONTAINERS, list_videos, looks_like_video

    out = Path(output) if output is not None else None
    out_exts = (*SUPPORTED_EXTENSIONS, *(f".{e}" for e in OUTPUT_FORMATS), *OUTPUT_CONTAINERS)
    out_is_file = out is not None and out.suffix.lower() in out_exts and not out.is_dir()
    if out_is_file and fmt is not None:
        msg = f"{out}: give either an output file name or --format, not both"
        raise ConfigError(msg)
    if fmt is not None:
        _check_format(fmt)

    found: list[tuple[Path, Path, Path | None]] = []  # (source, folder input or file parent, rel)
    for item in inputs:
        p = Path(item)
        if p.is_dir() and not p.name:  # "." or "..": name the output folder after the real one
            p = p.resolve()
        if p.is_dir():
            gifs = [f for f in (p.rglob("*") if recursive else p.glob("*")) if _is_gif(f)]
            images = sorted(list_images(p, recursive=recursive) + list_videos(p, recursive) + gifs)
            if not images:
                exts = ", ".join(SUPPORTED_EXTENSIONS)
                msg = f"{p}: no images found (extensions {exts}), nor videos"
                raise ConfigError(msg)
            found += [(f, p, f.relative_to(p).parent) for f in images]
        elif p.exists():
            found.append((p, p.parent, None))
        else:
            msg = f"{p}: no such file or folder"
            raise ConfigError(msg)

    if out is not None and out_is_file:
        if len(found) != 1:
            msg = f"{out}: an output file name needs exactly one input image, got {len(found)}"
            raise ConfigError(msg)
        one: Literal["image", "video"] = "video" if looks_like_video(found[0][0]) else "image"
        if (one == "video") != (out.suffix.lower() in OUTPUT_CONTAINERS):
            msg = f"{out}: a {one} input needs an output of the same kind (extension)"
            raise ConfigError(msg)
        return [Job(found[0][0], out, one)]

    jobs: list[Job] = []
    for source, base, rel in found:
        kind: Literal["image", "video"] = "video" if looks_like_video(source) else "image"
        if kind == "video":
            vext = source.suffix.lower() if source.suffix.lower() in OUTPUT_CONTAINERS else ".mkv"
            name = f"{source.stem}_{tag}{vext}"
        else:
            name = output_name(source, 0, fmt=_default_ext(source, fmt), tag=tag)
        if out is None:
            folder = base.parent / f"{base.name}_{tag}" / rel if rel is not None else base
        else:
            folder = out / rel if rel is not None else out
        jobs.append(Job(source, folder / name, kind))
    seen: dict[Path, Path] = {}
    for job in jobs:
        key = job.output.resolve()
        if key in seen:
            msg = f"{job.output}: two inputs map to this output ({seen[key]} and {job.source})"
            raise ConfigError(msg)
        seen[key] = job.source
    return jobs


def check_plan(jobs: Sequence[Job], options: OutputOptions, *, ray: bool = False) -> None:
    """Refuse a run whose options would do nothing or cannot be honoured: the rules every
    front door applies before any work (the CLI, :func:`run_batch`,
    :meth:`~lesrcnn_deploy.upscale.api.Upscaler.upscale_file`,
    :func:`~lesrcnn_deploy.cluster.batch.run_batch_ray`).

    * ``quality``/``lossless``/``strip_metadata`` apply to images: refused when every job is a
      video (videos use ``crf``/``bitrate``);
    * an image's output format must be writable here and take the encoding options given;
    * GIF output is for animated inputs (a still image is written as PNG);
    * on Ray: no output resizing or encoding options (local runs only).

    Raises:
        ConfigError: the one-line reason, naming the file where there is one.
    """
    if ray:
        local_only = (
            options.resizes or options.quality is not None or options.lossless
        ) or options.strip_metadata
        if local_only:
            msg = (
                "--outscale/--fit/--quality/--lossless/--strip-metadata apply to local runs, "
                "not --ray"
            )
            raise ConfigError(msg)
    encoding = options.quality is not None or options.lossless or options.strip_metadata
    if jobs and all(j.kind == "video" for j in jobs) and encoding:
        msg = "--quality/--lossless/--strip-metadata apply to images; videos use --crf/--bitrate"
        raise ConfigError(msg)
    for job in jobs:
        if job.kind != "image":
            continue
        options.check_format(job.output.suffix)
        if job.output.suffix.lower() == ".gif" and not is_animated(job.source):
            msg = f"{job.source}: GIF output is for animated inputs (use png for a still)"
            raise ConfigError(msg)


def _is_gif(path: Path) -> bool:
    return path.suffix.lower() == ".gif" and path.is_file() and not path.name.startswith(".")


def run_batch(
    upscaler: ImageUpscaler | ScaleSet,
    jobs: Sequence[Job],
    *,
    overwrite: bool = False,
    skip_existing: bool = False,
    progress: bool = True,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    video: Callable[[Job], object] | None = None,
    options: OutputOptions | None = None,
) -> BatchResult:
    """Run ``jobs`` one after another with a tqdm progress bar on stderr.

    Args:
        upscaler: e.g. an :class:`~lesrcnn_deploy.upscale.api.Upscaler`, or a
            :class:`~lesrcnn_deploy.upscale.output.ScaleSet` (several scales, for ``fit``).
        jobs: from :func:`plan_jobs`.
        overwrite: replace existing outputs, including an output that is its own input.
        skip_existing: leave existing outputs alone and count them as skipped (resume a run).
        progress: show the progress bar.
        max_pixels: larger inputs (header size) are refused, see
            :func:`~lesrcnn_deploy.data.load_image`.
        video: runs a ``kind="video"`` job (writes ``job.output`` atomically, raises
            ``VideoError`` for bad input); ``None`` fails video jobs.
        options: output size, metadata and encoding (default: the network scale, metadata kept).

    Returns:
        The :class:`BatchResult`; a failed job does not stop the run.

    Raises:
        ConfigError: ``overwrite`` together with ``skip_existing``, or a plan
            :func:`check_plan` refuses (before any work).
        KeyboardInterrupt: propagated after the current file; no partial file is left.
        LesrcnnError: model or runtime errors stop the run.
    """
    from tqdm import tqdm

    if overwrite and skip_existing:
        msg = "choose either --overwrite or --skip-existing, not both"
        raise ConfigError(msg)
    check_plan(jobs, options or OutputOptions())
    if isinstance(upscaler, ScaleSet) and len(upscaler.scales) == 1:
        upscaler.get(upscaler.scales[0])  # opened before the bar: its runtime note comes first
    sources = {job.source.resolve(): job for job in jobs}
    outcomes: list[Outcome] = []
    start = time.perf_counter()
    bar = tqdm(
        total=len(jobs), unit="img", disable=not progress, file=sys.stderr, dynamic_ncols=True
    )
    try:
        for job in jobs:
            bar.set_postfix_str(job.source.name, refresh=False)
            outcomes.append(
                _run_one(
                    upscaler, job, sources, overwrite, skip_existing, max_pixels, video, options
                )
            )
            bar.update(1)
    finally:
        bar.close()
    return BatchResult(tuple(outcomes), time.perf_counter() - start)


def _run_one(
    upscaler: ImageUpscaler | ScaleSet,
    job: Job,
    sources: dict[Path, Job],
    overwrite: bool,
    skip_existing: bool,
    max_pixels: int,
    video: Callable[[Job], object] | None = None,
    options: OutputOptions | None = None,
) -> Outcome:
    refused = check_job(job, sources, overwrite=overwrite, skip_existing=skip_existing)
    if refused is not None:
        return refused
    if job.kind == "video":
        if video is None:
            return Outcome(job, "failed", "video job but no video runner given")
        try:
            video(job)
        except VideoError as exc:
            return Outcome(job, "failed", one_line(exc).removeprefix(f"{job.source}: "))
        return Outcome(job, "done")
    return upscale_job(upscaler, job, max_pixels=max_pixels, options=options)


def check_job(
    job: Job, sources: dict[Path, Job], *, overwrite: bool, skip_existing: bool
) -> Outcome | None:
    """The output rules of :func:`run_batch` for one job, before any work.

    Args:
        job: the job to check.
        sources: every job of the run by its resolved source path.
        overwrite: as in :func:`run_batch`.
        skip_existing: as in :func:`run_batch`.

    Returns:
        A ``"skipped"`` or ``"failed"`` outcome when the job must not run, else None.
    """
    target = job.output.resolve()
    owner = sources.get(target)
    if owner is not None and owner is not job:
        return Outcome(job, "failed", f"output {job.output} is another input ({owner.source})")
    if job.output.exists():
        if skip_existing:
            return Outcome(job, "skipped", f"output exists: {job.output}")
        if owner is job and not overwrite:
            return Outcome(job, "failed", "output is the input itself (pass --overwrite)")
        if not overwrite:
            reason = f"output exists: {job.output} (pass --overwrite or --skip-existing)"
            return Outcome(job, "failed", reason)
    return None


def upscale_job(
    upscaler: ImageUpscaler | ScaleSet,
    job: Job,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    options: OutputOptions | None = None,
) -> Outcome:
    """Read, upscale and atomically write one job (no output rules: see :func:`check_job`).

    An animated GIF/WebP/APNG has every frame upscaled into an animation of the output's kind.

    Returns:
        ``"done"``, or ``"failed"`` with the reason when the image is unreadable or unsupported.
    """
    opts = options or OutputOptions()
    try:
        if is_animated(job.source):
            if job.output.suffix.lower() not in ANIMATION_FORMATS:
                fmt = job.output.suffix.lower().lstrip(".")
                msg = f"{job.source}: animated input, but {fmt} holds no animation (gif/webp/png)"
                raise ImageError(msg)
            upscale_animation(
                upscaler, job.source, output=job.output, options=opts, max_pixels=max_pixels
            )
            return Outcome(job, "done")
        image = load_image(job.source, max_pixels=max_pixels)
        result = upscale_pixels(upscaler, image.pixels, options=opts)
        save_image(
            job.output,
            result,
            meta=opts.meta(image.meta),
            quality=opts.quality,
            lossless=opts.lossless,
        )
    except (ImageError, ConfigError) as exc:
        reason = one_line(exc)
        return Outcome(job, "failed", reason.removeprefix(f"{job.source}: "))
    return Outcome(job, "done")
