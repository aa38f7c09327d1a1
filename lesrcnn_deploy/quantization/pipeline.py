"""From an fp32 LESRCNN ONNX model to a checked int8 model: train a recipe, then apply it.

:func:`train_recipe` is the slow, seeded part: exact fp32 graph rewrites (:mod:`.graph`),
calibration (:mod:`.calibration`, or a given :class:`~.calibration.CalibrationTable`), then
quantization-aware fine-tuning (:mod:`.finetune`) or weight rounding (:mod:`.weight_rounding`) on
a first QDQ graph, then (``tail_weights``) GPTQ int8 weights for the float output conv fitted on
the trained int8 graph (:mod:`.tail_weights`). Its result is a :class:`~.recipe.Recipe`.

:func:`apply_recipe` is the fast, exact part (seconds): the same rewrites, the recipe's trained
tensors, identity layout anchors (:func:`~.graph.insert_layout_anchors`), ONNX Runtime's static
QDQ quantizer (:mod:`.ort_backend`) with the recipe's ranges, the recipe's int8 output-conv
weights attached as they are (:func:`~.tail_weights.attach_tail_weights`), the PixelShuffle check
(:mod:`.check`: every DepthToSpace of the ORT-optimized graph reads and writes 8 bits, or nothing
is written), then an atomic write of the model and its manifest (:mod:`.manifest`).

:func:`quantize_model` is both in one call. The same fp32 model and recipe always give a
byte-identical int8 model.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
from onnx import numpy_helper

from ..errors import CalibrationError, ConfigError, ModelError
from ..fileio import atomic_path, sha256_file
from ..runtime import META_PREFIX
from ..versions import library_versions
from .calibration import (
    CalibrationTable,
    calibrate,
    collect_patches,
    load_calibration_images,
)
from .check import DepthToSpaceInfo, check_depth_to_space_int8
from .config import CalibrationConfig, QuantizationConfig
from .graph import check_lesrcnn_graph, insert_layout_anchors, prepare_graph, resolve_layers
from .manifest import write_manifest
from .ort_backend import run_ort_quantizer, verify_weight_grid
from .recipe import Recipe, RecipeMismatch, config_digest
from .tail_weights import attach_tail_weights, fit_tail_weights, is_tail_tensor

__all__ = [
    "QuantizationResult",
    "apply_recipe",
    "default_output_path",
    "quantize_model",
    "train_recipe",
]


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


def default_output_path(fp32: str | os.PathLike[str]) -> Path:
    """``models/lesrcnn_x2.onnx`` -> ``models/lesrcnn_x2_int8.onnx``."""
    p = Path(fp32)
    return p.with_name(f"{p.stem}_int8.onnx")


def _load_fp32(path: Path) -> tuple[onnx.ModelProto, dict[str, str]]:
    if not path.is_file():
        msg = f"{path}: fp32 model not found (run `make export` first)"
        raise ModelError(msg)
    try:
        model = onnx.load(os.fspath(path))
    except Exception as exc:  # DecodeError and friends on garbage
        msg = f"{path}: not a readable ONNX model ({type(exc).__name__})"
        raise ModelError(msg) from None
    meta = {
        p.key.removeprefix(META_PREFIX): p.value
        for p in model.metadata_props
        if p.key.startswith(META_PREFIX)
    }
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


def _changed_tensors(
    before: onnx.ModelProto, after: onnx.ModelProto
) -> dict[str, npt.NDArray[np.float32]]:
    """Initializers of ``after`` whose values differ from ``before``'s (float32)."""
    old = {i.name: numpy_helper.to_array(i) for i in before.graph.initializer}
    out: dict[str, npt.NDArray[np.float32]] = {}
    for init in after.graph.initializer:
        value = numpy_helper.to_array(init)
        if init.name not in old or not np.array_equal(old[init.name], value):
            out[init.name] = np.ascontiguousarray(value, dtype=np.float32)
    return out


def train_recipe(
    fp32: str | os.PathLike[str],
    *,
    config: QuantizationConfig | None = None,
    calibration: CalibrationConfig | None = None,
    table: CalibrationTable | None = None,
    progress: bool = True,
    threads: int = 2,
) -> Recipe:
    """Calibrate and (per ``config``) fine-tune or round the weights: the slow, seeded part.

    Args:
        fp32: the fp32 model (``lesrcnn-deploy export``).
        config: quantization configuration (default :meth:`QuantizationConfig.default`).
        calibration: calibration settings (default: built-in photos, see
            :class:`CalibrationConfig`); also the source of training patches.
        table: a calibration table to use instead of calibrating (its own calibration settings
            then also give the training patches).
        progress: tqdm progress bars.
        threads: intra-op threads of calibration and training (part of what is reproduced:
            keep it fixed to reproduce a recipe bit for bit).

    Returns:
        The :class:`Recipe` (not written anywhere; see :func:`~.recipe.save_recipe`).

    Raises:
        ModelError: ``fp32`` is missing, unreadable, already quantized or not LESRCNN.
        CalibrationError: calibration images are missing/unreadable/too small, or ``table`` does
            not match the graph.
        ConfigError: an unknown ``keep_float`` layer.
    """
    cfg = config or QuantizationConfig.default()
    src = Path(fp32)
    model, meta = _load_fp32(src)
    prepared = _prepare(model, cfg)
    exclude = resolve_layers(prepared, cfg.keep_float)
    training: dict[str, Any] = {}
    seconds = 0.0
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="lesrcnn-quant-") as tmp_dir:
        tmp = Path(tmp_dir)
        prep_path = tmp / "prepared.onnx"
        onnx.save(prepared, os.fspath(prep_path))
        if table is None:
            table = calibrate(
                prep_path, calibration or CalibrationConfig(), progress=progress, threads=threads
            )
        _check_ranges(table.ranges, prepared, str(src))
        ranges = dict(table.ranges)
        final = prepared
        if cfg.finetune is not None or cfg.weight_rounding is not None:
            qdq_path = tmp / "qdq.onnx"
            run_ort_quantizer(prep_path, qdq_path, table.ranges, cfg, exclude)
            qdq = onnx.load(os.fspath(qdq_path))
            cal = table.calibration
            if cfg.finetune is not None:
                from .finetune import finetune_weights

                ft = cfg.finetune
                up = _scale_of(meta, src)
                final, tuned, stats = finetune_weights(
                    qdq,
                    prepared,
                    load_calibration_images(dataclasses.replace(cal, crop=ft.lr_crop(up))),
                    ft,
                    scale=up,
                    per_channel=cfg.per_channel,
                    progress=progress,
                    threads=threads,
                )
                ranges.update(tuned)
                summary = dict(stats.__dict__)
                seconds = summary.pop("seconds")  # provenance, not part of the recipe's checksum
                training = {"finetune": summary, "threads": threads}
            else:
                from .weight_rounding import fit_weight_rounding

                wr = cfg.weight_rounding
                assert wr is not None
                imgs = load_calibration_images(dataclasses.replace(cal, crop=wr.crop))
                patches = collect_patches(imgs, count=wr.count, crop=wr.crop, seed=wr.seed)
                final, fits = fit_weight_rounding(
                    qdq, prepared, patches, wr, progress=progress, threads=threads
                )
                training = {"weight_rounding": [f.__dict__ for f in fits], "threads": threads}
                seconds = time.perf_counter() - t0
    scale = int(meta["scale"]) if meta.get("scale", "").isdigit() else 0
    recipe = Recipe(
        fp32_sha256=sha256_file(src),
        config=cfg,
        calibration=table,
        ranges=ranges,
        tensors=_changed_tensors(prepared, final),
        training=training,
        provenance={"versions": library_versions(), "cpu": _cpu(), "seconds": seconds},
        scale=scale,
    )
    if cfg.tail_weights is None:
        return recipe
    return add_tail_weights(recipe, model, where=str(src), threads=threads)


def add_tail_weights(
    recipe: Recipe, model: onnx.ModelProto, *, where: str, threads: int = 2
) -> Recipe:
    """The last stage of :func:`train_recipe`: fit GPTQ int8 weights for the float output conv on
    the int8 graph that ``recipe`` (trained, without them yet) builds from the fp32 ``model``,
    and return the recipe with them (:mod:`.tail_weights`; seconds).

    Raises:
        ConfigError: the recipe's configuration has no ``tail_weights``.
        QuantizationError: the graph has no float conv reading 8-bit data, or already int8 ones.
    """
    tw = recipe.config.tail_weights
    if tw is None or any(is_tail_tensor(k) for k in recipe.tensors):
        msg = f"{where}: the configuration has no tail_weights, or the recipe already has them"
        raise ConfigError(msg)
    t0 = time.perf_counter()
    cal = recipe.calibration.calibration
    patches = collect_patches(
        load_calibration_images(dataclasses.replace(cal, crop=tw.crop)),
        count=tw.count,
        crop=tw.crop,
        seed=cal.seed,
    )
    qdq, _ = _build_qdq(model, recipe, where, with_tail=False)
    fit = fit_tail_weights(qdq, patches, damp=tw.damp, threads=threads)
    seconds = float(recipe.provenance.get("seconds", 0.0)) + time.perf_counter() - t0
    return dataclasses.replace(
        recipe,
        tensors={**recipe.tensors, **fit.tensors},
        training={**recipe.training, "tail_weights": fit.summary()},
        provenance={**recipe.provenance, "seconds": seconds},
    )


def _cpu() -> str:
    """The CPU that trained (float kernels, hence trained weights, can differ between CPUs)."""
    from ..bench.system import system_info

    info = system_info()
    return f"{info.cpu} ({info.isa_summary()})"


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


def _set_metadata(model: onnx.ModelProto, values: Mapping[str, str]) -> None:
    props = {p.key: p.value for p in model.metadata_props}
    props.update({META_PREFIX + k: v for k, v in values.items()})
    del model.metadata_props[:]
    for k in sorted(props):
        entry = model.metadata_props.add()
        entry.key, entry.value = k, props[k]


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
        run_ort_quantizer(final_path, qdq_path, ranges, cfg, exclude)
        qdq = onnx.load(os.fspath(qdq_path))
    if cfg.weight_rounding is not None:
        verify_weight_grid(qdq, trained)
    if with_tail and cfg.tail_weights is not None:
        tail = {k: v for k, v in recipe.tensors.items() if is_tail_tensor(k)}
        if not tail:
            msg = f"{where}: the configuration asks for int8 tail weights, the recipe has none"
            raise RecipeMismatch(msg)
        attach_tail_weights(qdq, tail, where)
    return qdq, exclude


def apply_recipe(
    fp32: str | os.PathLike[str],
    recipe: Recipe,
    output: str | os.PathLike[str] | None = None,
    *,
    recipe_source: str = "",
) -> QuantizationResult:
    """Build the int8 model of ``fp32`` from ``recipe`` (seconds, no training, no calibration).

    Args:
        fp32: the fp32 model the recipe was made for (checked by SHA256).
        recipe: see :mod:`.recipe`.
        output: where to write; default ``<fp32 stem>_int8.onnx`` beside it. The manifest goes
            to the same path with ``.json``.
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
    out = Path(output) if output is not None else default_output_path(src)
    model, meta = _load_fp32(src)
    fp32_sha = sha256_file(src)
    where = recipe_source or "recipe"
    recipe.check_applies_to(fp32_sha, None, where)
    cfg = recipe.config
    qdq, exclude = _build_qdq(model, recipe, where, with_tail=True)
    with tempfile.TemporaryDirectory(prefix="lesrcnn-quant-") as tmp_dir:
        tmp = Path(tmp_dir)
        _set_metadata(
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
        )
        qdq.producer_name = "lesrcnn-deploy"
        int8_tmp = tmp / "int8.onnx"
        onnx.save(qdq, os.fspath(int8_tmp))
        d2s = check_depth_to_space_int8(int8_tmp)
        with atomic_path(out) as target:
            target.write_bytes(int8_tmp.read_bytes())
    result = QuantizationResult(
        path=out,
        manifest_path=out.with_suffix(".json"),
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


def quantize_model(
    fp32: str | os.PathLike[str],
    output: str | os.PathLike[str] | None = None,
    *,
    config: QuantizationConfig | None = None,
    preset: str | None = None,
    calibration: CalibrationConfig | None = None,
    table: CalibrationTable | None = None,
    recipe: Recipe | None = None,
    progress: bool = True,
    threads: int = 2,
) -> QuantizationResult:
    """Quantize an fp32 LESRCNN ONNX model to int8: :func:`train_recipe` then
    :func:`apply_recipe` (or only the latter when ``recipe`` is given).

    Args:
        fp32: the fp32 model; dynamic or fixed input size.
        output: int8 path (default ``<fp32 stem>_int8.onnx``); the manifest goes beside it.
        config: quantization configuration (default :meth:`QuantizationConfig.default`, which
            fine-tunes: minutes; ``preset="ptq"`` builds in seconds).
        preset: a configuration preset by name instead of ``config``.
        calibration: calibration settings (default: built-in photos).
        table: a calibration table to replay instead of calibrating.
        recipe: a recipe to apply; ``config``/``preset``, when also given, must be its own.
        progress: tqdm progress bars.
        threads: intra-op threads of calibration and training.

    Raises:
        ConfigError: both ``config`` and ``preset``, or ``recipe`` with calibration settings.
        RecipeMismatch: ``recipe`` was made for another fp32 model or configuration.
        ModelError, CalibrationError, QuantizationError: see :func:`train_recipe` and
            :func:`apply_recipe`.
    """
    if config is not None and preset is not None:
        msg = "give either config or preset, not both"
        raise ConfigError(msg)
    cfg = QuantizationConfig.preset(preset) if preset is not None else config
    if recipe is not None:
        if calibration is not None or table is not None:
            msg = "a recipe already holds its calibration: give no calibration settings or table"
            raise ConfigError(msg)
        if cfg is not None:
            recipe.check_applies_to(recipe.fp32_sha256, cfg, "recipe")
        return apply_recipe(fp32, recipe, output)
    made = train_recipe(
        fp32,
        config=cfg,
        calibration=calibration,
        table=table,
        progress=progress,
        threads=threads,
    )
    return apply_recipe(fp32, made, output)
