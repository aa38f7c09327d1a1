"""Quantization-aware fine-tuning: ORT's weight grid, straight-through gradients, trained scales
that ORT maps back exactly, PixelShuffle still int8, determinism, config validation.

Runs on a random-weight x2 model (no shared data; its near-constant output makes "error goes
down" meaningless here): the accuracy gain on the official models is asserted in
test_quantization_models.py.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper

from lesrcnn_deploy.core.errors import ConfigError
from lesrcnn_deploy.quantization import QuantizationConfig, quantize_model
from lesrcnn_deploy.quantization.calibration import collect_patches, load_calibration_images
from lesrcnn_deploy.quantization.config import (
    CalibrationConfig,
    FinetuneConfig,
    FinetuneLoss,
    WeightRoundingConfig,
)
from lesrcnn_deploy.quantization.finetune import fake_quantize_weight
from lesrcnn_deploy.quantization.simulate import QdqSimulator

CAL = CalibrationConfig(count=4, crop=32)
SHORT = FinetuneConfig(steps=12, warmup=2, batch=2, hr_crop=64, val_count=2)


def _config(ft: FinetuneConfig | None) -> QuantizationConfig:
    # the fine-tuning alone (the int8 tail weights, fitted after it, are tested with OpenVINO)
    cfg = QuantizationConfig.default()
    return dataclasses.replace(cfg, finetune=ft, tail_weights=None, name="test")


def test_fake_quantize_weight_is_orts_grid_with_straight_through_gradient() -> None:
    g = torch.Generator().manual_seed(0)
    w = torch.randn(6, 4, 3, 3, generator=g) * torch.linspace(0.01, 1.0, 6).view(6, 1, 1, 1)
    w.requires_grad_(True)
    q = fake_quantize_weight(w)
    scale = w.detach().abs().amax(dim=(1, 2, 3), keepdim=True) / 127
    ints = q.detach() / scale
    assert torch.allclose(ints, torch.round(ints), atol=1e-4)  # on the grid
    assert torch.allclose(q.detach(), torch.round(w.detach() / scale) * scale)
    assert float(ints.abs().amax()) == pytest.approx(127, abs=1e-4)  # max|w| -> +-127
    q.sum().backward()
    assert w.grad is not None and torch.equal(w.grad, torch.ones_like(w))
    # per tensor: one scale for all channels, the small channels lose resolution
    qt = fake_quantize_weight(w.detach(), per_channel=False)
    w0 = w[0].detach()
    assert float((qt[0] - w0).abs().max()) > float((q[0].detach() - w0).abs().max())


def test_simulator_forward_matches_run_and_has_gradients(random_fp32: Path, tmp_path: Path) -> None:
    r = quantize_model(random_fp32, tmp_path / "q.onnx", preset="ptq", calibration=CAL)
    sim = QdqSimulator(onnx.load(str(r.path)))
    x = torch.from_numpy(
        collect_patches(load_calibration_images(CAL), count=2, crop=24, seed=5)
    ).requires_grad_(True)
    y = sim.forward(x)
    assert torch.allclose(y.detach(), sim.run(x.detach()), atol=1e-6)
    y.square().mean().backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0


def test_finetuning_trains_scales_and_keeps_pixelshuffle_int8(
    random_fp32: Path, tmp_path: Path
) -> None:
    base = quantize_model(random_fp32, tmp_path / "ptq.onnx", config=_config(None), calibration=CAL)
    tuned = quantize_model(
        random_fp32, tmp_path / "ft.onnx", config=_config(SHORT), calibration=CAL
    )
    st = tuned.recipe.training["finetune"]
    assert st["steps"] == SHORT.steps and st["lr_crop"] == 32
    assert st["scales"] > 20 and st["parameters"] > 40  # every activation scale, weights, biases
    assert np.isfinite(st["val_psnr_before"]) and np.isfinite(st["val_psnr_after"])
    # the recipe holds every trained weight and bias (48 tensors), the plain build none
    assert len(tuned.recipe.tensors) == st["parameters"] and not base.recipe.tensors
    assert base.recipe.training == {} and base.sha256 != tuned.sha256
    assert all(d.is_int8 for d in tuned.depth_to_space)
    # trained scales were handed to ORT as ranges and came back as the same scales
    m = onnx.load(str(tuned.path))
    inits = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    d2s = next(n for n in m.graph.node if n.op_type == "DepthToSpace")
    producer = {o: n for n in m.graph.node for o in n.output}
    dq_in = producer[d2s.input[0]]
    q_out = next(
        n for n in m.graph.node if n.op_type == "QuantizeLinear" and n.input[0] == d2s.output[0]
    )
    assert inits[dq_in.input[1]] == inits[q_out.input[1]]  # one scale through PixelShuffle
    base_scales = {
        i.name: numpy_helper.to_array(i)
        for i in onnx.load(str(base.path)).graph.initializer
        if i.name.endswith("_output_0_scale")
    }
    moved = [k for k, v in base_scales.items() if k in inits and not np.allclose(v, inits[k])]
    assert len(moved) > 10
    manifest = json.loads(tuned.manifest_path.read_text())
    assert manifest["training"]["finetune"]["val_psnr_after"] == st["val_psnr_after"]
    assert manifest["recipe_sha256"] == tuned.recipe.sha256


@pytest.mark.slow  # moved out of the fast tier: `make test` stays under 10 min
def test_finetuning_is_seeded(random_fp32: Path, tmp_path: Path) -> None:
    a = quantize_model(random_fp32, tmp_path / "a.onnx", config=_config(SHORT), calibration=CAL)
    b = quantize_model(
        random_fp32,
        tmp_path / "b.onnx",
        config=_config(SHORT),
        table=a.calibration,  # replayed table: fine-tuning runs again, same result
    )
    assert a.path.read_bytes() == b.path.read_bytes()
    other = dataclasses.replace(SHORT, seed=1)
    c = quantize_model(random_fp32, tmp_path / "c.onnx", config=_config(other), table=a.calibration)
    assert c.sha256 != a.sha256


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"steps": 0}, "steps must be an integer >= 1"),
        ({"steps": 10, "warmup": 10}, "warmup .* shorter than steps"),
        ({"lr": 0}, "lr must be a finite number > 0"),
        ({"scale_lr": -1e-3}, "scale_lr must be a finite number >= 0"),
        ({"loss": "l1"}, "choose from rgb, y"),
        ({"hr_crop": 32}, "hr_crop must be an integer >= 48"),
    ],
)
def test_finetune_config_errors(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        FinetuneConfig(**kwargs)  # type: ignore[arg-type]


def test_finetune_config_json_presets_and_exclusions() -> None:
    cfg = QuantizationConfig.default()
    assert cfg.finetune == FinetuneConfig() and cfg.trains_biases
    assert cfg.finetune.loss is FinetuneLoss.RGB
    assert QuantizationConfig.from_json(cfg.to_json()) == cfg
    assert QuantizationConfig.ptq().finetune is None and not QuantizationConfig.ptq().trains_biases
    assert FinetuneConfig().lr_crop(2) == 48 and FinetuneConfig().lr_crop(4) == 24
    assert "fine-tuning: 600 steps" in str(cfg)
    with pytest.raises(ConfigError, match="exclude each other"):
        dataclasses.replace(cfg, weight_rounding=WeightRoundingConfig())
    with pytest.raises(ConfigError, match="finetune must be a FinetuneConfig"):
        QuantizationConfig(finetune="yes")  # type: ignore[arg-type]


def _transposes(path: Path) -> int:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.optimized_model_filepath = str(path.with_suffix(".opt.onnx"))
    ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    return sum(n.op_type == "Transpose" for n in onnx.load(so.optimized_model_filepath).graph.node)


def test_layout_anchor_is_an_exact_identity_that_removes_transposes(
    random_fp32: Path, tmp_path: Path
) -> None:
    import onnxruntime as ort

    ptq = QuantizationConfig.ptq()
    plain = quantize_model(
        random_fp32,
        tmp_path / "plain.onnx",
        config=dataclasses.replace(ptq, layout_anchors=False),
        calibration=CAL,
    )
    anchored = quantize_model(
        random_fp32, tmp_path / "anchored.onnx", config=ptq, table=plain.calibration
    )
    convs = [n.name for n in onnx.load(str(anchored.path)).graph.node if n.op_type == "Conv"]
    assert sum("layout_anchor" in c for c in convs) == 1  # conv1's output feeds two adds
    x = collect_patches(load_calibration_images(CAL), count=2, crop=32, seed=3)

    def run(p: Path) -> np.ndarray:
        s = ort.InferenceSession(str(p), providers=["CPUExecutionProvider"])
        return np.asarray(s.run(None, {"input": x})[0])

    assert np.array_equal(run(plain.path), run(anchored.path))
    assert _transposes(anchored.path) <= _transposes(plain.path) - 10
