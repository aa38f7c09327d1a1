"""Report writers, plots and README refresher on synthetic bench results (fast, no models)."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest

from lesrcnn_deploy.bench.accuracy import Comparison, paper_name, published
from lesrcnn_deploy.bench.plots import (
    plot_psnr_drop,
    plot_speed,
    psnr_drop_figure,
    speed_figure,
)
from lesrcnn_deploy.bench.readme import END_MARKER, START_MARKER, refresh_readme, replace_section
from lesrcnn_deploy.bench.report import (
    CSV_COLUMNS,
    BenchResults,
    ModelEntry,
    render_csv,
    render_markdown,
    write_reports,
)
from lesrcnn_deploy.bench.speed import MemoryResult
from lesrcnn_deploy.core.errors import ConfigError
from lesrcnn_deploy.core.system import read_cpuinfo
from lesrcnn_deploy.evaluation.evaluate import EvaluationResult, ImageScore
from lesrcnn_deploy.evaluation.scoring import Protocol
from lesrcnn_deploy.runtime.timing import SpeedResult


def _eval(name: str, scale: int, protocol: str, psnr: float, ssim: float) -> EvaluationResult:
    img = ImageScore("a", psnr, ssim, (10, 10))
    return EvaluationResult(name, scale, protocol, "m", psnr, ssim, 1, (img,), 0.1)


def _cmp(
    name: str, scale: int, protocol: str, p32: float, p8: float, *, label: str = ""
) -> Comparison:
    proto = Protocol(protocol)
    return Comparison(
        scale=scale,
        dataset=name,
        label=label or name,
        protocol=protocol,
        fp32=_eval(name, scale, protocol, p32, 0.9),
        int8=_eval(name, scale, protocol, p8, 0.89),
        reference=published(scale, name, protocol=proto),
    )


def _speed(label: str, scale: int, workload: str, ms: float) -> SpeedResult:
    hw = (128, 128) if workload == "128x128" else (360, 640)
    out = (hw[0] * scale, hw[1] * scale)
    return SpeedResult(label, scale, workload, hw, out, 2, (ms, ms * 1.1, ms * 0.9))


def synthetic(tmp: Path, *, standin: bool = True) -> BenchResults:
    speed = []
    for s in (2, 4):
        for w in ("128x128", "720p"):
            speed += [
                _speed("ORT fp32", s, w, 300.0),
                _speed("ORT int8", s, w, 100.0),
                _speed("PyTorch eager fp32", s, w, 900.0),
            ]
    card_name = "Set14" if standin else "DIV2K_valid"
    label = f"{card_name} (stand-in: DIV2K validation not given)" if standin else card_name
    return BenchResults(
        config={"threads": 2, "repeats_128": 3, "repeats_720p": 3, "warmup": 1},
        system={
            "cpu": "Test CPU",
            "logical_cpus": 2,
            "vnni": True,
            "amx": False,
            "isa_summary": "avx2 avx512_vnni",
            "versions": {"onnxruntime": "1.32.0"},
        },
        models=[ModelEntry(2, "fp32", str(tmp / "lesrcnn_x2.onnx"), "ab" * 32, 2_500_000)],
        cost={
            2: {"params": 626_328, "macs": 2e10, "gmacs": 20.0, "card_flops_g": 44.459},
            4: {"params": 774_040, "macs": 6.87e10, "gmacs": 68.7, "card_flops_g": 152.592},
        },
        card=[
            _cmp(card_name, 2, "seed128", 29.8, 29.7, label=label),
            _cmp(card_name, 4, "seed128", 26.0, 25.9, label=label),
        ],
        card_dataset=label,
        card_is_standin=standin,
        paper=[
            _cmp("Set5", 2, "paper", 37.65, 37.62),
            _cmp("Set14", 2, "paper", 33.32, 33.30),
            _cmp("Set5", 4, "paper", 31.88, 31.86),
        ],
        speed=speed,
        memory=[MemoryResult("ORT int8", 2, "720p", 300.0, 700.0)],
        wall_s=61.0,
        started="2026-01-01T00:00:00+00:00",
    )


def test_published_lookup() -> None:
    assert paper_name("bsd100") == "B100"
    assert published(2, "Set5", protocol=Protocol.PAPER) == {"psnr": 37.65, "ssim": 0.9586}
    assert published(3, "DIV2K_valid", protocol=Protocol.SEED128) == {}  # the card has no x3 row
    assert published(2, "DIV2K_valid", protocol=Protocol.SEED128)["int8_psnr"] == 27.575
    assert (
        published(2, "Set14", protocol=Protocol.SEED128) == {}
    )  # a stand-in has no card reference


def test_markdown_standin(tmp_path: Path) -> None:
    md = render_markdown(synthetic(tmp_path))
    assert "Set14 (stand-in: DIV2K validation not given)" in md
    assert "| LESRCNN_x2 fp32 | 44.459 | 20.0 | 0.626 | 29.800 | 0.900 | 3x128x128 |" in md
    assert "Card PSNR" not in md  # no reference column against a stand-in
    assert "| Set5 | x2 | 1 | 37.65 / 0.9586 | 37.65 / 0.9000 | +0.000 |" in md
    assert "+0.030 |" in md  # Set5 x2 drop
    assert "| x2 | 720p | 640x360 -> 1280x720 | ORT int8 | 100.0 |" in md
    assert "3.00x" in md and "700 (+400)" in md
    assert "VNNI yes, AMX no" in md


def test_markdown_div2k_reference(tmp_path: Path) -> None:
    md = render_markdown(synthetic(tmp_path, standin=False))
    assert "Card PSNR / SSIM | PSNR - card |" in md
    assert "29.763 / 0.916 | +0.037 |" in md
    assert "27.575 / 0.877 | +2.125 |" in md  # int8 row against the card's int8


def test_csv_and_json(tmp_path: Path) -> None:
    res = synthetic(tmp_path)
    rows = list(csv.DictReader(io.StringIO(render_csv(res))))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert sum(r["section"] == "speed" for r in rows) == len(res.speed)
    acc = [r for r in rows if r["section"] == "paper" and r["precision"] == "int8"]
    assert len(acc) == 3 and float(acc[0]["drop_db"]) == pytest.approx(0.03)
    paths = write_reports(res, tmp_path / "out")
    assert [p.name for p in paths] == ["results.md", "results.json", "results.csv"]
    data = json.loads((tmp_path / "out" / "results.json").read_text())
    assert data["models"][0]["sha256"] == "ab" * 32
    assert data["card"]["standin"] is True
    assert data["speed"][0]["median_ms"] == pytest.approx(300.0)
    assert not list((tmp_path / "out").glob(".*"))  # no temporary files left


def test_plots_draw_the_data(tmp_path: Path) -> None:
    import cv2

    res = synthetic(tmp_path)
    a = plot_psnr_drop([*res.card, *res.paper], tmp_path / "drop.png")
    b = plot_speed(res.speed, tmp_path / "speed.png")
    for p in (a, b):
        img = cv2.imread(str(p), cv2.IMREAD_COLOR)
        assert img is not None and img.shape[0] > 200 and img.shape[1] > 400
        assert len(np.unique(img.reshape(-1, 3), axis=0)) > 20  # bars, text and axes, not blank
    # The bars follow the numbers: int8 twice as fast draws another picture.
    faster = [
        dataclasses.replace(r, times_ms=tuple(t / 2 for t in r.times_ms))
        if r.label == "ORT int8"
        else r
        for r in res.speed
    ]
    c = plot_speed(faster, tmp_path / "speed2.png")
    assert not np.array_equal(cv2.imread(str(b)), cv2.imread(str(c)))


def test_plots_labels_do_not_overlap_and_the_legend_hides_no_bar(tmp_path: Path) -> None:
    """Drawn, every value label is clear of every other label, and no legend covers a bar or a
    label (in the rendered figure's pixel boxes)."""
    res = synthetic(tmp_path)
    # as crowded as a full bench: seven runners, two workloads per scale, near-equal speeds
    runners = ["ORT fp32", "ORT int8", "eager", "OV f32", "OV bf16", "OV int8", "NNCF int8"]
    times = [300.0, 110.0, 540.0, 270.0, 130.0, 74.0, 73.5]
    crowded = [
        SpeedResult(label, s, w, (64, 64), (64 * s, 64 * s), 2, (t * s,))
        for s in (2, 3, 4)
        for w in ("128x128", "720p")
        for label, t in zip(runners, times, strict=True)
    ]
    figures = [psnr_drop_figure([*res.card, *res.paper]), speed_figure(res.speed)]
    for fig in [*figures, speed_figure(crowded)]:
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
        labels = [t.get_window_extent(renderer) for ax in fig.axes for t in ax.texts]
        bars = [p.get_window_extent(renderer) for ax in fig.axes for p in ax.patches]
        legends = [leg for leg in [*fig.legends, *(ax.get_legend() for ax in fig.axes)] if leg]
        assert labels and bars and legends
        for i, a in enumerate(labels):
            assert not any(a.overlaps(b) for b in labels[i + 1 :]), a
        for leg in legends:
            box = leg.get_window_extent(renderer)
            assert not any(box.overlaps(b) for b in [*bars, *labels])
        plt.close(fig)


def test_replace_section() -> None:
    text = f"intro\n{START_MARKER}\nold\n{END_MARKER}\noutro\n"
    new = replace_section(text, "new table")
    assert new == f"intro\n{START_MARKER}\nnew table\n{END_MARKER}\noutro\n"
    assert replace_section(new, "new table") == new  # idempotent
    with pytest.raises(ConfigError, match="exactly one"):
        replace_section("no markers", "x")
    with pytest.raises(ConfigError, match="before"):
        replace_section(f"{END_MARKER}\n{START_MARKER}", "x")


def test_refresh_readme(tmp_path: Path) -> None:
    rep = tmp_path / "reports"
    res = synthetic(tmp_path)
    res.plots = [plot_psnr_drop([*res.card, *res.paper], rep / "psnr_drop.png")]
    write_reports(res, rep)
    page = tmp_path / "docs" / "benchmarks.md"
    page.parent.mkdir()
    page.write_text(f"# X\n\n{START_MARKER}\nplaceholder\n{END_MARKER}\n\nmore\n")
    refresh_readme(page, rep)
    text = page.read_text()
    assert "placeholder" not in text and text.endswith("\n\nmore\n")
    assert "\n## Paper tables" in text and "](reports" not in text
    assert "![bench_psnr_drop](bench_psnr_drop.png)" in text  # beside the page
    assert (tmp_path / "docs" / "bench_psnr_drop.png").is_file()
    readme = tmp_path / "README.md"
    readme.write_text(f"{START_MARKER}\n{END_MARKER}\n")
    refresh_readme(readme, rep, docs_dir=tmp_path / "docs")  # another page, plots elsewhere
    assert "![bench_psnr_drop](docs/bench_psnr_drop.png)" in readme.read_text()
    with pytest.raises(ConfigError, match="no bench report"):
        refresh_readme(readme, tmp_path / "nothing")


def test_read_cpuinfo() -> None:
    text = "processor\t: 0\nmodel name\t: Fancy CPU\nflags\t\t: fpu avx2 avx512_vnni amx_int8\n"
    name, flags = read_cpuinfo(text)
    assert name == "Fancy CPU" and {"avx512_vnni", "amx_int8"} <= flags
    assert read_cpuinfo("") == ("", set())
