"""Tiling: receptive field (analytic and measured), windows, tiled == whole image, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import random_lesrcnn

from lesrcnn_deploy.core.errors import ConfigError, ModelError
from lesrcnn_deploy.network.cost import receptive_field_of
from lesrcnn_deploy.network.facts import RECEPTIVE_FIELD
from lesrcnn_deploy.network.lesrcnn import LESRCNN, build_model
from lesrcnn_deploy.runtime.ort import OnnxRunner
from lesrcnn_deploy.upscale.tiling import receptive_field, tile_windows, tiled_forward

ANALYTIC = {2: 13, 3: 12, 4: 12}


@pytest.fixture(scope="module")
def onnx_models(random_models: dict[int, Path]) -> dict[int, Path]:
    return random_models


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_receptive_field_analytic(scale: int) -> None:
    # 9 LR 3x3 convs + 1 upsample conv at LR + five HR 3x3 convs seen through the pixel shuffle;
    # the table inference reads equals the walk through the real network's layers
    assert receptive_field(scale) == RECEPTIVE_FIELD[scale] == ANALYTIC[scale]
    for fuse in (False, True):
        assert receptive_field_of(build_model(scale, fuse_upsample=fuse), scale) == ANALYTIC[scale]


def _influence_radius(model: LESRCNN, scale: int, base: torch.Tensor, q: tuple[int, int]) -> int:
    """Perturb LR pixel q, return max |y // scale - q| over HR pixels y that changed."""
    with torch.no_grad():
        before = model(base)
        bumped = base.clone()
        bumped[:, :, q[0], q[1]] += 0.5
        after = model(bumped)
    changed = (after != before).any(dim=1)[0].nonzero()
    assert changed.numel() > 0
    rows = changed[:, 0] // scale - q[0]
    cols = changed[:, 1] // scale - q[1]
    return int(max(rows.abs().max(), cols.abs().max()))


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_receptive_field_measured_by_perturbing_one_pixel(scale: int) -> None:
    # Positive random weights on a zero image with the mean shifts zeroed: every activation is
    # >= 0, so the ReLUs pass everything and nothing cancels; untouched outputs stay exactly 0.0.
    # Then the set of changed outputs is exactly the dependency set (float64: no underflow).
    model = random_lesrcnn(scale, seed=scale, positive=True).double()
    with torch.no_grad():
        for shift in (model.sub_mean, model.add_mean):
            shift.shifter.bias.zero_()  # type: ignore[union-attr]
    size = 2 * ANALYTIC[scale] + 9
    base = torch.zeros(1, 3, size, size, dtype=torch.float64)
    measured = _influence_radius(model, scale, base, (size // 2, size // 2 + 1))
    assert measured == receptive_field(scale)


@pytest.mark.parametrize("scale", [2, 4])
def test_receptive_field_bounds_signed_random_model(scale: int) -> None:
    # An ordinary signed random-weight model on a random image: influence never reaches further.
    model = random_lesrcnn(scale, seed=7).double()
    size = 2 * ANALYTIC[scale] + 9
    base = torch.rand(1, 3, size, size, dtype=torch.float64, generator=torch.manual_seed(1))
    measured = _influence_radius(model, scale, base, (size // 2, size // 2))
    assert ANALYTIC[scale] - 2 <= measured <= receptive_field(scale)


@pytest.mark.parametrize(
    ("length", "tile", "overlap", "core"),
    [
        (1, 4, 3, 1),
        (10, 4, 0, 4),
        (37, 8, 5, 8),
        (64, 16, 13, 16),
        (20, 64, 12, 20),
        (360, 128, 13, 120),
    ],
)
def test_tile_windows_cover_and_keep_context(
    length: int, tile: int, overlap: int, core: int
) -> None:
    wins = tile_windows(length, tile, overlap=overlap)
    assert len(wins) == -(-length // tile)  # the fewest cores of at most `tile`
    assert [w.core_stop - w.core_start for w in wins[:-1]] == [core] * (len(wins) - 1)
    covered = np.zeros(length, int)
    size = min(length, core + 2 * overlap)
    for w in wins:
        covered[w.core_start : w.core_stop] += 1
        assert w.stop - w.start == size and w.start >= 0 and w.stop <= length
        assert w.start == 0 or w.core_start - w.start >= overlap
        assert w.stop == length or w.stop - w.core_stop >= overlap
    assert (covered == 1).all()


def test_tile_windows_rejects_bad_sizes() -> None:
    with pytest.raises(ConfigError, match="tile >= 1"):
        tile_windows(10, 0, overlap=2)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_tiled_equals_whole_image(onnx_models: dict[int, Path], scale: int) -> None:
    runner = OnnxRunner(onnx_models[scale])
    x = np.random.default_rng(scale).random((1, 3, 45, 58), dtype=np.float32)
    whole = runner(x)
    r = receptive_field(scale)
    tiled = tiled_forward(runner, x, tile=16, overlap=r)
    assert tiled.shape == whole.shape == (1, 3, 45 * scale, 58 * scale)
    assert float(np.abs(tiled - whole).max()) <= 1 / 255
    assert float(np.abs(tiled - whole).max()) <= 1e-4  # in fact only float rounding
    # too little overlap makes seams: the receptive field is needed, not just convenient
    seams = tiled_forward(runner, x, tile=16, overlap=2)
    assert float(np.abs(seams - whole).max()) > 1e-3


def test_tile_zero_is_one_call_and_out_buffer_is_used(onnx_models: dict[int, Path]) -> None:
    runner = OnnxRunner(onnx_models[2])
    x = np.random.default_rng(0).random((1, 3, 20, 30), dtype=np.float32)
    calls: list[tuple[int, int]] = []
    out = np.full((1, 3, 40, 60), np.nan, np.float32)
    y = tiled_forward(
        runner, x, tile=0, overlap=13, out=out, progress=lambda d, t: calls.append((d, t))
    )
    assert y is out and calls == [(1, 1)] and not np.isnan(out).any()
    with pytest.raises(ConfigError, match="out must be float32"):
        tiled_forward(runner, x, tile=0, overlap=0, out=np.zeros((1, 3, 40, 61), np.float32))


class _Broken:
    scale = 2
    kind = "test"

    def __init__(self, fail_at: int | None = None, bad_shape: bool = False) -> None:
        self.calls = 0
        self.fail_at = fail_at
        self.bad_shape = bad_shape

    def __call__(self, x: np.ndarray) -> np.ndarray:
        self.calls += 1
        if self.calls == self.fail_at:
            raise RuntimeError("tile exploded")
        n, c, h, w = x.shape
        return np.zeros((n, c, h * 2, w * 2 + (1 if self.bad_shape else 0)), np.float32)


def test_errors_propagate_not_swallowed() -> None:
    x = np.zeros((1, 3, 40, 40), np.float32)
    runner = _Broken(fail_at=3)
    with pytest.raises(RuntimeError, match="tile exploded"):
        tiled_forward(runner, x, tile=10, overlap=2)
    assert runner.calls == 3  # stopped at the failing tile
    with pytest.raises(ModelError, match="expected"):
        tiled_forward(_Broken(bad_shape=True), x, tile=10, overlap=2)


@pytest.mark.parametrize(
    "bad", [np.zeros((3, 8, 8), np.float32), np.zeros((1, 3, 8, 8), np.float64), [[1.0]]]
)
def test_rejects_bad_input(bad: object) -> None:
    with pytest.raises(ConfigError, match="float32"):
        tiled_forward(_Broken(), bad, tile=4, overlap=1)  # type: ignore[arg-type]
