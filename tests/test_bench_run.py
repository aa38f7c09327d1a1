"""The whole bench (bench/run.py) on a tiny dataset and random-weight models: every section holds
the numbers its parts compute."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from lesrcnn_deploy.bench.run import TORCH, BenchConfig, run_bench
from lesrcnn_deploy.data import open_dataset
from lesrcnn_deploy.evaluation.evaluate import evaluate
from lesrcnn_deploy.runtime import open_runner


def _dataset(root: Path) -> Path:
    rng = np.random.default_rng(5)
    for i in range(2):
        hr = cv2.GaussianBlur(rng.integers(0, 256, (48, 40, 3), dtype=np.uint8), (5, 5), 1.5)
        (root / "HR").mkdir(parents=True, exist_ok=True)
        (root / "LR_bicubic" / "X2").mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / "HR" / f"im{i}.png"), hr)
        lr = cv2.resize(hr, (20, 24), interpolation=cv2.INTER_AREA)
        cv2.imwrite(str(root / "LR_bicubic" / "X2" / f"im{i}x2.png"), lr)
    return root


@pytest.mark.slow  # moved out of the fast tier: `make test` stays under 10 min
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_run_bench_reports_what_its_parts_measure(
    random_fp32: Path, random_int8: Path, tmp_path: Path
) -> None:
    models = tmp_path / "models"
    models.mkdir()
    shutil.copy(random_fp32, models / "lesrcnn_x2.onnx")
    shutil.copy(random_int8, models / "lesrcnn_x2_int8.onnx")
    data = _dataset(tmp_path / "Tiny")
    out = tmp_path / "out"
    cfg = BenchConfig(
        scales=(2,),
        datasets=(data,),
        models=models,
        output=out,
        repeats=2,
        torch_repeats_128=1,
        memory=False,
        video=False,
        serving=False,
        ray=False,
        runtime="ort",
        progress=False,
    )
    res = run_bench(cfg)
    report = json.loads((out / "results.json").read_text())
    # accuracy: the paper row is exactly evaluate() of the same models on the same set
    ds = open_dataset(data, 2)
    fp32 = evaluate(open_runner(models / "lesrcnn_x2.onnx", threads=2), ds, progress=False)
    int8 = evaluate(open_runner(models / "lesrcnn_x2_int8.onnx", threads=2), ds, progress=False)
    (paper,) = res.paper
    assert paper.fp32.psnr == pytest.approx(fp32.psnr, abs=1e-9)
    assert paper.int8 is not None and paper.int8.psnr == pytest.approx(int8.psnr, abs=1e-9)
    assert paper.drop_db == pytest.approx(fp32.psnr - int8.psnr, abs=1e-9)
    assert len(res.card) == 1 and res.card_is_standin  # no DIV2K: the set stands in for it
    # speed: every runner on both workloads, PyTorch at 128x128 only, interleaved rounds
    rows = {(r.label, r.workload): r for r in res.speed}
    assert set(rows) == {
        ("ORT fp32", "128x128"),
        ("ORT int8", "128x128"),
        (TORCH, "128x128"),
        ("ORT fp32", "720p"),
        ("ORT int8", "720p"),
    }
    assert len(rows[("ORT int8", "128x128")].times_ms) == 2
    assert len(rows[(TORCH, "128x128")].times_ms) == 1
    assert rows[("ORT fp32", "720p")].out_hw == (720, 1280)
    # the reports and pictures exist and agree with the result object
    assert report["speed"][0]["median_ms"] == pytest.approx(res.speed[0].median_ms)
    assert report["models"][0]["sha256"] == res.models[0].sha256
    for p in [*res.plots, *(v.path for v in res.visuals)]:
        assert cv2.imread(str(p)) is not None
    assert (out / "results.md").read_text().count("ORT int8") >= 2
