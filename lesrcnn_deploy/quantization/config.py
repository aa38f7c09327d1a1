"""Frozen configuration records of int8 quantization: calibration data, method and quantizer.

Every record converts strings to enums first and validates afterwards, raises
:class:`~lesrcnn_deploy.core.errors.ConfigError` naming the bad value and the allowed set, and
round-trips through JSON (``to_json`` / ``from_json``; enums are saved by value).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Self

from ..core.errors import ConfigError
from .config_base import (
    CalibrationMethod,
    FinetuneLoss,
    JsonRecord,
    QuantFormat,
    QuantType,
    WeightRounding,
    _enum,
    _int_at_least,
    _set,
)

__all__ = [
    "BUILTIN_SOURCE",
    "CalibrationConfig",
    "CalibrationMethod",
    "FinetuneConfig",
    "FinetuneLoss",
    "QuantFormat",
    "QuantType",
    "QuantizationConfig",
    "TailWeightsConfig",
    "WeightRounding",
    "WeightRoundingConfig",
]

BUILTIN_SOURCE = "builtin:skimage"
"""Calibration source name of the natural photos shipped with scikit-image (no download)."""


@dataclass(frozen=True)
class CalibrationConfig(JsonRecord):
    """Where calibration patches come from and how ranges are computed.

    Attributes:
        source: :data:`BUILTIN_SOURCE` (scikit-image's natural photos) or an image folder (e.g.
            ``DIV2K_train_LR_bicubic/X2``). Never an evaluation set.
        split: free-form provenance, e.g. ``"train"`` for a DIV2K training folder.
        count: number of random LR patches.
        crop: patch side, pixels (LR); every image must be at least this large.
        seed: seed of the patch positions; same seed and images -> same ranges.
        method: see :class:`CalibrationMethod`.
        percentile: upper percentile of ``percentile`` calibration, in (0, 100].
        num_bins: histogram bins of ``percentile`` / ``entropy``.
        num_quantized_bins: quantized bins that ``entropy`` compares against (< num_bins).
        batch: patches per calibration inference (memory vs. speed).
    """

    source: str = BUILTIN_SOURCE
    split: str = "builtin"
    count: int = 32
    crop: int = 96
    seed: int = 0
    method: CalibrationMethod = CalibrationMethod.PERCENTILE
    percentile: float = 99.999
    num_bins: int = 2048
    num_quantized_bins: int = 255
    batch: int = 4

    def __post_init__(self) -> None:
        _set(self, "method", _enum(CalibrationMethod, self.method, "calibration method"))
        _set(self, "source", str(self.source))
        _set(self, "split", str(self.split))
        if not self.source:
            msg = "calibration source must not be empty"
            raise ConfigError(msg)
        _int_at_least(self.count, 1, "calibration count")
        _int_at_least(self.crop, 16, "calibration crop")
        _int_at_least(self.seed, 0, "calibration seed")
        _int_at_least(self.batch, 1, "calibration batch")
        _int_at_least(self.num_bins, 2, "num_bins")
        _int_at_least(self.num_quantized_bins, 2, "num_quantized_bins")
        p = self.percentile
        if isinstance(p, bool) or not isinstance(p, int | float) or not (0 < p <= 100):
            msg = f"percentile must be a number in (0, 100], got {p!r}"
            raise ConfigError(msg)
        _set(self, "percentile", float(p))
        if self.method is CalibrationMethod.ENTROPY and self.num_quantized_bins >= self.num_bins:
            msg = (
                f"entropy calibration needs num_quantized_bins ({self.num_quantized_bins}) < "
                f"num_bins ({self.num_bins}); with equal counts it is min-max"
            )
            raise ConfigError(msg)

    @property
    def is_builtin(self) -> bool:
        """True when the patches come from the built-in scikit-image photos."""
        return self.source == BUILTIN_SOURCE


@dataclass(frozen=True)
class WeightRoundingConfig(JsonRecord):
    """AdaRound-style weight rounding, optimised in PyTorch on calibration patches.

    Each quantized conv's rounding (floor or ceil per weight, on ORT's own per-channel symmetric
    grid ``max|w| / 127``) and its bias are fitted, layer by layer in graph order, so that the
    conv fed with the *quantized* model's input reproduces the fp32 model's output. The result is
    written as float weights already on the int8 grid, which ORT's quantizer then maps exactly.

    Attributes:
        method: ``nearest`` (ORT's rounding, nothing to fit) or ``adaround``.
        iterations: optimiser steps per layer.
        samples: output positions sampled per layer (im2col rows).
        batch: positions per optimiser step.
        reg_weight: weight of the rounding regulariser (pushes soft rounding to 0/1).
        learn_bias: also fit a per-channel bias (bias correction); adds a zero bias to bias-free
            convs first.
        count: calibration patches used (first ``count`` of the calibration set's sequence).
        crop: patch side, LR pixels.
        seed: seed of the sampled positions.
    """

    method: WeightRounding = WeightRounding.ADAROUND
    iterations: int = 400
    samples: int = 16384
    batch: int = 4096
    reg_weight: float = 0.01
    learn_bias: bool = True
    count: int = 16
    crop: int = 64
    seed: int = 0

    def __post_init__(self) -> None:
        _set(self, "method", _enum(WeightRounding, self.method, "weight rounding"))
        _int_at_least(self.iterations, 1, "iterations")
        _int_at_least(self.samples, 16, "samples")
        _int_at_least(self.batch, 16, "batch")
        _int_at_least(self.count, 1, "weight rounding count")
        _int_at_least(self.crop, 16, "weight rounding crop")
        _int_at_least(self.seed, 0, "weight rounding seed")
        r = self.reg_weight
        if isinstance(r, bool) or not isinstance(r, int | float) or not math.isfinite(r) or r < 0:
            msg = f"reg_weight must be a finite number >= 0, got {r!r}"
            raise ConfigError(msg)
        _set(self, "reg_weight", float(r))
        if not isinstance(self.learn_bias, bool):
            msg = f"learn_bias must be true or false, got {self.learn_bias!r}"
            raise ConfigError(msg)


@dataclass(frozen=True)
class FinetuneConfig(JsonRecord):
    """Quantization-aware fine-tuning of the weights (see :mod:`.finetune`).

    The ORT QDQ graph is run in PyTorch with straight-through rounding and the weights
    fake-quantized on ORT's grid; weights, biases and (unless ``scale_lr`` is 0) the activation
    quantizers' scales, starting from the calibrated ranges, are trained with Adam (linear
    warm-up, then cosine decay) to reproduce the fp32 model's output on random LR patches of the
    calibration images.

    Attributes:
        steps: optimiser steps.
        lr: peak learning rate of weights and biases (Adam).
        scale_lr: peak learning rate of the log activation scales (0 = keep calibrated ranges).
        warmup: steps of linear learning-rate warm-up.
        loss: see :class:`FinetuneLoss`.
        batch: patches per step.
        hr_crop: patch side in *output* pixels; the LR patch is ``hr_crop // scale`` so every
            scale costs about the same per step.
        seed: seed of the patch sampler, the flips and the optimiser.
        val_count: held-out patches on which the manifest reports the before/after PSNR.
    """

    steps: int = 600
    lr: float = 5e-5
    scale_lr: float = 1e-3
    warmup: int = 30
    loss: FinetuneLoss = FinetuneLoss.RGB
    batch: int = 8
    hr_crop: int = 96
    seed: int = 0
    val_count: int = 8

    def __post_init__(self) -> None:
        _set(self, "loss", _enum(FinetuneLoss, self.loss, "fine-tune loss"))
        _int_at_least(self.warmup, 0, "fine-tune warmup")
        _int_at_least(self.hr_crop, 48, "fine-tune hr_crop")
        if isinstance(self.scale_lr, bool) or not isinstance(self.scale_lr, int | float):
            msg = f"fine-tune scale_lr must be a number >= 0, got {self.scale_lr!r}"
            raise ConfigError(msg)
        if not math.isfinite(self.scale_lr) or self.scale_lr < 0:
            msg = f"fine-tune scale_lr must be a finite number >= 0, got {self.scale_lr!r}"
            raise ConfigError(msg)
        _set(self, "scale_lr", float(self.scale_lr))
        _int_at_least(self.steps, 1, "fine-tune steps")
        if self.warmup >= self.steps:
            msg = f"fine-tune warmup ({self.warmup}) must be shorter than steps ({self.steps})"
            raise ConfigError(msg)
        _int_at_least(self.batch, 1, "fine-tune batch")
        _int_at_least(self.seed, 0, "fine-tune seed")
        _int_at_least(self.val_count, 1, "fine-tune val_count")
        r = self.lr
        if isinstance(r, bool) or not isinstance(r, int | float) or not math.isfinite(r) or r <= 0:
            msg = f"fine-tune lr must be a finite number > 0, got {r!r}"
            raise ConfigError(msg)
        _set(self, "lr", float(r))

    def lr_crop(self, scale: int) -> int:
        """LR patch side for an upscale factor (``hr_crop // scale``, at least 16)."""
        return max(16, self.hr_crop // scale)


@dataclass(frozen=True)
class TailWeightsConfig(JsonRecord):
    """int8 weights for the float convs that read 8-bit data (``conv18``), GPTQ-rounded.

    The conv keeps a float output; only its weights become int8 (per output channel,
    symmetric), so OpenVINO runs it as a u8 x s8 convolution instead of dequantizing the
    64-channel HR activation to f32 first (see :mod:`.tail_weights`). Fitted once, after the
    fine-tuning, on the trained int8 model's own activations; the int8 values go into the recipe.

    Attributes:
        count: LR calibration patches whose activations define the Hessians.
        crop: patch side, LR pixels.
        damp: diagonal damping of the Hessian, as a fraction of its mean diagonal.
    """

    count: int = 32
    crop: int = 48
    damp: float = 0.01

    def __post_init__(self) -> None:
        _int_at_least(self.count, 1, "tail_weights count")
        _int_at_least(self.crop, 16, "tail_weights crop")
        d = self.damp
        if isinstance(d, bool) or not isinstance(d, int | float) or not math.isfinite(d) or d <= 0:
            msg = f"tail_weights damp must be a finite number > 0, got {d!r}"
            raise ConfigError(msg)
        _set(self, "damp", float(d))


_LAYER_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")


@dataclass(frozen=True)
class QuantizationConfig(JsonRecord):
    """How an fp32 LESRCNN ONNX model becomes int8.

    Attributes:
        format: only ``qdq``.
        activation_type: activations (``quint8``; x86 fuses U8 activations x S8 weights).
        weight_type: weights (``qint8``, symmetric).
        per_channel: per-output-channel weight scales (else one scale per tensor).
        keep_float: layers computed in fp32, by module name (``sub_mean``, ``conv1`` ...
            ``conv18``, ``conv17_1``, ``upsample``). Only cheap layers belong here: a float
            layer between int8 layers costs a dequantize and a quantize.
        activation_overrides: ``{tensor name: quant type}`` for individual activations (e.g.
            ``quint16``); ORT CPU runs 16-bit QDQ as float ops between converters.
        relu_before_depth_to_space: rewrite ``DepthToSpace -> Relu`` as ``Relu -> DepthToSpace``
            (exact: ReLU is element-wise) so the ReLU fuses into the upsample conv and
            DepthToSpace sits between 8-bit tensors.
        fold_output_shift: fold the final ``add_mean`` 1x1 conv into ``conv18``'s bias (exact).
        layout_anchors: insert an identity 1x1 conv between a fp32 layer and the residual adds
            reading it (exact once quantized); it lets ORT keep the residual trunk in NHWC
            instead of transposing around every add (faster, same output).
        weight_rounding: see :class:`WeightRoundingConfig`; ``None`` = ORT's nearest rounding.
        finetune: see :class:`FinetuneConfig`; ``None`` = the calibrated weights as they are.
        tail_weights: see :class:`TailWeightsConfig`; ``None`` = float weights on the float
            convs (``conv18``).
        name: preset name, recorded in manifests.
    """

    format: QuantFormat = QuantFormat.QDQ
    activation_type: QuantType = QuantType.QUINT8
    weight_type: QuantType = QuantType.QINT8
    per_channel: bool = True
    keep_float: tuple[str, ...] = ("sub_mean", "conv1", "conv18")
    activation_overrides: Mapping[str, QuantType] = field(default_factory=dict)
    relu_before_depth_to_space: bool = True
    fold_output_shift: bool = True
    layout_anchors: bool = True
    weight_rounding: WeightRoundingConfig | None = None
    finetune: FinetuneConfig | None = None
    tail_weights: TailWeightsConfig | None = None
    name: str = "custom"

    def __post_init__(self) -> None:
        _set(self, "format", _enum(QuantFormat, self.format, "quantization format"))
        _set(self, "activation_type", _enum(QuantType, self.activation_type, "activation type"))
        _set(self, "weight_type", _enum(QuantType, self.weight_type, "weight type"))
        if isinstance(self.keep_float, str):
            msg = f"keep_float must be a list of layer names, got the string {self.keep_float!r}"
            raise ConfigError(msg)
        keep = tuple(str(k) for k in self.keep_float)
        for k in keep:
            if not k or not set(k) <= _LAYER_CHARS:
                msg = f"keep_float: {k!r} is not a layer name (e.g. conv1, conv17_4, upsample)"
                raise ConfigError(msg)
        _set(self, "keep_float", tuple(sorted(set(keep))))
        overrides = {
            str(k): _enum(QuantType, v, "activation override type")
            for k, v in dict(self.activation_overrides).items()
        }
        _set(self, "activation_overrides", dict(sorted(overrides.items())))
        wr = self.weight_rounding
        if isinstance(wr, Mapping):
            wr = WeightRoundingConfig.from_dict(wr)
        if wr is not None and not isinstance(wr, WeightRoundingConfig):
            msg = f"weight_rounding must be a WeightRoundingConfig or None, got {wr!r}"
            raise ConfigError(msg)
        if wr is not None and wr.method is WeightRounding.NEAREST:
            wr = None
        _set(self, "weight_rounding", wr)
        ft = self.finetune
        if isinstance(ft, Mapping):
            ft = FinetuneConfig.from_dict(ft)
        if ft is not None and not isinstance(ft, FinetuneConfig):
            msg = f"finetune must be a FinetuneConfig or None, got {ft!r}"
            raise ConfigError(msg)
        _set(self, "finetune", ft)
        tw = self.tail_weights
        if isinstance(tw, Mapping):
            tw = TailWeightsConfig.from_dict(tw)
        if tw is not None and not isinstance(tw, TailWeightsConfig):
            msg = f"tail_weights must be a TailWeightsConfig or None, got {tw!r}"
            raise ConfigError(msg)
        _set(self, "tail_weights", tw)
        if ft is not None and wr is not None:
            msg = "finetune and weight_rounding exclude each other: fine-tuning trains the weights"
            raise ConfigError(msg)
        flags = ("per_channel", "relu_before_depth_to_space", "fold_output_shift", "layout_anchors")
        for flag in flags:
            if not isinstance(getattr(self, flag), bool):
                msg = f"{flag} must be true or false, got {getattr(self, flag)!r}"
                raise ConfigError(msg)
        if self.activation_type not in (QuantType.QUINT8, QuantType.QINT8):
            msg = f"activation_type must be 8-bit (quint8 or qint8), got {self.activation_type}"
            raise ConfigError(msg)
        if self.weight_type is not QuantType.QINT8:
            msg = f"weight_type must be qint8 (symmetric int8 weights), got {self.weight_type}"
            raise ConfigError(msg)
        _set(self, "name", str(self.name))

    def to_dict(self) -> dict[str, Any]:
        """As :meth:`JsonRecord.to_dict`, without ``tail_weights`` when it is None (configurations
        and recipes written before that stage existed keep their digests)."""
        data = super().to_dict()
        if data.get("tail_weights") is None:
            data.pop("tail_weights", None)
        return data

    def __str__(self) -> str:
        act = "u8" if self.activation_type is QuantType.QUINT8 else "s8"
        wr = self.weight_rounding.method.value if self.weight_rounding else "nearest"
        ft = f"{self.finetune.steps} steps" if self.finetune else "none"
        tail = ", int8 weights on the fp32 convs (GPTQ)" if self.tail_weights else ""
        return (
            f"{self.format.value.upper()} ({self.name}; schema {act}/s8, "
            f"channel-wise: {self.per_channel}, fp32 layers: {', '.join(self.keep_float) or '-'}"
            f"{tail}, weight rounding: {wr}, fine-tuning: {ft})"
        )

    @property
    def trains_biases(self) -> bool:
        """True when biases are fitted (fine-tuning or weight rounding with bias correction), so
        bias-free convs get zero biases first (:func:`~.graph.prepare_graph`)."""
        wr = self.weight_rounding
        return self.finetune is not None or (wr is not None and wr.learn_bias)

    # ---- presets ---------------------------------------------------------------------------

    @classmethod
    def default(cls) -> Self:
        """The shipped configuration: per-channel int8, ``sub_mean``/``conv1``/``conv18`` in fp32,
        ReLU before DepthToSpace, ``add_mean`` folded, then quantization-aware fine-tuning of
        weights and activation scales, then GPTQ int8 weights for ``conv18`` (its output stays
        float; see README.md of this package for the ablation)."""
        return cls(finetune=FinetuneConfig(), tail_weights=TailWeightsConfig(), name="default")

    @classmethod
    def ptq(cls) -> Self:
        """The default without fine-tuning and without int8 ``conv18`` weights: post-training
        quantization only (seconds to build, no PyTorch training; about twice the PSNR drop of
        the default at x2)."""
        return cls(name="ptq")

    @classmethod
    def adaround(cls) -> Self:
        """``ptq`` plus AdaRound weight rounding and bias correction (in the ablation it did not
        beat nearest rounding consistently)."""
        return cls(weight_rounding=WeightRoundingConfig(), name="adaround")

    @classmethod
    def per_channel_only(cls) -> Self:
        """Plain per-channel int8 everywhere: no fp32 layers, no output fold, no rounding.

        (The ReLU/DepthToSpace swap stays: without it a fused-upsample export runs DepthToSpace
        in float, which the tool refuses.)
        """
        return cls(
            keep_float=(),
            fold_output_shift=False,
            name="per_channel",
        )

    @classmethod
    def per_tensor(cls) -> Self:
        """Deliberately degraded: one weight scale per tensor, everything int8 (CI's bad case)."""
        return cls(
            per_channel=False,
            keep_float=(),
            fold_output_shift=False,
            name="per_tensor",
        )

    @classmethod
    def preset(cls, name: str) -> Self:
        """A preset by name: ``default``, ``ptq``, ``adaround``, ``per_channel`` or
        ``per_tensor``."""
        presets = {"default": cls.default, "ptq": cls.ptq, "adaround": cls.adaround}
        presets["per_channel"] = cls.per_channel_only
        presets["per_tensor"] = cls.per_tensor
        if name not in presets:
            msg = f"unknown quantization preset {name!r}: choose from {', '.join(presets)}"
            raise ConfigError(msg)
        return presets[name]()
