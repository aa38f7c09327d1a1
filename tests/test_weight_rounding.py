"""AdaRound-style weight rounding (quantization/weight_rounding.py): on ORT's grid, better than
nearest rounding on the data it was fitted to, and seeded."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

from lesrcnn_deploy.core.threads import torch_threads
from lesrcnn_deploy.quantization.config import WeightRoundingConfig
from lesrcnn_deploy.quantization.weight_rounding import optimize_rounding


def _problem(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """A 3x3 conv 4 -> 8 as a matrix product on correlated inputs (like image activations)."""
    g = torch.Generator().manual_seed(seed)
    weight = torch.randn(8, 4, 3, 3, generator=g) * 0.05
    scale = weight.reshape(8, -1).abs().amax(1) / 127
    base = torch.randn(2048, 1, generator=g)
    cols = torch.relu(base + 0.3 * torch.randn(2048, 36, generator=g))  # shared component
    target = cols @ weight.reshape(8, -1).t()
    return weight, scale, cols, target


def _nearest(weight: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    sc = scale.view(-1, 1, 1, 1)
    return torch.clamp(torch.round(weight / sc), -127, 127) * sc


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    with torch_threads(1):  # as fit_weight_rounding runs it: small problems, one thread
        yield


def _mse(wq: torch.Tensor, cols: torch.Tensor, target: torch.Tensor) -> float:
    return float((cols @ wq.reshape(wq.shape[0], -1).t() - target).pow(2).mean())


def test_fitted_rounding_is_on_grid_beats_nearest_and_is_seeded() -> None:
    weight, scale, cols, target = _problem()
    cfg = WeightRoundingConfig(iterations=300, batch=512, learn_bias=False)
    wq, bias = optimize_rounding(
        weight,
        None,
        scale=scale,
        cols=cols,
        target=target,
        config=cfg,
        generator=torch.Generator().manual_seed(1),
    )
    assert bias is None and wq.shape == weight.shape
    k = wq / scale.view(-1, 1, 1, 1)
    assert torch.allclose(k, torch.round(k), atol=1e-4)  # every weight on ORT's int8 grid
    assert float(k.abs().max()) <= 127 + 1e-4
    # each channel keeps its largest weight, so ORT recomputes the same scale from wq
    assert torch.allclose(wq.reshape(8, -1).abs().amax(1), weight.reshape(8, -1).abs().amax(1))
    # it differs from nearest rounding, and that pays on the data it was fitted to
    near = _nearest(weight, scale)
    assert not torch.equal(wq, near)
    assert _mse(wq, cols, target) < 0.8 * _mse(near, cols, target)
    again, _ = optimize_rounding(
        weight,
        None,
        scale=scale,
        cols=cols,
        target=target,
        config=cfg,
        generator=torch.Generator().manual_seed(1),
    )
    assert torch.equal(wq, again)


def test_bias_correction_moves_the_bias_toward_the_target() -> None:
    weight, scale, cols, target = _problem(seed=3)
    shifted = target + 0.01  # an offset that only a bias can absorb
    cfg = WeightRoundingConfig(iterations=300, batch=512, learn_bias=True)
    zero = torch.zeros(8)
    wq, bias = optimize_rounding(
        weight,
        zero,
        scale=scale,
        cols=cols,
        target=shifted,
        config=cfg,
        generator=torch.Generator().manual_seed(0),
    )
    assert bias is not None and not torch.equal(bias, zero)
    flat = wq.reshape(8, -1)
    with_bias = float((cols @ flat.t() + bias - shifted).pow(2).mean())
    without = float((cols @ flat.t() - shifted).pow(2).mean())
    assert with_bias < 0.5 * without
