"""What a hostile or unlucky client sends, against the real ``serve`` process on 127.0.0.1.

Every case is bounded in count and time: a handful of sockets, timeouts of a few seconds. The fast
tier checks the behaviour (codes, bytes on disk, what stderr says, what /metrics counts, the
server's own peak RSS from /proc); the slow tier checks the memory bound at the default limits
and that a running video job stops within one tile.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("uvicorn")

from PIL import Image  # noqa: E402

from lesrcnn_deploy.bench.http_load import free_port, server_env, wait_ready  # noqa: E402
from lesrcnn_deploy.cli import main  # noqa: E402
from lesrcnn_deploy.core.errors import one_line  # noqa: E402
from lesrcnn_deploy.data import encode_image  # noqa: E402
from lesrcnn_deploy.data.outsize import DEFAULT_MAX_OUTPUT_PIXELS  # noqa: E402
from lesrcnn_deploy.serve.error_table import error_rows, markdown_table  # noqa: E402
from lesrcnn_deploy.serve.jobdir import JobDir  # noqa: E402

SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"><rect width="8"/></svg>'


@dataclass
class Server:
    """A running ``lesrcnn-deploy serve`` and where it keeps its jobs and its stderr."""

    proc: subprocess.Popen[bytes]
    base: str
    port: int
    tmp: Path
    log: Path

    def peak_rss(self) -> int:
        """The server's peak resident memory (VmHWM), bytes."""
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) * 1024  # type: ignore[union-attr]

    def metric(self, name: str) -> float:
        text = httpx.get(f"{self.base}/metrics", timeout=5).text
        line = next((x for x in text.splitlines() if x.startswith(name + " ")), None)
        return float(line.split()[-1]) if line else 0.0

    def job_files(self) -> list[Path]:
        return [p for p in self.tmp.rglob("lesrcnn-jobs-*/*") if not p.name.startswith(".")]

    def job_bytes(self) -> int:
        total = 0
        for p in self.job_files():
            with contextlib.suppress(FileNotFoundError):
                total += p.stat().st_size
        return total

    def stop(self) -> tuple[int, float, str]:
        """SIGTERM; the exit code, seconds to exit and stderr."""
        t = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=60)
        return code, time.monotonic() - t, self.log.read_text(errors="replace")


def start(tmp: Path, *args: str, name: str = "server") -> Server:
    """Start a server (shipped x2 int8 model on ONNX Runtime, one thread) with ``args``."""
    tmp.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = tmp / f"{name}.stderr"
    cmd = [sys.executable, "-m", "lesrcnn_deploy", "serve", "--scales", "2", "--runtime", "ort"]
    cmd += ["--threads", "1", "--port", str(port), "--log-level", "warning", *args]
    env = {**server_env(), "TMPDIR": str(tmp)}
    with log.open("wb") as err:
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=err)
    server = Server(proc, f"http://127.0.0.1:{port}", port, tmp, log)
    try:
        wait_ready(server.base, proc, timeout_s=120)
    except Exception:
        proc.kill()
        proc.wait()
        raise AssertionError(log.read_text(errors="replace")) from None
    return server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Small limits, so that every bound is reached in seconds."""
    s = start(
        tmp_path_factory.mktemp("hostile"),
        *("--max-pixels", "1000000", "--max-output-pixels", "4000000"),
        *("--max-job-bytes", "8000000", "--header-timeout", "2", "--body-timeout", "2"),
        *("--body-min-rate", "2000", "--limit-concurrency", "16", "--shutdown-timeout", "3"),
    )
    yield s
    code, _, err = s.stop()
    assert code == 0
    assert "Traceback" not in err and "libpng" not in err, err
    assert list(s.tmp.glob("lesrcnn-jobs-*")) == []  # nothing left behind


def _png(h: int, w: int, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    return encode_image(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), "png")


def _bomb(w: int, h: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _clip(path: Path, *, size: tuple[int, int], frames: int = 2) -> Path:
    av = pytest.importorskip("av")
    with av.open(str(path), "w") as c:
        v = c.add_stream("libx264", rate=5)
        v.width, v.height, v.pix_fmt = size[0], size[1], "yuv420p"
        v.codec_context.time_base = Fraction(1, 5)
        for i in range(frames):
            img = np.full((size[1], size[0], 3), (40 * i + 60) % 256, dtype=np.uint8)
            f = av.VideoFrame.from_ndarray(img, format="rgb24")
            f.pts = i
            for p in v.encode(f):
                c.mux(p)
        for p in v.encode(None):
            c.mux(p)
    return path


def _wait_job(base: str, job_id: str, states: set[str], timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        view: dict[str, Any] = httpx.get(f"{base}/v1/jobs/{job_id}", timeout=5).json()
        if view["state"] in states:
            return view
        assert time.monotonic() < deadline, view
        time.sleep(0.05)


def _raw(port: int, head: bytes) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(head)
    return s


def _answer(s: socket.socket) -> bytes:
    """Everything the server sends until it closes (bounded by the socket's timeout)."""
    data = b""
    try:
        while chunk := s.recv(65536):
            data += chunk
    except OSError:
        pass
    return data


# -- 1. the output size has a cap, checked before any work -------------------------------------


def test_output_cap_refused_before_any_work_and_rss_stays_flat(server: Server) -> None:
    small, mid, before = _png(20, 20), _png(600, 600), server.peak_rss()
    for query, body in (
        ("fit=16000x16000", small),
        ("fit=65535x65535", small),
        ("outscale=16", mid),
    ):
        r = httpx.post(f"{server.base}/v1/upscale?{query}", content=body, timeout=30)
        assert r.status_code == 413, (query, r.text)
        assert "max_output_pixels=4000000" in r.json()["error"]
        j = httpx.post(f"{server.base}/v1/jobs?{query}", content=body, timeout=30)
        assert j.status_code == 413 and "max_output_pixels" in j.json()["error"]  # at once
    r = httpx.post(f"{server.base}/v1/upscale", content=_png(1000, 1001), timeout=30)
    assert r.status_code == 413 and "max_pixels=1000000" in r.json()["error"]  # the input limit
    assert server.peak_rss() - before < 64 * 2**20  # 256 M pixels asked: nothing allocated
    ok = httpx.post(f"{server.base}/v1/upscale?fit=1990x1990", content=small, timeout=60)
    assert ok.status_code == 200
    assert Image.open(io.BytesIO(ok.content)).size == (1990, 1990)


def test_bomb_header_is_413(server: Server) -> None:
    r = httpx.post(f"{server.base}/v1/upscale", content=_bomb(100_000, 100_000), timeout=30)
    assert r.status_code == 413 and "too large" in r.json()["error"]


# -- 2. video: the input limit before decoding, cancel within a tile ----------------------------


def test_video_frames_checked_against_the_input_limit_before_decoding(
    server: Server, tmp_path: Path
) -> None:
    """A video job is refused from its stream header when it is posted, as an image job is:
    413 naming the limit, nothing queued, nothing decoded, its upload deleted."""
    clip = _clip(tmp_path / "big.mp4", size=(4000, 4000))
    before = server.peak_rss()
    r = httpx.post(f"{server.base}/v1/jobs", content=clip.read_bytes(), timeout=30)
    assert r.status_code == 413 and "max_pixels=1000000" in r.json()["error"], r.text
    assert server.peak_rss() - before < 64 * 2**20  # no 4000x4000 frame was decoded
    assert not [p for p in server.job_files() if p.suffix == ".in"]
    small = _clip(tmp_path / "small.mp4", size=(640, 640)).read_bytes()  # fit: 16 MP > 4 MP
    r = httpx.post(f"{server.base}/v1/jobs?fit=4000x4000", content=small, timeout=60)
    assert r.status_code == 413 and "too large" in r.json()["error"], r.text


# -- 3. the disk bound holds while uploads are in flight ----------------------------------------


def test_parallel_uploads_never_pass_the_job_storage_cap(server: Server) -> None:
    cap, part = 8_000_000, 2_500_000
    png = _png(32, 32)  # a real image (its header is checked at POST), padded to 3 MB
    body = png + os.urandom(3_000_000 - len(png))
    full = 'lesrcnn_upscale_rejected_total{reason="job_storage_full"}'
    refused = server.metric(full)
    peak = [0]
    watching = threading.Event()

    def watch() -> None:
        while not watching.is_set():
            peak[0] = max(peak[0], server.job_bytes())
            time.sleep(0.005)

    head = f"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n".encode()
    socks = [_raw(server.port, head) for _ in range(4)]
    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        for s in socks:  # 4 x 2.5 MB against 8 MB: the chunk that would pass the cap is refused
            s.settimeout(2)
            with contextlib.suppress(OSError):
                s.sendall(body[:part])
        time.sleep(0.5)
        for s in socks:
            with contextlib.suppress(OSError):
                s.sendall(body[part:])
                s.shutdown(socket.SHUT_WR)
        answers = [_answer(s) for s in socks]
    finally:
        watching.set()
        watcher.join()
        for s in socks:
            s.close()
    codes = sorted(int(a.split()[1]) for a in answers if a)
    assert set(codes) <= {202, 503} and codes.count(202) <= 2, codes
    assert server.metric(full) >= refused + 2  # two uploads refused as their bytes arrived
    assert 0 < peak[0] <= cap  # on disk, never more than the cap


# -- 4. slow clients: headers, bodies, many at once; the others are served -----------------------


def test_slow_headers_and_bodies_are_cut_while_others_are_served(server: Server) -> None:
    header_cut = server.metric('lesrcnn_upscale_rejected_total{reason="header_timeout"}')
    body_cut = server.metric('lesrcnn_upscale_rejected_total{reason="body_timeout"}')
    slow_heads = [_raw(server.port, b"POST /v1/upscale HTTP/1.1\r\n") for _ in range(6)]
    body_head = "POST {} HTTP/1.1\r\nHost: x\r\nContent-Length: 10000\r\n\r\n"
    slow_bodies = [_raw(server.port, body_head.format(u).encode()) for u in ("/v1/upscale",) * 2]
    slow_bodies.append(_raw(server.port, body_head.format("/v1/jobs").encode()))
    served, t0 = 0, time.monotonic()
    while time.monotonic() - t0 < 4:  # one byte every 0.4 s each, meanwhile others are served
        for s in slow_heads + slow_bodies:
            with contextlib.suppress(OSError):
                s.sendall(b"X")
        r = httpx.post(f"{server.base}/v1/upscale", content=_png(16, 16), timeout=30)
        assert r.status_code == 200
        served += 1
        time.sleep(0.4)
    heads = [_answer(s) for s in slow_heads]
    bodies = [_answer(s) for s in slow_bodies]
    for s in slow_heads + slow_bodies:
        s.close()
    assert served >= 3
    assert all(a.startswith(b"HTTP/1.1 408") for a in heads), heads
    assert all(a.startswith(b"HTTP/1.1 408") and b"too slow" in a for a in bodies), bodies
    assert (
        server.metric('lesrcnn_upscale_rejected_total{reason="header_timeout"}') >= header_cut + 6
    )
    assert server.metric('lesrcnn_upscale_rejected_total{reason="body_timeout"}') >= body_cut + 3
    assert not [p for p in server.job_files() if p.suffix == ".in"]  # the cut upload was deleted


def test_limit_concurrency_then_served_again(server: Server) -> None:
    idle = [_raw(server.port, b"") for _ in range(16)]  # connections that never send a request
    time.sleep(0.3)
    r = httpx.get(f"{server.base}/healthz", timeout=5)
    assert r.status_code == 503  # uvicorn's limit_concurrency
    for s in idle:
        _answer(s)  # the header timeout closes them
        s.close()
    assert httpx.get(f"{server.base}/healthz", timeout=5).status_code == 200


# -- 6. a client that disconnects mid-body --------------------------------------------------------


def test_disconnect_mid_body_is_counted_not_a_traceback(server: Server) -> None:
    name = 'lesrcnn_upscale_rejected_total{reason="client_disconnected"}'
    before = server.metric(name)
    head = b"POST /v1/upscale HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n"
    s = _raw(server.port, head + b"x" * 1000)
    time.sleep(0.3)
    s.close()
    deadline = time.monotonic() + 10
    while server.metric(name) < before + 1:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert "Traceback" not in server.log.read_text(errors="replace")


# -- 7. SVG and other formats we do not read -------------------------------------------------------


def test_svg_and_unknown_content_are_415(server: Server) -> None:
    for body in (SVG, b"plain text, no image"):
        r = httpx.post(f"{server.base}/v1/upscale", content=body, timeout=30)
        assert r.status_code == 415, r.text
    job = httpx.post(f"{server.base}/v1/jobs", content=SVG, timeout=30)  # refused at POST
    assert job.status_code == 415 and "not a video" in job.json()["error"], job.text
    assert not [p for p in server.job_files() if p.suffix == ".in"]  # its upload deleted


# -- 8. jobs take the same options as /v1/upscale -------------------------------------------------


@pytest.mark.parametrize("query", ["outscale=1.5&strip_metadata=false", "fit=50x40&format=jpg"])
def test_jobs_honour_outscale_fit_strip_metadata(server: Server, query: str) -> None:
    img = _png(20, 30, seed=4)
    direct = httpx.post(f"{server.base}/v1/upscale?{query}", content=img, timeout=30)
    assert direct.status_code == 200
    job = httpx.post(f"{server.base}/v1/jobs?{query}", content=img, timeout=30).json()
    _wait_job(server.base, job["id"], {"done"})
    result = httpx.get(f"{server.base}/v1/jobs/{job['id']}/result", timeout=30)
    assert result.content == direct.content  # the same bytes


def test_jobs_refuse_bad_options_like_upscale(server: Server, tmp_path: Path) -> None:
    for query in ("fit=abc", "outscale=99", "strip_metadata=maybe"):
        a = httpx.post(f"{server.base}/v1/upscale?{query}", content=_png(8, 8), timeout=30)
        b = httpx.post(f"{server.base}/v1/jobs?{query}", content=_png(8, 8), timeout=30)
        assert a.status_code == b.status_code == 400
        assert a.json()["error"] == b.json()["error"]
    clip = _clip(tmp_path / "small.mp4", size=(32, 32)).read_bytes()
    r = httpx.post(f"{server.base}/v1/jobs?strip_metadata=true", content=clip, timeout=30)
    assert r.status_code == 400 and "image jobs only" in r.json()["error"]


# -- 4/5. shutdown cap, and a killed server's folder removed by the next ---------------------------


def test_sigterm_cuts_a_trickling_upload_and_deletes_it(tmp_path: Path) -> None:
    s = start(tmp_path, "--shutdown-timeout", "2", "--body-timeout", "60", "--body-min-rate", "1")
    head = b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n"
    sock = _raw(s.port, head + os.urandom(20_000))
    cut = threading.Event()

    def trickle() -> None:  # one byte every 0.1 s: this upload would take more than a day
        while not cut.is_set():
            try:
                sock.sendall(b"x")
            except OSError:
                cut.set()
            time.sleep(0.1)

    sender = threading.Thread(target=trickle)
    sender.start()
    deadline = time.monotonic() + 10
    while not s.job_files():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    try:
        code, _, err = s.stop()
    finally:
        answer = _answer(sock)
        cut.set()
        sender.join()
        sock.close()
    assert code == 0, err
    assert list(tmp_path.glob("lesrcnn-jobs-*")) == []  # the upload's file is gone
    assert answer.startswith(b"HTTP/1.1 503") and b"server shutting down" in answer  # cut
    assert "Traceback" not in err


def test_killed_server_folder_removed_by_the_next_one(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("s3cret\n")
    a = start(tmp_path, name="a")
    live = JobDir(tmp_path)  # this test process is alive and holds its folder's lock
    head = b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000\r\n\r\n"
    sock = _raw(a.port, head + os.urandom(1_500_000))
    deadline = time.monotonic() + 10
    while a.job_bytes() < 1_500_000:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    a.proc.kill()  # as an OOM kill would
    a.proc.wait()
    sock.close()
    (orphan,) = set(tmp_path.glob("lesrcnn-jobs-*")) - {live.root}
    left = sum(p.stat().st_size for p in orphan.iterdir())
    try:
        b = start(tmp_path, "--token-file", str(token), name="b")
        try:
            assert not orphan.exists() and live.root.is_dir()  # the dead one's only
            assert len(list(tmp_path.glob("lesrcnn-jobs-*"))) == 2
            _auth_view(b.base)
        finally:
            code, _, err = b.stop()
    finally:
        live.close()
    assert code == 0
    match = re.search(
        r"removed (\d+) job folder\(s\) of servers that are gone: (\d+) bytes freed", err
    )
    assert match is not None, err
    assert int(match.group(1)) == 1 and int(match.group(2)) == left


def _auth_view(base: str) -> None:
    """#10: without the token a caller sees that the server is alive and ready, and which scales
    and precisions it offers; not the model SHA256s, runtimes or limits."""
    auth = {"Authorization": "Bearer s3cret"}
    assert httpx.get(f"{base}/healthz", timeout=5).json() == {"status": "alive"}
    public = httpx.get(f"{base}/readyz", timeout=5).json()
    assert public == {
        "status": "ready",
        "models": [{"scale": 2, "precision": "int8"}],
        "auth": True,
    }
    full = httpx.get(f"{base}/readyz", headers=auth, timeout=5).json()
    assert len(full["models"][0]["sha256"]) == 64 and full["max_output_pixels"] > 0
    assert httpx.get(f"{base}/openapi.json", timeout=5).status_code == 401
    assert httpx.get(f"{base}/openapi.json", headers=auth, timeout=5).status_code == 200
    assert httpx.get(f"{base}/metrics", timeout=5).status_code == 401


# -- the CLI: one line and its exit code -----------------------------------------------------


def _cli(capfd: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str]:
    """``lesrcnn-deploy upscale ARGS`` in this process: exit code and what reached fd 2."""
    capfd.readouterr()
    code = main(["upscale", *map(str, args), "--quiet", "--runtime", "ort"])
    return code, capfd.readouterr().err


def test_cli_output_cap_svg_damaged_png_one_line_each(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "small.png").write_bytes(_png(20, 20))
    (tmp_path / "mid.png").write_bytes(_png(200, 200))
    (tmp_path / "a.svg").write_bytes(SVG)
    (tmp_path / "svg.mp4").write_bytes(SVG)
    good = _png(32, 32)
    (tmp_path / "bad.png").write_bytes(good[:-60] + bytes(40) + good[-20:])  # IDAT damaged
    cases = [
        (("small.png", "--fit", "16000x16000", "--output", "o.png"), "max_output_pixels=33177600"),
        (("mid.png", "--scale", "2", "--fit", "99x99", "--max-output-pixels", "99999"), "network"),
        (("a.svg", "--scale", "2"), "unsupported file extension .svg"),
        (("svg.mp4", "--scale", "2"), "not a video"),
        (("bad.png", "--scale", "2"), "corrupt PNG (cannot decode: "),
    ]
    for args, needle in cases:
        code, err = _cli(capfd, *args)
        lines = err.strip().splitlines()  # libpng's own line included, had it printed one
        assert code == 1 and len(lines) == 1, (args, err)
        assert lines[0].startswith("lesrcnn-deploy: error: ") and needle in lines[0], lines
    inputs = ["a.svg", "bad.png", "mid.png", "small.png", "svg.mp4"]
    assert sorted(p.name for p in tmp_path.iterdir()) == inputs  # no output, no partial file
    assert DEFAULT_MAX_OUTPUT_PIXELS == 33177600


def test_cli_exit_codes_one_bad_input_is_1_a_bad_option_is_2(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "good.png").write_bytes(_png(16, 16))
    (folder / "bad.png").write_bytes(b"not an image")
    code, err = _cli(capfd, folder, "--scale", "2")
    assert code == 1 and "failed 1" in err
    assert (tmp_path / "in_x2" / "good_x2.png").is_file()
    with pytest.raises(SystemExit) as info:
        _cli(capfd, folder, "--scale", "5")
    assert info.value.code == 2 and len(capfd.readouterr().err.strip().splitlines()) == 1
    code, err = _cli(capfd, folder, "--scale", "2", "--tile-overlap", "3", "--no-tile")
    assert code == 2 and "no effect" in err  # an option error stops the run


def test_openvino_errors_keep_their_reason(tmp_path: Path) -> None:
    ov = pytest.importorskip("openvino")
    try:
        ov.Core().read_model(str(tmp_path / "missing.onnx"))
    except Exception as exc:  # OpenVINO's own exception, several lines
        text = one_line(exc)
    else:  # pragma: no cover
        pytest.fail("OpenVINO read a missing file")
    assert "Could not open the file" in text and "core.cpp" not in text


# -- slow tier: the memory bound at the default limits, cancel within one tile ----------------


@pytest.mark.slow
def test_memory_bound_at_the_default_output_limit(tmp_path: Path) -> None:
    """x4 of 1920x1080 is 7680x4320, exactly the default cap: the worst accepted request."""
    s = start(tmp_path, "--scales", "4")
    try:
        big = _png(1080, 1920, seed=1)
        r = httpx.post(f"{s.base}/v1/upscale?scale=4", content=big, timeout=900)
        assert r.status_code == 200
        assert Image.open(io.BytesIO(r.content)).size == (7680, 4320)
        for query in ("fit=65535x65535", "scale=4&outscale=5"):
            refused = httpx.post(f"{s.base}/v1/upscale?{query}", content=big, timeout=60)
            assert refused.status_code == 413
        peak = s.peak_rss()
    finally:
        code, _, err = s.stop()
    assert code == 0, err
    print(json.dumps({"peak_rss_mb": round(peak / 2**20)}))
    assert peak < 1.6e9  # well within a 2 GB container


@pytest.mark.slow
def test_cancel_and_sigterm_stop_a_video_job_within_one_tile(tmp_path: Path) -> None:
    clip = _clip(tmp_path / "clip.mp4", size=(1600, 1600), frames=3).read_bytes()
    s = start(tmp_path, "--tile", "64", "--max-pixels", "4000000")
    try:
        job = httpx.post(f"{s.base}/v1/jobs", content=clip, timeout=60).json()
        _wait_job(s.base, job["id"], {"running"})
        time.sleep(1.0)
        t = time.monotonic()
        assert httpx.delete(f"{s.base}/v1/jobs/{job['id']}", timeout=5).status_code == 202
        view = _wait_job(s.base, job["id"], {"cancelled", "done", "failed"})
        cancel_s = time.monotonic() - t
        assert view["state"] == "cancelled" and view["progress"]["done"] == 0  # inside frame 1
        assert not s.job_files()  # its files deleted
        # One whole frame, for scale: the same clip to its end.
        one = httpx.post(f"{s.base}/v1/jobs", content=clip, timeout=60).json()
        done = _wait_job(s.base, one["id"], {"done"}, timeout=900)
        frame_s = (done["finished"] - done["started"]) / 3
        again = httpx.post(f"{s.base}/v1/jobs", content=clip, timeout=60).json()
        _wait_job(s.base, again["id"], {"running"})
        time.sleep(1.0)
    finally:
        code, exit_s, err = s.stop()
    assert code == 0, err
    assert list(tmp_path.glob("lesrcnn-jobs-*")) == []
    print(json.dumps({"cancel_s": cancel_s, "sigterm_exit_s": exit_s, "frame_s": frame_s}))
    assert cancel_s < frame_s / 4 and exit_s < frame_s / 2  # a tile, not a frame


# -- the table of errors (docs/robustness.md) is the code's, and each row holds ---------------


def test_docs_table_is_the_codes_table() -> None:
    page = (Path(__file__).resolve().parents[1] / "docs" / "robustness.md").read_text()
    assert markdown_table() in page


def _job_status(server: Server, body: bytes) -> int:
    job = httpx.post(f"{server.base}/v1/jobs", content=body, timeout=30)
    if job.status_code != 202:
        return job.status_code
    _wait_job(server.base, job.json()["id"], {"failed", "done"})
    return httpx.get(f"{server.base}/v1/jobs/{job.json()['id']}/result", timeout=5).status_code


def test_each_error_row_holds_on_the_server_and_the_cli(
    server: Server,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("small.png").write_bytes(_png(20, 20))
    good = _png(32, 32)
    damaged = good[:-60] + bytes(40) + good[-20:]
    Path("bad.png").write_bytes(damaged)
    Path("a.svg").write_bytes(SVG)
    whole = _clip(tmp_path / "whole.mp4", size=(64, 64), frames=6).read_bytes()
    Path("cut.mp4").write_bytes(whole[: len(whole) // 2])
    big = _clip(tmp_path / "big.mp4", size=(1008, 1008)).read_bytes()
    Path("bad.onnx").write_bytes(b"\x08\x07 not a model" * 50)

    def upscale(query: str, body: bytes) -> int:
        return httpx.post(f"{server.base}/v1/upscale?{query}", content=body, timeout=30).status_code

    cases: dict[str, tuple[int, tuple[str, ...]]] = {
        "ConfigError": (
            upscale("fit=abc", good),
            ("small.png", "--tile-overlap", "3", "--no-tile"),
        ),
        "ImageError": (upscale("", damaged), ("bad.png", "--scale", "2")),
        "UnsupportedFormatError": (upscale("", SVG), ("a.svg", "--scale", "2")),
        "ImageTooLargeError": (
            upscale("fit=65535x65535", good),
            ("small.png", "--fit", "9999x9999"),
        ),
        "VideoError": (
            _job_status(server, Path("cut.mp4").read_bytes()),
            ("cut.mp4", "--scale", "2"),
        ),
        "VideoTooLargeError": (
            _job_status(server, big),
            ("whole.mp4", "--scale", "2", "--max-output-pixels", "1000"),
        ),
        "ModelError": (500, ("small.png", "--model", "bad.onnx")),
    }
    rows = {r.what.split("`")[1]: r for r in error_rows() if r.what.startswith("`")}
    assert set(rows) == set(cases)
    for name, (http, args) in cases.items():
        code, err = _cli(capfd, *args)
        assert (str(http), code) == (rows[name].http, rows[name].cli), (name, err)
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, (name, err)
    # a server whose model is bad does not start: one line, exit 2
    port = str(free_port())
    serve = [sys.executable, "-m", "lesrcnn_deploy", "serve", "--model", "bad.onnx"]
    r = subprocess.run([*serve, "--port", port], env=server_env(), capture_output=True, text=True)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    # the service's own rows: 413 from Content-Length alone, 401 in test_killed_server..., 408,
    # 499 and 503 in the slow-client tests above, 429 in test_serve_jobs.py
    s = _raw(
        server.port, b"POST /v1/upscale HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999\r\n\r\n"
    )
    assert _answer(s).startswith(b"HTTP/1.1 413")
    s.close()
