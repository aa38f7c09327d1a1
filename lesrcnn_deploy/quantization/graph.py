"""Exact fp32 graph rewrites before quantization, and layer-name -> ONNX node resolution.

All rewrites keep the fp32 function bit-for-bit (tested): they only move or fold operations so
that the int8 graph is faster and loses less.

* Constants and identities of initializers become initializers (the exporter emits both).
* ``DepthToSpace -> Relu`` becomes ``Relu -> DepthToSpace`` (ReLU is element-wise, so it commutes
  with the pixel shuffle). ORT then fuses the ReLU into the upsample conv and DepthToSpace runs on
  the conv's uint8 output: PixelShuffle stays 8-bit.
* The final ``add_mean`` 1x1 conv (identity weight, bias = DIV2K mean) is folded into ``conv18``
  (weight ``A @ W``, bias ``A @ b + c``): one tensor fewer to quantize at the output.
* Optionally, bias-free convs get a zero bias (weight rounding fits it: bias correction).

One rewrite is applied to the final float graph only, just before ORT's quantizer
(:func:`insert_layout_anchors`): an identity 1x1 conv between a float layer's output and the
residual adds that read it. Quantized, it computes exactly its uint8 input, but it gives ORT's
layout optimizer an NHWC producer, and then the whole residual trunk stays NHWC instead of
transposing around every add (about 20 transposes, ~7 % of the x2 int8 time at 128x128).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import onnx
from onnx import numpy_helper

from ..core.errors import ConfigError, ModelError

__all__ = [
    "add_zero_biases",
    "conv_nodes",
    "fold_output_shift",
    "insert_layout_anchors",
    "layer_of",
    "materialize_constants",
    "prepare_graph",
    "relu_before_depth_to_space",
    "resolve_layers",
    "upsample_convs",
]


def materialize_constants(model: onnx.ModelProto) -> None:
    """Turn ``Constant`` nodes and ``Identity`` of initializers into initializers (in place)."""
    g = model.graph
    inits = {i.name: i for i in g.initializer}
    keep = []
    for n in g.node:
        if n.op_type == "Constant" and len(n.attribute) == 1 and n.attribute[0].name == "value":
            arr = numpy_helper.to_array(n.attribute[0].t)
            g.initializer.append(numpy_helper.from_array(arr, n.output[0]))
            inits[n.output[0]] = g.initializer[-1]
        elif n.op_type == "Identity" and n.input[0] in inits:
            arr = numpy_helper.to_array(inits[n.input[0]])
            g.initializer.append(numpy_helper.from_array(arr, n.output[0]))
            inits[n.output[0]] = g.initializer[-1]
        else:
            keep.append(n)
    del g.node[:]
    g.node.extend(keep)


def _consumers(model: onnx.ModelProto, tensor: str) -> list[onnx.NodeProto]:
    return [n for n in model.graph.node if tensor in n.input]


def relu_before_depth_to_space(model: onnx.ModelProto) -> int:
    """Rewrite every ``DepthToSpace -> Relu`` (sole consumer) as ``Relu -> DepthToSpace``.

    Returns:
        Number of rewritten pairs.
    """
    g = model.graph
    outputs = {o.name for o in g.output}
    count = 0
    for d2s in [n for n in g.node if n.op_type == "DepthToSpace"]:
        cons = _consumers(model, d2s.output[0])
        if len(cons) != 1 or cons[0].op_type != "Relu" or d2s.output[0] in outputs:
            continue
        relu = cons[0]
        x, mid, y = d2s.input[0], d2s.output[0], relu.output[0]
        relu.input[0], relu.output[0] = x, mid
        d2s.input[0], d2s.output[0] = mid, y
        nodes = list(g.node)
        i, j = nodes.index(d2s), nodes.index(relu)
        nodes[i], nodes[j] = nodes[j], nodes[i]
        del g.node[:]
        g.node.extend(nodes)
        count += 1
    return count


def fold_output_shift(model: onnx.ModelProto) -> bool:
    """Fold a final 1x1 Conv (``add_mean``) into the Conv that feeds it; True if folded."""
    g = model.graph
    inits = {i.name: i for i in g.initializer}
    producer = {o: n for n in g.node for o in n.output}
    last = producer.get(g.output[0].name)
    if last is None or last.op_type != "Conv" or len(last.input) < 3:
        return False
    prev = producer.get(last.input[0])
    if prev is None or prev.op_type != "Conv" or len(_consumers(model, last.input[0])) != 1:
        return False
    if last.input[1] not in inits or prev.input[1] not in inits:
        return False
    wa = numpy_helper.to_array(inits[last.input[1]]).astype(np.float64)
    if wa.shape[2:] != (1, 1):
        return False
    a = wa[:, :, 0, 0]
    c = numpy_helper.to_array(inits[last.input[2]]).astype(np.float64)
    wp = numpy_helper.to_array(inits[prev.input[1]]).astype(np.float64)
    bp = (
        numpy_helper.to_array(inits[prev.input[2]]).astype(np.float64)
        if len(prev.input) > 2 and prev.input[2]
        else np.zeros(wp.shape[0])
    )
    w = np.einsum("oc,cikl->oikl", a, wp).astype(np.float32)
    b = (a @ bp + c).astype(np.float32)
    wn, bn = f"{prev.name}_folded_weight", f"{prev.name}_folded_bias"
    g.initializer.extend([numpy_helper.from_array(w, wn), numpy_helper.from_array(b, bn)])
    del prev.input[1:]
    prev.input.extend([wn, bn])
    prev.output[0] = last.output[0]
    g.node.remove(last)
    return True


def add_zero_biases(model: onnx.ModelProto) -> int:
    """Give every bias-free Conv a zero bias (in place); returns how many were added."""
    g = model.graph
    inits = {i.name: i for i in g.initializer}
    count = 0
    for n in g.node:
        if n.op_type == "Conv" and (len(n.input) < 3 or not n.input[2]) and n.input[1] in inits:
            out_ch = inits[n.input[1]].dims[0]
            name = f"{n.name}_bias"
            g.initializer.append(numpy_helper.from_array(np.zeros(out_ch, np.float32), name))
            if len(n.input) < 3:
                n.input.append(name)
            else:
                n.input[2] = name
            count += 1
    return count


def _drop_unused_initializers(model: onnx.ModelProto) -> None:
    g = model.graph
    used = {i for n in g.node for i in n.input}
    keep = [i for i in g.initializer if i.name in used]
    del g.initializer[:]
    g.initializer.extend(keep)


def prepare_graph(
    model: onnx.ModelProto,
    *,
    relu_first: bool = True,
    fold_shift: bool = True,
    zero_biases: bool = False,
) -> onnx.ModelProto:
    """Return a rewritten copy of ``model`` (see the module docstring); stale shapes dropped."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    materialize_constants(m)
    if relu_first:
        relu_before_depth_to_space(m)
    if fold_shift:
        fold_output_shift(m)
    if zero_biases:
        add_zero_biases(m)
    _drop_unused_initializers(m)
    del m.graph.value_info[:]
    return m


LAYOUT_ANCHOR = "layout_anchor"
"""Name stem of the identity convs inserted by :func:`insert_layout_anchors`."""


def insert_layout_anchors(model: onnx.ModelProto, float_nodes: Iterable[str]) -> dict[str, str]:
    """Route float-produced inputs of ``Add`` nodes through an identity 1x1 conv (in place).

    For every tensor that a float layer (one of ``float_nodes``, or a ``Relu`` right after one)
    produces and an ``Add`` consumes, a ``Conv`` with identity weights (``C x C x 1 x 1``, no
    bias) is inserted for the ``Add`` consumers only; other consumers keep the original tensor.

    Returns:
        ``{anchor output tensor: anchored tensor}``; the caller gives each anchor output the
        anchored tensor's quantization range, so the quantized anchor is an exact identity.
    """
    g = model.graph
    floats = set(float_nodes)
    producer = {o: n for n in g.node for o in n.output}
    inits = {i.name: i for i in g.initializer}

    def from_float(t: str) -> onnx.NodeProto | None:
        n = producer.get(t)
        if n is not None and n.op_type == "Relu":
            n = producer.get(n.input[0])
        return n if n is not None and n.name in floats and n.op_type == "Conv" else None

    anchors: dict[str, str] = {}
    for k, tensor in enumerate(dict.fromkeys(o for n in g.node for o in n.output)):
        conv = from_float(tensor)
        adds = [n for n in g.node if n.op_type == "Add" and tensor in n.input]
        if conv is None or not adds or conv.input[1] not in inits:
            continue
        channels = inits[conv.input[1]].dims[0]
        name = f"/{LAYOUT_ANCHOR}_{k}"
        weight = numpy_helper.from_array(
            np.eye(channels, dtype=np.float32).reshape(channels, channels, 1, 1),
            f"{LAYOUT_ANCHOR}_{k}.weight",
        )
        g.initializer.append(weight)
        out = f"{tensor}_{LAYOUT_ANCHOR}"
        node = onnx.helper.make_node(
            "Conv", [tensor, weight.name], [out], name=f"{name}/Conv", kernel_shape=[1, 1]
        )
        at = next(i for i, n in enumerate(g.node) if tensor in n.output)
        g.node.insert(at + 1, node)
        for a in adds:
            for i, t in enumerate(a.input):
                if t == tensor:
                    a.input[i] = out
        anchors[out] = tensor
    return anchors


def conv_nodes(model: onnx.ModelProto) -> list[onnx.NodeProto]:
    """Conv nodes in graph order."""
    return [n for n in model.graph.node if n.op_type == "Conv"]


def upsample_convs(model: onnx.ModelProto) -> list[str]:
    """Names of the convs whose output reaches a DepthToSpace (directly or through a Relu)."""
    g = model.graph
    producer = {o: n for n in g.node for o in n.output}
    names = []
    for d2s in (n for n in g.node if n.op_type == "DepthToSpace"):
        p = producer.get(d2s.input[0])
        if p is not None and p.op_type == "Relu":
            p = producer.get(p.input[0])
        if p is not None and p.op_type == "Conv":
            names.append(p.name)
    return names


def layer_of(node_name: str) -> str:
    """The module name of an exported conv: ``/model/conv17_1/conv17_1.0/Conv`` -> ``conv17_1``.

    The exporter names a module's node ``/<wrappers>/<module>/<submodule>/<Op>``.
    """
    parts = [p for p in node_name.split("/") if p]
    if len(parts) >= 3:
        return parts[-3]
    return parts[0] if parts else node_name


def resolve_layers(model: onnx.ModelProto, layers: Iterable[str]) -> list[str]:
    """ONNX Conv node names of the given layer names (``upsample`` = every upsample conv).

    Raises:
        ConfigError: a layer name matches no Conv of the graph (the message lists the known ones).
    """
    convs = conv_nodes(model)
    ups = set(upsample_convs(model))
    known = sorted({layer_of(n.name) for n in convs if n.name not in ups} | {"upsample"})
    out: list[str] = []
    for layer in layers:
        if layer == "upsample":
            hits = [n.name for n in convs if n.name in ups]
        else:
            hits = [n.name for n in convs if layer_of(n.name) == layer and n.name not in ups]
        if not hits:
            msg = f"keep_float: no layer {layer!r} in this graph; known layers: {', '.join(known)}"
            raise ConfigError(msg)
        out.extend(h for h in hits if h not in out)
    return out


def check_lesrcnn_graph(model: onnx.ModelProto, where: str) -> None:
    """Refuse graphs that are not LESRCNN-like (no Conv/DepthToSpace, or several inputs)."""
    ops = {n.op_type for n in model.graph.node}
    if "DepthToSpace" not in ops or "Conv" not in ops or len(model.graph.input) != 1:
        msg = f"{where}: not a LESRCNN graph (expects one input, Conv and DepthToSpace nodes)"
        raise ModelError(msg)
