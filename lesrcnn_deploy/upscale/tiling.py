"""Tiled inference in bounded memory, and the receptive field that makes it exact.

The LR image is cut into ``tile x tile`` cores; each core is run with ``overlap`` pixels of real
image context on every side (clipped at the image border), and only the core's part of the result
is pasted into a preallocated output buffer (as Real-ESRGAN's ``tile`` / ``tile_pad``; no blending).
An output pixel depends only on LR pixels within :func:`receptive_field` of its source pixel, and
the convolutions zero-pad at the image border exactly as at a tile border that *is* the image
border, so with ``overlap >= receptive_field(scale)`` the tiled result equals the whole-image
result up to float rounding.

Windows near the right/bottom border are shifted inwards rather than shrunk, so that (for an image
larger than one window) every call sees the same input shape: ONNX Runtime then reuses its memory
arena instead of growing it for each odd edge shape.

Receptive field of LESRCNN, one-sided, in LR pixels (:func:`receptive_field`):

* LR trunk: ``conv1`` and the eight 3x3 convs of the IEEB stages (the 1x1 convs add nothing):
  9 convs of radius 1 -> 9 LR pixels.
* Upsampler: one 3x3 conv per sub-pixel step, at the resolution it runs at: x2 and x3 one step at
  LR (1 LR pixel); x4 two x2 steps, 1 LR pixel plus 1 pixel at 2x resolution.
* HR side: ``conv17_1..4`` and ``conv18``, five 3x3 convs = 5 HR pixels, i.e. ``5 / scale`` LR
  pixels, rounded up through each pixel shuffle.

Walking these layers backwards from one HR pixel (for every sub-pixel phase) gives 13 LR pixels for
x2 (9 + 1 + ceil(5/2)), 12 for x3 (9 + 1 + ceil(5/3)) and 12 for x4 (9 + 1 + ceil((ceil(5/2) + 1) /
2)). These are a table (:data:`~lesrcnn_deploy.network.facts.RECEPTIVE_FIELD`), so tiling never
builds the PyTorch model; ``tests/test_upscale_tiling.py`` derives the same numbers by walking the
network's layers (:func:`~lesrcnn_deploy.network.cost.receptive_field_of`) and measures them by
perturbing one input pixel of a random-weight model.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ..core.errors import ConfigError, ModelError
from ..core.vocab import check_scale
from ..network.facts import RECEPTIVE_FIELD
from ..runtime.base import Runner

__all__ = [
    "TileWindow",
    "receptive_field",
    "tile_windows",
    "tiled_forward",
]


def receptive_field(scale: int) -> int:
    """One-sided receptive field of LESRCNN in LR pixels: 13 for x2, 12 for x3 and x4.

    An HR output pixel ``y`` depends only on LR pixels ``q`` with ``|q - y // scale| <= r``;
    conversely changing one LR pixel changes only HR pixels whose source pixel is within ``r``.
    Read from :data:`~lesrcnn_deploy.network.facts.RECEPTIVE_FIELD` (no PyTorch); the tests
    derive the same numbers from the network's layers and by perturbing one input pixel.

    Raises:
        ConfigError: ``scale`` is not 2, 3 or 4.
    """
    return RECEPTIVE_FIELD[check_scale(scale)]


@dataclass(frozen=True)
class TileWindow:
    """One tile along one axis: the input window and the core it is responsible for (LR pixels).

    Attributes:
        start, stop: input window ``[start, stop)`` fed to the network.
        core_start, core_stop: the part of the window whose output is kept.
    """

    start: int
    stop: int
    core_start: int
    core_stop: int


def tile_windows(length: int, tile: int, *, overlap: int) -> list[TileWindow]:
    """Cut one axis of ``length`` LR pixels into cores of at most ``tile`` with ``overlap`` context.

    The axis is cut into the fewest cores of at most ``tile`` pixels, made as equal as possible
    (``ceil(length / n)`` each, the last one shorter by the remainder): 360 at tile 128 is three
    cores of 120, not 128 + 128 + 104, so no window runs more pixels than it must. Every window has
    the same size ``min(length, core + 2 * overlap)``; windows at the end are shifted inwards.
    Each core pixel is at least ``overlap`` pixels from a window edge that is not the image border.

    Args:
        length: axis length (>= 1).
        tile: core size (>= 1); ``tile >= length`` gives one window.
        overlap: context on each side (>= 0).

    Raises:
        ConfigError: a size out of range.
    """
    if length < 1 or tile < 1 or overlap < 0:
        msg = f"tile_windows needs length >= 1, tile >= 1, overlap >= 0; got {length}, {tile}, "
        msg += f"{overlap}"
        raise ConfigError(msg)
    core = -(-length // -(-length // tile))  # ceil(length / n), n = ceil(length / tile)
    size = min(length, core + 2 * overlap)
    windows = []
    for core_start in range(0, length, core):
        core_stop = min(core_start + core, length)
        start = min(max(core_start - overlap, 0), length - size)
        windows.append(TileWindow(start, start + size, core_start, core_stop))
    return windows


def tiled_forward(
    runner: Runner,
    x: npt.NDArray[np.float32],
    *,
    tile: int,
    overlap: int,
    out: npt.NDArray[np.float32] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> npt.NDArray[np.float32]:
    """Run ``runner`` over ``x`` tile by tile and assemble the upscaled result.

    Errors of the runner propagate unchanged: a failed tile fails the whole call (there is no
    partially filled result to mistake for a good one).

    Args:
        runner: maps float32 ``(N, 3, h, w)`` RGB [0, 1] to float32 ``(N, 3, h*s, w*s)``; its
            ``scale`` attribute gives ``s``.
        x: float32 ``(N, 3, H, W)`` RGB in [0, 1].
        tile: core tile size in LR pixels (>= 1); ``0`` runs the whole image in one call.
        overlap: LR pixels of context on each side of a core (>= 0). With
            ``overlap >= receptive_field(scale)`` the result equals the whole-image result up to
            float rounding; less gives seams.
        out: optional preallocated float32 ``(N, 3, H*s, W*s)`` buffer to write into.
        progress: called as ``progress(done, total)`` after each tile.

    A runner with a ``run_many(items, sink)`` method (OpenVINO, see
    :meth:`~lesrcnn_deploy.runtime.ov.OpenVinoRunner.run_many`) gets all tiles at once and runs
    them as parallel infer requests; the result is the same as one tile after the other.

    Returns:
        float32 ``(N, 3, H*s, W*s)`` RGB, not clipped (``out`` when given).

    Raises:
        ConfigError: bad ``x``, ``tile``, ``overlap`` or ``out``.
        ModelError: the runner returned an array of the wrong shape.
    """
    if not isinstance(x, np.ndarray) or x.ndim != 4 or x.shape[1] != 3 or x.dtype != np.float32:
        shape = getattr(x, "shape", None)
        dtype = getattr(x, "dtype", None)
        msg = f"tiled_forward needs float32 (N, 3, H, W), got {dtype} {shape}"
        raise ConfigError(msg)
    n, _, h, w = x.shape
    if h < 1 or w < 1 or n < 1:
        msg = f"tiled_forward got an empty input {x.shape}"
        raise ConfigError(msg)
    if tile < 0 or overlap < 0:
        msg = f"tile and overlap must be >= 0, got tile={tile}, overlap={overlap}"
        raise ConfigError(msg)
    s = int(runner.scale)
    shape = (n, 3, h * s, w * s)
    if out is None:
        out = np.empty(shape, dtype=np.float32)
    elif out.shape != shape or out.dtype != np.float32:
        msg = f"out must be float32 {shape}, got {out.dtype} {out.shape}"
        raise ConfigError(msg)

    rows = tile_windows(h, tile or h, overlap=overlap)
    cols = tile_windows(w, tile or w, overlap=overlap)
    total = len(rows) * len(cols)
    done = 0

    def patches() -> Iterator[tuple[tuple[TileWindow, TileWindow], npt.NDArray[np.float32]]]:
        for r in rows:
            for c in cols:
                yield (r, c), np.ascontiguousarray(x[:, :, r.start : r.stop, c.start : c.stop])

    def paste(key: tuple[TileWindow, TileWindow], y: npt.NDArray[np.float32]) -> None:
        nonlocal done
        r, c = key
        want = (n, 3, (r.stop - r.start) * s, (c.stop - c.start) * s)
        if y.shape != want:
            got = (n, 3, r.stop - r.start, c.stop - c.start)
            msg = f"model returned {y.shape} for a {got} tile, expected {want}"
            raise ModelError(msg)
        y0, y1 = (r.core_start - r.start) * s, (r.core_stop - r.start) * s
        x0, x1 = (c.core_start - c.start) * s, (c.core_stop - c.start) * s
        out[:, :, r.core_start * s : r.core_stop * s, c.core_start * s : c.core_stop * s] = y[
            :, :, y0:y1, x0:x1
        ]
        done += 1
        if progress is not None:
            progress(done, total)

    run_many = getattr(runner, "run_many", None)
    if run_many is not None and total > 1:  # OpenVINO: the tiles as parallel infer requests
        run_many(patches(), paste)
    else:
        for key, patch in patches():
            paste(key, np.asarray(runner(patch)))
    return out
