"""Training: the slow, seeded part that makes a recipe (:func:`train_recipe`), and
:func:`quantize_model`, training then replay in one call.

:func:`train_recipe`: exact fp32 graph rewrites (:mod:`.graph`), calibration
(:mod:`.calibration`, or a given :class:`~.calibration.CalibrationTable`), then
quantization-aware fine-tuning (:mod:`.finetune`) or weight rounding (:mod:`.weight_rounding`) on
a first QDQ graph, then (``tail_weights``) GPTQ int8 weights for the float output conv fitted on
the trained int8 graph (:mod:`.tail_weights`). Its result is a :class:`~.recipe.Recipe`, which
:mod:`.replay` turns into the int8 model.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
from onnx import numpy_helper

from ..core.errors import ConfigError
from ..core.fileio import sha256_file
from ..core.versions import library_versions
from .calibration import CalibrationTable, calibrate, collect_patches, load_calibration_images
from .config import CalibrationConfig, QuantizationConfig
from .graph import resolve_layers
from .ort_backend import run_ort_quantizer
from .recipe import Recipe
from .replay import (
    QuantizationResult,
    _build_qdq,
    _check_ranges,
    _load_fp32,
    _prepare,
    _scale_of,
    apply_recipe,
)
from .tail_weights import fit_tail_weights, is_tail_tensor

__all__ = ["add_tail_weights", "quantize_model", "train_recipe"]


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
            run_ort_quantizer(prep_path, qdq_path, ranges=table.ranges, config=cfg, exclude=exclude)
            qdq = onnx.load(os.fspath(qdq_path))
            cal = table.calibration
            if cfg.finetune is not None:
                from .finetune import finetune_weights

                ft = cfg.finetune
                up = _scale_of(meta, src)
                final, tuned, stats = finetune_weights(
                    qdq,
                    prepared,
                    images=load_calibration_images(dataclasses.replace(cal, crop=ft.lr_crop(up))),
                    config=ft,
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
                    qdq, prepared, patches=patches, config=wr, progress=progress, threads=threads
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
    from ..core.system import system_info

    info = system_info()
    return f"{info.cpu} ({info.isa_summary()})"


def quantize_model(
    fp32: str | os.PathLike[str],
    output: str | os.PathLike[str],
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
        output: int8 path; the manifest goes beside it.
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
            recipe.check_applies_to(recipe.fp32_sha256, cfg, where="recipe")
        return apply_recipe(fp32, recipe, output=output)
    made = train_recipe(
        fp32,
        config=cfg,
        calibration=calibration,
        table=table,
        progress=progress,
        threads=threads,
    )
    return apply_recipe(fp32, made, output=output)
