"""The folder job on Ray Data (local Ray, 2 CPUs): same outputs as the local command, survives a
killed actor. Local Ray takes ~10-30 s to start, so these sit in the slow tier."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lesrcnn_deploy.cli import main
from lesrcnn_deploy.data import load_image, save_image
from lesrcnn_deploy.models import InferenceSettings
from lesrcnn_deploy.upscale.api import Upscaler
from lesrcnn_deploy.upscale.batch import run_batch
from lesrcnn_deploy.upscale.plan import plan_jobs


def _images(folder: Path, n: int, size: int = 96) -> Path:
    rng = np.random.default_rng(0)
    for i in range(n):
        save_image(folder / f"im{i:02d}.png", rng.integers(0, 255, (size, size, 3), dtype=np.uint8))
    return folder


def test_missing_ray_extra_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # as if not installed
    _images(tmp_path / "in", 1, 8)
    code = main(["upscale", str(tmp_path / "in"), "--scale", "2", "--quiet", "--ray"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.endswith("pip install 'lesrcnn-deploy[ray]'") and "\n" not in err


@pytest.fixture(scope="module")
def ray_local() -> Iterator[Any]:
    pytest.importorskip("ray.data")
    from lesrcnn_deploy.cluster.connect import connect_ray

    ray = connect_ray(None, num_cpus=2, object_store_memory=100 * 1024 * 1024)
    yield ray
    ray.shutdown()


@pytest.mark.slow
def test_same_outputs_skip_existing_and_errors(
    ray_local: Any, random_fp32: Path, tmp_path: Path
) -> None:
    from lesrcnn_deploy.cluster.batch import run_batch_ray

    src = _images(tmp_path / "in", 3)
    (src / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    local = run_batch(
        Upscaler(2, "fp32", model=random_fp32),
        plan_jobs([src], scale=2, output=tmp_path / "local"),
        progress=False,
    )
    jobs = plan_jobs([src], scale=2, output=tmp_path / "ray")
    (tmp_path / "ray").mkdir()
    (tmp_path / "ray" / "im00_x2.png").write_bytes(b"kept")
    settings = InferenceSettings(scale=2, precision="fp32", model=random_fp32)
    result = run_batch_ray(jobs, settings, progress=False)  # existing outputs are skipped
    assert [o.status for o in result.outcomes] == ["failed", "skipped", "done", "done"]
    assert "corrupt" in result.outcomes[0].reason or "image" in result.outcomes[0].reason
    assert [o.status for o in local.outcomes] == ["failed", "done", "done", "done"]
    assert (tmp_path / "ray" / "im00_x2.png").read_bytes() == b"kept"
    for name in ("im01_x2.png", "im02_x2.png"):
        assert (tmp_path / "ray" / name).read_bytes() == (tmp_path / "local" / name).read_bytes()


def _actor_pids() -> list[int]:
    import psutil

    pids = []
    for p in psutil.Process().children(recursive=True):
        try:
            if p.cmdline()[:1] and p.cmdline()[0].startswith("ray::MapWorker"):
                pids.append(p.pid)
        except psutil.Error:
            continue
    return pids


@pytest.mark.slow
def test_killed_actor_loses_no_image(ray_local: Any, random_fp32: Path, tmp_path: Path) -> None:
    from lesrcnn_deploy.cluster.batch import run_batch_ray

    src = _images(tmp_path / "in", 24, 128)
    jobs = plan_jobs([src], scale=2, output=tmp_path / "out")
    box: dict[str, Any] = {}

    def job() -> None:
        box["result"] = run_batch_ray(
            jobs,
            InferenceSettings(scale=2, precision="fp32", model=random_fp32, threads=1),
            actors=2,
            progress=False,
        )

    worker = threading.Thread(target=job)
    worker.start()
    killed = None
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and worker.is_alive():
        if any(j.output.exists() for j in jobs):  # the job is under way: kill an actor
            pids = _actor_pids()
            if pids:
                killed = pids[0]
                os.kill(killed, signal.SIGKILL)
                break
        time.sleep(0.02)
    done_at_kill = sum(j.output.exists() for j in jobs)
    worker.join(timeout=300)
    assert killed is not None, "no actor found to kill"
    assert done_at_kill < len(jobs), "the job finished before the kill"
    result = box["result"]
    assert result.ok and len(result.done) == len(jobs)
    for j in jobs:
        img = load_image(j.output)
        assert (img.height, img.width) == (256, 256)
    assert not list((tmp_path / "out").glob(".*"))  # no temporary file left behind


@pytest.mark.slow
def test_ray_serve_deploys_the_same_app(ray_local: Any, random_fp32: Path) -> None:
    import socket

    httpx = pytest.importorskip("httpx")
    from ray import serve

    from lesrcnn_deploy.cluster.serve import deploy_on_ray
    from lesrcnn_deploy.data import encode_image
    from lesrcnn_deploy.serve.config import ServeConfig
    from lesrcnn_deploy.serve.engine import ModelPool, upscale_bytes

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    pytest.importorskip("openvino")
    # --runtime passed through: the replica runs OpenVINO (not the ONNX Runtime of old)
    cfg = ServeConfig(models={(2, "fp32"): random_fp32}, port=port, threads=1, runtime="openvino")
    image = encode_image(np.random.default_rng(0).integers(0, 255, (20, 28, 3), np.uint8), "png")
    pool = ModelPool(cfg)
    pool.load()
    model = pool.get(2, "fp32")
    assert model is not None
    expected = upscale_bytes(model, image, max_pixels=cfg.max_pixels).data
    deploy_on_ray(cfg, replicas=1)
    try:
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}/readyz", timeout=30).status_code == 200
        r = httpx.post(f"{base}/v1/upscale?scale=2", content=image, timeout=60)
        assert r.status_code == 200 and r.content == expected
        assert r.headers["X-Runtime"] == "openvino"
        junk = httpx.post(f"{base}/v1/upscale", content=b"junk", timeout=60)
        assert junk.status_code == 415  # unknown content: UnsupportedFormatError, as locally
    finally:
        serve.shutdown()


@pytest.mark.slow
@pytest.mark.parametrize(("runtime", "name"), [("ort", "ONNX Runtime"), ("openvino", "OpenVINO")])
def test_runtime_passed_through_to_the_actors(
    ray_local: Any, random_fp32: Path, tmp_path: Path, runtime: str, name: str
) -> None:
    from lesrcnn_deploy.cluster.batch import run_batch_ray

    if runtime == "openvino":
        pytest.importorskip("openvino")
    src = _images(tmp_path / "in", 2, 64)
    local = run_batch(
        Upscaler(2, "fp32", model=random_fp32, runtime=runtime, threads=1),
        plan_jobs([src], scale=2, output=tmp_path / "local"),
        progress=False,
    )
    jobs = plan_jobs([src], scale=2, output=tmp_path / "ray")
    settings = InferenceSettings(scale=2, precision="fp32", model=random_fp32, runtime=runtime)
    result = run_batch_ray(jobs, settings, progress=False)
    assert result.ok and len(result.done) == 2 and local.ok
    assert list(result.runtimes.values()) == [2]
    assert next(iter(result.runtimes)) == f"runtime: {name} (forced)"
    assert result.plan is not None and result.plan.summary.endswith("(2 CPUs)")
    assert f"runtime: {name} (forced) (2 image(s))" in result.runtime_line()
    for j in jobs:
        assert j.output.read_bytes() == (tmp_path / "local" / j.output.name).read_bytes()


@pytest.mark.slow
def test_video_segments_on_ray_equal_the_local_run(
    ray_local: Any, random_fp32: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("av")
    from test_video_segments import assert_same_output, make_rich_clip

    src = make_rich_clip(tmp_path, ".mkv", frames=30)
    common = ["upscale", str(src), "--model", str(random_fp32), "--threads", "1"]
    common += ["--codec", "ffv1", "--segment-seconds", "1", "--runtime", "ort"]
    assert main([*common, "--output", str(tmp_path / "local.mkv")]) == 0
    capsys.readouterr()
    assert main([*common, "--output", str(tmp_path / "ray.mkv"), "--ray", "--actors", "2"]) == 0
    out, err = capsys.readouterr()
    assert "3 segment(s)" in out, out
    assert "2 actor(s) x 1 CPU" in err and "runtime: ONNX Runtime (forced) (3 segment(s))" in err
    assert_same_output(tmp_path / "ray.mkv", tmp_path / "local.mkv")
    assert not list(tmp_path.glob(".*"))  # the work folder is gone
