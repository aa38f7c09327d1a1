"""The shipped default int8 models (lesrcnn_deploy/artifacts/): pinned by SHA256SUMS, made from the
committed recipes and the official checkpoints, and equal byte for byte to a rebuild (`make
quantize`; a fresh CI clone rebuilds them from the checkpoints here)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import lesrcnn_deploy.models.packaged as shipped_module
from lesrcnn_deploy import __version__
from lesrcnn_deploy.core.errors import ChecksumError
from lesrcnn_deploy.core.fileio import sha256_file
from lesrcnn_deploy.core.onnx_io import read_metadata
from lesrcnn_deploy.models import shipped, shipped_sha256
from lesrcnn_deploy.models.build import shipped_recipe_path
from lesrcnn_deploy.quantization.recipe import load_recipe
from lesrcnn_deploy.weights.registry import get_weights

ROOT = Path(__file__).resolve().parent.parent


def test_shipped_models_are_the_committed_recipes_of_the_official_checkpoints() -> None:
    sums = shipped_sha256()
    assert sorted(sums) == [f"lesrcnn_x{s}_int8.onnx" for s in (2, 3, 4)]
    for scale in (2, 3, 4):
        model = shipped(scale)
        path = model.path
        assert sha256_file(path) == sums[path.name] == model.sha256
        meta = read_metadata(path)
        assert meta["scale"] == str(scale)
        assert meta["precision"] == "int8"
        assert meta["toolkit_version"] == __version__
        assert meta["checkpoint_sha256"] == get_weights(scale).sha256
        committed = load_recipe(ROOT / "calibration" / f"lesrcnn_x{scale}_int8.recipe.json")
        assert meta["recipe_sha256"] == committed.sha256
        assert load_recipe(shipped_recipe_path(scale)).sha256 == committed.sha256
        assert 500_000 < path.stat().st_size < 1_200_000


def test_shipped_models_equal_the_rebuild(int8_models: dict[int, Path]) -> None:
    sums = shipped_sha256()
    for scale, rebuilt in int8_models.items():
        name = f"lesrcnn_x{scale}_int8.onnx"
        assert sha256_file(rebuilt) == sums[name], f"{name}: run `make artifacts` and commit"


def test_a_damaged_shipped_model_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for item in shipped_module.artifacts_dir().iterdir():
        if item.suffix == ".onnx" or item.name == "SHA256SUMS":
            shutil.copy(item, tmp_path / item.name)
    data = bytearray((tmp_path / "lesrcnn_x3_int8.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tmp_path / "lesrcnn_x3_int8.onnx").write_bytes(bytes(data))
    monkeypatch.setattr(shipped_module, "artifacts_dir", lambda: tmp_path)
    monkeypatch.setattr(shipped_module, "_opened", {})
    assert shipped(2).path == tmp_path / "lesrcnn_x2_int8.onnx"
    with pytest.raises(ChecksumError, match=r"lesrcnn_x3_int8\.onnx: SHA256 .* reinstall"):
        shipped(3)
    (tmp_path / "lesrcnn_x4_int8.onnx").unlink()
    with pytest.raises(Exception, match="shipped int8 model missing"):
        shipped(4)
