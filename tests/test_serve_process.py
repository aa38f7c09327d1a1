"""A real ``lesrcnn-deploy serve`` process on 127.0.0.1: SIGTERM drains in-flight work, exit 0."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("uvicorn")

from PIL import Image  # noqa: E402

from lesrcnn_deploy.bench.http_load import free_port, wait_ready  # noqa: E402
from lesrcnn_deploy.data import encode_image  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def test_sigterm_drains_in_flight_request_then_exits_0(random_fp32: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    cmd = [sys.executable, "-m", "lesrcnn_deploy", "serve", "--model", str(random_fp32)]
    cmd += ["--port", str(port), "--tile", "64", "--threads", "1", "--log-level", "warning"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_ready(base, proc, timeout_s=90)
        rng = np.random.default_rng(0)
        big = encode_image(rng.integers(0, 255, (384, 384, 3), dtype=np.uint8), "png")
        answer: dict[str, Any] = {}

        def post() -> None:
            r = httpx.post(f"{base}/v1/upscale?scale=2", content=big, timeout=120)
            answer["status"] = r.status_code
            answer["content"] = r.content

        client = threading.Thread(target=post)
        client.start()
        deadline = time.monotonic() + 30
        in_flight = 0.0
        while time.monotonic() < deadline and in_flight < 1 and "status" not in answer:
            text = httpx.get(f"{base}/metrics", timeout=5).text
            line = next(x for x in text.splitlines() if x.startswith("lesrcnn_in_flight "))
            in_flight = float(line.split()[-1])
        assert in_flight == 1, "the request never started"
        proc.send_signal(signal.SIGTERM)
        client.join(timeout=120)
        assert answer.get("status") == 200  # the in-flight request finished
        assert Image.open(io.BytesIO(answer["content"])).size == (768, 768)
        assert proc.wait(timeout=60) == 0
        with pytest.raises(httpx.TransportError):  # and the port is closed
            httpx.get(f"{base}/healthz", timeout=2)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        assert proc.stderr is not None
        err = proc.stderr.read().decode(errors="replace")
        assert "Traceback" not in err, err
