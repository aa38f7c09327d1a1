"""The jobs routes: ``POST /v1/jobs``, ``GET /v1/jobs/{id}``, ``GET /v1/jobs/{id}/result``,
``DELETE /v1/jobs/{id}`` (see :mod:`.jobs` for the states, bounds and files).

``POST`` checks, cheapest first: bearer token (401), readiness (503), scale/precision and the
output options ``outscale``/``fit``/``strip_metadata`` (400, the same rules as ``/v1/upscale``),
``Content-Length`` over ``max_job_bytes`` (413), queue and storage room (429 / 503 +
``Retry-After``), then streams the body into the job folder, reserving its bytes as they arrive
(413 as soon as it passes the limit, 503 as soon as all jobs' bytes would pass it, 408 when the
client stalls; the partial file deleted each time) and queues the job: 202 ``{"id": ...,
"state": "queued", ...}`` with ``Location``. The size limits (input and output pixels, video
frames) are checked from the image header or the video's stream header before the job is queued,
nothing decoded: 413 (415 for a still such as SVG posted as a video, 400 for no video stream).
``strip_metadata`` on a video is refused (400): it applies to images.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from ..core.errors import ConfigError, LesrcnnError
from .config import output_options
from .guards import BodyTimeout
from .http import authorized, error, find_model, model_headers, stream_body, unauthorized
from .jobs import JobLimitError, JobManager

__all__ = ["job_routes"]


def _manager(service: Any) -> JobManager | None:
    manager: JobManager | None = getattr(service, "jobs", None)
    return manager


def _refusal(service: Any, request: Request) -> Response | None:
    """401 or 503 before anything else, or None."""
    if not authorized(service.token, request):
        return unauthorized(service.metrics.reject)
    if _manager(service) is None:
        return error(503, "jobs are not available (server starting or stopping)")
    return None


def _limit(service: Any, err: JobLimitError) -> Response:
    service.metrics.reject("jobs_full" if err.status == 429 else "job_storage_full")
    return error(err.status, str(err), headers={"Retry-After": str(service.config.retry_after)})


def _service_manager(request: Request) -> tuple[Any, JobManager] | Response:
    """The service and its job manager, or the 401/503 answer."""
    service = request.app.state.service
    refused = _refusal(service, request)
    if refused is not None:
        return refused
    manager = _manager(service)
    assert manager is not None
    return service, manager


async def _create(request: Request) -> Response:
    found = _service_manager(request)
    if isinstance(found, Response):
        return found
    service, manager = found
    if not service.pool.ready.is_set():
        return error(503, "models are still loading", headers={"Retry-After": "1"})
    q = request.query_params
    model, problem = find_model(service.pool, q, default_precision=service.config.default_precision)
    if model is None:
        return error(400, problem)
    try:
        options = output_options(q, max_output_pixels=service.config.max_output_pixels)
    except ConfigError as err:
        return error(400, str(err))
    choices = None  # outscale/fit without a scale: the smallest loaded scale reaching the size
    if options.resizes and q.get("scale") is None:
        precision = model.key[1]
        choices = {
            s: m
            for s, p in service.pool.loaded()
            if p == precision and (m := service.pool.get(s, p))
        }
    declared = request.headers.get("content-length")
    limit = manager.max_bytes
    if declared and declared.isdigit() and int(declared) > limit:
        service.metrics.reject("body_too_large")
        return error(413, f"request body larger than {limit} bytes")
    try:
        manager.check_room(int(declared) if declared and declared.isdigit() else 0)
    except JobLimitError as err:
        return _limit(service, err)
    with manager.upload() as upload:  # left without a job: the file is deleted, bytes freed
        try:
            async for chunk in stream_body(request, limit, timeouts=service.body_timeouts):
                upload.write(chunk)
        except OverflowError:
            service.metrics.reject("body_too_large")
            return error(413, f"request body larger than {limit} bytes")
        except JobLimitError as err:
            return _limit(service, err)
        except BodyTimeout as err:
            service.metrics.reject("body_timeout")
            return error(408, str(err), headers={"Connection": "close"})
        except (ClientDisconnect, OSError):
            service.metrics.reject("client_disconnected")
            return error(499, "client disconnected during the upload")
        if upload.size == 0:
            return error(400, "empty request body: send the image or video bytes")
        if upload.kind == "video" and "strip_metadata" in q:
            return error(400, "strip_metadata applies to image jobs only (videos keep their tags)")
        try:
            job = manager.submit(
                upload, model=model, fmt=q.get("format"), options=options, choices=choices
            )
        except JobLimitError as err:
            return _limit(service, err)
        except LesrcnnError as err:  # 400, 413, 415: each class's http_status
            return error(err.http_status, str(err))
    view = job.snapshot(manager.ttl)
    return JSONResponse(view, status_code=202, headers={"Location": f"/v1/jobs/{job.id}"})


def _lookup(request: Request) -> tuple[JobManager, Any] | Response:
    """The manager and the job named in the path, or the 401/503/404 answer."""
    found = _service_manager(request)
    if isinstance(found, Response):
        return found
    manager = found[1]
    job = manager.get(request.path_params["job_id"])
    if job is None:
        return error(404, "no such job (unknown id, or its result expired)")
    return manager, job


async def _status(request: Request) -> Response:
    found = _lookup(request)
    if isinstance(found, Response):
        return found
    manager, job = found
    return JSONResponse(job.snapshot(manager.ttl))


async def _result(request: Request) -> Response:
    found = _lookup(request)
    if isinstance(found, Response):
        return found
    _, job = found
    if job.state == "failed":
        return error(job.error_status or 500, f"job failed: {job.error}")
    if job.state != "done":
        return error(409, f"job is {job.state}, no result yet")
    headers = model_headers(job.model, job.inference_seconds)
    return FileResponse(
        job.output,
        media_type=job.media_type,
        filename=job.result_name,
        headers=headers,
    )


async def _delete(request: Request) -> Response:
    found = _lookup(request)
    if isinstance(found, Response):
        return found
    manager, job = found
    manager.cancel(job.id)
    status = 202 if job.state == "running" else 200
    return JSONResponse(job.snapshot(manager.ttl), status_code=status)


def job_routes() -> list[Route]:
    """The four routes of the jobs API."""
    return [
        Route("/v1/jobs", _create, methods=["POST"]),
        Route("/v1/jobs/{job_id}", _status, methods=["GET"]),
        Route("/v1/jobs/{job_id}", _delete, methods=["DELETE"]),
        Route("/v1/jobs/{job_id}/result", _result, methods=["GET"]),
    ]
