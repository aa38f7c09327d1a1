"""AdaRound-style weight rounding with bias correction, fitted in PyTorch, handed to ORT on-grid.

For each quantized conv, in graph order, the rounding direction of every weight (down or up on
ORT's per-channel symmetric grid, scale ``max|w| / 127``) and a per-channel bias are fitted so
that the conv, fed with the activations of the *quantized* model built so far, reproduces the
fp32 model's conv output (Nagel et al. 2020, "Up or Down? Adaptive Rounding", with a rectified
sigmoid relaxation and an annealed regulariser that drives the soft rounding to 0 or 1). The
fit runs on random output positions (im2col rows) of calibration patches.

The result is written into the fp32 graph as float weights that lie exactly on the int8 grid;
each channel's largest-magnitude weight keeps its value, so ORT recomputes the same scale and
maps every weight to the integer the fit chose (checked after quantization).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper

from ..core.threads import torch_threads
from .config import WeightRoundingConfig
from .graph import layer_of
from .simulate import QdqSimulator

__all__ = ["LayerFit", "fit_weight_rounding", "optimize_rounding"]

_ZETA, _GAMMA = 1.1, -0.1
_QMAX = 127


def _rect_sigmoid(v: torch.Tensor) -> torch.Tensor:
    return torch.clamp(torch.sigmoid(v) * (_ZETA - _GAMMA) + _GAMMA, 0, 1)


@dataclass(frozen=True)
class LayerFit:
    """What weight rounding did to one conv.

    Attributes:
        layer: module name.
        mse_nearest: output MSE (fp32 target, quantized input) with ORT's nearest rounding.
        mse_fitted: the same with the fitted rounding and bias.
        flipped: fraction of weights rounded the other way than nearest.
    """

    layer: str
    mse_nearest: float
    mse_fitted: float
    flipped: float


def optimize_rounding(
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    *,
    scale: torch.Tensor,
    cols: torch.Tensor,
    target: torch.Tensor,
    config: WeightRoundingConfig,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Fit the rounding of one conv.

    Args:
        weight: ``(O, I, k, k)`` float weights.
        bias: ``(O,)`` float bias, or None (then no bias is fitted).
        scale: ``(O,)`` per-channel weight scales (ORT's).
        cols: ``(N, I*k*k)`` im2col rows of the quantized model's input.
        target: ``(N, O)`` fp32 model outputs at the same positions.
        config: iterations, batch, regulariser weight, bias on/off.
        generator: seeded generator of the mini-batches.

    Returns:
        ``(weight on the int8 grid, fitted bias or the input bias)``.
    """
    out_ch = weight.shape[0]
    w = weight.reshape(out_ch, -1)
    sc = scale.view(out_ch, 1)
    base = torch.floor(w / sc)
    frac = (w / sc - base).clamp(1e-4, 1 - 1e-4)
    p = (frac - _GAMMA) / (_ZETA - _GAMMA)
    v = torch.log(p / (1 - p)).clone().requires_grad_(True)
    params = [v]
    b = None
    if bias is not None:
        b = bias.clone().requires_grad_(config.learn_bias)
        if config.learn_bias:
            params.append(b)
    opt = torch.optim.Adam(params, lr=1e-2)
    n = cols.shape[0]
    bs = min(n, config.batch)
    warm = int(0.2 * config.iterations)
    for it in range(config.iterations):
        idx = torch.randint(0, n, (bs,), generator=generator)
        h = _rect_sigmoid(v)
        wq = sc * torch.clamp(base + h, -_QMAX, _QMAX)
        y = cols[idx] @ wq.t()
        if b is not None:
            y = y + b
        loss = (y - target[idx]).pow(2).sum(1).mean()
        if it >= warm:
            t = (it - warm) / max(1, config.iterations - warm)
            beta = 20.0 + (2.0 - 20.0) * t
            loss = loss + config.reg_weight * (1 - (2 * h - 1).abs().pow(beta)).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        k = torch.clamp(base + (v >= 0).float(), -_QMAX, _QMAX)
        rows = torch.arange(out_ch)
        amax = w.abs().argmax(1)
        k[rows, amax] = torch.round(w[rows, amax] / sc[:, 0])  # keeps ORT's scale unchanged
        wq = (k * sc).reshape(weight.shape)
    return wq, (b.detach() if b is not None else None)


def _sample_positions(
    x: torch.Tensor, k: int, pad: int, n: int, gen: torch.Generator
) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    bsz, ch, h, w = x.shape
    bi = torch.randint(0, bsz, (n,), generator=gen)
    yi = torch.randint(0, h, (n,), generator=gen)
    xi = torch.randint(0, w, (n,), generator=gen)
    if k == 1:
        return x[bi, :, yi, xi], (bi, yi, xi)
    xp = F.pad(x, (pad, pad, pad, pad))
    offs = torch.arange(k)
    rows = yi[:, None] + offs[None, :]
    cols = xi[:, None] + offs[None, :]
    patches = xp[
        bi[:, None, None, None],
        torch.arange(ch)[None, :, None, None],
        rows[:, None, :, None],
        cols[:, None, None, :],
    ]
    return patches.reshape(n, -1), (bi, yi, xi)


def fit_weight_rounding(
    qdq_model: onnx.ModelProto,
    fp32_model: onnx.ModelProto,
    *,
    patches: npt.NDArray[np.float32],
    config: WeightRoundingConfig,
    progress: bool = True,
    threads: int = 2,
) -> tuple[onnx.ModelProto, list[LayerFit]]:
    """Fit every quantized conv's rounding and return the fp32 graph with on-grid weights.

    Args:
        qdq_model: the QDQ model quantized with nearest rounding (gives scales and ranges).
        fp32_model: the fp32 graph it came from; convs must have bias inputs to fit biases
            (see :func:`~lesrcnn_deploy.quantization.graph.add_zero_biases`).
        patches: ``(N, 3, h, w)`` float32 RGB [0, 1].
        config: see :class:`WeightRoundingConfig`.
        progress: tqdm progress bar, one step per conv.
        threads: torch threads for the simulation (the small fits run on one thread: faster
            than two on a shared machine).

    Returns:
        ``(new fp32 model, one LayerFit per conv)``.
    """
    from tqdm import tqdm

    with torch_threads(threads):
        torch.manual_seed(config.seed)
        gen = torch.Generator().manual_seed(config.seed)
        fp32_inits = {i.name: i for i in fp32_model.graph.initializer}
        qsim = QdqSimulator(qdq_model)
        fsim = QdqSimulator(qdq_model)
        fsim.disabled = {n.output[0] for n in fsim.activation_quantizers()}
        for dq in fsim.weight_dequantizers():
            name = dq.input[0].removesuffix("_quantized")
            fsim.replaced[dq.output[0]] = _tensor(fp32_inits[name])
        x = torch.from_numpy(np.ascontiguousarray(patches))
        new_values: dict[str, npt.NDArray[np.float32]] = {}
        fits: list[LayerFit] = []
        convs = qsim.quantized_convs()
        dq_of = {n.output[0]: n for n in qsim.nodes if n.op_type == "DequantizeLinear"}
        step: Callable[[object], object] = lambda it: it  # noqa: E731
        bar = tqdm(convs, desc="weight rounding", unit="conv", disable=not progress)
        for conv in bar if progress else step(convs):  # type: ignore[union-attr]
            xq = qsim.run(x, stop_at=conv.input[0])
            xf = fsim.run(x, stop_at=conv.input[0])
            wdq = dq_of[conv.input[1]]
            wname = wdq.input[0].removesuffix("_quantized")
            weight = _tensor(fp32_inits[wname])
            scale = qsim.inits[wdq.input[1]].float()
            bname = None
            bias = None
            if len(conv.input) > 2 and conv.input[2] in dq_of:
                bname = dq_of[conv.input[2]].input[0].removesuffix("_quantized")
                bias = _tensor(fp32_inits[bname]) if bname in fp32_inits else None
            k = weight.shape[2]
            pad = k // 2
            with torch.no_grad():
                yf = F.conv2d(xf, weight, bias, padding=pad)
            cols, (bi, yi, xi) = _sample_positions(xq, k, pad, config.samples, gen)
            target = yf[bi, :, yi, xi]
            del yf, xf
            nearest = qsim._eval(wdq, qsim.inits)
            with torch_threads(1), torch.enable_grad():  # small problems: one thread is faster
                wq, bq = optimize_rounding(
                    weight,
                    bias,
                    scale=scale,
                    cols=cols,
                    target=target,
                    config=config,
                    generator=gen,
                )
            with torch.no_grad():
                flat_b = bias if bias is not None else 0
                e0 = float(
                    (cols @ nearest.reshape(len(scale), -1).t() + flat_b - target).pow(2).mean()
                )
                fb = bq if bq is not None else 0
                e1 = float((cols @ wq.reshape(len(scale), -1).t() + fb - target).pow(2).mean())
                flipped = float(
                    (
                        torch.round(wq / scale.view(-1, 1, 1, 1))
                        != torch.round(nearest / scale.view(-1, 1, 1, 1))
                    )
                    .float()
                    .mean()
                )
            qsim.replaced[conv.input[1]] = wq
            new_values[wname] = wq.numpy().astype(np.float32)
            if bq is not None and bname is not None and config.learn_bias:
                qsim.replaced[conv.input[2]] = bq
                new_values[bname] = bq.numpy().astype(np.float32)
            fits.append(LayerFit(layer_of(conv.name), e0, e1, flipped))
        out = onnx.ModelProto()
        out.CopyFrom(fp32_model)
        for init in out.graph.initializer:
            if init.name in new_values:
                init.CopyFrom(numpy_helper.from_array(new_values[init.name], init.name))
        return out, fits


def _tensor(init: onnx.TensorProto) -> torch.Tensor:
    return torch.from_numpy(np.array(numpy_helper.to_array(init), dtype=np.float32))
