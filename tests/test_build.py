"""The default models: built once from recipes, reused while current, rebuilt when the fp32 model or
the recipe changes, and never trained on the way.

A random-weight x2 model stands in for the official export (no shared data), with a recipe made
for it in a temporary cache directory.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import onnx
import pytest
from conftest import stand_in_for_official

import lesrcnn_deploy.quantization.calibration as calibration
import lesrcnn_deploy.quantization.finetune as finetune
from lesrcnn_deploy.core.errors import ModelError
from lesrcnn_deploy.core.onnx_io import read_metadata
from lesrcnn_deploy.core.paths import cache_dir, models_dir, recipes_dir
from lesrcnn_deploy.models import shipped
from lesrcnn_deploy.models.build import (
    build,
    default_recipe_path,
    fp32_is_current,
    shipped_recipe_path,
)
from lesrcnn_deploy.quantization import QuantizationConfig, RecipeMismatch, train_recipe
from lesrcnn_deploy.quantization.config import CalibrationConfig
from lesrcnn_deploy.quantization.recipe import save_recipe
from lesrcnn_deploy.upscale import Upscaler


@pytest.fixture
def cache(random_fp32: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cache dir holding the random x2 model as the default fp32 model and a recipe for it."""
    monkeypatch.setenv("LESRCNN_CACHE_DIR", str(tmp_path))
    fp32 = stand_in_for_official(random_fp32, models_dir() / "lesrcnn_x2.onnx")
    recipe = train_recipe(
        fp32,
        config=QuantizationConfig.ptq(),
        calibration=CalibrationConfig(count=4, crop=32),
        progress=False,
    )
    save_recipe(recipe, recipes_dir() / "lesrcnn_x2_int8.recipe.json")
    return tmp_path


@pytest.fixture
def no_training(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any calibration or fine-tuning from here on fails the test."""

    def refuse(*_: object, **__: object) -> None:
        pytest.fail("a default model build started calibration or training")

    monkeypatch.setattr(finetune, "finetune_weights", refuse)
    monkeypatch.setattr(calibration, "compute_ranges", refuse)


def test_cache_layout(cache: Path) -> None:
    assert cache_dir() == cache and models_dir() == cache / "models"
    assert recipes_dir() == cache / "recipes"
    assert default_recipe_path(2) == cache / "recipes" / "lesrcnn_x2_int8.recipe.json"
    assert default_recipe_path(3) == shipped_recipe_path(3)  # no retrained x3 recipe here


def test_int8_built_from_recipe_then_reused(cache: Path, no_training: None) -> None:
    path = build(2, "int8").path
    assert path == models_dir() / "lesrcnn_x2_int8.onnx"
    meta = read_metadata(path)
    assert meta["precision"] == "int8" and len(meta["recipe_sha256"]) == 64
    stamp = path.stat().st_mtime_ns
    assert build(2, "int8").path == path and path.stat().st_mtime_ns == stamp  # reused
    # inference runs the shipped int8 model, never a build of the cache
    assert Upscaler(2, "int8", tile=0).model_path == shipped(2).path != path


def test_int8_rebuilt_when_recipe_or_fp32_changes(
    cache: Path, random_fp32: Path, no_training: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = build(2, "int8").path
    first = path.read_bytes()
    os.utime(path, (1, 1))
    # another recipe (other calibration seed) for the same fp32 model: rebuilt, other bytes
    monkeypatch.undo()  # training allowed again to make the other recipe
    monkeypatch.setenv("LESRCNN_CACHE_DIR", str(cache))
    other = train_recipe(
        models_dir() / "lesrcnn_x2.onnx",
        config=QuantizationConfig.ptq(),
        calibration=CalibrationConfig(count=4, crop=32, seed=7),
        progress=False,
    )
    save_recipe(other, recipes_dir() / "lesrcnn_x2_int8.recipe.json")
    rebuilt = build(2, "int8").path
    assert rebuilt.read_bytes() != first
    assert read_metadata(rebuilt)["recipe_sha256"] == other.sha256
    # a different fp32 model under the default name: the recipe no longer applies, one line
    # says how to retrain, and the stale int8 model is not used
    fp32 = models_dir() / "lesrcnn_x2.onnx"
    model = onnx.load(str(fp32))
    model.doc_string = "another export"
    onnx.save(model, str(fp32))
    assert fp32_is_current(fp32, 2)  # still an official export by its metadata: not re-exported
    with pytest.raises(RecipeMismatch, match=r"--retrain"):
        build(2, "int8")


def test_stale_fp32_export_is_detected(cache: Path, random_fp32: Path) -> None:
    fp32 = models_dir() / "lesrcnn_x2.onnx"
    assert fp32_is_current(fp32, 2)
    shutil.copy(random_fp32, fp32)  # not an export of the official checkpoint
    assert not fp32_is_current(fp32, 2)
    with pytest.raises(ModelError, match="not the official export"):
        build(2, "fp32", build=False)


def test_missing_model_without_build_is_an_error(cache: Path) -> None:
    with pytest.raises(ModelError, match="make quantize"):
        build(2, "int8", build=False)
    with pytest.raises(ModelError, match="make export"):
        build(3, "fp32", build=False)
