"""OpenVINO in the bench: its rows, NNCF's default int8 as the peer, and "which runtime when".

Rows added to the speed table (same interleaved rounds as the ONNX Runtime rows): OpenVINO on the
fp32 model with f32 pinned, OpenVINO bf16 on the fp32 model, OpenVINO on our int8 model, and
OpenVINO on NNCF's default post-training int8 of the same fp32 model (``nncf.quantize`` with its
defaults, calibrated on the same built-in photo patches as our quantizer). Their accuracy (drop
vs the fp32 ONNX Runtime result on the same set and protocol) goes into one extra table, and a
short paragraph picking the runtime per use is written from the measured numbers.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import CalibrationError
from ..evaluation.evaluate import EvaluationResult, evaluate
from ..evaluation.scoring import Protocol
from ..runtime.timing import SpeedResult
from .speed import RunnerSpec

__all__ = [
    "NNCF_INT8",
    "ORT_FP32",
    "ORT_INT8",
    "OV_BF16",
    "OV_FP32",
    "OV_INT8",
    "RuntimeAccuracy",
    "accuracy_row",
    "nncf_default_int8",
    "openvino_specs",
    "render_runtime_section",
    "runtime_accuracy",
    "which_runtime",
]

ORT_FP32 = "ORT fp32"
ORT_INT8 = "ORT int8"
OV_FP32 = "OV fp32 (f32)"
OV_BF16 = "OV bf16"
OV_INT8 = "OV int8 (ours)"
NNCF_INT8 = "OV + NNCF default int8"


def _constants_to_initializers(model: Any) -> None:
    """Move ``Constant`` nodes into initializers (NNCF looks conv weights up as initializers)."""
    import onnx

    keep = []
    for node in model.graph.node:
        if node.op_type == "Constant" and [a.name for a in node.attribute] == ["value"]:
            t = onnx.TensorProto()
            t.CopyFrom(node.attribute[0].t)
            t.name = node.output[0]
            model.graph.initializer.append(t)
        else:
            keep.append(node)
    del model.graph.node[:]
    model.graph.node.extend(keep)


def nncf_default_int8(
    fp32: str | os.PathLike[str], output: str | os.PathLike[str], *, count: int | None = None
) -> Path:
    """NNCF's default post-training int8 of ``fp32``, calibrated on our built-in photo patches.

    ``nncf.quantize(model, dataset)`` with every option at its default (preset performance,
    fast bias correction), on the same 32 seeded 96x96 patches our quantizer calibrates on.
    Rebuilt only when ``output`` is missing or was made from another fp32 file. ``count``
    overrides the number of patches (tests use a few).

    Raises:
        RuntimeUnavailableError: NNCF or OpenVINO is not installed.
        CalibrationError: the built-in photos are missing.
    """
    import onnx

    from ..core.errors import RuntimeUnavailableError
    from ..core.fileio import atomic_path, sha256_file
    from ..core.onnx_io import read_metadata, write_metadata
    from ..quantization.calibration import collect_patches, load_calibration_images
    from ..quantization.config import CalibrationConfig

    out = Path(output)
    digest = sha256_file(fp32)
    if out.is_file() and read_metadata(out).get("source_sha256") == digest:
        return out
    try:
        import nncf
    except ImportError:
        msg = "NNCF is not installed: pip install 'lesrcnn-deploy[openvino]'"
        raise RuntimeUnavailableError(msg) from None
    cfg = CalibrationConfig() if count is None else CalibrationConfig(count=count)
    patches = collect_patches(
        load_calibration_images(cfg), count=cfg.count, crop=cfg.crop, seed=cfg.seed
    )
    if len(patches) == 0:  # pragma: no cover - collect_patches returns `count` patches
        msg = "no calibration patches"
        raise CalibrationError(msg)
    model = onnx.load(os.fspath(fp32))
    _constants_to_initializers(model)
    name = model.graph.input[0].name
    data = nncf.Dataset(list(patches), lambda p: {name: p[None]})
    quantized = nncf.quantize(model, data, subset_size=len(patches))
    write_metadata(
        quantized,
        {
            "precision": "int8",
            "quantizer": f"nncf {nncf.__version__} default post-training",
            "source_sha256": digest,
        },
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        onnx.save(quantized, os.fspath(tmp))
    return out


def openvino_specs(
    scale: int,
    fp32: Path,
    *,
    int8: Path,
    nncf_int8: Path | None,
    threads: int,
) -> list[RunnerSpec]:
    """The OpenVINO rows of the speed table (the NNCF row when ``nncf_int8`` is given)."""
    specs = [
        RunnerSpec(OV_FP32, "openvino", str(fp32), scale, threads),
        RunnerSpec(OV_BF16, "openvino-bf16", str(fp32), scale, threads),
        RunnerSpec(OV_INT8, "openvino", str(int8), scale, threads),
    ]
    if nncf_int8 is not None:
        specs.append(RunnerSpec(NNCF_INT8, "openvino", str(nncf_int8), scale, threads))
    return specs


@dataclass(frozen=True)
class RuntimeAccuracy:
    """One runner's accuracy on one set, against the fp32 ONNX Runtime result.

    Attributes:
        label: runner label (e.g. ``"OV int8 (ours)"``).
        scale, dataset, protocol: what was evaluated.
        psnr, ssim: the runner's means.
        drop_db, drop_ssim: fp32 minus the runner (positive = worse than fp32).
    """

    label: str
    scale: int
    dataset: str
    protocol: str
    psnr: float
    ssim: float
    drop_db: float
    drop_ssim: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


def accuracy_row(
    name: str, result: EvaluationResult, *, fp32: EvaluationResult, protocol: Protocol, label: str
) -> RuntimeAccuracy:
    """One row of the runtime accuracy table: ``result`` against the fp32 result ``fp32``."""
    return RuntimeAccuracy(
        name,
        fp32.scale,
        label,
        protocol.value,
        result.psnr,
        result.ssim,
        fp32.psnr - result.psnr,
        fp32.ssim - result.ssim,
    )


def runtime_accuracy(
    runners: dict[str, Any],
    dataset: Any,
    *,
    fp32: EvaluationResult,
    protocol: Protocol,
    label: str,
    progress: bool = False,
) -> list[RuntimeAccuracy]:
    """Evaluate ``runners`` on ``dataset`` and compare with the fp32 result ``fp32``."""
    return [
        accuracy_row(
            name,
            evaluate(runner, dataset, protocol=protocol, progress=progress, model_name=name),
            fp32=fp32,
            protocol=protocol,
            label=label,
        )
        for name, runner in runners.items()
    ]


def _ratio(speed: list[SpeedResult], num: str, den: str) -> list[float]:
    """``median(den) / median(num)`` per (scale, workload) where both exist (>1: num faster)."""
    by = {(r.scale, r.workload, r.label): r.median_ms for r in speed}
    keys = sorted({(r.scale, r.workload) for r in speed})
    return [by[(*k, den)] / by[(*k, num)] for k in keys if (*k, num) in by and (*k, den) in by]


def _span(xs: list[float], fmt: str = ".2f") -> str:
    if not xs:
        return "-"
    lo, hi = min(xs), max(xs)
    return f"{lo:{fmt}}x" if abs(hi - lo) < 0.005 else f"{lo:{fmt}}-{hi:{fmt}}x"


def which_runtime(speed: list[SpeedResult], accuracy: list[RuntimeAccuracy]) -> str:
    """The "which runtime when" paragraph, written from the measured speed and accuracy."""
    by = {(r.scale, r.workload, r.label): r.median_ms for r in speed}
    cases = sorted({(r.scale, r.workload) for r in speed})
    ours = []
    ov_wins = 0
    labels: set[str] = set()
    for s, w in cases:
        if (s, w, ORT_INT8) not in by or (s, w, ORT_FP32) not in by:
            continue
        best = min((by[(s, w, lab)], lab) for lab in (ORT_INT8, OV_INT8) if (s, w, lab) in by)
        ov_wins += best[1] != ORT_INT8
        labels.add(best[1])
        nncf = by.get((s, w, NNCF_INT8))
        ours.append((by[(s, w, ORT_FP32)] / best[0], None if nncf is None else nncf / best[0]))
    if not ours:
        return ""

    def worst(label: str) -> str:
        d = [a.drop_db for a in accuracy if a.label == label and a.protocol == "paper"]
        return "-" if not d else f"{max(d):.3f} dB"

    n = len(ours)
    vs_fp32 = _span([a for a, _ in ours])
    vs_nncf = [b for _, b in ours if b is not None]
    where = (
        "OpenVINO"
        if ov_wins == n
        else "ONNX Runtime"
        if ov_wins == 0
        else f"OpenVINO in {ov_wins} of {n} cases, ONNX Runtime in the others"
    )
    text = [
        f"Our int8 model is fastest on {where} ({', '.join(sorted(labels))}): {vs_fp32} the "
        f"speed of ONNX Runtime fp32 (worst paper-protocol drop {worst(ORT_INT8)} on ONNX "
        f"Runtime, {worst(OV_INT8)} on OpenVINO)."
    ]
    if vs_nncf:
        text.append(
            f"Against OpenVINO running NNCF's default post-training int8 of the same fp32 model "
            f"(x{', x'.join(sorted({str(r.scale) for r in speed if r.label == NNCF_INT8}))}) "
            f"it runs at {_span(vs_nncf)} NNCF's speed, while NNCF's int8 loses up to "
            f"{worst(NNCF_INT8)}."
        )
    bf16 = _ratio(speed, OV_BF16, ORT_FP32)
    f32 = _ratio(speed, OV_FP32, ORT_FP32)
    if bf16:
        text.append(
            f"Without int8, OpenVINO bf16 runs at {_span(bf16)} the speed of ONNX Runtime fp32 "
            f"(worst paper-protocol drop {worst(OV_BF16)}) and OpenVINO f32 at {_span(f32)}."
        )
    text.append(
        "So: for speed take the int8 model with `--runtime auto` (it measures both runtimes "
        "once per model and machine); for the exact fp32 numbers take fp32 on "
        + ("OpenVINO" if f32 and float(np.median(f32)) > 1.0 else "ONNX Runtime")
        + "; bf16 only where the int8 model is not wanted."
    )
    return " ".join(text)


def render_runtime_section(speed: list[SpeedResult], accuracy: list[RuntimeAccuracy]) -> list[str]:
    """Markdown lines: the runtimes' accuracy table and the "which runtime when" paragraph."""
    if not accuracy:
        return []
    lines = [
        "## Runtimes: accuracy on OpenVINO and NNCF's int8 (drop vs ORT fp32, same set)",
        "",
        "Our int8 model on every set; OpenVINO bf16 and NNCF's int8 on the card set and the first "
        "paper set, NNCF at the scales `--nncf-scales` names (default x2: quantizing with NNCF "
        "takes 12-25 s per scale); every set of both runtimes with our int8 model is also in "
        "`lesrcnn-deploy gate`.",
        "",
        "| Scale | Set | Protocol | Runner | PSNR / SSIM | Drop (dB) | SSIM drop |",
        "|---|---|---|---|---:|---:|---:|",
    ]
    for a in sorted(accuracy, key=lambda a: (a.scale, a.protocol, a.dataset)):
        lines.append(
            f"| x{a.scale} | {a.dataset} | {a.protocol} | {a.label} | {a.psnr:.2f} / "
            f"{a.ssim:.4f} | {a.drop_db:+.3f} | {a.drop_ssim:+.4f} |"
        )
    para = which_runtime(speed, accuracy)
    return [*lines, "", "### Which runtime when", "", para, ""] if para else [*lines, ""]
