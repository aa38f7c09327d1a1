"""The ASGI application (Starlette): ``create_app(config) -> app``.

Routes: ``POST /v1/upscale``, ``GET /healthz``, ``GET /readyz``, ``GET /metrics``,
``GET /openapi.json``, the jobs API (:mod:`.jobs_api`) and the web page at ``/`` (:mod:`.page`).
Errors are JSON ``{"error": ..., "status": ...}``. ``/v1/upscale`` bodies stay in memory and are
never written to disk (job uploads go to the private job directory, see :mod:`.jobs`).

Order of checks on an upscale request, cheapest first, so a refused request costs no work: bearer
token (401), readiness (503), query parameters (400/415), queue room (503 + ``Retry-After``),
``Content-Length`` over the limit (413, body not read), body read in chunks up to the limit (413
as soon as it is passed), then admission into the engine's bounded queue (503 when full), then
decode (400/413/415), inference and encode on a worker thread. If the client disconnects while
its job waits, the job is cancelled and its place freed; while it runs, it stops at the next tile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..core.errors import (
    ConfigError,
    LesrcnnError,
    ServerBusyError,
    one_line,
)
from .config import ServeConfig, output_options
from .engine import (
    InferenceEngine,
    ModelPool,
    RequestCancelled,
    UpscaleResult,
    runtime_fields,
    upscale_bytes,
)
from .guards import BodyTimeout, BodyTimeouts, CutOnShutdown
from .http import authorized, find_model, model_headers, read_body, unauthorized
from .http import error as _error
from .jobs import JOB_STATES, JobManager
from .jobs_api import job_routes
from .metrics import CONTENT_TYPE, ServeMetrics
from .openapi import openapi_spec
from .page import page_routes

__all__ = ["Service", "create_app"]

_FORMATS = ("png", "jpg", "jpeg", "webp")


class Service:
    """Everything an app instance shares between requests (``app.state.service``).

    Args:
        config: the server configuration.
        pool: already loaded models (the CLI loads them first for one-line errors), or None to
            load them at application start-up.
    """

    def __init__(self, config: ServeConfig, pool: ModelPool | None = None) -> None:
        self.config = config
        self.pool = pool if pool is not None else ModelPool(config)
        ready = self.pool.ready.is_set()
        self.engine = InferenceEngine(
            self.pool.workers() if ready else config.workers, config.max_queue
        )
        self.jobs: JobManager | None = None  # created at start-up, closed at shutdown
        self.metrics = ServeMetrics(
            lambda: self.engine.running,
            lambda: self.engine.queued,
            jobs=self._job_counts,
            job_bytes=lambda: self.jobs.held_bytes() if self.jobs is not None else 0,
            runtimes=self._runtimes,
        )
        self.token = config.read_token()
        self.body_timeouts = BodyTimeouts(config.body_timeout, config.body_min_rate)

    def _runtimes(self) -> list[tuple[int, str, str, str]]:
        rows = []
        for s, p in self.pool.loaded():
            m = self.pool.get(s, p)
            if m is not None:
                f = runtime_fields(m)
                rows.append((s, p, str(f["runtime"]), str(f["runtime_requested"])))
        return rows

    def _job_counts(self) -> dict[str, int]:
        if self.jobs is None:
            return dict.fromkeys(JOB_STATES, 0)
        return self.jobs.counts()

    def start_jobs(self) -> None:
        """Create the job manager and its private directory."""
        cfg = self.config
        self.jobs = JobManager(
            max_jobs=cfg.max_jobs,
            max_bytes=cfg.max_job_bytes,
            ttl=cfg.job_ttl,
            max_pixels=cfg.max_pixels,
            parent=cfg.jobs_dir,
        )

    def stop_jobs(self) -> None:
        """Cancel every job and delete the job directory."""
        jobs, self.jobs = self.jobs, None
        if jobs is not None:
            jobs.close()


def _authorized(service: Service, request: Request) -> bool:
    return authorized(service.token, request)


def _unauthorized(service: Service) -> JSONResponse:
    return unauthorized(service.metrics.reject)


def _busy(service: Service, reason: str, text: str) -> JSONResponse:
    service.metrics.reject(reason)
    return _error(503, text, headers={"Retry-After": str(service.config.retry_after)})


async def _wait_disconnect(receive: Callable[[], Awaitable[Any]]) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


async def _upscale(request: Request) -> Response:
    service: Service = request.app.state.service
    cfg = service.config
    started = time.perf_counter()

    def answer(response: Response) -> Response:
        ok = response.status_code == 200
        service.metrics.observe(response.status_code, time.perf_counter() - started if ok else None)
        return response

    if not _authorized(service, request):
        return answer(_unauthorized(service))
    if not service.pool.ready.is_set():
        return answer(_busy(service, "not_ready", "models are still loading"))
    q = request.query_params
    model, problem = find_model(service.pool, q, default_precision=cfg.default_precision)
    if model is None:
        return answer(_error(400, problem))
    precision = model.key[1]
    scale_text = q.get("scale")
    keys = service.pool.loaded()
    fmt = q.get("format", "png").lower()
    if fmt not in _FORMATS:
        return answer(_error(415, f"unsupported output format {fmt!r} (png, jpg or webp)"))
    try:
        options = output_options(q, max_output_pixels=cfg.max_output_pixels)
    except ConfigError as err:
        return answer(_error(400, str(err)))
    choices = None  # outscale/fit without a scale: the smallest loaded scale reaching the size
    if options.resizes and scale_text is None:
        choices = {s: m for s, p in keys if p == precision and (m := service.pool.get(s, p))}
    if service.engine.full:
        return answer(_busy(service, "queue_full", "server busy: queue full, retry later"))
    try:
        body = await read_body(request, cfg.max_body_bytes, timeouts=service.body_timeouts)
    except ClientDisconnect:
        service.metrics.reject("client_disconnected")
        return answer(_error(499, "client disconnected during the upload"))
    except BodyTimeout as err:
        service.metrics.reject("body_timeout")
        return answer(_error(408, str(err), headers={"Connection": "close"}))
    if body is None:
        service.metrics.reject("body_too_large")
        return answer(_error(413, f"request body larger than {cfg.max_body_bytes} bytes"))
    if not body:
        return answer(_error(400, "empty request body: send the image bytes"))

    cancel = threading.Event()
    try:
        future = service.engine.submit(
            lambda: upscale_bytes(
                model,
                body,
                fmt=fmt,
                max_pixels=cfg.max_pixels,
                cancel=cancel,
                options=options,
                choices=choices,
            )
        )
    except ServerBusyError:
        return answer(_busy(service, "queue_full", "server busy: queue full, retry later"))
    job = asyncio.wrap_future(future)
    gone: asyncio.Future[Any] = asyncio.ensure_future(_wait_disconnect(request.receive))
    waiting: set[asyncio.Future[Any]] = {job, gone}
    try:
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not job.done():  # the client left (or this handler was cancelled): free the slot
            cancel.set()
            future.cancel()
            job.cancel()
        gone.cancel()
    if job.cancelled():
        service.metrics.reject("client_disconnected")
        return answer(_error(499, "client disconnected"))
    try:
        result: UpscaleResult = job.result()
    except RequestCancelled:
        service.metrics.reject("client_disconnected")
        return answer(_error(499, "client disconnected"))
    except LesrcnnError as err:  # 400, 413, 415...: each class's http_status (docs/robustness.md)
        return answer(_error(err.http_status, one_line(err)))
    headers = model_headers(result.model, result.inference_seconds)
    return answer(Response(result.data, media_type=result.media_type, headers=headers))


async def _healthz(request: Request) -> Response:
    return JSONResponse({"status": "alive"})


async def _readyz(request: Request) -> Response:
    service: Service = request.app.state.service
    if not service.pool.ready.is_set():
        return _error(503, "models are still loading", headers={"Retry-After": "1"})
    if not _authorized(service, request):
        # Without the token: ready or not, and what the page needs to offer (scales and
        # precisions, as in /openapi.json); no model SHA256, runtime or limit.
        models = [{"scale": s, "precision": p} for s, p in service.pool.loaded()]
        return JSONResponse({"status": "ready", "models": models, "auth": True})
    models = [
        {"scale": s, "precision": p, "sha256": m.sha256, **runtime_fields(m)}
        for s, p in service.pool.loaded()
        if (m := service.pool.get(s, p)) is not None
    ]
    cfg = service.config
    return JSONResponse(
        {
            "status": "ready",
            "models": models,
            "auth": service.token is not None,
            "workers": service.engine.threads,
            "max_body_bytes": cfg.max_body_bytes,
            "max_pixels": cfg.max_pixels,
            "max_output_pixels": cfg.max_output_pixels,
            "max_job_bytes": cfg.max_job_bytes,
        }
    )


async def _metrics(request: Request) -> Response:
    service: Service = request.app.state.service
    if not _authorized(service, request):
        return _unauthorized(service)
    return Response(service.metrics.render(), media_type=CONTENT_TYPE)


async def _openapi(request: Request) -> Response:
    service: Service = request.app.state.service
    if not _authorized(service, request):
        return _unauthorized(service)
    keys = service.pool.loaded() or service.config.model_keys()
    scales = sorted({s for s, _ in keys})
    precisions = list(dict.fromkeys(p for _, p in keys))
    return JSONResponse(openapi_spec(scales, precisions))


def create_app(config: ServeConfig, *, pool: ModelPool | None = None) -> Starlette:
    """Build the ASGI application.

    Args:
        config: the server configuration.
        pool: models already loaded (see :class:`Service`); by default they are loaded in a
            worker thread at start-up, and ``/readyz`` answers 503 until they are warmed up.

    Returns:
        The Starlette app; its :class:`Service` is ``app.state.service``. On shutdown (after the
        server drained the in-flight requests) the worker pool is closed.

    Raises:
        ConfigError: the token file is unreadable or empty.
    """
    service = Service(config, pool)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if not service.pool.ready.is_set():
            await asyncio.to_thread(service.pool.load)
            service.engine.resize(service.pool.workers())  # OpenVINO: 2 per stream
        service.start_jobs()
        reclaimed = service.jobs.reclaimed if service.jobs is not None else None
        if reclaimed is not None and reclaimed.folders:
            logging.getLogger("uvicorn.error").warning(
                "removed %d job folder(s) of servers that are gone: %d bytes freed",
                reclaimed.folders,
                reclaimed.bytes,
            )
        try:
            yield
        finally:
            await asyncio.to_thread(service.stop_jobs)
            await asyncio.to_thread(service.engine.close)

    app = Starlette(
        middleware=[Middleware(CutOnShutdown, on_cut=lambda: service.metrics.reject("shutdown"))],
        routes=[
            Route("/v1/upscale", _upscale, methods=["POST"]),
            Route("/healthz", _healthz, methods=["GET"]),
            Route("/readyz", _readyz, methods=["GET"]),
            Route("/metrics", _metrics, methods=["GET"]),
            Route("/openapi.json", _openapi, methods=["GET"]),
            *job_routes(),
            *page_routes(),
        ],
        lifespan=lifespan,
    )
    app.state.service = service
    return app
