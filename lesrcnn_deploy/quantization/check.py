"""PixelShuffle stays int8: every DepthToSpace of the ORT-optimized graph reads and writes 8 bits.

ONNX Runtime's quantizer has no DepthToSpace handler; whether the op runs on uint8 is decided by
the graph optimizer (ORT >= 1.21 drops a ``DequantizeLinear -> DepthToSpace -> QuantizeLinear``
sandwich with equal scales). So the check runs on the graph ORT actually executes: the session
writes its optimized model (``SessionOptions.optimized_model_filepath``) and the element type of
each DepthToSpace input and output is propagated from the graph inputs and initializers through
the ops (``QuantizeLinear`` and ``QLinear*`` produce their zero point's type, layout ops keep their
input's type, ``DequantizeLinear`` and every float op produce float).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import onnx
import onnxruntime as ort

from ..core.errors import QuantizationError
from ..core.onnx_io import open_session, session_options

__all__ = [
    "DepthToSpaceInfo",
    "check_depth_to_space_int8",
    "depth_to_space_types",
    "element_types",
]

_EIGHT_BIT = frozenset({onnx.TensorProto.UINT8, onnx.TensorProto.INT8})
_LAYOUT_OPS = frozenset(
    {
        "Transpose",
        "DepthToSpace",
        "SpaceToDepth",
        "Reshape",
        "Identity",
        "Squeeze",
        "Unsqueeze",
        "Flatten",
        "Slice",
        "Pad",
        "MaxPool",
        "Concat",
        "Split",
    }
)
# index of the output zero-point input of ops whose output type is that zero point's type
_OUT_ZERO_POINT = {
    "QuantizeLinear": 2,
    "QLinearConv": 7,
    "QLinearAdd": 7,
    "QLinearMul": 7,
    "QLinearMatMul": 7,
    "QLinearLeakyRelu": 4,
    "QLinearSigmoid": 4,
    "QLinearAveragePool": 4,
    "QLinearGlobalAveragePool": 4,
    "QLinearConcat": 1,
}


@dataclass(frozen=True)
class DepthToSpaceInfo:
    """One DepthToSpace of the optimized graph.

    Attributes:
        node: node name in the optimized graph.
        input_type: element type name of its input (``"UINT8"``, ``"FLOAT"`` ...).
        output_type: element type name of its output.
        producer: op type that produces its input (``"-"`` for a graph input).
    """

    node: str
    input_type: str
    output_type: str
    producer: str

    @property
    def is_int8(self) -> bool:
        """True when both input and output are 8-bit integers."""
        return self.input_type in ("UINT8", "INT8") and self.output_type in ("UINT8", "INT8")


def element_types(model: onnx.ModelProto) -> dict[str, int]:
    """Element type (``onnx.TensorProto`` enum) of every tensor of a topologically sorted graph."""
    types: dict[str, int] = {}
    for vi in [*model.graph.input, *model.graph.output, *model.graph.value_info]:
        if vi.type.tensor_type.elem_type:
            types[vi.name] = vi.type.tensor_type.elem_type
    for init in model.graph.initializer:
        types[init.name] = init.data_type
    for node in model.graph.node:
        op = node.op_type
        t: int
        if op == "DequantizeLinear":
            t = onnx.TensorProto.FLOAT
        elif op in _OUT_ZERO_POINT:
            i = _OUT_ZERO_POINT[op]
            zp = node.input[i] if len(node.input) > i else ""
            t = types.get(zp, onnx.TensorProto.UINT8)
        elif op in _LAYOUT_OPS and node.input:
            t = types.get(node.input[0], onnx.TensorProto.UNDEFINED)
        else:
            t = onnx.TensorProto.FLOAT
        for out in node.output:
            if out and out not in types:
                types[out] = t
    return types


def depth_to_space_types(
    model_path: str | os.PathLike[str],
    *,
    level: ort.GraphOptimizationLevel = ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    threads: int = 1,
) -> list[DepthToSpaceInfo]:
    """Optimize ``model_path`` with ORT's CPU provider and describe each DepthToSpace.

    Args:
        model_path: an ONNX model (fp32 or QDQ).
        level: graph optimization level (the check is meaningful at ``ORT_ENABLE_ALL``, what
            inference sessions use; lower levels leave DQ/Q around DepthToSpace).
        threads: intra-op threads of the throw-away session.

    Returns:
        One :class:`DepthToSpaceInfo` per DepthToSpace, in graph order.
    """
    with tempfile.TemporaryDirectory(prefix="lesrcnn-d2s-") as tmp:
        opt = Path(tmp) / "optimized.onnx"
        so = session_options(threads, optimized_model_path=opt, level=level)
        open_session(model_path, options=so)
        model = onnx.load(os.fspath(opt))
    types = element_types(model)
    producer = {o: n for n in model.graph.node for o in n.output}
    name = onnx.TensorProto.DataType.Name
    out = []
    for node in model.graph.node:
        if node.op_type != "DepthToSpace":
            continue
        src = producer.get(node.input[0])
        out.append(
            DepthToSpaceInfo(
                node=node.name,
                input_type=name(types.get(node.input[0], 0)),
                output_type=name(types.get(node.output[0], 0)),
                producer=src.op_type if src is not None else "-",
            )
        )
    return out


def check_depth_to_space_int8(
    model_path: str | os.PathLike[str],
    *,
    level: ort.GraphOptimizationLevel = ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
) -> list[DepthToSpaceInfo]:
    """Describe every DepthToSpace and raise unless all of them run on 8-bit tensors.

    Raises:
        QuantizationError: a DepthToSpace consumes or produces a non-8-bit tensor (the message
            names the node and the types), or the graph has no DepthToSpace at all.
    """
    infos = depth_to_space_types(model_path, level=level)
    if not infos:
        msg = f"{model_path}: no DepthToSpace in the optimized graph (not a LESRCNN model?)"
        raise QuantizationError(msg)
    bad = [i for i in infos if not i.is_int8]
    if bad:
        b = bad[0]
        msg = (
            f"{Path(model_path).name}: DepthToSpace {b.node!r} runs in float after ORT graph "
            f"optimization ({b.input_type} -> {b.output_type}, fed by {b.producer}); "
            f"{len(bad)} of {len(infos)} DepthToSpace nodes are not 8-bit"
        )
        raise QuantizationError(msg)
    return infos
