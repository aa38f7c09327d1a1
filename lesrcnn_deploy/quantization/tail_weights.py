"""int8 weights for the float convolutions that already read 8-bit activations (``conv18``).

Our int8 model keeps ``conv18`` (64 -> 3 channels at HR, the RGB output) in float for accuracy.
Its input is already quantized (``QuantizeLinear -> DequantizeLinear`` after ``conv17_4``), so
only its weights are float. OpenVINO then dequantizes the 64-channel HR activation to f32 and runs
a f32 convolution, which is most of the speed gap to an all-int8 graph. Giving such a conv int8
weights (per output channel, symmetric, a ``DequantizeLinear`` on the weight) lets OpenVINO run it
as a u8 x i8 convolution with f32 output; the output itself stays unquantized.

Nearest rounding of these weights costs about 0.3 dB at x2 (the output layer maps weight error
straight into the image). The weights are rounded with GPTQ instead (Frantar et al., 2022):
column by column, each rounding error is compensated on the not yet rounded weights through the
inverse Hessian ``H = X X^T`` of the layer's input patches ``X``, taken from the int8 model's own
(quantized) activations on the built-in calibration photos. That makes the error energy on the
calibration data about 50x smaller than nearest rounding, and the Set5 drop within ~0.01 dB of
the float-``conv18`` model. ONNX Runtime runs the result as before (float conv with dequantized
weights), at the same speed.

The pipeline fits the weights once, when a recipe is trained (:func:`fit_tail_weights`, float
math that may differ in the last bits between CPUs), and stores the int8 values and scales in the
recipe; replaying it only attaches them (:func:`attach_tail_weights`, no arithmetic), so the
replayed model is byte-identical everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import onnx
from onnx import helper, numpy_helper

from ..core.errors import QuantizationError

__all__ = [
    "TAIL_SUFFIX",
    "TailWeightsFit",
    "attach_tail_weights",
    "fit_tail_weights",
    "gptq_round",
    "is_tail_tensor",
]

TAIL_SUFFIX = "_w8"
"""Recipe tensors ``<weight>_w8`` (int8) and ``<weight>_w8_scale`` (float32) hold the int8 weights
of the float conv whose weight initializer is ``<weight>``."""


@dataclass(frozen=True)
class TailWeightsFit:
    """What :func:`fit_tail_weights` found.

    Attributes:
        tensors: ``{<weight>_w8: int8 (out, in, kh, kw), <weight>_w8_scale: float32 (out,)}``.
        nodes: the convolutions that get int8 weights.
        error_nearest: output error energy of nearest rounding on the calibration patches.
        error_gptq: the same for the GPTQ rounding (smaller is better).
    """

    tensors: dict[str, npt.NDArray[np.generic]]
    nodes: tuple[str, ...]
    error_nearest: float
    error_gptq: float

    def summary(self) -> dict[str, object]:
        """JSON-ready summary for the recipe's training record (errors to 4 significant digits:
        the last bits of float sums are not part of what a retrain reproduces)."""
        return {
            "nodes": list(self.nodes),
            "error_nearest": float(f"{self.error_nearest:.4g}"),
            "error_gptq": float(f"{self.error_gptq:.4g}"),
        }


def gptq_round(
    weight: npt.NDArray[np.float64],
    hessian: npt.NDArray[np.float64],
    *,
    scale: npt.NDArray[np.float64],
    damp: float = 0.01,
) -> npt.NDArray[np.int8]:
    """Round ``weight`` ``(out, k)`` to int8 on the grid ``scale`` ``(out,)`` with GPTQ.

    Args:
        weight: float weights, one row per output channel.
        hessian: ``(k, k)`` Gram matrix of the layer's inputs (``X X^T``).
        scale: per-row quantization step (symmetric, zero point 0, range [-127, 127]).
        damp: diagonal damping as a fraction of the mean diagonal.

    Returns:
        int8 ``(out, k)``.
    """
    h = hessian + damp * float(np.mean(np.diag(hessian))) * np.eye(hessian.shape[0])
    upper = np.linalg.cholesky(np.linalg.inv(h)).T
    w = weight.astype(np.float64).copy()
    q = np.zeros_like(w)
    for i in range(w.shape[1]):
        q[:, i] = np.clip(np.rint(w[:, i] / scale), -127, 127)
        err = (w[:, i] - q[:, i] * scale) / upper[i, i]
        w[:, i + 1 :] -= np.outer(err, upper[i, i + 1 :])
    return q.astype(np.int8)


def _targets(model: onnx.ModelProto) -> list[onnx.NodeProto]:
    """Float-weight convs whose data input comes straight from a ``DequantizeLinear``."""
    inits = {i.name for i in model.graph.initializer}
    producer = {o: n for n in model.graph.node for o in n.output}
    out = []
    for n in model.graph.node:
        src = producer.get(n.input[0]) if n.op_type == "Conv" else None
        if src is not None and src.op_type == "DequantizeLinear" and n.input[1] in inits:
            out.append(n)
    return out


def _hessians(
    model: onnx.ModelProto,
    nodes: list[onnx.NodeProto],
    patches: npt.NDArray[np.float32],
    threads: int,
) -> list[npt.NDArray[np.float64]]:
    """``X X^T`` of each node's im2col input over ``patches``, run by ONNX Runtime."""
    import torch

    from ..core.onnx_io import open_session

    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    for n in nodes:
        probe.graph.output.append(
            helper.make_tensor_value_info(n.input[0], onnx.TensorProto.FLOAT, None)
        )
    sess = open_session(probe.SerializeToString(), threads=threads)
    inits = {i.name: i for i in model.graph.initializer}
    shapes = [tuple(inits[n.input[1]].dims) for n in nodes]
    hs = [np.zeros((s[1] * s[2] * s[3],) * 2) for s in shapes]
    feed = sess.get_inputs()[0].name
    for p in patches:
        acts = sess.run([n.input[0] for n in nodes], {feed: p[None]})
        for k, (x, s) in enumerate(zip(acts, shapes, strict=True)):
            kh, kw = s[2], s[3]
            cols = torch.nn.functional.unfold(
                torch.from_numpy(x), (kh, kw), padding=(kh // 2, kw // 2)
            )[0].double()
            hs[k] += (cols @ cols.T).numpy()
    return hs


def fit_tail_weights(
    qdq: onnx.ModelProto,
    patches: npt.NDArray[np.float32],
    *,
    damp: float = 0.01,
    threads: int = 2,
) -> TailWeightsFit:
    """GPTQ int8 weights for the float convs of ``qdq`` that read 8-bit activations.

    Args:
        qdq: an int8 QDQ model (``conv18`` in float), as :func:`~.replay.apply_recipe` builds it.
        patches: float32 ``(N, 3, h, w)`` RGB [0, 1] LR patches; their activations define the
            Hessians.
        damp: diagonal damping of the Hessian, as a fraction of its mean diagonal.
        threads: ONNX Runtime intra-op threads.

    Raises:
        QuantizationError: no such conv (already int8, or not one of our int8 models).
    """
    nodes = _targets(qdq)
    if not nodes:
        msg = "no float conv reading 8-bit activations (int8 tail weights already attached?)"
        raise QuantizationError(msg)
    inits = {i.name: i for i in qdq.graph.initializer}
    tensors: dict[str, npt.NDArray[np.generic]] = {}
    err_near = err_gptq = 0.0
    for node, hess in zip(nodes, _hessians(qdq, nodes, patches, threads), strict=True):
        w4 = numpy_helper.to_array(inits[node.input[1]]).astype(np.float64)
        w = w4.reshape(w4.shape[0], -1)
        amax = np.abs(w).max(axis=1)
        scale = np.where(amax > 0, amax / 127.0, 1.0).astype(np.float32).astype(np.float64)
        q = gptq_round(w, hess, scale=scale, damp=damp)
        near = np.clip(np.rint(w / scale[:, None]), -127, 127)
        for grid, is_near in ((near, True), (q.astype(np.float64), False)):
            d = grid * scale[:, None] - w
            e = float(np.einsum("ij,jk,ik->", d, hess, d))
            if is_near:
                err_near += e
            else:
                err_gptq += e
        tensors[node.input[1] + TAIL_SUFFIX] = q.reshape(w4.shape)
        tensors[node.input[1] + TAIL_SUFFIX + "_scale"] = scale.astype(np.float32)
    return TailWeightsFit(tensors, tuple(n.name for n in nodes), err_near, err_gptq)


def is_tail_tensor(name: str) -> bool:
    """Whether a recipe tensor name is one of :func:`fit_tail_weights`' outputs."""
    return name.endswith((TAIL_SUFFIX, TAIL_SUFFIX + "_scale"))


def attach_tail_weights(
    model: onnx.ModelProto, tensors: Mapping[str, npt.NDArray[np.generic]], *, where: str
) -> tuple[str, ...]:
    """Give the float convs of ``model`` the int8 weights in ``tensors`` (in place, exact).

    Each conv's weight becomes ``DequantizeLinear(int8, scale, 0)`` (per output channel); its
    float initializer is dropped when nothing else reads it. Returns the conv names.

    Raises:
        QuantizationError: the tensors do not fit ``model``'s float convs (named after ``where``).
    """
    nodes = {n.input[1]: n for n in _targets(model)}
    inits = {i.name: i for i in model.graph.initializer}
    weights = sorted(k[: -len(TAIL_SUFFIX)] for k in tensors if k.endswith(TAIL_SUFFIX))
    done = []
    for name in weights:
        node = nodes.get(name)
        q = np.asarray(tensors[name + TAIL_SUFFIX])
        scale = np.asarray(tensors.get(name + TAIL_SUFFIX + "_scale"))
        if (
            node is None
            or q.dtype != np.int8
            or tuple(q.shape) != tuple(inits[name].dims)
            or scale.dtype != np.float32
            or scale.shape != (q.shape[0],)
        ):
            msg = (
                f"{where}: int8 weights for {name!r} do not fit this graph; the recipe was made "
                "for another model or configuration"
            )
            raise QuantizationError(msg)
        base = name + TAIL_SUFFIX
        model.graph.initializer.extend(
            [
                numpy_helper.from_array(q, base),
                numpy_helper.from_array(scale, base + "_scale"),
                numpy_helper.from_array(np.zeros(q.shape[0], np.int8), base + "_zero_point"),
            ]
        )
        dq = helper.make_node(
            "DequantizeLinear",
            [base, base + "_scale", base + "_zero_point"],
            [base + "_dq"],
            name=node.name + TAIL_SUFFIX + "_DequantizeLinear",
            axis=0,
        )
        model.graph.node.insert(list(model.graph.node).index(node), dq)
        node.input[1] = base + "_dq"
        if not any(name in n.input for n in model.graph.node):
            model.graph.initializer.remove(inits[name])
        done.append(node.name)
    return tuple(done)
