"""Any output size: the network scale chosen, the exact final sizes, and the resize itself."""

from __future__ import annotations

import numpy as np
import pytest

from lesrcnn_deploy.core.errors import ConfigError, ImageError
from lesrcnn_deploy.data.outsize import OutputPlan, parse_fit, resize_to, target_size


@pytest.mark.parametrize(
    ("in_wh", "outscale", "scale", "size"),
    [
        ((100, 60), 1.5, 2, (150, 90)),
        ((100, 60), 2, 2, (200, 120)),
        ((101, 61), 2.5, 3, (253, 153)),  # 252.5 -> 253, 152.5 -> 153 (halves round up)
        ((100, 60), 3.0, 3, (300, 180)),
        ((100, 60), 3.5, 4, (350, 210)),
        ((100, 60), 4, 4, (400, 240)),
        ((100, 60), 6, 4, (600, 360)),  # beyond x4: network x4, then Lanczos
        ((3, 1), 0.1, 2, (1, 1)),  # at least one pixel per side
    ],
)
def test_outscale_plans(
    in_wh: tuple[int, int], outscale: float, scale: int, size: tuple[int, int]
) -> None:
    plan = target_size(in_wh, outscale=outscale)
    assert plan == OutputPlan(
        scale=scale, size=size, network_size=(in_wh[0] * scale, in_wh[1] * scale)
    )
    assert plan.needs_resize == (size != plan.network_size)


def test_outscale_scale_is_the_same_for_every_input_size() -> None:
    # From the factor, not from the rounded size: 2.0001 needs x3 even where rounding hides it.
    assert target_size((10, 10), outscale=2.0001).scale == 3
    assert target_size((10_000, 10), outscale=2.0001).scale == 3


@pytest.mark.parametrize(
    ("in_wh", "box", "scale", "size"),
    [
        ((1000, 500), "3840x2160", 4, (3840, 1920)),  # width binds, network x4 then Lanczos
        ((1000, 500), (1920, 1080), 2, (1920, 960)),  # x2 reaches it, area down from 2000x1000
        ((640, 480), "1920x1080", 3, (1440, 1080)),  # height binds
        ((640, 480), "1921X1081", 3, (1441, 1081)),  # 1440.75 -> 1441
        ((500, 500), "100x100", 2, (100, 100)),  # box smaller than the input: shrink
        ((1000, 1), "10x10", 2, (10, 1)),
        ((300, 200), " 1200 x 800 ", 4, (1200, 800)),  # exactly x4: no resize
    ],
)
def test_fit_plans(
    in_wh: tuple[int, int], box: str | tuple[int, int], scale: int, size: tuple[int, int]
) -> None:
    plan = target_size(in_wh, fit=box)
    assert (plan.scale, plan.size) == (scale, size)
    box_wh = parse_fit(box) if isinstance(box, str) else box
    assert size[0] <= box_wh[0] and size[1] <= box_wh[1]
    assert size[0] == box_wh[0] or size[1] == box_wh[1]


def test_fit_with_other_scales_and_even_sides() -> None:
    plan = target_size((641, 481), fit="1000x1000", scales=(4, 2))
    assert (plan.scale, plan.size) == (2, (1000, 750))
    plan = target_size((641, 481), outscale=1.5, even=True)
    assert plan.size == (962, 722)  # 961.5 -> 962, 721.5 -> 722: already even
    assert target_size((101, 51), outscale=1.0, even=True).size == (100, 50)
    assert target_size((1, 1), outscale=1.0, even=True).size == (2, 2)


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"outscale": 2, "fit": "10x10"},
        {"outscale": 0},
        {"outscale": -1.5},
        {"outscale": float("nan")},
        {"outscale": 17},
        {"outscale": "2"},
        {"fit": "10"},
        {"fit": "0x10"},
        {"fit": "10x-3"},
        {"fit": "70000x10"},
        {"fit": (10, 10.5)},
        {"outscale": 2, "scales": ()},
    ],
)
def test_bad_requests_are_config_errors(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        target_size((10, 10), **kwargs)  # type: ignore[arg-type]


def test_output_side_limit() -> None:
    with pytest.raises(ConfigError, match="exceeds 65535"):
        target_size((10_000, 10), outscale=8)


def test_parse_fit() -> None:
    assert parse_fit("3840x2160") == (3840, 2160)
    with pytest.raises(ConfigError, match="WIDTHxHEIGHT"):
        parse_fit("3840*2160")


def test_area_shrink_averages_blocks_exactly() -> None:
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, size=(8, 12, 3), dtype=np.uint8)
    out = resize_to(img, (6, 4))
    assert out.shape == (4, 6, 3) and out.dtype == np.uint8
    means = img.reshape(4, 2, 6, 2, 3).astype(np.float64).mean(axis=(1, 3))
    assert np.abs(out.astype(np.float64) - means).max() <= 0.5


def test_lanczos_enlarge_rings_at_an_edge_and_keeps_flat_areas() -> None:
    img = np.full((8, 8), 50, dtype=np.uint16)
    img[:, 4:] = 60_000
    out = resize_to(img, (21, 19))
    assert out.shape == (19, 21) and out.dtype == np.uint16
    # Lanczos overshoots next to a step (area/linear would not); far from it the values stay.
    assert out.min() < 50 and out.max() > 60_000
    assert out[:, 0].tolist() == [50] * 19


def test_resize_keeps_channel_axis_and_same_size_is_identity() -> None:
    img = np.arange(2 * 3, dtype=np.uint8).reshape(2, 3, 1)
    assert resize_to(img, (6, 4)).shape == (4, 6, 1)
    rgba = np.zeros((5, 7, 4), dtype=np.uint8)
    assert resize_to(rgba, (3, 2)).shape == (2, 3, 4)
    assert resize_to(img, (3, 2)) is img


def test_resize_refuses_bad_input() -> None:
    with pytest.raises(ImageError):
        resize_to(np.zeros((4, 4), dtype=np.float32), (2, 2))  # type: ignore[arg-type]
    with pytest.raises(ImageError):
        resize_to(np.zeros((4, 4), dtype=np.uint8), (0, 2))
