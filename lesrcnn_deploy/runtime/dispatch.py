"""The one way to a runner: :func:`open_runner` opens an ``.onnx`` model on ONNX Runtime or
OpenVINO (``auto`` resolved by measurement, see :mod:`.choice`) or a ``.pth`` checkpoint in PyTorch.

Every caller (the benchmark, the gate, evaluation, ``Upscaler``, the service, Ray, video) opens its
runners here.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..core.errors import ConfigError, WeightsError
from ..core.vocab import check_scale
from ..models import ModelFile, as_record
from .base import Runner
from .choice import RuntimeChoice, open_on, resolve_runtime

__all__ = ["open_runner"]


def open_runner(
    model: ModelFile | str | os.PathLike[str],
    *,
    scale: int | None = None,
    threads: int | None = None,
    allow_custom_weights: bool = False,
    runtime: str = "ort",
    compute: str = "f32",
    choice: RuntimeChoice | None = None,
    fuse_upsample: bool = False,
    streams: int | None = None,
) -> Runner:
    """Open a model (its record, an ``.onnx`` path) or a ``.pth`` checkpoint as a runner.

    Args:
        model: the opened model (:class:`~lesrcnn_deploy.models.ModelFile`: nothing is read or
            checked again); an ``.onnx`` path (opened by
            :func:`~lesrcnn_deploy.models.open_model`, its scale checked against ``scale``); a
            ``.pth`` checkpoint (``""`` with ``runtime="torch"``: the official checkpoint of
            ``scale`` from the weights registry).
        scale: expected scale of a path; required for a blind checkpoint.
        threads: intra-op threads.
        allow_custom_weights: accept a ``.pth`` that is not an official checkpoint.
        runtime: ``"ort"``, ``"openvino"`` or ``"auto"`` for an ``.onnx`` (``auto``: the runtime
            measured fastest here, cached); ``"torch"`` for a checkpoint.
        compute: the float layers' precision, ``"f32"`` or ``"bf16"`` (OpenVINO).
        choice: an already resolved runtime choice (skips :func:`~.choice.resolve_runtime`).
        fuse_upsample: PyTorch only: run the fused upsampler, as the ONNX export does.
        streams: OpenVINO only: inference streams (inputs run at once, see
            :class:`~.ov.OpenVinoRunner`); ``None``: one stream on all threads.

    Raises:
        ConfigError: unknown extension, scale, runtime or compute precision.
        ModelError, WeightsError: unreadable or mismatched model.
    """
    if scale is not None:
        check_scale(scale)
    record = None
    if isinstance(model, ModelFile) or (
        Path(model).suffix.lower() == ".onnx" and runtime != "torch"
    ):
        record = as_record(model, scale=scale or 0)
    if record is not None:
        if choice is None:
            choice = resolve_runtime(record, runtime, compute=compute, threads=threads)
        return open_on(
            record,
            choice.runtime,
            float_precision=choice.float_precision,
            threads=threads,
            streams=streams,
        )
    p = Path(model)
    if p.suffix.lower() in (".pth", ".pt") or (runtime == "torch" and not str(model)):
        if runtime not in ("ort", "auto", "torch") or compute != "f32":
            msg = f"{p}: a .pth checkpoint runs in PyTorch fp32 only (no runtime/precision choice)"
            raise ConfigError(msg)
        return _open_torch(
            p if str(model) else None,
            scale=scale,
            threads=threads,
            allow_custom=allow_custom_weights,
            fuse_upsample=fuse_upsample,
        )
    msg = f"{p}: unsupported model file (expected .onnx or .pth)"
    raise ConfigError(msg)


def _open_torch(
    path: Path | None,
    *,
    scale: int | None,
    threads: int | None,
    allow_custom: bool,
    fuse_upsample: bool,
) -> Runner:
    from ..weights import checkpoint_scale, load_model, read_state_dict
    from .torch_ref import TorchRunner

    if path is None:  # the registry's official checkpoint of `scale`
        if scale is None:
            msg = "the official checkpoint needs a scale"
            raise ConfigError(msg)
        model, _, _ = load_model(scale, None, fuse_upsample=fuse_upsample)
        return TorchRunner(model, scale, threads)
    if not path.is_file():
        msg = f"{path}: checkpoint file not found"
        raise WeightsError(msg)
    found = checkpoint_scale(read_state_dict(path))
    if found is None and scale is None:
        msg = f"{path}: blind (multi-scale) checkpoint: give --scale 2, 3 or 4"
        raise ConfigError(msg)
    if found is not None and scale is not None and found != scale:
        msg = f"{path}: this is a x{found} checkpoint, asked for x{scale}"
        raise WeightsError(msg)
    model, _, _ = load_model(found, path, allow_custom=allow_custom, fuse_upsample=fuse_upsample)
    run_scale = scale if scale is not None else found
    if run_scale is None:  # pragma: no cover - excluded above
        msg = f"{path}: no scale"
        raise ConfigError(msg)
    return TorchRunner(model, run_scale, threads)
