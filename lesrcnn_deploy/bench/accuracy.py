"""fp32 vs int8 accuracy on every dataset, under the ``paper`` and ``seed128`` protocols.

Published numbers come from the weights registry: the paper's Tables 4-7 (``paper`` protocol, Y
channel) by dataset name, and the model-zoo card's DIV2K numbers (``seed128``, fp32 and its own
int8) when the card table is computed on DIV2K validation.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..data import SRDataset, open_dataset
from ..evaluation.evaluate import EvaluationResult, evaluate
from ..evaluation.scoring import Protocol
from ..runtime.base import Runner
from ..weights import get_weights

__all__ = [
    "Comparison",
    "compare",
    "paper_name",
    "published",
]

_ALIASES = {
    "set5": "Set5",
    "set14": "Set14",
    "b100": "B100",
    "bsd100": "B100",
    "bsds100": "B100",
    "urban100": "Urban100",
}


def paper_name(dataset_name: str) -> str | None:
    """The paper's name of a benchmark set (``"bsd100"`` -> ``"B100"``), or None if unknown."""
    return _ALIASES.get(dataset_name.lower())


def published(scale: int, dataset_name: str, *, protocol: Protocol) -> dict[str, float]:
    """Published numbers for this row: keys among ``psnr``, ``ssim``, ``int8_psnr``, ``int8_ssim``.

    ``paper``: the paper's Y-channel PSNR/SSIM for a known set. ``seed128``: the card's DIV2K
    numbers, only for a DIV2K dataset (name starting with ``DIV2K``). Empty when nothing applies.
    """
    metrics = get_weights(scale).metrics
    if protocol is Protocol.PAPER:
        name = paper_name(dataset_name)
        if name is None or name not in metrics:
            return {}
        m = metrics[name]
        return {"psnr": m["psnr_y"], "ssim": m["ssim_y"]}
    if dataset_name.upper().startswith("DIV2K") and "DIV2K_seed128" in metrics:
        return dict(metrics["DIV2K_seed128"])
    return {}


@dataclass(frozen=True)
class Comparison:
    """fp32 and int8 of one scale on one dataset under one protocol.

    Attributes:
        scale: upscaling factor.
        dataset: dataset name (e.g. ``"Set14"``).
        label: how the report names the dataset (e.g. with a "stand-in" note).
        protocol: ``"paper"`` or ``"seed128"``.
        fp32: the fp32 evaluation.
        int8: the int8 evaluation, or None when no int8 model was given.
        reference: published numbers (see :func:`published`).
    """

    scale: int
    dataset: str
    label: str
    protocol: str
    fp32: EvaluationResult
    int8: EvaluationResult | None
    reference: dict[str, float]

    @property
    def drop_db(self) -> float | None:
        """fp32 PSNR - int8 PSNR, dB (positive = int8 worse); None without int8."""
        return None if self.int8 is None else self.fp32.psnr - self.int8.psnr

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (means and per-image scores of both precisions)."""
        return {
            "scale": self.scale,
            "dataset": self.dataset,
            "label": self.label,
            "protocol": self.protocol,
            "n": self.fp32.n,
            "fp32": {"psnr": self.fp32.psnr, "ssim": self.fp32.ssim},
            "int8": None if self.int8 is None else {"psnr": self.int8.psnr, "ssim": self.int8.ssim},
            "drop_db": self.drop_db,
            "reference": self.reference,
            "images": {
                "fp32": [[i.name, i.psnr, i.ssim] for i in self.fp32.images],
                "int8": None
                if self.int8 is None
                else [[i.name, i.psnr, i.ssim] for i in self.int8.images],
            },
        }


def compare(
    fp32: Runner,
    int8: Runner | None,
    *,
    dataset: SRDataset | str | os.PathLike[str],
    scale: int,
    protocol: Protocol,
    label: str | None = None,
    progress: bool = True,
) -> Comparison:
    """Evaluate ``fp32`` and ``int8`` runners on one dataset under one protocol.

    Args:
        fp32: fp32 runner of ``scale``.
        int8: int8 runner of ``scale`` or None.
        dataset: an opened dataset or its folder.
        scale: upscaling factor.
        protocol: ``Protocol.PAPER`` or ``Protocol.SEED128``.
        label: report name of the dataset (default: its name).
        progress: tqdm bars.
    """
    ds = dataset if isinstance(dataset, SRDataset) else open_dataset(Path(dataset), scale)
    r32 = evaluate(fp32, ds, protocol=protocol, progress=progress, model_name="fp32")
    r8 = (
        None
        if int8 is None
        else evaluate(int8, ds, protocol=protocol, progress=progress, model_name="int8")
    )
    return Comparison(
        scale=scale,
        dataset=ds.name,
        label=label or ds.name,
        protocol=protocol.value,
        fp32=r32,
        int8=r8,
        reference=published(scale, ds.name, protocol=protocol),
    )
