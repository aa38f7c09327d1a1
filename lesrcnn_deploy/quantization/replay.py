"""Replay: an fp32 LESRCNN ONNX model + a recipe -> a checked int8 model, in seconds, exactly.

:func:`apply_recipe`: the exact fp32 graph rewrites (:mod:`.graph`), the recipe's trained tensors,
identity layout anchors (:func:`~.graph.insert_layout_anchors`), ONNX Runtime's static QDQ
quantizer (:mod:`.ort_backend`) with the recipe's ranges, the recipe's int8 output-conv weights
attached as they are (:func:`~.tail_weights.attach_tail_weights`), the PixelShuffle check
(:mod:`.check`: every DepthToSpace of the ORT-optimized graph reads and writes 8 bits, or nothing
is written), then an atomic write of the model and its manifest (:mod:`.manifest`). The same fp32
model and recipe always give a byte-identical int8 model: no float arithmetic depends on the CPU.
The slow, seeded part that makes a recipe is :mod:`.train`.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
from onnx import numpy_helper

from ..core.errors import CalibrationError, ModelError
from ..core.fileio import atomic_path, sha256_file
from ..core.onnx_io import proto_metadata, write_metadata
from .calibration import CalibrationTable
from .check import DepthToSpaceInfo, check_depth_to_space_int8
from .config import QuantizationConfig
from .graph import check_lesrcnn_graph, insert_layout_anchors, prepare_graph, resolve_layers
from .manifest import manifest_path, write_manifest
from .ort_backend import run_ort_quantizer, verify_weight_grid
from .recipe import Recipe, RecipeMismatch, config_digest
from .tail_weights import attach_tail_weights, is_tail_tensor

__all__ = ["QuantizationResult", "apply_recipe"]


@dataclass(frozen=True)
class QuantizationResult:
    """What :func:`apply_recipe` wrote.

    Attributes:
        path: the int8 model.
        manifest_path: the JSON manifest beside it.
        sha256: digest of the int8 model file.
        recipe: the recipe applied (configuration, calibration, trained tensors).
        depth_to_space: the PixelShuffle check's findings (all 8-bit).
        fp32_layers: ONNX node names left in fp32.
    """

    path: Path
    manifest_path: Path
    sha256: str
    recipe: Recipe
    depth_to_space: tuple[DepthToSpaceInfo, ...]
    fp32_layers: tuple[str, ...]

    @property
    def config(self) -> QuantizationConfig:
        """The quantization configuration used."""
        return self.recipe.config

    @property
    def calibration(self) -> CalibrationTable:
        """The calibration table used (before training)."""
        return self.recipe.calibration

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (also what the manifest holds)."""
        r = self.recipe
        return {
            "sha256": self.sha256,
            "preset": r.config.name,
            "config": r.config.to_dict(),
            "config_sha256": r.config_sha256,
            "recipe_sha256": r.sha256,
            "calibration": {
                "config": r.calibration.calibration.to_dict(),
                "images": dict(r.calibration.images),
                "skipped": list(r.calibration.skipped),
                "tensors": len(r.calibration.ranges),
            },
            "fp32_layers": list(self.fp32_layers),
            "depth_to_space": [
                {"node": d.node, "input": d.input_type, "output": d.output_type}
                for d in self.depth_to_space
            ],
            "training": dict(r.training),
        }


def _load_fp32(path: Path) -> tuple[onnx.ModelProto, dict[str, str]]:
    if not path.is_file():
        msg = f"{path}: fp32 model not found (run `make export` first)"
        raise ModelError(msg)
    try:
        model = onnx.load(os.fspath(path))
    except Exception as exc:  # DecodeError and friends on garbage
        msg = f"{path}: not a readable ONNX model ({type(exc).__name__})"
        raise ModelError(msg) from None
    meta = proto_metadata(model)
    if meta.get("precision", "fp32") != "fp32":
        msg = f"{path}: already quantized (precision {meta['precision']}); give the fp32 model"
        raise ModelError(msg)
    if any(n.op_type in ("QuantizeLinear", "DequantizeLinear") for n in model.graph.node):
        msg = f"{path}: already holds QuantizeLinear/DequantizeLinear nodes; give the fp32 model"
        raise ModelError(msg)
    check_lesrcnn_graph(model, str(path))
    return model, meta


def _prepare(model: onnx.ModelProto, cfg: QuantizationConfig) -> onnx.ModelProto:
    return prepare_graph(
        model,
        relu_first=cfg.relu_before_depth_to_space,
        fold_shift=cfg.fold_output_shift,
        zero_biases=cfg.trains_biases,
    )


def _scale_of(meta: Mapping[str, str], src: Path) -> int:
    try:
        scale = int(meta.get("scale", ""))
    except ValueError:
        scale = 0
    if scale not in (2, 3, 4):
        msg = f"{src}: training needs the lesrcnn.scale metadata (2, 3 or 4) of an exported model"
        raise ModelError(msg)
    return scale


def _activation_tensors(model: onnx.ModelProto) -> set[str]:
    """Float tensors that ORT's calibrator records (inputs and outputs of every node)."""
    inits = {i.name for i in model.graph.initializer}
    names = {model.graph.input[0].name}
    for n in model.graph.node:
        names.update(t for t in (*n.input, *n.output) if t and t not in inits)
    return names


def _check_ranges(ranges: Mapping[str, Any], model: onnx.ModelProto, where: str) -> None:
    missing = sorted(_activation_tensors(model) - set(ranges))
    if missing:
        msg = (
            f"{where}: calibration ranges lack {len(missing)} tensor(s) of this model (e.g. "
            f"{missing[0]!r}); they were made for another model or graph configuration"
        )
        raise CalibrationError(msg)


def _with_tensors(
    prepared: onnx.ModelProto, tensors: Mapping[str, npt.NDArray[np.generic]], where: str
) -> onnx.ModelProto:
    out = onnx.ModelProto()
    out.CopyFrom(prepared)
    by_name = {i.name: i for i in out.graph.initializer}
    for name, value in tensors.items():
        init = by_name.get(name)
        if init is None or tuple(init.dims) != value.shape:
            found = None if init is None else tuple(init.dims)
            msg = (
                f"{where}: trained tensor {name!r} {value.shape} does not fit this graph "
                f"({found}); the recipe was made for another model or configuration"
            )
            raise RecipeMismatch(msg)
        init.CopyFrom(numpy_helper.from_array(np.asarray(value, dtype=np.float32), name))
    return out


def _build_qdq(
    model: onnx.ModelProto, recipe: Recipe, where: str, *, with_tail: bool
) -> tuple[onnx.ModelProto, list[str]]:
    """The int8 QDQ graph of ``recipe`` on the fp32 ``model`` (before the metadata and the
    DepthToSpace check), and the layers left in float. ``with_tail`` attaches the recipe's int8
    output-conv weights."""
    cfg = recipe.config
    prepared = _prepare(model, cfg)
    exclude = resolve_layers(prepared, cfg.keep_float)
    _check_ranges(recipe.ranges, prepared, where)
    float_tensors = {k: v for k, v in recipe.tensors.items() if not is_tail_tensor(k)}
    trained = _with_tensors(prepared, float_tensors, where)
    final = onnx.ModelProto()
    final.CopyFrom(trained)
    ranges = dict(recipe.ranges)
    if cfg.layout_anchors:
        for anchor, anchored in insert_layout_anchors(final, exclude).items():
            ranges[anchor] = ranges[anchored]  # same scale and zero point: exact identity
    with tempfile.TemporaryDirectory(prefix="lesrcnn-quant-") as tmp_dir:
        tmp = Path(tmp_dir)
        final_path, qdq_path = tmp / "final.onnx", tmp / "qdq.onnx"
        onnx.save(final, os.fspath(final_path))
        run_ort_quantizer(final_path, qdq_path, ranges=ranges, config=cfg, exclude=exclude)
        qdq = onnx.load(os.fspath(qdq_path))
    if cfg.weight_rounding is not None:
        verify_weight_grid(qdq, trained)
    if with_tail and cfg.tail_weights is not None:
        tail = {k: v for k, v in recipe.tensors.items() if is_tail_tensor(k)}
        if not tail:
            msg = f"{where}: the configuration asks for int8 tail weights, the recipe has none"
            raise RecipeMismatch(msg)
        attach_tail_weights(qdq, tail, where=where)
    return qdq, exclude


def apply_recipe(
    fp32: str | os.PathLike[str],
    recipe: Recipe,
    *,
    output: str | os.PathLike[str],
    recipe_source: str = "",
) -> QuantizationResult:
    """Build the int8 model of ``fp32`` from ``recipe`` (seconds, no training, no calibration).

    Args:
        fp32: the fp32 model the recipe was made for (checked by SHA256).
        recipe: see :mod:`.recipe`.
        output: where to write (:func:`lesrcnn_deploy.models.int8_beside` names the default
            beside ``fp32``). The manifest goes beside it (:func:`.manifest.manifest_path`).
        recipe_source: where the recipe came from (a path, recorded in the manifest).

    Returns:
        A :class:`QuantizationResult`.

    Raises:
        ModelError: ``fp32`` is missing, unreadable, already quantized or not LESRCNN.
        RecipeMismatch: the recipe belongs to another fp32 model or does not fit its graph.
        QuantizationError: a DepthToSpace would run in float, or rounded weights were not kept;
            nothing is written then.
    """
    src = Path(fp32)
    out = Path(output)
    model, meta = _load_fp32(src)
    fp32_sha = sha256_file(src)
    where = recipe_source or "recipe"
    recipe.check_applies_to(fp32_sha, None, where=where)
    cfg = recipe.config
    qdq, exclude = _build_qdq(model, recipe, where, with_tail=True)
    with tempfile.TemporaryDirectory(prefix="lesrcnn-quant-") as tmp_dir:
        tmp = Path(tmp_dir)
        write_metadata(
            qdq,
            {
                "precision": "int8",
                "quantization": str(cfg),
                "quantization_config": json.dumps(cfg.to_dict(), sort_keys=True),
                "config_sha256": config_digest(cfg),
                "recipe_sha256": recipe.sha256,
                "calibration": json.dumps(recipe.calibration.calibration.to_dict(), sort_keys=True),
                "fp32_sha256": fp32_sha,
            },
            sort=True,
        )
        qdq.producer_name = "lesrcnn-deploy"
        int8_tmp = tmp / "int8.onnx"
        onnx.save(qdq, os.fspath(int8_tmp))
        d2s = check_depth_to_space_int8(int8_tmp)
        with atomic_path(out) as target:
            target.write_bytes(int8_tmp.read_bytes())
    result = QuantizationResult(
        path=out,
        manifest_path=manifest_path(out),
        sha256=sha256_file(out),
        recipe=recipe,
        depth_to_space=tuple(d2s),
        fp32_layers=tuple(exclude),
    )
    write_manifest(
        result.manifest_path,
        artifact=out,
        sha256=result.sha256,
        source={"path": str(src), "sha256": fp32_sha, "metadata": meta},
        recipe_source=recipe_source,
        summary=result.to_dict(),
    )
    return result
