"""Evaluation protocols: ``paper`` (the official LESRCNN test script) and ``seed128`` (the card).

A protocol says how an (HR, LR) pair becomes the network input, how the output becomes an image,
and how the image is scored. Images are RGB uint8 ``(H, W, 3)``; network tensors are float32
``(1, 3, H, W)`` RGB in [0, 1].

``paper`` (bit-exact with ``x2/tcw_sample.py``): input ``lr / 255``; SR and HR back to uint8 with
``mul(255).clamp(0, 255)`` then **truncation**, in float32; Y (BT.601, rounded); crop ``scale``
pixels per border; PSNR/SSIM on Y.

``seed128`` (the model-zoo card): LR resized to 128x128 with ``INTER_AREA``; output clipped to
[0, 1], ``*255``, **rounded**; reference = HR resized to the output size with ``INTER_AREA``;
PSNR/SSIM over the three channels, no border crop.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import cv2
import numpy as np

from ..core.errors import ConfigError
from ..data.quality import psnr, ssim

__all__ = [
    "SEED128_SIZE",
    "PreparedPair",
    "Protocol",
    "paper_to_uint8",
    "parse_protocol",
    "postprocess",
    "prepare_pair",
    "score",
    "to_input",
]

SEED128_SIZE = 128


class Protocol(enum.StrEnum):
    """Evaluation protocol name."""

    PAPER = "paper"
    SEED128 = "seed128"


def parse_protocol(value: str | Protocol) -> Protocol:
    """Convert a name to :class:`Protocol`, or raise :class:`ConfigError` listing the choices."""
    try:
        return Protocol(value)
    except ValueError:
        msg = f"unknown protocol {value!r}: choose from {', '.join(p.value for p in Protocol)}"
        raise ConfigError(msg) from None


def to_input(rgb: np.ndarray) -> np.ndarray:
    """RGB uint8 ``(H, W, 3)`` -> float32 ``(1, 3, H, W)`` in [0, 1] (as ``ToTensor``)."""
    x = rgb.astype(np.float32) / np.float32(255.0)
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])


def paper_to_uint8(t: np.ndarray) -> np.ndarray:
    """Float32 ``(3, H, W)`` or ``(1, 3, H, W)`` in [0, 1] -> uint8 ``(H, W, 3)`` by truncation.

    Reproduces ``tensor.mul(255).clamp(0, 255).byte()`` of the official script, float32 included.
    """
    t = np.asarray(t, dtype=np.float32)
    if t.ndim == 4:
        t = t[0]
    v = np.clip(t * np.float32(255.0), 0, 255)
    return np.ascontiguousarray(v.astype(np.uint8).transpose(1, 2, 0))


def _round_to_uint8(t: np.ndarray) -> np.ndarray:
    t = np.asarray(t, dtype=np.float32)
    if t.ndim == 4:
        t = t[0]
    v = np.clip(t, 0.0, 1.0) * 255.0
    return np.ascontiguousarray(np.round(v).astype(np.uint8).transpose(1, 2, 0))


@dataclass(frozen=True)
class PreparedPair:
    """Network input and the reference it is scored against.

    Attributes:
        x: float32 ``(1, 3, h, w)`` RGB in [0, 1].
        reference: uint8 ``(h*s, w*s, 3)`` RGB, already in the protocol's uint8 form.
    """

    x: np.ndarray
    reference: np.ndarray


def prepare_pair(protocol: Protocol, hr: np.ndarray, *, lr: np.ndarray, scale: int) -> PreparedPair:
    """Build the network input and reference for one image pair.

    Args:
        protocol: which protocol.
        hr: RGB uint8 ``(H, W, 3)``; for ``paper`` already cropped to ``lr`` size x ``scale``.
        lr: RGB uint8 ``(h, w, 3)``.
        scale: upscaling factor.
    """
    if protocol is Protocol.PAPER:
        if hr.shape[:2] != (lr.shape[0] * scale, lr.shape[1] * scale):
            msg = f"HR {hr.shape[1]}x{hr.shape[0]} is not LR {lr.shape[1]}x{lr.shape[0]} x{scale}"
            raise ValueError(msg)
        return PreparedPair(to_input(lr), paper_to_uint8(to_input(hr)))
    size = (SEED128_SIZE, SEED128_SIZE)
    lr_small = cv2.resize(lr, size, interpolation=cv2.INTER_AREA)
    out_size = (SEED128_SIZE * scale, SEED128_SIZE * scale)
    ref = cv2.resize(hr, out_size, interpolation=cv2.INTER_AREA)
    return PreparedPair(to_input(lr_small), np.ascontiguousarray(ref))


SSIM_WINDOW = 11
"""Side of the SSIM window: the scored region (after the border crop) must be at least this."""


def unscorable(protocol: Protocol, hr_hw: tuple[int, int], *, scale: int) -> str:
    """Why an HR image of ``hr_hw`` cannot be scored under ``protocol`` ("" when it can): the
    ``paper`` protocol crops ``scale`` pixels per border, then SSIM needs an 11x11 window."""
    if protocol is not Protocol.PAPER:
        return ""  # seed128 scores a fixed 128*scale output
    h, w = (d - 2 * scale for d in hr_hw)
    if min(h, w) < SSIM_WINDOW:
        return (
            f"{hr_hw[1]}x{hr_hw[0]} minus a {scale}-pixel border is {max(w, 0)}x{max(h, 0)}, "
            f"smaller than the {SSIM_WINDOW}x{SSIM_WINDOW} SSIM window"
        )
    return ""


def postprocess(protocol: Protocol, y: np.ndarray) -> np.ndarray:
    """Network output float32 ``(1, 3, H, W)`` RGB -> uint8 ``(H, W, 3)`` RGB, per protocol."""
    return paper_to_uint8(y) if protocol is Protocol.PAPER else _round_to_uint8(y)


def score(
    protocol: Protocol, sr: np.ndarray, *, reference: np.ndarray, scale: int
) -> tuple[float, float]:
    """(PSNR dB, SSIM) of uint8 RGB ``sr`` against ``reference`` under ``protocol``."""
    paper = protocol is Protocol.PAPER
    crop = scale if paper else 0
    return (
        psnr(sr, reference, crop_border=crop, test_y_channel=paper),
        ssim(sr, reference, crop_border=crop, test_y_channel=paper),
    )
