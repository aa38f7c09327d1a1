"""The HTTP service in process: API, error statuses, queue limits, disconnects, auth, metrics."""

from __future__ import annotations

import asyncio
import io
import itertools
import json
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("starlette")
pytest.importorskip("prometheus_client")

from PIL import Image
from starlette.testclient import TestClient

from lesrcnn_deploy.cli import main
from lesrcnn_deploy.core.fileio import sha256_file
from lesrcnn_deploy.data import encode_image
from lesrcnn_deploy.serve.app import create_app
from lesrcnn_deploy.serve.config import ServeConfig, models_by_key
from lesrcnn_deploy.serve.engine import ModelPool, RequestCancelled, upscale_bytes


def _png(h: int = 24, w: int = 20, c: int = 3, dtype: Any = np.uint8, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    top = np.iinfo(dtype).max
    return encode_image(rng.integers(0, top, (h, w, c), endpoint=True).astype(dtype), "png")


@pytest.fixture(scope="module")
def pool(random_fp32: Path) -> ModelPool:
    """One loaded x2 fp32 random-weight model shared by the module's apps, on ONNX Runtime (these
    tests are about the HTTP layer and the worker pool's bounds: `--workers` means workers there;
    the OpenVINO server is tested in test_serve_runtime.py)."""
    p = ModelPool(ServeConfig(models={(2, "fp32"): random_fp32}, runtime="ort"))
    p.load()
    return p


def _app(pool: ModelPool, **options: Any) -> Any:
    cfg = ServeConfig(models=dict(pool.config.models), runtime=pool.config.runtime, **options)
    return create_app(cfg, pool=pool)


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0.0


async def _asgi_post(
    app: Any,
    chunks: Iterable[bytes],
    *,
    query: str = "",
    headers: dict[str, str] | None = None,
    disconnect: asyncio.Event | None = None,
) -> tuple[int, dict[str, str], bytes, int]:
    """POST /v1/upscale straight into the ASGI app; returns status, headers, body, bytes read."""
    consumed = 0
    stream: Iterator[bytes] = iter(chunks)
    pending = next(stream, None)

    async def receive() -> dict[str, Any]:
        nonlocal consumed, pending
        if pending is not None:
            chunk, pending = pending, next(stream, None)
            consumed += len(chunk)
            return {"type": "http.request", "body": chunk, "more_body": pending is not None}
        if disconnect is not None:
            await disconnect.wait()
            return {"type": "http.disconnect"}
        await asyncio.Future()  # never: the client stays
        raise AssertionError

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    raw = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/upscale",
        "raw_path": b"/v1/upscale",
        "query_string": query.encode(),
        "headers": raw,
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 8000),
        "app": app,
    }
    await app(scope, receive, send)
    start = sent[0]
    body = b"".join(m.get("body", b"") for m in sent[1:])
    hdrs = {k.decode(): v.decode() for k, v in start["headers"]}
    return start["status"], hdrs, body, consumed


def test_models_by_key_reads_scale_and_precision_from_the_files(
    random_fp32: Path, tmp_path: Path
) -> None:
    from lesrcnn_deploy.core.errors import ConfigError, ModelError
    from lesrcnn_deploy.models import shipped

    int8 = shipped(3).path  # the shipped x3 int8 model, named nothing like its key
    assert models_by_key([random_fp32, int8]) == {(2, "fp32"): random_fp32, (3, "int8"): int8}
    twin = tmp_path / "copy.onnx"
    twin.write_bytes(random_fp32.read_bytes())
    with pytest.raises(ConfigError, match=r"both x2 fp32 models: give one --model per"):
        models_by_key([random_fp32, twin])
    with pytest.raises(ModelError, match="not found"):
        models_by_key([tmp_path / "nope.onnx"])
    # every --model is served; --scales/--precision add default models around it
    models = {(2, "fp32"): random_fp32}
    assert ServeConfig(models=models).model_keys() == [(2, "fp32")]
    assert ServeConfig(models=models, scales=(2, 3)).model_keys() == [(2, "fp32"), (3, "fp32")]
    assert ServeConfig(models=models, precisions=("int8",)).model_keys() == [
        (2, "int8"),
        (2, "fp32"),
    ]


def test_health_ready_metrics_openapi(pool: ModelPool) -> None:
    with TestClient(_app(pool)) as client:
        assert client.get("/healthz").json() == {"status": "alive"}
        ready = client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["models"][0]["sha256"] == sha256_file(pool.config.models[(2, "fp32")])
        assert client.post("/v1/upscale?scale=2", content=_png()).status_code == 200
        assert client.post("/v1/upscale", content=b"garbage").status_code == 415  # not an image
        assert client.post("/v1/upscale", content=b"\x89PNG\r\n\x1a\n").status_code == 400
        metrics = client.get("/metrics")
        assert metrics.headers["content-type"].startswith("text/plain")
        text = metrics.text
        assert _metric(text, 'lesrcnn_upscale_requests_total{status="200"}') == 1
        assert _metric(text, 'lesrcnn_upscale_requests_total{status="400"}') == 1
        assert _metric(text, 'lesrcnn_upscale_requests_total{status="415"}') == 1
        assert _metric(text, "lesrcnn_upscale_latency_seconds_count") == 1
        assert _metric(text, "lesrcnn_in_flight") == 0
        assert _metric(text, "lesrcnn_queue_depth") == 0
        spec = client.get("/openapi.json").json()
        assert spec["openapi"].startswith("3.")
        params = spec["paths"]["/v1/upscale"]["post"]["parameters"]
        assert {p["name"] for p in params} == {
            "scale",
            "format",
            "precision",
            "outscale",
            "fit",
            "strip_metadata",
        }


def test_readyz_waits_for_models(random_fp32: Path) -> None:
    cfg = ServeConfig(models={(2, "fp32"): random_fp32})
    app = create_app(cfg)  # loads at start-up
    client = TestClient(app)
    assert client.get("/readyz").status_code == 503  # no lifespan yet: nothing loaded
    with client:
        assert client.get("/readyz").status_code == 200


def _exif_jpeg() -> bytes:
    rng = np.random.default_rng(3)
    im = Image.fromarray(rng.integers(0, 255, (16, 24, 3), dtype=np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 clockwise to display
    buf = io.BytesIO()
    im.save(buf, "JPEG", exif=exif, quality=90)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("rgb8.png", _png()),
        ("gray16.png", _png(c=1, dtype=np.uint16, seed=1)),
        ("rgba8.png", _png(c=4, seed=2)),
        ("exif.jpg", _exif_jpeg()),
    ],
)
def test_same_bytes_as_upscale_cli(pool: ModelPool, tmp_path: Path, name: str, data: bytes) -> None:
    model = pool.config.models[(2, "fp32")]
    src = tmp_path / name
    src.write_bytes(data)
    out = tmp_path / "out.png"
    argv = ["upscale", str(src), "--scale", "2", "--model", str(model), "--output", str(out)]
    # the server strips EXIF/XMP by default: the CLI's --strip-metadata
    assert main([*argv, "--precision", "fp32", "--quiet", "--strip-metadata"]) == 0
    with TestClient(_app(pool)) as client:
        r = client.post("/v1/upscale?scale=2&precision=fp32&format=png", content=data)
    assert r.status_code == 200
    assert r.headers["content-type"] == "image/png"
    assert r.headers["x-model-sha256"] == sha256_file(model)
    assert float(r.headers["x-inference-seconds"]) > 0
    assert r.content == out.read_bytes()


def test_jpg_and_webp_outputs(pool: ModelPool) -> None:
    with TestClient(_app(pool)) as client:
        jpg = client.post("/v1/upscale?format=jpg", content=_png())
        webp = client.post("/v1/upscale?format=webp", content=_png())
    assert jpg.headers["content-type"] == "image/jpeg" and jpg.content[:2] == b"\xff\xd8"
    assert webp.headers["content-type"] == "image/webp" and webp.content[8:12] == b"WEBP"
    assert Image.open(io.BytesIO(webp.content)).size == (40, 48)


def test_body_over_limit_is_refused_before_reading_it(pool: ModelPool) -> None:
    app = _app(pool, max_body_bytes=100_000)
    # Declared too large: refused on the header, not one body byte read.
    status, _, body, consumed = asyncio.run(
        _asgi_post(app, itertools.repeat(b"x" * 65536), headers={"content-length": "10000000"})
    )
    assert (status, consumed) == (413, 0)
    assert json.loads(body)["status"] == 413
    # Chunked (no length): reading stops at the first chunk past the limit.
    status, _, _, consumed = asyncio.run(_asgi_post(app, itertools.repeat(b"x" * 65536)))
    assert status == 413
    assert consumed == 2 * 65536


def test_too_many_pixels_is_413(pool: ModelPool) -> None:
    with TestClient(_app(pool, max_pixels=24 * 20 - 1)) as client:
        r = client.post("/v1/upscale", content=_png(24, 20))
        assert r.status_code == 413
        assert "too large" in r.json()["error"]
        assert client.post("/v1/upscale", content=_png(20, 20)).status_code == 200


def test_corrupt_and_unsupported(pool: ModelPool) -> None:
    gif = io.BytesIO()
    Image.new("RGB", (8, 8)).save(gif, "GIF")
    with TestClient(_app(pool)) as client:
        for bad, status in ((b"not an image at all", 415), (_png()[:60], 400), (b"", 400)):
            r = client.post("/v1/upscale", content=bad)
            assert r.status_code == status, bad[:10]  # foreign content: 415; damaged: 400
            assert r.headers["content-type"] == "application/json"
            assert r.json()["error"]
        assert client.post("/v1/upscale", content=gif.getvalue()).status_code == 415
        assert client.post("/v1/upscale?format=gif", content=_png()).status_code == 415
        # 16 bit cannot go into JPEG: an unsupported combination, 415 as well
        r = client.post("/v1/upscale?format=jpg", content=_png(c=3, dtype=np.uint16))
        assert r.status_code == 415
        assert client.post("/v1/upscale?scale=4", content=_png()).status_code == 400
        assert client.post("/v1/upscale?precision=int8", content=_png()).status_code == 400


def test_queue_full_is_503_with_retry_after(pool: ModelPool) -> None:
    app = _app(pool, workers=1, max_queue=1)
    engine = app.state.service.engine
    gate = threading.Event()
    with TestClient(app) as client:
        assert engine.capacity == 2
        held = [engine.submit(gate.wait) for _ in range(2)]  # one running, one waiting
        try:  # a failed assertion must not leave the workers blocked (the exit would hang)
            r = client.post("/v1/upscale", content=_png())
            assert r.status_code == 503
            assert r.headers["retry-after"] == "1"
            assert "busy" in r.json()["error"]
            text = client.get("/metrics").text
            assert _metric(text, 'lesrcnn_upscale_rejected_total{reason="queue_full"}') == 1
            assert _metric(text, "lesrcnn_in_flight") == 1
            assert _metric(text, "lesrcnn_queue_depth") == 1
        finally:
            gate.set()
        for f in held:
            f.result(timeout=10)
        assert client.post("/v1/upscale", content=_png()).status_code == 200


def test_client_disconnect_frees_its_slot(pool: ModelPool) -> None:
    app = _app(pool, workers=1, max_queue=1)
    engine = app.state.service.engine
    gate = threading.Event()
    blocker = engine.submit(gate.wait)  # the only worker is busy

    async def scenario() -> tuple[int, bool, int]:
        left = asyncio.Event()
        waiting = asyncio.ensure_future(_asgi_post(app, [_png()], disconnect=left))
        for _ in range(500):  # until the request is admitted and queued
            if engine.queued == 1:
                break
            await asyncio.sleep(0.01)
        full_before = engine.full
        left.set()  # the client goes away
        status, _, _, _ = await waiting
        return status, full_before, engine.queued

    try:
        status, full_before, queued_after = asyncio.run(scenario())
    finally:
        gate.set()
        blocker.result(timeout=10)
    assert full_before is True
    assert status == 499
    assert queued_after == 0 and not engine.full
    text = app.state.service.metrics.render().decode()
    assert _metric(text, 'lesrcnn_upscale_rejected_total{reason="client_disconnected"}') == 1


def test_running_job_stops_at_next_tile(pool: ModelPool) -> None:
    cancel = threading.Event()
    cancel.set()
    model = pool.get(2, "fp32")
    assert model is not None
    with pytest.raises(RequestCancelled):
        upscale_bytes(model, _png(), max_pixels=10**6, cancel=cancel)
    # the shared upscaler was not touched by the request's cancellable view
    assert type(model.upscaler.runner).__name__ == "OnnxRunner"


def test_bearer_token(pool: ModelPool, tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("s3cret\n")
    app = _app(pool, token_file=token)
    status, hdrs, _, consumed = asyncio.run(_asgi_post(app, [_png()]))
    assert (status, consumed) == (401, 0)  # refused before the body is read
    assert hdrs["www-authenticate"] == "Bearer"
    status, _, _, consumed = asyncio.run(
        _asgi_post(app, [_png()], headers={"authorization": "Bearer wrong"})
    )
    assert (status, consumed) == (401, 0)
    with TestClient(app) as client:
        assert client.get("/metrics").status_code == 401
        assert client.get("/healthz").status_code == 200
        ok = client.post("/v1/upscale", content=_png(), headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200
        text = client.get("/metrics", headers={"Authorization": "Bearer s3cret"}).text
    assert _metric(text, 'lesrcnn_upscale_rejected_total{reason="unauthorized"}') == 3
    assert _metric(text, "lesrcnn_upscale_latency_seconds_count") == 1  # only the good one ran


def test_config_validation(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="max_queue"):
        ServeConfig(max_queue=-1)
    empty = tmp_path / "empty"
    empty.write_text("  \n")
    with pytest.raises(ValueError, match="empty"):
        ServeConfig(token_file=empty).read_token()
    keys = ServeConfig(scales=(2, 4), precisions=("fp32", "int8")).model_keys()
    assert keys == [(2, "fp32"), (4, "fp32"), (2, "int8"), (4, "int8")]


def test_format_serving_section() -> None:
    from lesrcnn_deploy.bench.serving import format_serving

    res = {
        "config": {"size": 256, "requests": 16, "workers": 2, "max_queue": 8},
        "levels": [
            {
                "precision": "int8",
                "concurrency": 4,
                "requests": 16,
                "errors": 0,
                "images_per_s": 5.25,
                "p50_ms": 700.4,
                "p99_ms": 910.0,
            }
        ],
        "overload": {
            "concurrent": 32,
            "queue_limit": 8,
            "capacity": 10,
            "statuses": {"200": 10, "503": 22},
            "share_503": 22 / 32,
            "alive": True,
            "peak_rss_mb": 300.0,
            "exit_code_after_sigterm": 0,
        },
        "ray": None,
    }
    text = format_serving(res)
    assert "| int8 | 4 | 0/16 | 5.25 | 700 | 910 |" in text
    assert "503 share 69 %" in text and "alive" in text
