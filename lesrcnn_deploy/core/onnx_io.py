"""ONNX model files: the toolkit's ``lesrcnn.*`` metadata (one writer, one reader) and the ONNX
Runtime session options every session is opened with.

Export, quantization, the runtimes and the benchmark all go through this module, so a model's
scale, precision and provenance are written and read the same way everywhere.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import ConfigError, ModelError

if TYPE_CHECKING:
    import onnx
    import onnxruntime as ort

__all__ = [
    "META_PREFIX",
    "check_model",
    "open_session",
    "parse_metadata",
    "proto_metadata",
    "read_metadata",
    "session_options",
    "write_metadata",
]

META_PREFIX = "lesrcnn."
"""Prefix of the ONNX ``metadata_props`` keys written by the exporter and quantizer."""


def write_metadata(
    model: onnx.ModelProto, values: Mapping[str, str], *, sort: bool = False
) -> None:
    """Set ``lesrcnn.<key>`` = value on ``model`` (in place), keeping its other metadata.

    Args:
        model: the ONNX model proto.
        values: keys without the prefix -> string values.
        sort: store every entry sorted by key (the quantizer's layout); otherwise the existing
            order is kept and new keys are appended in ``values`` order.
    """
    props = {p.key: p.value for p in model.metadata_props}
    props.update({META_PREFIX + k: v for k, v in values.items()})
    del model.metadata_props[:]
    for k in sorted(props) if sort else props:
        entry = model.metadata_props.add()
        entry.key, entry.value = k, props[k]


def proto_metadata(model: onnx.ModelProto) -> dict[str, str]:
    """The ``lesrcnn.*`` metadata of a loaded model proto (prefix stripped)."""
    return {
        p.key[len(META_PREFIX) :]: p.value
        for p in model.metadata_props
        if p.key.startswith(META_PREFIX)
    }


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


def parse_metadata(data: bytes, path: str | os.PathLike[str] = "") -> dict[str, str]:
    """The ``lesrcnn.*`` metadata (prefix stripped) of the serialized ONNX model ``data`` (read
    from ``path``, which the message names), without the ``onnx`` package and without decoding
    the weights.

    Raises:
        ModelError: truncated or not an ONNX model.
    """
    try:
        props, nodes = _parse_model(data)
    except ValueError as exc:  # bad wire format, truncation, invalid UTF-8
        msg = f"{path}: not a readable ONNX model (truncated or corrupted: {type(exc).__name__})"
        raise ModelError(msg) from exc
    if not nodes:
        msg = f"{path}: not a readable ONNX model (empty graph)"
        raise ModelError(msg)
    return {k[len(META_PREFIX) :]: v for k, v in props.items() if k.startswith(META_PREFIX)}


def read_metadata(path: str | os.PathLike[str]) -> dict[str, str]:
    """The ``lesrcnn.*`` metadata of an ONNX file (see :func:`parse_metadata`); inference opens
    its models through :func:`lesrcnn_deploy.models.open_model` instead, which reads them once.

    Raises:
        ModelError: the file is missing, truncated or not an ONNX model.
    """
    p = Path(path)
    if not p.is_file():
        msg = f"{p}: model file not found"
        raise ModelError(msg)
    return parse_metadata(p.read_bytes(), p)


def check_model(
    path: str | os.PathLike[str],
    metadata: Mapping[str, str],
    *,
    scale: int = 0,
    precision: str = "",
    asked: str = "",
) -> None:
    """The one check that a model is of the scale and precision asked for (0 / "" = any).

    ``asked`` names the request in the message when it differs from the model precision it
    needs (``bf16`` needs an fp32 model).

    Raises:
        ModelError: ``this is a x3 model, asked for x2`` or ``this is a fp32 model, asked for
            int8``.
    """
    found_scale = metadata.get("scale")
    if scale and found_scale is not None and found_scale != str(scale):
        msg = f"{path}: this is a x{found_scale} model, asked for x{scale}"
        raise ModelError(msg)
    found_prec = metadata.get("precision", "fp32")
    if precision and found_prec != precision:
        article = "an" if found_prec[:1] in "aefhilmnorsx" else "a"
        msg = (
            f"{path}: this is {article} {found_prec} model, asked for {asked or precision} "
            "(use --precision)"
        )
        raise ModelError(msg)


def session_options(
    threads: int | None = None,
    *,
    optimized_model_path: str | os.PathLike[str] | None = None,
    level: ort.GraphOptimizationLevel | None = None,
    spinning: bool = False,
) -> ort.SessionOptions:
    """ORT session options: ``threads`` intra-op threads (``None`` = ORT default), one inter-op.

    ``level`` defaults to ``ORT_ENABLE_ALL``. ``spinning=False`` (the default) stops idle
    intra-op threads from busy-waiting between parallel sections. With several sessions alive in
    one process (fp32 and int8 side by side, as in the benchmark) on few cores, the spinning
    threads of the session that just ran steal the cores of the next one: on 2 cores this made
    both ~25-50 % slower when interleaved, the small-op int8 graph most. Alone, a session is as
    fast or faster without spinning (x2 int8 at 128x128: 33.6 ms vs 35.8 ms).
    """
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = (
        level if level is not None else ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    )
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


def open_session(
    model: str | os.PathLike[str] | bytes,
    *,
    threads: int | None = None,
    options: ort.SessionOptions | None = None,
) -> ort.InferenceSession:
    """The one way the toolkit opens an ONNX Runtime CPU session (a path or serialized bytes).

    ``options`` defaults to :func:`session_options` with ``threads``.
    """
    import onnxruntime as ort

    source = model if isinstance(model, bytes) else os.fspath(model)
    so = options if options is not None else session_options(threads)
    return ort.InferenceSession(source, sess_options=so, providers=["CPUExecutionProvider"])
