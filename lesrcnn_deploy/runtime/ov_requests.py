"""OpenVINO's own concurrency: a pool of asynchronous infer requests per compiled model.

One compiled model runs as many requests at once as it has inference *streams*
(``NUM_STREAMS``, or what ``PERFORMANCE_HINT=THROUGHPUT`` picks; its
``OPTIMAL_NUMBER_OF_INFER_REQUESTS`` says how many). :class:`RequestPool` keeps that many
infer requests and lends them to any number of caller threads:

* :meth:`RequestPool.infer` runs one input (a free request, ``start_async``, ``wait``);
* :func:`run_many` starts a sequence of inputs (the tiles of one image) on every free request at
  once and hands each output to a callback as it completes, in the caller's thread.

No deadlock between callers sharing a pool: a caller blocks for a free request only while it has
none in flight; a caller with requests in flight takes more only when one is free, otherwise it
first finishes its oldest one (which it alone waits for), so every lent request comes back.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import numpy as np

__all__ = ["RequestPool", "run_many"]

K = TypeVar("K")


class RequestPool:
    """Infer requests of one compiled model, created on demand up to ``size``, shared by threads.

    Args:
        compiled: an ``openvino.CompiledModel``.
        size: requests at most (default: the model's ``OPTIMAL_NUMBER_OF_INFER_REQUESTS``).
    """

    def __init__(self, compiled: Any, size: int | None = None) -> None:
        self.compiled = compiled
        if size is None:
            size = int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
        self.size = max(1, size)
        self._idle: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._created = 0

    def take(self, *, block: bool) -> Any:
        """A free request (a new one while fewer than ``size`` exist); None if none is free and
        not ``block``."""
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            pass
        with self._lock:
            if self._created < self.size:
                self._created += 1
                return self.compiled.create_infer_request()
        return self._idle.get() if block else None

    def give(self, request: Any) -> None:
        """Return a request taken with :meth:`take` (after its ``wait``)."""
        self._idle.put(request)

    def infer(self, x: np.ndarray) -> np.ndarray:
        """Run one input on a free request (thread-safe); a copy of the first output."""
        request = self.take(block=True)
        try:
            request.start_async({0: x}, share_inputs=True)
            request.wait()
            return np.array(request.get_output_tensor(0).data)
        finally:
            self.give(request)


def run_many(
    items: Iterable[tuple[K, np.ndarray]],
    pool_of: Callable[[np.ndarray], RequestPool],
    *,
    sink: Callable[[K, np.ndarray], None],
) -> None:
    """Run every ``(key, x)`` of ``items`` as parallel infer requests; ``sink(key, y)`` per output.

    ``sink`` is called in the caller's thread, oldest input first, with a view of the request's
    output that is reused afterwards: copy what you keep. ``items`` is read lazily (at most the
    pool's size of inputs are held); an exception from ``items``, an inference or ``sink`` stops
    the run after the requests in flight have finished, and propagates.

    Args:
        items: ``(key, float32 NCHW input)`` pairs, e.g. the tiles of an image.
        pool_of: the request pool for an input (by its shape).
        sink: receives each ``(key, output)``.
    """
    flight: deque[tuple[K, RequestPool, Any, np.ndarray]] = deque()

    def finish() -> None:
        key, pool, request, _ = flight.popleft()
        try:
            request.wait()
            sink(key, request.get_output_tensor(0).data)
        finally:
            pool.give(request)

    try:
        for key, x in items:
            pool = pool_of(x)
            request = pool.take(block=not flight)
            while request is None:
                finish()
                request = pool.take(block=not flight)
            flight.append((key, pool, request, x))  # x stays alive while the request reads it
            request.start_async({0: x}, share_inputs=True)
        while flight:
            finish()
    finally:
        while flight:  # after an error: let the started requests end before lending them again
            _, pool, request, _ = flight.popleft()
            try:
                request.wait()
            except Exception:  # the first error is the one raised
                pass
            finally:
                pool.give(request)
