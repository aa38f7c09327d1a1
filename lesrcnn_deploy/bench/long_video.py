"""Long videos: single pass vs segmented vs segmented on Ray, the resume's cost, N nodes projected.

A generated H.264 + AAC clip with a keyframe every second is upscaled in one pass, in segments, and
in segments on a local Ray (one actor), in this process with the model loaded once (the Ray run
includes its actor's start and model load; starting Ray itself is timed apart, once for the bench's
Ray rows, :class:`~.ray_session.RaySession`). The resume is timed as a user meets it, with CLI
processes: the segmented command, the same killed with SIGKILL once half of its segments are done,
and run again. Reported: frames/s of each run; the segmented run's fixed cost (its wall time beyond
the single pass's), its per-segment time and the join; the resume overhead (the re-run's wall time
beyond the unfinished frames' share of the full run); and a projection of the frames/s of a long
film on N nodes from the per-segment time, the join per segment and Ray's fixed cost.
"""

from __future__ import annotations

import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ..core.errors import BenchError
from .ray_session import RaySession

__all__ = ["bench_long_video", "render_long_video_markdown"]

_SUMMARY = re.compile(r"wrote .* \((\d+) frames, ")
_RESUMED = re.compile(r"(\d+) \((\d+) frames\) resumed")
_NODES = (1, 2, 4, 8)


def _cli(args: list[str], env: dict[str, str]) -> tuple[float, re.Match[str], str]:
    """``(wall s, the summary line's match, stdout)`` of one CLI run."""
    t = time.perf_counter()
    cp = subprocess.run(
        [sys.executable, "-m", "lesrcnn_deploy", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
        check=False,
    )
    wall = time.perf_counter() - t
    m = _SUMMARY.search(cp.stdout)
    if cp.returncode != 0 or m is None:
        msg = f"long-video bench: {' '.join(args[:3])} failed ({cp.returncode}): {cp.stderr[-400:]}"
        raise BenchError(msg)
    return wall, m, cp.stdout


def _killed_half_way(args: list[str], env: dict[str, str], work: Path, half: int) -> float:
    """Run ``args`` and SIGKILL it once ``half`` segments are recorded; its wall time."""
    t = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "lesrcnn_deploy", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline and proc.poll() is None:
        if len(list(work.glob("seg_*.json"))) >= half:
            os.kill(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.02)
    proc.wait(60)
    if proc.returncode != -signal.SIGKILL:
        msg = "long-video bench: the run to kill ended before half of its segments"
        raise BenchError(msg)
    return time.perf_counter() - t


def bench_long_video(
    model: str | os.PathLike[str],
    *,
    size: tuple[int, int] = (160, 90),
    seconds: float = 6.0,
    fps: int = 10,
    segment_seconds: float = 1.0,
    threads: int = 2,
    ray: bool | RaySession = True,
    film_segments: int = 240,
) -> dict[str, Any]:
    """Time the runs (see the module doc) of ``model`` (x2 int8) on a generated clip.

    Args:
        model: the x2 ``.onnx`` model (int8 in the bench).
        size: clip size (W, H).
        seconds: clip length.
        fps: clip frame rate (a keyframe every second).
        segment_seconds: segment length of the segmented runs.
        threads: threads of the local runs and of the Ray actor.
        ray: include the Ray run and the projection (needs the ``ray`` extra): ``True`` on a
            local Ray started (and stopped) here, or on the given session (left running).
        film_segments: segments of the projected film.

    Returns:
        ``{"clip", "runs": {name: {"wall_s", "frames", "fps"}}, "segmented": {...},
        "resume": {...}, "projection": {...} | None, "markdown"}``.
    """
    from ..upscale.api import Upscaler
    from ..video.api import upscale_video
    from .video import make_test_clip

    up = Upscaler(2, None, model=model, threads=threads, runtime="ort")  # the file's precision
    runs: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="lesrcnn-longvideo-") as tmp:
        clip = make_test_clip(
            Path(tmp) / "clip.mp4", size=size, seconds=seconds, fps=fps, keyint=fps
        )
        t = time.perf_counter()
        one = upscale_video(clip, Path(tmp) / "one.mp4", upscaler=up, progress=False)
        runs["single pass"] = {"wall_s": time.perf_counter() - t, "frames": one.frames}
        t = time.perf_counter()
        seg = upscale_video(
            clip, Path(tmp) / "seg.mp4", upscaler=up, segment_seconds=segment_seconds,
            progress=False,
        )  # fmt: skip
        runs["segmented"] = {"wall_s": time.perf_counter() - t, "frames": seg.frames}
        per = sorted(seg.segment_s)
        segmented = {
            "segments": seg.segments,
            "fixed_s": runs["segmented"]["wall_s"] - runs["single pass"]["wall_s"],
            "segment_s": per[len(per) // 2],
            "join_s": seg.join_s,
        }
        resume = _resume(clip, model, tmp, threads=threads, segment_seconds=segment_seconds)
        resume["overhead_s"] = resume["rerun_s"] - (
            (one.frames - resume["resumed_frames"]) / one.frames * resume["full_s"]
        )
        projection = None
        ray_start_s = None
        if ray:
            from ..cluster.video import upscale_video_ray
            from ..models import InferenceSettings

            settings = InferenceSettings(
                scale=2, precision=None, model=Path(model), threads=threads, runtime="ort"
            )
            session = ray if isinstance(ray, RaySession) else RaySession(num_cpus=threads)
            try:
                session.get()
                ray_start_s = session.start_s
                t = time.perf_counter()
                res, where = upscale_video_ray(
                    clip, Path(tmp) / "ray.mp4", model=settings, segment_seconds=segment_seconds,
                    progress=False,
                )  # fmt: skip
                wall = time.perf_counter() - t
            finally:
                if session is not ray:
                    session.close()
            runs["segmented on Ray"] = {"wall_s": wall, "frames": res.frames, "where": where}
            busy = sum(res.segment_s) + res.join_s  # one actor: the segments ran one by one
            fixed = max(0.0, wall - busy)
            projection = _project(segmented, fixed_s=fixed, film_segments=film_segments)
            projection["frames_per_segment"] = seg.frames / seg.segments
    for r in runs.values():
        r["fps"] = r["frames"] / r["wall_s"]
    out: dict[str, Any] = {
        "clip": {
            "size": list(size),
            "seconds": seconds,
            "fps": fps,
            "frames": runs["single pass"]["frames"],
            "segment_seconds": segment_seconds,
            "threads": threads,
            "precision": up.precision,
        },
        "runs": runs,
        "segmented": segmented,
        "resume": resume,
        "projection": projection,
        "ray_start_s": ray_start_s,
    }
    out["markdown"] = render_long_video_markdown(out)
    return out


def _resume(
    clip: Path, model: str | os.PathLike[str], tmp: str, *, threads: int, segment_seconds: float
) -> dict[str, Any]:
    """A segmented CLI run, the same killed half way and run again: the three wall times."""
    from ..video.segments import plan_segments
    from ..video.workdir import work_folder_for
    from .http_load import server_env

    env = server_env()
    args = ["upscale", str(clip), "--scale", "2", "--model", str(model), "--runtime", "ort"]
    args += ["--threads", str(threads), "--segment-seconds", f"{segment_seconds:g}"]
    full, _, _ = _cli([*args, "--output", f"{tmp}/full.mp4"], env)
    out = Path(tmp) / "resumed.mp4"
    segments = len(plan_segments(clip, segment_seconds).segments)
    killed = _killed_half_way(
        [*args, "--output", str(out)], env, work_folder_for(out), max(1, segments // 2)
    )
    rerun, _, text = _cli([*args, "--output", str(out)], env)
    m = _RESUMED.search(text)
    return {
        "full_s": full,
        "killed_after_s": killed,
        "rerun_s": rerun,
        "resumed_segments": int(m.group(1)) if m else 0,
        "resumed_frames": int(m.group(2)) if m else 0,
    }


def _project(segmented: dict[str, Any], *, fixed_s: float, film_segments: int) -> dict[str, Any]:
    """Frames/s of a film of ``film_segments`` segments like the measured ones on N nodes (one
    actor each): Ray's fixed cost, then the segments in ceil(S / N) rounds, then the join."""
    join_per_segment = segmented["join_s"] / max(1, segmented["segments"])
    rows = {}
    for n in _NODES:
        wall = (
            fixed_s
            + math.ceil(film_segments / n) * segmented["segment_s"]
            + join_per_segment * film_segments
        )
        rows[str(n)] = wall
    return {"film_segments": film_segments, "ray_fixed_s": fixed_s, "wall_by_nodes": rows}


def render_long_video_markdown(result: dict[str, Any]) -> str:
    """The Markdown of :func:`bench_long_video`'s result."""
    c = result["clip"]
    w, h = c["size"]
    lines = [
        f"A generated {w}x{h} H.264 + AAC clip ({c['frames']} frames, {c['seconds']:g} s, a "
        f"keyframe every second) -> x2 {c['precision']} on ONNX Runtime, {c['threads']} "
        "thread(s), model loaded once (the Ray run includes its actor's start and model load"
        + (
            f"; starting Ray, {result['ray_start_s']:.1f} s, is not in it"
            if result.get("ray_start_s")
            else ""
        )
        + f"); segments of {c['segment_seconds']:g} s.",
        "",
        "| Run | Wall (s) | Frames/s |",
        "|---|---:|---:|",
    ]
    for name, r in result["runs"].items():
        lines.append(f"| {name} | {r['wall_s']:.1f} | {r['fps']:.2f} |")
    s, r = result["segmented"], result["resume"]
    lines += [
        "",
        f"Segmented: {s['segments']} segments, fixed cost {s['fixed_s']:.1f} s over the single "
        f"pass (scan, input hash, per-segment set-up, join); {s['segment_s']:.2f} s per segment, "
        f"join and final mux {s['join_s']:.2f} s.",
        "",
        f"Resume (CLI processes): the segmented command takes {r['full_s']:.1f} s; killed with "
        f"SIGKILL after {r['killed_after_s']:.1f} s, the same command re-run takes "
        f"{r['rerun_s']:.1f} s with {r['resumed_segments']} segments ({r['resumed_frames']} "
        f"frames) kept: {r['overhead_s']:.1f} s beyond the unfinished frames' share of the full "
        "run (start-up, input hash, the checks of the kept segments, the redone half-written "
        "segment).",
    ]
    p = result.get("projection")
    if p:
        frames = p["film_segments"] * p["frames_per_segment"]
        rates = ", ".join(
            f"{n} node(s) {frames / wall:.1f}" for n, wall in p["wall_by_nodes"].items()
        )
        lines += [
            "",
            f"Projection for a film of {p['film_segments']} such segments ({frames:.0f} frames) "
            f"on N nodes of one actor each, from the measured per-segment time, the join per "
            f"segment and Ray's fixed cost ({p['ray_fixed_s']:.1f} s: the job's start, its "
            f"actor's start and model load, on a running Ray): frames/s {rates}.",
        ]
    return "\n".join(lines)
