"""The folder job on Ray Data: the local :func:`~lesrcnn_deploy.upscale.batch.run_batch` at scale.

Planning, output names and output rules are the local command's (:func:`plan_jobs`,
:func:`check_job`), applied on the driver; only the jobs that must run go to Ray. Each job is one
row; an actor pool runs them, each actor holding one :class:`~lesrcnn_deploy.upscale.api.Upscaler`
that reads the source, upscales it tiled and writes the output atomically
(:func:`upscale_job`), so outputs are byte-identical to the local command's on the same runtime
and a reader never sees a half-written file. Unreadable images fail their own row with the reason.

Runtime: each actor resolves ``runtime`` on its own node (``auto``: the runtime measured fastest
there, read from that node's user cache after the first measurement, see
:mod:`~lesrcnn_deploy.runtime.choice`) and reports it with every row. Size: actors reserve
``threads`` CPUs each and are sized to fit the nodes (:mod:`.resources`); a size no node can hold
fails in seconds instead of waiting for a node that never comes.

Fault tolerance: actors are restarted when their process dies and the rows they held are retried
on the restarted or another actor: Ray Data's actor pools default to ``max_restarts=-1`` and
``max_task_retries=-1`` (unlimited; passing them again is deprecated in Ray 2.60), which
``tests/test_cluster_ray.py`` checks by killing an actor mid-job. A retried row just rewrites its
output atomically. On a cluster every node must see the model and the input and
output folders at the same paths (a shared file system).

Rows are groups of images of about a second of work each (:mod:`.grouping`, from the image sizes):
Ray Data's per-batch scheduling cost is then paid once per second of work instead of once per
image. A retried row (its actor died) runs its whole group again, each output rewritten
atomically.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import ConfigError
from ..core.vocab import DEFAULT_THREADS
from ..data import DEFAULT_MAX_PIXELS
from ..models import InferenceSettings
from ..upscale.batch import BatchResult, Outcome, check_job, upscale_job
from ..upscale.output import OutputOptions
from ..upscale.plan import Job, check_plan
from .connect import connect_ray
from .grouping import group_jobs
from .resources import ActorPlan, node_cpus, plan_actors

__all__ = ["RayBatchResult", "UpscaleActor", "run_batch_ray"]


class UpscaleActor:
    """Ray Data callable class: one Upscaler per actor, one job per row.

    Args:
        settings: the inference settings (``runtime`` resolved on the node).
        max_pixels: larger inputs fail their row.
    """

    def __init__(self, settings: InferenceSettings, *, max_pixels: int) -> None:
        from ..upscale.api import Upscaler

        self.upscaler = Upscaler.from_settings(settings)
        self.max_pixels = max_pixels

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the rows ``{"jobs": JSON [[index, source, output], ...]}`` (a group of images,
        :mod:`.grouping`); return one row per image ``{"index", "status", "reason", ...}``."""
        indices, statuses, reasons, details = [], [], [], []
        for group in batch["jobs"]:
            for index, source, output in json.loads(str(group)):
                job = Job(Path(source), Path(output))
                start = time.perf_counter()
                outcome = upscale_job(self.upscaler, job, max_pixels=self.max_pixels)
                indices.append(int(index))
                statuses.append(outcome.status)
                reasons.append(outcome.reason)
                detail = {
                    "seconds": time.perf_counter() - start,
                    "input_size": outcome.input_size,
                    "output_size": outcome.output_size,
                    "runtime": outcome.runtime,
                }
                details.append(json.dumps(detail))
        return {
            "index": np.asarray(indices),
            "status": np.asarray(statuses, dtype=object),
            "reason": np.asarray(reasons, dtype=object),
            "detail": np.asarray(details, dtype=object),
            "pid": np.full(len(statuses), os.getpid()),
            "runtime": np.full(len(statuses), self.upscaler.runtime_choice.runtime, dtype=object),
            "runtime_note": np.full(len(statuses), self.upscaler.runtime_choice.note, dtype=object),
        }


@dataclass(frozen=True)
class RayBatchResult(BatchResult):
    """A :class:`~lesrcnn_deploy.upscale.batch.BatchResult` plus where and on what it ran.

    Attributes:
        runtimes: the actors' runtime notes (``runtime: OpenVINO (auto, ...)``) and how many
            images each ran; empty when nothing ran.
        plan: the actor sizing, or ``None`` when nothing ran.
    """

    runtimes: dict[str, int] = field(default_factory=dict)
    plan: ActorPlan | None = None

    def runtime_line(self) -> str:
        """One line: the runtime each image ran on (``ran on Ray: runtime: ONNX Runtime (12)``)."""
        if not self.runtimes:
            return "ran on Ray: no image to run"
        notes = "; ".join(f"{note} ({n} image(s))" for note, n in self.runtimes.items())
        where = f", {self.plan.summary}" if self.plan is not None else ""
        return f"ran on Ray{where}: {notes}"


def run_batch_ray(
    jobs: Sequence[Job],
    settings: InferenceSettings,
    *,
    overwrite: bool = False,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    options: OutputOptions | None = None,
    address: str | None = None,
    actors: int | None = None,
    num_cpus: int | None = None,
    object_store_memory: int | None = None,
    progress: bool = True,
) -> RayBatchResult:
    """Run ``jobs`` on Ray Data with an actor pool; same outcomes as the local run.

    Args:
        jobs: from :func:`~lesrcnn_deploy.upscale.plan.plan_jobs`.
        settings: the inference settings, as for ``upscale``. ``threads``: threads (and
            reserved CPUs) per actor; ``None``: the ``--threads`` default capped at the largest
            node's CPUs (more than the largest node has is refused). ``runtime`` (``None``: the
            default runtime, :func:`~lesrcnn_deploy.runtime.choice.default_runtime`) is resolved
            by each actor on its node.
        overwrite, max_pixels: as for the local run (an existing output is skipped).
        options: output options; only the defaults run on Ray (see
            :func:`~lesrcnn_deploy.upscale.plan.check_plan`).
        address: ``None`` starts a local Ray; otherwise the cluster to join (see
            :func:`~lesrcnn_deploy.cluster.connect.connect_ray`).
        actors: actor pool size; default: as many as fit on the alive nodes, at most the
            number of jobs. More than fit is refused.
        num_cpus, object_store_memory: limits of a local Ray instance.
        progress: Ray Data's progress bars.

    Returns:
        The :class:`RayBatchResult`, outcomes in job order.

    Raises:
        ConfigError: a plan
            :func:`~lesrcnn_deploy.upscale.plan.check_plan` refuses, a video job (see
            :func:`~lesrcnn_deploy.cluster.video.upscale_video_ray`), or actors that no node
            can hold (the message names the largest node's CPUs and the option to change).
        MissingExtraError: Ray is not installed.
    """
    check_plan(jobs, options or OutputOptions(), ray=True)
    videos = [j.source for j in jobs if j.kind == "video"]
    if videos:
        msg = f"{videos[0]}: a video runs on Ray in segments (cluster.video.upscale_video_ray)"
        raise ConfigError(msg)
    start = time.perf_counter()
    sources = {job.source.resolve(): job for job in jobs}
    outcomes: list[Outcome | None] = [check_job(job, sources, overwrite=overwrite) for job in jobs]
    todo = [i for i, o in enumerate(outcomes) if o is None]
    runtimes: dict[str, int] = {}
    plan = None
    if todo:
        # the model is found (and checked) once, on the driver; every actor runs that record
        record = settings.open_model()
        settings = settings.replace(model=record)
        ray = connect_ray(
            address, num_cpus=num_cpus, object_store_memory=object_store_memory, what="--ray"
        )
        plan = plan_actors(
            node_cpus(ray), cpus=settings.threads, default_cpus=DEFAULT_THREADS, actors=actors
        )
        precision = "bf16" if settings.compute == "bf16" else record.precision
        groups = group_jobs(
            [jobs[i].source for i in todo], precision=precision, cpus=plan.cpus, actors=plan.actors
        )
        rows = []
        for group in groups:
            members = [
                (todo[k], str(jobs[todo[k]].source), str(jobs[todo[k]].output)) for k in group
            ]
            rows.append({"jobs": json.dumps(members)})
        ray.data.DataContext.get_current().enable_progress_bars = progress
        ds = ray.data.from_items(rows, override_num_blocks=len(rows))
        results = ds.map_batches(
            UpscaleActor,
            batch_size=1,
            fn_constructor_args=(settings.replace(threads=plan.cpus),),
            fn_constructor_kwargs={"max_pixels": max_pixels},
            compute=ray.data.ActorPoolStrategy(size=min(plan.actors, len(rows))),
            num_cpus=plan.cpus,
        ).take_all()
        for row in results:
            i = int(row["index"])
            status: Any = str(row["status"])
            detail = json.loads(str(row["detail"]))
            outcomes[i] = Outcome(
                jobs[i],
                status,
                str(row["reason"]),
                seconds=float(detail["seconds"]),
                input_size=tuple(detail["input_size"]) if detail["input_size"] else None,
                output_size=tuple(detail["output_size"]) if detail["output_size"] else None,
                runtime=str(detail["runtime"]),
            )
            note = str(row["runtime_note"])
            runtimes[note] = runtimes.get(note, 0) + 1
    done = [
        o if o is not None else Outcome(jobs[i], "failed", "not run")
        for i, o in enumerate(outcomes)
    ]
    return RayBatchResult(tuple(done), time.perf_counter() - start, runtimes=runtimes, plan=plan)
