"""Upscale many files: inputs -> jobs (output names), then run them with a progress bar.

Output naming: ``{stem}_x{S}.{ext}`` with ``ext`` from ``fmt`` (default ``png``).

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
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt

from ..core.errors import ConfigError, ImageError, VideoError, one_line
from ..core.vocab import check_scale
from ..data import DEFAULT_MAX_PIXELS, SUPPORTED_EXTENSIONS, list_images, load_image, save_image

__all__ = [
    "OUTPUT_FORMATS",
    "BatchResult",
    "ImageUpscaler",
    "Job",
    "Outcome",
    "check_job",
    "output_name",
    "plan_jobs",
    "run_batch",
    "upscale_job",
]

OUTPUT_FORMATS: tuple[str, ...] = ("png", "jpg", "jpeg", "webp", "bmp", "tif", "tiff")
"""Output formats (extensions without the dot)."""


class ImageUpscaler(Protocol):
    """What :func:`run_batch` needs: a scale and ``upscale(HWC uint8/uint16) -> same kind``."""

    scale: int

    def upscale(
        self, img: npt.NDArray[np.unsignedinteger[Any]]
    ) -> npt.NDArray[np.unsignedinteger[Any]]: ...


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


def output_name(source: Path, scale: int, fmt: str = "png") -> str:
    """``{stem}_x{scale}.{fmt}``, e.g. ``cat.jpg`` -> ``cat_x4.png``."""
    return f"{source.stem}_x{scale}.{_check_format(fmt)}"


def plan_jobs(
    inputs: Sequence[str | os.PathLike[str]],
    *,
    scale: int,
    output: str | os.PathLike[str] | None = None,
    fmt: str | None = None,
    recursive: bool = False,
) -> list[Job]:
    """Expand files and folders into jobs with their output paths (see the module docstring).

    Args:
        inputs: image files and/or folders.
        scale: 2, 3 or 4 (goes into the output names).
        output: output folder, or output file for a single image; ``None`` for the defaults.
        fmt: output format for generated names (``png`` when ``None``); not allowed together with
            an output file name, whose extension decides.
        recursive: list sub-folders of folder inputs too.

    Returns:
        Jobs in input order (folder contents sorted).

    Raises:
        ConfigError: no inputs, a missing input, no images found, an output file name for several
            images, or two inputs mapping to the same output.
        DatasetError: a folder cannot be listed.
    """
    s = check_scale(scale)
    if not inputs:
        msg = "no inputs given"
        raise ConfigError(msg)
    from ..video.probe import OUTPUT_CONTAINERS, list_videos, looks_like_video

    out = Path(output) if output is not None else None
    out_exts = (*SUPPORTED_EXTENSIONS, *OUTPUT_CONTAINERS)
    out_is_file = out is not None and out.suffix.lower() in out_exts and not out.is_dir()
    if out_is_file and fmt is not None:
        msg = f"{out}: give either an output file name or --format, not both"
        raise ConfigError(msg)
    ext = _check_format(fmt or "png")

    found: list[tuple[Path, Path, Path | None]] = []  # (source, folder input or file parent, rel)
    for item in inputs:
        p = Path(item)
        if p.is_dir() and not p.name:  # "." or "..": name the output folder after the real one
            p = p.resolve()
        if p.is_dir():
            images = sorted(list_images(p, recursive=recursive) + list_videos(p, recursive))
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
            name = f"{source.stem}_x{s}{vext}"
        else:
            name = output_name(source, s, ext)
        if out is None:
            folder = base.parent / f"{base.name}_x{s}" / rel if rel is not None else base
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


def run_batch(
    upscaler: ImageUpscaler,
    jobs: Sequence[Job],
    *,
    overwrite: bool = False,
    skip_existing: bool = False,
    progress: bool = True,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    video: Callable[[Job], object] | None = None,
) -> BatchResult:
    """Run ``jobs`` one after another with a tqdm progress bar on stderr.

    Args:
        upscaler: e.g. an :class:`~lesrcnn_deploy.upscale.api.Upscaler`.
        jobs: from :func:`plan_jobs`.
        overwrite: replace existing outputs, including an output that is its own input.
        skip_existing: leave existing outputs alone and count them as skipped (resume a run).
        progress: show the progress bar.
        max_pixels: larger inputs (header size) are refused, see
            :func:`~lesrcnn_deploy.data.load_image`.
        video: runs a ``kind="video"`` job (writes ``job.output`` atomically, raises
            ``VideoError`` for bad input); ``None`` fails video jobs.

    Returns:
        The :class:`BatchResult`; a failed job does not stop the run.

    Raises:
        ConfigError: ``overwrite`` together with ``skip_existing``.
        KeyboardInterrupt: propagated after the current file; no partial file is left.
        LesrcnnError: model or runtime errors stop the run.
    """
    from tqdm import tqdm

    if overwrite and skip_existing:
        msg = "choose either --overwrite or --skip-existing, not both"
        raise ConfigError(msg)
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
                _run_one(upscaler, job, sources, overwrite, skip_existing, max_pixels, video)
            )
            bar.update(1)
    finally:
        bar.close()
    return BatchResult(tuple(outcomes), time.perf_counter() - start)


def _run_one(
    upscaler: ImageUpscaler,
    job: Job,
    sources: dict[Path, Job],
    overwrite: bool,
    skip_existing: bool,
    max_pixels: int,
    video: Callable[[Job], object] | None = None,
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
    return upscale_job(upscaler, job, max_pixels=max_pixels)


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
    upscaler: ImageUpscaler, job: Job, *, max_pixels: int = DEFAULT_MAX_PIXELS
) -> Outcome:
    """Read, upscale and atomically write one job (no output rules: see :func:`check_job`).

    Returns:
        ``"done"``, or ``"failed"`` with the reason when the image is unreadable or unsupported.
    """
    try:
        image = load_image(job.source, max_pixels=max_pixels)
        result = upscaler.upscale(image.pixels)
        save_image(job.output, result, overwrite=True)
    except ImageError as exc:
        reason = one_line(exc)
        return Outcome(job, "failed", reason.removeprefix(f"{job.source}: "))
    return Outcome(job, "done")
