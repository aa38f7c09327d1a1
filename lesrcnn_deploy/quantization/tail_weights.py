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
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnx
from onnx import helper, numpy_helper

from ..errors import QuantizationError
from .config import CalibrationConfig

__all__ = ["TailWeightsResult", "gptq_round", "int8_tail_weights"]

_SUFFIX = "_w8"


@dataclass(frozen=True)
class TailWeightsResult:
    """What :func:`int8_tail_weights` changed.

    Attributes:
        path: the written model.
        nodes: the convolutions that got int8 weights.
        error_nearest: output error energy of nearest rounding on the calibration patches.
        error_gptq: the same for the GPTQ rounding written (smaller is better).
    """

    path: Path
    nodes: tuple[str, ...]
    error_nearest: float
    error_gptq: float


def gptq_round(
    weight: npt.NDArray[np.float64],
    hessian: npt.NDArray[np.float64],
    scale: npt.NDArray[np.float64],
    *,
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
    model: onnx.ModelProto, nodes: list[onnx.NodeProto], patches: npt.NDArray[np.float32]
) -> list[npt.NDArray[np.float64]]:
    """``X X^T`` of each node's im2col input over ``patches``, run by ONNX Runtime."""
    import onnxruntime as ort
    import torch

    from ..runtime import session_options

    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    for n in nodes:
        probe.graph.output.append(
            helper.make_tensor_value_info(n.input[0], onnx.TensorProto.FLOAT, None)
        )
    sess = ort.InferenceSession(
        probe.SerializeToString(), session_options(2), providers=["CPUExecutionProvider"]
    )
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


def int8_tail_weights(
    int8: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    calibration: CalibrationConfig | None = None,
    patch_count: int = 32,
    patch_size: int = 48,
    source_sha256: str | None = None,
) -> TailWeightsResult:
    """Give the float convs of an int8 QDQ model that read 8-bit data int8 weights (GPTQ).

    Args:
        int8: our int8 QDQ model (``conv18`` in float).
        output: where to write (atomically); may equal ``int8``.
        calibration: source of the patches (default: the built-in photos); the patch count and
            size below replace the config's.
        patch_count, patch_size: LR patches whose activations define the Hessian.
        source_sha256: recorded as ``lesrcnn.int8_tail_source_sha256`` (cache key of callers).

    Raises:
        QuantizationError: no such conv (already done, or not one of our int8 models).
    """
    from ..fileio import atomic_path
    from .calibration import collect_patches, load_calibration_images

    model = onnx.load(os.fspath(int8))
    nodes = _targets(model)
    if not nodes:
        msg = f"{int8}: no float conv reading 8-bit activations (int8 tail already applied?)"
        raise QuantizationError(msg)
    cfg = calibration or CalibrationConfig()
    patches = collect_patches(
        load_calibration_images(cfg), count=patch_count, crop=patch_size, seed=cfg.seed
    )
    inits = {i.name: i for i in model.graph.initializer}
    err_near = err_gptq = 0.0
    for node, hess in zip(nodes, _hessians(model, nodes, patches), strict=True):
        w4 = numpy_helper.to_array(inits[node.input[1]]).astype(np.float64)
        w = w4.reshape(w4.shape[0], -1)
        amax = np.abs(w).max(axis=1)
        scale = np.where(amax > 0, amax / 127.0, 1.0)
        q = gptq_round(w, hess, scale)
        near = np.clip(np.rint(w / scale[:, None]), -127, 127)
        for grid, acc in ((near, "near"), (q.astype(np.float64), "gptq")):
            d = grid * scale[:, None] - w
            e = float(np.einsum("ij,jk,ik->", d, hess, d))
            if acc == "near":
                err_near += e
            else:
                err_gptq += e
        base = node.input[1] + _SUFFIX
        model.graph.initializer.extend(
            [
                numpy_helper.from_array(q.reshape(w4.shape), base),
                numpy_helper.from_array(scale.astype(np.float32), base + "_scale"),
                numpy_helper.from_array(np.zeros(w.shape[0], np.int8), base + "_zero_point"),
            ]
        )
        dq = helper.make_node(
            "DequantizeLinear",
            [base, base + "_scale", base + "_zero_point"],
            [base + "_dq"],
            name=node.name + _SUFFIX + "_DequantizeLinear",
            axis=0,
        )
        model.graph.node.insert(list(model.graph.node).index(node), dq)
        old = node.input[1]
        node.input[1] = base + "_dq"
        if not any(old in n.input for n in model.graph.node):
            model.graph.initializer.remove(inits[old])
    prop = model.metadata_props.add()
    prop.key, prop.value = "lesrcnn.int8_tail", "gptq: " + ", ".join(n.name for n in nodes)
    if source_sha256 is not None:
        prop = model.metadata_props.add()
        prop.key, prop.value = "lesrcnn.int8_tail_source_sha256", source_sha256
    out = Path(output)
    with atomic_path(out) as tmp:
        onnx.save(model, os.fspath(tmp))
    return TailWeightsResult(out, tuple(n.name for n in nodes), err_near, err_gptq)
