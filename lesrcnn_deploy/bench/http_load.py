"""Loopback HTTP load for the serving benchmarks: a free port, the server's environment, a bounded
number of ``POST /v1/upscale`` requests at a fixed concurrency, percentiles."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import BenchError
from ..core.extras import require

__all__ = ["free_port", "load", "percentile", "server_env", "wait_ready"]


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_env() -> dict[str, str]:
    """The environment of a server subprocess: this checkout first on ``PYTHONPATH``."""
    root = str(Path(__file__).resolve().parents[2])
    return {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}


async def load(
    base: str, body: bytes, *, precision: str, concurrency: int, total: int
) -> tuple[list[float], dict[int, int], float]:
    """POST ``body`` ``total`` times at ``concurrency`` to ``base``'s ``/v1/upscale`` (x2 PNG).

    Returns:
        Latencies (s) of the 200 answers, answers counted by status, wall time (s).
    """
    httpx = require("httpx", "bench", what="the serving bench")
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    left = total
    url = f"{base}/v1/upscale?scale=2&precision={precision}&format=png"
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(timeout=300, limits=limits) as client:

        async def worker() -> None:
            nonlocal left
            while left > 0:
                left -= 1
                t = time.perf_counter()
                r = await client.post(url, content=body)
                statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
                if r.status_code == 200:
                    latencies.append(time.perf_counter() - t)

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - t0
    return latencies, statuses, wall


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile of ``values`` (NaN when empty)."""
    return float(np.percentile(values, q)) if values else float("nan")


def wait_ready(
    base: str, proc: subprocess.Popen[Any], *, timeout_s: float = 180.0
) -> dict[str, Any]:
    """Poll ``base``/readyz until it answers 200 (its JSON), or raise :class:`BenchError` when
    ``proc`` exits (with the end of its stderr when piped) or ``timeout_s`` passes."""
    httpx = require("httpx", "bench", what="the serving bench")
    deadline = time.monotonic() + timeout_s
    while True:
        if proc.poll() is not None:
            err = proc.stderr.read() if proc.stderr is not None else b""
            tail = (err.decode(errors="replace") if isinstance(err, bytes) else err)[-500:]
            msg = f"server exited early with {proc.returncode}: {tail.strip()}"
            raise BenchError(msg)
        if time.monotonic() > deadline:
            msg = f"server not ready in {timeout_s:g} s"
            raise BenchError(msg)
        try:
            r = httpx.get(f"{base}/readyz", timeout=2)
            if r.status_code == 200:
                ready: dict[str, Any] = r.json()
                return ready
        except httpx.TransportError:
            pass
        time.sleep(0.2)
