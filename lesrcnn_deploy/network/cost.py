"""Model size and cost: parameters, multiply-accumulates, and the model-zoo card's "Flops(G)"."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .facts import CARD_FLOPS_DIVISOR
from .lesrcnn import LESRCNN, count_parameters

__all__ = ["CARD_FLOPS_DIVISOR", "ModelCost", "layer_plan", "measure_cost", "receptive_field_of"]


@dataclass(frozen=True)
class ModelCost:
    """Cost of one forward pass.

    Attributes:
        params: parameters incl. the mean-shift convs (card "Params(M)" x 1e6).
        macs: multiply-accumulates of every conv call, thop's convention (no bias, activations
            and pixel shuffles free).
        input_hw: (H, W) of the LR input measured.
    """

    params: int
    macs: int
    input_hw: tuple[int, int]

    @property
    def gmacs(self) -> float:
        """True multiply-accumulates in G (1e9)."""
        return self.macs / 1e9

    @property
    def card_flops_g(self) -> float:
        """The card's "Flops(G)": MACs x 2 / 0.9e9."""
        return self.macs * 2 / CARD_FLOPS_DIVISOR


def measure_cost(
    model: LESRCNN,
    scale: int | None = None,
    *,
    input_hw: tuple[int, int] = (128, 128),
    count_bias: bool = False,
) -> ModelCost:
    """Count MACs by running ``model`` once on zeros ``(1, 3, *input_hw)`` with conv hooks.

    ``count_bias`` adds one op per output element of every conv that has a bias (the convention
    behind the x3 figure of 85.083 in our reference notes; the card's x2/x4 rows do not count it).
    """
    total = 0

    def hook(m: nn.Module, inputs: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        nonlocal total
        assert isinstance(m, nn.Conv2d)
        k = m.kernel_size[0] * m.kernel_size[1] * (m.in_channels // m.groups)
        total += int(out.numel()) * (k + (1 if count_bias and m.bias is not None else 0))

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    try:
        with torch.inference_mode():
            model(torch.zeros(1, 3, *input_hw), scale)
    finally:
        for h in handles:
            h.remove()
    return ModelCost(params=count_parameters(model), macs=total, input_hw=input_hw)


def layer_plan(model: LESRCNN, scale: int) -> list[tuple[str, int]]:
    """The spatial layers on LESRCNN's longest path, input to output, read off ``model``.

    Returns:
        ``[("conv", kernel_size) | ("shuffle", factor), ...]`` in execution order. Element-wise
        layers (ReLU, residual adds, the 1x1 mean shifts) do not widen the receptive field and are
        left out; the skip from ``conv1`` to the upsampler is a shorter path and is covered.
    """
    from .lesrcnn import _STAGES

    plan: list[tuple[str, int]] = []

    def conv(name: str) -> None:
        layer = getattr(model, name)[0]
        if not isinstance(layer, nn.Conv2d):  # pragma: no cover - guards the model definition
            msg = f"LESRCNN.{name} is not a Conv2d; update layer_plan"
            raise TypeError(msg)
        plan.append(("conv", int(layer.kernel_size[0])))

    conv("conv1")
    for i in range(2, 2 + 2 * _STAGES):
        conv(f"conv{i}")
    for m in model.upsample.head(scale).body:
        if isinstance(m, nn.Conv2d):
            plan.append(("conv", int(m.kernel_size[0])))
        elif isinstance(m, nn.PixelShuffle):
            plan.append(("shuffle", int(m.upscale_factor)))
    for j in range(1, 5):
        conv(f"conv17_{j}")
    conv("conv18")
    return plan


def receptive_field_of(model: LESRCNN, scale: int) -> int:
    """One-sided receptive field in LR pixels, walked backwards through :func:`layer_plan` from an
    HR pixel of every sub-pixel phase: a conv of kernel ``k`` widens the interval by ``k // 2`` on
    each side, a pixel shuffle by ``f`` maps pixel ``i`` to ``i // f``. (Inference reads the same
    numbers from :data:`~lesrcnn_deploy.network.facts.RECEPTIVE_FIELD`.)"""
    plan = layer_plan(model, scale)
    radius = 0
    for phase in range(scale):
        lo = hi = phase
        for kind, value in reversed(plan):
            if kind == "conv":
                lo, hi = lo - value // 2, hi + value // 2
            else:
                lo, hi = lo // value, hi // value
        radius = max(radius, -lo, hi)  # relative to the source pixel phase // scale == 0
    return radius
