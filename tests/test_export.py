"""ONNX export: DepthToSpace, checker, metadata, parity gate, fixed/dynamic shapes, blind heads."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from conftest import random_lesrcnn

from lesrcnn_deploy.core.errors import ExportError
from lesrcnn_deploy.core.onnx_io import read_metadata
from lesrcnn_deploy.runtime.ort import OnnxRunner


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_export_random_weights_dynamic(tmp_path: Path, scale: int) -> None:
    from lesrcnn_deploy.network.export import export_onnx

    ref = random_lesrcnn(scale)
    fused = random_lesrcnn(scale, fuse=True)
    fused.load_state_dict(ref.state_dict())
    res = export_onnx(fused, tmp_path / "m.onnx", checkpoint_sha256="ab" * 32, reference=ref)
    proto = onnx.load(res.path)
    ops = [n.op_type for n in proto.graph.node]
    assert "DepthToSpace" in ops and res.depth_to_space == (2 if scale == 4 else 1)
    assert all(
        a.s == b"CRD"
        for n in proto.graph.node
        if n.op_type == "DepthToSpace"
        for a in n.attribute
        if a.name == "mode"
    )
    assert res.parity_random <= 1e-4 and res.parity_image <= 1e-4
    meta = read_metadata(res.path)
    assert meta["scale"] == str(scale) and meta["checkpoint_sha256"] == "ab" * 32
    assert meta["input"].startswith("RGB float32 in [0, 1], NCHW")
    manifest = json.loads(res.manifest.read_text())
    assert manifest["sha256"] == res.sha256 and manifest["versions"]["onnxruntime"]
    runner = OnnxRunner(res.path)
    y = runner(np.random.default_rng(0).random((2, 3, 13, 17), dtype=np.float32))
    assert y.shape == (2, 3, 13 * scale, 17 * scale)


def test_fixed_input_size(tmp_path: Path) -> None:
    from lesrcnn_deploy.core.errors import ModelError
    from lesrcnn_deploy.network.export import export_onnx

    res = export_onnx(random_lesrcnn(2), tmp_path / "fixed.onnx", input_size=32)
    runner = OnnxRunner(res.path)
    assert runner(np.zeros((1, 3, 32, 32), np.float32)).shape == (1, 3, 64, 64)
    with pytest.raises(ModelError, match="fixed 32x32 input"):
        runner(np.zeros((1, 3, 30, 32), np.float32))


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_blind_model_exports_each_head(tmp_path: Path, scale: int) -> None:
    from lesrcnn_deploy.network.export import export_onnx

    res = export_onnx(random_lesrcnn(None), tmp_path / f"b{scale}.onnx", scale=scale)
    assert read_metadata(res.path)["model"] == "LESRCNN-blind"
    assert OnnxRunner(res.path).scale == scale
    with pytest.raises(ExportError, match="one head at a time"):
        export_onnx(random_lesrcnn(None), tmp_path / "none.onnx")


def test_parity_failure_writes_nothing(tmp_path: Path) -> None:
    from lesrcnn_deploy.network.export import export_onnx

    out = tmp_path / "bad.onnx"
    with pytest.raises(ExportError, match="parity check failed"):
        export_onnx(random_lesrcnn(2, seed=1), out, reference=random_lesrcnn(2, seed=2))
    assert not out.exists() and list(tmp_path.iterdir()) == []
