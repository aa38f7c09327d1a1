"""The server on the runtime it is told to use: ``serve --runtime``, OpenVINO's streams and async
infer requests, the tiles of one image as parallel requests, same bytes as the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("uvicorn")
pytest.importorskip("starlette")
pytest.importorskip("openvino")

from starlette.testclient import TestClient  # noqa: E402

from lesrcnn_deploy.bench.http_load import free_port, wait_ready  # noqa: E402
from lesrcnn_deploy.cli import main  # noqa: E402
from lesrcnn_deploy.data import encode_image  # noqa: E402
from lesrcnn_deploy.models import shipped  # noqa: E402
from lesrcnn_deploy.runtime.ov import OpenVinoRunner  # noqa: E402
from lesrcnn_deploy.serve.app import create_app  # noqa: E402
from lesrcnn_deploy.serve.config import ServeConfig  # noqa: E402
from lesrcnn_deploy.serve.engine import ModelPool  # noqa: E402
from lesrcnn_deploy.upscale.api import Upscaler  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _png(h: int, w: int, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    return encode_image(rng.integers(0, 255, (h, w, 3), dtype=np.uint8), "png")


def _serve(runtime: str) -> tuple[subprocess.Popen[Any], str]:
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    cmd = [sys.executable, "-m", "lesrcnn_deploy", "serve", "--port", str(port)]
    cmd += ["--model", str(shipped(2).path), "--runtime", runtime, "--threads", "2"]
    cmd += ["--log-level", "warning"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return proc, f"http://127.0.0.1:{port}"


@pytest.mark.parametrize(("runtime", "name"), [("openvino", "OpenVINO"), ("ort", "ONNX Runtime")])
def test_serve_passes_runtime_through(runtime: str, name: str, tmp_path: Path) -> None:
    proc, base = _serve(runtime)
    try:
        ready = wait_ready(base, proc, timeout_s=120)
        (model,) = ready["models"]
        assert model["runtime"] == runtime and model["runtime_requested"] == runtime
        assert model["runtime_note"] == f"runtime: {name} (forced)"
        assert ("streams" in model) == (runtime == "openvino")
        # OpenVINO: two streams on two threads, two workers per stream; ORT: --workers (1)
        assert ready["workers"] == (4 if runtime == "openvino" else 1)
        body = _png(40, 36)
        r = httpx.post(f"{base}/v1/upscale?scale=2", content=body, timeout=120)
        assert r.status_code == 200, r.text
        assert r.headers["x-runtime"] == runtime
        metrics = httpx.get(f"{base}/metrics", timeout=10).text
        want = (
            f'lesrcnn_model_runtime_info{{precision="int8",requested="{runtime}",'
            f'runtime="{runtime}",scale="2"}} 1.0'
        )
        assert want in metrics
        src = tmp_path / "in.png"
        src.write_bytes(body)
        out = tmp_path / "out.png"
        argv = ["upscale", str(src), "--model", str(shipped(2).path), "--output", str(out)]
        argv += ["--runtime", runtime, "--threads", "2", "--quiet", "--strip-metadata"]
        assert main(argv) == 0
        assert r.content == out.read_bytes()  # the CLI's bytes, on the same runtime
    finally:
        proc.terminate()
        assert proc.wait(timeout=60) == 0


def test_async_engine_same_bytes_as_cli_under_concurrency(tmp_path: Path) -> None:
    """Four concurrent requests of a tiled image (4 tiles each, run as parallel infer requests
    on two streams) give exactly the CLI's bytes on OpenVINO."""
    model = shipped(2).path
    cfg = ServeConfig(models={(2, "int8"): model}, runtime="openvino", threads=2, tile=48)
    pool = ModelPool(cfg)
    pool.load()
    loaded = pool.get(2, "int8")
    assert loaded is not None
    runner = loaded.upscaler.runner
    assert isinstance(runner, OpenVinoRunner) and runner.streams == 2
    assert runner.requests((1, 3, 74, 74)) == 2  # the compiled model runs two requests at once
    assert pool.workers() == 4
    body = _png(90, 84, seed=3)
    src = tmp_path / "in.png"
    src.write_bytes(body)
    out = tmp_path / "out.png"
    argv = ["upscale", str(src), "--model", str(model), "--output", str(out), "--tile", "48"]
    argv += ["--runtime", "openvino", "--quiet", "--strip-metadata"]
    assert main(argv) == 0
    answers: list[Any] = [None] * 4
    with TestClient(create_app(cfg, pool=pool)) as client:

        def post(i: int) -> None:
            answers[i] = client.post("/v1/upscale?scale=2", content=body)

        threads = [threading.Thread(target=post, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
    for r in answers:
        assert r is not None and r.status_code == 200
        assert r.headers["x-runtime"] == "openvino"
        assert r.content == out.read_bytes()


def test_parallel_tiles_equal_one_after_the_other() -> None:
    """The tiles of one image as parallel infer requests (2 streams) == one tile at a time on
    the latency runner, and concurrent callers sharing the runner get the same result."""
    rng = np.random.default_rng(5)
    img = rng.integers(0, 255, (70, 90, 3), dtype=np.uint8)
    ref = Upscaler(2, "int8", model=shipped(2).path, runtime="openvino", tile=32).upscale(img)
    up = Upscaler(2, "int8", model=shipped(2).path, runtime="openvino", tile=32, streams=2)
    results: list[Any] = [None] * 3

    def work(i: int) -> None:
        results[i] = up.upscale(img)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert all(np.array_equal(r, ref) for r in results)


def test_format_runtime_serving_section() -> None:
    from lesrcnn_deploy.bench.serving_runtimes import format_runtime_serving

    level = {"concurrency": 4, "requests": 8, "errors": 0, "p50_ms": 700.4, "p99_ms": 910.0}
    res = {
        "config": {"size": 256, "requests": 8, "ort_workers": 2, "ort_threads": 1},
        "servers": {
            "ort": {"runtime": "ort", "note": "runtime: ONNX Runtime (forced)", "workers": 2},
            "default": {"runtime": "openvino", "note": "auto", "workers": 4, "streams": 2},
        },
        "levels": [
            {"server": "ort", **level, "images_per_s": 2.0},
            {"server": "default", **level, "images_per_s": 3.0},
        ],
        "raw": {"ort": 2.5, "openvino": 4.0},
        "fastest": "openvino",
        "efficiency": 0.75,
        "tiling": {"tile": 256, "windows": 1, "window": 256, "pixels": 1.0},
        "tiled_rate": 3.5,
        "efficiency_tiled": 0.86,
        "side_by_side": [
            {
                "ort": {"images_per_s": 2.0, "errors": 0},
                "default": {"images_per_s": 3.0, "errors": 0},
                "ratio": 1.5,
            }
        ],
    }
    res["config"] |= {"seconds": 10.0, "load_concurrency": 4}
    text = format_runtime_serving(res)
    assert "| default | openvino | 4 | 0/8 | 3.00 | 700 | 910 |" in text
    assert "efficiency" in text and "**0.75**" in text
    assert "| 1 | 2.00 | 3.00 | 0/0 | **1.50x** |" in text
    assert "`hey -z 10s -c 4`" in text
    assert "(`--tile 256`, the x2 default on openvino: a 256x256 image is one call, 1.00x" in text
    assert "runs at 3.50 images/s: efficiency against it 0.86" in text
