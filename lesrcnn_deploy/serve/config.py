"""The frozen configuration of the HTTP service, and the ``S:P=PATH`` model option parser."""

from __future__ import annotations

from collections.abc import Mapping
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
from ..data.outsize import parse_fit
from ..models import InferenceSettings
from ..upscale.output import OutputOptions

__all__ = ["ModelKey", "ServeConfig", "output_options", "parse_model_spec"]

ModelKey = tuple[int, str]
"""``(scale, precision)``, e.g. ``(2, "int8")``."""


def parse_model_spec(spec: str) -> tuple[ModelKey, Path]:
    """Parse ``"S:P=PATH"`` (e.g. ``"2:int8=models/x2.onnx"``) into ``((S, P), Path(PATH))``.

    Raises:
        ConfigError: malformed spec, unknown scale or precision.
    """
    key, sep, path = spec.partition("=")
    scale, colon, precision = key.partition(":")
    if not sep or not colon or not path:
        msg = f"bad model spec {spec!r}: expected SCALE:PRECISION=PATH, e.g. 2:int8=model.onnx"
        raise ConfigError(msg)
    try:
        s = int(scale)
    except ValueError:
        s = -1
    return (check_scale(s), check_model_precision(precision)), Path(path)


def output_options(query: Mapping[str, str]) -> OutputOptions:
    """The output options of an upscale request's query: ``outscale``, ``fit``, ``strip_metadata``.

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
    )


def _positive(name: str, value: int, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        msg = f"{name} must be an integer >= {minimum}, got {value!r}"
        raise ConfigError(msg)


@dataclass(frozen=True)
class ServeConfig:
    """Options of ``lesrcnn-deploy serve`` (CLI flags map one to one).

    Attributes:
        scales: scales to load; ``None`` means the scales of ``models`` when given, else 2, 3, 4.
        precisions: precisions to load, the first is the default of a request; ``None`` means
            those of ``models`` when given, else ``("int8",)``.
        models: explicit ``.onnx`` files by ``(scale, precision)``; other pairs use the default
            model paths (:func:`~lesrcnn_deploy.models.find`).
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
        max_pixels: largest accepted input ``width * height``; beyond it: 413.
        max_body_bytes: largest accepted request body; beyond it: 413, without reading it whole.
        token_file: file whose stripped content is the bearer token; ``None`` = no auth.
        tile: tile size in LR pixels (as ``upscale --tile``), 0 = whole image, None = the
            scale's default (:data:`~lesrcnn_deploy.core.vocab.DEFAULT_TILES`).
        retry_after: seconds sent in ``Retry-After`` with a 503.
        max_jobs: jobs (``POST /v1/jobs``) allowed to wait in the queue; beyond it: 429.
        max_job_bytes: bytes the files of all jobs may hold (uploads and results); beyond: 503.
            Also the largest job upload (413).
        job_ttl: seconds a finished job's result is kept; then it and its files are deleted.
        jobs_dir: where the private job directory is created (``None`` = the system temp dir).
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
    max_body_bytes: int = 32 * 1024 * 1024
    token_file: Path | None = None
    tile: int | None = None
    retry_after: int = 1
    max_jobs: int = 16
    max_job_bytes: int = 2 * 1024**3
    job_ttl: float = 3600.0
    jobs_dir: Path | None = None

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
        _positive("max_body_bytes", self.max_body_bytes)
        if self.tile is not None:
            _positive("tile", self.tile, 0)
        _positive("retry_after", self.retry_after, 0)
        _positive("port", self.port, 0)
        _positive("max_jobs", self.max_jobs, 0)
        _positive("max_job_bytes", self.max_job_bytes)
        if isinstance(self.job_ttl, bool) or not isinstance(self.job_ttl, int | float):
            msg = f"job_ttl must be a number of seconds > 0, got {self.job_ttl!r}"
            raise ConfigError(msg)
        if not self.job_ttl > 0:
            msg = f"job_ttl must be a number of seconds > 0, got {self.job_ttl!r}"
            raise ConfigError(msg)
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
        if self.scales is None and self.precisions is None and self.models:
            firsts = list(dict.fromkeys(p for _, p in self.models))
            return sorted(self.models, key=lambda k: (firsts.index(k[1]), k[0]))
        scales = self.scales if self.scales is not None else SCALES
        precisions = self.precisions if self.precisions is not None else ("int8",)
        return [(s, p) for p in precisions for s in scales]

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
