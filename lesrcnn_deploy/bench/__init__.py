"""``make bench``: fp32 vs int8 accuracy (card and paper tables), speed, memory, pictures, CI gate.

One job per module: :mod:`.system` (machine), :mod:`.speed` (latency, memory), :mod:`.accuracy`
(fp32 vs int8 evaluations), :mod:`.visual` (comparison sheets), :mod:`.plots` (PNG plots),
:mod:`.report` (results.md/.json/.csv), :mod:`.gate` (CI gate on the int8 drop), :mod:`.readme`
(README section refresh), :mod:`.run` (the whole bench: ``run_bench(BenchConfig(...))``),
:mod:`.cli` (sub-commands). Only the light gate API is re-exported here, so that loading the CLI
stays fast.
"""

from .gate import Baseline as Baseline
from .gate import GateMeasurement as GateMeasurement
from .gate import SetDrop as SetDrop
from .gate import check_gate as check_gate
from .gate import load_baseline as load_baseline

__all__ = [
    "Baseline",
    "GateMeasurement",
    "SetDrop",
    "check_gate",
    "load_baseline",
]
