"""PSNR/SSIM/Y: the pure metric functions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lesrcnn_deploy.data.quality import psnr, rgb_to_y, ssim
from lesrcnn_deploy.evaluation.scoring import paper_to_uint8, to_input


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
    inner = (slice(1, -1), slice(1, -1))  # crop_border=1 keeps row 1, which was zeroed
    mse = np.mean((a[inner].astype(np.float64) - b[inner].astype(np.float64)) ** 2)
    expected = 10 * math.log10(255**2 / mse)
    assert psnr(a, b, crop_border=1, test_y_channel=False) == pytest.approx(expected, abs=1e-9)


def test_y_channel_matches_matlab_formula_and_color_order() -> None:
    rgb = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255], [0, 0, 0]]], np.uint8)
    assert rgb_to_y(rgb).tolist() == [[81, 145, 41, 235, 16]]
    assert rgb_to_y(rgb[..., ::-1].copy(), color_order="bgr").tolist() == [[81, 145, 41, 235, 16]]


@pytest.mark.parametrize("photo", ["astronaut", "chelsea", "coffee"])
def test_ssim_matches_scikit_image_with_the_paper_settings(photo: str) -> None:
    """An independent implementation: scikit-image's SSIM with the paper's settings (Gaussian
    window sigma 1.5, 11x11 after truncation, population covariance, K1/K2 0.01/0.03, border of
    the window cropped = MATLAB's valid region), on real photos against a degraded copy."""
    import cv2
    from skimage import data
    from skimage.metrics import structural_similarity

    hr = np.ascontiguousarray(getattr(data, photo)()[:240, :320])
    lr = cv2.resize(hr, (160, 120), interpolation=cv2.INTER_AREA)
    degraded = cv2.resize(lr, (320, 240), interpolation=cv2.INTER_CUBIC)

    def reference(x: np.ndarray, y: np.ndarray, **kw: object) -> float:
        return float(
            structural_similarity(
                x.astype(np.float64),
                y.astype(np.float64),
                gaussian_weights=True,
                sigma=1.5,
                use_sample_covariance=False,
                data_range=255,
                **kw,  # type: ignore[arg-type]
            )
        )

    y_ours = ssim(degraded, hr, crop_border=2, test_y_channel=True)
    y_ref = reference(rgb_to_y(degraded)[2:-2, 2:-2], rgb_to_y(hr)[2:-2, 2:-2])
    assert y_ours == pytest.approx(y_ref, abs=1e-6)
    rgb_ours = ssim(degraded, hr, crop_border=0, test_y_channel=False)
    assert rgb_ours == pytest.approx(reference(degraded, hr, channel_axis=-1), abs=1e-6)
    assert 0.5 < y_ours < 0.999  # a real degradation, not a trivial pair


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
