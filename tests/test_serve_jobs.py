"""The jobs API in process and in a real server: states, progress, ETA, cancel, expiry, bounds,
the private directory, SIGTERM clean-up, OpenAPI and /metrics."""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("starlette")
pytest.importorskip("prometheus_client")

from starlette.testclient import TestClient

from lesrcnn_deploy.data import encode_image
from lesrcnn_deploy.serve.app import create_app
from lesrcnn_deploy.serve.config import ServeConfig
from lesrcnn_deploy.serve.engine import ModelPool
from lesrcnn_deploy.serve.jobs import sniff_kind
from lesrcnn_deploy.upscale.tiling import receptive_field, tile_windows

ROOT = Path(__file__).resolve().parents[1]


def _png(h: int, w: int, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    return encode_image(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), "png")


@pytest.fixture(scope="module")
def pool(random_fp32: Path) -> ModelPool:
    """x2 fp32 random-weight model with tiny tiles (many tiles: slow enough to cancel)."""
    p = ModelPool(ServeConfig(models={(2, "fp32"): random_fp32}, tile=8, threads=1))
    p.load()
    return p


def _client(pool: ModelPool, tmp_path: Path, **options: Any) -> TestClient:
    cfg = ServeConfig(models=dict(pool.config.models), tile=8, jobs_dir=tmp_path, **options)
    return TestClient(create_app(cfg, pool=pool))


def _wait(client: TestClient, job_id: str, states: set[str], seconds: float = 120) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        view = client.get(f"/v1/jobs/{job_id}").json()
        if view["state"] in states:
            return view
        time.sleep(0.02)
    pytest.fail(f"job {job_id} never reached {states}: {view}")


def _files(tmp_path: Path) -> list[Path]:
    """The job files (not the folder's own .lock and .pid)."""
    return sorted(p for p in tmp_path.rglob("*") if p.is_file() and not p.name.startswith("."))


def _metric(text: str, line_start: str) -> float:
    line = next(x for x in text.splitlines() if x.startswith(line_start))
    return float(line.split()[-1])


def test_sniff_kind() -> None:
    assert sniff_kind(_png(4, 4)) == "image"
    assert sniff_kind(b"\xff\xd8\xff\xe0....") == "image"
    assert sniff_kind(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "image"
    assert sniff_kind(b"RIFF\x00\x00\x00\x00AVI LIST") == "video"
    assert sniff_kind(b"\x00\x00\x00\x20ftypisom") == "video"


def test_image_job_progress_result_headers_and_metrics(pool: ModelPool, tmp_path: Path) -> None:
    body = _png(40, 36)
    with _client(pool, tmp_path) as client:
        r = client.post("/v1/jobs?scale=2&precision=fp32", content=body)
        assert r.status_code == 202, r.text
        job_id = r.json()["id"]
        assert r.headers["location"] == f"/v1/jobs/{job_id}"
        assert r.json()["state"] in {"queued", "running"}
        view = _wait(client, job_id, {"done"})
        overlap = receptive_field(2)
        tiles = len(tile_windows(40, 8, overlap=overlap)) * len(
            tile_windows(36, 8, overlap=overlap)
        )
        assert view["progress"] == {
            "done": tiles,
            "total": tiles,
            "unit": "tiles",
            "fraction": 1.0,
        }
        assert view["eta_seconds"] is None
        assert view["expires"] == pytest.approx(view["finished"] + 3600.0)
        res = client.get(f"/v1/jobs/{job_id}/result")
        assert res.status_code == 200
        direct = client.post("/v1/upscale?scale=2&precision=fp32", content=body)
        assert res.content == direct.content  # the same pixels and bytes as /v1/upscale
        assert res.headers["content-type"] == "image/png"
        assert f'filename="{job_id}_x2.png"' in res.headers["content-disposition"]
        assert res.headers["x-model-sha256"] == direct.headers["x-model-sha256"]
        assert len(res.headers["x-model-sha256"]) == 64
        assert res.headers["x-runtime"] == direct.headers["x-runtime"]  # the engine's runtime
        assert res.headers["x-runtime"] in ("ort", "openvino")
        assert float(res.headers["x-inference-ms"]) > 0
        assert float(direct.headers["x-inference-ms"]) > 0
        # only the result stays on disk, inside the private 0700 directory
        files = _files(tmp_path)
        assert [f.name for f in files] == [f"{job_id}.out.png"]
        assert files[0].parent.stat().st_mode & 0o777 == 0o700
        text = client.get("/metrics").text
        assert _metric(text, 'lesrcnn_jobs{state="done"}') == 1
        assert _metric(text, 'lesrcnn_jobs{state="running"}') == 0
        # DELETE of a finished job forgets it and deletes its file
        assert client.delete(f"/v1/jobs/{job_id}").status_code == 200
        assert client.get(f"/v1/jobs/{job_id}").status_code == 404
        assert _files(tmp_path) == []
    assert list(tmp_path.iterdir()) == []  # shutdown removed the private directory


def test_image_job_keeps_what_v1_upscale_keeps(pool: ModelPool, tmp_path: Path) -> None:
    """An image job's bytes are /v1/upscale's: ICC profile kept, EXIF (GPS) dropped."""
    from PIL import Image, ImageCms

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = Image.Exif()
    exif[0x010F] = "CameraMaker"
    rgb = np.random.default_rng(5).integers(0, 256, (20, 24, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "PNG", icc_profile=icc, exif=exif.tobytes())
    with _client(pool, tmp_path) as client:
        job_id = client.post("/v1/jobs", content=buf.getvalue()).json()["id"]
        _wait(client, job_id, {"done"})
        res = client.get(f"/v1/jobs/{job_id}/result").content
        direct = client.post("/v1/upscale", content=buf.getvalue()).content
    assert res == direct
    out = Image.open(io.BytesIO(res))
    assert out.info.get("icc_profile") == icc
    assert not out.getexif()


def test_cancel_queued_and_running_jobs_eta_and_429(pool: ModelPool, tmp_path: Path) -> None:
    big = _png(320, 320, seed=1)  # 40 x 40 tiles of 8: seconds of work
    with _client(pool, tmp_path, max_jobs=1) as client:
        first = client.post("/v1/jobs?scale=2", content=big).json()["id"]
        second = client.post("/v1/jobs?scale=2", content=big).json()["id"]
        view = _wait(client, first, {"running"})
        while view["progress"]["done"] < 3:
            view = client.get(f"/v1/jobs/{first}").json()
        assert view["progress"]["total"] == 1600
        assert view["eta_seconds"] is not None and view["eta_seconds"] > 0
        assert client.get(f"/v1/jobs/{second}").json()["state"] == "queued"
        assert client.get(f"/v1/jobs/{first}/result").status_code == 409
        # cancel the queued job: at once, its upload deleted
        gone = client.delete(f"/v1/jobs/{second}").json()
        assert gone["state"] == "cancelled"
        assert not (next(tmp_path.iterdir()) / f"{second}.in").exists()
        # cancel the running job: it stops at its next tile, no file left
        r = client.delete(f"/v1/jobs/{first}")
        assert r.status_code in (200, 202)
        stopped = _wait(client, first, {"cancelled"}, seconds=30)
        assert stopped["progress"]["done"] < 1600
        assert _files(tmp_path) == []
        text = client.get("/metrics").text
        assert _metric(text, 'lesrcnn_jobs{state="cancelled"}') == 2


def test_queue_limit_429_when_a_job_waits(pool: ModelPool, tmp_path: Path) -> None:
    big = _png(320, 320, seed=2)
    with _client(pool, tmp_path, max_jobs=1) as client:
        first = client.post("/v1/jobs", content=big).json()["id"]
        _wait(client, first, {"running"})
        assert client.post("/v1/jobs", content=big).status_code == 202  # waits in the queue
        r = client.post("/v1/jobs", content=_png(8, 8))
        assert r.status_code == 429
        assert "queued jobs" in r.json()["error"]
        assert r.headers["retry-after"] == "1"
        text = client.get("/metrics").text
        assert _metric(text, 'lesrcnn_upscale_rejected_total{reason="jobs_full"}') == 1
        assert _metric(text, 'lesrcnn_jobs{state="queued"}') == 1


def test_storage_limit_503_and_upload_limit_413(pool: ModelPool, tmp_path: Path) -> None:
    small = _png(16, 16)
    limit = 3 * len(small) + 2 * 16 * 16 * 3 * 4  # room for one input + its x2 output, not more
    with _client(pool, tmp_path, max_job_bytes=limit) as client:
        r = client.post("/v1/jobs", content=b"x" * (limit + 1))
        assert r.status_code == 413
        assert _files(tmp_path) == []
        held = []
        for _ in range(12):
            r = client.post("/v1/jobs", content=small)
            if r.status_code != 202:
                break
            held.append(r.json()["id"])
            _wait(client, held[-1], {"done"})
        assert r.status_code == 503, r.text
        assert "storage full" in r.json()["error"]
        assert r.headers["retry-after"] == "1"
        assert 1 <= len(held) < 12
        total = sum(f.stat().st_size for f in _files(tmp_path))
        assert total <= limit
        assert _metric(client.get("/metrics").text, "lesrcnn_job_storage_bytes") == total
        client.delete(f"/v1/jobs/{held[0]}")  # frees room
        assert client.post("/v1/jobs", content=small).status_code == 202


def test_results_expire_and_files_are_deleted(pool: ModelPool, tmp_path: Path) -> None:
    with _client(pool, tmp_path, job_ttl=0.5) as client:
        job_id = client.post("/v1/jobs", content=_png(16, 16)).json()["id"]
        _wait(client, job_id, {"done"})
        assert len(_files(tmp_path)) == 1
        time.sleep(0.7)
        assert client.get(f"/v1/jobs/{job_id}").status_code == 404
        assert _files(tmp_path) == []
        # the reaper deletes files even when nobody asks
        job_id = client.post("/v1/jobs", content=_png(16, 16)).json()["id"]
        _wait(client, job_id, {"done"})
        deadline = time.monotonic() + 10
        while _files(tmp_path) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _files(tmp_path) == []


def test_errors_auth_and_openapi(pool: ModelPool, tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("s3cret\n")
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    cfg = ServeConfig(models=dict(pool.config.models), jobs_dir=jobs, token_file=token)
    with TestClient(create_app(cfg, pool=pool)) as client:
        assert client.post("/v1/jobs", content=_png(8, 8)).status_code == 401
        assert client.get("/v1/jobs/abc").status_code == 401
        auth = {"Authorization": "Bearer s3cret"}
        assert client.get("/v1/jobs/abc", headers=auth).status_code == 404
        assert client.post("/v1/jobs?scale=3", content=b"x", headers=auth).status_code == 400
        assert client.post("/v1/jobs", content=b"", headers=auth).status_code == 400
        r = client.post("/v1/jobs?format=mp4", content=_png(8, 8), headers=auth)
        assert r.status_code == 415
        header = client.post("/v1/jobs", content=b"\x89PNG\r\n\x1a\nbroken", headers=auth)
        assert header.status_code == 400  # an unreadable header: refused at once, nothing queued
        assert "upload" in header.json()["error"] and str(jobs) not in header.json()["error"]
        good = _png(16, 16)
        damaged = good[:-40] + bytes(28) + good[-12:]  # the header reads, the pixels do not
        bad = client.post("/v1/jobs", content=damaged, headers=auth).json()
        view = _wait_auth(client, bad["id"], auth)
        assert view["state"] == "failed"
        assert "upload" in view["error"] and str(jobs) not in view["error"]
        res = client.get(f"/v1/jobs/{bad['id']}/result", headers=auth)
        assert res.status_code == 400
        assert client.get("/openapi.json").status_code == 401  # the token guards the spec
        spec = client.get("/openapi.json", headers=auth).json()
        assert {"/v1/jobs", "/v1/jobs/{id}", "/v1/jobs/{id}/result"} <= set(spec["paths"])
        assert set(spec["paths"]["/v1/jobs/{id}"]) == {"get", "delete"}
        assert "429" in spec["paths"]["/v1/jobs"]["post"]["responses"]


def _wait_auth(client: TestClient, job_id: str, auth: dict[str, str]) -> Any:
    for _ in range(2000):
        view = client.get(f"/v1/jobs/{job_id}", headers=auth).json()
        if view["state"] in {"done", "failed", "cancelled"}:
            return view
        time.sleep(0.02)
    pytest.fail("job never finished")


def make_vfr_clip(path: Path, frames: int = 8) -> Path:
    """A small H.264 clip with variable frame gaps (ms time base)."""
    av = pytest.importorskip("av")
    rng = np.random.default_rng(0)
    c = av.open(str(path), "w")
    v = c.add_stream("libx264", rate=10)
    v.width, v.height, v.pix_fmt = 32, 24, "yuv420p"
    v.codec_context.time_base = Fraction(1, 1000)
    t = 0
    for i in range(frames):
        img = np.kron(rng.integers(0, 256, (3, 4, 3), dtype=np.uint8), np.ones((8, 8, 1), np.uint8))
        f = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
        f.pts, f.time_base = t, Fraction(1, 1000)
        t += (100, 250, 150)[i % 3]
        c.mux(v.encode(f))
    c.mux(v.encode(None))
    c.close()
    return path


def frame_times(path: Path) -> list[float]:
    """Presentation times (s) of every video frame of ``path``."""
    import av

    with av.open(str(path)) as c:
        return [float(f.pts * f.time_base) for f in c.decode(c.streams.video[0])]


def test_video_job_counts_frames_and_keeps_timestamps(pool: ModelPool, tmp_path: Path) -> None:
    clip = make_vfr_clip(tmp_path / "clip.mp4")
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    cfg = ServeConfig(models=dict(pool.config.models), jobs_dir=jobs)
    with TestClient(create_app(cfg, pool=pool)) as client:
        created = client.post("/v1/jobs?scale=2", content=clip.read_bytes()).json()
        assert created["progress"]["total"] == 8  # from the stream header, at POST
        job_id = created["id"]
        view = _wait(client, job_id, {"done", "failed"})
        assert view["state"] == "done", view
        assert view["kind"] == "video"
        assert view["progress"]["done"] == view["progress"]["total"] == 8
        assert view["progress"]["unit"] == "frames"
        res = client.get(f"/v1/jobs/{job_id}/result")
        assert res.headers["content-type"] == "video/mp4"
        out = tmp_path / "out.mp4"
        out.write_bytes(res.content)
    assert frame_times(out) == frame_times(clip)
    import av

    with av.open(str(out)) as c:
        s = c.streams.video[0]
        assert (s.width, s.height) == (64, 48)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_sigterm_cancels_running_jobs_and_removes_files(random_fp32: Path, tmp_path: Path) -> None:
    httpx = pytest.importorskip("httpx")
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "TMPDIR": str(tmp_path),
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    cmd = [sys.executable, "-m", "lesrcnn_deploy", "serve", "--model", str(random_fp32)]
    cmd += ["--port", str(port), "--tile", "8", "--threads", "1", "--log-level", "warning"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        big = _png(400, 400, seed=3)
        ids = [httpx.post(f"{base}/v1/jobs", content=big, timeout=30).json()["id"] for _ in "ab"]
        deadline = time.monotonic() + 60
        while httpx.get(f"{base}/v1/jobs/{ids[0]}").json()["state"] != "running":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        job_dirs = list(tmp_path.glob("lesrcnn-jobs-*"))
        assert len(job_dirs) == 1 and len(_files(job_dirs[0])) == 2
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        assert list(tmp_path.glob("lesrcnn-jobs-*")) == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
