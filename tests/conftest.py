"""Shared fixtures. Data-dependent fixtures fail (not skip) under CI=true when data is missing.

Tests that use the shared data (directly or through the official models) are marked ``data``
automatically; ``slow`` tests are marked by hand (``make test`` leaves them to ``make test-all``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import onnx
import pytest

from lesrcnn_deploy.core.paths import shared_dir


def require(path: Path, what: str) -> Path:
    """Return ``path`` if it exists; else fail under ``CI=true`` and skip elsewhere."""
    if path.exists():
        return path
    msg = f"{what} not found at {path}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{msg} (required under CI=true)")
    pytest.skip(msg)


DATA_FIXTURES = frozenset({"shared", "set5", "set14", "weights_dir", "fp32_models", "int8_models"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that needs ../shared (weights or datasets) with ``data``."""
    for item in items:
        if DATA_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.data)


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
def fp32_models(weights_dir: Path) -> dict[int, Path]:
    """The default x2/x3/x4 fp32 models (official checkpoints exported as `make export` does),
    shared with `make bench` and `upscale` through the models folder."""
    from lesrcnn_deploy.models.build import build

    return {s: build(s, "fp32").path for s in (2, 3, 4)}


@pytest.fixture(scope="session")
def int8_models(fp32_models: dict[int, Path]) -> dict[int, Path]:
    """The default x2/x3/x4 int8 models, replayed from the committed recipes (seconds) exactly as
    `make quantize` does, or reused when `make quantize` already built them."""
    from lesrcnn_deploy.models.build import build

    return {s: build(s, "int8").path for s in fp32_models}


@pytest.fixture(scope="session")
def random_fp32(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-weight x2 model exported like `make export` (fused upsample), no shared data."""
    import torch

    from lesrcnn_deploy.network.export import export_onnx
    from lesrcnn_deploy.network.lesrcnn import build_model

    torch.manual_seed(0)
    model = build_model(2, fuse_upsample=True)
    out = tmp_path_factory.mktemp("rand") / "lesrcnn_x2.onnx"
    return export_onnx(model, out).path


@pytest.fixture(scope="session")
def random_int8(random_fp32: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The random-weight x2 model quantized with the fast ``ptq`` preset (same graph as ours)."""
    from lesrcnn_deploy.quantization import quantize_model
    from lesrcnn_deploy.quantization.config import CalibrationConfig

    out = tmp_path_factory.mktemp("ov_int8") / "lesrcnn_x2_int8.onnx"
    calib = CalibrationConfig(count=8, crop=48)  # fewer patches than the default: fast
    return quantize_model(random_fp32, out, preset="ptq", calibration=calib, progress=False).path


def random_lesrcnn(
    scale: int | None, seed: int = 0, *, fuse: bool = False, positive: bool = False
) -> Any:
    """A LESRCNN with seeded random weights (N(0, 0.05), ``abs`` with ``positive``; the mean
    shift kept): the one random network of the tests."""
    import torch

    from lesrcnn_deploy.network.lesrcnn import build_model

    model = build_model(scale, fuse_upsample=fuse)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "mean" not in name:
                w = torch.randn(p.shape, generator=g) * 0.05
                p.copy_(w.abs() if positive else w)
    return model


def export_random(scale: int, path: Path, seed: int = 0) -> Path:
    """:func:`random_lesrcnn` exported like `make export` (fused upsampler, parity-checked)."""
    from lesrcnn_deploy.network.export import export_onnx

    ref = random_lesrcnn(scale, seed)
    fused = random_lesrcnn(scale, seed, fuse=True)
    fused.load_state_dict(ref.state_dict())
    return export_onnx(fused, path, reference=ref).path


@pytest.fixture(scope="session")
def random_models(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    """x2/x3/x4 fp32 models of :func:`export_random` (seed 0), exported on first use."""
    out = tmp_path_factory.mktemp("random_models")

    class Lazy(dict[int, Path]):
        def __missing__(self, scale: int) -> Path:
            self[scale] = export_random(scale, out / f"rand_x{scale}.onnx")
            return self[scale]

    return Lazy()


def stand_in_for_official(model: Path, target: Path) -> Path:
    """Copy ``model`` to ``target`` with the metadata of an official x2 export (the default-model
    builder re-exports an fp32 file that is not one)."""
    from lesrcnn_deploy import __version__
    from lesrcnn_deploy.weights.registry import get_weights

    proto = onnx.load(str(model))
    values = {
        "lesrcnn.checkpoint_sha256": get_weights(2).sha256,
        "lesrcnn.toolkit_version": __version__,
    }
    for prop in proto.metadata_props:
        if prop.key in values:
            prop.value = str(values[prop.key])
    target.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(proto, str(target))
    return target
