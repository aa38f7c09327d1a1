"""The building blocks of the quantization configs: their enums (choices saved by value) and the
JSON round trip and validation helpers shared by every frozen record of :mod:`.config`."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from enum import StrEnum
from typing import Any, Self

from ..core.errors import ConfigError

__all__ = [
    "CalibrationMethod",
    "FinetuneLoss",
    "JsonRecord",
    "QuantFormat",
    "QuantType",
    "WeightRounding",
]


class CalibrationMethod(StrEnum):
    """How per-tensor activation ranges are computed from the calibration activations.

    ``percentile`` clips each tensor's histogram at a percentile (ORT ``PercentileCalibrater``),
    ``minmax`` takes the observed extremes, ``entropy`` minimises the KL divergence between the
    float and the quantized histogram (ORT ``EntropyCalibrater`` built directly, with enough bins
    to search: ``quantize_static``'s default 128 bins silently reduce it to min-max).
    """

    PERCENTILE = "percentile"
    MINMAX = "minmax"
    ENTROPY = "entropy"


class QuantFormat(StrEnum):
    """ONNX representation of the quantized model (only QDQ: ORT fuses it into QLinear ops)."""

    QDQ = "qdq"


class QuantType(StrEnum):
    """Element type of a quantized tensor."""

    QUINT8 = "quint8"
    QINT8 = "qint8"
    QUINT16 = "quint16"
    QINT16 = "qint16"


class FinetuneLoss(StrEnum):
    """What fine-tuning minimises against the fp32 model's output.

    ``rgb``: MSE of the RGB values (the default). ``y``: MSE of the luma only (ITU-R BT.601 Y,
    what the paper protocol scores); it leaves chroma free and in the ablation tripled the RGB
    error while it lowered the Y error a little: it games the paper metric, do not ship it.
    """

    RGB = "rgb"
    Y = "y"


class WeightRounding(StrEnum):
    """How float weights are put on the int8 grid."""

    NEAREST = "nearest"
    ADAROUND = "adaround"


def _enum(cls: type[StrEnum], value: Any, what: str) -> Any:
    if isinstance(value, cls):
        return value
    try:
        return cls(str(value).lower())
    except ValueError:
        allowed = ", ".join(m.value for m in cls)
        msg = f"unknown {what} {value!r}: choose from {allowed}"
        raise ConfigError(msg) from None


def _int_at_least(value: Any, minimum: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        msg = f"{what} must be an integer >= {minimum}, got {value!r}"
        raise ConfigError(msg)
    return value


def _set(obj: object, name: str, value: Any) -> None:
    object.__setattr__(obj, name, value)


class JsonRecord:
    """``to_dict`` / ``to_json`` / ``from_dict`` / ``from_json`` for the frozen records."""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: enums by value, tuples as lists, nested records as dicts."""

        def conv(v: Any) -> Any:
            if isinstance(v, StrEnum):
                return v.value
            if isinstance(v, JsonRecord):
                return v.to_dict()
            if isinstance(v, tuple | list):
                return [conv(x) for x in v]
            if isinstance(v, Mapping):
                return {str(k): conv(x) for k, x in sorted(v.items())}
            return v

        return {f.name: conv(getattr(self, f.name)) for f in dataclasses.fields(self)}  # type: ignore[arg-type]

    def to_json(self) -> str:
        """Indented, key-sorted JSON text (see :meth:`from_json`)."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """Rebuild from :meth:`to_dict` output; unknown keys raise :class:`ConfigError`."""
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(data) - names)
        if unknown:
            msg = f"unknown {cls.__name__} field(s) {unknown}: allowed {sorted(names)}"
            raise ConfigError(msg)
        return cls(**dict(data))

    @classmethod
    def from_json(cls, text: str) -> Self:
        """Rebuild from :meth:`to_json` text."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            msg = f"{cls.__name__}: not valid JSON ({exc.msg} at line {exc.lineno})"
            raise ConfigError(msg) from None
        if not isinstance(data, dict):
            msg = f"{cls.__name__}: expected a JSON object, got {type(data).__name__}"
            raise ConfigError(msg)
        return cls.from_dict(data)
