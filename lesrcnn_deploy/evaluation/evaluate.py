"""Evaluate a model (ONNX or PyTorch) on a super-resolution dataset under a named protocol."""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..core.errors import ConfigError, DatasetError
from ..core.fileio import atomic_write_json
from ..data import SRDataset, open_dataset, to_rgb_uint8
from ..runtime.base import Runner
from ..runtime.dispatch import open_runner
from .scoring import Protocol, parse_protocol, postprocess, prepare_pair, score, unscorable

__all__ = ["EvaluationResult", "ImageScore", "evaluate", "evaluate_model", "super_resolve"]


@dataclass(frozen=True)
class ImageScore:
    """Score of one image: name, PSNR (dB), SSIM, LR size (w, h)."""

    name: str
    psnr: float
    ssim: float
    lr_size: tuple[int, int]


@dataclass(frozen=True)
class EvaluationResult:
    """Mean and per-image scores of one model on one dataset.

    Attributes:
        psnr, ssim: means over ``images``.
        n: number of images.
        config: everything needed to rerun (model, its sha256, dataset, protocol, versions).
    """

    dataset: str
    scale: int
    protocol: str
    model: str
    psnr: float
    ssim: float
    n: int
    images: tuple[ImageScore, ...]
    seconds: float
    config: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (``images`` as a list of dicts)."""
        d = asdict(self)
        d["images"] = [asdict(i) for i in self.images]
        return d

    def save_json(self, path: str | os.PathLike[str]) -> None:
        """Write :meth:`to_dict` atomically."""
        atomic_write_json(path, self.to_dict())


def super_resolve(runner: Runner, x: np.ndarray) -> np.ndarray:
    """Run ``runner`` on one float32 ``(1, 3, h, w)`` input and check the output shape."""
    y = runner(x)
    want = (1, 3, x.shape[2] * runner.scale, x.shape[3] * runner.scale)
    if tuple(y.shape) != want:
        msg = f"model output shape {tuple(y.shape)} is not {want}"
        raise ValueError(msg)
    return y


def evaluate(
    runner: Runner,
    dataset: SRDataset,
    *,
    protocol: Protocol | str = Protocol.PAPER,
    progress: bool = True,
    model_name: str = "",
    on_image: Callable[[str, np.ndarray, np.ndarray], None] | None = None,
) -> EvaluationResult:
    """Score ``runner`` on every pair of ``dataset``.

    Args:
        runner: see :mod:`lesrcnn_deploy.runtime`; its scale must equal the dataset's.
        dataset: an opened dataset.
        protocol: ``paper`` (Y, border = scale, truncation) or ``seed128`` (card).
        progress: show a tqdm progress bar.
        model_name: recorded in the result.
        on_image: optional callback ``(name, sr_uint8_rgb, reference_uint8_rgb)``.
    """
    from tqdm import tqdm

    proto = parse_protocol(protocol)
    if runner.scale != dataset.scale:
        msg = f"model is x{runner.scale}, dataset {dataset.name} was opened for x{dataset.scale}"
        raise ConfigError(msg)
    scores: list[ImageScore] = []
    t0 = time.perf_counter()
    bar = tqdm(
        dataset.pairs,
        desc=f"{dataset.name} x{dataset.scale} {proto.value}",
        unit="img",
        disable=not progress,
        leave=False,
    )
    for pair in bar:
        if proto is Protocol.PAPER:
            hr, lr = dataset.load(pair)
        else:  # the card resizes the whole HR image, so take it uncropped
            hr_img, lr_img = dataset.load_raw(pair)
            hr, lr = to_rgb_uint8(hr_img), to_rgb_uint8(lr_img)
        reason = unscorable(proto, hr.shape[:2], scale=dataset.scale)
        if reason:  # checked before the model runs: nothing else is relabelled
            msg = f"{pair.hr_path}: cannot be scored under the {proto.value} protocol: {reason}"
            raise DatasetError(msg)
        prepared = prepare_pair(proto, hr, lr=lr, scale=dataset.scale)
        sr = postprocess(proto, super_resolve(runner, prepared.x))
        p, s = score(proto, sr, reference=prepared.reference, scale=dataset.scale)
        if on_image is not None:
            on_image(pair.name, sr, prepared.reference)
        scores.append(ImageScore(pair.name, p, s, (lr.shape[1], lr.shape[0])))
    seconds = time.perf_counter() - t0
    if not scores:
        msg = f"dataset {dataset.name} has no images"
        raise DatasetError(msg)
    config = {
        "dataset_root": str(dataset.root),
        "dataset_layout": dataset.layout,
        "protocol": proto.value,
        "runner": runner.kind,
        "python": platform.python_version(),
        "lesrcnn_deploy": __version__,
    }
    return EvaluationResult(
        dataset=dataset.name,
        scale=dataset.scale,
        protocol=proto.value,
        model=model_name,
        psnr=float(np.mean([i.psnr for i in scores])),
        ssim=float(np.mean([i.ssim for i in scores])),
        n=len(scores),
        images=tuple(scores),
        seconds=seconds,
        config=config,
    )


def evaluate_model(
    model: str | os.PathLike[str],
    dataset: str | os.PathLike[str],
    *,
    scale: int | None = None,
    protocol: Protocol | str = Protocol.PAPER,
    limit: int | None = None,
    threads: int | None = None,
    progress: bool = True,
    runtime: str = "ort",
    precision: str | None = None,
    compute: str = "f32",
) -> EvaluationResult:
    """One call: open the ``.onnx``/``.pth`` ``model`` and the ``dataset`` folder, then evaluate.

    ``scale`` (``None``: the model's own; required for a blind checkpoint) and ``precision``
    (the ``.onnx`` file's, ``"int8"``/``"fp32"``; ``None``: any) are checked against the model.
    ``runtime`` (``"ort"``, ``"openvino"``, ``"auto"``) and ``compute`` (``"f32"``, ``"bf16"``)
    choose how an ``.onnx`` runs (:mod:`lesrcnn_deploy.runtime.choice`); the runtime that ran is
    recorded in ``config["runtime"]``.
    """
    from ..models import open_model
    from ..runtime.choice import resolve_runtime

    choice = None
    digest = ""
    if Path(model).suffix.lower() == ".onnx":
        asked = "bf16" if compute == "bf16" else ""
        record = open_model(model, scale=scale or 0, precision=precision or "", asked=asked)
        choice = resolve_runtime(record, runtime, compute=compute, threads=threads)
        runner: Runner = open_runner(record, threads=threads, choice=choice)
        digest = record.sha256
    else:
        from ..core.fileio import sha256_file

        runner = open_runner(model, scale=scale, threads=threads, runtime=runtime, compute=compute)
        digest = sha256_file(model)
    ds = open_dataset(dataset, runner.scale, limit=limit)
    result = evaluate(runner, ds, protocol=protocol, progress=progress, model_name=str(model))
    result.config.update(
        {
            "model_path": str(Path(model)),
            "model_sha256": digest,
            "limit": limit,
            "threads": threads,
            "runtime": choice.runtime if choice is not None else "torch",
            "runtime_note": choice.note if choice is not None else "runtime: PyTorch",
        }
    )
    return result
