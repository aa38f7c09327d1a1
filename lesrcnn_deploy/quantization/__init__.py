"""int8 quantization of LESRCNN ONNX models with ONNX Runtime (QDQ, U8 activations, S8 weights).

One call: :func:`quantize_model`. Pieces: :mod:`.config` (frozen configs and presets),
:mod:`.calibration` (patches, ORT calibrators, replayable JSON tables), :mod:`.graph` (exact
rewrites), :mod:`.weight_rounding` (AdaRound-style rounding + bias correction),
:mod:`.sensitivity` (per-tensor SQNR report), :mod:`.check` (DepthToSpace stays 8-bit).
"""

from __future__ import annotations

from .calibration import CalibrationTable as CalibrationTable
from .calibration import calibrate as calibrate
from .calibration import load_table as load_table
from .calibration import save_table as save_table
from .check import DepthToSpaceInfo as DepthToSpaceInfo
from .check import check_depth_to_space_int8 as check_depth_to_space_int8
from .config import BUILTIN_SOURCE as BUILTIN_SOURCE
from .config import CalibrationConfig as CalibrationConfig
from .config import CalibrationMethod as CalibrationMethod
from .config import QuantizationConfig as QuantizationConfig
from .config import QuantType as QuantType
from .config import WeightRounding as WeightRounding
from .config import WeightRoundingConfig as WeightRoundingConfig
from .quantize import QuantizationResult as QuantizationResult
from .quantize import default_output_path as default_output_path
from .quantize import measure_speed as measure_speed
from .quantize import quantize_model as quantize_model
from .sensitivity import SensitivityReport as SensitivityReport
from .sensitivity import sensitivity_report as sensitivity_report

__all__ = [
    "BUILTIN_SOURCE",
    "CalibrationConfig",
    "CalibrationMethod",
    "CalibrationTable",
    "DepthToSpaceInfo",
    "QuantType",
    "QuantizationConfig",
    "QuantizationResult",
    "SensitivityReport",
    "WeightRounding",
    "WeightRoundingConfig",
    "calibrate",
    "check_depth_to_space_int8",
    "default_output_path",
    "load_table",
    "measure_speed",
    "quantize_model",
    "save_table",
    "sensitivity_report",
]
