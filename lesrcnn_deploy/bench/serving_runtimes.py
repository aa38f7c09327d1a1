"""Serving per runtime: ``serve --runtime ort`` against the default server (``auto``), side by side.

Both servers run at once on loopback (each started and stopped here), holding the x2 int8 model;
every measurement alternates between them, so that a busy machine slows both alike and the
ratios hold even when the absolute numbers do not:

* levels: 256x256 -> x2 PNG requests at concurrency 1, 2, 4, 8 (``requests`` each), images/s,
  p50/p99, errors, the two servers taking turns at each level;
* raw rate: the fastest runner on the same work without HTTP, PNG or tiling (whole 256x256
  inputs; ONNX Runtime one call after the other, OpenVINO on two streams with two requests in
  flight), measured between the levels; efficiency = the default server's best images/s / it;
* the same tiled work without HTTP or PNG (``Upscaler.upscale`` from 4 threads), to split the
  server's overhead from the tiling's;
* side by side: the same bounded load (``hey -z 8s -c 4`` when ``hey`` is installed, else an
  equal time-bounded httpx load) on each server in turn, ``rounds`` times; the ratio per round.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .http_load import free_port, load, percentile, server_env, wait_ready

__all__ = ["RuntimeServingConfig", "format_runtime_serving", "run_runtime_serving"]


@dataclass(frozen=True)
class RuntimeServingConfig:
    """Options of the per-runtime serving bench.

    Attributes:
        int8: the x2 int8 model.
        size: input side in pixels.
        concurrencies: client concurrency levels.
        requests: requests per level and server.
        ort_workers, ort_threads: ``serve --runtime ort`` options (its best serving set-up on two
            cores: two workers of one thread each).
        seconds: duration of one side-by-side load.
        load_concurrency: clients of the side-by-side load.
        rounds: side-by-side rounds (each runs both servers once).
    """

    int8: Path
    size: int = 256
    concurrencies: tuple[int, ...] = (1, 2, 4, 8)
    requests: int = 8
    ort_workers: int = 2
    ort_threads: int = 1
    seconds: float = 8.0
    load_concurrency: int = 4
    rounds: int = 2


def _start(cfg: RuntimeServingConfig, extra: list[str]) -> tuple[subprocess.Popen[Any], str]:
    port = free_port()
    cmd = [sys.executable, "-m", "lesrcnn_deploy", "serve", "--port", str(port)]
    cmd += ["--model", str(cfg.int8), "--max-queue", "16", "--log-level", "warning"]
    proc = subprocess.Popen(
        [*cmd, *extra], env=server_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    return proc, f"http://127.0.0.1:{port}"


def _stop(proc: subprocess.Popen[Any]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _level(base: str, body: bytes, c: int, n: int) -> dict[str, Any]:
    lat, statuses, wall = asyncio.run(load(base, body, precision="int8", concurrency=c, total=n))
    ok = statuses.get(200, 0)
    return {
        "concurrency": c,
        "requests": n,
        "errors": n - ok,
        "images_per_s": ok / wall,
        "p50_ms": 1000 * percentile(lat, 50),
        "p99_ms": 1000 * percentile(lat, 99),
    }


def _raw_rates(cfg: RuntimeServingConfig, x: np.ndarray, seconds: float) -> dict[str, float]:
    """Images/s of each runner on whole ``x`` inputs, no HTTP, no PNG, no tiling."""
    from ..runtime.dispatch import open_runner

    rates: dict[str, float] = {}
    ort = open_runner(cfg.int8, runtime="ort", threads=2)
    ort(x)
    n, t = 0, time.perf_counter()
    while time.perf_counter() - t < seconds:
        ort(x)
        n += 1
    rates["ort"] = n / (time.perf_counter() - t)
    del ort
    try:
        ov = open_runner(cfg.int8, runtime="openvino", threads=2, streams=2)
    except Exception:  # OpenVINO not installed: ONNX Runtime is the only runner
        return rates
    count = {"n": 0}

    def sink(_: int, y: np.ndarray) -> None:
        count["n"] += 1

    run_many = ov.run_many  # type: ignore[attr-defined]
    run_many(((i, x) for i in range(2)), sink)  # warm-up, both requests
    count["n"] = 0
    t = time.perf_counter()
    deadline = t + seconds

    def items() -> Any:
        i = 0
        while time.perf_counter() < deadline:
            yield i, x
            i += 1

    run_many(items(), sink)
    rates["openvino"] = count["n"] / (time.perf_counter() - t)
    return rates


_HEY_RPS = re.compile(r"Requests/sec:\s+([\d.]+)")
_HEY_STATUS = re.compile(r"\[(\d{3})\]\s+(\d+) responses")


def _tiled_rate(cfg: RuntimeServingConfig, img: np.ndarray, runtime: str, seconds: float) -> float:
    """Images/s of the server's own inference work without HTTP or PNG: ``Upscaler.upscale`` (tiled
    as the server tiles, OpenVINO on the server's streams) from 4 threads at once."""
    import threading

    from ..core.vocab import DEFAULT_STREAMS
    from ..upscale.api import Upscaler

    up = Upscaler(2, "int8", model=cfg.int8, runtime=runtime, threads=2, streams=DEFAULT_STREAMS)
    up.upscale(img)
    done = [0]
    deadline = time.perf_counter() + seconds

    def work() -> None:
        while time.perf_counter() < deadline:
            up.upscale(img)
            done[0] += 1

    threads = [threading.Thread(target=work) for _ in range(4)]
    t = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return done[0] / (time.perf_counter() - t)


def _bounded_load(
    base: str, body_path: Path, body: bytes, cfg: RuntimeServingConfig
) -> dict[str, Any]:
    url = f"{base}/v1/upscale?scale=2&precision=int8&format=png"
    hey = shutil.which("hey")
    if hey is not None:
        cmd = [hey, "-z", f"{cfg.seconds:g}s", "-c", str(cfg.load_concurrency), "-m", "POST"]
        cmd += ["-T", "image/png", "-D", str(body_path), "-t", "300", url]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False).stdout
        statuses = {int(k): int(v) for k, v in _HEY_STATUS.findall(out)}
        ok = statuses.get(200, 0)
        m = _HEY_RPS.search(out)
        rps = float(m.group(1)) if m else 0.0
        # hey's Requests/sec counts every answer: scale it to the 200s
        total = sum(statuses.values())
        return {
            "tool": "hey",
            "ok": ok,
            "errors": total - ok,
            "images_per_s": rps * ok / total if total else 0.0,
        }
    n = max(1, int(cfg.seconds * 2))
    _, statuses, wall = asyncio.run(
        load(base, body, precision="int8", concurrency=cfg.load_concurrency, total=n)
    )
    ok = statuses.get(200, 0)
    return {"tool": "httpx", "ok": ok, "errors": n - ok, "images_per_s": ok / wall}


def run_runtime_serving(cfg: RuntimeServingConfig, *, workdir: Path) -> dict[str, Any]:
    """Run both servers side by side; see the module docstring.

    Returns:
        ``{"config", "servers", "levels", "raw", "efficiency", "side_by_side"}``.
    """
    from ..data import encode_image

    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (cfg.size, cfg.size, 3), dtype=np.uint8)
    body = encode_image(img, "png")
    body_path = workdir / "body.png"
    body_path.write_bytes(body)
    x = (img.transpose(2, 0, 1)[None].astype(np.float32) / 255).copy()
    ort_args = ["--runtime", "ort", "--workers", str(cfg.ort_workers)]
    ort_args += ["--threads", str(cfg.ort_threads)]
    servers = {"ort": _start(cfg, ort_args), "default": _start(cfg, [])}
    try:
        ready = {name: wait_ready(base, proc) for name, (proc, base) in servers.items()}
        info = {
            name: {
                "runtime": r["models"][0]["runtime"],
                "note": r["models"][0].get("runtime_note", ""),
                "workers": r.get("workers"),
                "streams": r["models"][0].get("streams"),
            }
            for name, r in ready.items()
        }
        for _, base in servers.values():
            _level(base, body, 2, 2)  # warm-up
        levels: list[dict[str, Any]] = []
        raw: dict[str, float] = {}
        tiled = 0.0
        for i, c in enumerate(cfg.concurrencies):
            for name, (_, base) in servers.items():
                levels.append({"server": name, **_level(base, body, c, cfg.requests)})
            if i == 1:  # the raw rates, between the levels (same machine state)
                raw = _raw_rates(cfg, x, seconds=3.0)
                tiled = _tiled_rate(cfg, img, info["default"]["runtime"], seconds=3.0)
        rounds = []
        for _ in range(cfg.rounds):
            row: dict[str, Any] = {
                name: _bounded_load(base, body_path, body, cfg)
                for name, (_, base) in servers.items()
            }
            ort_rate = row["ort"]["images_per_s"]
            row["ratio"] = row["default"]["images_per_s"] / ort_rate if ort_rate else float("nan")
            rounds.append(row)
    finally:
        for proc, _ in servers.values():
            _stop(proc)
    best_default = max(r["images_per_s"] for r in levels if r["server"] == "default")
    from ..core.vocab import default_tile
    from ..upscale.tiling import receptive_field, tile_windows

    tile = default_tile(2, info["default"]["runtime"])
    wins = tile_windows(cfg.size, tile, overlap=receptive_field(2))
    side = wins[0].stop - wins[0].start
    fastest = max(raw, key=lambda k: raw[k]) if raw else ""
    return {
        "config": {
            "size": cfg.size,
            "requests": cfg.requests,
            "ort_workers": cfg.ort_workers,
            "ort_threads": cfg.ort_threads,
            "seconds": cfg.seconds,
            "load_concurrency": cfg.load_concurrency,
        },
        "servers": info,
        "levels": levels,
        "raw": raw,
        "fastest": fastest,
        "efficiency": best_default / raw[fastest] if fastest else float("nan"),
        "tiling": {
            "tile": tile,
            "windows": len(wins) ** 2,
            "window": side,
            "pixels": (len(wins) * side / cfg.size) ** 2,
        },
        "tiled_rate": tiled,
        "efficiency_tiled": best_default / tiled if tiled else float("nan"),
        "side_by_side": rounds,
    }


def format_runtime_serving(res: dict[str, Any]) -> str:
    """The Markdown sub-section of :func:`run_runtime_serving`."""
    c = res["config"]
    s = res["servers"]
    d = s["default"]
    lines = [
        "### Serving per runtime (int8, side by side)",
        "",
        f"`serve --runtime ort --workers {c['ort_workers']} --threads {c['ort_threads']}` and the "
        f"default `serve` ({d['runtime']}, {d['workers']} workers"
        + (f", {d['streams']} streams" if d.get("streams") else "")
        + f"; {d['note']}) run at once, taking turns at each level; {c['size']}x{c['size']} RGB "
        f"PNG -> x2 PNG, {c['requests']} requests per level and server.",
        "",
        "| Server | Runtime | Concurrency | Errors | Images/s | p50 (ms) | p99 (ms) |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in res["levels"]:
        rt = s[r["server"]]["runtime"]
        lines.append(
            f"| {r['server']} | {rt} | {r['concurrency']} | {r['errors']}/{r['requests']} | "
            f"{r['images_per_s']:.2f} | {r['p50_ms']:.0f} | {r['p99_ms']:.0f} |"
        )
    raw = ", ".join(f"{k} {v:.2f}" for k, v in res["raw"].items())
    t = res["tiling"]
    n = t["windows"]
    cut = "one call" if n == 1 else f"{n} windows of {t['window']}x{t['window']}"
    lines += [
        "",
        f"Raw runner rate on whole {c['size']}x{c['size']} inputs (no HTTP, PNG or tiling), "
        f"images/s: {raw}. Serving efficiency (default server's best images/s / fastest raw "
        f"rate, {res['fastest']}): **{res['efficiency']:.2f}**. The server tiles as `upscale` "
        f"does (`--tile {t['tile']}`, the x2 default on {d['runtime']}: a {c['size']}x{c['size']} "
        f"image is {cut}, "
        f"{t['pixels']:.2f}x the pixels); the "
        f"same tiled work without HTTP or PNG (`Upscaler.upscale` from 4 threads on the default "
        f"runtime) runs at {res.get('tiled_rate', float('nan')):.2f} images/s: efficiency "
        f"against it {res.get('efficiency_tiled', float('nan')):.2f}.",
        "",
        f"Side by side, the same bounded load on each server in turn (`hey -z {c['seconds']:g}s "
        f"-c {c['load_concurrency']}`):",
        "",
        "| Round | ort images/s | default images/s | errors (ort/default) | default / ort |",
        "|---:|---:|---:|---:|---:|",
    ]
    for i, r in enumerate(res["side_by_side"], 1):
        lines.append(
            f"| {i} | {r['ort']['images_per_s']:.2f} | {r['default']['images_per_s']:.2f} | "
            f"{r['ort']['errors']}/{r['default']['errors']} | **{r['ratio']:.2f}x** |"
        )
    return "\n".join(lines) + "\n"
