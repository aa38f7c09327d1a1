"""The service's container image (Containerfile, scripts/build_image.sh): built with no network from
a host wheelhouse on a Debian base made with mmdebstrap (no container registry here), run as a
non-root user, ready on /readyz, healthy by its HEALTHCHECK, and its answer for a Set5 image equals
the CLI's output pixel for pixel. Needs podman, runc and mmdebstrap (.ci/run installs them)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from lesrcnn_deploy import __version__

httpx = pytest.importorskip("httpx")

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
PODMAN = ["podman", "--runtime", "runc"]
LIMITS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]


def _tools() -> None:
    missing = [t for t in ("podman", "runc", "mmdebstrap") if shutil.which(t) is None]
    if not missing:
        return
    msg = f"{', '.join(missing)} not installed"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{msg} (required under CI=true)")
    pytest.skip(msg)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def image() -> str:
    _tools()
    env = {**os.environ, "PYTHON": sys.executable, "ENGINE": "podman"}
    run = subprocess.run(
        [str(ROOT / "scripts" / "build_image.sh"), "--offline-base"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "built lesrcnn-deploy:" in run.stdout
    tags = subprocess.check_output(
        [*PODMAN, "image", "inspect", "lesrcnn-deploy:latest", "--format", "{{.RepoTags}}"],
        text=True,
    )
    assert f"lesrcnn-deploy:{__version__}" in tags
    return "lesrcnn-deploy:latest"


def _in_image(image: str, code: str) -> subprocess.CompletedProcess[str]:
    cmd = [*PODMAN, "run", "--rm", "--network=none", *LIMITS, image, "python3", "-c", code]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def test_image_is_the_runtime_install(image: str) -> None:
    probe = _in_image(
        image,
        "import os, importlib.util as u; print(os.getuid(), "
        "[m for m in ('torch', 'onnx', 'skimage', 'matplotlib') if u.find_spec(m)], "
        "bool(u.find_spec('openvino')))",
    )
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.split(maxsplit=1) == ["10001", "[] True\n"]
    config = subprocess.check_output(
        [*PODMAN, "image", "inspect", image, "--format", "{{json .Config}}"], text=True
    )
    assert '"8000/tcp"' in config
    assert '"serve","--host","0.0.0.0"' in config.replace(" ", "")
    health = subprocess.check_output(
        [*PODMAN, "image", "inspect", image, "--format", "{{json .HealthCheck}}"], text=True
    )
    assert "http://127.0.0.1:8000/healthz" in health


def test_container_serves_what_the_cli_writes(image: str, set5: Path, tmp_path: Path) -> None:
    import cv2

    lr = set5 / "x2" / "img_001_SRF_2_LR.png"
    port = _free_port()
    name = f"lesrcnn-test-{port}"
    publish = ["-p", f"127.0.0.1:{port}:8000"]
    subprocess.run(
        [*PODMAN, "run", "-d", "--rm", "--name", name, *LIMITS, *publish, image],
        check=True,
        capture_output=True,
        timeout=120,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        ready = 0
        while time.monotonic() < deadline and ready != 200:
            try:
                ready = httpx.get(f"{base}/readyz", timeout=2).status_code
            except httpx.TransportError:
                time.sleep(0.5)
        assert ready == 200, "the container never became ready"
        r = httpx.post(f"{base}/v1/upscale?scale=2", content=lr.read_bytes(), timeout=120)
        assert r.status_code == 200, r.text
        assert r.headers["X-Model-Precision"] == "int8"
        # the image holds OpenVINO, so the server's default runtime is `auto` (measured at start):
        # the CLI runs the runtime the server says it used
        runtime = r.headers["X-Runtime"]
        assert runtime in ("ort", "openvino")
        cli_out = tmp_path / "cli.png"
        cli = [sys.executable, "-m", "lesrcnn_deploy", "upscale", str(lr), "--scale", "2"]
        subprocess.run(
            [*cli, "--runtime", runtime, "--output", str(cli_out), "--quiet"],
            check=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            timeout=300,
        )
        served = cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_UNCHANGED)
        expected = cv2.imread(str(cli_out), cv2.IMREAD_UNCHANGED)
        assert served.shape == expected.shape == (2 * 256, 2 * 256, 3)
        assert np.array_equal(served, expected)
        health = subprocess.run([*PODMAN, "healthcheck", "run", name], capture_output=True)
        assert health.returncode == 0, health.stdout + health.stderr
    finally:
        subprocess.run([*PODMAN, "rm", "-f", name], capture_output=True, timeout=120)
