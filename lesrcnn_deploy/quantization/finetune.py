"""Quantization-aware fine-tuning (QAT) of the weights, on ORT's exact int8 graph, in PyTorch.

The quantized model's remaining error at x2 is activation-quantization noise spread over the
whole trunk: no single layer can be moved back to fp32 cheaply, and re-rounding the weights
(AdaRound) barely moves it. Fine-tuning lets every weight and bias compensate for that noise.

What is trained is the ORT QDQ graph itself, interpreted by :class:`~.simulate.QdqSimulator`:

* activation quantizers start from the calibrated ranges and round with a straight-through
  estimator; their scales are trained too (in log space; zero points stay), as in LSQ (Esser et
  al. 2020), and a DepthToSpace keeps one scale for its input and output, so that ORT still
  runs PixelShuffle on uint8;
* int8 weights are fake-quantized on ORT's grid (symmetric, ``max|w| / 127`` per output channel,
  or per tensor), recomputed from the current float weights at every step, as ORT will do;
* the layers kept in fp32 (``sub_mean``, ``conv1``, ``conv18``) are trained as plain floats;
* the loss is the MSE to the fp32 model's RGB output (distillation): no ground truth and no
  evaluation image is involved, only random LR patches of the calibration images.

The trained float weights are written into the prepared fp32 graph, the trained scales become
ranges ``(s * (0 - zp), s * (255 - zp))`` from which ORT recomputes exactly the same scale and
zero point, and both are handed to ORT's quantizer again, so the shipped model is an ordinary
QDQ model. Training is seeded (patch positions, flips, the optimiser): same inputs and seed,
same model.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper

from ..core.threads import torch_threads
from ..data.quality import psnr_from_mse
from .calibration import CalibrationImages
from .config import FinetuneConfig, FinetuneLoss
from .simulate import QdqSimulator

__all__ = ["FinetuneStats", "fake_quantize_weight", "finetune_weights", "sample_patches"]

_QMAX = 127
_QRANGE = {onnx.TensorProto.UINT8: (0, 255), onnx.TensorProto.INT8: (-128, 127)}
_LUMA = (65.481 / 255.0, 128.553 / 255.0, 24.966 / 255.0)  # ITU-R BT.601, RGB in [0, 1]


def _depth_to_space_ties(sim: QdqSimulator) -> dict[str, str]:
    """``{output quantizer scale: input quantizer scale}`` for every DepthToSpace.

    ORT runs DepthToSpace on uint8 only when its input and output share scale and zero point.
    """
    ties: dict[str, str] = {}
    quantizer_of = {q.input[0]: q for q in sim.activation_quantizers()}
    for n in sim.nodes:
        if n.op_type != "DepthToSpace":
            continue
        dq = sim.producer(n.input[0])
        q_in = sim.producer(dq.input[0]) if dq is not None else None
        q_out = quantizer_of.get(n.output[0])
        if q_in is not None and q_in.op_type == "QuantizeLinear" and q_out is not None:
            ties[q_out.input[1]] = q_in.input[1]
    return ties


def _loss(y: torch.Tensor, target: torch.Tensor, kind: FinetuneLoss) -> torch.Tensor:
    if kind is FinetuneLoss.Y:
        w = y.new_tensor(_LUMA).view(1, 3, 1, 1)
        return F.mse_loss((y * w).sum(1), (target * w).sum(1))
    return F.mse_loss(y, target)


@dataclass(frozen=True)
class FinetuneStats:
    """What fine-tuning did (recorded in the manifest).

    Attributes:
        steps: optimiser steps run.
        parameters: number of trained weight and bias tensors.
        scales: number of trained activation scales.
        lr_crop: LR patch side used.
        val_psnr_before: PSNR (dB, RGB, [0, 1]) of the simulated int8 output against the fp32
            output on held-out patches of the calibration images, before fine-tuning.
        val_psnr_after: the same after fine-tuning (the weights as ORT will quantize them).
        seconds: wall time of the training loop.
    """

    steps: int
    parameters: int
    scales: int
    lr_crop: int
    val_psnr_before: float
    val_psnr_after: float
    seconds: float


def fake_quantize_weight(w: torch.Tensor, *, per_channel: bool = True) -> torch.Tensor:
    """``w`` rounded to ORT's symmetric int8 grid, with a straight-through gradient.

    Args:
        w: ``(O, I, k, k)`` float weights.
        per_channel: one scale ``max|w| / 127`` per output channel (else one per tensor).

    Returns:
        Dequantized weights, same shape; the gradient passes through the rounding.
    """
    a = w.detach().abs()
    peak = a.amax(dim=tuple(range(1, w.ndim)), keepdim=True) if per_channel else a.amax()
    scale = (peak / _QMAX).clamp_min(torch.finfo(torch.float32).tiny)
    y = w / scale
    y = y + (torch.round(y) - y).detach()
    return torch.clamp(y, -_QMAX, _QMAX) * scale


def sample_patches(
    images: CalibrationImages, count: int, *, crop: int, rng: np.random.Generator
) -> npt.NDArray[np.float32]:
    """``count`` random ``crop``-pixel patches with random flips and transposition.

    Returns:
        ``(count, 3, crop, crop)`` float32 RGB in [0, 1].
    """
    out = np.empty((count, 3, crop, crop), dtype=np.float32)
    for k in range(count):
        img = images.images[int(rng.integers(len(images.images)))]
        h, w = img.shape[:2]
        y = int(rng.integers(0, h - crop + 1))
        x = int(rng.integers(0, w - crop + 1))
        p = img[y : y + crop, x : x + crop]
        if rng.random() < 0.5:
            p = p[:, ::-1]
        if rng.random() < 0.5:
            p = p[::-1]
        if rng.random() < 0.5:
            p = p.transpose(1, 0, 2)
        out[k] = p.transpose(2, 0, 1).astype(np.float32) / np.float32(255.0)
    return out


class _Student:
    """The QDQ graph with trainable float weights behind its weight dequantizers."""

    def __init__(
        self,
        qdq: onnx.ModelProto,
        prepared: onnx.ModelProto,
        per_channel: bool,
        train_scales: bool,
    ):
        self.sim = QdqSimulator(qdq)
        self.per_channel = per_channel
        floats = {i.name: numpy_helper.to_array(i) for i in prepared.graph.initializer}
        self.params: dict[str, torch.nn.Parameter] = {}
        self.weights: dict[str, str] = {}  # weight DequantizeLinear output -> float init name
        self.biases: dict[str, str] = {}  # int32 bias DequantizeLinear output -> float init name
        for n in self.sim.nodes:
            src = n.input[0]
            if n.op_type != "DequantizeLinear" or not src.endswith("_quantized"):
                continue
            base = src.removesuffix("_quantized")
            kind = self.sim.init_types.get(src)
            if base not in floats or kind not in (onnx.TensorProto.INT8, onnx.TensorProto.INT32):
                continue
            (self.weights if kind == onnx.TensorProto.INT8 else self.biases)[n.output[0]] = base
            self._param(base, floats[base])
        for n in self.sim.nodes:  # convs kept in fp32 read their initializers directly
            if n.op_type == "Conv":
                for t in n.input[1:]:
                    if t and t in floats and t in self.sim.inits:
                        self.sim.inits[t] = self._param(t, floats[t])
        self.quantizers = self.sim.activation_quantizers()
        self.ties = _depth_to_space_ties(self.sim)
        self.log_scales: dict[str, torch.nn.Parameter] = {}
        if train_scales:
            for q in self.quantizers:
                name = q.input[1]
                if name not in self.ties and name not in self.log_scales:
                    start = self.sim.inits[name].detach().clone()
                    self.log_scales[name] = torch.nn.Parameter(torch.log(start))

    def set_scales(self) -> None:
        """Put the current (trained) scales into the simulator."""
        for name, p in self.log_scales.items():
            self.sim.inits[name] = torch.exp(p)
        for name, src in self.ties.items():
            self.sim.inits[name] = self.sim.inits[src]

    def ranges(self) -> dict[str, tuple[float, float]]:
        """``{tensor: (min, max)}`` from which ORT recomputes each quantizer's scale/zero point."""
        self.set_scales()
        out: dict[str, tuple[float, float]] = {}
        for q in self.quantizers:
            s = float(self.sim.inits[q.input[1]].detach())
            zp = float(self.sim.inits[q.input[2]])
            lo, hi = _QRANGE[self.sim.init_types[q.input[2]]]
            out[q.input[0]] = (s * (lo - zp), s * (hi - zp))
        return out

    def _param(self, name: str, value: npt.NDArray[np.generic]) -> torch.nn.Parameter:
        if name not in self.params:
            arr = np.array(value, dtype=np.float32)
            self.params[name] = torch.nn.Parameter(torch.from_numpy(arr))
        return self.params[name]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.set_scales()
        for dq, base in self.weights.items():
            self.sim.replaced[dq] = fake_quantize_weight(
                self.params[base], per_channel=self.per_channel
            )
        for dq, base in self.biases.items():
            self.sim.replaced[dq] = self.params[base]
        return self.sim.forward(x)


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(F.mse_loss(a.clamp(0, 1), b.clamp(0, 1)))
    return psnr_from_mse(max(mse, 1e-20), data_range=1.0)


def finetune_weights(
    qdq: onnx.ModelProto,
    prepared: onnx.ModelProto,
    *,
    images: CalibrationImages,
    config: FinetuneConfig,
    scale: int,
    per_channel: bool = True,
    progress: bool = True,
    threads: int = 2,
) -> tuple[onnx.ModelProto, dict[str, tuple[float, float]], FinetuneStats]:
    """Fine-tune the weights of ``prepared`` through the quantized graph ``qdq``.

    Args:
        qdq: ORT's QDQ model of ``prepared`` (gives the quantizers and their ranges).
        prepared: the rewritten fp32 graph that ``qdq`` was made from (gives float weights and
            the fp32 teacher).
        images: calibration images (RGB uint8), each at least ``config.lr_crop(scale)`` on both
            sides.
        config: steps, learning rates, loss, batch, crop, seed.
        scale: the model's upscale factor (sets the LR patch size).
        per_channel: whether ORT quantizes weights per output channel.
        progress: tqdm progress bar.
        threads: PyTorch intra-op threads.

    Returns:
        ``(prepared graph with the fine-tuned float weights, {tensor: (min, max)} of every
        quantized activation after training, stats)``.
    """
    from tqdm import tqdm

    crop = config.lr_crop(scale)
    rng = np.random.default_rng(config.seed)
    val_rng = np.random.default_rng([config.seed, 1])
    with torch_threads(threads):
        torch.manual_seed(config.seed)
        student = _Student(qdq, prepared, per_channel, train_scales=config.scale_lr > 0)
        teacher = QdqSimulator(prepared)
        val = torch.from_numpy(sample_patches(images, config.val_count, crop=crop, rng=val_rng))
        with torch.no_grad():
            val_ref = teacher.run(val)
            before = _psnr(student(val), val_ref)
        groups: list[dict[str, Any]] = [{"params": list(student.params.values()), "lr": config.lr}]
        if student.log_scales:
            groups.append({"params": list(student.log_scales.values()), "lr": config.scale_lr})
        opt = torch.optim.Adam(groups)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, _schedule(config.steps, config.warmup))
        t0 = time.perf_counter()
        bar = tqdm(range(config.steps), desc="fine-tune", unit="step", disable=not progress)
        for _ in bar:
            x = torch.from_numpy(sample_patches(images, config.batch, crop=crop, rng=rng))
            with torch.no_grad():
                target = teacher.run(x)
            loss = _loss(student(x), target, config.loss)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            bar.set_postfix(loss=f"{float(loss.detach()):.2e}", refresh=False)
        seconds = time.perf_counter() - t0
        with torch.no_grad():
            after = _psnr(student(val), val_ref)
        ranges = student.ranges()
    out = onnx.ModelProto()
    out.CopyFrom(prepared)
    for init in out.graph.initializer:
        if init.name in student.params:
            value = student.params[init.name].detach().numpy().astype(np.float32)
            init.CopyFrom(numpy_helper.from_array(value, init.name))
    stats = FinetuneStats(
        steps=config.steps,
        parameters=len(student.params),
        scales=len(student.log_scales),
        lr_crop=crop,
        val_psnr_before=round(before, 4),
        val_psnr_after=round(after, 4),
        seconds=round(seconds, 1),
    )
    return out, ranges, stats


def _schedule(steps: int, warmup: int) -> Callable[[int], float]:
    """Learning-rate factor: linear warm-up over ``warmup`` steps, then cosine decay to 0."""

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        t = (step - warmup) / max(1, steps - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(t, 1.0)))

    return factor
