"""The "Any output size" section: ``--outscale 3`` done as x4 then a downscale, beside the x3 model.

``upscale --outscale 3 --scale 4`` runs the x4 network and area-averages its output down to x3
(:func:`~lesrcnn_deploy.data.outsize.resize_to`). This scores that path on Set14 under the paper
protocol (Y channel, border 3) next to the x3 model's own score: what a user gives up (or gains) by
taking the x4 model for a x3 output. Here the area resize runs on the network's float output
(``cv2.INTER_AREA``, as ``resize_to`` does on 8-bit pixels) so that the paper's truncation to 8
bits applies once, as for the x3 row. Cost: one x4 pass over Set14's x3 inputs (seconds).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..data import SRDataset
from ..evaluation.evaluate import EvaluationResult, evaluate
from ..evaluation.scoring import Protocol
from ..runtime.base import Runner
from ..runtime.dispatch import open_runner

__all__ = ["AreaDownscaled", "bench_outscale"]


class AreaDownscaled:
    """A runner of scale ``target``: ``runner`` (a larger scale), then area averaging to ``target``.

    Args:
        runner: e.g. the x4 model.
        target: the output scale, smaller than ``runner.scale``.
    """

    def __init__(self, runner: Runner, target: int) -> None:
        self.runner = runner
        self.scale = target
        self.kind = f"{runner.kind}+area"

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Upscale the ``(1, 3, h, w)`` float32 batch to ``(1, 3, h * target, w * target)``."""
        y = np.asarray(self.runner(x))[0].transpose(1, 2, 0)
        h, w = x.shape[2] * self.scale, x.shape[3] * self.scale
        small = cv2.resize(np.ascontiguousarray(y), (w, h), interpolation=cv2.INTER_AREA)
        return np.ascontiguousarray(small.transpose(2, 0, 1)[None], dtype=np.float32)


def bench_outscale(
    model_x4: str | os.PathLike[str],
    dataset: SRDataset,
    *,
    x3: EvaluationResult,
    precision: str,
    threads: int,
    progress: bool = False,
) -> dict[str, Any]:
    """Score ``--outscale 3 --scale 4`` on ``dataset`` (opened at x3) beside ``x3``.

    Args:
        model_x4: the x4 model (same precision as ``x3``'s).
        dataset: Set14 opened for x3.
        x3: the x3 model's paper-protocol result on the same dataset.
        precision: names the rows (``"int8"``).
        threads: ONNX Runtime threads.
        progress: tqdm bar.

    Returns:
        ``{"rows": [...], "markdown": ...}`` (PSNR/SSIM on Y, border 3).
    """
    runner = AreaDownscaled(open_runner(Path(model_x4), runtime="ort", threads=threads, scale=4), 3)
    via_x4 = evaluate(
        runner, dataset, protocol=Protocol.PAPER, progress=progress, model_name="x4+area"
    )
    rows = [
        {"method": f"x3 model ({precision})", "psnr": x3.psnr, "ssim": x3.ssim},
        {
            "method": f"x4 model ({precision}), area down to x3 (`--outscale 3 --scale 4`)",
            "psnr": via_x4.psnr,
            "ssim": via_x4.ssim,
        },
    ]
    lines = [
        f"`--outscale 3` on {dataset.name} ({via_x4.n} images, paper protocol: Y, border 3):",
        "",
        "| method | PSNR (dB) | SSIM |",
        "|---|---:|---:|",
        *(f"| {r['method']} | {r['psnr']:.2f} | {r['ssim']:.4f} |" for r in rows),
        "",
        f"Difference (x4 + area minus x3): {via_x4.psnr - x3.psnr:+.2f} dB. Without `--scale`, "
        "`--outscale 3` runs the x3 model (the smallest scale that reaches x3).",
    ]
    return {"rows": rows, "markdown": "\n".join(lines)}
