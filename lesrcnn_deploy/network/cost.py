"""Model size and cost: parameters, multiply-accumulates, and the model-zoo card's "Flops(G)"."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .lesrcnn import LESRCNN, count_parameters

__all__ = ["CARD_FLOPS_DIVISOR", "ModelCost", "measure_cost"]

CARD_FLOPS_DIVISOR = 0.9e9
"""The card's Flops(G) is thop's MAC count x 2 / 0.9e9 (an odd convention, reproduced as is)."""


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
