"""Real int8 models of the official checkpoints: accuracy bound, PixelShuffle in int8, replay and
determinism, manifest, sensitivity report. Needs ../shared (fails under CI=true, else skips).

The quantized models are built once per session (default configuration, built-in calibration
photos) and shared by the tests.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from lesrcnn_deploy.errors import QuantizationError
from lesrcnn_deploy.quantization import (
    QuantizationConfig,
    QuantizationResult,
    check_depth_to_space_int8,
    load_table,
    quantize_model,
)
from lesrcnn_deploy.quantization.calibration import collect_patches, load_calibration_images
from lesrcnn_deploy.quantization.config import CalibrationConfig
from lesrcnn_deploy.quantization.graph import prepare_graph
from lesrcnn_deploy.quantization.sensitivity import sensitivity_report
from lesrcnn_deploy.quantization.simulate import QdqSimulator

# The project's bar for the default configuration (fine-tuned int8): PSNR drop <= 0.05 dB and
# SSIM drop <= 0.001 against the fp32 ONNX model, paper protocol, every scale and set.
PSNR_DROP_BOUND_DB = {2: 0.05, 3: 0.05, 4: 0.05}
SSIM_DROP_BOUND = 0.001


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_int8_drop_within_bound(
    scale: int,
    fp32_models: dict[int, Path],
    int8_models: dict[int, QuantizationResult],
    set5: Path,
    set14: Path,
) -> None:
    from lesrcnn_deploy.evaluate import evaluate_model

    for root in (set5, set14):
        a = evaluate_model(fp32_models[scale], root, scale=scale, threads=2, progress=False)
        b = evaluate_model(int8_models[scale].path, root, scale=scale, threads=2, progress=False)
        drop, sdrop = a.psnr - b.psnr, a.ssim - b.ssim
        where = (
            f"x{scale} {a.dataset}: fp32 {a.psnr:.3f}/{a.ssim:.4f} int8 {b.psnr:.3f}/{b.ssim:.4f}"
        )
        assert drop <= PSNR_DROP_BOUND_DB[scale], where
        assert sdrop <= SSIM_DROP_BOUND, where


def test_every_depth_to_space_is_int8(int8_models: dict[int, QuantizationResult]) -> None:
    for s, r in int8_models.items():
        n_d2s = 2 if s == 4 else 1
        assert len(r.depth_to_space) == n_d2s, s
        assert all(d.is_int8 for d in r.depth_to_space)
        again = check_depth_to_space_int8(r.path)
        assert [d.input_type for d in again] == ["UINT8"] * n_d2s


def test_check_catches_float_depth_to_space(
    fp32_models: dict[int, Path], int8_models: dict[int, QuantizationResult], tmp_path: Path
) -> None:
    # without the ReLU/DepthToSpace swap, the fused export leaves DepthToSpace -> Relu in float
    cfg = QuantizationConfig(relu_before_depth_to_space=False, name="float_d2s")
    out = tmp_path / "bad.onnx"
    with pytest.raises(QuantizationError, match=r"DepthToSpace '.*DepthToSpace' runs in float"):
        quantize_model(
            fp32_models[2], out, config=cfg, ranges=int8_models[2].calibration, measure=False
        )
    assert not out.exists() and not out.with_suffix(".json").exists()
    # the same good model seen by an unoptimized session: DQ -> DepthToSpace -> Q, float
    with pytest.raises(QuantizationError, match="FLOAT -> FLOAT"):
        check_depth_to_space_int8(
            int8_models[2].path, level=ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        )


def test_replayed_calibration_gives_the_same_model(
    fp32_models: dict[int, Path],
    int8_models: dict[int, QuantizationResult],
    int8_dir: Path,
    tmp_path: Path,
) -> None:
    # the default build saved its calibration table; post-training quantization from freshly
    # computed ranges and from the replayed table are byte-identical (fine-tuning's own
    # determinism on a replayed table: test_quantization_finetune.py)
    table = load_table(int8_dir / "lesrcnn_x3_int8.calib.json")
    assert table.ranges == int8_models[3].calibration.ranges
    first = quantize_model(
        fp32_models[3], tmp_path / "fresh.onnx", preset="ptq", measure=False, progress=False
    )
    assert first.calibration.ranges == table.ranges
    again = quantize_model(
        fp32_models[3],
        tmp_path / "replay.onnx",
        preset="ptq",
        ranges=int8_dir / "lesrcnn_x3_int8.calib.json",
        measure=False,
        progress=False,
    )
    assert again.path.read_bytes() == first.path.read_bytes()


def test_same_seed_gives_a_byte_identical_model(
    fp32_models: dict[int, Path], int8_models: dict[int, QuantizationResult], tmp_path: Path
) -> None:
    kw = {"preset": "ptq", "measure": False, "progress": False}
    first = quantize_model(fp32_models[2], tmp_path / "first.onnx", **kw)  # type: ignore[arg-type]
    again = quantize_model(fp32_models[2], tmp_path / "again.onnx", **kw)  # type: ignore[arg-type]
    assert again.sha256 == first.sha256
    other = quantize_model(
        fp32_models[2],
        tmp_path / "other.onnx",
        calibration=CalibrationConfig(seed=1),
        **kw,  # type: ignore[arg-type]
    )
    assert other.sha256 != first.sha256
    assert int8_models[2].calibration.ranges == first.calibration.ranges


def test_manifest(int8_models: dict[int, QuantizationResult], fp32_models: dict[int, Path]) -> None:
    r = int8_models[2]
    m = json.loads(r.manifest_path.read_text())
    assert m["sha256"] == r.sha256 and m["artifact"] == r.path.name
    assert set(m["versions"]) >= {"onnx", "onnxruntime", "numpy", "torch"}
    assert m["config"] == QuantizationConfig.default().to_dict()
    assert m["calibration"]["config"]["source"] == "builtin:skimage"
    assert len(m["calibration"]["images"]) >= 8
    assert all(len(h) == 64 for h in m["calibration"]["images"].values())
    assert m["source"]["sha256"] and m["depth_to_space"][0]["input"] == "UINT8"
    # fine-tuning brought the int8 output closer to fp32 on held-out calibration patches
    ft = m["finetune"]
    assert ft["steps"] == QuantizationConfig.default().finetune.steps  # type: ignore[union-attr]
    assert ft["val_psnr_after"] > ft["val_psnr_before"] + 0.5, ft
    meta = {p.key: p.value for p in onnx.load(str(r.path)).metadata_props}
    assert meta["lesrcnn.precision"] == "int8" and meta["lesrcnn.scale"] == "2"


def test_sensitivity_report_and_simulator_match_ort(
    fp32_models: dict[int, Path], int8_models: dict[int, QuantizationResult]
) -> None:
    import torch

    cfg = QuantizationConfig.default()
    prepared = prepare_graph(
        onnx.load(str(fp32_models[2])),
        zero_biases=cfg.trains_biases,
    )
    qdq = onnx.load(str(int8_models[2].path))
    held = CalibrationConfig(count=3, crop=32, seed=99)
    x = collect_patches(load_calibration_images(held), count=3, crop=32, seed=99)
    # the PyTorch simulation of the QDQ graph reproduces ORT's int8 output closely
    sess = ort.InferenceSession(str(int8_models[2].path), providers=["CPUExecutionProvider"])
    ref = ort.InferenceSession(str(fp32_models[2]), providers=["CPUExecutionProvider"])
    y_ort = sess.run(None, {"input": x})[0]
    y_sim = QdqSimulator(qdq).run(torch.from_numpy(x)).numpy()
    y32 = ref.run(None, {"input": x})[0]

    def sqnr(y: np.ndarray) -> float:
        return float(10 * np.log10((y32**2).sum() / ((y - y32) ** 2).sum()))

    assert abs(sqnr(y_ort) - sqnr(y_sim)) < 0.5
    rep = sensitivity_report(qdq, prepared, x, progress=False)
    kinds = {e.kind for e in rep.entries}
    assert kinds == {"activation", "weight"}
    assert rep.entries[0].noise >= rep.entries[-1].noise
    assert abs(rep.total_sqnr_db - sqnr(y_sim)) < 0.5
    assert "conv18" not in {e.layer for e in rep.entries if e.kind == "weight"}  # kept in fp32
    assert "SQNR" in rep.format_table(5)
