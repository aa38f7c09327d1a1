"""Slow tier: retraining the x2 recipe from scratch reproduces the committed one.

Calibration and fine-tuning are seeded, run with the thread count recorded in the recipe, and
deterministic on one machine: the retrained recipe (hence the int8 model) is byte-identical there.
Another CPU runs other float kernels (oneDNN and ONNX Runtime pick their implementations by
instruction set), whose last-bit differences grow over 600 training steps into another recipe: not
the committed one, and not as good. Measured: the x2 recipe made on an AVX-512 VNNI EPYC loses
0.036 dB on Set5; retrained on an AMX Xeon it loses 0.061 dB. So elsewhere the test holds what
can hold: the retrained int8 model loses within the accuracy gate's budget (0.05 dB) of the
recorded drops. The shipped models are the committed
recipes replayed, identical on every CPU (tests/test_artifacts.py).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from lesrcnn_deploy.bench.gate import load_baseline
from lesrcnn_deploy.bench.gate_measure import measure_gate
from lesrcnn_deploy.models.build import shipped_recipe_path
from lesrcnn_deploy.quantization import apply_recipe, load_recipe, train_recipe

pytestmark = pytest.mark.slow

TOLERANCE_DB = 0.05
"""Another CPU's retrained recipe: its drops within this of the recorded ones (the gate budget)."""


def test_retrained_x2_recipe_reproduces_the_committed_one(
    fp32_models: dict[int, Path],
    int8_models: dict[int, Path],
    set5: Path,
    set14: Path,
    tmp_path: Path,
) -> None:
    shipped = load_recipe(shipped_recipe_path(2))
    again = train_recipe(
        fp32_models[2],
        config=shipped.config,
        progress=False,
        threads=int(shipped.training["threads"]),
    )
    # calibration runs no training, but its activations come from ONNX Runtime's float kernels,
    # which differ in the last bits between instruction sets (AVX2, AVX-512): 1e-5 relative
    assert again.calibration.ranges.keys() == shipped.calibration.ranges.keys()
    for name, (lo, hi) in shipped.calibration.ranges.items():
        got = again.calibration.ranges[name]
        assert tuple(got) == pytest.approx((lo, hi), rel=1e-5, abs=1e-7), name
    assert again.calibration.images == shipped.calibration.images
    result = apply_recipe(fp32_models[2], again, output=tmp_path / "lesrcnn_x2_int8.onnx")
    if again.sha256 == shipped.sha256:  # reproduced bit for bit: the same int8 model
        assert again.tensors_sha256 == shipped.tensors_sha256
        assert result.path.read_bytes() == int8_models[2].read_bytes()
        return
    # other bits (another CPU's float kernels): the int8 model within the gate's budget of them
    warnings.warn(
        f"retrained x2 recipe {again.sha256[:12]} differs bitwise from {shipped.sha256[:12]}; "
        "checking the drops instead",
        stacklevel=1,
    )
    recorded = load_baseline().drops
    m = measure_gate(
        {2: fp32_models[2]},
        {2: result.path},
        datasets=[set5, set14],
        progress=False,
        runtimes=["ort"],
    )
    where = (
        f"retrained on {again.provenance.get('cpu')}, recipe from {shipped.provenance.get('cpu')}"
    )
    gaps = {name: round(d.drop - recorded[(s, name)], 4) for (s, name), d in m.drops.items()}
    print(f"x2 retrained: drop minus recorded {gaps} dB ({where})")
    assert all(abs(g) <= TOLERANCE_DB for g in gaps.values()), (gaps, where)
