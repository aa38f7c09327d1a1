"""Recipes: the saved result of calibration + fine-tuning, replayed into byte-identical int8 models.

Runs on a random-weight x2 model (no shared data); the committed recipes of the official models are
checked in test_quantization_models.py and, retrained from scratch, in the slow tier.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from lesrcnn_deploy.core.errors import ChecksumError, QuantizationError
from lesrcnn_deploy.quantization import (
    QuantizationConfig,
    Recipe,
    RecipeMismatch,
    apply_recipe,
    load_recipe,
    quantize_model,
    save_recipe,
    train_recipe,
)
from lesrcnn_deploy.quantization.config import CalibrationConfig, FinetuneConfig
from lesrcnn_deploy.quantization.recipe import config_digest, recipe_paths

CAL = CalibrationConfig(count=4, crop=32)
SHORT = FinetuneConfig(steps=4, warmup=1, batch=2, hr_crop=64, val_count=2)


@pytest.fixture(scope="module")
def tuned(random_fp32: Path) -> Recipe:
    cfg = dataclasses.replace(QuantizationConfig.default(), finetune=SHORT, name="short")
    return train_recipe(random_fp32, config=cfg, calibration=CAL, progress=False)


def test_recipe_round_trips_and_replays_byte_identically(
    tuned: Recipe, random_fp32: Path, tmp_path: Path
) -> None:
    path = save_recipe(tuned, tmp_path / "x2.recipe.json")
    again = load_recipe(path)
    assert again.sha256 == tuned.sha256 and again.config == tuned.config
    # 48 fine-tuned float32 tensors + conv18's GPTQ int8 weights and their float32 scales
    assert set(again.tensors) == set(tuned.tensors) and len(again.tensors) == 50
    int8 = sorted(k for k, v in again.tensors.items() if v.dtype == np.int8)
    assert int8 == ["/model/conv18/conv18.0/Conv_folded_weight_w8"]
    assert all(np.array_equal(again.tensors[k], tuned.tensors[k]) for k in tuned.tensors)
    assert again.ranges == tuned.ranges and again.fp32_sha256 == tuned.fp32_sha256
    a = apply_recipe(random_fp32, tuned, output=tmp_path / "a.onnx")
    b = apply_recipe(random_fp32, again, output=tmp_path / "b.onnx")
    assert a.path.read_bytes() == b.path.read_bytes()
    # the one-call API with the recipe is the same replay
    c = quantize_model(random_fp32, tmp_path / "c.onnx", recipe=again)
    assert c.sha256 == a.sha256
    meta = json.loads(a.manifest_path.read_text())
    assert meta["recipe_sha256"] == tuned.sha256 and meta["config_sha256"] == tuned.config_sha256


def test_saved_files_are_deterministic_and_small(tuned: Recipe, tmp_path: Path) -> None:
    p1 = save_recipe(tuned, tmp_path / "one" / "r.recipe.json")
    p2 = save_recipe(tuned, tmp_path / "two" / "r")
    for a, b in zip(recipe_paths(p1), recipe_paths(p2), strict=True):
        assert a.read_bytes() == b.read_bytes()  # no timestamps: same recipe, same bytes
    npz = recipe_paths(p1)[1]
    n_params = sum(a.size for a in tuned.tensors.values())
    assert npz.stat().st_size < 4 * n_params + 64 * 1024  # float32 tensors, little overhead
    body = json.loads(p1.read_text())
    assert body["sha256"] == tuned.sha256 and body["tensors"]["count"] == 50
    assert (
        "cpu" in body["provenance"]
        and "seconds" in body["provenance"]
        and body["training"]["finetune"]["steps"] == SHORT.steps
        and body["training"]["tail_weights"]["nodes"] == ["/model/conv18/conv18.0/Conv"]
    )


def test_post_training_recipe_has_no_tensor_file(random_fp32: Path, tmp_path: Path) -> None:
    r = train_recipe(random_fp32, config=QuantizationConfig.ptq(), calibration=CAL, progress=False)
    assert r.tensors == {} and r.training == {}
    path = save_recipe(r, tmp_path / "ptq.recipe.json")
    assert not recipe_paths(path)[1].exists()
    assert load_recipe(path).sha256 == r.sha256


def test_tampered_recipes_are_refused(tuned: Recipe, tmp_path: Path) -> None:
    path = save_recipe(tuned, tmp_path / "r.recipe.json")
    data = json.loads(path.read_text())
    first = next(iter(data["ranges"]))
    data["ranges"][first][1] *= 1.01
    path.write_text(json.dumps(data))
    with pytest.raises(ChecksumError, match="checksum mismatch"):
        load_recipe(path)
    path = save_recipe(tuned, tmp_path / "r.recipe.json")
    npz = recipe_paths(path)[1]
    other = {k: v + 1e-3 for k, v in tuned.tensors.items()}
    save_recipe(dataclasses.replace(tuned, tensors=other), tmp_path / "o.recipe.json")
    npz.write_bytes((tmp_path / "o.recipe.npz").read_bytes())
    with pytest.raises(ChecksumError, match="do not match the recipe's digest"):
        load_recipe(path)
    npz.unlink()
    with pytest.raises(ChecksumError, match="tensor file is missing"):
        load_recipe(path)
    (tmp_path / "bad.recipe.json").write_text("{")
    with pytest.raises(QuantizationError, match="unreadable recipe"):
        load_recipe(tmp_path / "bad.recipe.json")
    (tmp_path / "v0.recipe.json").write_text('{"version": 0}')
    with pytest.raises(QuantizationError, match="not a version-1 recipe"):
        load_recipe(tmp_path / "v0.recipe.json")


def test_recipe_of_another_model_or_config_is_never_used(
    tuned: Recipe, random_fp32: Path, tmp_path: Path
) -> None:
    other = dataclasses.replace(tuned, fp32_sha256="0" * 64)
    with pytest.raises(RecipeMismatch, match=r"made for the fp32 model 000000000000.*--retrain"):
        apply_recipe(random_fp32, other, output=tmp_path / "x.onnx")
    assert not (tmp_path / "x.onnx").exists()
    with pytest.raises(RecipeMismatch, match="another quantization configuration"):
        quantize_model(random_fp32, tmp_path / "y.onnx", recipe=tuned, preset="default")
    # a tensor that does not fit the graph (e.g. a recipe of another architecture)
    name = next(iter(tuned.tensors))
    bad = dict(tuned.tensors)
    bad[name] = np.zeros((1, 2, 3), np.float32)
    with pytest.raises(RecipeMismatch, match="does not fit this graph"):
        apply_recipe(
            random_fp32, dataclasses.replace(tuned, tensors=bad), output=tmp_path / "z.onnx"
        )


def test_config_digest_ignores_the_name_only() -> None:
    a = QuantizationConfig.default()
    assert config_digest(a) == config_digest(dataclasses.replace(a, name="renamed"))
    assert config_digest(a) != config_digest(QuantizationConfig.ptq())
