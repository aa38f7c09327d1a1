"""Upscale real images with LESRCNN on ONNX Runtime: any size (tiled), format, int8 or fp32.

Python API: ``Upscaler(scale=2, precision="int8").upscale(image) -> image`` on ``(H, W[, C])``
uint8 / uint16 gray, RGB or RGBA arrays.
Command line: ``lesrcnn-deploy upscale INPUT... --scale S``.
"""

from ..core.vocab import DEFAULT_TILES as DEFAULT_TILES
from .api import Upscaler as Upscaler
from .batch import BatchResult as BatchResult
from .batch import Outcome as Outcome
from .batch import run_batch as run_batch
from .plan import Job as Job
from .plan import plan_jobs as plan_jobs
from .tiling import receptive_field as receptive_field
from .tiling import tile_windows as tile_windows
from .tiling import tiled_forward as tiled_forward

__all__ = [
    "DEFAULT_TILES",
    "BatchResult",
    "Job",
    "Outcome",
    "Upscaler",
    "plan_jobs",
    "receptive_field",
    "run_batch",
    "tile_windows",
    "tiled_forward",
]
