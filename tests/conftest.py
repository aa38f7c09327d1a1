"""Shared fixtures. Data-dependent fixtures fail (not skip) under CI=true when data is missing."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from lesrcnn_deploy.paths import shared_dir


def require(path: Path, what: str) -> Path:
    """Return ``path`` if it exists; else fail under ``CI=true`` and skip elsewhere."""
    if path.exists():
        return path
    msg = f"{what} not found at {path}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{msg} (required under CI=true)")
    pytest.skip(msg)


@pytest.fixture(scope="session")
def shared() -> Path:
    """The read-only shared folder (weights and datasets)."""
    return require(shared_dir(), "shared data folder")


@pytest.fixture(scope="session")
def set5(shared: Path) -> Path:
    return require(shared / "datasets" / "Set5", "Set5")


@pytest.fixture(scope="session")
def set14(shared: Path) -> Path:
    return require(shared / "datasets" / "Set14", "Set14")


@pytest.fixture(scope="session")
def weights_dir(shared: Path) -> Path:
    return require(shared / "weights", "official weights")


@pytest.fixture(scope="session")
def fp32_models(weights_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    """The three official checkpoints exported to dynamic-shape fp32 ONNX (as `make export`)."""
    from lesrcnn_deploy.export import export_onnx
    from lesrcnn_deploy.weights import load_model

    out = tmp_path_factory.mktemp("fp32")
    paths = {}
    for s in (2, 3, 4):
        ref, _, digest = load_model(s, weights_dir / f"lesrcnn_x{s}.pth")
        fused, _, _ = load_model(s, weights_dir / f"lesrcnn_x{s}.pth", fuse_upsample=True)
        paths[s] = export_onnx(
            fused, out / f"lesrcnn_x{s}.onnx", checkpoint_sha256=digest, reference=ref
        ).path
    return paths


@pytest.fixture(scope="session")
def int8_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("int8")


@pytest.fixture(scope="session")
def int8_models(fp32_models: dict[int, Path], int8_dir: Path) -> dict[int, Any]:
    """x2/x3/x4 int8 models rebuilt with the default configuration and built-in calibration
    photos, exactly as CI's gate and `make quantize` do (one build shared by every test)."""
    from lesrcnn_deploy.quantization import quantize_model

    return {
        s: quantize_model(
            p,
            int8_dir / f"lesrcnn_x{s}_int8.onnx",
            save_calibration=int8_dir / f"lesrcnn_x{s}_int8.calib.json",
            measure=False,
            progress=False,
        )
        for s, p in fp32_models.items()
    }


@pytest.fixture(scope="session")
def random_fp32(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-weight x2 model exported like `make export` (fused upsample), no shared data."""
    import torch

    from lesrcnn_deploy.export import export_onnx
    from lesrcnn_deploy.model import build_model

    torch.manual_seed(0)
    model = build_model(2, fuse_upsample=True)
    out = tmp_path_factory.mktemp("rand") / "lesrcnn_x2.onnx"
    return export_onnx(model, out).path
