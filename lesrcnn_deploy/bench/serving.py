"""Serving benchmark: the HTTP service under load on loopback.

Everything is bounded: one server subprocess (started and stopped here, SIGTERM), a fixed number
of requests per level. Returns a dict and a Markdown "Serving" section.

* Throughput (images/s) and p50/p99 latency of 256x256 -> x2 PNG requests on ONNX Runtime, fp32
  (and int8 at ``concurrencies``, none by default) in one server (``workers`` workers, queue
  ``max_queue``); concurrency stays within ``workers + max_queue``, so any error there is a
  failure.
* int8 per runtime: ``serve --runtime ort`` against the default server, side by side, with the
  serving efficiency against the fastest raw runner (:mod:`.serving_runtimes`).
* Overload: ``4 * max_queue`` simultaneous requests; share of 503s, whether the server survived,
  its peak RSS (sampled during the run).

The Ray folder job vs the local batch is its own section (:mod:`.ray_folder`).
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..core.extras import require
from ..data import encode_image
from .http_load import free_port as _free_port
from .http_load import load as _load
from .http_load import percentile as _percentile
from .http_load import server_env as _env
from .http_load import wait_ready

__all__ = ["ServingBenchConfig", "format_serving", "run_serving_bench"]


@dataclass(frozen=True)
class ServingBenchConfig:
    """Options of the serving bench.

    Attributes:
        int8, fp32: the x2 models.
        size: input side in pixels (square RGB).
        concurrencies: client concurrency levels of the int8 model on ONNX Runtime (default none:
            the per-runtime section measures int8).
        fp32_concurrencies: levels of the fp32 model (it is the slow reference: 1 and the
            worker count, where its throughput saturates).
        requests: requests per (precision, concurrency) level.
        workers: server inference workers; each runs ONNX Runtime with 1 thread.
        max_queue: server queue limit; the overload level is ``4 * max_queue`` at once.
        runtimes: also run the per-runtime int8 section (:mod:`.serving_runtimes`).
    """

    int8: Path
    fp32: Path
    size: int = 256
    concurrencies: tuple[int, ...] = ()
    fp32_concurrencies: tuple[int, ...] = (1, 2)
    requests: int = 6
    workers: int = 2
    max_queue: int = 8
    runtimes: bool = True


def _serve_levels(cfg: ServingBenchConfig, body: bytes) -> dict[str, Any]:
    psutil = require("psutil", "bench", what="the serving bench")
    httpx = require("httpx", "bench", what="the serving bench")
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "lesrcnn_deploy", "serve", "--port", str(port)]
    cmd += ["--model", str(cfg.int8), "--model", str(cfg.fp32)]
    cmd += ["--runtime", "ort", "--workers", str(cfg.workers), "--threads", "1"]
    cmd += ["--max-queue", str(cfg.max_queue), "--log-level", "warning"]
    proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = {"rss": 0}
    stop = threading.Event()

    def sample() -> None:
        p = psutil.Process(proc.pid)
        while not stop.is_set():
            try:
                peak["rss"] = max(peak["rss"], p.memory_info().rss)
            except psutil.Error:
                return
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        wait_ready(base, proc, timeout_s=120)
        rows = []
        for precision in ("int8", "fp32"):
            asyncio.run(_load(base, body, precision=precision, concurrency=1, total=2))  # warm-up
            for c in cfg.concurrencies if precision == "int8" else cfg.fp32_concurrencies:
                lat, statuses, wall = asyncio.run(
                    _load(base, body, precision=precision, concurrency=c, total=cfg.requests)
                )
                ok = statuses.get(200, 0)
                rows.append(
                    {
                        "precision": precision,
                        "concurrency": c,
                        "requests": cfg.requests,
                        "errors": cfg.requests - ok,
                        "images_per_s": ok / wall,
                        "p50_ms": 1000 * _percentile(lat, 50),
                        "p99_ms": 1000 * _percentile(lat, 99),
                    }
                )
        burst = 4 * cfg.max_queue
        rss_before = peak["rss"]
        _, statuses, wall = asyncio.run(
            _load(base, body, precision="int8", concurrency=burst, total=burst)
        )
        alive = proc.poll() is None and httpx.get(f"{base}/healthz").status_code == 200
        overload = {
            "concurrent": burst,
            "queue_limit": cfg.max_queue,
            "capacity": cfg.workers + cfg.max_queue,
            "statuses": {str(k): v for k, v in sorted(statuses.items())},
            "share_503": statuses.get(503, 0) / burst,
            "alive": alive,
            "wall_s": wall,
            "peak_rss_mb_before": rss_before / 2**20,
        }
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
        stop.set()
        sampler.join()
    overload["peak_rss_mb"] = peak["rss"] / 2**20
    overload["exit_code_after_sigterm"] = code
    return {"levels": rows, "overload": overload}


def run_serving_bench(cfg: ServingBenchConfig) -> dict[str, Any]:
    """Run the serving levels, the overload burst and (optionally) the per-runtime section.

    Returns:
        ``{"config", "levels", "overload", "runtimes", "seconds"}``; see the module docstring.
        Raises ``MissingExtraError`` without the ``serve`` extra.
    """
    require("uvicorn", "serve", what="the serving bench")
    rng = np.random.default_rng(0)
    body = encode_image(rng.integers(0, 255, (cfg.size, cfg.size, 3), dtype=np.uint8), "png")
    out: dict[str, Any] = {
        "config": {
            "size": cfg.size,
            "requests": cfg.requests,
            "concurrencies": list(cfg.concurrencies),
            "fp32_concurrencies": list(cfg.fp32_concurrencies),
            "workers": cfg.workers,
            "max_queue": cfg.max_queue,
            "int8": str(cfg.int8),
            "fp32": str(cfg.fp32),
        }
    }
    t0 = time.perf_counter()
    out.update(_serve_levels(cfg, body))
    seconds = {"serving levels": time.perf_counter() - t0}
    out["runtimes"] = None
    if cfg.runtimes:
        from .serving_runtimes import RuntimeServingConfig, run_runtime_serving

        with tempfile.TemporaryDirectory(prefix="lesrcnn-servebench-") as tmp:
            rcfg = RuntimeServingConfig(int8=cfg.int8)
            out["runtimes"] = run_runtime_serving(rcfg, workdir=Path(tmp))
        seconds["serving per runtime"] = time.perf_counter() - t0 - sum(seconds.values())
    out["seconds"] = seconds
    return out


def format_serving(res: dict[str, Any]) -> str:
    """The Markdown "Serving" section of a :func:`run_serving_bench` result."""
    c = res["config"]
    lines = [
        "## Serving (`lesrcnn-deploy serve`, loopback)",
        "",
        f"{c['size']}x{c['size']} RGB PNG -> x2 PNG, {c['requests']} requests per level, server "
        f"with {c['workers']} workers x 1 ORT thread, queue {c['max_queue']}; latency is the "
        "client's (request sent to response read). fp32 is the slow reference, measured at "
        "concurrency 1 and at the worker count (where its throughput saturates).",
        "",
        "| Precision | Concurrency | Errors | Images/s | p50 (ms) | p99 (ms) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in res["levels"]:
        lines.append(
            f"| {r['precision']} | {r['concurrency']} | {r['errors']}/{r['requests']} | "
            f"{r['images_per_s']:.2f} | {r['p50_ms']:.0f} | {r['p99_ms']:.0f} |"
        )
    o = res["overload"]
    st = ", ".join(f"{k}: {v}" for k, v in o["statuses"].items())
    lines += [
        "",
        f"Overload: {o['concurrent']} simultaneous requests (4x the queue limit {o['queue_limit']},"
        f" capacity {o['capacity']}): {st}; 503 share {100 * o['share_503']:.0f} %; server "
        f"{'alive' if o['alive'] else 'DEAD'} afterwards; peak RSS {o['peak_rss_mb']:.0f} MB; "
        f"exit code after SIGTERM {o['exit_code_after_sigterm']}.",
    ]
    per_runtime = res.get("runtimes")
    if per_runtime:
        from .serving_runtimes import format_runtime_serving

        lines += ["", format_runtime_serving(per_runtime).rstrip("\n")]
    return "\n".join(lines) + "\n"
