"""Pick the runtime of an ``.onnx`` model: ONNX Runtime, OpenVINO, or ``auto`` (measured once).

The default (:func:`default_runtime`) is ``auto`` when OpenVINO is installed, else ``ort``; every
deployed path (``upscale``, ``Upscaler``, video, ``serve``, Ray) runs it unless the user forces
``ort`` or ``openvino``. ``evaluate`` and ``gate`` keep ONNX Runtime as the reference.

``runtime="auto"`` times every installed runtime on this model and this machine (a short
interleaved timing at one small input, see :func:`measure_runtimes`), keeps the faster one and
caches the choice in the per-user cache (``user_cache_dir()/runtime_choices/``, one small JSON
file per key), keyed by the model's SHA256, the runtime versions, the CPU model and its ISA flags,
the thread count and the precision; the next call, in any process, reads the cache. A file lock
makes processes that race (Ray actors, server workers) measure once: the others wait and read the
result. Without OpenVINO installed, ``auto`` means ONNX Runtime (no timing).

Precisions: the model file's own (fp32 or int8) is the record's (:class:`~lesrcnn_deploy.models.
ModelFile`, checked when it was opened, not here); the compute precision ``f32`` pins the float
layers to f32 on every runtime, ``bf16`` is OpenVINO's bf16 inference (ONNX Runtime has none).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..core.errors import ConfigError, LesrcnnError
from ..core.fileio import atomic_write_json
from ..core.vocab import check_compute, check_runtime
from ..models import ModelFile, as_record
from .base import Runner
from .ort import OnnxRunner

__all__ = [
    "CHOICES_DIR",
    "RuntimeChoice",
    "choice_file",
    "choice_key",
    "default_runtime",
    "installed_runtimes",
    "measure_runtimes",
    "open_on",
    "resolve_runtime",
]

CHOICES_DIR = "runtime_choices"
"""Folder of the ``auto`` choices in the user cache (one ``<key hash>.json`` per choice)."""

_NAMES = {"ort": "ONNX Runtime", "openvino": "OpenVINO"}
_LOCK_TIMEOUT_S = 600.0  # another process measuring longer than this: measure here too

_AUTO_HW = (96, 96)  # LR input of the auto timing (close to a default tile's window)
_AUTO_ROUNDS = 5


def default_runtime() -> str:
    """The runtime every deployed path runs unless told otherwise: ``"auto"`` when OpenVINO is
    installed (the faster runtime for the model on this machine, measured once and cached), else
    ``"ort"``."""
    from .ov import openvino_available

    return "auto" if openvino_available() else "ort"


def installed_runtimes() -> list[str]:
    """The concrete runtimes importable here: ``["ort"]`` or ``["ort", "openvino"]``."""
    from .ov import openvino_available

    return ["ort", "openvino"] if openvino_available() else ["ort"]


def open_on(
    model: ModelFile,
    runtime: str,
    *,
    float_precision: str = "f32",
    threads: int | None,
    streams: int | None = None,
) -> Runner:
    """Open ``model`` on one concrete runtime (``ort`` or ``openvino``; ``streams``: OpenVINO's
    inference streams, ignored by ONNX Runtime); callers use
    :func:`~lesrcnn_deploy.runtime.dispatch.open_runner`, which resolves ``auto`` first."""
    if runtime == "ort":
        if float_precision != "f32":
            msg = "bf16 runs on OpenVINO only: use --runtime openvino (or auto)"
            raise ConfigError(msg)
        return OnnxRunner(model, threads=threads)
    from .ov import OpenVinoRunner

    return OpenVinoRunner(model, threads=threads, float_precision=float_precision, streams=streams)


@dataclass(frozen=True)
class RuntimeChoice:
    """Which runtime runs a model, and why.

    Attributes:
        runtime: ``"ort"`` or ``"openvino"``.
        requested: what was asked (``"ort"``, ``"openvino"`` or ``"auto"``).
        float_precision: ``"f32"`` or ``"bf16"`` (the float layers' precision).
        timings_ms: ``auto`` only: median ms per runtime at the timing input.
        cached: ``auto`` only: the choice was read from the cache.
        key: ``auto`` only: the cache key.
        default: the caller did not name a runtime (:func:`default_runtime` was used).
    """

    runtime: str
    requested: str
    float_precision: str = "f32"
    timings_ms: dict[str, float] = field(default_factory=dict)
    cached: bool = False
    key: str = ""
    default: bool = False

    @property
    def why(self) -> str:
        """Why this runtime runs, e.g. ``"forced"`` or ``"default auto, cached measurement at
        96x96: openvino 45.1 ms, ort 56.0 ms"``."""
        if self.requested != "auto":
            return "forced"
        how = "default auto" if self.default else "auto"
        if self.float_precision == "bf16":
            return f"{how}: bf16 runs on OpenVINO only"
        if not self.timings_ms:
            return f"{how}: OpenVINO is not installed"
        times = ", ".join(f"{k} {v:.1f} ms" for k, v in sorted(self.timings_ms.items()))
        h, w = _AUTO_HW
        measured = "cached measurement" if self.cached else "measured now"
        return f"{how}, {measured} at {w}x{h}: {times}"

    @property
    def note(self) -> str:
        """One line saying which runtime runs and why, e.g. ``"runtime: OpenVINO (forced)"``."""
        precision = " bf16" if self.float_precision == "bf16" else ""
        return f"runtime: {_NAMES[self.runtime]}{precision} ({self.why})"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict, with ``why`` and ``note``."""
        return {**asdict(self), "why": self.why, "note": self.note}


def choice_key(model: ModelFile, *, threads: int | None, float_precision: str = "f32") -> str:
    """Cache key of an ``auto`` choice: model SHA256, runtime versions, CPU and its ISA flags,
    threads, precision."""
    import onnxruntime

    from ..core.system import system_info
    from .ov import openvino_version

    info = system_info()
    parts = [
        model.sha256,
        f"onnxruntime={onnxruntime.__version__}",
        f"openvino={openvino_version()}",
        info.cpu,
        f"isa={info.isa_summary()}",
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


def choice_file(key: str, cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The cache file of the ``auto`` choice ``key`` (``cache_dir`` default: the user cache)."""
    from ..core.paths import user_cache_dir

    root = Path(cache_dir) if cache_dir is not None else user_cache_dir()
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
    return root / CHOICES_DIR / f"{digest}.json"


def _read_choice(path: Path, key: str) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    ok = (
        isinstance(data, dict)
        and data.get("key") == key
        and data.get("runtime") in _NAMES
        and isinstance(data.get("timings_ms"), dict)
    )
    return data if ok else None


def _cached(entry: dict[str, Any], key: str, float_precision: str) -> RuntimeChoice:
    return RuntimeChoice(
        entry["runtime"],
        "auto",
        float_precision,
        timings_ms={str(k): float(v) for k, v in entry["timings_ms"].items()},
        cached=True,
        key=key,
    )


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[bool]:
    """Hold ``<path>.lock`` (yields False, unlocked, where the cache folder is not writable)."""
    from filelock import FileLock, Timeout

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(path.with_suffix(".lock")), timeout=_LOCK_TIMEOUT_S)
        lock.acquire()
    except (OSError, Timeout):
        yield False
        return
    try:
        yield True
    finally:
        lock.release()


def _measure_auto(
    p: ModelFile,
    *,
    threads: int | None,
    float_precision: str,
    cache_dir: str | os.PathLike[str] | None,
) -> RuntimeChoice:
    key = choice_key(p, threads=threads, float_precision=float_precision)
    file = choice_file(key, cache_dir)
    entry = _read_choice(file, key)
    if entry is not None:
        return _cached(entry, key, float_precision)
    with _locked(file) as writable:
        entry = _read_choice(file, key)  # another process may have measured while we waited
        if entry is not None:
            return _cached(entry, key, float_precision)
        runners = {
            rt: open_on(p, rt, float_precision=float_precision, threads=threads)
            for rt in ("ort", "openvino")
        }
        timings = measure_runtimes(runners, threads=threads)
        del runners
        best = min(timings, key=lambda k: timings[k])
        if writable:
            record = {"key": key, "runtime": best, "timings_ms": timings, "model": str(p.path)}
            with contextlib.suppress(LesrcnnError):  # a cache we cannot write: measure next time
                atomic_write_json(file, record)
    return RuntimeChoice(best, "auto", float_precision, timings_ms=timings, key=key)


def resolve_runtime(
    model: ModelFile | str | os.PathLike[str],
    runtime: str | None = None,
    *,
    compute: str = "f32",
    threads: int | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> RuntimeChoice:
    """Turn ``runtime`` (``ort``, ``openvino``, ``auto`` or ``None``) into a concrete runtime.

    Args:
        model: the opened model (a path is opened by
            :func:`~lesrcnn_deploy.models.open_model`).
        runtime: one of :data:`~lesrcnn_deploy.core.vocab.RUNTIMES`, or ``None`` for
            :func:`default_runtime`.
        compute: the float layers' precision, ``"f32"`` or ``"bf16"`` (OpenVINO only).
        threads: intra-op threads (part of the ``auto`` cache key).
        cache_dir: root of the ``auto`` cache (default: the user cache,
            :func:`~lesrcnn_deploy.core.paths.user_cache_dir`).

    Raises:
        ConfigError: unknown runtime or compute precision, or bf16 asked of ONNX Runtime.
        RuntimeUnavailableError: ``openvino`` asked for (or needed by bf16) but not installed.
        ModelError: a path that is not a readable toolkit model.
    """
    m = as_record(model)
    default = runtime is None
    asked = default_runtime() if runtime is None else check_runtime(runtime)
    float_precision = check_compute(compute)
    if asked == "ort" and float_precision != "f32":
        msg = "bf16 runs on OpenVINO only: use --runtime openvino (or auto)"
        raise ConfigError(msg)
    if asked == "openvino" or (asked == "auto" and float_precision == "bf16"):
        from .ov import import_openvino

        import_openvino()
        return RuntimeChoice("openvino", asked, float_precision, default=default)
    if asked == "ort":
        return RuntimeChoice("ort", "auto" if default else "ort", float_precision, default=default)
    if installed_runtimes() == ["ort"]:
        return RuntimeChoice("ort", "auto", float_precision, default=default)
    choice = _measure_auto(m, threads=threads, float_precision=float_precision, cache_dir=cache_dir)
    return dataclasses.replace(choice, default=default)
