"""OpenVINO as a second runtime: parity with ONNX Runtime, 8-bit PixelShuffle, tiling, ``auto``."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from lesrcnn_deploy.cli import main
from lesrcnn_deploy.core.errors import ConfigError, QuantizationError, RuntimeUnavailableError
from lesrcnn_deploy.models import open_model
from lesrcnn_deploy.runtime import choice as runtime_select
from lesrcnn_deploy.runtime.choice import resolve_runtime
from lesrcnn_deploy.runtime.dispatch import open_runner
from lesrcnn_deploy.runtime.ort import OnnxRunner
from lesrcnn_deploy.runtime.ov import (
    INSTALL_HINT,
    OpenVinoRunner,
    check_depth_to_space_int8_openvino,
)
from lesrcnn_deploy.runtime.timing import SpeedResult
from lesrcnn_deploy.upscale.api import Upscaler
from lesrcnn_deploy.upscale.tiling import receptive_field, tiled_forward

pytest.importorskip("openvino")


def _x(h: int = 40, w: int = 52, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((1, 3, h, w), dtype=np.float32)


def _u8(y: np.ndarray) -> np.ndarray:
    return np.rint(np.clip(y, 0.0, 1.0) * 255).astype(np.int16)


def test_fp32_with_f32_pinned_matches_ort(random_fp32: Path) -> None:
    ov = OpenVinoRunner(random_fp32, threads=2)
    x = _x()
    ref = OnnxRunner(random_fp32, threads=2)(x)
    y = ov(x)
    assert y.shape == ref.shape == (1, 3, 80, 104)
    assert float(np.abs(y - ref).max()) <= 1e-5 * max(1.0, float(np.abs(ref).max()))
    assert ov.kind == "openvino-fp32" and ov.precision == "fp32"
    assert ov.config["INFERENCE_PRECISION_HINT"] == "f32"
    assert set(ov.conv_precisions()) == {"f32"}  # nothing lowered to bf16 behind our back


def test_int8_matches_ort_int8(random_int8: Path) -> None:
    x = _x(seed=1)
    ref = _u8(OnnxRunner(random_int8, threads=2)(x))
    ov = OpenVinoRunner(random_int8, threads=2)
    got = _u8(ov(x))
    diff = np.abs(got - ref)
    assert 0.1 < float(ref.mean()) / 255 < 0.9  # the comparison is not decided by clipping
    assert float((diff <= 2).mean()) >= 0.99
    assert int(diff.max()) <= 8
    assert ov.kind == "openvino-int8"


def test_int8_precision_report_and_depth_to_space_8bit(
    random_int8: Path, random_fp32: Path
) -> None:
    ov = OpenVinoRunner(random_int8, threads=2)
    counts = ov.conv_precisions()
    # our fp32 head/tail (sub_mean, conv1, conv18 with add_mean folded) stay f32; the rest u8
    assert counts.get("f32") == 3 and counts.get("u8", 0) >= 20, counts
    assert "u8" in ov.describe_precision()
    infos = check_depth_to_space_int8_openvino(ov)
    assert len(infos) == 1 and infos[0].is_int8 and infos[0].runtime_precision == "u8"
    with pytest.raises(QuantizationError, match=r"DepthToSpace .* runs in f32"):
        check_depth_to_space_int8_openvino(OpenVinoRunner(random_fp32, threads=2))


def test_bf16_is_its_own_precision(random_fp32: Path, tmp_path: Path) -> None:
    r = open_runner(random_fp32, runtime="openvino", compute="bf16", threads=2)
    assert isinstance(r, OpenVinoRunner) and r.kind == "openvino-bf16"
    assert r.config["INFERENCE_PRECISION_HINT"] == "bf16"
    with pytest.raises(ConfigError, match="bf16 runs on OpenVINO only"):
        resolve_runtime(random_fp32, "ort", compute="bf16")
    choice = resolve_runtime(random_fp32, "auto", compute="bf16", cache_dir=tmp_path)
    assert choice.runtime == "openvino" and choice.float_precision == "bf16"


@pytest.mark.parametrize("which", ["fp32", "int8"])
def test_tiled_equals_whole_image_on_openvino(
    random_fp32: Path, random_int8: Path, which: str
) -> None:
    runner = OpenVinoRunner(random_fp32 if which == "fp32" else random_int8, threads=2)
    x = _x(45, 58, seed=2)
    whole = runner(x)
    tiled = tiled_forward(runner, x, tile=16, overlap=receptive_field(2))
    assert tiled.shape == whole.shape == (1, 3, 90, 116)
    tol = 1e-4 if which == "fp32" else 1 / 255  # int8: same codes, float rounding of the tail
    assert float(np.abs(tiled - whole).max()) <= tol
    assert len(runner._compiled) <= 4  # one compiled model per tile shape, bounded


def test_upscaler_and_open_runner_take_runtime(random_int8: Path) -> None:
    up = Upscaler(2, "int8", model=random_int8, runtime="openvino", tile=24, threads=2)
    assert isinstance(up.runner, OpenVinoRunner) and up.runtime_choice.runtime == "openvino"
    img = (np.random.default_rng(3).random((30, 37, 3)) * 255).astype(np.uint8)
    out = up.upscale(img)
    ref = Upscaler(2, "int8", model=random_int8, runtime="ort", tile=24, threads=2).upscale(img)
    assert out.shape == ref.shape == (60, 74, 3)
    assert float((np.abs(out.astype(int) - ref) <= 2).mean()) >= 0.99
    assert open_runner(random_int8, runtime="openvino").kind == "openvino-int8"


def test_int8_conv_kernels_say_whether_amx_ran(
    random_int8: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from lesrcnn_deploy.core.system import system_info
    from lesrcnn_deploy.runtime.kernels import int8_conv_kernels

    k = int8_conv_kernels(random_int8, threads=1)
    assert k.int8_convs >= 20 and sum(k.float_primitives.values()) == 3  # head/tail in float
    assert all(p.endswith("I8") for p in k.primitives), k.primitives
    # on AMX hardware OpenVINO takes the AMX kernels; without the flag it cannot
    assert k.on_amx == system_info().amx and k.amx_convs == (k.int8_convs if k.on_amx else 0)
    assert k.summary().startswith(("yes (" if k.on_amx else "no (") + f"{k.amx_convs} of ")
    # `info` says it too, from the default x2 int8 model of the models folder
    monkeypatch.setenv("LESRCNN_CACHE_DIR", str(tmp_path))
    (tmp_path / "models").mkdir()
    shutil.copy(random_int8, tmp_path / "models" / "lesrcnn_x2_int8.onnx")
    assert main(["info", "--json", str(tmp_path / "info.json")]) == 0
    out = capsys.readouterr().out
    assert f"int8 convolutions on AMX (OpenVINO, x2 int8 model): {k.summary()}" in out
    assert f"AMX {'yes' if system_info().amx else 'no'}" in out and "default runtime: auto" in out
    machine = json.loads((tmp_path / "info.json").read_text())["machine"]
    assert machine["openvino_int8_convs"]["on_amx"] == k.on_amx
    assert machine["system"]["amx"] == system_info().amx and machine["default_runtime"] == "auto"


def test_auto_measures_once_then_reads_the_cache(
    random_int8: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = resolve_runtime(random_int8, "auto", threads=2, cache_dir=tmp_path)  # real timing
    assert not first.cached and set(first.timings_ms) == {"ort", "openvino"}
    assert all(0 < ms < 60_000 for ms in first.timings_ms.values())
    assert first.runtime == min(first.timings_ms, key=first.timings_ms.__getitem__)
    assert "measured now at 96x96" in first.note and not first.default
    assert f"ort {first.timings_ms['ort']:.1f} ms" in first.note
    file = runtime_select.choice_file(first.key, tmp_path)
    assert file.parent == tmp_path / runtime_select.CHOICES_DIR
    record = json.loads(file.read_text())
    assert record["key"] == first.key and record["runtime"] == first.runtime
    mtime = file.stat().st_mtime_ns
    second = resolve_runtime(random_int8, "auto", threads=2, cache_dir=tmp_path)
    assert second.cached and second.runtime == first.runtime and "cached measurement" in second.note
    assert second.timings_ms == first.timings_ms  # read back, not timed again
    assert file.stat().st_mtime_ns == mtime
    # the key: model SHA256, both runtime versions, CPU and its ISA flags, threads, precision
    sha, *rest = first.key.split("|")
    assert len(sha) == 64 and rest[0].startswith("onnxruntime=") and rest[1].startswith("openvino=")
    assert rest[3].startswith("isa=") and rest[4:] == ["threads=2", "float=f32"]
    assert runtime_select.choice_key(open_model(random_int8), threads=1) != first.key
    other = tmp_path / "other.onnx"  # another model (one metadata byte differs) -> another key
    shutil.copy(random_int8, other)
    import onnx

    m = onnx.load(str(other))
    m.doc_string = "changed"
    onnx.save(m, str(other))
    assert runtime_select.choice_key(open_model(other), threads=2).split("|")[1:] == rest
    assert runtime_select.choice_key(open_model(other), threads=2) != first.key
    # default place: the user cache, which LESRCNN_CACHE_DIR overrides (also in a checkout)
    monkeypatch.setenv("LESRCNN_CACHE_DIR", str(tmp_path / "user"))
    assert runtime_select.choice_file(first.key).parent == tmp_path / "user" / "runtime_choices"


_RACE = """
import json, sys
from lesrcnn_deploy.runtime.choice import resolve_runtime
c = resolve_runtime(sys.argv[1], "auto", threads=1, cache_dir=sys.argv[2])
print(json.dumps([c.runtime, c.cached, c.timings_ms]))
"""


def test_two_processes_racing_measure_once(random_int8: Path, tmp_path: Path) -> None:
    import subprocess

    cmd = [sys.executable, "-c", _RACE, str(random_int8), str(tmp_path)]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [json.loads(p.communicate(timeout=300)[0]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert sorted(o[1] for o in outs) == [False, True]  # one measured, the other read its result
    assert outs[0][0] == outs[1][0] and outs[0][2] == outs[1][2]
    assert len(list((tmp_path / runtime_select.CHOICES_DIR).glob("*.json"))) == 1


def test_default_runtime_is_auto_with_openvino(
    random_int8: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LESRCNN_CACHE_DIR", str(tmp_path))
    assert runtime_select.default_runtime() == "auto"
    up = Upscaler(2, "int8", model=random_int8, tile=24, threads=2)
    c = up.runtime_choice
    assert c.default and c.requested == "auto" and set(c.timings_ms) == {"ort", "openvino"}
    name = "OpenVINO" if c.runtime == "openvino" else "ONNX Runtime"
    assert c.note.startswith(f"runtime: {name} (default auto, measured now at 96x96")
    assert c.to_dict()["why"] == c.why and c.to_dict()["runtime"] == c.runtime
    forced = resolve_runtime(random_int8, "ort")
    assert forced.note == "runtime: ONNX Runtime (forced)" and not forced.default


def test_upscale_cli_says_the_runtime_and_why(
    random_int8: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import cv2

    monkeypatch.setenv("LESRCNN_CACHE_DIR", str(tmp_path / "cache"))
    img = tmp_path / "in.png"
    cv2.imwrite(str(img), (np.random.default_rng(5).random((20, 24, 3)) * 255).astype(np.uint8))
    base = ["upscale", str(img), "--model", str(random_int8), "--threads", "2", "--overwrite"]
    for extra, want in (
        ([], "(default auto, measured now at 96x96: openvino "),
        ([], "(default auto, cached measurement at 96x96: openvino "),
        (["--runtime", "ort"], "runtime: ONNX Runtime (forced)"),
        (["--runtime", "openvino"], "runtime: OpenVINO (forced)"),
    ):
        assert main([*base, *extra, "--output", str(tmp_path / "out.png")]) == 0
        err = capsys.readouterr().err
        lines = [ln for ln in err.splitlines() if ln.startswith("runtime: ")]
        assert len(lines) == 1 and want in lines[0], err
    assert cv2.imread(str(tmp_path / "out.png")).shape == (40, 48, 3)


def test_without_openvino_auto_is_ort_and_openvino_is_one_line(
    random_fp32: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import cv2

    monkeypatch.setitem(sys.modules, "openvino", None)  # `import openvino` raises ImportError
    assert runtime_select.default_runtime() == "ort"
    choice = resolve_runtime(random_fp32, "auto", cache_dir=tmp_path)
    assert choice.runtime == "ort" and choice.note.endswith("(auto: OpenVINO is not installed)")
    default = Upscaler(2, "fp32", model=random_fp32, tile=0).runtime_choice
    assert default.runtime == "ort" and default.default
    assert default.note == "runtime: ONNX Runtime (default auto: OpenVINO is not installed)"
    with pytest.raises(RuntimeUnavailableError, match="pip install 'lesrcnn-deploy\\[openvino\\]'"):
        resolve_runtime(random_fp32, "openvino")
    with pytest.raises(RuntimeUnavailableError):
        OpenVinoRunner(random_fp32)
    code = main(
        ["evaluate", "--model", str(random_fp32), "--dataset", str(tmp_path), "--scale", "2",
         "--runtime", "openvino", "--quiet"]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and INSTALL_HINT in err
    img = tmp_path / "in.png"
    cv2.imwrite(str(img), np.full((8, 8, 3), 90, np.uint8))
    out = tmp_path / "out.png"
    code = main(["upscale", str(img), "--model", str(random_fp32), "--runtime", "openvino",
                 "--output", str(out)])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and err == f"lesrcnn-deploy: error: {INSTALL_HINT}\n" and not out.exists()


def test_bad_runtime_and_precision(random_fp32: Path, random_int8: Path) -> None:
    with pytest.raises(ConfigError, match="unknown runtime 'tensorrt'"):
        resolve_runtime(random_fp32, "tensorrt")
    with pytest.raises(ConfigError, match="unknown float precision"):
        OpenVinoRunner(random_fp32, float_precision="f16")
    from lesrcnn_deploy.core.errors import ModelError
    from lesrcnn_deploy.models import InferenceSettings

    bf16 = InferenceSettings.from_precision("bf16", model=random_int8)  # bf16 runs fp32 files
    with pytest.raises(ModelError, match="int8 model, asked for bf16"):
        bf16.open_model()
    with pytest.raises(ConfigError, match="unknown compute precision"):
        resolve_runtime(random_fp32, "openvino", compute="f16")


@pytest.mark.slow
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_int8_drop_on_openvino_within_budget(
    fp32_models: dict[int, Path], int8_models: dict[int, Path], set5: Path, scale: int
) -> None:
    from lesrcnn_deploy.evaluation.evaluate import evaluate_model

    path = int8_models[scale]
    a = evaluate_model(fp32_models[scale], set5, scale=scale, threads=2, progress=False)
    b = evaluate_model(path, set5, scale=scale, threads=2, progress=False, runtime="openvino")
    assert b.config["runtime"] == "openvino" and b.config["runner"] == "openvino-int8"
    assert a.psnr - b.psnr <= 0.05, (a.psnr, b.psnr)
    assert a.ssim - b.ssim <= 0.001, (a.ssim, b.ssim)


def _speed(label: str, scale: int, workload: str, ms: float) -> SpeedResult:
    return SpeedResult(label, scale, workload, (8, 8), (8 * scale, 8 * scale), 2, (ms, ms))


def test_which_runtime_paragraph_is_written_from_the_numbers() -> None:
    from lesrcnn_deploy.bench import runtimes as rt

    speed = []
    for s in (2, 3):
        for w in ("128x128", "720p"):
            speed += [
                _speed(rt.ORT_FP32, s, w, 100.0),
                _speed(rt.ORT_INT8, s, w, 30.0),
                _speed(rt.OV_INT8, s, w, 25.0),
                _speed(rt.NNCF_INT8, s, w, 26.0),
                _speed(rt.OV_BF16, s, w, 50.0),
                _speed(rt.OV_FP32, s, w, 95.0),
            ]
    speed[1] = _speed(rt.ORT_INT8, 2, "128x128", 20.0)  # ORT wins one case
    acc = [
        rt.RuntimeAccuracy(rt.OV_INT8, 2, "Set5", "paper", 37.6, 0.958, 0.031, 0.0005),
        rt.RuntimeAccuracy(rt.NNCF_INT8, 2, "Set5", "paper", 33.4, 0.93, 4.25, 0.03),
        rt.RuntimeAccuracy(rt.OV_BF16, 2, "Set5", "paper", 37.66, 0.9586, -0.01, 0.0),
    ]
    text = rt.which_runtime(speed, acc)
    assert "OpenVINO in 3 of 4 cases, ONNX Runtime in the others" in text
    assert "4.00-5.00x the speed of ONNX Runtime fp32" in text
    assert "1.04-1.30x NNCF's speed" in text and "loses up to 4.250 dB" in text
    assert "OpenVINO bf16 runs at 2.00x the speed" in text and "OpenVINO f32 at 1.05x" in text
    md = "\n".join(rt.render_runtime_section(speed, acc))
    assert "| x2 | Set5 | paper | OV + NNCF default int8 | 33.40 / 0.9300 | +4.250 |" in md
    assert "### Which runtime when" in md
    assert rt.render_runtime_section(speed, []) == []


def test_nncf_default_int8_runs_on_openvino_and_is_reused(
    random_fp32: Path, tmp_path: Path
) -> None:
    from lesrcnn_deploy.bench import runtimes as rt
    from lesrcnn_deploy.bench.speed import open_spec
    from lesrcnn_deploy.core.onnx_io import read_metadata

    out = rt.nncf_default_int8(random_fp32, tmp_path / "nncf" / "x2_nncf.onnx", count=4)
    meta = read_metadata(out)
    assert meta["precision"] == "int8" and meta["scale"] == "2" and "nncf" in meta["quantizer"]
    mtime = out.stat().st_mtime_ns
    assert rt.nncf_default_int8(random_fp32, out) == out and out.stat().st_mtime_ns == mtime
    specs = rt.openvino_specs(2, random_fp32, int8=random_fp32, nncf_int8=out, threads=2)
    assert [s.label for s in specs] == [rt.OV_FP32, rt.OV_BF16, rt.OV_INT8, rt.NNCF_INT8]
    runner = open_spec(specs[3])
    assert isinstance(runner, OpenVinoRunner) and runner.conv_precisions().get("u8", 0) >= 20
    assert runner(_x(16, 16)).shape == (1, 3, 32, 32)
    assert open_spec(specs[1]).kind == "openvino-bf16"  # type: ignore[attr-defined]


def test_int8_tail_weights_make_conv18_u8_on_openvino(
    random_fp32: Path, random_int8: Path, tmp_path: Path
) -> None:
    import dataclasses

    import onnx

    from lesrcnn_deploy.quantization import (
        QuantizationConfig,
        TailWeightsConfig,
        apply_recipe,
        load_recipe,
        save_recipe,
        train_recipe,
    )
    from lesrcnn_deploy.quantization.config import CalibrationConfig
    from lesrcnn_deploy.quantization.tail_weights import attach_tail_weights

    cfg = dataclasses.replace(QuantizationConfig.ptq(), tail_weights=TailWeightsConfig(4, 24))
    calib = CalibrationConfig(count=8, crop=48)  # as random_int8
    recipe = train_recipe(random_fp32, config=cfg, calibration=calib, progress=False)
    w8 = recipe.tensors["/model/conv18/conv18.0/Conv_folded_weight_w8"]
    assert w8.dtype == np.int8 and w8.shape == (3, 64, 3, 3)
    assert recipe.tensors["/model/conv18/conv18.0/Conv_folded_weight_w8_scale"].dtype == np.float32
    fit = recipe.training["tail_weights"]
    assert fit["nodes"] == ["/model/conv18/conv18.0/Conv"]
    assert fit["error_gptq"] < 0.2 * fit["error_nearest"]  # GPTQ rounding beats nearest by far
    res = apply_recipe(random_fp32, recipe, output=tmp_path / "tail.onnx")
    ov = OpenVinoRunner(res.path, threads=2)
    base = OpenVinoRunner(random_int8, threads=2).conv_precisions()
    assert ov.conv_precisions() == {"u8": base["u8"] + 1, "f32": base["f32"] - 1}
    check_depth_to_space_int8_openvino(ov)
    x = _x(seed=4)
    ref = _u8(OnnxRunner(random_int8, threads=2)(x))
    for runner in (ov, OnnxRunner(res.path, threads=2)):
        diff = np.abs(_u8(runner(x)) - ref)
        assert float((diff <= 2).mean()) >= 0.99
    # replayed from the saved recipe, the int8 weights are attached as stored: same bytes
    saved = load_recipe(save_recipe(recipe, tmp_path / "r"))
    again = apply_recipe(random_fp32, saved, output=tmp_path / "b.onnx")
    assert again.path.read_bytes() == res.path.read_bytes()
    with pytest.raises(QuantizationError, match="do not fit this graph"):
        attach_tail_weights(onnx.load(res.path), dict(recipe.tensors), where="x.recipe.json")
