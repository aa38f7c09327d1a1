"""Jobs for work longer than one request: an image or a video upscaled on a worker thread.

A job's input (the raw request body) and output live in one private temporary directory (mode
0700, created per server) and never outside it; file names are the server's random job ids, never
anything the client sent. Bounds: at most ``max_jobs`` jobs wait in the queue (one more is a 429),
and the files of all jobs together hold at most ``max_job_bytes`` (beyond: 503). Finished jobs
(``done``, ``failed``, ``cancelled``) expire ``job_ttl`` seconds after they end: the job is
forgotten and its files are deleted. :meth:`JobManager.close` (the server's shutdown, e.g. on
SIGTERM) cancels every job and deletes the whole directory; jobs do not survive a restart.

Image jobs count tiles (the upscaler's runner calls) and video jobs count frames; both check the
job's cancel flag before each tile or frame, so ``DELETE`` stops a running job within one unit.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ..core.errors import ImageTooLargeError, LesrcnnError, UnsupportedFormatError
from ..core.fileio import atomic_write_bytes
from ..data import decode_image
from ..upscale.tiling import tile_windows
from .engine import LoadedModel, RequestCancelled, upscale_bytes

__all__ = [
    "IMAGE_FORMATS",
    "JOB_STATES",
    "VIDEO_FORMATS",
    "Job",
    "JobCancelled",
    "JobLimitError",
    "JobManager",
    "sniff_kind",
]

JOB_STATES = ("queued", "running", "done", "failed", "cancelled")
"""Every state a job can be in; the last three are final."""

IMAGE_FORMATS = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
}
"""Output formats of image jobs and their media types."""

VIDEO_FORMATS = {"mp4": "video/mp4", "mkv": "video/x-matroska", "mov": "video/quicktime"}
"""Output containers of video jobs and their media types."""

_FINAL = frozenset({"done", "failed", "cancelled"})


class JobCancelled(LesrcnnError):
    """The job was cancelled (``DELETE``, or the server is shutting down)."""


class JobLimitError(LesrcnnError):
    """A job was refused by a bound; ``status`` is the HTTP status to answer (429 or 503)."""

    def __init__(self, text: str, status: int) -> None:
        super().__init__(text)
        self.status = status


def sniff_kind(head: bytes) -> str:
    """``"image"`` when ``head`` (the first bytes of a file) starts like an image, else ``"video"``.

    Images: PNG, JPEG, GIF, BMP, TIFF and WebP signatures; anything else is handed to FFmpeg.
    """
    if head.startswith((b"\x89PNG", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"BM")):
        return "image"
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return "image"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image"
    return "video"


@dataclass
class Job:
    """One job. Read its public view with :meth:`snapshot`; the manager mutates the rest."""

    id: str
    kind: str
    model: LoadedModel
    fmt: str
    input: Path
    input_bytes: int
    output: Path
    state: str = "queued"
    done: int = 0
    total: int = 0
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    error: str | None = None
    error_status: int | None = None
    output_bytes: int = 0
    inference_seconds: float = 0.0
    cancel: threading.Event = field(default_factory=threading.Event)
    future: Future[None] | None = None

    @property
    def unit(self) -> str:
        """What ``done``/``total`` count: ``tiles`` or ``frames``."""
        return "tiles" if self.kind == "image" else "frames"

    @property
    def media_type(self) -> str:
        """Media type of the result."""
        return {**IMAGE_FORMATS, **VIDEO_FORMATS}[self.fmt]

    @property
    def result_name(self) -> str:
        """File name offered for the result (``Content-Disposition``)."""
        return f"{self.id}_x{self.model.key[0]}.{self.fmt}"

    def eta_seconds(self, now: float) -> float | None:
        """Seconds left, from the pace so far; None when unknown or finished."""
        if self.state != "running" or self.started is None or self.done <= 0 or not self.total:
            return None
        pace = (now - self.started) / self.done
        return max(0.0, pace * (self.total - self.done))

    def snapshot(self, ttl: float) -> dict[str, Any]:
        """The job as ``GET /v1/jobs/{id}`` shows it."""
        now = time.time()
        eta = self.eta_seconds(now)
        view: dict[str, Any] = {
            "id": self.id,
            "kind": self.kind,
            "state": self.state,
            "scale": self.model.key[0],
            "precision": self.model.key[1],
            "format": self.fmt,
            "progress": {
                "done": self.done,
                "total": self.total,
                "unit": self.unit,
                "fraction": round(self.done / self.total, 4) if self.total else None,
            },
            "eta_seconds": None if eta is None else round(eta, 2),
            "created": self.created,
            "started": self.started,
            "finished": self.finished,
            "expires": None if self.finished is None else self.finished + ttl,
            "error": self.error,
        }
        if self.state == "done":
            view["result"] = f"/v1/jobs/{self.id}/result"
            view["result_bytes"] = self.output_bytes
            view["inference_seconds"] = round(self.inference_seconds, 4)
        return view


class _ProgressRunner:
    """Wraps a shared runner for one image job: cancel check before, progress after each tile."""

    def __init__(self, runner: Any, job: Job) -> None:
        self._runner = runner
        self._job = job
        self.scale: int = runner.scale
        self.kind: str = runner.kind

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if self._job.cancel.is_set():
            raise JobCancelled("cancelled")
        y = np.asarray(self._runner(x))
        self._job.done += 1
        return y


class _ProgressFrames:
    """What the video API needs (``scale``, ``upscale``), counting frames and checking cancel."""

    def __init__(self, model: LoadedModel, job: Job) -> None:
        self._upscaler = model.upscaler
        self._job = job
        self.scale: int = model.upscaler.scale

    def upscale(self, img: npt.NDArray[Any]) -> npt.NDArray[Any]:
        if self._job.cancel.is_set():
            raise JobCancelled("cancelled")
        t = time.perf_counter()
        out = self._upscaler.upscale(img)
        self._job.inference_seconds += time.perf_counter() - t
        self._job.done += 1
        return out


def _tile_count(h: int, w: int, tile: int, overlap: int) -> int:
    if tile == 0:
        return 1
    return len(tile_windows(h, tile, overlap=overlap)) * len(tile_windows(w, tile, overlap=overlap))


class JobManager:
    """Admits, runs, cancels and expires jobs (see the module doc).

    Args:
        max_jobs: jobs allowed to wait in the queue (>= 0); one more -> :class:`JobLimitError` 429.
        max_bytes: bytes the files of all jobs may hold; beyond -> :class:`JobLimitError` 503.
        ttl: seconds a finished job and its files are kept.
        max_pixels: largest image input ``width * height`` (as ``/v1/upscale``).
        workers: jobs computed at the same time.
        parent: where the private directory is created (default: the system temp dir).
    """

    def __init__(
        self,
        *,
        max_jobs: int,
        max_bytes: int,
        ttl: float,
        max_pixels: int,
        workers: int = 1,
        parent: str | os.PathLike[str] | None = None,
    ) -> None:
        self.max_jobs = max_jobs
        self.max_bytes = max_bytes
        self.ttl = ttl
        self.max_pixels = max_pixels
        self.root = Path(tempfile.mkdtemp(prefix="lesrcnn-jobs-", dir=parent))  # mode 0700
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lesrcnn-job")
        self._closed = threading.Event()
        self._reaper = threading.Thread(target=self._reap, name="lesrcnn-job-reaper", daemon=True)
        self._reaper.start()

    # -- admission -------------------------------------------------------------------------
    def new_upload(self) -> tuple[str, Path]:
        """A fresh job id and the path its upload goes to (inside :attr:`root`)."""
        job_id = secrets.token_hex(16)
        return job_id, self.root / f"{job_id}.in"

    def check_room(self, incoming: int = 0) -> None:
        """Raise :class:`JobLimitError` if one more job of ``incoming`` bytes would not fit."""
        with self._lock:
            self._check_room_locked(incoming)

    def _check_room_locked(self, incoming: int) -> None:
        if self._closed.is_set():
            raise JobLimitError("server shutting down", 503)
        queued = sum(1 for j in self._jobs.values() if j.state == "queued")
        if queued >= self.max_jobs:
            msg = f"too many queued jobs ({queued}, limit {self.max_jobs}); retry later"
            raise JobLimitError(msg, 429)
        held = self._held_locked()
        if held + incoming > self.max_bytes:
            msg = f"job storage full ({held} + {incoming} bytes > {self.max_bytes}); retry later"
            raise JobLimitError(msg, 503)

    def _held_locked(self) -> int:
        return sum(j.input_bytes + j.output_bytes for j in self._jobs.values())

    def submit(self, job_id: str, upload: Path, *, model: LoadedModel, fmt: str | None) -> Job:
        """Queue the uploaded file ``upload`` as job ``job_id`` on ``model``.

        Args:
            job_id: from :meth:`new_upload`.
            upload: the complete upload (deleted here when the job is refused).
            model: the loaded model to run.
            fmt: output format; None = ``png`` for an image, ``mp4`` for a video.

        Raises:
            JobLimitError: queue or storage full (the upload is deleted).
            UnsupportedFormatError: ``fmt`` is not an output format of the upload's kind.
        """
        with upload.open("rb") as f:
            kind = sniff_kind(f.read(16))
        formats = IMAGE_FORMATS if kind == "image" else VIDEO_FORMATS
        fmt = (fmt or ("png" if kind == "image" else "mp4")).lower()
        if fmt not in formats:
            upload.unlink(missing_ok=True)
            msg = f"unsupported output format {fmt!r} for {kind} jobs ({', '.join(formats)})"
            raise UnsupportedFormatError(msg)
        size = upload.stat().st_size
        output = self.root / f"{job_id}.out.{fmt}"
        job = Job(job_id, kind, model, fmt, upload, size, output)
        with self._lock:
            try:
                self._check_room_locked(0)
            except JobLimitError:
                upload.unlink(missing_ok=True)
                raise
            if self._held_locked() + size > self.max_bytes:
                upload.unlink(missing_ok=True)
                msg = f"job storage full (limit {self.max_bytes} bytes); retry later"
                raise JobLimitError(msg, 503)
            self._jobs[job_id] = job
            job.future = self._executor.submit(self._run, job)
        return job

    # -- queries ---------------------------------------------------------------------------
    def get(self, job_id: str) -> Job | None:
        """The job, or None when unknown or expired."""
        self.expire()
        with self._lock:
            return self._jobs.get(job_id)

    def counts(self) -> dict[str, int]:
        """Number of jobs in each state (every state present)."""
        with self._lock:
            counts = dict.fromkeys(JOB_STATES, 0)
            for job in self._jobs.values():
                counts[job.state] += 1
            return counts

    def held_bytes(self) -> int:
        """Bytes held by the files of all jobs (inputs and outputs)."""
        with self._lock:
            return self._held_locked()

    # -- cancel, expire, close -------------------------------------------------------------
    def cancel(self, job_id: str) -> Job | None:
        """Cancel a queued or running job (a running one stops at its next tile or frame).

        A finished job is deleted with its files. Returns the job, or None if unknown.
        """
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                return None
            if job.state in _FINAL:
                del self._jobs[job_id]
                self._delete_files(job)
                return job
            job.cancel.set()
            if job.state == "queued" and job.future is not None and job.future.cancel():
                self._finish_locked(job, "cancelled", "cancelled before it started")
        return job

    def expire(self) -> int:
        """Forget finished jobs older than ``ttl`` and delete their files; returns how many."""
        now = time.time()
        with self._lock:
            old = [
                j
                for j in self._jobs.values()
                if j.finished is not None and now - j.finished >= self.ttl
            ]
            for job in old:
                del self._jobs[job.id]
                self._delete_files(job)
        return len(old)

    def _reap(self) -> None:
        while not self._closed.wait(min(5.0, max(0.2, self.ttl / 4))):
            self.expire()

    def close(self) -> None:
        """Cancel every job, wait for the running ones to stop, delete the directory."""
        with self._lock:
            self._closed.set()
            for job in self._jobs.values():
                job.cancel.set()
                if job.state == "queued" and job.future is not None and job.future.cancel():
                    self._finish_locked(job, "cancelled", "server shutting down")
        self._executor.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            self._jobs.clear()
        shutil.rmtree(self.root, ignore_errors=True)

    # -- work --------------------------------------------------------------------------------
    def _finish_locked(self, job: Job, state: str, error: str | None = None) -> None:
        job.state = state
        job.error = error
        job.finished = time.time()
        if state != "done":
            job.input.unlink(missing_ok=True)
            job.output.unlink(missing_ok=True)
            job.input_bytes = job.output_bytes = 0

    def _delete_files(self, job: Job) -> None:
        job.input.unlink(missing_ok=True)
        job.output.unlink(missing_ok=True)

    def _run(self, job: Job) -> None:
        with self._lock:
            if job.cancel.is_set():
                self._finish_locked(job, "cancelled", "cancelled before it started")
                return
            job.state = "running"
            job.started = time.time()
        try:
            if job.kind == "image":
                self._run_image(job)
            else:
                self._run_video(job)
        except JobCancelled:
            with self._lock:
                self._finish_locked(job, "cancelled", "cancelled")
            return
        except ImageTooLargeError as err:
            self._fail(job, err, 413)
            return
        except UnsupportedFormatError as err:
            self._fail(job, err, 415)
            return
        except LesrcnnError as err:
            self._fail(job, err, 400)
            return
        except Exception as err:  # a job must end in a state, never vanish
            self._fail(job, err, 500)
            return
        with self._lock:
            job.input.unlink(missing_ok=True)
            job.output_bytes = job.output.stat().st_size
            job.input_bytes = 0
            if job.cancel.is_set():
                self._finish_locked(job, "cancelled", "cancelled")
            else:
                self._finish_locked(job, "done")

    def _fail(self, job: Job, err: BaseException, status: int) -> None:
        text = str(err).replace(str(job.input), "upload") or type(err).__name__
        with self._lock:
            job.error_status = status
            self._finish_locked(job, "failed", text)

    def _run_image(self, job: Job) -> None:
        # The same decode/upscale/encode as POST /v1/upscale (metadata handling included), on a
        # copy of the model whose runner counts the tiles.
        data = job.input.read_bytes()
        image = decode_image(data, name="upload", max_pixels=self.max_pixels)
        up = job.model.upscaler
        h, w = image.pixels.shape[:2]
        del image
        job.total = _tile_count(h, w, up.tile, up.tile_overlap)
        view = copy.copy(up)
        view.runner = _ProgressRunner(up.runner, job)
        counted = dataclasses.replace(job.model, upscaler=view)
        try:
            result = upscale_bytes(
                counted, data, fmt=job.fmt, max_pixels=self.max_pixels, cancel=job.cancel
            )
        except RequestCancelled:
            raise JobCancelled("cancelled") from None
        job.inference_seconds = result.inference_seconds
        atomic_write_bytes(job.output, result.data)

    def _run_video(self, job: Job) -> None:
        from ..video import probe_video, upscale_video

        info = probe_video(job.input)
        total = info.frames
        if not total and info.duration and info.frame_rate:
            total = round(info.duration * float(info.frame_rate))
        job.total = total
        upscale_video(
            job.input,
            job.output,
            upscaler=_ProgressFrames(job.model, job),
            progress=False,
            overwrite=True,
        )
        job.total = max(job.total, job.done)


def job_counts_function(manager: JobManager | None) -> Callable[[], dict[str, int]]:
    """A callable giving the jobs by state (all zero without a manager), for the metrics."""
    if manager is None:
        return lambda: dict.fromkeys(JOB_STATES, 0)
    return manager.counts
