"""Group the folder job's images into Ray rows of about a second of work each.

Ray Data spends about 0.1 s scheduling each batch (ray-project/ray#42377), as long as upscaling a
256x256 image at x2 int8 takes: one image per batch made the Ray folder job 1.5x slower per image
than the local command. Ray's guidance is batches of a second of compute or more, so the driver
groups the images from their sizes (read from the file headers, nothing decoded): each group holds
about :data:`TARGET_SECONDS` of work at :data:`SECONDS_PER_PIXEL`, and there are at least
:data:`MIN_GROUPS_PER_ACTOR` groups per actor when the folder is large enough, so no actor idles
while another finishes a long group.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

__all__ = ["MIN_GROUPS_PER_ACTOR", "SECONDS_PER_PIXEL", "TARGET_SECONDS", "group_jobs"]

TARGET_SECONDS = 1.0
"""Work per Ray row (batch), in seconds."""

MIN_GROUPS_PER_ACTOR = 3
"""Rows per actor at least (when there are that many images)."""

SECONDS_PER_PIXEL: dict[str, float] = {"int8": 3.0e-6, "fp32": 9.0e-6, "bf16": 6.0e-6}
"""Seconds per input pixel on one thread, by precision (x2 on a 2-core AVX-512 VNNI EPYC: 0.1 s
for a 256x256 int8 image on 2 threads); a guide for the grouping, not a promise."""


def _pixels(path: Path) -> int:
    """The image's pixels from its header; a typical 512x512 when unreadable (its row fails)."""
    from ..core.errors import ImageError
    from ..data.image_io import read_image_size

    try:
        h, w = read_image_size(path)
    except (ImageError, OSError):
        return 512 * 512
    return h * w


def group_jobs(
    sources: Sequence[Path], *, precision: str, cpus: int, actors: int
) -> list[list[int]]:
    """Indices into ``sources`` grouped in order, each group about a second of work.

    Args:
        sources: the images to upscale.
        precision: the model precision (its cost per pixel, :data:`SECONDS_PER_PIXEL`).
        cpus: CPUs (threads) of each actor.
        actors: actors in the pool.
    """
    rate = SECONDS_PER_PIXEL.get(precision, SECONDS_PER_PIXEL["fp32"]) / max(1, cpus)
    costs = [_pixels(p) * rate for p in sources]
    total = sum(costs)
    budget = min(TARGET_SECONDS, total / max(1, actors * MIN_GROUPS_PER_ACTOR))
    groups: list[list[int]] = []
    current: list[int] = []
    spent = 0.0
    for i, cost in enumerate(costs):
        if current and spent + cost > budget:
            groups.append(current)
            current, spent = [], 0.0
        current.append(i)
        spent += cost
    if current:
        groups.append(current)
    return groups
