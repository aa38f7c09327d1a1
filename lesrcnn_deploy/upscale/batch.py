"""Upscale many files: run planned jobs (:mod:`.plan`) one after another with a progress bar.

Rules, per job: an output that is another job's input is refused; an output that is its own input
needs ``overwrite``; an existing output is skipped (counted, never a failure), or replaced with
``overwrite``. Files are written atomically (temporary file, then rename), so an interrupted run
(Ctrl-C) leaves complete outputs only, and running it again finishes it. Unreadable or
unsupported images fail that job with the reason and the run goes on; anything else (model
errors, Ctrl-C) stops the run. Video jobs are run by the ``video`` callable given to
:func:`run_batch` (see :mod:`lesrcnn_deploy.video`).
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..core.errors import ConfigError, ImageError, VideoError, one_line
from ..data import DEFAULT_MAX_PIXELS, image_size, load_image, save_image
from ..data.animation import ANIMATION_FORMATS, is_animated, probe_animation
from .output import ImageUpscaler, OutputOptions, ScaleSet, upscale_animation, upscale_pixels
from .plan import Job, check_plan

__all__ = [
    "BatchResult",
    "Outcome",
    "check_job",
    "run_batch",
    "upscale_job",
]


@dataclass(frozen=True)
class Outcome:
    """What happened to one job: ``status`` is ``"done"``, ``"skipped"`` or ``"failed"``."""

    job: Job
    status: Literal["done", "skipped", "failed"]
    reason: str = ""
    seconds: float = 0.0
    input_size: tuple[int, int] | None = None
    output_size: tuple[int, int] | None = None
    runtime: str = ""
    """What ran it: ``"openvino int8 x4"`` (empty when nothing ran)."""

    def to_dict(self) -> dict[str, object]:
        """The ``--json`` record: input, output, status, reason, runtime, milliseconds, sizes
        (``[width, height]``, null when unknown) and the output's bytes."""
        done = self.status == "done" and self.job.output.is_file()
        return {
            "input": str(self.job.source),
            "output": str(self.job.output),
            "status": self.status,
            "reason": self.reason,
            "runtime": self.runtime,
            "milliseconds": round(self.seconds * 1000.0, 1),
            "input_size": list(self.input_size) if self.input_size else None,
            "output_size": list(self.output_size) if self.output_size else None,
            "output_bytes": self.job.output.stat().st_size if done else None,
            "note": self.job.note,
        }


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
        """Jobs not run: their output exists (and no ``overwrite``)."""
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
        """Multi-line text: counts (skipped ones say why), then one line per failed job."""
        skipped = f"skipped {len(self.skipped)}"
        if self.skipped:
            skipped += " (outputs exist; --overwrite redoes them)"
        counts = f"done {len(self.done)}, {skipped}, failed {len(self.failed)}"
        lines = [f"{counts} ({self.seconds:.1f} s)"]
        for o in self.failed:
            lines.append(f"  failed: {o.job.source}: {o.reason}")
        return "\n".join(lines)


def run_batch(
    upscaler: ImageUpscaler | ScaleSet,
    jobs: Sequence[Job],
    *,
    overwrite: bool = False,
    progress: bool = True,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    video: Callable[[Job], object] | None = None,
    options: OutputOptions | None = None,
    report: Callable[[Outcome], object] | None = None,
) -> BatchResult:
    """Run ``jobs`` one after another with a tqdm progress bar on stderr.

    Args:
        upscaler: e.g. an :class:`~lesrcnn_deploy.upscale.api.Upscaler`, or a
            :class:`~lesrcnn_deploy.upscale.output.ScaleSet` (several scales, for ``fit``).
        jobs: from :func:`plan_jobs`.
        overwrite: replace existing outputs, including an output that is its own input; without
            it, an existing output is skipped (a run done again finishes what is missing).
        progress: show the progress bar.
        max_pixels: larger inputs (header size) are refused, see
            :func:`~lesrcnn_deploy.data.load_image`.
        video: runs a ``kind="video"`` job (writes ``job.output`` atomically, raises
            ``VideoError`` for bad input); ``None`` fails video jobs.
        options: output size, metadata and encoding (default: the network scale, metadata kept).
        report: called with each job's :class:`Outcome` as soon as it is known (``--json -``).

    Returns:
        The :class:`BatchResult`; a failed job does not stop the run.

    Raises:
        ConfigError: a plan :func:`check_plan` refuses (before any work).
        KeyboardInterrupt: propagated after the current file; no partial file is left.
        LesrcnnError: model or runtime errors stop the run.
    """
    from tqdm import tqdm

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
            outcome = check_job(job, sources, overwrite=overwrite)
            if outcome is None:
                t0 = time.perf_counter()
                outcome = _run_one(upscaler, job, max_pixels, video, options)
                outcome = dataclasses.replace(outcome, seconds=time.perf_counter() - t0)
            outcomes.append(outcome)
            if report is not None:
                report(outcome)
            bar.update(1)
    finally:
        bar.close()
    return BatchResult(tuple(outcomes), time.perf_counter() - start)


def _run_one(
    upscaler: ImageUpscaler | ScaleSet,
    job: Job,
    max_pixels: int,
    video: Callable[[Job], object] | None = None,
    options: OutputOptions | None = None,
) -> Outcome:
    if job.kind == "video":
        if video is None:
            return Outcome(job, "failed", "video job but no video runner given")
        try:
            video(job)
        except (VideoError, ImageError) as exc:  # not a video (an SVG...), damaged, too large
            return Outcome(job, "failed", one_line(exc).removeprefix(f"{job.source}: "))
        return Outcome(job, "done")
    return upscale_job(upscaler, job, max_pixels=max_pixels, options=options)


def check_job(job: Job, sources: dict[Path, Job], *, overwrite: bool = False) -> Outcome | None:
    """The output rules of :func:`run_batch` for one job, before any work.

    Args:
        job: the job to check.
        sources: every job of the run by its resolved source path.
        overwrite: as in :func:`run_batch`.

    Returns:
        A ``"skipped"`` (the output exists) or ``"failed"`` (the output is an input) outcome
        when the job must not run, else None.
    """
    target = job.output.resolve()
    owner = sources.get(target)
    if owner is not None and owner is not job:
        return Outcome(job, "failed", f"output {job.output} is another input ({owner.source})")
    if owner is job and not overwrite:
        reason = "output is the input itself (give -o/--output or a --suffix, or --overwrite)"
        return Outcome(job, "failed", reason)
    if job.output.exists() and not overwrite:
        return Outcome(job, "skipped", f"output exists: {job.output} (--overwrite redoes it)")
    return None


def _runtime_of(upscaler: ImageUpscaler) -> str:
    """``"openvino int8 x4"`` for an :class:`~.api.Upscaler` (its class name otherwise)."""
    choice = getattr(upscaler, "runtime_choice", None)
    precision = getattr(upscaler, "precision", None)
    if choice is None or precision is None:
        return type(upscaler).__name__
    return f"{choice.runtime} {precision} x{upscaler.scale}"


def upscale_job(
    upscaler: ImageUpscaler | ScaleSet,
    job: Job,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    options: OutputOptions | None = None,
) -> Outcome:
    """Read, upscale and atomically write one job (no output rules: see :func:`check_job`).

    An animated GIF/WebP/APNG has every frame upscaled into an animation of the output's kind.
    ``quality``/``lossless`` apply to the outputs whose format takes them.

    Returns:
        ``"done"`` with the sizes and what ran, or ``"failed"`` with the reason when the image
        is unreadable or unsupported.
    """
    opts = (options or OutputOptions()).for_format(job.output.suffix)
    ups = upscaler if isinstance(upscaler, ScaleSet) else ScaleSet.fixed(upscaler)
    size: tuple[int, int] | None = None
    try:
        if is_animated(job.source):
            if job.output.suffix.lower() not in ANIMATION_FORMATS:
                fmt = job.output.suffix.lower().lstrip(".")
                msg = f"{job.source}: animated input, but {fmt} holds no animation (gif/webp/png)"
                raise ImageError(msg)
            size = probe_animation(job.source)[1]
            plan = opts.plan(size, ups.scales, name=str(job.source))  # before decoding
            ran = _runtime_of(ups.get(plan.scale))
            upscale_animation(
                ups, job.source, output=job.output, options=opts, max_pixels=max_pixels
            )
            return Outcome(job, "done", input_size=size, output_size=plan.size, runtime=ran)
        size = image_size(job.source)
        plan = opts.plan(size, ups.scales, name=str(job.source))  # before decoding
        ran = _runtime_of(ups.get(plan.scale))
        image = load_image(job.source, max_pixels=max_pixels)
        result = upscale_pixels(ups, image.pixels, options=opts)
        save_image(
            job.output,
            result,
            meta=opts.meta(image.meta),
            quality=opts.quality,
            lossless=opts.lossless,
        )
    except (ImageError, ConfigError) as exc:
        reason = one_line(exc).removeprefix(f"{job.source}: ")
        return Outcome(job, "failed", reason, input_size=size)
    out_size = (int(result.shape[1]), int(result.shape[0]))
    return Outcome(job, "done", input_size=size, output_size=out_size, runtime=ran)
