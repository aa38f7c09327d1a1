"""MATLAB bicubic port: hand-checkable properties and exact agreement with Set14's MATLAB LR."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from lesrcnn_deploy.core.errors import ConfigError
from lesrcnn_deploy.data.image_io import load_image
from lesrcnn_deploy.data.matlab_resize import (
    _round_like_matlab,
    bicubic_downscale,
    calculate_weights_indices,
    cubic,
    imresize,
    modcrop,
)


def test_cubic_kernel_values() -> None:
    np.testing.assert_allclose(cubic([0.0, 1.0, 2.0, 2.5, -1.0]), [1, 0, 0, 0, 0])
    # Keys a=-0.5: k(0.5) = 1.5/8 - 2.5/4 + 1 = 0.5625, k(1.5) = -0.5*3.375 + 2.5*2.25 - 6 + 2
    np.testing.assert_allclose(cubic([0.5, -0.5, 1.5]), [0.5625, 0.5625, -0.0625])


@pytest.mark.parametrize("scale", [1 / 2, 1 / 3, 1 / 4, 2.0, 3.0])
def test_weights_rows_sum_to_one_and_indices_in_range(scale: float) -> None:
    n = 17
    out = math.ceil(n * scale)
    w, idx = calculate_weights_indices(n, out, scale=scale)
    np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-12)
    assert idx.min() >= 0 and idx.max() < n and idx.shape == w.shape


def test_downscale_by_two_weights_are_symmetric() -> None:
    # Each output pixel sits between two input pixels: MATLAB's 8-tap kernel is symmetric.
    w, idx = calculate_weights_indices(16, 8, scale=0.5)
    mid = w[3]
    np.testing.assert_allclose(mid, mid[::-1], atol=1e-15)
    assert idx[3].tolist() == list(range(3, 11))


@pytest.mark.parametrize("scale", [0.5, 1 / 3, 0.25, 2.0, 0.7])
def test_constant_stays_constant(scale: float) -> None:
    img = np.full((13, 10, 3), 87.25)
    out = imresize(img, scale)
    assert out.shape == (math.ceil(13 * scale), math.ceil(10 * scale), 3)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, 87.25, atol=1e-10)


def test_output_sizes_and_2d_input() -> None:
    assert imresize(np.zeros((7, 5)), 0.5).shape == (4, 3)  # ceil, as MATLAB
    assert imresize(np.zeros((7, 5, 1)), 1 / 3).shape == (3, 2, 1)
    assert imresize(np.zeros((4, 6)), 2).shape == (8, 12)


def test_symmetry_flip_commutes() -> None:
    img = np.random.default_rng(0).random((24, 20))  # multiples of 4: centred output grid
    out = imresize(img, 0.25)
    np.testing.assert_allclose(imresize(img[::-1, ::-1], 0.25), out[::-1, ::-1], atol=1e-12)
    np.testing.assert_allclose(imresize(img.T, 0.25), out.T, atol=1e-12)


def test_channels_are_independent() -> None:
    img = np.random.default_rng(1).random((12, 12, 3))
    out = imresize(img, 0.5)
    for c in range(3):
        np.testing.assert_allclose(out[:, :, c], imresize(img[:, :, c], 0.5), atol=1e-12)


def test_no_rounding_no_clipping() -> None:
    img = np.zeros((8, 8))
    img[:, 4:] = 255.0  # a step: bicubic overshoots on both sides
    out = imresize(img, 0.5)
    assert out.min() < 0 and out.max() > 255
    assert not np.allclose(out, np.round(out))


def test_linear_ramp_is_reproduced_inside() -> None:
    # Cubic convolution reproduces linear functions away from the (mirrored) border.
    ramp = np.tile(np.arange(32, dtype=np.float64), (32, 1))
    out = imresize(ramp, 0.5)
    # output pixel j (0-based) is centred at input coordinate 2j + 0.5
    np.testing.assert_allclose(out[:, 3:-3], np.tile(2 * np.arange(16) + 0.5, (16, 1))[:, 3:-3])


def test_modcrop() -> None:
    a = np.arange(7 * 5).reshape(7, 5)
    np.testing.assert_array_equal(modcrop(a, 3), a[:6, :3])
    assert modcrop(np.zeros((8, 8, 3)), 4).shape == (8, 8, 3)
    with pytest.raises(ValueError, match="positive int"):
        modcrop(a, 0)


def test_bicubic_downscale_shapes_dtypes_and_errors() -> None:
    a = np.random.default_rng(2).integers(0, 256, (31, 26, 3), dtype=np.uint8)
    out = bicubic_downscale(a, 3)
    assert out.shape == (10, 8, 3) and out.dtype == np.uint8
    deep = bicubic_downscale(a.astype(np.uint16) * 257, 2)
    assert deep.dtype == np.uint16 and deep.shape == (15, 13, 3)
    assert bicubic_downscale(a[:, :, 0], 4).shape == (7, 6)
    np.testing.assert_array_equal(bicubic_downscale(np.full((9, 9), 200, np.uint8), 3), 200)
    with pytest.raises(ConfigError, match="unknown scale 5"):
        bicubic_downscale(a, 5)
    with pytest.raises(ValueError, match="uint8 or uint16"):
        bicubic_downscale(a.astype(np.float32), 2)  # type: ignore[type-var]
    with pytest.raises(ValueError, match="H, W >= 4"):
        bicubic_downscale(a[:3], 4)


def test_bicubic_downscale_rounds_half_away_from_zero_and_clips() -> None:
    # A step 0|255 overshoots below 0 and above 255: the result must be clipped, not wrapped.
    img = np.zeros((16, 16), np.uint8)
    img[:, 8:] = 255
    out = bicubic_downscale(img, 2)
    assert out.min() == 0 and out.max() == 255
    # x.5 goes up (MATLAB's uint8()), where np.round would go to the even neighbour.
    x = np.array([0.5, 1.5, 2.5, 0.49, -0.5, -3.0, 254.5, 255.5, 300.0])
    np.testing.assert_array_equal(_round_like_matlab(x, 255), [1, 2, 3, 0, 0, 0, 255, 255, 255])
    np.testing.assert_array_equal(_round_like_matlab(np.array([65534.5]), 65535), [65535])


def test_bicubic_downscale_on_div2k_sized_images_is_separable() -> None:
    # a DIV2K-sized image (no timing here: speed belongs in the benchmark). Rows that are
    # constant stay constant and columns that are constant stay constant: the resize is applied
    # separably, one axis at a time, and its weights sum to one.
    rng = np.random.default_rng(3)
    rows = np.repeat(rng.integers(0, 256, (1356, 1, 3), dtype=np.uint8), 2040, axis=1)
    out = bicubic_downscale(rows, 4)
    assert out.shape == (339, 510, 3) and out.dtype == np.uint8
    assert (out == out[:, :1]).all()
    cols = np.ascontiguousarray(rows.transpose(1, 0, 2))
    assert (bicubic_downscale(cols, 4) == out.transpose(1, 0, 2)).all()


def test_bicubic_downscale_matches_matlab_on_set14(set14: Path) -> None:
    """Set14's ``LR_bicubic/X{s}`` were made by MATLAB ``imresize`` from the modcropped HR.

    Measured (numpy 2.4, x86): 100 % of the pixels identical, max |diff| 0, at x2, x3 and x4
    (2,284,939 / 1,011,058 / 570,547 values). Rounding only once at the end instead of after each
    1-D pass would give 86.0 / 88.4 / 89.8 % identical and max |diff| 11 / 8 / 12.
    """
    root = set14
    hr_files = sorted((root / "HR").glob("*.png"))
    assert len(hr_files) == 14
    for s in (2, 3, 4):
        total = equal = 0
        worst = 0
        for hr_path in hr_files:
            hr = load_image(hr_path).pixels
            lr = load_image(root / "LR_bicubic" / f"X{s}" / f"{hr_path.stem}x{s}.png").pixels
            out = bicubic_downscale(hr, s)  # modcrop inside: e.g. baboon 500x480 -> 498x480 at x3
            assert out.shape == lr.shape, hr_path.name
            diff = np.abs(out.astype(np.int16) - lr)
            total += diff.size
            equal += int((diff == 0).sum())
            worst = max(worst, int(diff.max()))
        assert equal / total == 1.0, (s, equal, total)
        assert worst == 0
