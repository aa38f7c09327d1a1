"""int8 quantization of LESRCNN ONNX models with ONNX Runtime (QDQ, U8 activations, S8 weights).

One call: :func:`quantize_model`; in two steps: :func:`train_recipe` (calibration and
fine-tuning: the slow, seeded part, saved as a :class:`Recipe`) and :func:`apply_recipe` (the
exact, fast part). Pieces: :mod:`.config` (frozen configs and presets), :mod:`.calibration`
(patches, ORT calibrators, replayable tables), :mod:`.recipe` (saved recipes), :mod:`.graph`
(exact rewrites), :mod:`.ort_backend` (ORT's quantizer), :mod:`.finetune` (quantization-aware
fine-tuning), :mod:`.weight_rounding` (AdaRound-style rounding), :mod:`.tail_weights` (GPTQ
int8 weights for the float output conv), :mod:`.check` (DepthToSpace stays 8-bit),
:mod:`.sensitivity` (per-tensor SQNR report), :mod:`.manifest`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .calibration import CalibrationTable as CalibrationTable
    from .calibration import calibrate as calibrate
    from .calibration import load_table as load_table
    from .calibration import save_table as save_table
    from .check import DepthToSpaceInfo as DepthToSpaceInfo
    from .check import check_depth_to_space_int8 as check_depth_to_space_int8
    from .config import BUILTIN_SOURCE as BUILTIN_SOURCE
    from .config import CalibrationConfig as CalibrationConfig
    from .config import CalibrationMethod as CalibrationMethod
    from .config import FinetuneConfig as FinetuneConfig
    from .config import QuantizationConfig as QuantizationConfig
    from .config import QuantType as QuantType
    from .config import TailWeightsConfig as TailWeightsConfig
    from .config import WeightRounding as WeightRounding
    from .config import WeightRoundingConfig as WeightRoundingConfig
    from .recipe import Recipe as Recipe
    from .recipe import RecipeMismatch as RecipeMismatch
    from .recipe import load_recipe as load_recipe
    from .recipe import save_recipe as save_recipe
    from .replay import QuantizationResult as QuantizationResult
    from .replay import apply_recipe as apply_recipe
    from .train import quantize_model as quantize_model
    from .train import train_recipe as train_recipe

_WHERE = {
    "CalibrationTable": "calibration",
    "calibrate": "calibration",
    "load_table": "calibration",
    "save_table": "calibration",
    "DepthToSpaceInfo": "check",
    "check_depth_to_space_int8": "check",
    "BUILTIN_SOURCE": "config",
    "CalibrationConfig": "config",
    "CalibrationMethod": "config",
    "FinetuneConfig": "config",
    "QuantizationConfig": "config",
    "QuantType": "config",
    "TailWeightsConfig": "config",
    "WeightRounding": "config",
    "WeightRoundingConfig": "config",
    "Recipe": "recipe",
    "RecipeMismatch": "recipe",
    "load_recipe": "recipe",
    "save_recipe": "recipe",
    "QuantizationResult": "replay",
    "apply_recipe": "replay",
    "quantize_model": "train",
    "train_recipe": "train",
}
"""Public name -> sub-module. Imported on first use (PEP 562), so that ``quantization.config``
(plain configuration classes, e.g. for the CLI's choices) does not load onnx and the
calibration, training and replay modules."""


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        msg = f"module {__name__!r} has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "BUILTIN_SOURCE",
    "CalibrationConfig",
    "CalibrationMethod",
    "CalibrationTable",
    "DepthToSpaceInfo",
    "FinetuneConfig",
    "QuantType",
    "QuantizationConfig",
    "QuantizationResult",
    "Recipe",
    "RecipeMismatch",
    "TailWeightsConfig",
    "WeightRounding",
    "WeightRoundingConfig",
    "apply_recipe",
    "calibrate",
    "check_depth_to_space_int8",
    "load_recipe",
    "load_table",
    "quantize_model",
    "save_recipe",
    "save_table",
    "train_recipe",
]
