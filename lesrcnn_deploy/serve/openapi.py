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


def openapi_spec(scales: list[int], precisions: list[str]) -> dict[str, Any]:
    """The OpenAPI document for a server loaded with ``scales`` and ``precisions``."""
    image = {"schema": {"type": "string", "format": "binary"}}
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
            "/v1/upscale": {
                "post": {
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
                        "413": _error("Body larger than the limit, or more pixels than allowed"),
                        "415": _error("Unsupported input or output format"),
                        "503": _error(
                            "Queue full or not ready; retry later",
                            headers={"Retry-After": {"schema": {"type": "integer"}}},
                        ),
                    },
                }
            },
            "/healthz": {"get": {"summary": "Process alive", "responses": {"200": _STATUS}}},
            "/readyz": {
                "get": {
                    "summary": "Models loaded and warmed up",
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
        },
    }
