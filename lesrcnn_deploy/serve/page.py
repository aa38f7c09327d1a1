"""The web page at ``/``: plain HTML, CSS and JS shipped in the package (``serve/static``).

Self-contained: no CDN, no external fonts or scripts; the Content-Security-Policy allows only this
origin (and ``blob:``/``data:`` images for the results drawn in the browser), so it works offline.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

__all__ = ["page_routes"]

_FILES = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/static/app.css": ("app.css", "text/css; charset=utf-8"),
    "/static/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/static/favicon.svg": ("favicon.svg", "image/svg+xml"),
}

_CSP = (
    "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; "
    "style-src 'self'; script-src 'self'; connect-src 'self'; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'"
)


@cache
def _read(name: str) -> bytes:
    return resources.files("lesrcnn_deploy.serve").joinpath("static", name).read_bytes()


async def _file(request: Request) -> Response:
    name, media_type = _FILES[request.url.path]
    headers = {
        "Content-Security-Policy": _CSP,
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-cache",
    }
    return Response(_read(name), media_type=media_type, headers=headers)


def page_routes() -> list[Route]:
    """``GET /`` (the page) and its stylesheet, script and icon."""
    return [Route(path, _file, methods=["GET"]) for path in _FILES]
