"""Make the documentation's before/after picture: bicubic vs LESRCNN x4 on a crop of a sample photo.

``python -m lesrcnn_deploy.upscale.example [--output docs/upscale_example.png] [--precision int8]``

The HR photo is scikit-image's ``chelsea`` (ships with the package, 451x300 RGB). It is reduced by
4 with the MATLAB-compatible bicubic downscale (the degradation of LESRCNN's training data), then
brought back to full size by OpenCV bicubic and by :class:`~lesrcnn_deploy.upscale.Upscaler`
(by default the shipped x4 int8 model, what ``upscale`` runs). A crop of each, beside the
original, is written as one labelled PNG.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from ..data import bicubic_downscale, save_image
from ..data.quality import psnr
from .api import Upscaler

__all__ = ["CROP", "main", "make_example"]

CROP = (slice(60, 180), slice(150, 270))
"""Rows and columns of the HR crop shown (the cat's eye and whiskers), 120x120 pixels."""

_ZOOM = 2  # nearest-neighbour zoom of each panel, so pixels stay visible
_LABEL_H = 22


def _psnr(a: npt.NDArray[np.uint8], b: npt.NDArray[np.uint8]) -> float:
    return psnr(a, b, crop_border=0, test_y_channel=False)


def _panel(img: npt.NDArray[np.uint8], label: str) -> npt.NDArray[np.uint8]:
    big = cv2.resize(img, None, fx=_ZOOM, fy=_ZOOM, interpolation=cv2.INTER_NEAREST)
    strip = np.full((_LABEL_H, big.shape[1], 3), 255, np.uint8)
    cv2.putText(strip, label, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([strip, big], axis=0)


def make_example(
    output: str | Path, *, precision: str = "int8", threads: int | None = None
) -> Path:
    """Write the comparison PNG (about 750x260 pixels, RGB uint8) to ``output``.

    Panels: bicubic x4, LESRCNN x4 (``precision``), original; each labelled with its PSNR (RGB,
    on the crop) against the original.
    """
    from skimage import data

    hr_full = np.asarray(data.chelsea(), dtype=np.uint8)
    h, w = (hr_full.shape[0] // 4) * 4, (hr_full.shape[1] // 4) * 4
    hr_full = np.ascontiguousarray(hr_full[:h, :w])
    lr = bicubic_downscale(hr_full, 4)
    bicubic = np.asarray(cv2.resize(lr, (w, h), interpolation=cv2.INTER_CUBIC), dtype=np.uint8)
    sr = np.asarray(Upscaler(4, precision, threads=threads).upscale(lr), dtype=np.uint8)
    hr, bic, lesr = hr_full[CROP], bicubic[CROP], sr[CROP]
    gap = np.full((hr.shape[0] * _ZOOM + _LABEL_H, 6, 3), 255, np.uint8)
    panels = [
        _panel(bic, f"bicubic x4  {_psnr(bic, hr):.2f} dB"),
        gap,
        _panel(lesr, f"LESRCNN x4 {precision}  {_psnr(lesr, hr):.2f} dB"),
        gap,
        _panel(hr, "original"),
    ]
    return save_image(output, np.concatenate(panels, axis=1))


def main(argv: Sequence[str] | None = None) -> int:
    """Command line of this module; returns the exit code."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--output", default="docs/upscale_example.png")
    p.add_argument("--precision", choices=["fp32", "int8"], default="int8")
    p.add_argument("--threads", type=int)
    args = p.parse_args(argv)
    path = make_example(args.output, precision=args.precision, threads=args.threads)
    print(f"wrote {path} ({path.stat().st_size // 1024} kB)")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
