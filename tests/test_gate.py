"""The int8 accuracy gate: pure logic (fast) and the real gate on rebuilt int8 models (slow-ish)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from lesrcnn_deploy.bench.gate import (
    Baseline,
    GateMeasurement,
    SetDrop,
    baseline_path,
    check_gate,
    load_baseline,
    make_baseline,
    write_baseline,
)
from lesrcnn_deploy.bench.gate_measure import depth_to_space_dtypes, measure_gate
from lesrcnn_deploy.core.errors import ConfigError
from lesrcnn_deploy.quantization import quantize_model


def _measured(
    drops: dict[tuple[int, str], float], d2s: dict[int, bool] | None = None
) -> GateMeasurement:
    return GateMeasurement(
        drops={k: SetDrop(30.0, 30.0 - v) for k, v in drops.items()},
        depth_to_space_int8=d2s or {},
    )


BASE = Baseline(drops={(2, "Set5"): 0.02, (2, "Set14"): 0.01})


def test_gate_passes_within_budget_and_growth() -> None:
    assert check_gate(_measured({(2, "Set5"): 0.035, (2, "Set14"): -0.01}, {2: True}), BASE) == []


def test_gate_budget_names_scale_set_and_numbers() -> None:
    (msg,) = check_gate(_measured({(2, "Set5"): 0.03, (2, "Set14"): 0.02}), BASE, budget_db=0.025)
    assert msg.startswith("x2 Set5: int8 drop 0.030 dB exceeds the 0.025 dB budget")
    assert "fp32 30.000 dB, int8 29.970 dB" in msg


def test_gate_growth_over_baseline() -> None:
    (msg,) = check_gate(_measured({(2, "Set5"): 0.02, (2, "Set14"): 0.0351}), BASE)
    assert "x2 Set14" in msg and "grew by 0.025 dB over the baseline 0.010 dB" in msg


def test_gate_missing_measurement_and_float_depth_to_space() -> None:
    out = check_gate(_measured({(2, "Set5"): 0.0}, {2: False}), BASE)
    assert out == [
        "x2 Set14: in the baseline but not measured",
        "x2: DepthToSpace no longer runs on int8 tensors in the optimized int8 "
        "graph (ONNX Runtime) or the compiled one (OpenVINO)",
    ]


def test_gate_covers_each_installed_runtime() -> None:
    base = Baseline(drops={**BASE.drops, (2, "Set5 on OpenVINO"): 0.02})
    ort_only = _measured({(2, "Set5"): 0.02, (2, "Set14"): 0.01})
    assert check_gate(ort_only, base) == []  # OpenVINO not installed here: not required
    both = GateMeasurement(drops=ort_only.drops, runtimes=("ort", "openvino"))
    assert check_gate(both, base) == ["x2 Set5 on OpenVINO: in the baseline but not measured"]
    drops = {**both.drops, (2, "Set5 on OpenVINO"): SetDrop(30.0, 29.93)}
    budget, growth = check_gate(GateMeasurement(drops=drops, runtimes=both.runtimes), base)
    assert budget.startswith("x2 Set5 on OpenVINO: int8 drop 0.070 dB exceeds the 0.050 dB budget")
    assert growth.startswith("x2 Set5 on OpenVINO: int8 drop 0.070 dB grew by 0.050 dB")


def test_baseline_round_trip(tmp_path: Path) -> None:
    m = _measured({(2, "Set5"): 0.01234, (4, "Set14"): 0.0}, {2: True, 4: True})
    p = write_baseline(m, tmp_path / "b.json")
    b = load_baseline(p)
    assert b.drops == {(2, "Set5"): 0.0123, (4, "Set14"): 0.0}
    assert (b.budget_db, b.max_growth_db) == (0.05, 0.02)
    assert make_baseline(m)["psnr"]["2"]["Set5"]["fp32"] == 30.0


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (None, "no gate baseline"),
        ("{", "not valid JSON"),
        ('{"drops": {"x9z": {}}}', "bad scale key"),
        ('{"drops": {"2": {"Set5": "big"}}}', "is not a number"),
    ],
)
def test_bad_baseline(tmp_path: Path, content: str | None, match: str) -> None:
    p = tmp_path / "b.json"
    if content is not None:
        p.write_text(content)
    with pytest.raises(ConfigError, match=match):
        load_baseline(p)


def _require_baseline() -> Path:
    p = baseline_path()
    if not p.is_file():
        msg = f"{p} not committed yet (`lesrcnn-deploy gate --update-baseline`)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    return p


def test_committed_baseline_is_complete() -> None:
    """The baseline covers x2/x3/x4 on Set5 and Set14 on both runtimes, every drop within the
    budget."""
    b = load_baseline(_require_baseline())
    sets = ("Set5", "Set14", "Set5 on OpenVINO", "Set14 on OpenVINO")
    assert set(b.drops) == {(s, n) for s in (2, 3, 4) for n in sets}
    assert all(v <= b.budget_db for v in b.drops.values())
    raw = json.loads(baseline_path().read_text())
    assert all(raw["depth_to_space_int8"].values())


def test_depth_to_space_of_fp32_model_is_float(fp32_models: dict[int, Path]) -> None:
    assert depth_to_space_dtypes(fp32_models[2]) == [False]
    assert depth_to_space_dtypes(fp32_models[4]) == [False, False]


def test_real_gate_passes(
    fp32_models: dict[int, Path], int8_models: dict[int, Path], set5: Path, set14: Path
) -> None:
    """Default int8 build, Set5 + Set14 paper protocol at x2/x3/x4: the committed gate holds."""
    baseline = load_baseline(_require_baseline())
    m = measure_gate(fp32_models, int8_models, datasets=[set5, set14], threads=2, progress=False)
    assert (
        check_gate(m, baseline, budget_db=baseline.budget_db, max_growth_db=baseline.max_growth_db)
        == []
    )
    if os.environ.get("CI") == "true":  # the Makefile's environment has OpenVINO: gated too
        assert m.runtimes == ("ort", "openvino") and (2, "Set14 on OpenVINO") in m.drops


@pytest.mark.slow  # moved out of the fast tier: `make test` stays under 10 min
def test_real_gate_fires_on_per_tensor(
    fp32_models: dict[int, Path], set5: Path, set14: Path, tmp_path: Path
) -> None:
    """The deliberately degraded per-tensor build fails the gate, naming scale and set."""
    baseline = load_baseline(_require_baseline())
    bad = tmp_path / "lesrcnn_x2_int8_per_tensor.onnx"
    quantize_model(fp32_models[2], bad, preset="per_tensor", progress=False)
    m = measure_gate(
        {2: fp32_models[2]},
        {2: bad},
        datasets=[set5, set14],
        threads=2,
        progress=False,
        runtimes=["ort"],
    )
    x2 = Baseline({k: v for k, v in baseline.drops.items() if k[0] == 2})
    out = check_gate(m, x2)
    assert out, "per-tensor int8 passed the gate"
    assert any(v.startswith(("x2 Set5:", "x2 Set14:")) and "budget" in v for v in out)
