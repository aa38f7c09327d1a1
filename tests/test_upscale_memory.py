"""Peak memory of a large x4 run (1920x1080 -> 7680x4320), measured in a fresh subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

LIMIT_BYTES = 2 * 1024**3

# The child reads its own VmHWM (peak RSS) from /proc, falling back to getrusage (KiB on Linux).
CHILD = r"""
import json, resource, sys, time
import numpy as np
from lesrcnn_deploy.upscale import Upscaler

up = Upscaler(4, "fp32", model=sys.argv[1], threads=2)
img = np.random.default_rng(0).integers(0, 256, (1080, 1920, 3), dtype=np.uint8)
start = time.perf_counter()
out = up.upscale(img)
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
try:
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            peak = int(line.split()[1]) * 1024
except OSError:
    pass
print(json.dumps({"shape": list(out.shape), "dtype": str(out.dtype), "peak": peak,
                  "seconds": seconds, "tile": up.tile}))
"""


@pytest.fixture(scope="module")
def x4_model(random_models: dict[int, Path]) -> Path:
    """Random-weight fp32 x4 model: same graph and cost as the official one."""
    return random_models[4]


@pytest.mark.slow
def test_x4_1080p_peak_rss_under_2gb(x4_model: Path) -> None:
    # ~4.9 TMACs at fp32: about 2-3 minutes on 2 cores, hence `slow` (CI still runs it).
    root = Path(__file__).resolve().parent.parent
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(x4_model)],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    print(
        f"x4 1920x1080 fp32: peak RSS {report['peak'] / 2**20:.0f} MiB, {report['seconds']:.0f} s"
    )
    assert report["shape"] == [4320, 7680, 3] and report["dtype"] == "uint8"
    assert report["peak"] < LIMIT_BYTES
