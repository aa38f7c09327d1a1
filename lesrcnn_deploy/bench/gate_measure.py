"""Measuring what the CI gate (:mod:`.gate`) judges: fp32 and int8 PSNR per scale and set (paper
protocol, through :func:`~lesrcnn_deploy.bench.accuracy.compare`), the int8 model on every
installed runtime, and where DepthToSpace runs."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..core.errors import ConfigError, QuantizationError
from .gate import RUNTIME_SETS, GateMeasurement, SetDrop

__all__ = [
    "depth_to_space_dtypes",
    "depth_to_space_on_int8",
    "installed_runtimes",
    "measure_gate",
]


def depth_to_space_dtypes(model_path: str | os.PathLike[str]) -> list[bool]:
    """For each DepthToSpace of the ORT-optimized graph of ``model_path``: does it run on 8 bits?

    Returns:
        One bool per DepthToSpace node, in graph order (empty list: no DepthToSpace at all).
    """
    from ..quantization.check import depth_to_space_types

    return [info.is_int8 for info in depth_to_space_types(model_path)]


def depth_to_space_on_int8(model_path: str | os.PathLike[str]) -> bool:
    """True when the optimized graph has DepthToSpace nodes and all of them read 8-bit tensors."""
    flags = depth_to_space_dtypes(model_path)
    return bool(flags) and all(flags)


def installed_runtimes() -> tuple[str, ...]:
    """The runtimes the gate covers here: ONNX Runtime, and OpenVINO when it is installed."""
    from ..runtime.ov import openvino_available

    return ("ort", "openvino") if openvino_available() else ("ort",)


def measure_gate(
    fp32_models: Mapping[int, str | os.PathLike[str]],
    int8_models: Mapping[int, str | os.PathLike[str]],
    *,
    datasets: Sequence[str | os.PathLike[str]],
    threads: int | None = None,
    progress: bool = True,
    config: Mapping[str, Any] | None = None,
    runtimes: Sequence[str] | None = None,
) -> GateMeasurement:
    """Evaluate fp32 and int8 models of each scale on ``datasets`` (paper protocol), and check
    where DepthToSpace runs in each int8 graph.

    Args:
        fp32_models, int8_models: ``{scale: .onnx path}``; the scales of ``int8_models`` are
            measured (each needs its fp32 model).
        datasets: dataset folders (e.g. Set5, Set14).
        threads: intra-op threads.
        progress: tqdm bars.
        config: recorded in the measurement (how the int8 models were built).
        runtimes: where the int8 model runs: ``"ort"`` (always) and ``"openvino"``; default
            :func:`installed_runtimes`. Every runtime's int8 result is compared with the ONNX
            Runtime fp32 result, under the set name ``"<set> on OpenVINO"`` for OpenVINO, and
            its compiled graph's DepthToSpace must run on 8-bit data too.

    Raises:
        ConfigError: an int8 scale has no fp32 model, or an unknown runtime.
    """
    from ..data import open_dataset
    from ..evaluation.evaluate import evaluate
    from ..evaluation.scoring import Protocol
    from ..runtime.dispatch import open_runner
    from .accuracy import compare

    rts = tuple(runtimes) if runtimes is not None else installed_runtimes()
    unknown = sorted(set(rts) - set(RUNTIME_SETS))
    if unknown or "ort" not in rts:
        msg = f"gate runtimes must include 'ort' and be among {sorted(RUNTIME_SETS)}, got {rts}"
        raise ConfigError(msg)
    drops: dict[tuple[int, str], SetDrop] = {}
    d2s: dict[int, bool] = {}
    for scale in sorted(int8_models):
        if scale not in fp32_models:
            msg = f"x{scale}: int8 model given without its fp32 model"
            raise ConfigError(msg)
        r32 = open_runner(Path(fp32_models[scale]), runtime="ort", threads=threads, scale=scale)
        r8 = open_runner(Path(int8_models[scale]), runtime="ort", threads=threads, scale=scale)
        d2s[scale] = depth_to_space_on_int8(int8_models[scale])
        ov = None
        if "openvino" in rts:
            from ..runtime.ov import OpenVinoRunner, check_depth_to_space_int8_openvino

            ov = OpenVinoRunner(Path(int8_models[scale]), threads=threads, scale=scale)
            try:
                check_depth_to_space_int8_openvino(ov)
            except QuantizationError:
                d2s[scale] = False
        for root in datasets:
            ds = open_dataset(root, scale)
            c = compare(
                r32, r8, dataset=ds, scale=scale, protocol=Protocol.PAPER, progress=progress
            )
            assert c.int8 is not None
            drops[(scale, c.dataset)] = SetDrop(c.fp32.psnr, c.int8.psnr)
            if ov is not None:
                r = evaluate(ov, ds, protocol=Protocol.PAPER, progress=progress)
                drops[(scale, c.dataset + RUNTIME_SETS["openvino"])] = SetDrop(c.fp32.psnr, r.psnr)
    return GateMeasurement(
        drops=drops, depth_to_space_int8=d2s, config=dict(config or {}), runtimes=rts
    )
