"""PSNR/SSIM/Y: the pure metric functions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lesrcnn_deploy.metrics import psnr, rgb_to_y, ssim
from lesrcnn_deploy.protocols import paper_to_uint8, to_input


def _img(seed: int = 0, shape: tuple[int, ...] = (32, 40, 3)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def test_identical_images() -> None:
    a = _img()
    assert psnr(a, a, crop_border=0, test_y_channel=False) == math.inf
    assert psnr(a, a, crop_border=2, test_y_channel=True) == math.inf
    assert ssim(a, a, crop_border=0, test_y_channel=True) == pytest.approx(1.0)


def test_psnr_known_value() -> None:
    a = np.full((16, 16, 3), 100, np.uint8)
    b = a + 1  # MSE = 1
    assert psnr(a, b, crop_border=0, test_y_channel=False) == pytest.approx(10 * math.log10(255**2))


def test_crop_border_only_sees_the_inside() -> None:
    a = _img(1, (20, 20, 3))
    b = a.copy()
    b[:2] = 0  # damage only the border
    assert psnr(a, b, crop_border=2, test_y_channel=False) == math.inf
    assert psnr(a, b, crop_border=1, test_y_channel=False) < 40


def test_y_channel_matches_matlab_formula_and_color_order() -> None:
    rgb = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255], [0, 0, 0]]], np.uint8)
    assert rgb_to_y(rgb).tolist() == [[81, 145, 41, 235, 16]]
    assert rgb_to_y(rgb[..., ::-1].copy(), color_order="bgr").tolist() == [[81, 145, 41, 235, 16]]


def test_ssim_decreases_with_noise() -> None:
    a = _img(2, (48, 48, 3))
    noisy = np.clip(a.astype(int) + np.random.default_rng(3).integers(-20, 21, a.shape), 0, 255)
    value = ssim(a, noisy.astype(np.uint8), crop_border=0, test_y_channel=False)
    assert 0.0 < value < 0.99


def test_errors_are_value_errors_with_the_reason() -> None:
    with pytest.raises(ValueError, match="shapes differ"):
        psnr(_img(0, (8, 8, 3)), _img(0, (8, 9, 3)), crop_border=0, test_y_channel=False)
    with pytest.raises(ValueError, match="too small"):
        psnr(_img(0, (8, 8, 3)), _img(0, (8, 8, 3)), crop_border=4, test_y_channel=False)
    with pytest.raises(ValueError, match="11x11"):
        ssim(_img(0, (8, 8, 3)), _img(0, (8, 8, 3)), crop_border=0, test_y_channel=False)
    with pytest.raises(TypeError):
        psnr(_img(), _img(), 0, False)  # type: ignore[misc]  # keyword-only on purpose


def test_paper_uint8_conversion_matches_torch_byte() -> None:
    import torch

    sr = np.random.default_rng(4).normal(0.5, 0.4, (1, 3, 17, 19)).astype(np.float32)
    ours = paper_to_uint8(sr)
    theirs = torch.from_numpy(sr[0]).mul(255).clamp(0, 255).byte().permute(1, 2, 0).numpy()
    assert np.array_equal(ours, theirs)
    assert paper_to_uint8(np.full((1, 3, 2, 2), 0.5, np.float32))[0, 0, 0] == 127  # truncation
    values = np.arange(256, dtype=np.uint8).reshape(16, 16, 1).repeat(3, axis=2)
    assert np.array_equal(paper_to_uint8(to_input(values)), values)  # uint8 survives /255*255
