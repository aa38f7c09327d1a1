"""Inference back-ends behind one call signature: ONNX Runtime sessions and PyTorch models.

A runner maps float32 ``(N, 3, H, W)`` RGB in [0, 1] to float32 ``(N, 3, H*s, W*s)`` RGB.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Protocol as TypingProtocol

import numpy as np
import onnxruntime as ort

from .errors import ConfigError, ModelError, WeightsError
from .fileio import sha256_file
from .scales import check_scale
from .threads import torch_threads

if TYPE_CHECKING:  # PyTorch is imported only when a PyTorch runner is used
    from .model import LESRCNN

__all__ = [
    "META_PREFIX",
    "OnnxRunner",
    "Runner",
    "TorchRunner",
    "model_metadata",
    "open_runner",
    "read_metadata",
    "session_options",
]

META_PREFIX = "lesrcnn."
"""Prefix of the ONNX ``metadata_props`` keys written by the exporter and quantizer."""


class Runner(TypingProtocol):
    """Anything that upscales a float32 NCHW RGB batch."""

    scale: int
    kind: str

    def __call__(self, x: np.ndarray) -> np.ndarray: ...


def session_options(
    threads: int | None = None,
    *,
    optimized_model_path: str | os.PathLike[str] | None = None,
    level: ort.GraphOptimizationLevel = ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    spinning: bool = False,
) -> ort.SessionOptions:
    """ORT session options: ``threads`` intra-op threads (``None`` = ORT default), one inter-op.

    ``spinning=False`` (the default) stops idle intra-op threads from busy-waiting between
    parallel sections. With several sessions alive in one process (fp32 and int8 side by side,
    as in the benchmark) on few cores, the spinning threads of the session that just ran steal
    the cores of the next one: on 2 cores this made both ~25-50 % slower when interleaved, the
    small-op int8 graph most. Alone, a session is as fast or faster without spinning (x2 int8 at
    128x128: 33.6 ms vs 35.8 ms).
    """
    so = ort.SessionOptions()
    so.graph_optimization_level = level
    so.log_severity_level = 3
    if not spinning:
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if threads is not None:
        if threads < 1:
            msg = f"threads must be >= 1, got {threads}"
            raise ConfigError(msg)
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
    if optimized_model_path is not None:
        so.optimized_model_filepath = os.fspath(optimized_model_path)
    return so


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    """A protobuf varint at ``pos``: ``(value, next position)``."""
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            msg = "truncated varint"
            raise ValueError(msg)
        byte = data[pos]
        value |= (byte & 0x7F) << shift
        pos, shift = pos + 1, shift + 7
        if byte < 0x80:
            return value, pos


def _fields(data: bytes, start: int, stop: int) -> Iterator[tuple[int, int, int, int]]:
    """``(field number, wire type, start, stop)`` of each field of the message ``data[start:stop]``
    (for a length-delimited field the span of its bytes, else of its encoding)."""
    pos = start
    while pos < stop:
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        begin = pos
        if wire == 0:
            _, pos = _varint(data, pos)
        elif wire in (1, 5):
            pos += 8 if wire == 1 else 4
        elif wire == 2:
            size, begin = _varint(data, pos)
            pos = begin + size
        else:
            msg = f"wire type {wire}"
            raise ValueError(msg)
        if number == 0 or pos > stop:
            msg = "bad field"
            raise ValueError(msg)
        yield number, wire, begin, pos


_GRAPH, _METADATA_PROPS, _GRAPH_NODE = 7, 14, 1
"""Field numbers in onnx.proto: ModelProto.graph, ModelProto.metadata_props, GraphProto.node."""


def _parse_model(data: bytes) -> tuple[dict[str, str], int]:
    """``(metadata_props, number of graph nodes)`` of a serialized ``ModelProto``.

    A few dozen lines of protobuf wire format instead of the ``onnx`` package, which the runtime
    install does not have: the model's other fields (the weights too) are skipped by length.
    """
    props: dict[str, str] = {}
    nodes = 0
    for number, wire, begin, end in _fields(data, 0, len(data)):
        if wire != 2:
            continue
        if number == _GRAPH:
            inner = _fields(data, begin, end)
            nodes += sum(1 for n, w, _, _ in inner if n == _GRAPH_NODE and w == 2)
        elif number == _METADATA_PROPS:
            entry = {n: data[b:e].decode() for n, w, b, e in _fields(data, begin, end) if w == 2}
            props[entry.get(1, "")] = entry.get(2, "")
    return props, nodes


def read_metadata(path: str | os.PathLike[str]) -> dict[str, str]:
    """The ``lesrcnn.*`` metadata of an ONNX file (prefix stripped), read without the ``onnx``
    package and without decoding the weights.

    Raises:
        ModelError: the file is missing, truncated or not an ONNX model.
    """
    p = Path(path)
    if not p.is_file():
        msg = f"{p}: model file not found"
        raise ModelError(msg)
    try:
        props, nodes = _parse_model(p.read_bytes())
    except ValueError as exc:  # bad wire format, truncation, invalid UTF-8
        msg = f"{p}: not a readable ONNX model (truncated or corrupted: {type(exc).__name__})"
        raise ModelError(msg) from exc
    if not nodes:
        msg = f"{p}: not a readable ONNX model (empty graph)"
        raise ModelError(msg)
    return {k[len(META_PREFIX) :]: v for k, v in props.items() if k.startswith(META_PREFIX)}


def model_metadata(path: Path, scale: int = 0) -> tuple[dict[str, str], int]:
    """``(lesrcnn.* metadata, scale)`` of a toolkit model; ``scale`` (0 = any) must match.

    Raises:
        ModelError: unreadable, not a lesrcnn-deploy model, or of another scale.
    """
    metadata = read_metadata(path)
    meta_scale = metadata.get("scale")
    if meta_scale is None:
        msg = f"{path}: not a lesrcnn-deploy model (no lesrcnn.scale metadata)"
        raise ModelError(msg)
    found = int(meta_scale)
    if scale and scale != found:
        msg = f"{path}: this is a x{found} model, asked for x{scale}"
        raise ModelError(msg)
    return metadata, found


@dataclass
class OnnxRunner:
    """ONNX Runtime CPU session for a LESRCNN ONNX model (fp32 or int8).

    Args:
        path: the ``.onnx`` file.
        threads: intra-op threads (``None`` = ORT default).
        scale: expected scale; checked against the model's metadata.
    """

    path: Path
    threads: int | None = None
    scale: int = 0
    kind: str = "onnx"
    metadata: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        self.metadata, self.scale = model_metadata(self.path, self.scale)
        self.kind = "onnx-" + self.metadata.get("precision", "fp32")
        try:
            self._session = ort.InferenceSession(
                os.fspath(self.path),
                sess_options=session_options(self.threads),
                providers=["CPUExecutionProvider"],
            )
        except Exception as exc:  # ORT raises its own Fail/InvalidGraph classes
            first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ""
            msg = f"{self.path}: ONNX Runtime cannot load the model ({first})"
            raise ModelError(msg) from exc
        inputs = self._session.get_inputs()
        if len(inputs) != 1 or len(inputs[0].shape) != 4:
            msg = f"{self.path}: expected one NCHW input, found {[i.shape for i in inputs]}"
            raise ModelError(msg)
        self._input = inputs[0].name
        self.input_shape = tuple(inputs[0].shape)

    @property
    def sha256(self) -> str:
        """SHA256 of the model file."""
        return sha256_file(self.path)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Upscale float32 ``(N, 3, H, W)`` RGB [0, 1] -> float32 ``(N, 3, H*s, W*s)``."""
        fixed = self.input_shape[2:]
        if all(isinstance(d, int) for d in fixed) and tuple(x.shape[2:]) != tuple(fixed):
            msg = (
                f"{self.path}: model takes a fixed {fixed[1]}x{fixed[0]} input, got "
                f"{x.shape[3]}x{x.shape[2]} (export with --dynamic for any size)"
            )
            raise ModelError(msg)
        out = self._session.run(None, {self._input: np.ascontiguousarray(x, dtype=np.float32)})
        return np.asarray(out[0])


@dataclass
class TorchRunner:
    """PyTorch eager runner (fp32, CPU) around a :class:`LESRCNN`."""

    model: LESRCNN
    scale: int
    threads: int | None = None
    kind: str = "torch-fp32"

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Upscale float32 ``(N, 3, H, W)`` RGB [0, 1] -> float32 ``(N, 3, H*s, W*s)``."""
        import torch

        with torch_threads(self.threads), torch.inference_mode():
            y = self.model(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)), self.scale)
        return y.numpy()


def open_runner(
    path: str | os.PathLike[str],
    *,
    scale: int | None = None,
    threads: int | None = None,
    allow_custom_weights: bool = False,
    runtime: str = "ort",
    precision: str | None = None,
) -> Runner:
    """Open an ``.onnx`` model or a ``.pth`` checkpoint as a runner.

    For a ``.pth`` the scale is required (or read from the checkpoint); a blind checkpoint needs
    ``scale`` to pick its head. An ``.onnx`` runs on ``runtime`` (``"ort"``, ``"openvino"`` or
    ``"auto"``) at ``precision`` (``None`` = the model's own, or ``"bf16"`` on OpenVINO), see
    :func:`lesrcnn_deploy.runtime_select.open_onnx_runner`; a ``.pth`` runs in PyTorch fp32.

    Raises:
        ConfigError: unknown extension or scale.
        ModelError, WeightsError: unreadable or mismatched model.
    """
    from .weights import checkpoint_scale, load_model, read_state_dict

    p = Path(path)
    if scale is not None:
        check_scale(scale)
    suffix = p.suffix.lower()
    if suffix == ".onnx":
        from .runtime_select import open_onnx_runner

        return open_onnx_runner(
            p, runtime=runtime, precision=precision, threads=threads, scale=scale or 0
        )
    if suffix in (".pth", ".pt"):
        if runtime not in ("ort", "auto") or precision not in (None, "fp32"):
            msg = f"{p}: a .pth checkpoint runs in PyTorch fp32 only (no runtime/precision choice)"
            raise ConfigError(msg)
        if not p.is_file():
            msg = f"{p}: checkpoint file not found"
            raise WeightsError(msg)
        found = checkpoint_scale(read_state_dict(p))
        if found is None and scale is None:
            msg = f"{p}: blind (multi-scale) checkpoint: give --scale 2, 3 or 4"
            raise ConfigError(msg)
        model_scale = found
        if found is not None and scale is not None and found != scale:
            msg = f"{p}: this is a x{found} checkpoint, asked for x{scale}"
            raise WeightsError(msg)
        model, _, _ = load_model(model_scale, p, allow_custom=allow_custom_weights)
        run_scale = scale if scale is not None else found
        assert run_scale is not None
        return TorchRunner(model, run_scale, threads)
    msg = f"{p}: unsupported model file (expected .onnx or .pth)"
    raise ConfigError(msg)
