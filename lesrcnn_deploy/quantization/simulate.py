"""Run a QDQ LESRCNN graph in PyTorch, with any quantizer switched off or any weight replaced.

The simulator executes the QDQ model as written (``QuantizeLinear`` rounds half to even and
clamps, ``DequantizeLinear`` rescales, float ops in between), which is what ORT's fused int8
kernels compute up to float rounding (checked in the tests: same output SQNR to ~0.1 dB). It is
the workhorse of the sensitivity report and of weight rounding, which both need to switch
individual quantizers on and off, and of quantization-aware fine-tuning, which runs it with
gradients (:meth:`QdqSimulator.forward`: rounding passes gradients straight through).

Supported ops: QuantizeLinear, DequantizeLinear, Conv (2-D, stride 1), Relu, Add, DepthToSpace
(CRD). Anything else raises :class:`~lesrcnn_deploy.core.errors.ModelError`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper

from ..core.errors import ModelError

__all__ = ["QdqSimulator"]

_RANGES = {
    onnx.TensorProto.UINT8: (0, 255),
    onnx.TensorProto.INT8: (-128, 127),
    onnx.TensorProto.UINT16: (0, 65535),
    onnx.TensorProto.INT16: (-32768, 32767),
    onnx.TensorProto.INT32: (-(2**31), 2**31 - 1),
}


class QdqSimulator:
    """PyTorch interpreter of a QDQ model.

    Attributes:
        disabled: output names of activation ``QuantizeLinear`` nodes that pass values through
            unrounded (a ReLU folded into the quantizer is still applied).
        replaced: ``{DequantizeLinear output name: float tensor}`` used instead of the
            dequantized weight or bias (e.g. fp32 weights, or weights under optimisation).
    """

    def __init__(self, model: onnx.ModelProto) -> None:
        self.model = model
        g = model.graph
        self.input_name = g.input[0].name
        self.output_name = g.output[0].name
        self.nodes = list(g.node)
        self.init_types = {i.name: i.data_type for i in g.initializer}
        self.inits: dict[str, torch.Tensor] = {}
        for i in g.initializer:
            arr = numpy_helper.to_array(i)
            self.inits[i.name] = torch.from_numpy(np.asarray(arr, dtype=np.float64)).float()
        for n in self.nodes:
            if n.op_type not in _OPS:
                msg = f"simulator: unsupported op {n.op_type} ({n.name})"
                raise ModelError(msg)
        self.disabled: set[str] = set()
        self.replaced: dict[str, torch.Tensor] = {}
        self._last_use: dict[str, int] = {}
        for k, n in enumerate(self.nodes):
            for t in n.input:
                self._last_use[t] = k
        self._producer = {o: n for n in self.nodes for o in n.output}

    # ---- graph queries ---------------------------------------------------------------------

    def activation_quantizers(self) -> list[onnx.NodeProto]:
        """``QuantizeLinear`` nodes on activations, in graph order."""
        return [
            n for n in self.nodes if n.op_type == "QuantizeLinear" and n.input[0] not in self.inits
        ]

    def weight_dequantizers(self) -> list[onnx.NodeProto]:
        """``DequantizeLinear`` nodes of int8 conv weights, in graph order."""
        return [
            n
            for n in self.nodes
            if n.op_type == "DequantizeLinear"
            and n.input[0] in self.inits
            and self.init_types[n.input[0]] == onnx.TensorProto.INT8
        ]

    def producer(self, tensor: str) -> onnx.NodeProto | None:
        """The node writing ``tensor`` (None for graph inputs and initializers)."""
        return self._producer.get(tensor)

    def quantized_convs(self) -> list[onnx.NodeProto]:
        """Convs whose weight is an int8 ``DequantizeLinear`` output."""
        wdq = {n.output[0] for n in self.weight_dequantizers()}
        return [n for n in self.nodes if n.op_type == "Conv" and n.input[1] in wdq]

    # ---- execution -------------------------------------------------------------------------

    @torch.no_grad()
    def run(
        self,
        x: torch.Tensor,
        *,
        stop_at: str | None = None,
        keep: Iterable[str] = (),
    ) -> torch.Tensor:
        """Run on ``x`` ``(N, 3, H, W)`` float32; return the output or the tensor ``stop_at``.

        Args:
            x: input batch, RGB in [0, 1].
            stop_at: a tensor name; execution stops once it is computed and returns it.
            keep: unused (reserved).
        """
        del keep
        return self._execute(x, stop_at=stop_at, straight_through=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Differentiable run on ``x`` ``(N, 3, H, W)``: returns the output with autograd.

        Quantizers round with a straight-through estimator (the gradient of ``round`` is taken
        as 1; values clamped to the integer range get no gradient), as in quantization-aware
        training. Tensors placed in :attr:`replaced` or :attr:`inits` may require gradients.
        """
        return self._execute(x, stop_at=None, straight_through=True)

    def _execute(
        self, x: torch.Tensor, *, stop_at: str | None, straight_through: bool
    ) -> torch.Tensor:
        v: dict[str, torch.Tensor] = {self.input_name: x}
        for k, n in enumerate(self.nodes):
            out = self._eval(n, v, straight_through)
            v[n.output[0]] = out
            if stop_at is not None and n.output[0] == stop_at:
                return out
            for t in n.input:
                if t and self._last_use.get(t) == k and t not in self.inits and t != stop_at:
                    v.pop(t, None)
        if stop_at is not None:
            msg = f"simulator: no tensor named {stop_at!r}"
            raise ModelError(msg)
        return v[self.output_name]

    def _value(self, name: str, v: Mapping[str, torch.Tensor]) -> torch.Tensor:
        return v[name] if name in v else self.inits[name]

    def _attr(self, n: onnx.NodeProto, name: str, default: object = None) -> object:
        for a in n.attribute:
            if a.name == name:
                return onnx.helper.get_attribute_value(a)
        return default

    def _eval(
        self, n: onnx.NodeProto, v: Mapping[str, torch.Tensor], straight_through: bool = False
    ) -> torch.Tensor:
        op = n.op_type
        if op == "QuantizeLinear":
            x = self._value(n.input[0], v)
            s, zp = self.inits[n.input[1]], self.inits[n.input[2]]
            lo, hi = _RANGES[self.init_types[n.input[2]]]
            q = x / s + zp
            if n.output[0] in self.disabled:
                return torch.clamp(q, min=lo) if float(zp) == lo else q  # keep a folded ReLU
            if straight_through:
                return torch.clamp(q + (torch.round(q) - q).detach(), lo, hi)
            return torch.clamp(torch.round(q), lo, hi)
        if op == "DequantizeLinear":
            if n.output[0] in self.replaced:
                return self.replaced[n.output[0]]
            q = self._value(n.input[0], v)
            s = self.inits[n.input[1]]
            zp = self.inits[n.input[2]] if len(n.input) > 2 and n.input[2] else torch.zeros(())
            if s.ndim == 1 and s.numel() > 1:
                axis = int(self._attr(n, "axis", 1))  # type: ignore[call-overload]
                shape = [1] * q.ndim
                shape[axis] = -1
                s = s.view(shape)
                zp = zp.view(shape) if zp.ndim == 1 else zp
            return (q - zp) * s
        if op == "Conv":
            pads = list(self._attr(n, "pads", [0, 0, 0, 0]))  # type: ignore[call-overload]
            b = self._value(n.input[2], v) if len(n.input) > 2 and n.input[2] else None
            w = self._value(n.input[1], v)
            return F.conv2d(self._value(n.input[0], v), w, b, padding=(pads[0], pads[1]))
        if op == "Relu":
            return F.relu(self._value(n.input[0], v))
        if op == "Add":
            return self._value(n.input[0], v) + self._value(n.input[1], v)
        # DepthToSpace, mode CRD (what torch exports PixelShuffle to)
        mode = self._attr(n, "mode", b"DCR")
        mode = mode.decode() if isinstance(mode, bytes) else mode
        if mode != "CRD":
            msg = f"simulator: DepthToSpace mode {mode} is not supported (only CRD)"
            raise ModelError(msg)
        r = int(self._attr(n, "blocksize"))  # type: ignore[call-overload]
        return F.pixel_shuffle(self._value(n.input[0], v), r)


_OPS = frozenset({"QuantizeLinear", "DequantizeLinear", "Conv", "Relu", "Add", "DepthToSpace"})
