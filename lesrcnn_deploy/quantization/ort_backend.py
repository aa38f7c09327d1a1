"""ONNX Runtime's static QDQ quantizer, fed with precomputed ranges (no calibration of its own)."""

from __future__ import annotations

import contextlib
import io
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from ..core.errors import QuantizationError
from .config import QuantizationConfig, QuantType

__all__ = ["ort_quant_type", "run_ort_quantizer", "verify_weight_grid"]


def ort_quant_type(t: QuantType) -> Any:
    """ONNX Runtime's ``QuantType`` member for ours."""
    from onnxruntime.quantization import QuantType as OrtQuantType

    return {
        QuantType.QUINT8: OrtQuantType.QUInt8,
        QuantType.QINT8: OrtQuantType.QInt8,
        QuantType.QUINT16: OrtQuantType.QUInt16,
        QuantType.QINT16: OrtQuantType.QInt16,
    }[t]


def run_ort_quantizer(
    fp32_path: Path,
    out_path: Path,
    *,
    ranges: Mapping[str, tuple[float, float]],
    config: QuantizationConfig,
    exclude: Sequence[str],
) -> None:
    """``quantize_static`` (QDQ) of ``fp32_path`` into ``out_path`` with the given ranges.

    The ranges reach ORT through its calibration cache, so ORT computes each scale and zero point
    from them exactly as it would from its own calibrator. Weights keep ORT's ``max|w| / 127``
    grid (no int32-bias adjustment), which fine-tuning and weight rounding rely on.
    """
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, quantize_static
    from onnxruntime.quantization.calibrate import TensorData, TensorsData, save_tensors_data

    data = {
        k: TensorData(lowest=np.float32(lo), highest=np.float32(hi))
        for k, (lo, hi) in ranges.items()
    }
    overrides = {
        k: [{"quant_type": ort_quant_type(v)}] for k, v in config.activation_overrides.items()
    }
    extra: dict[str, Any] = {
        "TensorQuantOverrides": overrides,
        "QDQDisableWeightAdjustForInt32Bias": True,
    }
    cache = out_path.with_suffix(".calib.json")
    save_tensors_data(TensorsData(CalibrationMethod.MinMax, data), cache)
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # ORT warns about pre-processing on every call
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            quantize_static(
                os.fspath(fp32_path),
                os.fspath(out_path),
                None,
                quant_format=QuantFormat.QDQ,
                per_channel=config.per_channel,
                activation_type=ort_quant_type(config.activation_type),
                weight_type=ort_quant_type(config.weight_type),
                nodes_to_exclude=list(exclude),
                calibrate_method=CalibrationMethod.MinMax,
                calibration_cache_path=os.fspath(cache),
                extra_options=extra,
            )
    finally:
        root.setLevel(level)
        cache.unlink(missing_ok=True)


def verify_weight_grid(qdq: onnx.ModelProto, rounded: onnx.ModelProto) -> None:
    """Raise :class:`QuantizationError` unless ORT mapped the on-grid weights of ``rounded``
    exactly (no re-rounding by the quantizer)."""
    from onnx import numpy_helper

    q = {i.name: i for i in qdq.graph.initializer}
    fitted = {i.name: i for i in rounded.graph.initializer}
    for n in qdq.graph.node:
        if n.op_type != "DequantizeLinear" or not n.input[0].endswith("_quantized"):
            continue
        src = n.input[0].removesuffix("_quantized")
        if src not in fitted or q[n.input[0]].data_type != onnx.TensorProto.INT8:
            continue
        ints = numpy_helper.to_array(q[n.input[0]]).astype(np.float64)
        scale = numpy_helper.to_array(q[n.input[1]]).astype(np.float64)
        w = numpy_helper.to_array(fitted[src]).astype(np.float64)
        deq = ints * scale.reshape((-1,) + (1,) * (ints.ndim - 1))
        err = float(np.max(np.abs(deq - w)) / max(float(np.max(np.abs(w))), 1e-12))
        if err > 1e-5:
            msg = f"weight rounding of {src!r} was not kept by the quantizer (rel. error {err:.1e})"
            raise QuantizationError(msg)
