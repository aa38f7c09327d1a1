"""Runtimes: ONNX Runtime (the reference), OpenVINO, PyTorch eager (reference rows only), the
``auto`` choice between them, and the interleaved timing loop that makes that choice.

One job per module: :mod:`.base` (the runner protocol), :mod:`.ort`, :mod:`.ov`, :mod:`.torch_ref`
(the runners), :mod:`.choice` (``--runtime ort|openvino|auto``, measured once and cached),
:mod:`.timing` (interleaved latency), :mod:`.dispatch` (:func:`open_runner`, the only way to a
runner). Importing this package imports neither PyTorch nor OpenVINO.
"""

from .base import Runner as Runner
from .choice import RuntimeChoice as RuntimeChoice
from .choice import resolve_runtime as resolve_runtime
from .dispatch import open_runner as open_runner
from .ort import OnnxRunner as OnnxRunner

__all__ = ["OnnxRunner", "Runner", "RuntimeChoice", "open_runner", "resolve_runtime"]
