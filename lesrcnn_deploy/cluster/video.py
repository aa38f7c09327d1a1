"""One long video on Ray: its segments upscaled in parallel by an actor pool, joined on the driver.

The driver cuts the video at keyframes and checks the work folder exactly as the local segmented
run does (:func:`~lesrcnn_deploy.video.segmented.run_segmented`); the segments still to do become
rows of a Ray Data dataset, one row per batch (a segment is seconds to minutes of work). Each
actor holds one :class:`~lesrcnn_deploy.upscale.api.Upscaler` (loaded once) and runs
:func:`~lesrcnn_deploy.video.segmented.run_one_segment`: the segment file and its record are
written atomically into the work folder, so a row retried after its actor or node died simply
writes them again, and a half-written file is never joined. The driver joins the segments and
muxes audio, subtitles and chapters from the source. Outputs equal the local segmented run's
(same segments, same encoder settings, same runtime). On a cluster every node must see the
source, the model and the output folder at the same paths (a shared file system).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from ..core.vocab import DEFAULT_THREADS
from ..models import InferenceSettings
from ..video.encoder import EncoderSettings, container_format
from ..video.result import VideoResult
from ..video.segment_run import SegmentJob
from ..video.segments import Segment
from ..video.workdir import SegmentRecord, WorkFolder
from .connect import connect_ray
from .resources import ActorPlan, node_cpus, plan_actors

__all__ = ["SegmentActor", "upscale_video_ray"]


class SegmentActor:
    """Ray Data callable class: one Upscaler per actor, one segment per row.

    Args:
        model: the inference settings, their model opened on the driver; ``threads`` is the
            CPUs the actor reserves.
        job: the video's encoding settings.
    """

    def __init__(self, model: InferenceSettings, *, job: SegmentJob) -> None:
        from ..upscale.api import Upscaler
        from ..video.api import frame_plan

        self.upscaler = Upscaler.from_settings(model)
        self.frame_fn = frame_plan(job.source, self.upscaler).frame_fn
        self.job = job

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the rows ``{"segment": JSON, "work": folder}``; return their records (JSON)."""
        from ..video.segmented import run_one_segment

        records = []
        for segment, work in zip(batch["segment"], batch["work"], strict=True):
            seg = Segment(**json.loads(str(segment)))
            record = run_one_segment(
                self.job, seg, frame_fn=self.frame_fn, work=WorkFolder(str(work))
            )
            records.append(json.dumps(asdict(record)))
        n = len(records)
        note = self.upscaler.runtime_choice.note
        return {
            "record": np.asarray(records, dtype=object),
            "pid": np.full(n, os.getpid()),
            "runtime_note": np.full(n, note, dtype=object),
        }


def _ray_runner(ray: Any, model: InferenceSettings, plan: ActorPlan, notes: dict[str, int]) -> Any:
    """A segment runner over Ray Data; ``notes`` collects the actors' runtime notes."""

    def run(
        job: SegmentJob, segments: Sequence[Segment], work: WorkFolder, bar: Any
    ) -> Iterator[SegmentRecord]:
        if not segments:
            return
        rows = [{"segment": json.dumps(asdict(s)), "work": str(work.path)} for s in segments]
        ray.data.DataContext.get_current().enable_progress_bars = False  # ours counts frames
        ds = ray.data.from_items(rows, override_num_blocks=len(rows))
        results = ds.map_batches(
            SegmentActor,
            batch_size=1,
            fn_constructor_kwargs={"model": model.replace(threads=plan.cpus), "job": job},
            compute=ray.data.ActorPoolStrategy(size=min(plan.actors, len(rows))),
            num_cpus=plan.cpus,
        )
        for row in results.iter_rows():
            raw = json.loads(str(row["record"]))
            record = SegmentRecord(
                **{**raw, "size": tuple(raw["size"]), "notes": tuple(raw["notes"])}
            )
            note = str(row["runtime_note"])
            notes[note] = notes.get(note, 0) + 1
            bar.update(record.frames)
            yield record

    return run


def upscale_video_ray(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    *,
    model: InferenceSettings,
    settings: EncoderSettings | None = None,
    segment_seconds: float,
    restart: bool = False,
    address: str | None = None,
    actors: int | None = None,
    num_cpus: int | None = None,
    progress: bool = True,
) -> tuple[VideoResult, str]:
    """Upscale ``src`` into ``dst`` in segments run by a Ray actor pool (see the module doc).

    Args:
        src: the input video (same path on every node).
        dst: the output file (written atomically by the driver); must not exist (the caller
            decides about replacing it).
        model: the inference settings every actor opens (the model is found once, here);
            ``threads``: threads (and reserved CPUs) per actor, ``None``: the ``--threads``
            default capped at the largest node's CPUs.
        settings: encoder settings (default: as ``upscale_video``).
        segment_seconds: segment length (the unit of work and of what a crash loses).
        restart: discard the work folder of an earlier run.
        address: ``None`` starts a local Ray; otherwise the cluster to join.
        actors: actor pool size (default: as many as fit on the alive nodes).
        num_cpus: CPUs of a local Ray instance.
        progress: a tqdm bar over all frames (starts at the frames already done).

    Returns:
        The :class:`~lesrcnn_deploy.video.result.VideoResult` and one line saying where and on
        which runtime the segments ran.

    Raises:
        ConfigError: actors no node can hold, bad settings.
        VideoError: as ``upscale_video``.
        MissingExtraError: Ray or PyAV is not installed.
    """
    from ..video.segmented import run_segmented

    model = model.opened()  # found and checked once, on the driver, not in every actor
    record = model.open_model()
    src_p = Path(src)
    job = SegmentJob(
        str(src_p.resolve()), record.scale, settings or EncoderSettings(), fmt=container_format(dst)
    )
    ray = connect_ray(address, num_cpus=num_cpus, what="--ray")
    plan = plan_actors(
        node_cpus(ray), cpus=model.threads, default_cpus=DEFAULT_THREADS, actors=actors
    )
    notes: dict[str, int] = {}
    identity = {
        "scale": record.scale,
        "precision": model.precision_word,
        "model": str(record.path),
        "tile": model.tile,
        "tile_overlap": model.tile_overlap,
        "runtime": model.runtime,
        "model_sha256": record.sha256,
        "where": "ray",
    }
    result = run_segmented(
        job,
        dst,
        seconds=segment_seconds,
        runner=_ray_runner(ray, model, plan, notes),
        identity=identity,
        restart=restart,
        progress=progress,
    )
    ran = "; ".join(f"{note} ({n} segment(s))" for note, n in notes.items()) or "no segment to run"
    return result, f"ran on Ray, {plan.summary}: {ran}"
