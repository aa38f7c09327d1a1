"""One local Ray for the bench's Ray rows: started on first use, its start-up timed apart.

The long-video Ray row and the Ray folder job share it, so the bench pays Ray's start-up (~20 s on
2 cores) once and reports it on its own line instead of inside either row.
"""

from __future__ import annotations

import time
from types import ModuleType

__all__ = ["RaySession"]


class RaySession:
    """A local Ray started lazily by :meth:`get` and stopped by :meth:`close`.

    Args:
        num_cpus: CPUs of the local instance (``None``: the machine's).
    """

    def __init__(self, num_cpus: int | None = None) -> None:
        self.num_cpus = num_cpus
        self.start_s: float | None = None
        self._ray: ModuleType | None = None

    def get(self) -> ModuleType:
        """The ``ray`` module, starting the local instance the first time (timed: ``start_s``)."""
        if self._ray is None:
            from ..cluster.connect import connect_ray

            t = time.perf_counter()
            self._ray = connect_ray(None, num_cpus=self.num_cpus)
            self.start_s = time.perf_counter() - t
        return self._ray

    def close(self) -> None:
        """Shut the instance down, if it was started."""
        if self._ray is not None:
            self._ray.shutdown()
            self._ray = None

    def __enter__(self) -> RaySession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
