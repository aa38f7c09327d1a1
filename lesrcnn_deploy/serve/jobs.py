"""Jobs for work longer than one request: an image or a video upscaled on a worker thread.

A job's input (the raw request body) and output live in one private folder owned by this server
(:mod:`.jobdir`: mode 0700, locked while the server lives, removed by the next server when it
died) and never outside it; file names are the server's random job ids, never anything the client
sent. Bounds: at most ``max_jobs`` jobs wait in the queue (one more is a 429), and the files of all
jobs together hold at most ``max_job_bytes``: uploads reserve their bytes as they arrive
(:meth:`JobManager.upload`), so parallel uploads never pass the cap on disk, and the chunk that
would pass it ends its upload at once (503). Finished jobs (``done``, ``failed``, ``cancelled``)
expire ``job_ttl`` seconds after they end: the job is forgotten and its files are deleted.
:meth:`JobManager.close` (the server's shutdown, e.g. on SIGTERM) cancels every job and deletes
the whole folder; jobs do not survive a restart.

Image jobs count tiles and video jobs count frames; both check the job's cancel flag before every
tile (:mod:`.job_work`), so ``DELETE`` stops a running job within one tile's work.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from ..core.errors import (
    LesrcnnError,
    UnsupportedFormatError,
)
from ..upscale.output import OutputOptions
from .engine import LoadedModel
from .job_work import JobCancelled, check_upload, run_image, run_video
from .jobdir import JobDir

__all__ = [
    "IMAGE_FORMATS",
    "JOB_STATES",
    "VIDEO_FORMATS",
    "Job",
    "JobCancelled",
    "JobLimitError",
    "JobManager",
    "Upload",
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
    options: OutputOptions = field(default_factory=lambda: OutputOptions(strip_metadata=True))
    choices: Mapping[int, LoadedModel] | None = None

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
        return f"{self.id}_{self.options.suffix(self.model.key[0])}.{self.fmt}"

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


class Upload:
    """One upload streamed into the job folder; its bytes are reserved as they arrive.

    Use it as a context manager: leaving it without :meth:`JobManager.submit` having taken it
    (an error, a disconnect, the handler cancelled at shutdown) deletes the file and frees the
    reservation.
    """

    def __init__(self, manager: JobManager, job_id: str) -> None:
        self.manager = manager
        self.id = job_id
        self.path = manager.root / f"{job_id}.in"
        self.size = 0
        self.head = b""  # the first bytes, to tell an image from a video
        self.taken = False
        self._file = self.path.open("xb")

    def write(self, chunk: bytes) -> None:
        """Reserve ``len(chunk)`` bytes, then write them.

        Raises:
            JobLimitError: the reservation would pass ``max_job_bytes`` (503), or the server is
                shutting down.
        """
        self.manager.reserve(len(chunk))
        self.size += len(chunk)
        if len(self.head) < 16:
            self.head += chunk[: 16 - len(self.head)]
        self._file.write(chunk)

    @property
    def kind(self) -> str:
        """``"image"`` or ``"video"``, from the first bytes (:func:`sniff_kind`)."""
        return sniff_kind(self.head)

    def flush(self) -> None:
        """Close the file: every byte is on disk."""
        self._file.close()

    def __enter__(self) -> Upload:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._file.close()
        if not self.taken:
            self.path.unlink(missing_ok=True)
            self.manager.release(self.size)


class JobManager:
    """Admits, runs, cancels and expires jobs (see the module doc).

    Args:
        max_jobs: jobs allowed to wait in the queue (>= 0); one more -> :class:`JobLimitError` 429.
        max_bytes: bytes the files of all jobs may hold; beyond -> :class:`JobLimitError` 503.
        ttl: seconds a finished job and its files are kept.
        max_pixels: largest image input ``width * height`` and video frame (as ``/v1/upscale``).
        workers: jobs computed at the same time.
        parent: where the private folder is created (default: the system temp dir); folders
            there whose server is gone are removed first (:attr:`reclaimed`).
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
        self._dir = JobDir(parent)
        self.root = self._dir.root
        self.reclaimed = self._dir.reclaimed
        self._jobs: dict[str, Job] = {}
        self._reserved = 0  # bytes of uploads in flight
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lesrcnn-job")
        self._closed = threading.Event()
        self._reaper = threading.Thread(target=self._reap, name="lesrcnn-job-reaper", daemon=True)
        self._reaper.start()

    # -- admission -------------------------------------------------------------------------
    def upload(self) -> Upload:
        """A new :class:`Upload` under a fresh random job id (a file inside :attr:`root`)."""
        return Upload(self, secrets.token_hex(16))

    def reserve(self, size: int) -> None:
        """Reserve ``size`` bytes of job storage for an upload in flight.

        Raises:
            JobLimitError: 503 when the files and reservations would pass ``max_bytes``, or the
                server is shutting down.
        """
        with self._lock:
            if self._closed.is_set():
                raise JobLimitError("server shutting down", 503)
            held = self._held_locked() + self._reserved
            if held + size > self.max_bytes:
                msg = f"job storage full ({held} + {size} bytes > {self.max_bytes}); retry later"
                raise JobLimitError(msg, 503)
            self._reserved += size

    def release(self, size: int) -> None:
        """Give back ``size`` reserved bytes (an upload that ended without a job)."""
        with self._lock:
            self._reserved = max(0, self._reserved - size)

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
        held = self._held_locked() + self._reserved
        if held + incoming > self.max_bytes:
            msg = f"job storage full ({held} + {incoming} bytes > {self.max_bytes}); retry later"
            raise JobLimitError(msg, 503)

    def _held_locked(self) -> int:
        return sum(j.input_bytes + j.output_bytes for j in self._jobs.values())

    def submit(
        self,
        upload: Upload,
        *,
        model: LoadedModel,
        fmt: str | None,
        options: OutputOptions | None = None,
        choices: Mapping[int, LoadedModel] | None = None,
    ) -> Job:
        """Queue the complete ``upload`` as a job on ``model``.

        Args:
            upload: from :meth:`upload`, every byte written (its file becomes the job's input).
            model: the loaded model to run (the scale asked for, or the default one).
            fmt: output format; None = ``png`` for an image, ``mp4`` for a video.
            options: ``outscale``/``fit``/``strip_metadata`` and the output pixel limit, as for
                ``/v1/upscale`` (default: the model's scale, metadata stripped).
            choices: the loaded models by scale; ``outscale``/``fit`` without a scale run the
                smallest that reaches the size (as ``/v1/upscale``).

        Raises:
            JobLimitError: queue full (429) or server shutting down (503).
            UnsupportedFormatError: ``fmt`` is not an output format of the upload's kind.
            ImageError: an image upload whose header is unreadable (400, 415), or too large
                (ImageTooLargeError, 413: input or output pixels).
            VideoError: a video upload whose stream header is not a video's (400; a still such
                as SVG: UnsupportedFormatError, 415) or whose frames are too large
                (VideoTooLargeError, 413), read from the header before the job is queued.
        """
        opts = options or OutputOptions(strip_metadata=True)
        kind = upload.kind
        upload.flush()
        formats = IMAGE_FORMATS if kind == "image" else VIDEO_FORMATS
        fmt = (fmt or ("png" if kind == "image" else "mp4")).lower()
        if fmt not in formats:
            msg = f"unsupported output format {fmt!r} for {kind} jobs ({', '.join(formats)})"
            raise UnsupportedFormatError(msg)
        scales = tuple(sorted(choices or {model.key[0]: model}))
        frames = check_upload(upload.path, kind, scales=scales, options=opts, limit=self.max_pixels)
        output = self.root / f"{upload.id}.out.{fmt}"
        job = Job(upload.id, kind, model, fmt, upload.path, upload.size, output)
        job.total = frames  # a video's frame count from its POST on (images: tiles, counted later)
        job.options, job.choices = opts, choices
        with self._lock:
            self._check_room_locked(-upload.size)  # its bytes are reserved already
            self._reserved = max(0, self._reserved - upload.size)  # now held by the job
            upload.taken = True
            self._jobs[upload.id] = job
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
        """Bytes held by the files of all jobs (inputs and outputs) and by uploads in flight."""
        with self._lock:
            return self._held_locked() + self._reserved

    # -- cancel, expire, close -------------------------------------------------------------
    def cancel(self, job_id: str) -> Job | None:
        """Cancel a queued or running job (a running one stops before its next tile).

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
        """Cancel every job, wait for the running ones to stop (one tile at most), delete the
        folder."""
        with self._lock:
            self._closed.set()
            for job in self._jobs.values():
                job.cancel.set()
                if job.state == "queued" and job.future is not None and job.future.cancel():
                    self._finish_locked(job, "cancelled", "server shutting down")
        self._executor.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            self._jobs.clear()
        self._dir.close()

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
                run_image(job, max_pixels=self.max_pixels)
            else:
                run_video(job, max_pixels=self.max_pixels)
        except JobCancelled:
            with self._lock:
                self._finish_locked(job, "cancelled", "cancelled")
            return
        except LesrcnnError as err:  # 400, 413, 415...: each class's http_status
            self._fail(job, err, err.http_status)
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


def job_counts_function(manager: JobManager | None) -> Callable[[], dict[str, int]]:
    """A callable giving the jobs by state (all zero without a manager), for the metrics."""
    if manager is None:
        return lambda: dict.fromkeys(JOB_STATES, 0)
    return manager.counts
