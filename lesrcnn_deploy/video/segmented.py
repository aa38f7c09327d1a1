"""A video in segments: cut at keyframes, each upscaled on its own, joined; resumable.

1. :func:`~.segments.plan_segments` cuts the source at keyframes about ``seconds`` apart.
2. The work folder (:mod:`.workdir`, keyed by the input's SHA-256 and the settings) keeps the
   segments an earlier run finished; they are checked again, the rest is (re)done by a
   :data:`SegmentRunner`: :func:`local_runner` here, one after the other, or the Ray actor pool
   (:mod:`lesrcnn_deploy.cluster.video`). Each segment file and its record are written
   atomically, so a segment half-written when the process died is redone, never joined.
3. :func:`~.join.join_segments` joins them by stream copy and muxes audio, subtitles and chapters
   from the source into the output (atomic); the work folder is then removed.

The frames, their timestamps and durations, the audio and everything else the single pass keeps
are kept: with a lossless codec the output decodes to the single pass's frames exactly.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..core.fileio import atomic_path
from .checks import check_complete
from .encoder import choose_codec
from .engine import FrameFn
from .hdr import HDR_ENCODERS, hdr_note
from .join import JoinStats, join_segments
from .probe import open_input, pick_video_stream
from .result import VideoResult
from .segment_run import SegmentJob, encode_segment
from .segments import Segment, SegmentPlan, plan_segments
from .wiring import frame_bar
from .workdir import SegmentRecord, WorkFolder, job_key, record_of, work_folder_for

__all__ = ["SegmentRunner", "local_runner", "run_one_segment", "run_segmented"]

SegmentRunner = Callable[[SegmentJob, Sequence[Segment], WorkFolder, Any], Iterator[SegmentRecord]]
"""Runs the pending segments of a job: ``(job, segments, work folder, tqdm bar)`` -> their records
as they finish (each segment file and record already in the work folder)."""


def run_one_segment(
    job: SegmentJob, segment: Segment, *, frame_fn: FrameFn, work: WorkFolder, bar: Any = None
) -> SegmentRecord:
    """Encode ``segment`` into the work folder (atomically) and record it; its record."""
    t0 = time.perf_counter()
    with work.write_part(segment.index) as tmp:
        stats = encode_segment(job, segment, frame_fn=frame_fn, dst=tmp, bar=bar)
    codec = stats.codec
    if segment.index == 0 and _hdr_dropped(job, codec):
        stats.notes.append(hdr_note(codec))
    part = work.part(segment.index)
    wall = time.perf_counter() - t0
    record = record_of(part, index=segment.index, stats=stats, wall_s=wall)
    work.save(record)
    return record


def _hdr_dropped(job: SegmentJob, codec: str) -> bool:
    """The source has HDR static metadata that ``codec`` cannot write."""
    from .hdr import read_hdr
    from .probe import first_frame

    if codec in HDR_ENCODERS:
        return False
    with open_input(job.source) as inp:
        vin = pick_video_stream(inp, job.source)
        return read_hdr(first_frame(inp, vin, path=job.source)).present


def local_runner(frame_fn: FrameFn) -> SegmentRunner:
    """Run the segments one after the other in this process with ``frame_fn``."""

    def run(
        job: SegmentJob, segments: Sequence[Segment], work: WorkFolder, bar: Any
    ) -> Iterator[SegmentRecord]:
        for segment in segments:
            yield run_one_segment(job, segment, frame_fn=frame_fn, work=work, bar=bar)

    return run


def run_segmented(
    job: SegmentJob,
    dst: str | os.PathLike[str],
    *,
    seconds: float,
    runner: SegmentRunner,
    identity: Mapping[str, Any],
    restart: bool = False,
    progress: bool = True,
) -> VideoResult:
    """Upscale ``job.source`` into ``dst`` in segments of about ``seconds`` (see the module doc).

    Args:
        job: the encoding settings shared by every segment.
        dst: the output file (written atomically, its extension's container).
        seconds: segment length.
        runner: what runs the segments not done yet.
        identity: what else decides the pixels (model, precision, tiles, runtime...): part of the
            work folder's key, with the input's SHA-256 and ``job``.
        restart: discard the work folder first.
        progress: a tqdm bar over all frames, starting at the frames already done.

    Raises:
        VideoError: as :func:`~lesrcnn_deploy.video.api.upscale_video`.
    """
    t0 = time.perf_counter()
    src = Path(job.source)
    plan = plan_segments(src, seconds)
    work, done, notes = _open_work(job, dst, plan=plan, identity=identity, restart=restart)
    resumed = dict(done)
    pending = [s for s in plan.segments if s.index not in done]
    bar = frame_bar(
        plan.frames,
        name=src.name,
        progress=progress,
        initial=sum(r.frames for r in done.values()),
    )
    try:
        for record in runner(job, pending, work, bar):
            done[record.index] = record
    except BaseException:
        if work.empty():
            work.remove()  # nothing to resume from
        raise
    finally:
        bar.close()
    records = [done[s.index] for s in plan.segments]
    joined, join_s = _check_and_join(src, dst, plan=plan, work=work, records=records, fmt=job.fmt)
    work.remove()
    ran = [r for r in records if r.index not in resumed]
    first = records[0]
    return VideoResult(
        source=src,
        output=Path(dst),
        frames=joined.frames,
        codec=first.codec or choose_codec(job.fmt, job.settings.codec),
        pix_fmt=first.pix_fmt,
        copied_packets=dict(joined.copied_packets),
        dropped_streams=tuple(joined.dropped_streams),
        seconds=time.perf_counter() - t0,
        decode_s=sum(r.decode_s for r in ran),
        infer_s=sum(r.infer_s for r in ran),
        encode_s=sum(r.encode_s for r in ran),
        size=first.size,
        scale=job.scale,
        chapters=joined.chapters,
        notes=(*first.notes, *([plan.note] if plan.note else []), *notes),
        segments=len(records),
        resumed=len(resumed),
        resumed_frames=sum(r.frames for r in resumed.values()),
        segment_s=tuple(r.wall_s for r in ran),
        join_s=join_s,
    )


def _check_and_join(
    src: Path,
    dst: str | os.PathLike[str],
    *,
    plan: SegmentPlan,
    work: WorkFolder,
    records: list[SegmentRecord],
    fmt: str,
) -> tuple[JoinStats, float]:
    """Check that the segments hold all of ``src``'s frames, then join them into ``dst``; the
    join's statistics and its seconds."""
    with open_input(src) as inp:
        check_complete(
            pick_video_stream(inp, src),
            src,
            frames=sum(r.frames for r in records),
            end_pts=records[-1].end_pts,
        )
    t_join = time.perf_counter()
    with atomic_path(dst) as tmp:
        parts = [work.part(s.index) for s in plan.segments]
        joined = join_segments(src, parts, dst=tmp, fmt=fmt, end_pts=records[-1].end_pts)
    return joined, time.perf_counter() - t_join


def _open_work(
    job: SegmentJob,
    dst: str | os.PathLike[str],
    *,
    plan: SegmentPlan,
    identity: Mapping[str, Any],
    restart: bool,
) -> tuple[WorkFolder, dict[int, SegmentRecord], list[str]]:
    """The work folder of ``dst`` for this job, the segments it holds finished and checked,
    and notes (a folder of other settings discarded, broken segments to redo)."""
    settings = {
        "job": {**asdict(job), "source": None},
        "identity": dict(identity),
        "segments": [asdict(s) for s in plan.segments],
        "format": 1,
    }
    work = WorkFolder(work_folder_for(dst))
    notes = work.prepare(job_key(Path(job.source), settings), restart=restart)
    done, broken = work.finished({s.index: s.frames for s in plan.segments})
    return work, done, [*notes, *broken]
