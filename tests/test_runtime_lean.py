"""The runtime install's path: `Upscaler`, `upscale` (an image and a folder), `info` and the server
run the shipped int8 models without importing PyTorch or onnx (checked in a fresh process's
`sys.modules`), and ONNX metadata is read without the onnx package, exactly as onnx reads it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import onnx
import pytest

from lesrcnn_deploy.core.errors import ModelError
from lesrcnn_deploy.core.onnx_io import META_PREFIX, read_metadata
from lesrcnn_deploy.models import shipped

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("torch", "onnx", "skimage", "sympy", "matplotlib", "scipy", "nncf")

CODE = """
import sys
from pathlib import Path

import numpy as np
from starlette.testclient import TestClient

from lesrcnn_deploy.cli import main
from lesrcnn_deploy.data import encode_image, save_image
from lesrcnn_deploy.serve.app import create_app
from lesrcnn_deploy.serve.config import ServeConfig
from lesrcnn_deploy.upscale import Upscaler

work = Path(sys.argv[1])
img = np.random.default_rng(0).integers(0, 256, (40, 56, 3), dtype=np.uint8)
(work / "folder").mkdir()
save_image(work / "one.png", img)
save_image(work / "folder" / "a.png", img)
assert Upscaler(2).upscale(img).shape == (80, 112, 3)
assert main(["upscale", str(work / "one.png"), "--scale", "3", "--quiet"]) == 0
assert main(["upscale", str(work / "folder"), "--scale", "4", "--quiet"]) == 0
assert main(["info"]) == 0
with TestClient(create_app(ServeConfig(scales=(2,), threads=1))) as client:
    for _ in range(600):
        if client.get("/readyz").status_code == 200:
            break
        __import__("time").sleep(0.1)
    r = client.post("/v1/upscale?scale=2", content=encode_image(img, "png"))
    assert r.status_code == 200, r.text
    assert r.headers["X-Model-Precision"] == "int8"
print("HEAVY", ",".join(m for m in HEAVY if m in sys.modules))
"""


def test_inference_path_imports_neither_torch_nor_onnx(tmp_path: Path) -> None:
    pytest.importorskip("starlette")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LESRCNN_CACHE_DIR": str(tmp_path / "cache")}
    run = subprocess.run(
        [sys.executable, "-c", f"HEAVY = {HEAVY!r}\n{CODE}", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.strip().splitlines()[-1] == "HEAVY"
    assert (tmp_path / "one_x3.png").is_file()
    assert (tmp_path / "folder_x4" / "a_x4.png").is_file()
    # nothing was built or downloaded: the shipped models ran from the package
    assert not (tmp_path / "cache" / "models").exists()


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_metadata_reader_equals_onnx(scale: int) -> None:
    path = shipped(scale).path
    proto = onnx.load(str(path), load_external_data=False)
    expected = {
        p.key[len(META_PREFIX) :]: p.value
        for p in proto.metadata_props
        if p.key.startswith(META_PREFIX)
    }
    assert read_metadata(path) == expected
    assert expected["scale"] == str(scale) and len(expected) >= 10


def test_metadata_reader_refuses_what_is_not_a_model(tmp_path: Path) -> None:
    data = shipped(2).path.read_bytes()
    cases = {
        "truncated.onnx": data[: len(data) // 3],
        "garbage.onnx": os.urandom(4096),
        "text.onnx": b"this is not a model\n" * 20,
        "empty.onnx": b"",
    }
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(ModelError, match=rf"{name}: not a readable ONNX model"):
            read_metadata(tmp_path / name)


BLOCK = """
import sys

class _NoBuildSide:  # the runtime install: PyTorch and onnx are not there
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "onnx"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)

sys.meta_path.insert(0, _NoBuildSide())
from lesrcnn_deploy.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize(
    ("args", "extra"),
    [
        (["export", "--scale", "2"], "build"),
        (["quantize", "--scale", "2"], "build"),
        (["gate"], "bench"),
        (["bench", "--quick"], "bench"),
    ],
)
def test_build_commands_name_the_extra_in_one_line(args: list[str], extra: str) -> None:
    run = subprocess.run(
        [sys.executable, "-c", BLOCK, *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=120,
    )
    assert run.returncode == 2
    assert run.stderr == (
        f"lesrcnn-deploy: error: lesrcnn-deploy {args[0]} needs torch, which is not installed: "
        f"pip install 'lesrcnn-deploy[{extra}]'\n"
    )
