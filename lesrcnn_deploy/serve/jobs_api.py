"""The jobs routes: ``POST /v1/jobs``, ``GET /v1/jobs/{id}``, ``GET /v1/jobs/{id}/result``,
``DELETE /v1/jobs/{id}`` (see :mod:`.jobs` for the states, bounds and files).

``POST`` checks, cheapest first: bearer token (401), readiness (503), scale/precision (400), queue
and storage room (429 / 503 + ``Retry-After``), ``Content-Length`` over ``max_job_bytes`` (413),
then streams the body into the job directory (413 as soon as it passes the limit, the partial file
deleted) and queues the job: 202 ``{"id": ..., "state": "queued", ...}`` with ``Location``.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from ..errors import UnsupportedFormatError
from .http import error, model_headers, stream_body, unauthorized
from .jobs import JobLimitError, JobManager

__all__ = ["job_routes"]


def _manager(service: Any) -> JobManager | None:
    manager: JobManager | None = getattr(service, "jobs", None)
    return manager


def _refusal(service: Any, request: Request) -> Response | None:
    """401 or 503 before anything else, or None."""
    from .http import authorized

    if not authorized(service.token, request):
        return unauthorized(service.metrics.reject)
    if _manager(service) is None:
        return error(503, "jobs are not available (server starting or stopping)")
    return None


def _limit(service: Any, err: JobLimitError) -> Response:
    service.metrics.reject("jobs_full" if err.status == 429 else "job_storage_full")
    return error(err.status, str(err), {"Retry-After": str(service.config.retry_after)})


async def _create(request: Request) -> Response:
    service = request.app.state.service
    refused = _refusal(service, request)
    if refused is not None:
        return refused
    manager = _manager(service)
    assert manager is not None
    if not service.pool.ready.is_set():
        return error(503, "models are still loading", {"Retry-After": "1"})
    q = request.query_params
    keys = service.pool.loaded()
    precision = q.get("precision", service.config.default_precision)
    scale_text = q.get("scale")
    try:
        scale = int(scale_text) if scale_text is not None else keys[0][0]
    except ValueError:
        scale = -1
    model = service.pool.get(scale, precision)
    if model is None:
        offered = ", ".join(f"scale={s}&precision={p}" for s, p in keys)
        return error(400, f"no model for scale={scale_text} precision={precision} ({offered})")
    declared = request.headers.get("content-length")
    try:
        manager.check_room(int(declared) if declared and declared.isdigit() else 0)
    except JobLimitError as err:
        limit = manager.max_bytes
        if declared and declared.isdigit() and int(declared) > limit:
            service.metrics.reject("body_too_large")
            return error(413, f"request body larger than {limit} bytes")
        return _limit(service, err)
    job_id, upload = manager.new_upload()
    size = 0
    try:
        with upload.open("wb") as f:
            async for chunk in stream_body(request, manager.max_bytes):
                f.write(chunk)
                size += len(chunk)
    except OverflowError:
        upload.unlink(missing_ok=True)
        service.metrics.reject("body_too_large")
        return error(413, f"request body larger than {manager.max_bytes} bytes")
    except (ClientDisconnect, OSError):
        upload.unlink(missing_ok=True)
        return error(499, "client disconnected during the upload")
    if size == 0:
        upload.unlink(missing_ok=True)
        return error(400, "empty request body: send the image or video bytes")
    try:
        job = manager.submit(job_id, upload, model, fmt=q.get("format"))
    except JobLimitError as err:
        return _limit(service, err)
    except UnsupportedFormatError as err:
        return error(415, str(err))
    view = job.snapshot(manager.ttl)
    return JSONResponse(view, status_code=202, headers={"Location": f"/v1/jobs/{job.id}"})


def _job_or_404(manager: JobManager, request: Request) -> Any:
    job = manager.get(request.path_params["job_id"])
    if job is None:
        return None, error(404, "no such job (unknown id, or its result expired)")
    return job, None


async def _status(request: Request) -> Response:
    service = request.app.state.service
    refused = _refusal(service, request)
    if refused is not None:
        return refused
    manager = _manager(service)
    assert manager is not None
    job, missing = _job_or_404(manager, request)
    if missing is not None:
        return missing
    return JSONResponse(job.snapshot(manager.ttl))


async def _result(request: Request) -> Response:
    service = request.app.state.service
    refused = _refusal(service, request)
    if refused is not None:
        return refused
    manager = _manager(service)
    assert manager is not None
    job, missing = _job_or_404(manager, request)
    if missing is not None:
        return missing
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
    service = request.app.state.service
    refused = _refusal(service, request)
    if refused is not None:
        return refused
    manager = _manager(service)
    assert manager is not None
    job = manager.cancel(request.path_params["job_id"])
    if job is None:
        return error(404, "no such job (unknown id, or its result expired)")
    return JSONResponse(
        job.snapshot(manager.ttl), status_code=202 if job.state == "running" else 200
    )


def job_routes() -> list[Route]:
    """The four routes of the jobs API."""
    return [
        Route("/v1/jobs", _create, methods=["POST"]),
        Route("/v1/jobs/{job_id}", _status, methods=["GET"]),
        Route("/v1/jobs/{job_id}", _delete, methods=["DELETE"]),
        Route("/v1/jobs/{job_id}/result", _result, methods=["GET"]),
    ]
