"""Which CPU kernels OpenVINO picked for a model's convolutions; do the int8 ones run on AMX.

The CPU flags say what the machine could do (``amx_int8``, ``avx512_vnni``,
:mod:`~lesrcnn_deploy.core.system`); what actually runs is read from the compiled model's runtime
graph: each convolution's ``runtimePrecision`` (``u8``/``i8`` for int8) and ``primitiveType``
(e.g. ``brgconv_avx512_amx_I8`` on a Xeon with AMX, ``brgconv_avx512_I8`` with AVX-512 VNNI,
``jit_avx2_I8`` on an AVX2-only CPU). An int8 convolution runs on AMX when its primitive names
``amx``. Never assumed from the flags: a flag the hypervisor hides, or a kernel OpenVINO does not
have, shows up here.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["ConvKernels", "conv_kernels", "int8_conv_kernels"]

_INT8 = ("u8", "i8")
_SHAPE = (1, 3, 64, 64)  # a small input: the kernels do not depend on the size here


@dataclass(frozen=True)
class ConvKernels:
    """The convolution kernels of one compiled model.

    Attributes:
        model: the ``.onnx`` path.
        primitives: ``primitiveType`` -> count, int8 convolutions only.
        float_primitives: ``primitiveType`` -> count, the other convolutions.
    """

    model: str
    primitives: dict[str, int] = field(default_factory=dict)
    float_primitives: dict[str, int] = field(default_factory=dict)

    @property
    def int8_convs(self) -> int:
        """Number of int8 convolutions."""
        return sum(self.primitives.values())

    @property
    def amx_convs(self) -> int:
        """Number of int8 convolutions whose kernel is an AMX one."""
        return sum(n for p, n in self.primitives.items() if "amx" in p.lower())

    @property
    def on_amx(self) -> bool:
        """True when any int8 convolution runs on AMX."""
        return self.amx_convs > 0

    def summary(self) -> str:
        """One line, e.g. ``"no (0 of 22 int8 convs on AMX: jit_avx2_I8 x13, ...)"``."""
        kinds = ", ".join(f"{p} x{n}" for p, n in sorted(self.primitives.items(), key=_by_count))
        answer = "yes" if self.on_amx else "no"
        return f"{answer} ({self.amx_convs} of {self.int8_convs} int8 convs on AMX: {kinds})"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict with the ``int8_convs``/``amx_convs``/``on_amx`` summaries."""
        return {
            "model": self.model,
            "primitives": dict(self.primitives),
            "float_primitives": dict(self.float_primitives),
            "int8_convs": self.int8_convs,
            "amx_convs": self.amx_convs,
            "on_amx": self.on_amx,
        }


def _by_count(item: tuple[str, int]) -> tuple[int, str]:
    return -item[1], item[0]


def conv_kernels(runner: Any, shape: tuple[int, ...] = _SHAPE) -> ConvKernels:
    """The convolution kernels of an :class:`~lesrcnn_deploy.runtime.ov.OpenVinoRunner`.

    Args:
        runner: an ``OpenVinoRunner`` (anything with ``path`` and ``runtime_ops(shape)``).
        shape: the input shape to compile for.
    """
    int8: Counter[str] = Counter()
    other: Counter[str] = Counter()
    for op in runner.runtime_ops(shape):
        if op["layerType"] != "Convolution":
            continue
        target = int8 if op["runtimePrecision"].lower() in _INT8 else other
        target[op["primitiveType"] or "?"] += 1
    return ConvKernels(str(runner.path), dict(int8), dict(other))


def int8_conv_kernels(path: str | os.PathLike[str], *, threads: int | None = None) -> ConvKernels:
    """Compile the int8 ``.onnx`` at ``path`` on OpenVINO and read its convolution kernels.

    Raises:
        RuntimeUnavailableError: OpenVINO is not installed.
        ModelError: unreadable model.
    """
    from .ov import OpenVinoRunner

    return conv_kernels(OpenVinoRunner(Path(path), threads=threads))
