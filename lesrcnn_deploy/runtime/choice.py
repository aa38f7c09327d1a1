"""Pick the runtime of an ``.onnx`` model: ONNX Runtime, OpenVINO, or ``auto`` (measured once).

``runtime="auto"`` times every installed runtime on this model and this machine (a short
interleaved timing at one small input, see :func:`measure_runtimes`), keeps the faster one and
caches the choice in ``models_dir()/runtime_choice.json``, keyed by the model's SHA256, the runtime
versions, the CPU model, the thread count and the precision; the next call reads the cache.
Without OpenVINO installed, ``auto`` means ONNX Runtime (no timing).

Precisions: ``None`` runs the model's own (fp32 or int8, float layers pinned to f32 on every
runtime); ``"bf16"`` is OpenVINO's bf16 inference of an fp32 model (ONNX Runtime has none).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..core.errors import ConfigError
from ..core.fileio import atomic_write_json, sha256_file
from ..core.onnx_io import check_model, read_metadata
from ..core.vocab import check_precision, check_runtime
from .base import Runner
from .ort import OnnxRunner

__all__ = [
    "CACHE_FILE",
    "RuntimeChoice",
    "choice_key",
    "installed_runtimes",
    "measure_runtimes",
    "open_on",
    "resolve_runtime",
]

CACHE_FILE = "runtime_choice.json"
"""Name of the ``auto`` choice cache in the models cache dir."""

_AUTO_HW = (96, 96)  # LR input of the auto timing (close to a default tile's window)
_AUTO_ROUNDS = 5


def installed_runtimes() -> list[str]:
    """The concrete runtimes importable here: ``["ort"]`` or ``["ort", "openvino"]``."""
    from .ov import openvino_available

    return ["ort", "openvino"] if openvino_available() else ["ort"]


def _check_precision(path: Path, precision: str | None) -> tuple[str, str]:
    """(model precision from metadata, float precision hint) for the requested ``precision``."""
    if precision is not None:
        check_precision(precision)
    metadata = read_metadata(path)
    want = "fp32" if precision == "bf16" else precision
    check_model(path, metadata, precision=want or "", asked=precision or "")
    return metadata.get("precision", "fp32"), "bf16" if precision == "bf16" else "f32"


def open_on(
    path: Path, runtime: str, *, float_precision: str = "f32", threads: int | None, scale: int = 0
) -> Runner:
    """Open ``path`` on one concrete runtime (``ort`` or ``openvino``); callers use
    :func:`~lesrcnn_deploy.runtime.dispatch.open_runner`, which resolves ``auto`` first."""
    if runtime == "ort":
        if float_precision != "f32":
            msg = "bf16 runs on OpenVINO only: use --runtime openvino (or auto)"
            raise ConfigError(msg)
        return OnnxRunner(path, threads=threads, scale=scale)
    from .ov import OpenVinoRunner

    return OpenVinoRunner(path, threads=threads, scale=scale, float_precision=float_precision)


@dataclass(frozen=True)
class RuntimeChoice:
    """Which runtime runs a model, and why.

    Attributes:
        runtime: ``"ort"`` or ``"openvino"``.
        requested: what was asked (``"ort"``, ``"openvino"`` or ``"auto"``).
        float_precision: ``"f32"`` or ``"bf16"`` (the float layers' precision).
        timings_ms: ``auto`` only: median ms per runtime at the timing input.
        cached: ``auto`` only: the choice was read from the cache file.
        key: ``auto`` only: the cache key.
    """

    runtime: str
    requested: str
    float_precision: str = "f32"
    timings_ms: dict[str, float] = field(default_factory=dict)
    cached: bool = False
    key: str = ""

    @property
    def note(self) -> str:
        """One line saying which runtime runs and, for ``auto``, why."""
        name = {"ort": "ONNX Runtime", "openvino": "OpenVINO"}[self.runtime]
        if self.requested != "auto":
            return f"runtime: {name}"
        if not self.timings_ms:
            return f"runtime: {name} (auto: the only runtime installed)"
        times = ", ".join(f"{k} {v:.1f} ms" for k, v in sorted(self.timings_ms.items()))
        h, w = _AUTO_HW
        how = "cached measurement" if self.cached else "measured now"
        return f"runtime: {name} (auto, {how} at {w}x{h}: {times})"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


def choice_key(
    path: str | os.PathLike[str], *, threads: int | None, float_precision: str = "f32"
) -> str:
    """Cache key of an ``auto`` choice: model SHA256, runtime versions, CPU, threads, precision."""
    import onnxruntime

    from ..core.system import system_info
    from .ov import openvino_version

    parts = [
        sha256_file(path),
        f"onnxruntime={onnxruntime.__version__}",
        f"openvino={openvino_version()}",
        system_info().cpu,
        f"threads={threads if threads is not None else 'default'}",
        f"float={float_precision}",
    ]
    return "|".join(parts)


def measure_runtimes(
    runners: Mapping[str, Any], *, threads: int | None, rounds: int = _AUTO_ROUNDS
) -> dict[str, float]:
    """Median ms per runner at a ``1x3x96x96`` input, interleaved (one warm-up call each)."""
    from .timing import Workload, time_runners

    scale = next(iter(runners.values())).scale
    wl = Workload("auto", _AUTO_HW, scale)
    res = time_runners(runners, wl, threads=threads or 0, warmup=1, repeats=rounds)
    return {r.label: r.median_ms for r in res}


def _cache_path(cache_dir: str | os.PathLike[str] | None) -> Path:
    from ..core.paths import models_dir

    return Path(cache_dir if cache_dir is not None else models_dir()) / CACHE_FILE


def _read_cache(path: Path) -> dict[str, Any]:
    import json

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def resolve_runtime(
    path: str | os.PathLike[str],
    runtime: str = "auto",
    *,
    precision: str | None = None,
    threads: int | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> RuntimeChoice:
    """Turn ``runtime`` (``ort``, ``openvino`` or ``auto``) into a concrete runtime for ``path``.

    Args:
        path: the ``.onnx`` model.
        runtime: one of :data:`RUNTIMES`.
        precision: ``None`` (the model's own), ``"fp32"``, ``"int8"`` or ``"bf16"``.
        threads: intra-op threads (part of the ``auto`` cache key).
        cache_dir: folder of the ``auto`` cache file (default: the models cache dir).

    Raises:
        ConfigError: unknown runtime or precision, or bf16 asked of ONNX Runtime.
        RuntimeUnavailableError: ``openvino`` asked for (or needed by bf16) but not installed.
        ModelError: unreadable model, or the precision does not match the model.
    """
    p = Path(path)
    check_runtime(runtime)
    _, float_precision = _check_precision(p, precision)
    if runtime == "ort" and float_precision != "f32":
        msg = "bf16 runs on OpenVINO only: use --runtime openvino (or auto)"
        raise ConfigError(msg)
    if runtime == "openvino" or (runtime == "auto" and float_precision == "bf16"):
        from .ov import import_openvino

        import_openvino()
        return RuntimeChoice("openvino", runtime, float_precision)
    if runtime == "ort":
        return RuntimeChoice("ort", runtime, float_precision)
    if installed_runtimes() == ["ort"]:
        return RuntimeChoice("ort", "auto", float_precision)
    key = choice_key(p, threads=threads, float_precision=float_precision)
    cache = _cache_path(cache_dir)
    entry = _read_cache(cache).get(key)
    if isinstance(entry, dict) and entry.get("runtime") in ("ort", "openvino"):
        return RuntimeChoice(
            entry["runtime"],
            "auto",
            float_precision,
            timings_ms={str(k): float(v) for k, v in entry.get("timings_ms", {}).items()},
            cached=True,
            key=key,
        )
    runners = {
        rt: open_on(p, rt, float_precision=float_precision, threads=threads)
        for rt in ("ort", "openvino")
    }
    timings = measure_runtimes(runners, threads=threads)
    del runners
    best = min(timings, key=lambda k: timings[k])
    data = _read_cache(cache)
    data[key] = {"runtime": best, "timings_ms": timings, "model": str(p)}
    cache.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(cache, data)
    return RuntimeChoice(best, "auto", float_precision, timings_ms=timings, key=key)
