"""The Ray folder job vs the local batch: fixed cost and marginal cost per image, side by side.

How it is measured (robust to a loaded 2-core machine, in about a minute):

* Ray is started once for all of the bench's Ray rows (:class:`~.ray_session.RaySession`), its
  start-up reported apart.
* A small warm-up job runs first on Ray (Ray Data's first job on the driver, an actor process,
  its imports and model load): it also names the runtime the actors resolved, and the local batch
  then runs that same runtime, with the same threads.
* Then ``repeats`` rounds, each the local batch then the Ray job, on the same ``images`` files
  (interleaved, so a load burst hits both sides).
* Marginal cost per image: the steady time per image inside a job, from the first output's write
  to the last's over ``images - 1`` (file modification times; outputs are written atomically), the
  minimum over the rounds. It holds Ray's per-row scheduling gaps, not the actor's start.
* Fixed cost: the job time beyond ``images x marginal`` (minimum over the rounds); the local
  side's includes its model load, as the Ray side's includes the actor's.

A fit that cannot hold (too few images, outputs all written at the same instant, a job shorter
than its images) is reported as such, never as a negative or infinite cost.
"""

from __future__ import annotations

import math
import re
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import BenchError
from ..data import save_image
from .ray_session import RaySession

__all__ = ["fit_costs", "render_ray_folder_markdown", "run_ray_folder"]

_RAN_ON = re.compile(r"runtime: (ONNX Runtime|OpenVINO)")
_RUNTIME_IDS = {"ONNX Runtime": "ort", "OpenVINO": "openvino"}

MARGINAL_TARGET = 1.15
"""Ray's marginal cost per image on one machine, at most this many times local's (issue 30)."""


def fit_costs(
    jobs_s: Sequence[float], spans_s: Sequence[float], *, images: int, load_s: float = 0.0
) -> dict[str, Any]:
    """Fixed and marginal cost of one command from its timed rounds.

    Args:
        jobs_s: each round's job time, s.
        spans_s: each round's time from the first output's write to the last's, s.
        images: images per job.
        load_s: fixed cost paid outside the timed job (the local model load).

    Returns:
        ``{"job_s", "marginal_s_per_image", "fixed_s", "degenerate"}``: the costs are finite and
        non-negative, or ``None`` with ``degenerate`` saying why.
    """
    out: dict[str, Any] = {"job_s": list(jobs_s), "load_s": load_s}
    out.update(marginal_s_per_image=None, fixed_s=None, degenerate=None)
    if images < 3 or not jobs_s or len(jobs_s) != len(spans_s):
        out["degenerate"] = f"{images} image(s) per job: no steady state to fit"
        return out
    slopes = [s / (images - 1) for s in spans_s]
    marginal = min(slopes)
    if not all(math.isfinite(v) for v in [*jobs_s, *slopes]):
        out["degenerate"] = "a timing is not a finite number"
        return out
    if marginal <= 0:
        out["degenerate"] = "the outputs were written at the same instant"
        return out
    overhead = min(j - images * marginal for j in jobs_s)
    if overhead < -marginal:  # more than one image's worth shorter than its images: not a job
        out["degenerate"] = f"a job ({min(jobs_s):.2f} s) shorter than its {images} images"
        return out
    out["marginal_s_per_image"] = marginal
    out["fixed_s"] = load_s + max(0.0, overhead)
    return out


def _runtimes(notes: dict[str, int]) -> set[str]:
    """The runtime ids (``ort``, ``openvino``) named in a Ray job's runtime notes."""
    return {_RUNTIME_IDS[m] for m in _RAN_ON.findall(" ".join(notes))}


def _span(folder: Path) -> float:
    """Seconds from the first output's write to the last's in ``folder``."""
    times = sorted(p.stat().st_mtime for p in folder.iterdir() if p.is_file())
    return times[-1] - times[0] if times else 0.0


def run_ray_folder(
    model: str | Path,
    *,
    session: RaySession,
    images: int = 48,
    size: int = 256,
    repeats: int = 2,
    warmup_images: int = 2,
    threads: int = 2,
) -> dict[str, Any]:
    """Measure the Ray folder job against the local batch (see the module docstring).

    Args:
        model: the x2 ``.onnx`` model (int8 in the bench).
        session: the local Ray to run on (started here if it is not yet).
        images: images per timed job (at least 3 for a fit).
        size: side of the square RGB PNG inputs.
        repeats: interleaved rounds of (local, Ray).
        warmup_images: images of the untimed-for-the-fit warm-up job on Ray.
        threads: threads of the local upscaler and of each actor.

    Returns:
        ``{"images", "size", "repeats", "threads", "runtime", "plan", "ray_start_s", "warmup",
        "local", "ray", "marginal_ratio", "identical_outputs", "markdown"}``; ``local`` and
        ``ray`` as :func:`fit_costs` returns them; ``marginal_ratio`` is None when a fit is
        degenerate.

    Raises:
        BenchError: a Ray job failed or its actors ran on more than one runtime.
    """
    from ..cluster.batch import run_batch_ray
    from ..models import InferenceSettings
    from ..upscale import Upscaler, plan_jobs, run_batch

    settings = InferenceSettings(scale=2, precision=None, model=Path(model), threads=threads)
    session.get()
    with tempfile.TemporaryDirectory(prefix="lesrcnn-rayfolder-") as tmp:
        root = Path(tmp)
        rng = np.random.default_rng(0)
        for i in range(max(images, warmup_images)):
            img = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
            save_image(root / "in" / f"im{i:03d}.png", img)
        all_jobs = plan_jobs([root / "in"], scale=2, output=root / "unused")

        def on_ray(name: str, n: int) -> tuple[float, set[str], str]:
            jobs = plan_jobs([root / "in"], scale=2, output=root / name)[:n]
            res = run_batch_ray(jobs, settings, progress=False)
            if not res.ok:
                msg = f"Ray folder bench: the Ray job failed: {res.summary()}"
                raise BenchError(msg)
            plan = res.plan.summary if res.plan is not None else ""
            return res.seconds, _runtimes(res.runtimes), plan

        warm_s, runtimes, plan = on_ray("warm", warmup_images)
        local: dict[str, list[float]] = {"job": [], "span": []}
        ray: dict[str, list[float]] = {"job": [], "span": []}
        t = time.perf_counter()
        if len(runtimes) != 1:
            msg = f"Ray folder bench: the actors ran on {sorted(runtimes) or 'no named runtime'}"
            raise BenchError(msg)
        runtime = next(iter(runtimes))
        up = Upscaler.from_settings(settings.replace(runtime=runtime))
        load_s = time.perf_counter() - t
        for r in range(repeats):
            jobs = plan_jobs([root / "in"], scale=2, output=root / f"local{r}")[:images]
            local["job"].append(run_batch(up, jobs, progress=False).seconds)
            local["span"].append(_span(root / f"local{r}"))
            seconds, ran, _ = on_ray(f"ray{r}", images)
            runtimes |= ran
            ray["job"].append(seconds)
            ray["span"].append(_span(root / f"ray{r}"))
        same = all(
            (root / f"ray{r}" / j.output.name).read_bytes()
            == (root / f"local{r}" / j.output.name).read_bytes()
            for r in range(repeats)
            for j in all_jobs[:images]
        )
    if len(runtimes) != 1:
        msg = f"Ray folder bench: the actors ran on {sorted(runtimes)}"
        raise BenchError(msg)
    out: dict[str, Any] = {
        "images": images,
        "size": size,
        "repeats": repeats,
        "threads": threads,
        "runtime": runtime,
        "plan": plan,
        "ray_start_s": session.start_s,
        "warmup": {"images": warmup_images, "job_s": warm_s},
        "local": fit_costs(local["job"], local["span"], images=images, load_s=load_s),
        "ray": fit_costs(ray["job"], ray["span"], images=images),
        "identical_outputs": same,
    }
    lm, rm = out["local"]["marginal_s_per_image"], out["ray"]["marginal_s_per_image"]
    out["marginal_ratio"] = rm / lm if lm and rm else None
    out["markdown"] = render_ray_folder_markdown(out)
    return out


def render_ray_folder_markdown(result: dict[str, Any]) -> str:
    """The Markdown of :func:`run_ray_folder`'s result."""
    r = result
    start = r.get("ray_start_s")
    started = f"started once for the bench's Ray rows in {start:.1f} s" if start else "running"
    w = r["warmup"]
    lines = [
        f"{r['images']} images {r['size']}x{r['size']} -> x2 int8 per job, {r['threads']} "
        f"thread(s) per side, runtime {r['runtime']} on both (the one the actors resolved; the "
        f"local batch runs it too). Local Ray ({started}, not counted below), {r['plan']}; "
        f"a {w['images']}-image warm-up job on Ray first ({w['job_s']:.1f} s: Ray Data's first "
        f"job, the actor's process, imports and model load), then {r['repeats']} interleaved "
        "rounds of the local batch and the Ray job. Marginal: the steady time per image inside "
        "a job (first output written to last, over images - 1), the best round; fixed: the job "
        "time beyond images x marginal, the best round (local: plus its model load; Ray: the "
        "actor's start and model load, in every job).",
        "",
        "| Command | Job per round (s) | Fixed (s) | Marginal (s/image) |",
        "|---|---:|---:|---:|",
    ]
    notes = []
    for name, key in (("local", "local"), ("--ray", "ray")):
        side = r[key]
        jobs = ", ".join(f"{v:.1f}" for v in side["job_s"])
        if side["degenerate"]:
            lines.append(f"| {name} | {jobs} | n/a | n/a |")
            notes.append(f"{name}: no fit ({side['degenerate']}).")
        else:
            lines.append(
                f"| {name} | {jobs} | {side['fixed_s']:.1f} | {side['marginal_s_per_image']:.3f} |"
            )
    same = "identical" if r["identical_outputs"] else "DIFFERENT"
    lines.append("")
    if r["marginal_ratio"] is not None:
        verdict = "within" if r["marginal_ratio"] <= MARGINAL_TARGET else "ABOVE"
        lines.append(
            f"Ray's marginal cost per image: {r['marginal_ratio']:.2f}x local's ({verdict} the "
            f"{MARGINAL_TARGET:.2f}x target; rows grouped into batches of about a second of "
            f"work); outputs {same}."
        )
    else:
        lines.append(f"{' '.join(notes)} Outputs {same}.")
    return "\n".join(lines)
