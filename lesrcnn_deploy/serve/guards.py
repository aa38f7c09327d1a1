"""Time bounds against slow clients: a header-read timeout and a request-body timeout (408).

uvicorn bounds an idle keep-alive connection (``timeout_keep_alive``), the connections and
requests at once (``limit_concurrency``, then 503) and the shutdown (``timeout_graceful_shutdown``),
but nothing bounds a client that sends its request slowly: neither h11 nor httptools has a
header timeout, and the ASGI app waits for body bytes as long as they trickle in. So, as Apache's
``mod_reqtimeout`` does:

* **headers** (:func:`guarded_protocol`, at the protocol level): a connection whose request
  headers are not complete ``header_timeout`` seconds after it opened (or after its previous
  response) gets ``408`` and is closed. A request being computed is never cut by it.
* **shutdown** (:class:`CutOnShutdown`): uvicorn cancels the requests still running
  ``timeout_graceful_shutdown`` seconds after SIGTERM; such a request ends with one log line and
  a 503 when its answer had not started (an upload's file is deleted on the way), not with
  uvicorn's "Exception in ASGI application" traceback.
* **body** (:func:`timed_chunks`, in the app): ``408`` when no byte arrived for ``idle`` seconds,
  or when the body arrives slower than ``min_rate`` bytes/s after its first ``idle`` seconds (a
  body of ``n`` bytes may take ``idle + n / min_rate`` seconds). A client sending one byte a
  second is cut after about ``idle`` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

__all__ = ["BodyTimeout", "BodyTimeouts", "CutOnShutdown", "guarded_protocol", "timed_chunks"]


class BodyTimeout(Exception):
    """The client stalled or sent the request body too slowly (answered 408)."""


@dataclass(frozen=True)
class BodyTimeouts:
    """How long a request body may take.

    Attributes:
        idle: seconds without a byte before 408.
        min_rate: bytes/s the body must average after its first ``idle`` seconds.
    """

    idle: float = 20.0
    min_rate: int = 500


async def timed_chunks(request: Request, timeouts: BodyTimeouts) -> AsyncIterator[bytes]:
    """``request.stream()`` with :class:`BodyTimeouts` applied.

    Raises:
        BodyTimeout: the client stalled or was too slow (the rest is never read).
        ClientDisconnect: the client went away.
    """
    loop = asyncio.get_running_loop()
    chunks = request.stream().__aiter__()
    start = last = loop.time()
    received = 0
    while True:
        now = loop.time()
        stalled_at = last + timeouts.idle
        slow_at = start + timeouts.idle + received / timeouts.min_rate
        wait = min(stalled_at, slow_at) - now
        try:
            if wait <= 0:
                raise TimeoutError
            chunk = await asyncio.wait_for(chunks.__anext__(), wait)
        except StopAsyncIteration:
            return
        except TimeoutError:
            if stalled_at <= slow_at:
                msg = f"request body stalled: no byte for {timeouts.idle:g} s"
            else:
                msg = (
                    f"request body too slow: {received} bytes in {loop.time() - start:.0f} s "
                    f"(at least {timeouts.min_rate} bytes/s after the first {timeouts.idle:g} s)"
                )
            raise BodyTimeout(msg) from None
        received += len(chunk)
        last = loop.time()
        yield chunk


def _timeout_response(seconds: float) -> bytes:
    text = f"request headers not complete within {seconds:g} s"
    body = json.dumps({"error": text, "status": 408}).encode()
    head = (
        "HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
        f"connection: close\r\ncontent-length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def guarded_protocol(
    base: type[asyncio.Protocol],
    *,
    header_timeout: float,
    on_timeout: Callable[[], None] | None = None,
) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol class ``base`` with a header-read timeout.

    Args:
        base: e.g. ``uvicorn.protocols.http.auto.AutoHTTPProtocol`` (h11 or httptools).
        header_timeout: seconds a connection may take to send complete request headers, from
            its opening or from its previous response.
        on_timeout: called once per connection cut (e.g. a metrics counter).

    Returns:
        A subclass to pass as ``uvicorn.Config(http=...)``.
    """
    answer = _timeout_response(header_timeout)
    parent: Any = base

    class HeaderTimeoutProtocol(parent):
        _guard: asyncio.TimerHandle | None = None
        _guard_cycle: Any = None

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._arm()

        def _arm(self) -> None:
            self._guard_cycle = self.cycle
            self._guard = self.loop.call_later(header_timeout, self._expire)

        def _disarm(self) -> None:
            if self._guard is not None:
                self._guard.cancel()
                self._guard = None

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self._guard is not None and self.cycle is not self._guard_cycle:
                self._disarm()  # the headers of a new request are complete

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self._disarm()
                self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _expire(self) -> None:
            self._guard = None
            cycle = self.cycle
            busy = cycle is not self._guard_cycle or (
                cycle is not None and not cycle.response_complete
            )
            if busy or self.transport.is_closing():
                return  # a request is being read or computed: never cut here
            self.transport.write(answer)
            self.transport.close()
            if on_timeout is not None:
                on_timeout()

    HeaderTimeoutProtocol.__name__ = f"HeaderTimeout{base.__name__}"
    return HeaderTimeoutProtocol


class CutOnShutdown:
    """ASGI middleware: a request cancelled by the server's shutdown ends quietly (see above).

    Args:
        app: the ASGI app.
        on_cut: called once per request cut (e.g. a metrics counter).
    """

    def __init__(self, app: Any, on_cut: Callable[[], None] | None = None) -> None:
        self.app = app
        self.on_cut = on_cut

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Any) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except asyncio.CancelledError:  # the graceful-shutdown timeout passed: cut on purpose
            logging.getLogger("uvicorn.error").warning(
                "cut %s %s at shutdown (--shutdown-timeout passed)",
                scope.get("method", ""),
                scope.get("path", ""),
            )
            if self.on_cut is not None:
                self.on_cut()
            if not started:
                body = json.dumps({"error": "server shutting down", "status": 503}).encode()
                headers = [(b"content-type", b"application/json"), (b"connection", b"close")]
                with contextlib.suppress(Exception):
                    await send({"type": "http.response.start", "status": 503, "headers": headers})
                    await send({"type": "http.response.body", "body": body})
