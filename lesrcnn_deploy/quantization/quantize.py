"""One call from an fp32 LESRCNN ONNX model to a checked int8 model plus its manifest.

Steps of :func:`quantize_model`:

1. exact fp32 graph rewrites (:mod:`.graph`);
2. calibration (:mod:`.calibration`) or a replayed :class:`~.calibration.CalibrationTable`;
3. optionally, quantization-aware fine-tuning of weights and activation scales
   (:mod:`.finetune`), or weight rounding (:mod:`.weight_rounding`), both on a first QDQ graph;
4. identity "layout anchors" after float layers that feed residual adds
   (:func:`~.graph.insert_layout_anchors`), then ONNX Runtime's static QDQ quantizer (U8
   activations, S8 per-channel weights) with the configured layers left in fp32
   (``nodes_to_exclude``), the (fine-tuned) ranges and the (fine-tuned or on-grid) weights;
5. the PixelShuffle check (:mod:`.check`): every DepthToSpace of the ORT-optimized graph must
   read and write 8-bit tensors, or nothing is written;
6. atomic write of ``<output>.onnx`` and the manifest ``<output>.json`` (configuration,
   calibration source and checksums, library versions, fp32-vs-int8 measurements).

The same fp32 model, configuration and calibration table (or seed) give a byte-identical model.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx

from ..errors import CalibrationError, ConfigError, ModelError, QuantizationError
from ..fileio import atomic_path, atomic_write_json, sha256_file
from .calibration import (
    CalibrationTable,
    calibrate,
    collect_patches,
    load_calibration_images,
    load_table,
)
from .check import DepthToSpaceInfo, check_depth_to_space_int8
from .config import CalibrationConfig, QuantizationConfig, QuantType
from .finetune import FinetuneStats, finetune_weights
from .graph import check_lesrcnn_graph, insert_layout_anchors, prepare_graph, resolve_layers
from .weight_rounding import LayerFit, fit_weight_rounding

__all__ = [
    "MANIFEST_VERSION",
    "QuantizationResult",
    "default_output_path",
    "measure_speed",
    "quantize_model",
]

MANIFEST_VERSION = 1
META_PREFIX = "lesrcnn."


@dataclass(frozen=True)
class QuantizationResult:
    """What :func:`quantize_model` wrote and measured.

    Attributes:
        path: the int8 model.
        manifest_path: the JSON manifest beside it.
        sha256: digest of the int8 model file.
        config: the quantization configuration used.
        calibration: the calibration table used (computed or replayed).
        depth_to_space: the PixelShuffle check's findings (all 8-bit).
        fp32_layers: ONNX node names left in fp32.
        weight_fits: per-conv weight-rounding summary (empty without weight rounding).
        finetune: fine-tuning summary (None without fine-tuning).
        measured: fp32-vs-int8 numbers (speed, output PSNR on held-out patches, datasets).
    """

    path: Path
    manifest_path: Path
    sha256: str
    config: QuantizationConfig
    calibration: CalibrationTable
    depth_to_space: tuple[DepthToSpaceInfo, ...]
    fp32_layers: tuple[str, ...]
    weight_fits: tuple[LayerFit, ...] = ()
    finetune: FinetuneStats | None = None
    measured: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (also what the manifest holds)."""
        return {
            "path": str(self.path),
            "sha256": self.sha256,
            "preset": self.config.name,
            "config": self.config.to_dict(),
            "calibration": {
                "config": self.calibration.calibration.to_dict(),
                "images": dict(self.calibration.images),
                "skipped": list(self.calibration.skipped),
                "tensors": len(self.calibration.ranges),
            },
            "fp32_layers": list(self.fp32_layers),
            "depth_to_space": [
                {"node": d.node, "input": d.input_type, "output": d.output_type}
                for d in self.depth_to_space
            ],
            "weight_rounding": [f.__dict__ for f in self.weight_fits],
            "finetune": None if self.finetune is None else dict(self.finetune.__dict__),
            "measured": dict(self.measured),
        }


def default_output_path(fp32: str | os.PathLike[str]) -> Path:
    """``models/lesrcnn_x2.onnx`` -> ``models/lesrcnn_x2_int8.onnx``."""
    p = Path(fp32)
    return p.with_name(f"{p.stem}_int8.onnx")


def _load_fp32(path: Path) -> onnx.ModelProto:
    if not path.is_file():
        msg = f"{path}: fp32 model not found (run `make export` first)"
        raise ModelError(msg)
    try:
        model = onnx.load(os.fspath(path))
    except Exception as exc:  # DecodeError and friends on garbage
        msg = f"{path}: not a readable ONNX model ({type(exc).__name__})"
        raise ModelError(msg) from None
    meta = {p.key: p.value for p in model.metadata_props}
    if meta.get(META_PREFIX + "precision", "fp32") != "fp32":
        precision = meta[META_PREFIX + "precision"]
        msg = f"{path}: already quantized (precision {precision}); give the fp32 model"
        raise ModelError(msg)
    if any(n.op_type in ("QuantizeLinear", "DequantizeLinear") for n in model.graph.node):
        msg = f"{path}: already holds QuantizeLinear/DequantizeLinear nodes; give the fp32 model"
        raise ModelError(msg)
    check_lesrcnn_graph(model, str(path))
    return model


def _ort_qtype(t: QuantType) -> Any:
    from onnxruntime.quantization import QuantType as OrtQuantType

    return {
        QuantType.QUINT8: OrtQuantType.QUInt8,
        QuantType.QINT8: OrtQuantType.QInt8,
        QuantType.QUINT16: OrtQuantType.QUInt16,
        QuantType.QINT16: OrtQuantType.QInt16,
    }[t]


def _run_ort_quantizer(
    fp32_path: Path,
    out_path: Path,
    ranges: Mapping[str, tuple[float, float]],
    config: QuantizationConfig,
    exclude: Sequence[str],
) -> None:
    """ORT's ``quantize_static`` fed with precomputed ranges (through its calibration cache)."""
    import contextlib
    import io
    import logging

    from onnxruntime.quantization import CalibrationMethod, QuantFormat, quantize_static
    from onnxruntime.quantization.calibrate import TensorData, TensorsData, save_tensors_data

    data = {
        k: TensorData(lowest=np.float32(lo), highest=np.float32(hi))
        for k, (lo, hi) in ranges.items()
    }
    overrides = {k: [{"quant_type": _ort_qtype(v)}] for k, v in config.activation_overrides.items()}
    extra: dict[str, Any] = {
        "TensorQuantOverrides": overrides,
        # weights must keep ORT's max|w|/127 scale (weight rounding relies on it)
        "QDQDisableWeightAdjustForInt32Bias": True,
    }
    cache = out_path.with_suffix(".calib.json")
    save_tensors_data(TensorsData(CalibrationMethod.MinMax, data), cache)
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # ORT warns about pre-processing on every call
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            quantize_static(
                os.fspath(fp32_path),
                os.fspath(out_path),
                None,
                quant_format=QuantFormat.QDQ,
                per_channel=config.per_channel,
                activation_type=_ort_qtype(config.activation_type),
                weight_type=_ort_qtype(config.weight_type),
                nodes_to_exclude=list(exclude),
                calibrate_method=CalibrationMethod.MinMax,
                calibration_cache_path=os.fspath(cache),
                extra_options=extra,
            )
    finally:
        root.setLevel(level)
        cache.unlink(missing_ok=True)


def _activation_tensors(model: onnx.ModelProto) -> set[str]:
    """Float tensors that ORT's calibrator would record (inputs and outputs of every node)."""
    inits = {i.name for i in model.graph.initializer}
    names = {model.graph.input[0].name}
    for n in model.graph.node:
        names.update(t for t in (*n.input, *n.output) if t and t not in inits)
    return names


def _check_table(table: CalibrationTable, model: onnx.ModelProto, where: str) -> None:
    missing = sorted(_activation_tensors(model) - set(table.ranges))
    if missing:
        msg = (
            f"{where}: calibration table lacks {len(missing)} tensor(s) of this model (e.g. "
            f"{missing[0]!r}); it was made for another model or graph configuration"
        )
        raise CalibrationError(msg)


def _verify_grid(qdq: onnx.ModelProto, rounded: onnx.ModelProto) -> None:
    """The quantizer must map the fitted on-grid weights exactly (no re-rounding)."""
    from onnx import numpy_helper

    q = {i.name: i for i in qdq.graph.initializer}
    fitted = {i.name: i for i in rounded.graph.initializer}
    for n in qdq.graph.node:
        if n.op_type != "DequantizeLinear" or not n.input[0].endswith("_quantized"):
            continue
        src = n.input[0].removesuffix("_quantized")
        if src not in fitted or q[n.input[0]].data_type != onnx.TensorProto.INT8:
            continue
        ints = numpy_helper.to_array(q[n.input[0]]).astype(np.float64)
        scale = numpy_helper.to_array(q[n.input[1]]).astype(np.float64)
        w = numpy_helper.to_array(fitted[src]).astype(np.float64)
        deq = ints * scale.reshape((-1,) + (1,) * (ints.ndim - 1))
        err = float(np.max(np.abs(deq - w)) / max(float(np.max(np.abs(w))), 1e-12))
        if err > 1e-5:
            msg = f"weight rounding of {src!r} was not kept by the quantizer (rel. error {err:.1e})"
            raise QuantizationError(msg)


def _set_metadata(model: onnx.ModelProto, values: Mapping[str, str]) -> None:
    props = {p.key: p.value for p in model.metadata_props}
    props.update({META_PREFIX + k: v for k, v in values.items()})
    del model.metadata_props[:]
    for k in sorted(props):
        entry = model.metadata_props.add()
        entry.key, entry.value = k, props[k]


def _session(path: Path | bytes, threads: int) -> Any:
    import onnxruntime as ort

    from ..runtime import session_options

    src = path if isinstance(path, bytes) else os.fspath(path)
    return ort.InferenceSession(src, session_options(threads), providers=["CPUExecutionProvider"])


def measure_speed(
    fp32: str | os.PathLike[str],
    int8: str | os.PathLike[str],
    *,
    size: int = 128,
    threads: int = 2,
    runs: int = 10,
    warmup: int = 2,
) -> dict[str, float]:
    """Median latency of the fp32 and int8 models side by side, interleaved, one process.

    Args:
        fp32, int8: model paths.
        size: square input side (``1x3xsize x size``).
        threads: intra-op threads of both sessions.
        runs: timed runs of each model (alternating).
        warmup: untimed runs of each first.

    Returns:
        ``{"fp32_ms", "int8_ms", "speedup", "size", "threads", "runs"}``.
    """
    x = np.random.default_rng(0).random((1, 3, size, size), dtype=np.float32)
    a, b = _session(Path(fp32), threads), _session(Path(int8), threads)
    for _ in range(warmup):
        a.run(None, {"input": x})
        b.run(None, {"input": x})
    ta: list[float] = []
    tb: list[float] = []
    for _ in range(runs):
        t = time.perf_counter()
        a.run(None, {"input": x})
        ta.append(time.perf_counter() - t)
        t = time.perf_counter()
        b.run(None, {"input": x})
        tb.append(time.perf_counter() - t)
    fa, fb = statistics.median(ta), statistics.median(tb)
    return {
        "fp32_ms": 1000 * fa,
        "int8_ms": 1000 * fb,
        "speedup": fa / fb,
        "size": size,
        "threads": threads,
        "runs": runs,
    }


def _patch_psnr(
    fp32: Path, int8: Path, patches: npt.NDArray[np.float32], threads: int
) -> dict[str, float]:
    """PSNR (dB, RGB, [0,1] scale) of int8 against fp32 outputs on held-out patches."""
    a, b = _session(fp32, threads), _session(int8, threads)
    mse = []
    for k in range(len(patches)):
        x = patches[k : k + 1]
        ya = np.clip(a.run(None, {"input": x})[0], 0, 1)
        yb = np.clip(b.run(None, {"input": x})[0], 0, 1)
        mse.append(float(np.mean((ya.astype(np.float64) - yb) ** 2)))
    m = float(np.mean(mse))
    return {
        "psnr_vs_fp32_db": 10 * np.log10(1.0 / m) if m > 0 else float("inf"),
        "patches": len(patches),
    }


def _measure_datasets(
    fp32: Path, int8: Path, scale: int, datasets: Sequence[str | os.PathLike[str]], threads: int
) -> dict[str, Any]:
    from ..evaluate import evaluate_model

    out: dict[str, Any] = {}
    for root in datasets:
        a = evaluate_model(fp32, root, scale=scale, threads=threads, progress=False)
        b = evaluate_model(int8, root, scale=scale, threads=threads, progress=False)
        out[a.dataset] = {
            "protocol": a.protocol,
            "fp32_psnr": a.psnr,
            "int8_psnr": b.psnr,
            "psnr_drop": a.psnr - b.psnr,
            "fp32_ssim": a.ssim,
            "int8_ssim": b.ssim,
            "ssim_drop": a.ssim - b.ssim,
            "images": a.n,
        }
    return out


def _versions() -> dict[str, str]:
    import onnxruntime
    import torch

    from .. import __version__

    return {
        "lesrcnn_deploy": __version__,
        "onnx": onnx.__version__,
        "onnxruntime": onnxruntime.__version__,
        "numpy": np.__version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
    }


def _resolve_table(
    ranges: CalibrationTable | Mapping[str, tuple[float, float]] | str | os.PathLike[str] | None,
    calibration: CalibrationConfig,
) -> CalibrationTable | None:
    if ranges is None:
        return None
    if isinstance(ranges, CalibrationTable):
        return ranges
    if isinstance(ranges, str | os.PathLike):
        return load_table(ranges)
    if isinstance(ranges, Mapping):
        return CalibrationTable(
            ranges={str(k): (float(v[0]), float(v[1])) for k, v in ranges.items()},
            calibration=calibration,
        )
    msg = (
        f"ranges must be a CalibrationTable, a mapping or a JSON path, got {type(ranges).__name__}"
    )
    raise ConfigError(msg)


def quantize_model(
    fp32: str | os.PathLike[str],
    output: str | os.PathLike[str] | None = None,
    *,
    config: QuantizationConfig | None = None,
    preset: str | None = None,
    calibration: CalibrationConfig | None = None,
    ranges: CalibrationTable
    | Mapping[str, tuple[float, float]]
    | str
    | os.PathLike[str]
    | None = None,
    save_calibration: str | os.PathLike[str] | None = None,
    measure: bool = True,
    datasets: Sequence[str | os.PathLike[str]] = (),
    threads: int = 2,
    progress: bool = True,
) -> QuantizationResult:
    """Quantize an fp32 LESRCNN ONNX model to int8 (see the module docstring for the steps).

    Args:
        fp32: the fp32 model (``lesrcnn-deploy export``); dynamic or fixed input size.
        output: where to write; default ``<fp32 stem>_int8.onnx`` beside it. The manifest goes
            to the same path with ``.json``.
        config: quantization configuration (default :meth:`QuantizationConfig.default`).
        preset: name of a configuration preset instead of ``config`` (``per_tensor`` ...).
        calibration: calibration settings (default: built-in photos, see
            :class:`CalibrationConfig`). Ignored when ``ranges`` is given, except as the source
            of weight-rounding patches.
        ranges: a calibration table to replay (object, ``{tensor: (min, max)}`` or JSON path);
            no calibration images are read then (weight rounding still needs patches).
        save_calibration: write the calibration table used to this JSON path.
        measure: time fp32 vs int8 (1x3x128x128, ``threads`` threads) and compare outputs on
            held-out built-in patches; results go into the manifest.
        datasets: dataset folders (e.g. Set5, Set14) to measure PSNR/SSIM drops on (paper
            protocol), recorded in the manifest.
        threads: intra-op threads for calibration sessions, simulations and measurements.
        progress: tqdm progress bars.

    Returns:
        A :class:`QuantizationResult`.

    Raises:
        ModelError: ``fp32`` is missing, unreadable, already quantized or not LESRCNN.
        CalibrationError: calibration images are missing/unreadable/too small, or a replayed
            table does not match the graph.
        ConfigError: invalid configuration or preset, or an unknown ``keep_float`` layer.
        QuantizationError: a DepthToSpace would run in float, or weight rounding was not kept;
            nothing is written then.
    """
    if config is not None and preset is not None:
        msg = "give either config or preset, not both"
        raise ConfigError(msg)
    cfg = (
        QuantizationConfig.preset(preset)
        if preset is not None
        else config or QuantizationConfig.default()
    )
    cal_cfg = calibration or CalibrationConfig()
    src = Path(fp32)
    out = Path(output) if output is not None else default_output_path(src)
    if save_calibration is not None and Path(save_calibration).resolve() in (
        out.resolve(),
        out.with_suffix(".json").resolve(),
    ):
        msg = f"{save_calibration}: the calibration table would overwrite the model or its manifest"
        raise ConfigError(msg)
    model = _load_fp32(src)
    meta = {p.key.removeprefix(META_PREFIX): p.value for p in model.metadata_props}
    wr = cfg.weight_rounding
    prepared = prepare_graph(
        model,
        relu_first=cfg.relu_before_depth_to_space,
        fold_shift=cfg.fold_output_shift,
        zero_biases=cfg.trains_biases,
    )
    exclude = resolve_layers(prepared, cfg.keep_float)
    table = _resolve_table(ranges, cal_cfg)
    with tempfile.TemporaryDirectory(prefix="lesrcnn-quant-") as tmp_dir:
        tmp = Path(tmp_dir)
        prep_path = tmp / "prepared.onnx"
        onnx.save(prepared, os.fspath(prep_path))
        if table is None:
            table = calibrate(prep_path, cal_cfg, progress=progress, threads=threads)
        _check_table(table, prepared, str(src))
        if save_calibration is not None:
            from .calibration import save_table

            save_table(table, save_calibration)
        qdq_path = tmp / "qdq.onnx"
        final, ranges = prepared, dict(table.ranges)
        ft_stats: FinetuneStats | None = None
        fits: list[LayerFit] = []
        if cfg.finetune is not None or wr is not None:  # both start from the plain QDQ graph
            _run_ort_quantizer(prep_path, qdq_path, table.ranges, cfg, exclude)
        if cfg.finetune is not None:
            ft = cfg.finetune
            up = _upscale_factor(meta, src)
            final, tuned_ranges, ft_stats = finetune_weights(
                onnx.load(os.fspath(qdq_path)),
                prepared,
                load_calibration_images(replace_crop(table.calibration, ft.lr_crop(up))),
                ft,
                scale=up,
                per_channel=cfg.per_channel,
                progress=progress,
                threads=threads,
            )
            ranges.update(tuned_ranges)
        if wr is not None:
            imgs = load_calibration_images(replace_crop(table.calibration, wr.crop))
            patches = collect_patches(imgs, count=wr.count, crop=wr.crop, seed=wr.seed)
            final, fits = fit_weight_rounding(
                onnx.load(os.fspath(qdq_path)),
                prepared,
                patches,
                wr,
                progress=progress,
                threads=threads,
            )
        rounded = final
        if cfg.layout_anchors:
            final = onnx.ModelProto()
            final.CopyFrom(rounded)
            for anchor, anchored in insert_layout_anchors(final, exclude).items():
                ranges[anchor] = ranges[anchored]  # same scale and zero point: exact identity
        final_path = tmp / "final.onnx"
        onnx.save(final, os.fspath(final_path))
        _run_ort_quantizer(final_path, qdq_path, ranges, cfg, exclude)
        if wr is not None:
            _verify_grid(onnx.load(os.fspath(qdq_path)), rounded)
        qdq = onnx.load(os.fspath(qdq_path))
        _set_metadata(
            qdq,
            {
                "precision": "int8",
                "quantization": str(cfg),
                "quantization_config": json.dumps(cfg.to_dict(), sort_keys=True),
                "calibration": json.dumps(table.calibration.to_dict(), sort_keys=True),
                "fp32_sha256": sha256_file(src),
            },
        )
        qdq.producer_name = "lesrcnn-deploy"
        final_tmp = tmp / "int8.onnx"
        onnx.save(qdq, os.fspath(final_tmp))
        d2s = check_depth_to_space_int8(final_tmp)
        with atomic_path(out) as target:
            target.write_bytes(final_tmp.read_bytes())
    digest = sha256_file(out)
    measured: dict[str, Any] = {}
    if measure:
        measured["speed"] = measure_speed(src, out, threads=threads)
        held_out = replace_seed(CalibrationConfig(count=8, crop=96), cal_cfg.seed + 1)
        imgs = load_calibration_images(held_out)
        patches = collect_patches(
            imgs, count=held_out.count, crop=held_out.crop, seed=held_out.seed
        )
        measured["held_out_patches"] = _patch_psnr(src, out, patches, threads)
    if datasets:
        scale = int(meta.get("scale", "0") or 0)
        if scale not in (2, 3, 4):
            msg = f"{src}: no lesrcnn.scale metadata; cannot measure datasets"
            raise ModelError(msg)
        measured["datasets"] = _measure_datasets(src, out, scale, datasets, threads)
    result = QuantizationResult(
        path=out,
        manifest_path=out.with_suffix(".json"),
        sha256=digest,
        config=cfg,
        calibration=table,
        depth_to_space=tuple(d2s),
        fp32_layers=tuple(exclude),
        weight_fits=tuple(fits),
        finetune=ft_stats,
        measured=measured,
    )
    manifest = {
        "version": MANIFEST_VERSION,
        "artifact": out.name,
        "sha256": digest,
        "source": {"path": str(src), "sha256": sha256_file(src), "metadata": meta},
        "versions": _versions(),
        **result.to_dict(),
    }
    manifest.pop("path", None)
    atomic_write_json(result.manifest_path, manifest)
    return result


def _upscale_factor(meta: Mapping[str, str], src: Path) -> int:
    try:
        scale = int(meta.get("scale", ""))
    except ValueError:
        scale = 0
    if scale not in (2, 3, 4):
        msg = (
            f"{src}: fine-tuning needs the lesrcnn.scale metadata (2, 3 or 4) of an exported model"
        )
        raise ModelError(msg)
    return scale


def replace_crop(cfg: CalibrationConfig, crop: int) -> CalibrationConfig:
    """``cfg`` with another crop (for weight-rounding patches from the same source)."""
    import dataclasses

    return dataclasses.replace(cfg, crop=crop)


def replace_seed(cfg: CalibrationConfig, seed: int) -> CalibrationConfig:
    """``cfg`` with another seed."""
    import dataclasses

    return dataclasses.replace(cfg, seed=seed)
