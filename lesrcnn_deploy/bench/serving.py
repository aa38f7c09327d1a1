"""Serving benchmark: the HTTP service under load on loopback, and the Ray folder job vs local.

Everything is bounded: one server subprocess (started and stopped here, SIGTERM), a fixed number
of requests per level, a fixed folder size. Returns a dict and a Markdown "Serving" section.

* Throughput (images/s) and p50/p99 latency of 256x256 -> x2 PNG requests on ONNX Runtime, fp32
  (and int8 at ``concurrencies``, none by default) in one server (``workers`` workers, queue
  ``max_queue``); concurrency stays within ``workers + max_queue``, so any error there is a
  failure.
* int8 per runtime: ``serve --runtime ort`` against the default server, side by side, with the
  serving efficiency against the fastest raw runner (:mod:`.serving_runtimes`).
* Overload: ``4 * max_queue`` simultaneous requests; share of 503s, whether the server survived,
  its peak RSS (sampled during the run).
* Ray: ``upscale DIR --ray`` vs ``upscale DIR`` (both as CLI subprocesses, wall time including
  start-up, and the in-job time the command reports).
"""

from __future__ import annotations

import asyncio
import re
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

from ..core.errors import BenchError
from ..core.extras import require
from ..data import encode_image, save_image
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
        ray: also run the Ray folder job comparison (needs the ``ray`` extra).
        ray_images: the two folder sizes of the Ray comparison (fixed and marginal cost are
            fitted from them).
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
    ray: bool = True
    ray_images: tuple[int, int] = (16, 48)
    runtimes: bool = True


def _serve_levels(cfg: ServingBenchConfig, body: bytes) -> dict[str, Any]:
    psutil = require("psutil", "bench", what="the serving bench")
    httpx = require("httpx", "bench", what="the serving bench")
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "lesrcnn_deploy", "serve", "--port", str(port)]
    cmd += ["--model", f"2:int8={cfg.int8}", "--model", f"2:fp32={cfg.fp32}"]
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


_SUMMARY = re.compile(r"done (\d+), skipped (\d+), failed (\d+) \(([\d.]+) s\)")
_RAN_ON = re.compile(r"runtime: (ONNX Runtime|OpenVINO)")
_RUNTIME_IDS = {"ONNX Runtime": "ort", "OpenVINO": "openvino"}


def _run_cli(args: list[str]) -> tuple[float, float, int, str]:
    """``(wall s, in-job s, images done, stderr)`` of one CLI run."""
    t = time.perf_counter()
    cp = subprocess.run(
        [sys.executable, "-m", "lesrcnn_deploy", *args],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    wall = time.perf_counter() - t
    m = _SUMMARY.search(cp.stdout + cp.stderr)
    if cp.returncode != 0 or m is None:
        msg = f"serving bench: {' '.join(args[:2])} failed ({cp.returncode}): {cp.stderr[-300:]}"
        raise BenchError(msg)
    return wall, float(m.group(4)), int(m.group(1)), cp.stderr


def _ray_vs_local(cfg: ServingBenchConfig) -> dict[str, Any]:
    """The Ray folder job on the default runtime (each actor resolves it), then the local command
    on the runtime the actors reported, on two folder sizes; outputs compared byte for byte.

    Each command's in-job time is fitted as ``fixed + marginal x images`` from the two sizes: the
    fixed cost (Ray: starting Ray and the actors) and the marginal cost per image separately.
    """
    small, large = cfg.ray_images
    runs: dict[str, dict[int, tuple[float, float]]] = {"local": {}, "ray": {}}
    same = True
    runtime = "ort"
    with tempfile.TemporaryDirectory(prefix="lesrcnn-raybench-") as tmp:
        rng = np.random.default_rng(0)
        for n in (small, large):
            folder = Path(tmp) / f"in{n}"
            for i in range(n):
                img = rng.integers(0, 255, (cfg.size, cfg.size, 3), dtype=np.uint8)
                save_image(folder / f"im{i:03d}.png", img)
            common = [str(folder), "--scale", "2", "--model", str(cfg.int8), "--quiet"]
            ray_wall, ray_job, _, ray_err = _run_cli(
                ["upscale", *common, "--output", f"{tmp}/ray{n}", "--ray"]
            )
            ran = sorted({_RUNTIME_IDS[name] for name in _RAN_ON.findall(ray_err)})
            if len(ran) != 1:
                msg = f"serving bench: the Ray actors ran on {ran or 'no named runtime'}"
                raise BenchError(msg)
            runtime = ran[0]
            local_wall, local_job, _, _ = _run_cli(
                ["upscale", *common, "--output", f"{tmp}/local{n}", "--runtime", runtime]
            )
            runs["ray"][n], runs["local"][n] = (ray_wall, ray_job), (local_wall, local_job)
            local_files = sorted((Path(tmp) / f"local{n}").glob("*.png"))
            ray_files = sorted((Path(tmp) / f"ray{n}").glob("*.png"))
            same = same and [p.name for p in local_files] == [p.name for p in ray_files]
            same = same and all(
                a.read_bytes() == b.read_bytes()
                for a, b in zip(local_files, ray_files, strict=True)
            )
    out: dict[str, Any] = {"images": [small, large], "size": cfg.size, "runtime": runtime}
    for name, by_n in runs.items():
        marginal = (by_n[large][1] - by_n[small][1]) / (large - small)
        out[name] = {
            "wall_s": {str(n): w for n, (w, _) in by_n.items()},
            "job_s": {str(n): j for n, (_, j) in by_n.items()},
            "fixed_s": by_n[small][1] - marginal * small,
            "marginal_s_per_image": marginal,
        }
    out["marginal_ratio"] = out["ray"]["marginal_s_per_image"] / max(
        1e-9, out["local"]["marginal_s_per_image"]
    )
    out["identical_outputs"] = same
    return out


def run_serving_bench(cfg: ServingBenchConfig) -> dict[str, Any]:
    """Run the serving levels, the overload burst and (optionally) the Ray comparison.

    Returns:
        ``{"config", "levels", "overload", "ray"}`` (``ray`` is None when skipped); see the module
        docstring. Raises ``MissingExtraError`` without the ``serve`` extra.
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
    ray_ok = cfg.ray
    if ray_ok:
        try:
            require("ray", "ray", what="the serving bench's Ray comparison")
        except Exception:
            ray_ok = False
    out["ray"] = _ray_vs_local(cfg) if ray_ok else None
    seconds["Ray folder job"] = time.perf_counter() - t0 - sum(seconds.values())
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
    ray = res.get("ray")
    if ray and "marginal_ratio" in ray:
        small, large = ray["images"]
        rt = ray.get("runtime", "ort")
        lines += [
            "",
            f"Folder job, {small} and {large} images {ray['size']}x{ray['size']} -> x2 int8 "
            "(`upscale DIR --ray` on the default runtime, local Ray on this machine, actors "
            f"sized to fit, vs `upscale DIR --runtime {rt}`, the runtime the actors reported); "
            "each command's in-job time fitted as fixed + marginal x images:",
            "",
            f"| Command | Job {small} (s) | Job {large} (s) | Fixed (s) | Marginal (s/image) |",
            "|---|---:|---:|---:|---:|",
        ]
        for name, key in (("local", "local"), ("--ray", "ray")):
            r = ray[key]
            lines.append(
                f"| {name} | {r['job_s'][str(small)]:.1f} | {r['job_s'][str(large)]:.1f} | "
                f"{r['fixed_s']:.1f} | {r['marginal_s_per_image']:.3f} |"
            )
        same = "identical" if ray["identical_outputs"] else "DIFFERENT"
        lines += [
            "",
            f"Ray's marginal cost per image: {ray['marginal_ratio']:.2f}x local's (rows grouped "
            f"into batches of about a second of work); outputs {same}.",
        ]
    return "\n".join(lines) + "\n"
