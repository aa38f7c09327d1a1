"""HTTP helpers shared by the routes: JSON errors, bearer-token check, bounded body reading."""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from .guards import BodyTimeouts, timed_chunks

__all__ = [
    "authorized",
    "declared_too_large",
    "error",
    "find_model",
    "model_headers",
    "read_body",
    "stream_body",
    "unauthorized",
]


def error(status: int, text: str, *, headers: dict[str, str] | None = None) -> JSONResponse:
    """The JSON error ``{"error": text, "status": status}`` with HTTP status ``status``."""
    return JSONResponse({"error": text, "status": status}, status_code=status, headers=headers)


def authorized(token: str | None, request: Request) -> bool:
    """True without a token, or when ``Authorization: Bearer <token>`` matches (constant time)."""
    if token is None:
        return True
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given:
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


def unauthorized(reject: Callable[[str], None]) -> JSONResponse:
    """The 401 answer (``WWW-Authenticate: Bearer``), counted by ``reject("unauthorized")``."""
    reject("unauthorized")
    return error(401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})


def declared_too_large(request: Request, limit: int) -> bool:
    """True when ``Content-Length`` says more than ``limit`` bytes."""
    declared = request.headers.get("content-length")
    return declared is not None and declared.isdigit() and int(declared) > limit


async def read_body(
    request: Request, limit: int, *, timeouts: BodyTimeouts | None = None
) -> bytes | None:
    """The body, or None as soon as it passes ``limit`` bytes (the rest is never read).

    Raises:
        BodyTimeout: the client stalled or was too slow (``timeouts``, default
            :class:`~.guards.BodyTimeouts`). ClientDisconnect: the client went away.
    """
    if declared_too_large(request, limit):
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in timed_chunks(request, timeouts or BodyTimeouts()):
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


async def stream_body(
    request: Request, limit: int, *, timeouts: BodyTimeouts | None = None
) -> AsyncIterator[bytes]:
    """The body's chunks; raises :class:`OverflowError` as soon as it passes ``limit`` bytes,
    and :class:`~.guards.BodyTimeout` / ``ClientDisconnect`` as :func:`read_body` does."""
    if declared_too_large(request, limit):
        raise OverflowError(limit)
    size = 0
    async for chunk in timed_chunks(request, timeouts or BodyTimeouts()):
        size += len(chunk)
        if size > limit:
            raise OverflowError(limit)
        yield chunk


def find_model(pool: Any, query: Mapping[str, str], *, default_precision: str) -> tuple[Any, str]:
    """The loaded model for the query's ``scale`` and ``precision`` (defaults: the first loaded
    scale, ``default_precision``), and ``""``; or None and the 400 message naming what is loaded.

    Args:
        pool: the :class:`~lesrcnn_deploy.serve.engine.ModelPool`.
        query: the request's query parameters.
        default_precision: precision of a request that names none.
    """
    keys = pool.loaded()
    precision = query.get("precision", default_precision)
    scale_text = query.get("scale")
    try:
        scale = int(scale_text) if scale_text is not None else keys[0][0]
    except ValueError:
        scale = -1
    model = pool.get(scale, precision)
    if model is None:
        offered = ", ".join(f"scale={s}&precision={p}" for s, p in keys)
        return None, f"no model for scale={scale_text} precision={precision} (loaded: {offered})"
    return model, ""


def model_headers(model: Any, seconds: float) -> dict[str, str]:
    """Response headers naming the model (SHA256, scale, precision), runtime and inference time.

    Args:
        model: a :class:`~lesrcnn_deploy.serve.engine.LoadedModel`.
        seconds: inference time.
    """
    choice = getattr(model.upscaler, "runtime_choice", None)
    return {
        "X-Model-SHA256": model.sha256,
        "X-Model-Scale": str(model.key[0]),
        "X-Model-Precision": model.key[1],
        "X-Runtime": str(getattr(choice, "runtime", "ort")),
        "X-Inference-Seconds": f"{seconds:.4f}",
        "X-Inference-Ms": f"{seconds * 1000:.1f}",
        "Server-Timing": f"inference;dur={seconds * 1000:.1f}",
    }
