"""Prometheus metrics of the HTTP service (``GET /metrics``), on a registry of its own per app."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    exposition,
    generate_latest,
)

__all__ = ["CONTENT_TYPE", "ServeMetrics"]

CONTENT_TYPE: str = exposition.CONTENT_TYPE_LATEST
"""Media type of the Prometheus text exposition format."""

_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class ServeMetrics:
    """Counters, histogram and gauges of ``POST /v1/upscale``.

    Args:
        running: returns the number of requests being computed now.
        queued: returns the number of requests waiting for a worker.
        jobs: returns the number of jobs in each state (``lesrcnn_jobs{state=...}``).
        job_bytes: returns the bytes held by job files (``lesrcnn_job_storage_bytes``).
        runtimes: returns ``(scale, precision, runtime, requested)`` per loaded model
            (``lesrcnn_model_runtime_info``: which runtime runs it, and what was asked).
    """

    def __init__(
        self,
        running: Callable[[], float],
        queued: Callable[[], float],
        *,
        jobs: Callable[[], Mapping[str, int]] | None = None,
        job_bytes: Callable[[], float] | None = None,
        runtimes: Callable[[], Iterable[tuple[int, str, str, str]]] | None = None,
    ) -> None:
        self._job_counts = jobs
        self._runtimes = runtimes
        self.registry = CollectorRegistry(auto_describe=True)
        self.runtime_info = Gauge(
            "lesrcnn_model_runtime_info",
            "1 per loaded model: the runtime that runs it (ort, openvino) and the one asked for "
            "(ort, openvino, auto).",
            ["scale", "precision", "runtime", "requested"],
            registry=self.registry,
        )
        self.requests = Counter(
            "lesrcnn_upscale_requests",
            "Upscale requests answered, by HTTP status.",
            ["status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "lesrcnn_upscale_latency_seconds",
            "Time from request start to response, for upscale requests answered 200.",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.rejected = Counter(
            "lesrcnn_upscale_rejected",
            "Upscale requests refused without inference, by reason.",
            ["reason"],
            registry=self.registry,
        )
        in_flight = Gauge(
            "lesrcnn_in_flight", "Requests being computed now.", registry=self.registry
        )
        in_flight.set_function(running)
        depth = Gauge(
            "lesrcnn_queue_depth", "Requests waiting for a worker.", registry=self.registry
        )
        depth.set_function(queued)
        self.jobs = Gauge(
            "lesrcnn_jobs",
            "Jobs (POST /v1/jobs) known to the server now, by state.",
            ["state"],
            registry=self.registry,
        )
        if job_bytes is not None:
            held = Gauge(
                "lesrcnn_job_storage_bytes",
                "Bytes held by job uploads and results (bounded by --max-job-bytes).",
                registry=self.registry,
            )
            held.set_function(job_bytes)

    def observe(self, status: int, seconds: float | None = None) -> None:
        """Count one answered request; ``seconds`` goes into the latency histogram."""
        self.requests.labels(status=str(status)).inc()
        if seconds is not None:
            self.latency.observe(seconds)

    def reject(self, reason: str) -> None:
        """Count one request refused without inference (``queue_full``, ``unauthorized``...)."""
        self.rejected.labels(reason=reason).inc()

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        if self._runtimes is not None:
            for scale, precision, runtime, requested in self._runtimes():
                self.runtime_info.labels(
                    scale=str(scale), precision=precision, runtime=runtime, requested=requested
                ).set(1)
        if self._job_counts is not None:
            for state, n in self._job_counts().items():
                self.jobs.labels(state=state).set(n)
        return generate_latest(self.registry)
