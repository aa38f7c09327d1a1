"""MATLAB ``imresize`` (bicubic, antialiased) in numpy, as used to make SR benchmark LR images.

A port of MATLAB's ``imresize.m`` (``contributions``, ``cubic`` and ``resizeAlongDim``), after
BasicSR's ``utils/matlab_functions.py`` but in numpy only and vectorised: each pass along one axis
is one matrix product with a dense ``(out_length, in_length)`` weight matrix. The MATLAB comments
are kept on the corresponding steps.

Where rounding happens:

* :func:`imresize` works in float64 and neither rounds nor clips (bicubic overshoots, so values may
  leave the input range).
* :func:`bicubic_downscale` does what MATLAB does for a uint8/uint16 image: each of the two 1-D
  passes (height, then width) is computed in float64 and then stored in the integer class, i.e.
  rounded **half away from zero** and saturated to the dtype's range. This reproduces the
  MATLAB-made LR images of Set14 on every pixel (``tests/test_data_matlab_resize.py``); rounding
  only once at the end would not (about 12 % of the pixels differ).

Every function is colour-order agnostic: channels are resized independently.
"""

from __future__ import annotations

import math
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from ..core.vocab import check_scale

__all__ = ["bicubic_downscale", "calculate_weights_indices", "cubic", "imresize", "modcrop"]

_KERNEL_WIDTH = 4.0  # MATLAB: {@cubic, 4}

_T = TypeVar("_T", bound=np.generic)
_U = TypeVar("_U", bound=np.unsignedinteger[Any])  # uint8 or uint16 (checked at run time)


def cubic(x: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Keys' cubic convolution kernel with ``a = -0.5`` (MATLAB's ``cubic``).

    Args:
        x: Distances, any shape.

    Returns:
        float64 array of the same shape: the kernel value, 0 where ``|x| > 2``.
    """
    absx = np.abs(np.asarray(x, dtype=np.float64))
    absx2 = absx**2
    absx3 = absx**3
    # f = (1.5*absx3 - 2.5*absx2 + 1) .* (absx <= 1) + ...
    #     (-0.5*absx3 + 2.5*absx2 - 4*absx + 2) .* ((1 < absx) & (absx <= 2));
    near = (1.5 * absx3 - 2.5 * absx2 + 1.0) * (absx <= 1.0)
    far = (-0.5 * absx3 + 2.5 * absx2 - 4.0 * absx + 2.0) * ((absx > 1.0) & (absx <= 2.0))
    return np.asarray(near + far, dtype=np.float64)


def calculate_weights_indices(
    in_length: int,
    out_length: int,
    *,
    scale: float,
    kernel_width: float = _KERNEL_WIDTH,
    antialiasing: bool = True,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.intp]]:
    """Weights and input indices of a 1-D bicubic resize (MATLAB's ``contributions``).

    Args:
        in_length: Number of input samples along the axis (>= 1).
        out_length: Number of output samples along the axis (>= 1).
        scale: Scale factor ``out / in`` (> 0); below 1 with ``antialiasing`` the kernel is widened.
        kernel_width: Support of the kernel in input pixels (4 for bicubic).
        antialiasing: Widen the kernel when downscaling, as MATLAB does by default.

    Returns:
        ``(weights, indices)``, both shaped ``(out_length, P)``: output sample ``k`` is
        ``sum_p weights[k, p] * in[indices[k, p]]``. ``weights`` is float64 and each row sums to 1;
        ``indices`` are **0-based** and already mirrored into ``[0, in_length)`` (MATLAB's symmetric
        padding).
    """
    if in_length < 1 or out_length < 1 or not scale > 0:
        msg = f"bad resize lengths/scale: in={in_length}, out={out_length}, scale={scale}"
        raise ValueError(msg)

    if scale < 1 and antialiasing:
        # Use a modified kernel to simultaneously interpolate and antialias.
        # h = @(x) scale * kernel(scale * x); kernel_width = kernel_width / scale;
        kernel_width = kernel_width / scale

    # Output-space coordinates.
    x = np.arange(1, out_length + 1, dtype=np.float64)

    # Input-space coordinates. Calculate the inverse mapping such that 0.5
    # in output space maps to 0.5 in input space, and 0.5+scale in output
    # space maps to 1.5 in input space.
    u = x / scale + 0.5 * (1.0 - 1.0 / scale)

    # What is the left-most pixel that can be involved in the computation?
    left = np.floor(u - kernel_width / 2.0)

    # What is the maximum number of pixels that can be involved in the
    # computation?  Note: it's OK to use an extra pixel here; if the
    # corresponding weights are all zero, it will be eliminated at the end
    # of this function.
    p = math.ceil(kernel_width) + 2

    # The indices of the input pixels involved in computing the k-th output
    # pixel are in row k of the indices matrix (1-based, as in MATLAB).
    indices = left[:, None] + np.arange(p, dtype=np.float64)[None, :]

    # The weights used to compute the k-th output pixel are in row k of the
    # weights matrix.
    distance_to_center = u[:, None] - indices
    if scale < 1 and antialiasing:
        weights = scale * cubic(distance_to_center * scale)
    else:
        weights = cubic(distance_to_center)

    # Normalize the weights matrix so that each row sums to 1.
    weights = weights / np.sum(weights, axis=1, keepdims=True)

    # Clamp out-of-range indices; has the effect of replicating end-points.
    # MATLAB mirrors them: aux = [1:in_length, in_length:-1:1];
    # indices = aux(mod(indices-1, length(aux)) + 1);
    aux = np.concatenate([np.arange(in_length), np.arange(in_length - 1, -1, -1)])
    mirrored = aux[np.mod(indices.astype(np.intp) - 1, aux.size)]

    # If a column in weights is all zero, get rid of it.
    # kill = find(~any(weights, 1)); weights(:,kill) = []; indices(:,kill) = [];
    keep = np.any(weights != 0, axis=0)
    return weights[:, keep], mirrored[:, keep]


def _resize_matrix(in_length: int, out_length: int, scale: float) -> npt.NDArray[np.float64]:
    """Dense ``(out_length, in_length)`` matrix of one 1-D pass; repeated indices are summed."""
    weights, indices = calculate_weights_indices(in_length, out_length, scale=scale)
    matrix = np.zeros((out_length, in_length), dtype=np.float64)
    rows = np.broadcast_to(np.arange(out_length)[:, None], indices.shape)
    np.add.at(matrix, (rows, indices), weights)
    return matrix


def _check_image(arr: npt.NDArray[np.generic], what: str) -> None:
    if arr.ndim not in (2, 3) or arr.shape[0] == 0 or arr.shape[1] == 0:
        msg = f"{what} expects a non-empty (H, W) or (H, W, C) image, got shape {arr.shape}"
        raise ValueError(msg)


def _resize_along(
    arr: npt.NDArray[np.float64], axis: int, out_length: int, scale: float
) -> npt.NDArray[np.float64]:
    """One 1-D pass (MATLAB's ``resizeAlongDim``) along ``axis`` (0 = height, 1 = width)."""
    matrix = _resize_matrix(arr.shape[axis], out_length, scale)
    out = np.tensordot(matrix, arr, axes=(1, axis))  # the resized axis comes first
    return np.ascontiguousarray(np.moveaxis(out, 0, axis))


def _round_like_matlab(x: npt.NDArray[np.float64], top: int) -> npt.NDArray[np.float64]:
    """MATLAB's conversion to an unsigned integer class: round half away from zero, saturate."""
    # np.round would round half to even; MATLAB's uint8()/uint16() round half away from zero.
    return np.clip(np.sign(x) * np.floor(np.abs(x) + 0.5), 0, top)


def imresize(img: npt.ArrayLike, scale: float) -> npt.NDArray[np.float64]:
    """Resize like MATLAB's ``imresize(img, scale, 'bicubic')`` (antialiasing on) in float64.

    This is MATLAB's behaviour for a ``double`` image: both passes in float64, nothing rounded.

    Args:
        img: Image shaped ``(H, W)`` or ``(H, W, C)``, any real dtype and range (converted to
            float64); channel order is irrelevant (channels are resized independently).
        scale: Factor applied to both height and width (> 0), e.g. ``1/3`` to downscale by 3.

    Returns:
        float64 array shaped ``(ceil(H*scale), ceil(W*scale))`` or ``(..., C)``, same range as the
        input up to bicubic overshoot: **no rounding, no clipping**.

    Raises:
        ValueError: ``img`` is not 2-D/3-D or is empty, or ``scale`` is not positive and finite.
    """
    arr = np.asarray(img, dtype=np.float64)
    _check_image(arr, "imresize")
    if not (math.isfinite(scale) and scale > 0):
        msg = f"imresize scale must be a positive finite number, got {scale!r}"
        raise ValueError(msg)
    in_h, in_w = arr.shape[:2]
    # output_size = ceil(scale .* input_size)
    out_h, out_w = math.ceil(in_h * scale), math.ceil(in_w * scale)
    # Resize first along the dimension with the smallest scale factor; with the same factor on
    # both axes MATLAB's order is rows (height) first, then columns (width).
    # out = resizeAlongDim(in, 1, weights{1}, indices{1});
    out = _resize_along(arr, 0, out_h, scale)
    # out = resizeAlongDim(out, 2, weights{2}, indices{2});
    return _resize_along(out, 1, out_w, scale)


def modcrop(img: npt.NDArray[_T], scale: int) -> npt.NDArray[_T]:
    """Crop the bottom/right so that height and width are multiples of ``scale`` (top-left kept).

    Args:
        img: Array shaped ``(H, W)`` or ``(H, W, C)``, any dtype.
        scale: Positive integer.

    Returns:
        A view shaped ``(H - H % scale, W - W % scale[, C])``.
    """
    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
        msg = f"modcrop scale must be a positive int, got {scale!r}"
        raise ValueError(msg)
    h, w = img.shape[:2]
    return img[: h - h % scale, : w - w % scale, ...]


def bicubic_downscale(img: npt.NDArray[_U], scale: int) -> npt.NDArray[_U]:
    """Make the LR image of the SR benchmarks: modcrop, then MATLAB ``imresize(hr, 1/scale)``.

    This reproduces MATLAB's ``imresize`` on an integer image exactly: MATLAB computes each 1-D
    pass in double and stores its result in the input's integer class, so the values are rounded
    half away from zero and saturated **after the height pass and again after the width pass**.
    Rounding only once at the end (float64 throughout) differs from MATLAB's LR images on about
    12 % of Set14's pixels (by up to 12 levels where the intermediate clip matters); the two-step
    rounding used here matches them on every pixel (see ``tests/test_data_matlab_resize.py``).

    Args:
        img: HR image shaped ``(H, W)`` or ``(H, W, C)`` (RGB, RGBA or gray: channels are
            independent), dtype uint8 (range [0, 255]) or uint16 (range [0, 65535]);
            ``H, W >= scale``.
        scale: One of :data:`lesrcnn_deploy.network.lesrcnn.SCALES` (2, 3, 4).

    Returns:
        Array of the input dtype and channel order shaped ``(H // scale, W // scale[, C])``.

    Raises:
        ConfigError: ``scale`` is not a supported scale.
        ValueError: ``img`` has another dtype, shape, or is smaller than ``scale``.
    """
    scale = check_scale(scale)
    if img.dtype not in (np.uint8, np.uint16):
        msg = f"bicubic_downscale expects uint8 or uint16 pixels, got {img.dtype}"
        raise ValueError(msg)
    _check_image(img, "bicubic_downscale")
    if img.shape[0] < scale or img.shape[1] < scale:
        msg = f"bicubic_downscale needs H, W >= {scale}, got shape {img.shape}"
        raise ValueError(msg)
    cropped = modcrop(img, scale).astype(np.float64)
    # Exact integer output sizes (modcrop makes them H/scale, W/scale), no float ceil involved.
    out_h, out_w = cropped.shape[0] // scale, cropped.shape[1] // scale
    top = 255 if img.dtype == np.uint8 else 65535
    out = _round_like_matlab(_resize_along(cropped, 0, out_h, 1.0 / scale), top)
    out = _round_like_matlab(_resize_along(out, 1, out_w, 1.0 / scale), top)
    return out.astype(img.dtype)
