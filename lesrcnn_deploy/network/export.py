"""PyTorch -> ONNX export with PixelShuffle as DepthToSpace, metadata, and a parity gate.

The exported model is written only after it passes ``onnx.checker`` and matches the PyTorch model
(max abs diff <= ``tolerance``) on a random input and on a real image; otherwise nothing is written.
"""

from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import torch

from .. import __version__
from ..core.errors import ExportError, one_line
from ..core.fileio import atomic_path, atomic_write_json, sha256_file
from ..core.onnx_io import open_session, write_metadata
from .lesrcnn import LESRCNN, check_scale

__all__ = ["OPSET", "PARITY_TOLERANCE", "ExportResult", "export_onnx", "parity_image"]

OPSET = 17
PARITY_TOLERANCE = 1e-4


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote and how it was checked.

    Attributes:
        path: the ONNX file.
        manifest: the JSON manifest beside it.
        scale: upscaling factor of the exported graph.
        sha256: SHA256 of the ONNX file.
        parity_random: max abs diff ONNX vs PyTorch on a random input.
        parity_image: max abs diff on a real image.
        depth_to_space: number of DepthToSpace nodes in the graph.
    """

    path: Path
    manifest: Path
    scale: int
    sha256: str
    parity_random: float
    parity_image: float
    depth_to_space: int


def parity_image(size: int = 96) -> tuple[np.ndarray, str]:
    """A real photo, RGB float32 ``(1, 3, size, size)`` in [0, 1], and its description.

    Uses scikit-image's ``astronaut`` sample (ships with the package), area-downscaled.
    """
    import cv2
    from skimage import data

    img = np.asarray(data.astronaut())  # RGB uint8 512x512
    small = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
    x = small.astype(np.float32).transpose(2, 0, 1)[None] / np.float32(255.0)
    return np.ascontiguousarray(x), f"skimage.data.astronaut, INTER_AREA to {size}x{size}"


class _FixedScale(torch.nn.Module):
    """Binds a scale to a (possibly blind) model so the traced graph has one input."""

    def __init__(self, model: LESRCNN, scale: int) -> None:
        super().__init__()
        self.model = model
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x, self.scale)


def _max_diff(session: ort.InferenceSession, module: torch.nn.Module, x: np.ndarray) -> float:
    with torch.inference_mode():
        ref = module(torch.from_numpy(x)).numpy()
    out = session.run(None, {"input": x})[0]
    if out.shape != ref.shape:
        msg = f"ONNX output shape {out.shape} differs from PyTorch {ref.shape}"
        raise ExportError(msg)
    return float(np.max(np.abs(out - ref)))


def export_onnx(
    model: LESRCNN,
    output: str | os.PathLike[str],
    *,
    scale: int | None = None,
    input_size: int | None = None,
    checkpoint_sha256: str = "",
    checkpoint_path: str = "",
    reference: LESRCNN | None = None,
    tolerance: float = PARITY_TOLERANCE,
) -> ExportResult:
    """Export ``model`` to ONNX (opset 17, TorchScript exporter) and check it.

    Args:
        model: the network to export (e.g. with ``fuse_upsample=True``).
        output: destination ``.onnx``; a manifest ``<stem>.json`` is written beside it.
        scale: required for a blind model (the head to export); must match a fixed model.
        input_size: fixed square LR input size; ``None`` exports dynamic N, H, W.
        checkpoint_sha256: digest of the source checkpoint, recorded in the metadata.
        checkpoint_path: where the checkpoint came from (manifest only).
        reference: the model that parity is checked against (defaults to ``model``); pass the
            official unfused model to prove a fused export computes the same function.
        tolerance: max abs diff allowed on either parity input.

    Raises:
        ExportError: the checker or a parity check failed; nothing is written then.
    """
    s = _export_scale(model, scale, input_size)
    output = Path(output)
    module = _FixedScale(model.eval(), s).eval()
    ref_module = _FixedScale((reference or model).eval(), s).eval()
    size = input_size or 64
    proto = _trace(module, size=size, dynamic=input_size is None)
    meta = {
        "scale": str(s),
        "model": "LESRCNN" + ("-blind" if model.is_blind else ""),
        "precision": "fp32",
        "input": "RGB float32 in [0, 1], NCHW",
        "output": "RGB float32, NCHW, (H*scale, W*scale); clip to [0, 1]",
        "fused_upsample": str(bool(model.fuse_upsample)).lower(),
        "checkpoint_sha256": checkpoint_sha256,
        "toolkit_version": __version__,
    }
    write_metadata(proto, meta)
    proto.producer_name = "lesrcnn-deploy"
    proto.producer_version = __version__
    ops = _checked_ops(proto)
    data = proto.SerializeToString()
    session = open_session(data)
    rnd = np.random.default_rng(0).random((1, 3, size, size), dtype=np.float32)
    diff_rnd = _max_diff(session, ref_module, rnd)
    img, img_desc = parity_image(size if input_size else 96)
    diff_img = _max_diff(session, ref_module, img)
    if input_size is None:  # a non-square input checks the dynamic axes too
        diff_rnd = max(diff_rnd, _max_diff(session, ref_module, rnd[:, :, :40, :]))
    if not (diff_rnd <= tolerance and diff_img <= tolerance):
        msg = (
            f"parity check failed: max abs diff {diff_rnd:.2e} (random), {diff_img:.2e} "
            f"(image) > {tolerance:.0e}; nothing written"
        )
        raise ExportError(msg)
    with atomic_path(output) as tmp:
        tmp.write_bytes(data)
    digest = sha256_file(output)
    manifest = output.with_suffix(".json")
    record = _Record(meta, checkpoint_path, checkpoint_sha256, input_size, tolerance, img_desc)
    atomic_write_json(
        manifest, _manifest(output, digest, record, diffs=(diff_rnd, diff_img), ops=ops)
    )
    return ExportResult(output, manifest, s, digest, diff_rnd, diff_img, ops.count("DepthToSpace"))


def _export_scale(model: LESRCNN, scale: int | None, input_size: int | None) -> int:
    """The scale to export (``scale``, else the model's), checked with ``input_size``."""
    s = check_scale(scale) if scale is not None else model.scale
    if s is None:
        msg = "the blind model exports one head at a time: give scale=2, 3 or 4"
        raise ExportError(msg)
    if model.scale is not None and model.scale != s:
        msg = f"asked to export scale {s} from a x{model.scale} model"
        raise ExportError(msg)
    if input_size is not None and input_size < 8:
        msg = f"input size must be >= 8, got {input_size}"
        raise ExportError(msg)
    return s


def _trace(module: torch.nn.Module, *, size: int, dynamic: bool) -> onnx.ModelProto:
    """The ONNX graph of ``module`` (TorchScript exporter, opset :data:`OPSET`), traced on a
    seeded ``size`` x ``size`` input; ``dynamic``: batch, height and width axes are dynamic."""
    dummy = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(0))
    axes = None
    if dynamic:
        axes = {
            "input": {0: "batch", 2: "height", 3: "width"},
            "output": {0: "batch", 2: "out_height", 3: "out_width"},
        }
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            (dummy,),
            buf,  # type: ignore[arg-type]  # file-like objects are accepted
            dynamo=False,
            opset_version=OPSET,
            input_names=["input"],
            output_names=["output"],
            dynamic_axes=axes,
            do_constant_folding=True,
        )
    return onnx.load_from_string(buf.getvalue())


def _checked_ops(proto: onnx.ModelProto) -> list[str]:
    """The graph's operator types, after the full ONNX check and a DepthToSpace present."""
    try:
        onnx.checker.check_model(proto, full_check=True)
    except onnx.checker.ValidationError as exc:
        msg = f"exported graph fails the ONNX checker: {one_line(exc)}"
        raise ExportError(msg) from exc
    ops = [n.op_type for n in proto.graph.node]
    if "DepthToSpace" not in ops:
        msg = "exported graph has no DepthToSpace: PixelShuffle was not mapped"
        raise ExportError(msg)
    return ops


@dataclass(frozen=True)
class _Record:
    """What the manifest records besides the file: metadata, source, export and parity set-up."""

    meta: dict[str, str]
    checkpoint_path: str
    checkpoint_sha256: str
    input_size: int | None
    tolerance: float
    image: str


def _manifest(
    output: Path, digest: str, record: _Record, *, diffs: tuple[float, float], ops: list[str]
) -> dict[str, Any]:
    """The ``<stem>.json`` manifest of an export (``diffs``: random and image parity)."""
    return {
        "artifact": output.name,
        "sha256": digest,
        "metadata": record.meta,
        "checkpoint": {"path": record.checkpoint_path, "sha256": record.checkpoint_sha256},
        "export": {
            "opset": OPSET,
            "exporter": "torch.onnx.export(dynamo=False)",
            "input_size": record.input_size,
            "dynamic": record.input_size is None,
        },
        "parity": {
            "tolerance": record.tolerance,
            "random_max_abs_diff": diffs[0],
            "image_max_abs_diff": diffs[1],
            "image": record.image,
            "reference": "official (unfused) PyTorch forward",
        },
        "versions": {
            "torch": torch.__version__,
            "onnx": onnx.__version__,
            "onnxruntime": ort.__version__,
            "numpy": np.__version__,
            "lesrcnn_deploy": __version__,
        },
        "nodes": {op: ops.count(op) for op in sorted(set(ops))},
    }
