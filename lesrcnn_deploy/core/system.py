"""The machine a benchmark ran on: CPU name, instruction-set flags, cores, library versions."""

from __future__ import annotations

import os
import platform
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .versions import library_versions

__all__ = ["ISA_FLAGS", "SystemInfo", "read_cpuinfo", "system_info"]

ISA_FLAGS: tuple[str, ...] = (
    "avx2",
    "fma",
    "avx512f",
    "avx512bw",
    "avx512_vnni",
    "avx_vnni",
    "avx512_bf16",
    "amx_tile",
    "amx_int8",
    "amx_bf16",
)
"""The /proc/cpuinfo flags that decide int8 speed: VNNI (int8 dot products) and AMX (tiles)."""


@dataclass(frozen=True)
class SystemInfo:
    """Where a benchmark ran.

    Attributes:
        cpu: CPU model name (``/proc/cpuinfo`` "model name", else ``platform.processor()``).
        logical_cpus: logical CPUs visible to this process (affinity mask).
        isa: each flag of :data:`ISA_FLAGS` -> present or not.
        machine: ``platform.machine()`` (e.g. ``x86_64``).
        os: ``platform.platform()``.
        python: Python version.
        versions: installed versions of the libraries that matter, incl. ``lesrcnn_deploy``.
    """

    cpu: str
    logical_cpus: int
    isa: dict[str, bool]
    machine: str
    os: str
    python: str
    versions: dict[str, str] = field(default_factory=dict)

    @property
    def vnni(self) -> bool:
        """Any VNNI (AVX512-VNNI or AVX-VNNI): int8 convolutions run at full speed."""
        return self.isa.get("avx512_vnni", False) or self.isa.get("avx_vnni", False)

    @property
    def amx(self) -> bool:
        """AMX int8 tiles present."""
        return self.isa.get("amx_int8", False)

    def isa_summary(self) -> str:
        """The flags present, space separated, e.g. ``"avx2 fma avx512f avx512_vnni"``."""
        return " ".join(k for k, v in self.isa.items() if v) or "(none of the tracked flags)"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict, with the ``vnni``/``amx`` summaries."""
        d = asdict(self)
        d["vnni"] = self.vnni
        d["amx"] = self.amx
        return d


def read_cpuinfo(text: str) -> tuple[str, set[str]]:
    """CPU model name and flag set from the text of ``/proc/cpuinfo`` (first processor block)."""
    name = ""
    flags: set[str] = set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and not name:
            name = value.strip()
        elif key in ("flags", "Features") and not flags:
            flags = set(value.split())
    return name, flags


def system_info(cpuinfo: str | os.PathLike[str] = "/proc/cpuinfo") -> SystemInfo:
    """Describe this machine; works (with fewer details) where ``/proc/cpuinfo`` is missing."""
    try:
        name, flags = read_cpuinfo(Path(cpuinfo).read_text(encoding="utf-8", errors="replace"))
    except OSError:
        name, flags = "", set()
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return SystemInfo(
        cpu=name or platform.processor() or "unknown CPU",
        logical_cpus=cpus,
        isa={f: f in flags for f in ISA_FLAGS},
        machine=platform.machine(),
        os=platform.platform(),
        python=platform.python_version(),
        versions=library_versions(),
    )
