"""Visual comparison sheets: one crop as bicubic, fp32, int8, HR and an amplified |fp32-int8|."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..data import SRDataset
from ..data.image_io import save_image
from ..evaluation.evaluate import super_resolve
from ..evaluation.scoring import paper_to_uint8, to_input
from ..runtime.base import Runner

__all__ = ["DEFAULT_IMAGE", "VisualResult", "comparison_sheet"]

DEFAULT_IMAGE = "img_003"
"""Set5 "butterfly" (official layout name): sharp edges and flat colour show int8 errors well."""

_TILE_ZOOM = 2
_HEADER = 28


@dataclass(frozen=True)
class VisualResult:
    """A written comparison sheet.

    Attributes:
        path: the PNG.
        scale, dataset, image: what it shows.
        crop: (top, left, size) of the HR-resolution crop, pixels.
        amplify: factor applied to |fp32 - int8| in the last tile.
        max_abs_diff: max |fp32 - int8| over the whole image, uint8 levels.
        mean_abs_diff: mean |fp32 - int8| over the whole image, uint8 levels.
    """

    path: Path
    scale: int
    dataset: str
    image: str
    crop: tuple[int, int, int]
    amplify: int
    max_abs_diff: int
    mean_abs_diff: float


def _tile(rgb: np.ndarray, title: str) -> np.ndarray:
    big = cv2.resize(rgb, None, fx=_TILE_ZOOM, fy=_TILE_ZOOM, interpolation=cv2.INTER_NEAREST)
    header = np.full((_HEADER, big.shape[1], 3), 255, np.uint8)
    cv2.putText(header, title, (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
    return np.vstack([header, big])


def comparison_sheet(
    fp32: Runner,
    int8: Runner,
    *,
    dataset: SRDataset,
    output: str | os.PathLike[str],
    image: str | None = DEFAULT_IMAGE,
    crop_size: int = 120,
    amplify: int = 16,
) -> VisualResult:
    """Write a sheet of 5 tiles: bicubic, fp32, int8, HR, |fp32 - int8| x ``amplify``.

    The crop (``crop_size`` HR pixels, centred) is at the same place in every tile; tiles are
    enlarged x2 with nearest-neighbour so single pixels stay visible. Outputs are turned into
    uint8 as the paper protocol does (truncation).

    Args:
        fp32, int8: runners of the dataset's scale.
        dataset: the set to take the image from.
        output: PNG path (written atomically).
        image: image name; the first image of the set when None or not found.
        crop_size: crop side in HR pixels.
        amplify: gain applied to the absolute difference map (shown with the inferno colormap).
    """
    pair = next((p for p in dataset.pairs if p.name == image), dataset.pairs[0])
    hr, lr = dataset.load(pair)
    s = dataset.scale
    x = to_input(lr)
    sr32 = paper_to_uint8(super_resolve(fp32, x))
    sr8 = paper_to_uint8(super_resolve(int8, x))
    bicubic = cv2.resize(lr, (lr.shape[1] * s, lr.shape[0] * s), interpolation=cv2.INTER_CUBIC)
    diff = np.abs(sr32.astype(np.int16) - sr8.astype(np.int16)).max(axis=2)
    size = min(crop_size, hr.shape[0], hr.shape[1])
    top, left = (hr.shape[0] - size) // 2, (hr.shape[1] - size) // 2

    def crop(a: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(a[top : top + size, left : left + size])

    heat_gray = np.clip(crop(diff).astype(np.int32) * amplify, 0, 255).astype(np.uint8)
    heat = cv2.cvtColor(cv2.applyColorMap(heat_gray, cv2.COLORMAP_INFERNO), cv2.COLOR_BGR2RGB)
    tiles = [
        _tile(crop(bicubic), "bicubic"),
        _tile(crop(sr32), "fp32"),
        _tile(crop(sr8), "int8"),
        _tile(crop(hr), "HR"),
        _tile(heat, f"|fp32-int8| x{amplify}"),
    ]
    gap = np.full((tiles[0].shape[0], 6, 3), 255, np.uint8)
    row = np.hstack([t if i == 0 else np.hstack([gap, t]) for i, t in enumerate(tiles)])
    caption = np.full((_HEADER, row.shape[1], 3), 255, np.uint8)
    text = (
        f"x{s} {dataset.name}/{pair.name}, crop {size}px at ({left},{top}); "
        f"|fp32-int8| max {int(diff.max())}, mean {float(diff.mean()):.2f} levels"
    )
    cv2.putText(caption, text, (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    path = Path(output)
    save_image(path, np.vstack([row, caption]))
    return VisualResult(
        path=path,
        scale=s,
        dataset=dataset.name,
        image=pair.name,
        crop=(top, left, size),
        amplify=amplify,
        max_abs_diff=int(diff.max()),
        mean_abs_diff=float(diff.mean()),
    )
