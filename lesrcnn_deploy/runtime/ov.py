"""OpenVINO CPU runner: the same ``.onnx`` file (fp32 or our int8 QDQ) compiled by OpenVINO.

OpenVINO reads our QDQ model unchanged and runs its quantized convolutions on u8 primitives. Its
CPU plugin lowers float layers to bf16 by default on CPUs with bf16 support, so precision is
always explicit here: ``float_precision="f32"`` pins ``INFERENCE_PRECISION_HINT=f32`` (the fp32
model and the float head/tail layers of an int8 model run in f32), ``"bf16"`` asks for bf16.
What actually ran is read back from the compiled model's runtime graph
(:meth:`OpenVinoRunner.conv_precisions`), never assumed.

Input sizes: each new ``(H, W)`` gets its own compiled model (a reshape of the read model),
cached in a small LRU; tiling sends a handful of fixed tile sizes, so compilation is rare.

OpenVINO is optional (``pip install 'lesrcnn-deploy[openvino]'``); it is imported lazily and its
absence raises :class:`~lesrcnn_deploy.core.errors.RuntimeUnavailableError` with that one line.
"""

from __future__ import annotations

import os
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from ..core.errors import (
    ConfigError,
    ModelError,
    QuantizationError,
    RuntimeUnavailableError,
    one_line,
)
from ..models import ModelFile, as_record
from .ov_requests import RequestPool, run_many

__all__ = [
    "FLOAT_PRECISIONS",
    "INSTALL_HINT",
    "D2SRuntimeInfo",
    "OpenVinoRunner",
    "check_depth_to_space_int8_openvino",
    "import_openvino",
    "openvino_available",
    "openvino_version",
]

INSTALL_HINT = "OpenVINO is not installed: pip install 'lesrcnn-deploy[openvino]'"
"""The one-line message when the ``openvino`` extra is missing."""

FLOAT_PRECISIONS = ("f32", "bf16")
"""Values of ``INFERENCE_PRECISION_HINT`` the runner accepts (float layers' precision)."""

_SHAPE_CACHE = 4  # compiled models kept per runner: full tile, right/bottom edge, corner


def import_openvino() -> ModuleType:
    """``import openvino`` or raise the one-line install hint.

    Raises:
        RuntimeUnavailableError: the ``openvino`` package is not importable.
    """
    try:
        import openvino
    except ImportError:
        raise RuntimeUnavailableError(INSTALL_HINT) from None
    return openvino


def openvino_available() -> bool:
    """True when ``openvino`` can be imported."""
    try:
        import_openvino()
    except RuntimeUnavailableError:
        return False
    return True


def openvino_version() -> str:
    """OpenVINO's version string (e.g. ``"2026.4.1-..."``).

    Raises:
        RuntimeUnavailableError: OpenVINO is not installed.
    """
    return str(import_openvino().get_version())


@dataclass
class OpenVinoRunner:
    """OpenVINO CPU runner for a LESRCNN ONNX model (fp32 or int8 QDQ).

    Args:
        model: the opened model (its record), or an ``.onnx`` path (opened here by
            :func:`~lesrcnn_deploy.models.open_model`).
        threads: ``INFERENCE_NUM_THREADS`` (``None`` = OpenVINO's default, all cores).
        scale: a path's expected scale (0 = any); a record's scale is its own.
        float_precision: ``INFERENCE_PRECISION_HINT`` of the float layers, ``"f32"`` (default:
            fp32 stays fp32) or ``"bf16"``.
        streams: ``NUM_STREAMS``: inputs run at once, the ``threads`` split between them (the
            server's throughput mode); ``None`` (default): one stream on all threads (latency).
            Any number of threads may call the runner; each call runs on an infer request of
            its own (:mod:`.ov_requests`), and :meth:`run_many` runs the tiles of one image as
            parallel requests.

    Attributes:
        kind: ``"openvino-fp32"``, ``"openvino-bf16"``, ``"openvino-int8"`` or
            ``"openvino-int8-bf16"`` (int8 model, float layers in bf16).
        precision: the model's precision with the float precision folded in (``"fp32"``,
            ``"bf16"``, ``"int8"``, ``"int8-bf16"``).

    Raises:
        RuntimeUnavailableError: OpenVINO is not installed.
        ConfigError: bad ``float_precision`` or ``threads``.
        ModelError: unreadable model, wrong scale, or OpenVINO cannot read it.
    """

    model: ModelFile | str | os.PathLike[str]
    threads: int | None = None
    scale: int = 0
    float_precision: str = "f32"
    streams: int | None = None
    kind: str = "openvino"
    precision: str = "fp32"
    path: Path = field(init=False)
    metadata: Mapping[str, str] = field(init=False)

    def __post_init__(self) -> None:
        ov = import_openvino()
        if self.float_precision not in FLOAT_PRECISIONS:
            msg = (
                f"unknown float precision {self.float_precision!r}: choose from "
                f"{', '.join(FLOAT_PRECISIONS)}"
            )
            raise ConfigError(msg)
        if self.threads is not None and self.threads < 1:
            msg = f"threads must be >= 1, got {self.threads}"
            raise ConfigError(msg)
        if self.streams is not None and self.streams < 1:
            msg = f"streams must be >= 1, got {self.streams}"
            raise ConfigError(msg)
        record = self._record = as_record(self.model, scale=self.scale)
        self.path, self.scale, self.metadata = record.path, record.scale, record.metadata
        if record.precision == "int8":
            self.precision = "int8" if self.float_precision == "f32" else "int8-bf16"
        else:
            self.precision = "fp32" if self.float_precision == "f32" else "bf16"
        self.kind = "openvino-" + self.precision
        self._core = ov.Core()
        try:
            self._model = self._core.read_model(os.fspath(self.path))
        except Exception as exc:  # OpenVINO raises RuntimeError with a long message
            first = one_line(exc, limit=160)
            msg = f"{self.path}: OpenVINO cannot read the model ({first})"
            raise ModelError(msg) from exc
        if len(self._model.inputs) != 1 or len(self._model.inputs[0].get_partial_shape()) != 4:
            msg = f"{self.path}: expected one NCHW input"
            raise ModelError(msg)
        pshape = self._model.inputs[0].get_partial_shape()
        self.input_shape: tuple[int | str, ...] = tuple(
            d.get_length() if d.is_static else "?" for d in pshape
        )
        self._compiled: OrderedDict[tuple[int, ...], Any] = OrderedDict()
        self._pools: dict[tuple[int, ...], RequestPool] = {}
        self._cache_lock = threading.Lock()  # the shape LRU, when threads share the runner

    @property
    def config(self) -> dict[str, str]:
        """The CPU plugin properties passed to ``compile_model``."""
        cfg = {"INFERENCE_PRECISION_HINT": self.float_precision}
        if self.threads is not None:
            cfg["INFERENCE_NUM_THREADS"] = str(self.threads)
        if self.streams is not None:
            cfg["NUM_STREAMS"] = str(self.streams)
        return cfg

    @property
    def record(self) -> ModelFile:
        """The opened model this runner runs."""
        return self._record

    def compiled(self, shape: tuple[int, ...]) -> Any:
        """The compiled model for input ``shape`` (N, 3, H, W), compiled on first use, LRU-cached.

        Raises:
            ModelError: the model has a fixed input size other than ``shape``.
        """
        return self._pool(shape).compiled

    def _pool(self, shape: tuple[int, ...]) -> RequestPool:
        with self._cache_lock:
            return self._pool_locked(shape)

    def _pool_locked(self, shape: tuple[int, ...]) -> RequestPool:
        hit = self._pools.get(shape)
        if hit is not None:
            self._compiled.move_to_end(shape)
            return hit
        fixed = self.input_shape[2:]
        if all(isinstance(d, int) for d in fixed) and tuple(shape[2:]) != tuple(fixed):
            msg = (
                f"{self.path}: model takes a fixed {fixed[1]}x{fixed[0]} input, got "
                f"{shape[3]}x{shape[2]} (export with --dynamic for any size)"
            )
            raise ModelError(msg)
        model = self._model.clone()
        model.reshape(list(shape))
        compiled = self._core.compile_model(model, "CPU", self.config)
        self._compiled[shape] = compiled
        self._pools[shape] = RequestPool(compiled)
        while len(self._compiled) > _SHAPE_CACHE:
            old, _ = self._compiled.popitem(last=False)
            del self._pools[old]  # callers holding its requests finish on them undisturbed
        return self._pools[shape]

    def requests(self, shape: tuple[int, ...]) -> int:
        """Infer requests run at once at input ``shape`` (the compiled model's streams)."""
        return self._pool(shape).size

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Upscale float32 ``(N, 3, H, W)`` RGB [0, 1] -> float32 ``(N, 3, H*s, W*s)``.

        Thread-safe: each call runs on a free infer request of the compiled model.
        """
        x = np.ascontiguousarray(x, dtype=np.float32)
        return self._pool(tuple(int(d) for d in x.shape)).infer(x)

    def run_many(
        self,
        items: Iterable[tuple[Any, np.ndarray]],
        sink: Callable[[Any, np.ndarray], None],
    ) -> None:
        """Run ``(key, x)`` inputs as parallel infer requests; ``sink(key, y)`` per output.

        ``y`` is a view that is reused afterwards (copy what you keep); see
        :func:`.ov_requests.run_many`.
        """

        def pool_of(x: np.ndarray) -> RequestPool:
            return self._pool(tuple(int(d) for d in x.shape))

        contiguous = ((k, np.ascontiguousarray(x, dtype=np.float32)) for k, x in items)
        run_many(contiguous, pool_of, sink=sink)

    def runtime_ops(self, shape: tuple[int, ...] = (1, 3, 32, 32)) -> list[dict[str, str]]:
        """What the CPU plugin runs: one dict per op of the runtime graph at ``shape``.

        Keys: ``name``, ``layerType``, ``runtimePrecision``, ``primitiveType``, ``outputPrecisions``
        (from each op's ``rt_info``).
        """
        rt = self.compiled(shape).get_runtime_model()
        ops = []
        for op in rt.get_ordered_ops():
            info = op.get_rt_info()
            row = {"name": op.get_friendly_name()}
            for key in ("layerType", "runtimePrecision", "primitiveType", "outputPrecisions"):
                row[key] = str(info[key].astype(str)) if key in info else ""
            ops.append(row)
        return ops

    def conv_precisions(self, shape: tuple[int, ...] = (1, 3, 32, 32)) -> dict[str, int]:
        """Runtime-graph convolutions counted by ``runtimePrecision`` (``u8``, ``f32`` ...)."""
        return dict(
            Counter(
                op["runtimePrecision"]
                for op in self.runtime_ops(shape)
                if op["layerType"] == "Convolution"
            )
        )

    def describe_precision(self, shape: tuple[int, ...] = (1, 3, 32, 32)) -> str:
        """One line: convolutions by runtime precision, e.g. ``"22 conv u8, 3 conv f32"``."""
        counts = self.conv_precisions(shape)
        return ", ".join(f"{n} conv {p}" for p, n in sorted(counts.items(), key=lambda kv: -kv[1]))


_EIGHT_BIT = ("u8", "i8")


@dataclass(frozen=True)
class D2SRuntimeInfo:
    """One DepthToSpace of OpenVINO's runtime graph.

    Attributes:
        name: the runtime op's friendly name.
        runtime_precision: ``runtimePrecision`` of the op (``"u8"``, ``"f32"`` ...).
        output_precisions: ``outputPrecisions`` of the op.
        primitive: ``primitiveType``.
    """

    name: str
    runtime_precision: str
    output_precisions: str
    primitive: str

    @property
    def is_int8(self) -> bool:
        """True when the op runs on and produces 8-bit data."""
        return self.runtime_precision.lower() in _EIGHT_BIT and all(
            p.strip().lower() in _EIGHT_BIT for p in self.output_precisions.split(",") if p.strip()
        )


def check_depth_to_space_int8_openvino(
    runner: OpenVinoRunner, shape: tuple[int, ...] = (1, 3, 32, 32)
) -> list[D2SRuntimeInfo]:
    """Describe every DepthToSpace OpenVINO's compiled model runs and raise unless all are 8-bit.

    Raises:
        QuantizationError: a DepthToSpace runs on or produces non-8-bit data, or there is none.
    """
    infos = [
        D2SRuntimeInfo(
            op["name"], op["runtimePrecision"], op["outputPrecisions"], op["primitiveType"]
        )
        for op in runner.runtime_ops(shape)
        if op["layerType"] == "DepthToSpace"
    ]
    if not infos:
        msg = f"{runner.path}: no DepthToSpace in OpenVINO's runtime graph"
        raise QuantizationError(msg)
    bad = [i for i in infos if not i.is_int8]
    if bad:
        b = bad[0]
        msg = (
            f"{runner.path.name}: DepthToSpace {b.name!r} runs in {b.runtime_precision} "
            f"(output {b.output_precisions}) in OpenVINO's compiled model; "
            f"{len(bad)} of {len(infos)} DepthToSpace ops are not 8-bit"
        )
        raise QuantizationError(msg)
    return infos
