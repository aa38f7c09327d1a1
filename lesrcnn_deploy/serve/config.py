"""The frozen configuration of the HTTP service, and the models of ``serve --model PATH``."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from ..core.errors import ConfigError
from ..core.vocab import (
    DEFAULT_STREAMS,
    SCALES,
    check_model_precision,
    check_runtime,
    check_scale,
)
from ..data.outsize import DEFAULT_MAX_OUTPUT_PIXELS, parse_fit
from ..models import InferenceSettings, open_model
from ..upscale.output import OutputOptions

__all__ = ["ModelKey", "ServeConfig", "models_by_key", "output_options"]

ModelKey = tuple[int, str]
"""``(scale, precision)``, e.g. ``(2, "int8")``."""


def models_by_key(paths: Iterable[str | os.PathLike[str]]) -> dict[ModelKey, Path]:
    """The ``.onnx`` files of ``serve --model PATH`` by ``(scale, precision)``, both read from
    each file's own metadata (:func:`~lesrcnn_deploy.models.open_model`).

    Raises:
        ModelError: a file is missing or not a lesrcnn-deploy model.
        ConfigError: two files are models of the same scale and precision.
    """
    out: dict[ModelKey, Path] = {}
    for path in paths:
        record = open_model(path)
        key = (record.scale, record.precision)
        if key in out:
            msg = (
                f"{out[key]} and {record.path} are both x{key[0]} {key[1]} models: "
                "give one --model per scale and precision"
            )
            raise ConfigError(msg)
        out[key] = record.path
    return out


def output_options(
    query: Mapping[str, str], *, max_output_pixels: int = DEFAULT_MAX_OUTPUT_PIXELS
) -> OutputOptions:
    """The output options of an upscale request's query: ``outscale``, ``fit``, ``strip_metadata``
    (the same for ``/v1/upscale`` and ``/v1/jobs``), with the server's output pixel limit.

    ``strip_metadata`` defaults to true (a service should not echo GPS positions); ``false``/``0``
    keeps EXIF and XMP. The ICC profile is always kept.

    Raises:
        ConfigError: a malformed value (400).
    """
    outscale_text = query.get("outscale")
    try:
        outscale = float(outscale_text) if outscale_text is not None else None
    except ValueError:
        msg = f"outscale must be a number, got {outscale_text!r}"
        raise ConfigError(msg) from None
    strip = query.get("strip_metadata", "true").lower()
    if strip not in ("true", "false", "1", "0"):
        msg = f"strip_metadata must be true or false, got {strip!r}"
        raise ConfigError(msg)
    fit = query.get("fit")
    return OutputOptions(
        outscale=outscale,
        fit=parse_fit(fit) if fit is not None else None,
        strip_metadata=strip in ("true", "1"),
        max_output_pixels=max_output_pixels,
    )


def _positive(name: str, value: int, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        msg = f"{name} must be an integer >= {minimum}, got {value!r}"
        raise ConfigError(msg)


def _seconds(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        msg = f"{name} must be a number of seconds > 0, got {value!r}"
        raise ConfigError(msg)


@dataclass(frozen=True)
class ServeConfig:
    """Options of ``lesrcnn-deploy serve`` (CLI flags map one to one).

    Attributes:
        scales: scales to load; ``None`` means the scales of ``models`` when given, else 2, 3, 4.
        precisions: precisions to load, the first is the default of a request; ``None`` means
            those of ``models`` when given, else ``("int8",)``.
        models: explicit ``.onnx`` files by ``(scale, precision)`` (:func:`models_by_key`), all
            served; the other pairs of ``scales`` x ``precisions`` use the default model paths
            (:func:`~lesrcnn_deploy.models.find`).
        host: listen address (loopback unless told otherwise).
        port: TCP port (0 = any free port).
        workers: inference workers (requests computed at the same time); on OpenVINO at least
            ``2 * streams``, so that decoding and encoding overlap the streams' inference.
        threads: ONNX Runtime intra-op threads per inference (``None`` = ORT default); on
            OpenVINO the threads of all its streams together (``None`` = all cores).
        runtime: ``ort``, ``openvino`` or ``auto`` (the faster one here, measured once and
            cached); ``None``: the default runtime (``auto`` with OpenVINO installed, else ``ort``).
        streams: OpenVINO inference streams (requests, or tiles of one request, run at once);
            ``None``: :data:`DEFAULT_STREAMS` capped by ``threads``. Ignored on ONNX Runtime.
        max_queue: requests allowed to wait for a worker; beyond it: 503 + ``Retry-After``.
        max_pixels: largest accepted input ``width * height`` (a video's frames too, read from
            the header before decoding); beyond it: 413.
        max_output_pixels: largest ``width * height`` of the network's output and of the final
            image or video frame, checked from the header before any work; beyond it: 413.
        max_body_bytes: largest accepted request body; beyond it: 413, without reading it whole.
        token_file: file whose stripped content is the bearer token; ``None`` = no auth.
        tile: tile size in LR pixels (as ``upscale --tile``), 0 = whole image, None = the
            scale's default (:data:`~lesrcnn_deploy.core.vocab.DEFAULT_TILES`).
        retry_after: seconds sent in ``Retry-After`` with a 503.
        max_jobs: jobs (``POST /v1/jobs``) allowed to wait in the queue; beyond it: 429.
        max_job_bytes: bytes the files of all jobs may hold (uploads and results); beyond: 503.
            Also the largest job upload (413).
        job_ttl: seconds a finished job's result is kept; then it and its files are deleted.
        jobs_dir: where the private job folder is created (``None`` = the system temp dir);
            folders there left by servers that are gone are removed at start-up.
        header_timeout: seconds a connection may take to send complete request headers (from its
            opening or its previous response); then 408 and the connection is closed.
        body_timeout: seconds a request body may go without a byte; then 408.
        body_min_rate: bytes/s a request body must average after its first ``body_timeout``
            seconds; slower: 408 (a body of n bytes may take ``body_timeout + n / rate`` s).
        limit_concurrency: connections and requests at once; one more request gets 503.
        shutdown_timeout: seconds SIGTERM waits for requests and uploads in flight; then they are
            cut (upload files deleted), jobs are cancelled and the server exits.
    """

    scales: tuple[int, ...] | None = None
    precisions: tuple[str, ...] | None = None
    models: Mapping[ModelKey, Path] = field(default_factory=dict)
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    threads: int | None = None
    runtime: str | None = None
    streams: int | None = None
    max_queue: int = 8
    max_pixels: int = 4_000_000
    max_output_pixels: int = DEFAULT_MAX_OUTPUT_PIXELS
    max_body_bytes: int = 32 * 1024 * 1024
    token_file: Path | None = None
    tile: int | None = None
    retry_after: int = 1
    max_jobs: int = 16
    max_job_bytes: int = 2 * 1024**3
    job_ttl: float = 3600.0
    jobs_dir: Path | None = None
    header_timeout: float = 20.0
    body_timeout: float = 20.0
    body_min_rate: int = 500
    limit_concurrency: int = 64
    shutdown_timeout: float = 30.0

    def __post_init__(self) -> None:
        models = {
            (check_scale(s), check_model_precision(p)): Path(path)
            for (s, p), path in dict(self.models).items()
        }
        object.__setattr__(self, "models", MappingProxyType(models))
        if self.scales is not None:
            object.__setattr__(self, "scales", tuple(check_scale(s) for s in self.scales))
        if self.precisions is not None:
            precisions = tuple(check_model_precision(p) for p in self.precisions)
            object.__setattr__(self, "precisions", precisions)
        if self.token_file is not None:
            object.__setattr__(self, "token_file", Path(self.token_file))
        _positive("workers", self.workers)
        if self.threads is not None:
            _positive("threads", self.threads)
        if self.runtime is not None:
            check_runtime(self.runtime)
        if self.streams is not None:
            _positive("streams", self.streams)
        _positive("max_queue", self.max_queue, 0)
        _positive("max_pixels", self.max_pixels)
        _positive("max_output_pixels", self.max_output_pixels)
        _positive("max_body_bytes", self.max_body_bytes)
        if self.tile is not None:
            _positive("tile", self.tile, 0)
        _positive("retry_after", self.retry_after, 0)
        _positive("port", self.port, 0)
        _positive("max_jobs", self.max_jobs, 0)
        _positive("max_job_bytes", self.max_job_bytes)
        for name in ("job_ttl", "header_timeout", "body_timeout", "shutdown_timeout"):
            _seconds(name, getattr(self, name))
        _positive("body_min_rate", self.body_min_rate)
        _positive("limit_concurrency", self.limit_concurrency)
        if self.jobs_dir is not None:
            object.__setattr__(self, "jobs_dir", Path(self.jobs_dir))
        if not self.model_keys():
            msg = "no model to serve: give --scales/--precision or --model"
            raise ConfigError(msg)

    @property
    def ov_streams(self) -> int:
        """OpenVINO inference streams: ``streams``, else :data:`DEFAULT_STREAMS` capped by
        ``threads``."""
        if self.streams is not None:
            return self.streams
        return min(DEFAULT_STREAMS, self.threads) if self.threads else DEFAULT_STREAMS

    def model_keys(self) -> list[ModelKey]:
        """The ``(scale, precision)`` pairs to load, default precision first."""
        firsts = tuple(dict.fromkeys(p for _, p in self.models))
        if self.scales is None and self.precisions is None and self.models:
            return sorted(self.models, key=lambda k: (firsts.index(k[1]), k[0]))
        model_scales = tuple(sorted({s for s, _ in self.models}))
        scales = self.scales if self.scales is not None else model_scales or SCALES
        precisions = self.precisions if self.precisions is not None else firsts or ("int8",)
        keys = [(s, p) for p in precisions for s in scales]
        return keys + [k for k in sorted(self.models) if k not in keys]  # a --model is served

    def settings(self, key: ModelKey) -> InferenceSettings:
        """The inference settings of the model ``key`` = ``(scale, precision)``."""
        scale, precision = key
        return InferenceSettings(
            scale=scale,
            precision=precision,
            model=self.models.get(key),
            tile=self.tile,
            threads=self.threads,
            runtime=self.runtime,  # None: the default runtime
            streams=self.ov_streams,
        )

    @property
    def default_precision(self) -> str:
        """Precision of a request that names none."""
        return self.model_keys()[0][1]

    def read_token(self) -> str | None:
        """The bearer token from ``token_file`` (stripped), or None without a token file.

        Raises:
            ConfigError: the file is unreadable or empty.
        """
        if self.token_file is None:
            return None
        try:
            token = self.token_file.read_text(encoding="utf-8").strip()
        except OSError as err:
            msg = f"{self.token_file}: cannot read the token file ({err.strerror or err})"
            raise ConfigError(msg) from None
        if not token:
            msg = f"{self.token_file}: the token file is empty"
            raise ConfigError(msg)
        return token
