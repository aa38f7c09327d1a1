"""The whole bench in one call: accuracy (card + paper tables), speed, memory, pictures, reports."""

from __future__ import annotations

import importlib.util
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..core.errors import ConfigError, DatasetError, ModelError
from ..core.fileio import sha256_file
from ..core.paths import reports_dir, shared_dir
from ..core.system import system_info
from ..data import SRDataset, open_dataset
from ..evaluation.scoring import Protocol
from ..network.cost import measure_cost
from ..network.lesrcnn import build_model
from ..runtime.dispatch import open_runner
from ..runtime.timing import time_runners
from . import runtimes as rt
from .accuracy import compare
from .coldstart import load_cold_start
from .plots import plot_psnr_drop, plot_speed
from .report import BenchResults, ModelEntry, write_reports
from .speed import RunnerSpec, measure_peak_memory, open_spec, workloads
from .visual import comparison_sheet

__all__ = ["BenchConfig", "default_datasets", "run_bench"]


@dataclass(frozen=True)
class BenchConfig:
    """Options of a bench run (CLI flags map one to one).

    Attributes:
        scales: scales to bench.
        datasets: benchmark set folders for the paper tables (default: :func:`default_datasets`).
        div2k: DIV2K folder for the card table (``DIV2K_valid_HR`` + ``DIV2K_valid_LR_bicubic``);
            None uses a stand-in set.
        models: folder of ``lesrcnn_x{S}.onnx`` and ``lesrcnn_x{S}_int8.onnx`` taken as they
            are; None (default) uses the default models, exported or replayed from their recipes
            when missing or out of date (:func:`~lesrcnn_deploy.model_store.default_model`).
        output: report folder.
        threads: intra-op threads of every runner.
        repeats: timed rounds at 128x128; the 720p workload gets ``max(2, repeats // 2)``.
        warmup: untimed calls per runner and workload.
        torch_repeats_128: rounds PyTorch eager takes part in at 128x128 (it is the slowest
            runner and only a reference).
        torch_repeats_720p: rounds PyTorch eager takes part in at 720p (0, the default: it is
            timed at 128x128 only; at 720p one call takes ~10 s).
        ov_fp32_repeats_720p: rounds OpenVINO fp32 takes part in at 720p (0, the default: it is
            a reference, as slow as ORT fp32, timed at 128x128 only).
        nncf_scales: scales that get the NNCF-default int8 peer rows (quantizing takes 12-25 s
            per scale; default x2, the headline scale).
        memory: measure peak memory in fresh processes.
        memory_scales: scales whose peak memory is measured (default x2: the 720p workload's
            largest input).
        progress: tqdm bars.
        seed: seed of the synthetic speed inputs.
        video: with x2 in ``scales``, add the "Video" section (PyAV).
        serving: with x2 in ``scales`` and the ``serve`` extra installed, add the "Serving"
            section (:mod:`.serving`, about 1-2 minutes).
        runtime: ``"auto"`` adds the OpenVINO rows when OpenVINO is installed, ``"openvino"``
            requires them, ``"ort"`` leaves them out (see :mod:`.runtimes`).
    """

    scales: tuple[int, ...] = (2, 3, 4)
    datasets: tuple[Path, ...] = ()
    div2k: Path | None = None
    models: Path | None = None
    output: Path = field(default_factory=lambda: reports_dir() / "bench")
    threads: int = 2
    repeats: int = 5
    warmup: int = 1
    torch_repeats_128: int = 2
    torch_repeats_720p: int = 0
    ov_fp32_repeats_720p: int = 0
    nncf_scales: tuple[int, ...] = (2,)
    memory: bool = True
    memory_scales: tuple[int, ...] = (2,)
    progress: bool = True
    seed: int = 0
    video: bool = True
    serving: bool = True
    runtime: str = "auto"

    @property
    def repeats_720p(self) -> int:
        """Timed rounds at the 720p workload (each round runs every runner once, ~5 s at x2 with
        the OpenVINO rows; at least two, after the warm-up call)."""
        return max(2, self.repeats // 2)


def default_datasets() -> list[Path]:
    """Every sub-folder of ``../shared/datasets`` (sorted), or an empty list."""
    root = shared_dir() / "datasets"
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


TORCH = "PyTorch eager fp32"

_PAPER_ORDER = ("Set5", "Set14", "B100", "Urban100")


def _open_all(roots: Sequence[Path], scale: int) -> list[SRDataset]:
    """Open every root; sorted in the paper's order (Set5, Set14, B100, Urban100), then by name."""
    from .accuracy import paper_name

    def key(d: SRDataset) -> tuple[int, str]:
        name = paper_name(d.name)
        return (_PAPER_ORDER.index(name) if name else len(_PAPER_ORDER), d.name)

    return sorted((open_dataset(r, scale) for r in roots), key=key)


def _card_set(cfg: BenchConfig, sets: Sequence[SRDataset], scale: int) -> tuple[SRDataset, str]:
    if cfg.div2k is not None:
        ds = open_dataset(cfg.div2k, scale)
        return ds, f"{ds.name} ({len(ds)} images)"
    if not sets:
        msg = "no dataset for the card table: give --div2k DIR or --dataset DIR"
        raise DatasetError(msg)
    pick = next((d for d in sets if d.layout == "hr_lr_bicubic"), sets[0])
    return pick, f"{pick.name} (stand-in: DIV2K validation not given)"


def _model_paths(cfg: BenchConfig, scale: int) -> tuple[Path, Path]:
    if cfg.models is None:
        from ..model_store import default_model

        return default_model(scale, "fp32"), default_model(scale, "int8")
    fp32 = cfg.models / f"lesrcnn_x{scale}.onnx"
    int8 = cfg.models / f"lesrcnn_x{scale}_int8.onnx"
    for p, make in ((fp32, "make export"), (int8, "make quantize")):
        if not p.is_file():
            msg = f"{p}: model not found (build it with `{make}`, or give --models DIR)"
            raise ModelError(msg)
    return fp32, int8


def _with_openvino(runtime: str) -> bool:
    """Whether the OpenVINO rows run: ``auto`` = if installed, ``openvino`` = required."""
    from ..core.vocab import check_runtime
    from ..runtime.ov import import_openvino, openvino_available

    check_runtime(runtime)
    if runtime == "openvino":
        import_openvino()
        return True
    return runtime == "auto" and openvino_available()


def _entry(scale: int, precision: str, path: Path) -> ModelEntry:
    return ModelEntry(scale, precision, str(path), sha256_file(path), path.stat().st_size)


def _video(cfg: BenchConfig) -> dict[str, Any]:
    """The "Video" section (x2 int8 on the default runtime and on ONNX Runtime, and the raw frame
    rate of each runtime; fp32 per frame is the speed table's x2 720p row; long videos: single
    pass vs segmented vs Ray, resume, :mod:`.long_video`); a note instead when PyAV is not
    installed."""
    from ..core.errors import MissingExtraError
    from .video import bench_video

    _, int8 = _model_paths(cfg, 2)
    with_ov = _with_openvino(cfg.runtime)  # the default (auto) beside ONNX Runtime, raw rates
    runtimes: tuple[str | None, ...] = (None, "ort") if with_ov else ("ort",)
    raw = ("ort", "openvino") if with_ov else ("ort",)
    try:
        out = bench_video(
            {"int8": int8},
            threads=cfg.threads,
            runtimes=runtimes,
            raw=raw,
            progress=cfg.progress,
        )
    except MissingExtraError as exc:
        return {"skipped": f"Not measured: {exc}"}
    from .long_video import bench_long_video

    ray = importlib.util.find_spec("ray") is not None
    out["long"] = bench_long_video(int8, threads=cfg.threads, ray=ray)
    return out


class _Laps:
    """``lap(name)`` adds the wall time since the previous lap to ``res.sections_s[name]``."""

    def __init__(self, res: BenchResults) -> None:
        self.res, self.t = res, time.perf_counter()

    def __call__(self, name: str) -> None:
        now = time.perf_counter()
        self.res.sections_s[name] = self.res.sections_s.get(name, 0.0) + now - self.t
        self.t = now


def run_bench(cfg: BenchConfig) -> BenchResults:
    """Run everything and write the reports into ``cfg.output``; see the package docstring."""
    from tqdm import tqdm

    t0 = time.perf_counter()
    if cfg.threads < 1 or cfg.repeats < 1:
        msg = f"threads and repeats must be >= 1, got {cfg.threads} and {cfg.repeats}"
        raise ConfigError(msg)
    roots = list(cfg.datasets) or default_datasets()
    sysi = system_info()
    res = BenchResults(
        config={
            "scales": list(cfg.scales),
            "datasets": [str(r) for r in roots],
            "div2k": None if cfg.div2k is None else str(cfg.div2k),
            "models": "default (built from recipes)" if cfg.models is None else str(cfg.models),
            "threads": cfg.threads,
            "repeats_128": cfg.repeats,
            "repeats_720p": cfg.repeats_720p,
            "torch_repeats_128": cfg.torch_repeats_128,
            "torch_repeats_720p": cfg.torch_repeats_720p,
            "ov_fp32_repeats_720p": cfg.ov_fp32_repeats_720p,
            "nncf_scales": list(cfg.nncf_scales),
            "memory_scales": list(cfg.memory_scales),
            "warmup": cfg.warmup,
            "seed": cfg.seed,
            "memory": cfg.memory,
        },
        system={**sysi.to_dict(), "isa_summary": sysi.isa_summary()},
        started=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    out = cfg.output
    out.mkdir(parents=True, exist_ok=True)
    lap = _Laps(res)
    with_ov = _with_openvino(cfg.runtime)
    res.config["openvino"] = with_ov
    if with_ov:  # whether the int8 convolutions really run on AMX, from OpenVINO's runtime graph
        from ..runtime.kernels import int8_conv_kernels

        kernels = int8_conv_kernels(_model_paths(cfg, cfg.scales[0])[1], threads=cfg.threads)
        res.system["openvino_int8_convs"] = kernels.to_dict()
        res.system["openvino_int8_amx"] = kernels.summary()
    from ..runtime.choice import resolve_runtime  # what every deployed path runs, and why

    first_int8 = _model_paths(cfg, cfg.scales[0])[1]
    res.config["default_runtime"] = resolve_runtime(first_int8, threads=cfg.threads).to_dict()
    lap("runtime choice")
    set14_x3: Any = None  # (dataset, x3 int8 result) for the "Any output size" section
    for scale in cfg.scales:
        fp32_path, int8_path = _model_paths(cfg, scale)
        res.models += [_entry(scale, "fp32", fp32_path), _entry(scale, "int8", int8_path)]
        manifest = int8_path.with_suffix(".json")
        if manifest.is_file():
            res.quantization[scale] = json.loads(manifest.read_text(encoding="utf-8"))
        cost = measure_cost(build_model(scale), scale)
        res.cost[scale] = {
            "params": cost.params,
            "macs": cost.macs,
            "gmacs": cost.gmacs,
            "card_flops_g": cost.card_flops_g,
        }
        r32 = open_runner(fp32_path, runtime="ort", threads=cfg.threads, scale=scale)
        r8 = open_runner(int8_path, runtime="ort", threads=cfg.threads, scale=scale)
        sets = _open_all(roots, scale)
        card_ds, card_label = _card_set(cfg, sets, scale)
        res.card_dataset = card_label.replace(f" ({len(card_ds)} images)", "")
        res.card_is_standin = cfg.div2k is None
        ov_specs = []
        if with_ov:
            nncf_path = (
                rt.nncf_default_int8(fp32_path, out / "nncf" / f"lesrcnn_x{scale}_nncf.onnx")
                if scale in cfg.nncf_scales
                else None
            )
            ov_specs = rt.openvino_specs(
                scale, fp32_path, int8=int8_path, nncf_int8=nncf_path, threads=cfg.threads
            )
        ov_acc: dict[str, Any] = {
            sp.label: open_spec(sp) for sp in ov_specs if sp.label != rt.OV_FP32
        }
        for ds, proto, label in [
            (card_ds, Protocol.SEED128, res.card_dataset),
            *((d, Protocol.PAPER, None) for d in sets),
        ]:
            c = compare(
                r32, r8, dataset=ds, scale=scale, protocol=proto, label=label, progress=cfg.progress
            )
            (res.card if proto is Protocol.SEED128 else res.paper).append(c)
            if scale == 3 and proto is Protocol.PAPER and c.dataset.lower() == "set14":
                set14_x3 = (ds, c.int8)
            if ov_acc and c.int8 is not None:  # ORT int8 was just evaluated by compare()
                # the peers (bf16, NNCF) on the card set and the first paper set (Set5), ours
                # on every set
                everything = proto is Protocol.SEED128 or ds is sets[0]
                acc = ov_acc if everything else {rt.OV_INT8: ov_acc[rt.OV_INT8]}
                f32, lab = c.fp32, c.label
                res.runtimes += [
                    rt.accuracy_row(rt.ORT_INT8, c.int8, fp32=f32, protocol=proto, label=lab),
                    *rt.runtime_accuracy(acc, ds, fp32=f32, protocol=proto, label=lab),
                ]
        del ov_acc
        lap(f"x{scale} accuracy")
        if sets:
            res.visuals.append(
                comparison_sheet(r32, r8, dataset=sets[0], output=out / f"visual_x{scale}.png")
            )
        specs = [
            RunnerSpec("ORT fp32", "onnx", str(fp32_path), scale, cfg.threads),
            RunnerSpec("ORT int8", "onnx", str(int8_path), scale, cfg.threads),
            RunnerSpec(TORCH, "torch", "", scale, cfg.threads),
        ]
        runners = {s.label: open_spec(s) for s in [*specs, *ov_specs]}
        for wl in workloads(scale):
            small = wl.name == "128x128"
            n = cfg.repeats if small else cfg.repeats_720p
            caps = {
                TORCH: cfg.torch_repeats_128 if small else cfg.torch_repeats_720p,
                rt.OV_FP32: n if small else cfg.ov_fp32_repeats_720p,
            }
            timed = {k: r for k, r in runners.items() if caps.get(k, n) > 0}
            with tqdm(
                total=n, desc=f"speed x{scale} {wl.name}", unit="round", disable=not cfg.progress
            ) as bar:
                res.speed += time_runners(
                    timed,
                    wl,
                    threads=cfg.threads,
                    warmup=cfg.warmup,
                    repeats=n,
                    max_repeats=caps,
                    on_round=lambda: bar.update(1),
                )
        del runners
        lap(f"x{scale} speed")
        if cfg.memory and scale in cfg.memory_scales:
            wl = workloads(scale)[1]
            big = [sp for sp in specs if sp.label != TORCH or cfg.torch_repeats_720p > 0]
            res.memory += measure_peak_memory(big, wl)
            lap("memory")
    if cfg.video and 2 in cfg.scales:
        res.video = _video(cfg)
        lap("video")
    if set14_x3 is not None and set14_x3[1] is not None and 4 in cfg.scales:
        from .outscale import bench_outscale

        res.outscale = bench_outscale(
            _model_paths(cfg, 4)[1],
            set14_x3[0],
            x3=set14_x3[1],
            precision="int8",
            threads=cfg.threads,
            progress=cfg.progress,
        )
        lap("any output size")
    res.plots = [
        plot_psnr_drop([*res.card, *res.paper], out / "psnr_drop.png"),
        plot_speed(res.speed, out / "speed.png"),
    ]
    if cfg.serving and 2 in cfg.scales and importlib.util.find_spec("uvicorn") is not None:
        from .serving import ServingBenchConfig, run_serving_bench

        fp32_2, int8_2 = _model_paths(cfg, 2)
        res.serving = run_serving_bench(ServingBenchConfig(int8=int8_2, fp32=fp32_2))
        lap("serving")
        del res.sections_s["serving"]
        res.sections_s.update(res.serving.get("seconds", {}))
    res.cold_start = load_cold_start(out)  # measured by `make coldstart` (see .coldstart)
    res.wall_s = time.perf_counter() - t0
    write_reports(res, out)
    return res
