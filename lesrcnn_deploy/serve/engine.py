"""Thread-safe inference behind the HTTP service: shared models, bounded worker pool and queue.

* :class:`ModelPool`: one :class:`~lesrcnn_deploy.upscale.api.Upscaler` per ``(scale, precision)``
  on the configured runtime (``--runtime``; default: ``auto`` with OpenVINO installed), loaded and
  warmed up once, shared by every request; ``Upscaler.upscale`` keeps no per-call state on the
  object, so no lock is taken around inference.

  - ONNX Runtime: one session; ``InferenceSession.run`` is thread-safe, ``workers`` requests
    run at once, each on ``threads`` intra-op threads.
  - OpenVINO: the model is compiled with ``NUM_STREAMS`` inference streams (the ``threads``
    split between them) and every inference runs on an asynchronous infer request of its own
    (:mod:`~lesrcnn_deploy.runtime.ov_requests`), never N threads on one request; the tiles of
    one large request run as parallel infer requests. The worker pool holds ``2 * streams``
    workers at least, so one request's PNG decode and encode overlap other requests' inference.
* :class:`InferenceEngine`: ``threads`` workers and at most ``max_queue`` waiting jobs; one more
  is refused at once with :class:`~lesrcnn_deploy.core.errors.ServerBusyError` (never an unbounded
  backlog). A job that is cancelled before it starts frees its place at once; a running job is
  stopped at its next tile (see :func:`upscale_bytes`).
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from ..core.errors import ConfigError, LesrcnnError, ServerBusyError
from ..data import decode_image, encode_image
from ..upscale.api import Upscaler
from ..upscale.output import OutputOptions, upscale_pixels
from .config import ModelKey, ServeConfig

__all__ = [
    "InferenceEngine",
    "LoadedModel",
    "ModelPool",
    "RequestCancelled",
    "UpscaleResult",
    "runtime_fields",
    "upscale_bytes",
]

T = TypeVar("T")


class RequestCancelled(LesrcnnError):
    """The client went away; the job was stopped before its next tile."""


@dataclass(frozen=True)
class LoadedModel:
    """A loaded model: its upscaler (shared), file and SHA256."""

    key: ModelKey
    upscaler: Upscaler
    path: Path
    sha256: str


@dataclass(frozen=True)
class UpscaleResult:
    """One request's answer: encoded image, media type, model and timings (seconds)."""

    data: bytes
    media_type: str
    model: LoadedModel
    inference_seconds: float
    width: int
    height: int


def runtime_fields(model: LoadedModel) -> dict[str, Any]:
    """What ``/readyz`` says of a model's runtime: ``runtime`` (``ort``/``openvino``),
    ``runtime_requested`` (``auto``...), ``runtime_note`` (why), and OpenVINO's ``streams``."""
    choice = model.upscaler.runtime_choice
    fields: dict[str, Any] = {
        "runtime": choice.runtime,
        "runtime_requested": choice.requested,
        "runtime_note": choice.note,
    }
    streams = getattr(model.upscaler.runner, "streams", None)
    if choice.runtime == "openvino" and streams is not None:
        fields["streams"] = streams
    return fields


class ModelPool:
    """The models of a :class:`ServeConfig`, loaded on :meth:`load`.

    Args:
        config: which ``(scale, precision)`` pairs, model files, tile size and ORT threads.
    """

    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        self._models: dict[ModelKey, LoadedModel] = {}
        self.ready = threading.Event()

    def load(self) -> None:
        """Open every model and run one small warm-up image through it; then set :attr:`ready`.

        Raises:
            ModelError: a model is missing, unreadable or of another scale/precision.
        """
        for key in self.config.model_keys():
            up = Upscaler.from_settings(self.config.settings(key))
            up.upscale(np.zeros((16, 16, 3), dtype=np.uint8))  # warm-up: allocate, JIT kernels
            self._models[key] = LoadedModel(key, up, up.model.path, up.model.sha256)
        self.ready.set()

    def runtimes(self) -> list[str]:
        """The concrete runtimes of the loaded models (``ort``, ``openvino``), without repeats."""
        return list(dict.fromkeys(m.upscaler.runtime_choice.runtime for m in self._models.values()))

    def workers(self) -> int:
        """Worker threads for the loaded models: ``config.workers``, and on OpenVINO at least
        ``2 * streams`` (decode and encode of one request overlap the inference of others)."""
        if "openvino" in self.runtimes():
            return max(self.config.workers, 2 * self.config.ov_streams)
        return self.config.workers

    def loaded(self) -> list[ModelKey]:
        """Loaded ``(scale, precision)`` pairs."""
        return list(self._models)

    def get(self, scale: int, precision: str) -> LoadedModel | None:
        """The loaded model for ``(scale, precision)``, or None."""
        return self._models.get((scale, precision))


class _CancellableRunner:
    """Wraps a shared runner for one request: checks the request's cancel flag before each tile."""

    def __init__(self, runner: Any, cancel: threading.Event) -> None:
        self._runner = runner
        self._cancel = cancel
        self.scale: int = runner.scale
        self.kind: str = runner.kind

        if hasattr(runner, "run_many"):
            self.run_many = self._run_many

    def _check(self) -> None:
        if self._cancel.is_set():
            msg = "client disconnected"
            raise RequestCancelled(msg)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        self._check()
        return np.asarray(self._runner(x))

    def _run_many(
        self, items: Iterable[tuple[Any, np.ndarray]], sink: Callable[[Any, np.ndarray], None]
    ) -> None:
        def checked() -> Iterator[tuple[Any, np.ndarray]]:
            for item in items:
                self._check()
                yield item

        self._runner.run_many(checked(), sink)


_MEDIA_TYPES = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "webp": "image/webp"}


def upscale_bytes(
    model: LoadedModel,
    data: bytes,
    *,
    fmt: str = "png",
    max_pixels: int,
    cancel: threading.Event | None = None,
    options: OutputOptions | None = None,
    choices: Mapping[int, LoadedModel] | None = None,
) -> UpscaleResult:
    """Decode, upscale and encode one image in memory, as ``lesrcnn-deploy upscale`` does a file.

    Args:
        model: the shared model (never mutated: the request runs on a shallow copy of its
            upscaler whose runner checks ``cancel`` before each tile).
        data: encoded image bytes (PNG, JPEG, WebP, BMP or TIFF; gray, alpha, 16 bit, EXIF
            orientation handled as by :func:`~lesrcnn_deploy.data.load_image`).
        fmt: ``png``, ``jpg``/``jpeg`` or ``webp``.
        max_pixels: largest accepted input ``width * height``.
        cancel: set by another thread to stop the job at its next tile.
        options: output size (``outscale``/``fit``) and metadata; default: the model's scale,
            EXIF and XMP stripped (the ICC profile is kept), as the server does by default.
        choices: models by scale for ``outscale``/``fit``: the smallest that reaches the size
            runs (default: ``model`` only). ``UpscaleResult.model`` is the one that ran.

    Returns:
        The :class:`UpscaleResult`.

    Raises:
        ImageTooLargeError: too many pixels. UnsupportedFormatError: unsupported input or output
        format. ImageError: not an image, corrupt. RequestCancelled: ``cancel`` was set.
    """
    from ..core.errors import UnsupportedFormatError

    ext = fmt.lower()
    if ext not in _MEDIA_TYPES:
        msg = f"unsupported output format {fmt!r} (choose from png, jpg, webp)"
        raise UnsupportedFormatError(msg)
    image = decode_image(data, name="request body", max_pixels=max_pixels)
    opts = options or OutputOptions(strip_metadata=True)
    pool = dict(choices) if choices else {model.key[0]: model}
    used = pool[opts.plan((image.width, image.height), tuple(sorted(pool))).scale]
    view = copy.copy(used.upscaler)
    view.runner = _CancellableRunner(used.upscaler.runner, cancel or threading.Event())
    start = time.perf_counter()
    out = upscale_pixels(view, image.pixels, options=opts)
    seconds = time.perf_counter() - start
    encoded = encode_image(out, ext, name="response", meta=opts.meta(image.meta))
    return UpscaleResult(
        encoded, _MEDIA_TYPES[ext], used, seconds, int(out.shape[1]), int(out.shape[0])
    )


class InferenceEngine:
    """A bounded worker pool with a bounded queue and live counters.

    Args:
        threads: workers (jobs computed at the same time), >= 1.
        max_queue: jobs allowed to wait for a worker, >= 0.
    """

    def __init__(self, threads: int, max_queue: int) -> None:
        self.threads = threads
        self.max_queue = max_queue
        self._executor: ThreadPoolExecutor | None = None  # started by the first job
        self._lock = threading.Lock()
        self._admitted = 0
        self._running = 0
        self._closed = False

    @property
    def capacity(self) -> int:
        """Jobs admitted at most at once: ``threads + max_queue``."""
        return self.threads + self.max_queue

    @property
    def running(self) -> int:
        """Jobs being computed now."""
        with self._lock:
            return self._running

    @property
    def queued(self) -> int:
        """Jobs admitted and waiting for a worker."""
        with self._lock:
            return self._admitted - self._running

    @property
    def full(self) -> bool:
        """True when one more job would be refused."""
        with self._lock:
            return self._admitted >= self.capacity

    def submit(self, fn: Callable[[], T]) -> Future[T]:
        """Admit ``fn`` and run it on a worker; its place is freed when it ends or is cancelled.

        Raises:
            ServerBusyError: ``capacity`` jobs are already admitted, or the engine is closed.
        """
        with self._lock:
            if self._closed or self._admitted >= self.capacity:
                msg = f"server busy: {self._admitted} requests admitted (limit {self.capacity})"
                raise ServerBusyError(msg)
            self._admitted += 1
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self.threads, thread_name_prefix="lesrcnn")
            executor = self._executor

        def work() -> T:
            with self._lock:
                self._running += 1
            try:
                return fn()
            finally:
                with self._lock:
                    self._running -= 1

        future = executor.submit(work)
        future.add_done_callback(self._release)
        return future

    def _release(self, _: Future[Any]) -> None:
        with self._lock:
            self._admitted -= 1

    def close(self, *, wait: bool = True) -> None:
        """Refuse new jobs and stop the workers (after the admitted jobs when ``wait``)."""
        with self._lock:
            self._closed = True
            executor = self._executor
        if executor is not None:
            executor.shutdown(wait=wait)

    def resize(self, threads: int) -> None:
        """Set the number of workers (once the models are loaded: it depends on the runtime).

        Raises:
            ConfigError: ``threads`` < 1, or jobs already ran.
        """
        with self._lock:
            if threads < 1 or self._executor is not None:
                msg = f"cannot resize the worker pool to {threads} once it has started"
                raise ConfigError(msg)
            self.threads = threads
