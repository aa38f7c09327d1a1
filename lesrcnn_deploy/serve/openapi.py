"""The OpenAPI 3.1 description of the HTTP service, served at ``GET /openapi.json``."""

from __future__ import annotations

from typing import Any

from .. import __version__

__all__ = ["openapi_spec"]

_ERROR = {
    "description": "JSON error",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {"error": {"type": "string"}, "status": {"type": "integer"}},
                "required": ["error", "status"],
            }
        }
    },
}


_STATUS = {
    "description": "Status",
    "content": {"application/json": {"schema": {"type": "object"}}},
}


def _error(text: str, **extra: Any) -> dict[str, Any]:
    return {**_ERROR, "description": text, **extra}


_JOB = {
    "description": "The job",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {
                    "id": {"type": "string"},
                    "kind": {"type": "string", "enum": ["image", "video"]},
                    "state": {
                        "type": "string",
                        "enum": ["queued", "running", "done", "failed", "cancelled"],
                    },
                    "progress": {
                        "type": "object",
                        "properties": {
                            "done": {"type": "integer"},
                            "total": {"type": "integer"},
                            "unit": {"type": "string", "enum": ["tiles", "frames"]},
                            "fraction": {"type": ["number", "null"]},
                        },
                    },
                    "eta_seconds": {"type": ["number", "null"]},
                    "expires": {"type": ["number", "null"], "description": "Unix time"},
                    "error": {"type": ["string", "null"]},
                    "result": {"type": "string", "description": "URL of the result (done)"},
                },
                "required": ["id", "state", "progress"],
            }
        }
    },
}


def _job_paths(scales: list[int], precisions: list[str]) -> dict[str, Any]:
    """``/v1/jobs`` and ``/v1/jobs/{id}`` (GET, DELETE) and ``/v1/jobs/{id}/result``."""
    binary = {"schema": {"type": "string", "format": "binary"}}
    job_id = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
    missing = _error("Unknown job, or its result expired")
    security: list[dict[str, list[str]]] = [{"bearer": []}, {}]
    return {
        "/v1/jobs": {"post": _jobs_post(scales, precisions)},
        "/v1/jobs/{id}": {
            "get": {
                "summary": "State, progress (tiles or frames done of total) and ETA",
                "security": security,
                "parameters": [job_id],
                "responses": {"200": _JOB, "401": _error("Unauthorized"), "404": missing},
            },
            "delete": {
                "summary": "Cancel a job (a finished one is deleted with its result)",
                "security": security,
                "parameters": [job_id],
                "responses": {
                    "200": _JOB,
                    "202": {**_JOB, "description": "Running: stops at its next tile or frame"},
                    "401": _error("Unauthorized"),
                    "404": missing,
                },
            },
        },
        "/v1/jobs/{id}/result": {
            "get": {
                "summary": "The result file (streamed), once the job is done",
                "security": security,
                "parameters": [job_id],
                "responses": {
                    "200": {
                        "description": "The upscaled image or video",
                        "content": {"image/*": binary, "video/*": binary},
                    },
                    "401": _error("Unauthorized"),
                    "404": missing,
                    "409": _error("Not done yet (queued, running or cancelled)"),
                },
            }
        },
    }


def _jobs_post(scales: list[int], precisions: list[str]) -> dict[str, Any]:
    """``POST /v1/jobs``: start a job."""
    binary = {"schema": {"type": "string", "format": "binary"}}
    security: list[dict[str, list[str]]] = [{"bearer": []}, {}]
    return {
        "summary": "Start a job: upscale an image (tiles) or a video (frames)",
        "description": (
            "The raw body is an image or a video (sniffed from its first bytes). The job "
            "runs on a worker thread; poll `GET /v1/jobs/{id}`. Results expire after the "
            "server's job TTL; jobs do not survive a restart."
        ),
        "security": security,
        "parameters": [
            {"name": "scale", "in": "query", "schema": {"type": "integer", "enum": scales}},
            {
                "name": "precision",
                "in": "query",
                "schema": {"type": "string", "enum": precisions},
            },
            {
                "name": "format",
                "in": "query",
                "schema": {
                    "type": "string",
                    "enum": ["png", "jpg", "webp", "mp4", "mkv", "mov"],
                },
                "description": "Output format (default png for images, mp4 for videos).",
            },
            *_size_parameters(),
        ],
        "requestBody": {
            "required": True,
            "content": {"application/octet-stream": binary, "image/*": binary},
        },
        "responses": {
            "202": {**_JOB, "description": "Queued (``Location`` names the job)"},
            "400": _error(
                "Bad scale/precision/outscale/fit/strip_metadata (strip_metadata on a "
                "video), or an empty body"
            ),
            "401": _error("Missing or wrong bearer token"),
            "408": _error("The client stalled or sent the body too slowly"),
            "413": _error("Upload larger than the job storage limit"),
            "415": _error("Output format not available for this kind of input"),
            "429": _error(
                "Too many queued jobs; retry later",
                headers={"Retry-After": {"schema": {"type": "integer"}}},
            ),
            "503": _error(
                "Job storage full, not ready or shutting down; retry later",
                headers={"Retry-After": {"schema": {"type": "integer"}}},
            ),
        },
    }


def _size_parameters() -> list[dict[str, Any]]:
    """``outscale``, ``fit`` and ``strip_metadata`` of ``/v1/upscale``."""
    return [
        {
            "name": "outscale",
            "in": "query",
            "schema": {"type": "number", "exclusiveMinimum": 0, "maximum": 16},
            "description": "Final size = input x outscale (e.g. 1.5): the smallest loaded scale "
            "reaching it runs (or `scale`), then an area (shrink) / Lanczos (enlarge) resize.",
        },
        {
            "name": "fit",
            "in": "query",
            "schema": {"type": "string", "pattern": "^[0-9]+x[0-9]+$"},
            "description": "Final size = the largest with the input's aspect ratio inside WxH.",
        },
        {
            "name": "strip_metadata",
            "in": "query",
            "schema": {"type": "boolean", "default": True},
            "description": "Drop EXIF (GPS included) and XMP (default); the ICC profile is kept.",
        },
    ]


def openapi_spec(scales: list[int], precisions: list[str]) -> dict[str, Any]:
    """The OpenAPI document for a server loaded with ``scales`` and ``precisions``."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "lesrcnn-deploy",
            "version": __version__,
            "description": "LESRCNN super-resolution (x2/x3/x4) on ONNX Runtime, tiled.",
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "paths": {
            "/v1/upscale": {"post": _upscale_post(scales, precisions)},
            **_job_paths(scales, precisions),
            **_service_paths(),
        },
    }


def _upscale_post(scales: list[int], precisions: list[str]) -> dict[str, Any]:
    """``POST /v1/upscale``: one image in, the upscaled image out."""
    image = {"schema": {"type": "string", "format": "binary"}}
    return {
        "summary": "Upscale one image",
        "description": (
            "Image bytes in (PNG, JPEG, WebP, BMP, TIFF; gray, alpha, 16 bit, EXIF "
            "orientation as `lesrcnn-deploy upscale`), upscaled image bytes out. "
            "Needs `Authorization: Bearer TOKEN` when the server has a token file."
        ),
        "security": [{"bearer": []}, {}],
        "parameters": [
            {
                "name": "scale",
                "in": "query",
                "schema": {"type": "integer", "enum": scales},
                "description": "Upscaling factor (default: the first loaded).",
            },
            {
                "name": "format",
                "in": "query",
                "schema": {"type": "string", "enum": ["png", "jpg", "webp"]},
                "description": "Output format (default png; webp is lossless).",
            },
            {
                "name": "precision",
                "in": "query",
                "schema": {"type": "string", "enum": precisions},
                "description": "Model precision (default: the first loaded).",
            },
            *_size_parameters(),
        ],
        "requestBody": {
            "required": True,
            "content": {"application/octet-stream": image, "image/*": image},
        },
        "responses": {
            "200": {
                "description": "The upscaled image",
                "headers": {
                    "X-Model-SHA256": {"schema": {"type": "string"}},
                    "X-Model-Scale": {"schema": {"type": "integer"}},
                    "X-Model-Precision": {"schema": {"type": "string"}},
                    "X-Inference-Seconds": {"schema": {"type": "number"}},
                    "X-Inference-Ms": {"schema": {"type": "number"}},
                    "X-Runtime": {"schema": {"type": "string"}},
                    "Server-Timing": {"schema": {"type": "string"}},
                },
                "content": {
                    "image/png": image,
                    "image/jpeg": image,
                    "image/webp": image,
                },
            },
            "400": _error("Not an image, corrupt, or a bad query parameter"),
            "401": _error("Missing or wrong bearer token"),
            "408": _error("The client stalled or sent the body too slowly"),
            "413": _error(
                "Body larger than the limit, or more input or output pixels than "
                "allowed (checked from the header, before any work)"
            ),
            "415": _error("Unsupported input or output format"),
            "503": _error(
                "Queue full or not ready; retry later",
                headers={"Retry-After": {"schema": {"type": "integer"}}},
            ),
        },
    }


def _service_paths() -> dict[str, Any]:
    """The web page, ``/healthz``, ``/readyz`` and ``/metrics``."""
    return {
        "/": {
            "get": {
                "summary": "The web page (self-contained HTML)",
                "responses": {
                    "200": {
                        "description": "HTML",
                        "content": {"text/html": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
        "/healthz": {"get": {"summary": "Process alive", "responses": {"200": _STATUS}}},
        "/readyz": {
            "get": {
                "summary": "Models loaded and warmed up",
                "description": (
                    "With a token set, a caller without it sees only the status and the "
                    "loaded scales and precisions; with it, also model SHA256s, runtimes "
                    "and limits."
                ),
                "responses": {"200": _STATUS, "503": _error("Still loading")},
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus text exposition",
                "responses": {
                    "200": {
                        "description": "Metrics",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
    }
