"""PSNR and SSIM as small pure functions (BasicSR's conventions, made explicit).

Images are numpy arrays ``(H, W)`` or ``(H, W, C)`` with values in [0, 255] (uint8 or float).
Channel order is named explicitly (``color_order``) because the Y conversion depends on it.
Arithmetic is float64. Identical images give ``inf`` PSNR.
"""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np

__all__ = ["psnr", "psnr_from_mse", "rgb_to_y", "sqnr_db", "ssim"]

ColorOrder = Literal["rgb", "bgr"]

_Y_WEIGHTS_RGB = np.array([65.481, 128.553, 24.966], dtype=np.float64)


def rgb_to_y(img: np.ndarray, *, color_order: ColorOrder = "rgb") -> np.ndarray:
    """ITU-R BT.601 luma as MATLAB's ``rgb2ycbcr``: ``dot(rgb, [65.481, 128.553, 24.966])/255+16``.

    Args:
        img: ``(H, W, 3)`` uint8 in [0, 255], channel order ``color_order``.

    Returns:
        ``(H, W)`` uint8 Y in [16, 235], rounded half to even (numpy ``round``), as the official
        LESRCNN test script does.
    """
    if img.ndim != 3 or img.shape[2] != 3:
        msg = f"rgb_to_y expects an (H, W, 3) image, got shape {img.shape}"
        raise ValueError(msg)
    if img.dtype != np.uint8:
        msg = f"rgb_to_y expects uint8 in [0, 255], got {img.dtype}"
        raise ValueError(msg)
    w = _Y_WEIGHTS_RGB if color_order == "rgb" else _Y_WEIGHTS_RGB[::-1]
    y = np.dot(img.astype(np.float64), w) / 255.0 + 16.0
    return np.round(y).astype(np.uint8)


def _prepare(
    img: np.ndarray,
    ref: np.ndarray,
    crop_border: int,
    test_y_channel: bool,
    color_order: ColorOrder,
) -> tuple[np.ndarray, np.ndarray]:
    if img.shape != ref.shape:
        msg = f"image shapes differ: {img.shape} vs {ref.shape}"
        raise ValueError(msg)
    if color_order not in ("rgb", "bgr"):
        msg = f"color_order must be 'rgb' or 'bgr', got {color_order!r}"
        raise ValueError(msg)
    if crop_border < 0:
        msg = f"crop_border must be >= 0, got {crop_border}"
        raise ValueError(msg)
    if test_y_channel:
        if img.ndim == 3 and img.shape[2] == 3:
            img, ref = (
                rgb_to_y(img, color_order=color_order),
                rgb_to_y(ref, color_order=color_order),
            )
        elif not (img.ndim == 2 or (img.ndim == 3 and img.shape[2] == 1)):
            msg = f"test_y_channel needs a 3-channel or gray image, got shape {img.shape}"
            raise ValueError(msg)
    if crop_border:
        h, w = img.shape[:2]
        if h <= 2 * crop_border or w <= 2 * crop_border:
            msg = f"image of {w}x{h} is too small for crop_border={crop_border}"
            raise ValueError(msg)
        img = img[crop_border:-crop_border, crop_border:-crop_border]
        ref = ref[crop_border:-crop_border, crop_border:-crop_border]
    return img.astype(np.float64), ref.astype(np.float64)


def psnr(
    img: np.ndarray,
    ref: np.ndarray,
    *,
    crop_border: int,
    test_y_channel: bool,
    color_order: ColorOrder = "rgb",
    data_range: float = 255.0,
) -> float:
    """Peak signal-to-noise ratio in dB over all remaining pixels and channels.

    Args:
        img: the image measured: values in [0, ``data_range``]; uint8 when ``test_y_channel``.
        ref: the reference, same shape and range as ``img``.
        crop_border: pixels removed on each side before measuring.
        test_y_channel: measure on BT.601 Y (see :func:`rgb_to_y`) instead of all channels.
        color_order: channel order of 3-channel inputs.
        data_range: peak value.

    Returns:
        PSNR in dB; ``inf`` for identical images.
    """
    a, b = _prepare(img, ref, crop_border, test_y_channel, color_order)
    return psnr_from_mse(float(np.mean((a - b) ** 2)), data_range=data_range)


def psnr_from_mse(mse: float, *, data_range: float = 255.0) -> float:
    """``10 log10(data_range^2 / mse)`` in dB; ``inf`` when ``mse`` is 0."""
    if mse == 0.0:
        return float("inf")
    return float(10.0 * np.log10(data_range**2 / mse))


def sqnr_db(ref: np.ndarray, out: np.ndarray) -> float:
    """Signal-to-quantization-noise ratio ``10 log10(sum ref^2 / sum (out - ref)^2)`` in dB,
    float64 throughout; ``inf`` when ``out == ref``. Any shapes, equal."""
    r = np.asarray(ref, dtype=np.float64)
    err = np.asarray(out, dtype=np.float64) - r
    den = float(np.sum(err**2))
    return float("inf") if den == 0.0 else float(10.0 * np.log10(float(np.sum(r**2)) / den))


def _ssim_2d(a: np.ndarray, b: np.ndarray, data_range: float) -> float:
    c1 = (0.01 * data_range) ** 2
    c2 = (0.03 * data_range) ** 2
    k = cv2.getGaussianKernel(11, 1.5)
    window = np.outer(k, k.transpose())

    def filt(z: np.ndarray) -> np.ndarray:
        return np.asarray(cv2.filter2D(z, -1, window))[5:-5, 5:-5]  # 'valid' region, MATLAB style

    mu1, mu2 = filt(a), filt(b)
    mu1_sq, mu2_sq, mu1_mu2 = mu1**2, mu2**2, mu1 * mu2
    sigma1_sq = filt(a * a) - mu1_sq
    sigma2_sq = filt(b * b) - mu2_sq
    sigma12 = filt(a * b) - mu1_mu2
    num = (2 * mu1_mu2 + c1) * (2 * sigma12 + c2)
    den = (mu1_sq + mu2_sq + c1) * (sigma1_sq + sigma2_sq + c2)
    return float(np.mean(num / den))


def ssim(
    img: np.ndarray,
    ref: np.ndarray,
    *,
    crop_border: int,
    test_y_channel: bool,
    color_order: ColorOrder = "rgb",
    data_range: float = 255.0,
) -> float:
    """Structural similarity: 11x11 Gaussian window (sigma 1.5), valid region, MATLAB constants.

    Multi-channel images are measured per channel and averaged. Arguments as :func:`psnr`.

    Returns:
        Mean SSIM in [-1, 1]; 1.0 for identical images.
    """
    a, b = _prepare(img, ref, crop_border, test_y_channel, color_order)
    if min(a.shape[:2]) < 11:
        msg = (
            f"image of {a.shape[1]}x{a.shape[0]} (after crop) is smaller than the 11x11 SSIM window"
        )
        raise ValueError(msg)
    if a.ndim == 2:
        return _ssim_2d(a, b, data_range)
    return float(np.mean([_ssim_2d(a[..., c], b[..., c], data_range) for c in range(a.shape[2])]))
