"""Per-tensor sensitivity: how much output noise each quantized tensor adds on its own.

For every quantized activation and every int8 weight of a QDQ model, the model is simulated in
PyTorch (:mod:`.simulate`) with *only that tensor* quantized and everything else in float. The
output is compared with the fp32 model's on held-out calibration patches:

* ``noise``: mean squared error of the output in 8-bit units (255^2 x MSE on [0, 1]);
* ``sqnr_db``: ``10 log10(sum fp32^2 / sum (q - fp32)^2)``.

The per-tensor noises add up to roughly the noise of the fully quantized model (the report
states both), which makes the report a budget: the top rows are the tensors worth keeping in
higher precision or fixing (weight rounding, ranges). ``lesrcnn-deploy quantize --report``
prints it.

For a fine-tuned model (:mod:`.finetune`) the reference is still the original fp32 model, so a
weight's entry measures its distance from the original weights (rounding plus fine-tuning), and
the total is the int8 model's actual output error.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import onnx
import torch

from ..core.threads import torch_threads
from ..data.quality import sqnr_db
from .graph import layer_of
from .simulate import QdqSimulator
from .tail_weights import TAIL_SUFFIX

__all__ = ["SensitivityReport", "TensorSensitivity", "sensitivity_report"]


@dataclass(frozen=True)
class TensorSensitivity:
    """Output noise caused by quantizing one tensor alone.

    Attributes:
        tensor: activation tensor name, or weight initializer name.
        kind: ``"activation"`` or ``"weight"``.
        layer: module name of the conv that owns the weight / produces the activation
            (``"input"`` for the graph input).
        noise: output MSE in 8-bit units (0-255 scale), all channels.
        sqnr_db: output signal-to-quantization-noise ratio, dB.
    """

    tensor: str
    kind: Literal["activation", "weight"]
    layer: str
    noise: float
    sqnr_db: float


@dataclass(frozen=True)
class SensitivityReport:
    """Every quantized tensor's sensitivity, worst first, plus the fully quantized model's.

    Attributes:
        entries: one per tensor, sorted by decreasing ``noise``.
        total_noise: output MSE (8-bit units) with everything quantized.
        total_sqnr_db: output SQNR with everything quantized.
        patches: number and size of the patches measured on, e.g. ``"8x64px"``.
    """

    entries: tuple[TensorSensitivity, ...]
    total_noise: float
    total_sqnr_db: float
    patches: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "patches": self.patches,
            "total_noise": self.total_noise,
            "total_sqnr_db": self.total_sqnr_db,
            "sum_of_single_noises": sum(e.noise for e in self.entries),
            "entries": [e.__dict__ for e in self.entries],
        }

    def format_table(self, top: int | None = 20) -> str:
        """A plain-text table of the ``top`` most sensitive tensors."""
        rows = self.entries if top is None else self.entries[:top]
        total = sum(e.noise for e in self.entries) or 1.0
        lines = [
            f"all quantized: output SQNR {self.total_sqnr_db:.2f} dB, noise {self.total_noise:.4f}"
            f" (8-bit units^2; sum of single-tensor noises {total:.4f}) on {self.patches}",
            f"{'noise':>8} {'share':>6} {'SQNR dB':>8}  {'kind':<10} {'layer':<10} tensor",
        ]
        for e in rows:
            lines.append(
                f"{e.noise:8.4f} {100 * e.noise / total:5.1f}% {e.sqnr_db:8.2f}  "
                f"{e.kind:<10} {e.layer:<10} {e.tensor}"
            )
        return "\n".join(lines)


def _sqnr(ref: torch.Tensor, out: torch.Tensor) -> tuple[float, float]:
    err = (out - ref).double()
    noise = float((err * 255).pow(2).mean())
    return noise, sqnr_db(ref.detach().numpy(), out.detach().numpy())


def _layer_of_tensor(sim: QdqSimulator, tensor: str) -> str:
    node = sim.producer(tensor)
    while node is not None and node.op_type not in ("Conv", "Add"):
        node = sim.producer(node.input[0])
    if node is None:
        return "input"
    return layer_of(node.name) if node.op_type == "Conv" else node.name.rsplit("/", 1)[-1]


def sensitivity_report(
    qdq_model: onnx.ModelProto,
    fp32_model: onnx.ModelProto,
    *,
    patches: npt.NDArray[np.float32],
    progress: bool = True,
    threads: int = 2,
    on_step: Callable[[str], None] | None = None,
) -> SensitivityReport:
    """Measure every quantized tensor's output noise on ``patches``.

    Args:
        qdq_model: the quantized (QDQ) model.
        fp32_model: the fp32 graph it was quantized from (same tensor and weight names).
        patches: ``(N, 3, h, w)`` float32 RGB in [0, 1], not used for calibration ideally.
        progress: tqdm progress bar.
        threads: torch intra-op threads.
        on_step: optional callback with each tensor name (tests, logging).
    """
    from tqdm import tqdm

    with torch_threads(threads):
        sim = QdqSimulator(qdq_model)
        fp32 = {i.name: i for i in fp32_model.graph.initializer}
        x = torch.from_numpy(np.ascontiguousarray(patches))
        acts = [n.output[0] for n in sim.activation_quantizers()]
        floats: dict[str, torch.Tensor] = {}  # every dequantized initializer -> its fp32 value
        weight_names: dict[str, str] = {}
        int8_weights = {dq.output[0] for dq in sim.weight_dequantizers()}
        for dq in sim.nodes:
            if dq.op_type != "DequantizeLinear" or dq.input[0] not in sim.inits:
                continue
            name = dq.input[0].removesuffix("_quantized").removesuffix(TAIL_SUFFIX)
            if name in fp32:
                arr = onnx.numpy_helper.to_array(fp32[name])
                floats[dq.output[0]] = torch.from_numpy(np.array(arr, dtype=np.float32))
                if dq.output[0] in int8_weights:
                    weight_names[dq.output[0]] = name
        weights = {k: floats[k] for k in weight_names}
        # layers kept in fp32 read their initializers directly; a fine-tuned model changed them, so
        # the reference (and every single-tensor run) uses the fp32 model's values, the total the
        # quantized model's own
        own = {
            t: sim.inits[t]
            for n in sim.nodes
            if n.op_type == "Conv"
            for t in n.input[1:]
            if t in sim.inits and t in fp32
        }
        for t in own:
            sim.inits[t] = torch.from_numpy(
                np.array(onnx.numpy_helper.to_array(fp32[t]), np.float32)
            )
        sim.disabled = set(acts)
        sim.replaced = dict(floats)
        ref = sim.run(x)
        entries: list[TensorSensitivity] = []
        jobs: list[tuple[str, str]] = [("activation", a) for a in acts]
        jobs += [("weight", w) for w in weights]
        owner = {
            n.input[1]: layer_of(n.name)
            for n in sim.nodes
            if n.op_type == "Conv" and len(n.input) > 1
        }
        for kind, name in tqdm(jobs, desc="sensitivity", unit="tensor", disable=not progress):
            if on_step is not None:
                on_step(name)
            if kind == "activation":
                sim.disabled = set(acts) - {name}
                sim.replaced = dict(floats)
                q = sim.producer(name)
                tensor = q.input[0] if q is not None else name
                layer = _layer_of_tensor(sim, tensor)
            else:
                sim.disabled = set(acts)
                sim.replaced = {k: v for k, v in floats.items() if k != name}
                tensor = weight_names[name]
                layer = owner.get(name, "?")
            noise, sqnr = _sqnr(ref, sim.run(x))
            entries.append(TensorSensitivity(tensor, kind, layer, noise, sqnr))
        sim.disabled = set()
        sim.replaced = {}
        sim.inits.update(own)
        total_noise, total_sqnr = _sqnr(ref, sim.run(x))
        entries.sort(key=lambda e: (-e.noise, e.tensor))
        n, _, h, w = patches.shape
        return SensitivityReport(tuple(entries), total_noise, total_sqnr, f"{n}x{h}x{w}px")
