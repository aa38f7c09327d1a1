"""The LESRCNN network (Tian et al., KBS 2020): x2, x3, x4 and blind models.

The module names match the official checkpoints, so ``load_state_dict(strict=True)`` works on the
official files. ``forward`` computes exactly what the official ``forward()`` computes: the
official code applies one in-place ReLU module to tensors that are used again later, so every
residual add and the second input of the upsample block see the *post-ReLU* tensor. Here the
same function is written out of place, with the ReLUs where the aliasing puts them.
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

from ..core.errors import ConfigError
from ..core.vocab import SCALES, check_scale

__all__ = [
    "DIV2K_MEAN_RGB",
    "LESRCNN",
    "SCALES",
    "build_model",
    "check_scale",
    "count_parameters",
]

DIV2K_MEAN_RGB: tuple[float, float, float] = (0.4488, 0.4371, 0.4040)
"""Mean RGB of DIV2K, subtracted at the input and added back at the output."""

_FEATURES = 64
_STAGES = 8  # IEEB: 8 x (3x3 conv + ReLU, 1x1 conv, residual add)


class _MeanShift(nn.Module):
    """1x1 conv with identity weight and bias ``sign * mean`` (official ``ops.MeanShift``)."""

    def __init__(self, mean_rgb: tuple[float, float, float], sign: float) -> None:
        super().__init__()
        self.shifter = nn.Conv2d(3, 3, 1, 1, 0)
        with torch.no_grad():
            self.shifter.weight.copy_(torch.eye(3).view(3, 3, 1, 1))
            self.shifter.bias.copy_(sign * torch.tensor(mean_rgb))  # type: ignore[union-attr]
        for p in self.shifter.parameters():
            p.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shifter(x)


class _Upsample(nn.Module):
    """Sub-pixel upsampler: conv3x3 64->64*r*r (bias) + PixelShuffle(r); x4 is two x2 steps."""

    def __init__(self, scale: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        if scale == 3:
            layers += [nn.Conv2d(_FEATURES, 9 * _FEATURES, 3, 1, 1), nn.PixelShuffle(3)]
        else:
            for _ in range(int(math.log2(scale))):
                layers += [nn.Conv2d(_FEATURES, 4 * _FEATURES, 3, 1, 1), nn.PixelShuffle(2)]
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def with_doubled_bias(self) -> _Upsample:
        """Return a copy whose conv biases are doubled: ``up(a) + up(b) == copy(a + b)``.

        The block is linear (convs and pixel shuffles, no activation), so two applications that
        are summed can be replaced by one application to the sum with every bias counted twice.
        """
        fused = copy.deepcopy(self)
        fused.__dict__.pop("_fused_cache", None)
        with torch.no_grad():
            for m in fused.body:
                if isinstance(m, nn.Conv2d) and m.bias is not None:
                    m.bias.mul_(2.0)
        return fused

    def fused(self) -> _Upsample:
        """:meth:`with_doubled_bias`, computed once and reused until a weight or bias changes
        (loading a checkpoint, training); kept outside the module tree (not in state_dict)."""
        key = tuple((id(p), p._version) for p in self.parameters())
        cached = self.__dict__.get("_fused_cache")
        if cached is None or cached[0] != key:
            cached = (key, self.with_doubled_bias())
            self.__dict__["_fused_cache"] = cached
        fused: _Upsample = cached[1]
        return fused


class _UpsampleHeads(nn.Module):
    """Holds ``up`` (fixed-scale model) or ``up2``/``up3``/``up4`` (blind model)."""

    def __init__(self, scale: int | None) -> None:
        super().__init__()
        self.blind = scale is None
        if scale is None:
            self.up2 = _Upsample(2)
            self.up3 = _Upsample(3)
            self.up4 = _Upsample(4)
        else:
            self.up = _Upsample(scale)

    def head(self, scale: int) -> _Upsample:
        if not self.blind:
            return self.up
        head = {2: self.up2, 3: self.up3, 4: self.up4}[check_scale(scale)]
        assert isinstance(head, _Upsample)
        return head


def _conv(cin: int, cout: int, k: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, 1, k // 2, bias=False))


class LESRCNN(nn.Module):
    """LESRCNN super-resolution network.

    Args:
        scale: 2, 3 or 4 for a fixed-scale model; ``None`` for the blind model with up2/up3/up4
            heads, whose scale is chosen at call time.
        fuse_upsample: compute ``relu(up'(h + h0))`` with doubled upsample biases instead of
            ``relu(up(h) + up(h0))``; the same function (the block is linear), one upsample
            conv fewer. Used for deployment; the default matches the official graph.

    Input: ``(N, 3, H, W)`` float RGB in [0, 1]. Output: ``(N, 3, H*s, W*s)`` float RGB, roughly
    [0, 1] but not clipped.
    """

    def __init__(self, scale: int | None, *, fuse_upsample: bool = False) -> None:
        super().__init__()
        self.scale = None if scale is None else check_scale(scale)
        self.fuse_upsample = fuse_upsample
        self.sub_mean = _MeanShift(DIV2K_MEAN_RGB, -1.0)
        self.add_mean = _MeanShift(DIV2K_MEAN_RGB, 1.0)
        self.conv1 = _conv(3, _FEATURES, 3)
        # conv2..conv17 alternate 3x3 (followed by ReLU) and 1x1 (no activation).
        for i in range(2, 2 + 2 * _STAGES):
            setattr(self, f"conv{i}", _conv(_FEATURES, _FEATURES, 3 if i % 2 == 0 else 1))
        for j in range(1, 5):
            setattr(self, f"conv17_{j}", _conv(_FEATURES, _FEATURES, 3))
        self.conv18 = _conv(_FEATURES, 3, 3)
        self.upsample = _UpsampleHeads(self.scale)

    @property
    def is_blind(self) -> bool:
        """True for the multi-scale model that holds up2, up3 and up4 heads."""
        return self.scale is None

    def _layer(self, name: str) -> nn.Module:
        layer = getattr(self, name)
        assert isinstance(layer, nn.Module)
        return layer

    def forward(self, x: torch.Tensor, scale: int | None = None) -> torch.Tensor:
        """Upscale ``x`` ``(N, 3, H, W)`` RGB [0, 1] to ``(N, 3, H*s, W*s)``.

        ``scale`` is required for the blind model and must equal the model's scale otherwise.
        """
        if self.scale is None:
            if scale is None:
                msg = "the blind LESRCNN model needs a scale at call time (2, 3 or 4)"
                raise ConfigError(msg)
            s = check_scale(scale)
        else:
            if scale is not None and scale != self.scale:
                msg = f"this is a x{self.scale} model, asked for scale {scale!r}"
                raise ConfigError(msg)
            s = self.scale
        up = self.upsample.head(s)

        x = self.sub_mean(x)
        h0 = F.relu(self.conv1(x))  # official: x1_1 = ReLU(x1), in place: x1 is h0 from here on
        h = h0
        for k in range(_STAGES):
            t = F.relu(self._layer(f"conv{2 + 2 * k}")(h))
            h = F.relu(h + self._layer(f"conv{3 + 2 * k}")(t))  # residual sees post-ReLU h
        if self.fuse_upsample:
            y = F.relu(up.fused()(h + h0))
        else:
            y = F.relu(up(h) + up(h0))
        for j in range(1, 5):
            y = F.relu(self._layer(f"conv17_{j}")(y))
        return self.add_mean(self.conv18(y))


def build_model(scale: int | None, *, fuse_upsample: bool = False) -> LESRCNN:
    """Build an uninitialised (random-weight) LESRCNN in eval mode; see :class:`LESRCNN`."""
    return LESRCNN(scale, fuse_upsample=fuse_upsample).eval()


def count_parameters(model: nn.Module) -> int:
    """Number of parameters, the two frozen mean-shift convs included (the card's convention)."""
    return sum(p.numel() for p in model.parameters())
