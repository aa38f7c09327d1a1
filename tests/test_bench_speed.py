"""Speed harness structure (no absolute times asserted), workloads, system info, visual sheet."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lesrcnn_deploy.bench.speed import workloads
from lesrcnn_deploy.core.errors import ConfigError, ModelError
from lesrcnn_deploy.core.system import system_info
from lesrcnn_deploy.runtime.timing import time_runners


def _fake(scale: int, calls: list[str], name: str):  # type: ignore[no-untyped-def]
    def run(x: np.ndarray) -> np.ndarray:
        calls.append(name)
        return np.zeros((1, 3, x.shape[2] * scale, x.shape[3] * scale), np.float32)

    return run


def test_workloads_cover_720p() -> None:
    for s in (2, 3, 4):
        small, big = workloads(s)
        assert small.lr_hw == (128, 128)
        h, w = big.out_hw
        assert h == 720 and 1280 <= w <= 1281


def test_interleaved_rounds_and_caps() -> None:
    calls: list[str] = []
    wl = workloads(2)[0]
    runners = {n: _fake(2, calls, n) for n in ("a", "b", "c")}
    res = time_runners(runners, wl, threads=1, warmup=1, repeats=4, max_repeats={"c": 2})
    assert [len(r.times_ms) for r in res] == [4, 4, 2]
    timed = calls[3:]  # after one warm-up call each
    assert timed[:3] == ["a", "b", "c"] and timed[3:6] == ["b", "c", "a"]  # rotated order
    r = res[0]
    assert r.p90_ms >= r.median_ms > 0 and r.mp_per_s > 0
    assert r.to_dict()["out_hw"] == (256, 256)


def test_bad_output_shape_and_repeats() -> None:
    wl = workloads(3)[0]
    with pytest.raises(ModelError, match="output shape"):
        time_runners({"x": _fake(2, [], "x")}, wl, threads=1)
    with pytest.raises(ConfigError):
        time_runners({"x": _fake(3, [], "x")}, wl, threads=1, repeats=0)


def test_system_info(tmp_path: Path) -> None:
    info = system_info()
    assert info.logical_cpus >= 1 and info.cpu
    assert info.versions["onnxruntime"] != "-"
    fake = tmp_path / "cpuinfo"
    fake.write_text("model name : X\nflags : avx2 avx512_vnni amx_int8 amx_tile\n")
    other = system_info(fake)
    assert other.vnni and other.amx and "avx512_vnni" in other.isa_summary()
    assert not system_info(tmp_path / "missing").amx


def test_visual_sheet_and_accuracy_int8_vs_fp32(
    fp32_models: dict[int, Path], int8_models: dict[int, Path], set5: Path, tmp_path: Path
) -> None:
    """int8 against fp32 on 3 Set5 images: a small positive drop, the paper's reference row, and
    a sheet whose difference map shows the int8 error (a few grey levels, not zero)."""
    from lesrcnn_deploy.bench.accuracy import compare
    from lesrcnn_deploy.bench.visual import comparison_sheet
    from lesrcnn_deploy.data import load_image, open_dataset
    from lesrcnn_deploy.evaluation.scoring import Protocol
    from lesrcnn_deploy.runtime.ort import OnnxRunner

    ds = open_dataset(set5, 4, limit=3)
    r32 = OnnxRunner(fp32_models[4], threads=2)
    r8 = OnnxRunner(int8_models[4], threads=2)
    c = compare(r32, r8, dataset=ds, scale=4, protocol=Protocol.PAPER, progress=False)
    assert c.int8 is not None and c.reference == {"psnr": 31.88, "ssim": 0.8903}
    assert c.drop_db == pytest.approx(c.fp32.psnr - c.int8.psnr)
    assert -0.02 < c.drop_db < 0.1, c.drop_db  # the fine-tuned int8 keeps (almost) everything
    assert [i.name for i in c.fp32.images] == [i.name for i in c.int8.images]
    v = comparison_sheet(r32, r8, dataset=ds, output=tmp_path / "v.png", crop_size=60)
    assert 0 < v.max_abs_diff <= 32 and v.image in {"img_001", "img_002", "img_003"}
    img = load_image(v.path).pixels
    assert img.shape[1] == 5 * 120 + 4 * 6


def test_peak_memory_probes_run_side_by_side(random_fp32: Path, tmp_path: Path) -> None:
    from lesrcnn_deploy.bench.speed import RunnerSpec, measure_peak_memory
    from lesrcnn_deploy.runtime.timing import Workload

    wl = Workload("probe", (64, 64), 2)
    small = RunnerSpec("small", "onnx", str(random_fp32), 2, 1)
    res = measure_peak_memory([small, RunnerSpec("again", "onnx", str(random_fp32), 2, 1)], wl)
    assert [r.label for r in res] == ["small", "again"]
    for r in res:
        # the runner's own memory: model, arena and a 128x128x3 float output at least
        assert r.peak_mb > r.idle_mb > 50
        assert r.delta_mb > 128 * 128 * 3 * 4 / 1e6
    bad = RunnerSpec("broken", "onnx", str(tmp_path / "missing.onnx"), 2, 1)
    with pytest.raises(ModelError, match="memory probe of broken x2 failed"):
        measure_peak_memory([small, bad], wl)
