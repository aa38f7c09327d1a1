"""The bench's Ray rows (bench/ray_folder.py, bench/ray_session.py, the long video's Ray row): one
local Ray for both, the folder job's fixed and marginal cost finite and non-negative, and a fit
that cannot hold reported as such instead of as a negative cost."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from lesrcnn_deploy.bench.ray_folder import fit_costs


def test_fit_costs_from_rounds() -> None:
    # 10 images, 0.1 s apart (span 0.9 s), jobs of 3.0 and 2.5 s: marginal 0.1, fixed 1.5 + load
    fit = fit_costs([3.0, 2.5], [0.9, 1.2], images=10, load_s=0.25)
    assert fit["degenerate"] is None
    assert fit["marginal_s_per_image"] == pytest.approx(0.1)
    assert fit["fixed_s"] == pytest.approx(0.25 + 2.5 - 1.0)
    # a job a little shorter than images x marginal (the first image written early): fixed 0
    assert fit_costs([0.95], [0.9], images=10)["fixed_s"] == 0.0


@pytest.mark.parametrize(
    ("jobs", "spans", "images", "why"),
    [
        ([1.0], [0.5], 2, "no steady state"),
        ([1.0], [0.0], 10, "same instant"),
        ([1.0], [float("nan")], 10, "not a finite number"),
        ([0.2], [0.9], 10, "shorter than its 10 images"),
    ],
)
def test_fit_costs_degenerate_is_said_not_published(
    jobs: list[float], spans: list[float], images: int, why: str
) -> None:
    fit = fit_costs(jobs, spans, images=images)
    assert fit["marginal_s_per_image"] is None and fit["fixed_s"] is None
    assert why in fit["degenerate"]


@pytest.mark.slow  # local Ray: ~10-20 s to start, then a handful of small jobs (~1 min in all)
def test_one_ray_for_the_long_video_and_the_folder_job(random_int8: Path) -> None:
    pytest.importorskip("ray.data")
    pytest.importorskip("av")
    from lesrcnn_deploy.bench.long_video import bench_long_video
    from lesrcnn_deploy.bench.ray_folder import run_ray_folder
    from lesrcnn_deploy.bench.ray_session import RaySession

    with RaySession(num_cpus=2) as session:
        video = bench_long_video(
            random_int8, size=(64, 48), seconds=4, fps=5, threads=1, ray=session
        )
        start = session.start_s
        folder = run_ray_folder(
            random_int8, session=session, images=6, size=48, repeats=1, threads=1
        )
    assert start is not None and start > 0
    # Ray started once: both rows name the same start-up, and neither row's time holds it
    assert video["ray_start_s"] == folder["ray_start_s"] == start == session.start_s
    ray_row = video["runs"]["segmented on Ray"]
    assert ray_row["frames"] == 20 and ray_row["wall_s"] > 0
    assert video["projection"]["ray_fixed_s"] >= 0
    assert f"starting Ray, {start:.1f} s, is not in it" in video["markdown"]
    for side in ("local", "ray"):
        fit = folder[side]
        assert fit["degenerate"] is None, fit
        assert math.isfinite(fit["fixed_s"]) and fit["fixed_s"] >= 0
        assert math.isfinite(fit["marginal_s_per_image"]) and fit["marginal_s_per_image"] > 0
        assert len(fit["job_s"]) == 1 and fit["job_s"][0] > 0
    # the Ray job holds its actor's start and model load; the warm-up ran before the rounds
    assert folder["ray"]["fixed_s"] > folder["local"]["fixed_s"] - folder["local"]["load_s"]
    assert folder["warmup"]["job_s"] > 0 and folder["identical_outputs"]
    assert folder["runtime"] in {"ort", "openvino"}
    assert math.isfinite(folder["marginal_ratio"]) and folder["marginal_ratio"] > 0
    assert "| --ray |" in folder["markdown"] and "n/a" not in folder["markdown"]
