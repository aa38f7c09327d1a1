"""The CI gate on int8 accuracy: int8 PSNR drop per scale and set against a budget and a baseline.

The drop is ``fp32 PSNR - int8 PSNR`` (dB, paper protocol, Y channel; positive = int8 is worse).
The gate fails when, for any measured (scale, set):

* the drop exceeds the absolute budget (``budget_db``, 0.05 dB by default);
* the drop grew by more than ``max_growth_db`` (0.02 dB) over the committed baseline;
* a (scale, set) of the baseline was not measured;
* DepthToSpace of the int8 graph no longer runs on 8-bit tensors after ORT graph optimization
  (or in OpenVINO's compiled graph).

Every installed runtime is covered: with OpenVINO installed, the int8 model is also evaluated on
it, against the same ONNX Runtime fp32 result, under the set name ``"<set> on OpenVINO"``. A
baseline entry of a runtime that is not installed here is not required.

:func:`check_gate` is pure: it takes measured numbers and the baseline and returns the violations,
one message each, naming scale, set and numbers. The measuring lives in
:func:`lesrcnn_deploy.bench.gate_measure.measure_gate`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.errors import ConfigError
from ..core.fileio import atomic_write_json
from ..core.paths import checkout_root

__all__ = [
    "DEFAULT_BUDGET_DB",
    "DEFAULT_MAX_GROWTH_DB",
    "RUNTIME_SETS",
    "Baseline",
    "GateMeasurement",
    "SetDrop",
    "baseline_path",
    "check_gate",
    "format_gate",
    "load_baseline",
    "make_baseline",
    "write_baseline",
]

DEFAULT_BUDGET_DB = 0.05
DEFAULT_MAX_GROWTH_DB = 0.02
BASELINE_VERSION = 1
RUNTIME_SETS = {"ort": "", "openvino": " on OpenVINO"}
"""Suffix of a set's name in the gate for the int8 model run on each runtime."""


def baseline_path() -> Path:
    """The committed baseline, ``benchmarks/baseline.json`` of the checkout (outside a checkout:
    ``benchmarks/baseline.json`` of the current folder; give ``--baseline`` instead)."""
    return (checkout_root() or Path.cwd()) / "benchmarks" / "baseline.json"


@dataclass(frozen=True)
class SetDrop:
    """fp32 and int8 PSNR (dB, paper protocol, Y) of one scale on one set."""

    fp32_psnr: float
    int8_psnr: float

    @property
    def drop(self) -> float:
        """``fp32_psnr - int8_psnr`` in dB (positive = int8 loses accuracy)."""
        return self.fp32_psnr - self.int8_psnr


@dataclass(frozen=True)
class GateMeasurement:
    """What the gate measured.

    Attributes:
        drops: ``{(scale, set name): SetDrop}``.
        depth_to_space_int8: ``{scale: True if every DepthToSpace of the optimized int8 graph
            reads an 8-bit tensor}``; a scale missing here is not checked.
        config: how the int8 models were built (quantization config, calibration set).
        runtimes: the runtimes measured (``"ort"``, ``"openvino"``).
    """

    drops: Mapping[tuple[int, str], SetDrop]
    depth_to_space_int8: Mapping[int, bool] = field(default_factory=dict)
    config: Mapping[str, Any] = field(default_factory=dict)
    runtimes: tuple[str, ...] = ("ort",)


@dataclass(frozen=True)
class Baseline:
    """The committed baseline: int8 drop (dB) per (scale, set) and the limits it was made with."""

    drops: Mapping[tuple[int, str], float]
    budget_db: float = DEFAULT_BUDGET_DB
    max_growth_db: float = DEFAULT_MAX_GROWTH_DB
    path: Path | None = None


def check_gate(
    measured: GateMeasurement,
    baseline: Baseline,
    *,
    budget_db: float = DEFAULT_BUDGET_DB,
    max_growth_db: float = DEFAULT_MAX_GROWTH_DB,
) -> list[str]:
    """Compare measured int8 drops with the budget and the baseline.

    Args:
        measured: see :class:`GateMeasurement`.
        baseline: see :func:`load_baseline`.
        budget_db: largest allowed drop, dB.
        max_growth_db: largest allowed growth of a drop over its baseline value, dB.

    Returns:
        One message per violation (empty list = the gate passes), sorted by scale then set, e.g.
        ``"x2 Set14: int8 drop 0.071 dB exceeds the 0.050 dB budget (fp32 33.320 dB, int8
        33.249 dB)"``.
    """
    out: list[str] = []
    for (scale, name), d in sorted(measured.drops.items()):
        where = f"x{scale} {name}"
        nums = f"(fp32 {d.fp32_psnr:.3f} dB, int8 {d.int8_psnr:.3f} dB)"
        if d.drop > budget_db:
            out.append(
                f"{where}: int8 drop {d.drop:.3f} dB exceeds the {budget_db:.3f} dB budget {nums}"
            )
        base = baseline.drops.get((scale, name))
        if base is not None and d.drop - base > max_growth_db:
            out.append(
                f"{where}: int8 drop {d.drop:.3f} dB grew by {d.drop - base:.3f} dB over the "
                f"baseline {base:.3f} dB (allowed growth {max_growth_db:.3f} dB) {nums}"
            )
    skipped = [sfx for rt, sfx in RUNTIME_SETS.items() if sfx and rt not in measured.runtimes]
    for scale, name in sorted(set(baseline.drops) - set(measured.drops)):
        if not any(name.endswith(sfx) for sfx in skipped):  # that runtime is not installed
            out.append(f"x{scale} {name}: in the baseline but not measured")
    for scale, ok in sorted(measured.depth_to_space_int8.items()):
        if not ok:
            out.append(
                f"x{scale}: DepthToSpace no longer runs on int8 tensors in the optimized int8 "
                "graph (ONNX Runtime) or the compiled one (OpenVINO)"
            )
    return out


def _parse_drops(raw: Any, where: str) -> dict[tuple[int, str], float]:
    if not isinstance(raw, dict):
        msg = f"{where}: 'drops' must be an object {{scale: {{set: dB}}}}"
        raise ConfigError(msg)
    drops: dict[tuple[int, str], float] = {}
    for scale_key, sets in raw.items():
        try:
            scale = int(str(scale_key).lstrip("x"))
        except ValueError:
            msg = f"{where}: bad scale key {scale_key!r} (expected 2, 3 or 4)"
            raise ConfigError(msg) from None
        if not isinstance(sets, dict):
            msg = f"{where}: drops[{scale_key!r}] must be an object {{set: dB}}"
            raise ConfigError(msg)
        for name, value in sets.items():
            if not isinstance(value, int | float):
                msg = f"{where}: drops[{scale_key!r}][{name!r}] = {value!r} is not a number"
                raise ConfigError(msg)
            drops[(scale, str(name))] = float(value)
    return drops


def load_baseline(path: str | os.PathLike[str] | None = None) -> Baseline:
    """Read the baseline JSON (default :func:`baseline_path`).

    Raises:
        ConfigError: missing file, invalid JSON or wrong structure.
    """
    p = Path(path) if path is not None else baseline_path()
    try:
        raw = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        msg = f"{p}: no gate baseline (create it with `lesrcnn-deploy gate --update-baseline`)"
        raise ConfigError(msg) from None
    except json.JSONDecodeError as exc:
        msg = f"{p}: not valid JSON ({exc.msg}, line {exc.lineno})"
        raise ConfigError(msg) from None
    if not isinstance(raw, dict):
        msg = f"{p}: expected a JSON object"
        raise ConfigError(msg)
    return Baseline(
        drops=_parse_drops(raw.get("drops"), str(p)),
        budget_db=float(raw.get("budget_db", DEFAULT_BUDGET_DB)),
        max_growth_db=float(raw.get("max_growth_db", DEFAULT_MAX_GROWTH_DB)),
        path=p,
    )


def make_baseline(
    measured: GateMeasurement,
    *,
    budget_db: float = DEFAULT_BUDGET_DB,
    max_growth_db: float = DEFAULT_MAX_GROWTH_DB,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The JSON object of a new baseline made from ``measured`` (drops rounded to 1e-4 dB)."""
    drops: dict[str, dict[str, float]] = {}
    psnr: dict[str, dict[str, dict[str, float]]] = {}
    for (scale, name), d in sorted(measured.drops.items()):
        drops.setdefault(str(scale), {})[name] = round(d.drop, 4)
        psnr.setdefault(str(scale), {})[name] = {
            "fp32": round(d.fp32_psnr, 4),
            "int8": round(d.int8_psnr, 4),
        }
    return {
        "version": BASELINE_VERSION,
        "metric": "PSNR drop fp32 - int8, dB (paper protocol, Y channel, border = scale)",
        "budget_db": budget_db,
        "max_growth_db": max_growth_db,
        "drops": drops,
        "psnr": psnr,
        "depth_to_space_int8": {str(k): v for k, v in sorted(measured.depth_to_space_int8.items())},
        "config": dict(measured.config),
        "runtimes": list(measured.runtimes),
        **(dict(extra) if extra else {}),
    }


def write_baseline(
    measured: GateMeasurement,
    path: str | os.PathLike[str] | None = None,
    *,
    budget_db: float = DEFAULT_BUDGET_DB,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write a new baseline from ``measured`` atomically; returns its path."""
    p = Path(path) if path is not None else baseline_path()
    target = {"target_db": DEFAULT_BUDGET_DB}
    atomic_write_json(
        p, make_baseline(measured, budget_db=budget_db, extra={**target, **(extra or {})})
    )
    return p


def format_gate(measured: GateMeasurement, violations: Sequence[str]) -> str:
    """A short human report: one line per (scale, set) with the drop, then the verdict."""
    lines = []
    for (scale, name), d in sorted(measured.drops.items()):
        lines.append(
            f"x{scale} {name:<20} fp32 {d.fp32_psnr:8.4f}  int8 {d.int8_psnr:8.4f}  "
            f"drop {d.drop:+.4f} dB"
        )
    for scale, ok in sorted(measured.depth_to_space_int8.items()):
        lines.append(f"x{scale} DepthToSpace on int8: {'yes' if ok else 'NO'}")
    if violations:
        lines.append(f"GATE FAILED ({len(violations)} violation(s)):")
        lines += [f"  {v}" for v in violations]
    else:
        lines.append("gate passed")
    return "\n".join(lines)
