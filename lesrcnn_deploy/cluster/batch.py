"""The folder job on Ray Data: the local :func:`~lesrcnn_deploy.upscale.batch.run_batch` at scale.

Planning, output names and output rules are the local command's (:func:`plan_jobs`,
:func:`check_job`), applied on the driver; only the jobs that must run go to Ray. Each job is one
row; an actor pool runs them, each actor holding one :class:`~lesrcnn_deploy.upscale.api.Upscaler`
(one ONNX Runtime session) that reads the source, upscales it tiled and writes the output
atomically (:func:`upscale_job`), so outputs are byte-identical to the local command's and a
reader never sees a half-written file. Unreadable images fail their own row with the reason.

Fault tolerance: actors are restarted when their process dies and the rows they held are retried
on the restarted or another actor: Ray Data's actor pools default to ``max_restarts=-1`` and
``max_task_retries=-1`` (unlimited; passing them again is deprecated in Ray 2.60), which
``tests/test_cluster_ray.py`` checks by killing an actor mid-job. A retried row just rewrites its
output atomically. On a cluster every node must see the model and the input and
output folders at the same paths (a shared file system).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import ConfigError
from ..data import DEFAULT_MAX_PIXELS
from ..upscale.batch import BatchResult, Job, Outcome, check_job, upscale_job
from .connect import connect_ray

__all__ = ["UpscaleActor", "run_batch_ray"]


class UpscaleActor:
    """Ray Data callable class: one Upscaler per actor, one job per row.

    Args:
        scale, precision, model, tile, tile_overlap, threads: as for
            :class:`~lesrcnn_deploy.upscale.api.Upscaler`.
        max_pixels: larger inputs fail their row.
    """

    def __init__(
        self,
        scale: int,
        precision: str,
        *,
        model: str | None,
        tile: int,
        tile_overlap: int | None,
        threads: int | None,
        max_pixels: int,
    ) -> None:
        from ..upscale.api import Upscaler

        self.upscaler = Upscaler(  # ORT until `--ray` passes --runtime through (#18)
            scale,
            precision,
            model=model,
            tile=tile,
            tile_overlap=tile_overlap,
            threads=threads,
            runtime="ort",
        )
        self.max_pixels = max_pixels

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the rows ``{"index", "source", "output"}``; return ``{"index", "status", ...}``."""
        statuses, reasons = [], []
        for source, output in zip(batch["source"], batch["output"], strict=True):
            job = Job(Path(str(source)), Path(str(output)))
            outcome = upscale_job(self.upscaler, job, max_pixels=self.max_pixels)
            statuses.append(outcome.status)
            reasons.append(outcome.reason)
        return {
            "index": np.asarray(batch["index"]),
            "status": np.asarray(statuses, dtype=object),
            "reason": np.asarray(reasons, dtype=object),
            "pid": np.full(len(statuses), os.getpid()),
        }


def run_batch_ray(
    jobs: Sequence[Job],
    *,
    scale: int,
    precision: str,
    model: str | os.PathLike[str] | None = None,
    tile: int = 128,
    tile_overlap: int | None = None,
    threads: int | None = 1,
    overwrite: bool = False,
    skip_existing: bool = False,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    address: str | None = None,
    actors: int | None = None,
    num_cpus: int | None = None,
    object_store_memory: int | None = None,
    progress: bool = True,
) -> BatchResult:
    """Run ``jobs`` on Ray Data with an actor pool; same outcomes as the local run.

    Args:
        jobs: from :func:`~lesrcnn_deploy.upscale.batch.plan_jobs`.
        scale, precision, model, tile, tile_overlap: the model, as for ``upscale``.
        threads: ONNX Runtime threads per actor (default 1: one actor per CPU).
        overwrite, skip_existing, max_pixels: as for the local run.
        address: ``None`` starts a local Ray; otherwise the cluster to join (see
            :func:`~lesrcnn_deploy.cluster.connect.connect_ray`).
        actors: actor pool size; default: the cluster's CPUs divided by ``threads`` (>= 1),
            at most the number of jobs.
        num_cpus, object_store_memory: limits of a local Ray instance.
        progress: Ray Data's progress bars.

    Returns:
        The :class:`~lesrcnn_deploy.upscale.batch.BatchResult`, outcomes in job order.

    Raises:
        ConfigError: ``overwrite`` with ``skip_existing``, or a bad ``actors`` count.
        MissingExtraError: Ray is not installed.
    """
    if overwrite and skip_existing:
        msg = "choose either --overwrite or --skip-existing, not both"
        raise ConfigError(msg)
    start = time.perf_counter()
    sources = {job.source.resolve(): job for job in jobs}
    outcomes: list[Outcome | None] = [
        check_job(job, sources, overwrite=overwrite, skip_existing=skip_existing) for job in jobs
    ]
    todo = [i for i, o in enumerate(outcomes) if o is None]
    if todo:
        if model is None:  # build the default model once, on the driver, not in every actor
            from ..upscale.models import resolve_model

            model = resolve_model(scale, precision)
        ray = connect_ray(
            address, num_cpus=num_cpus, object_store_memory=object_store_memory, what="--ray"
        )
        per_actor = threads or 1
        if actors is None:
            cpus = int(ray.cluster_resources().get("CPU", 1))
            actors = max(1, cpus // per_actor)
        if actors < 1:
            msg = f"actors must be >= 1, got {actors}"
            raise ConfigError(msg)
        actors = min(actors, len(todo))
        rows = [
            {"index": i, "source": str(jobs[i].source), "output": str(jobs[i].output)} for i in todo
        ]
        ray.data.DataContext.get_current().enable_progress_bars = progress
        ds = ray.data.from_items(rows, override_num_blocks=len(rows))
        results = ds.map_batches(
            UpscaleActor,
            batch_size=1,
            fn_constructor_kwargs={
                "scale": scale,
                "precision": precision,
                "model": None if model is None else os.fspath(model),
                "tile": tile,
                "tile_overlap": tile_overlap,
                "threads": threads,
                "max_pixels": max_pixels,
            },
            compute=ray.data.ActorPoolStrategy(size=actors),
            num_cpus=per_actor,
        ).take_all()
        for row in results:
            i = int(row["index"])
            status: Any = str(row["status"])
            outcomes[i] = Outcome(jobs[i], status, str(row["reason"]))
    done = [
        o if o is not None else Outcome(jobs[i], "failed", "not run")
        for i, o in enumerate(outcomes)
    ]
    return BatchResult(tuple(done), time.perf_counter() - start)
