"""Quantization configs: strings become enums before validation, JSON round trip, presets."""

from __future__ import annotations

import dataclasses

import pytest

from lesrcnn_deploy.core.errors import ConfigError
from lesrcnn_deploy.quantization.config import (
    BUILTIN_SOURCE,
    CalibrationConfig,
    CalibrationMethod,
    QuantizationConfig,
    QuantType,
    WeightRounding,
    WeightRoundingConfig,
)


def test_strings_become_enums_then_validate() -> None:
    c = CalibrationConfig(method="ENTROPY", num_bins=2048, num_quantized_bins=255)  # type: ignore[arg-type]
    assert c.method is CalibrationMethod.ENTROPY
    q = QuantizationConfig(activation_type="quint8", format="QDQ")  # type: ignore[arg-type]
    assert q.activation_type is QuantType.QUINT8
    # a string that converts but is not allowed is still rejected (validation after conversion)
    with pytest.raises(ConfigError, match="8-bit"):
        QuantizationConfig(activation_type="quint16")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"method": "kl"}, "choose from percentile, minmax, entropy"),
        ({"count": 0}, "count must be an integer >= 1"),
        ({"crop": 8}, "crop must be an integer >= 16"),
        ({"percentile": 100.5}, r"percentile must be a number in \(0, 100\]"),
        ({"seed": -1}, "seed"),
        ({"method": "entropy", "num_bins": 128, "num_quantized_bins": 128}, "min-max"),
        ({"source": ""}, "must not be empty"),
    ],
)
def test_calibration_config_errors(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        CalibrationConfig(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"keep_float": "conv1"}, "list of layer names"),
        ({"keep_float": ("conv 1",)}, "not a layer name"),
        ({"weight_type": "quint8"}, "qint8"),
        ({"format": "qoperator"}, "choose from qdq"),
        ({"per_channel": "yes"}, "true or false"),
        ({"activation_overrides": {"t": "float"}}, "activation override type"),
    ],
)
def test_quantization_config_errors(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        QuantizationConfig(**kwargs)  # type: ignore[arg-type]


def test_weight_rounding_config_errors() -> None:
    with pytest.raises(ConfigError, match="reg_weight"):
        WeightRoundingConfig(reg_weight=float("nan"))
    with pytest.raises(ConfigError, match="choose from nearest, adaround"):
        WeightRoundingConfig(method="adaquant")  # type: ignore[arg-type]
    # "nearest" means no rounding optimisation at all
    assert (
        QuantizationConfig(weight_rounding=WeightRoundingConfig(method="nearest")).weight_rounding
        is None
    )  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["default", "adaround", "per_channel", "per_tensor"])
def test_presets_round_trip_through_json(name: str) -> None:
    cfg = QuantizationConfig.preset(name)
    assert cfg.name == name
    again = QuantizationConfig.from_json(cfg.to_json())
    assert again == cfg
    assert isinstance(again.activation_type, QuantType)


def test_calibration_config_round_trip_and_builtin() -> None:
    c = CalibrationConfig(count=8, crop=64, seed=3, method=CalibrationMethod.MINMAX)
    assert CalibrationConfig.from_json(c.to_json()) == c
    assert c.is_builtin and c.source == BUILTIN_SOURCE
    assert not CalibrationConfig(source="/data/DIV2K_train_LR_bicubic/X2").is_builtin


def test_from_json_rejects_unknown_fields_and_garbage() -> None:
    with pytest.raises(ConfigError, match="unknown CalibrationConfig field"):
        CalibrationConfig.from_dict({"count": 4, "bogus": 1})
    with pytest.raises(ConfigError, match="not valid JSON"):
        QuantizationConfig.from_json("{")
    with pytest.raises(ConfigError, match="unknown quantization preset 'best'"):
        QuantizationConfig.preset("best")


def test_per_tensor_is_the_degraded_preset() -> None:
    bad, good = QuantizationConfig.per_tensor(), QuantizationConfig.default()
    assert not bad.per_channel and bad.keep_float == ()
    assert good.per_channel and "conv18" in good.keep_float
    # frozen: presets are fresh objects, replace() does not touch the original
    changed = dataclasses.replace(good, keep_float=("conv1",))
    assert good.keep_float != changed.keep_float
    with pytest.raises(dataclasses.FrozenInstanceError):
        good.per_channel = False  # type: ignore[misc]


def test_str_names_schema() -> None:
    s = str(QuantizationConfig.default())
    assert s.startswith("QDQ (default; schema u8/s8, channel-wise: True")
    assert "weight rounding: nearest" in s
    assert WeightRounding.ADAROUND.value in str(QuantizationConfig.adaround())
