"""Facts of the LESRCNN network that inference needs without PyTorch, as tables.

The deployed path (``upscale``, ``serve``, ``info``) runs ONNX files and never builds the PyTorch
model, so what it needs to know about the network is written down here, per scale:

* :data:`RECEPTIVE_FIELD`: one-sided receptive field in LR pixels, the tile overlap that makes
  tiling exact (see :mod:`~lesrcnn_deploy.upscale.tiling`);
* :data:`COST_128`: parameters and multiply-accumulates of one 128x128 forward pass, official and
  fused upsampler, per checkpoint (what ``lesrcnn-deploy info`` prints).

Nothing here imports PyTorch. ``tests/test_upscale_tiling.py`` proves the receptive fields against
the real network (walking its layers and perturbing one input pixel), ``tests/test_model.py`` the
costs (:func:`~lesrcnn_deploy.network.cost.measure_cost` on the built models).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CARD_FLOPS_DIVISOR", "COST_128", "RECEPTIVE_FIELD", "NetworkCost"]

CARD_FLOPS_DIVISOR = 0.9e9
"""The card's Flops(G) is thop's MAC count x 2 / 0.9e9 (an odd convention, reproduced as is)."""

RECEPTIVE_FIELD: dict[int, int] = {2: 13, 3: 12, 4: 12}
"""One-sided receptive field of LESRCNN in LR pixels, per scale.

9 LR 3x3 convs (``conv1`` and the eight of the IEEB stages), one 3x3 conv per sub-pixel step of the
upsampler, then five HR 3x3 convs seen through the pixel shuffle: 9 + 1 + ceil(5/2) = 13 (x2),
9 + 1 + ceil(5/3) = 12 (x3), 9 + 1 + ceil((ceil(5/2) + 1) / 2) = 12 (x4).
"""


@dataclass(frozen=True)
class NetworkCost:
    """Cost of one forward pass on a 1x3x128x128 input.

    Attributes:
        params: parameters incl. the mean-shift convs (the card's "Params(M)" x 1e6).
        macs: multiply-accumulates of every conv call, thop's convention (official upsampler).
        fused_macs: the same with the fused upsampler of the ONNX export.
    """

    params: int
    macs: int
    fused_macs: int

    @property
    def card_flops_g(self) -> float:
        """The card's "Flops(G)": MACs x 2 / 0.9e9."""
        return self.macs * 2 / CARD_FLOPS_DIVISOR


COST_128: dict[tuple[str, int], NetworkCost] = {
    ("lesrcnn_x2", 2): NetworkCost(626_328, 20_006_518_784, 17_590_599_680),
    ("lesrcnn_x3", 3): NetworkCost(810_968, 38_268_207_104, 32_832_389_120),
    ("lesrcnn_x4", 4): NetworkCost(774_040, 68_666_408_960, 56_586_813_440),
    ("lesrcnn_blind", 2): NetworkCost(1_254_104, 20_006_518_784, 17_590_599_680),
    ("lesrcnn_blind", 3): NetworkCost(1_254_104, 38_268_207_104, 32_832_389_120),
    ("lesrcnn_blind", 4): NetworkCost(1_254_104, 68_666_408_960, 56_586_813_440),
}
"""``(weights name, scale) -> cost at 128x128``, for every checkpoint on record."""
