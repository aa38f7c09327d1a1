"""``/v1/upscale`` with ``outscale``, ``fit`` and ``strip_metadata``, on the real app in process.

The server loads the shipped x2 and x4 int8 models; a JPEG with a Display P3 profile, EXIF (GPS)
and XMP goes in, and the exact output size, the model that ran and the metadata are checked.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("starlette")

from PIL import Image
from starlette.testclient import TestClient
from test_image_metadata import P3, XMP, camera_exif

from lesrcnn_deploy.models import artifacts_dir
from lesrcnn_deploy.serve.app import create_app
from lesrcnn_deploy.serve.config import ServeConfig
from lesrcnn_deploy.serve.engine import ModelPool


@pytest.fixture(scope="module")
def client() -> Any:
    models = {(s, "int8"): artifacts_dir() / f"lesrcnn_x{s}_int8.onnx" for s in (2, 4)}
    pool = ModelPool(ServeConfig(models=models, tile=0))
    pool.load()
    with TestClient(create_app(ServeConfig(models=models, tile=0), pool=pool)) as c:
        yield c


def _jpeg(h: int = 20, w: int = 30) -> bytes:
    px = np.clip(np.random.default_rng(0).normal(128, 40, (h, w, 3)), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(px).save(buf, "JPEG", icc_profile=P3, exif=camera_exif(1), xmp=XMP)
    return buf.getvalue()


def _post(client: Any, query: str) -> Any:
    return client.post(f"/v1/upscale?{query}", content=_jpeg())


@pytest.mark.parametrize(
    ("query", "size", "scale"),
    [
        ("outscale=1.5", (45, 30), "2"),
        ("outscale=3", (90, 60), "4"),  # no x3 loaded: x4, then area down
        ("outscale=3&scale=2", (90, 60), "2"),  # the asked scale, then Lanczos up
        ("fit=50x50", (50, 33), "2"),  # 33.3 -> 33
        ("fit=100x100", (100, 67), "4"),
        ("scale=4", (120, 80), "4"),
    ],
)
def test_sizes_and_the_model_that_ran(
    client: Any, query: str, size: tuple[int, int], scale: str
) -> None:
    r = _post(client, query)
    assert r.status_code == 200, r.text
    assert r.headers["X-Model-Scale"] == scale
    with Image.open(io.BytesIO(r.content)) as im:
        assert im.size == size


def test_metadata_stripped_by_default_kept_on_request(client: Any) -> None:
    with Image.open(io.BytesIO(_post(client, "").content)) as im:
        assert im.info["icc_profile"] == P3  # the colours' meaning stays
        assert len(im.getexif()) == 0 and "XML:com.adobe.xmp" not in im.info  # no GPS echoed
    r = _post(client, "strip_metadata=false&format=jpg")
    with Image.open(io.BytesIO(r.content)) as im:
        assert im.info["icc_profile"] == P3
        assert im.getexif().get_ifd(0x8825)[0x0001] == "N" and "xmp" in im.info


@pytest.mark.parametrize(
    "query", ["outscale=abc", "outscale=0", "fit=10", "outscale=2&fit=9x9", "strip_metadata=maybe"]
)
def test_bad_values_are_400(client: Any, query: str) -> None:
    r = _post(client, query)
    assert r.status_code == 400 and "\n" not in r.json()["error"]


def test_openapi_lists_the_parameters(client: Any, tmp_path: Path) -> None:
    spec = client.get("/openapi.json").json()
    names = [p["name"] for p in spec["paths"]["/v1/upscale"]["post"]["parameters"]]
    assert {"outscale", "fit", "strip_metadata"} <= set(names)
