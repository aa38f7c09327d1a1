"""The whole bench in one call: accuracy (card + paper tables), speed, memory, pictures, reports."""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..core.errors import ConfigError, DatasetError, ModelError
from ..core.paths import reports_dir, shared_dir
from ..core.system import system_info
from ..data import SRDataset, open_dataset
from ..evaluation.scoring import Protocol
from ..models import ModelFile, model_path, open_model
from ..network.cost import measure_cost
from ..network.lesrcnn import build_model
from ..quantization.manifest import read_manifest
from ..runtime.dispatch import open_runner
from ..runtime.timing import time_runners
from . import runtimes as rt
from .accuracy import compare
from .coldstart import load_cold_start
from .plots import plot_psnr_drop, plot_speed
from .ray_session import RaySession
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
            when missing or out of date (:func:`~lesrcnn_deploy.models.build.build`).
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
        ray: with x2 in ``scales`` and the ``ray`` extra installed, add the long video's Ray
            row and the "Ray folder job" section (:mod:`.ray_folder`, about a minute), on one
            local Ray whose start-up is timed apart.
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
    ray: bool = True
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


def _models(cfg: BenchConfig, scale: int) -> tuple[ModelFile, ModelFile]:
    """The x``scale`` fp32 and int8 models of the run, opened: the default ones (built when
    missing or out of date), or those of ``cfg.models`` as they are."""
    if cfg.models is None:
        from ..models.build import build

        return build(scale, "fp32"), build(scale, "int8")
    opened = []
    for precision, make in (("fp32", "make export"), ("int8", "make quantize")):
        p = model_path(scale, precision, folder=cfg.models)
        if not p.is_file():
            msg = f"{p}: model not found (build it with `{make}`, or give --models DIR)"
            raise ModelError(msg)
        opened.append(open_model(p, scale=scale, precision=precision))
    return opened[0], opened[1]


def _with_openvino(runtime: str) -> bool:
    """Whether the OpenVINO rows run: ``auto`` = if installed, ``openvino`` = required."""
    from ..core.vocab import check_runtime
    from ..runtime.ov import import_openvino, openvino_available

    check_runtime(runtime)
    if runtime == "openvino":
        import_openvino()
        return True
    return runtime == "auto" and openvino_available()


def _video(run: _Run, ray: RaySession | None) -> dict[str, Any]:
    """The "Video" section (x2 int8 on the default runtime and on ONNX Runtime, and the raw frame
    rate of each runtime; fp32 per frame is the speed table's x2 720p row; long videos: single
    pass vs segmented vs Ray, resume, :mod:`.long_video`); a note instead when PyAV is not
    installed."""
    from ..core.errors import MissingExtraError
    from .video import bench_video

    int8 = run.models(2)[1]
    # the default (auto) beside ONNX Runtime, raw rates
    runtimes: tuple[str | None, ...] = (None, "ort") if run.with_ov else ("ort",)
    raw = ("ort", "openvino") if run.with_ov else ("ort",)
    try:
        out = bench_video(
            {"int8": int8.path},
            threads=run.cfg.threads,
            runtimes=runtimes,
            raw=raw,
            progress=run.cfg.progress,
        )
    except MissingExtraError as exc:
        return {"skipped": f"Not measured: {exc}"}
    from .long_video import bench_long_video

    out["long"] = bench_long_video(int8.path, threads=run.cfg.threads, ray=ray or False)
    return out


def _ray_session(cfg: BenchConfig) -> RaySession | None:
    """The local Ray of the bench's Ray rows (started on first use), or None without them."""
    if not (cfg.ray and 2 in cfg.scales and importlib.util.find_spec("ray") is not None):
        return None
    return RaySession(num_cpus=cfg.threads)


def _lap(run: _Run, name: str, ray: RaySession | None, *, started: bool) -> None:
    """``run.lap(name)``, less Ray's start-up when it happened in this section (reported apart
    as "Ray start")."""
    run.lap(name)
    if ray is not None and not started and ray.start_s is not None:
        run.res.sections_s[name] -= ray.start_s
        run.res.sections_s["Ray start"] = ray.start_s


def _ray_folder(run: _Run, ray: RaySession) -> None:
    """The "Ray folder job" section (:mod:`.ray_folder`)."""
    from .ray_folder import run_ray_folder

    started = ray.start_s is not None
    int8 = run.models(2)[1]
    run.res.ray_folder = run_ray_folder(int8.path, session=ray, threads=run.cfg.threads)
    _lap(run, "Ray folder job", ray, started=started)


class _Laps:
    """``lap(name)`` adds the wall time since the previous lap to ``res.sections_s[name]``."""

    def __init__(self, res: BenchResults) -> None:
        self.res, self.t = res, time.perf_counter()

    def __call__(self, name: str) -> None:
        now = time.perf_counter()
        self.res.sections_s[name] = self.res.sections_s.get(name, 0.0) + now - self.t
        self.t = now


def _entry(model: ModelFile) -> ModelEntry:
    return ModelEntry(
        model.scale, model.precision, str(model.path), model.sha256, model.path.stat().st_size
    )


class _Run:
    """One bench run: its config, results, report folder, lap clock and opened models."""

    def __init__(self, cfg: BenchConfig) -> None:
        if cfg.threads < 1 or cfg.repeats < 1:
            msg = f"threads and repeats must be >= 1, got {cfg.threads} and {cfg.repeats}"
            raise ConfigError(msg)
        self.cfg = cfg
        self.roots = list(cfg.datasets) or default_datasets()
        sysi = system_info()
        self.res = BenchResults(
            config=_config_record(cfg, self.roots),
            system={**sysi.to_dict(), "isa_summary": sysi.isa_summary()},
            started=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        self.out = cfg.output
        self.out.mkdir(parents=True, exist_ok=True)
        self.lap = _Laps(self.res)
        self.with_ov = _with_openvino(cfg.runtime)
        self.res.config["openvino"] = self.with_ov
        self.set14_x3: Any = None  # (dataset, x3 int8 result) for the "Any output size" section
        self._models: dict[int, tuple[ModelFile, ModelFile]] = {}
        self.ov_specs: dict[int, list[RunnerSpec]] = {}

    def models(self, scale: int) -> tuple[ModelFile, ModelFile]:
        """The x``scale`` fp32 and int8 models, opened (and built) once per run."""
        if scale not in self._models:
            self._models[scale] = _models(self.cfg, scale)
        return self._models[scale]


def _config_record(cfg: BenchConfig, roots: Sequence[Path]) -> dict[str, Any]:
    """What results.json records of the run's configuration."""
    record = {k: str(v) if isinstance(v, Path) else v for k, v in asdict(cfg).items()}
    record.update(
        datasets=[str(r) for r in roots],
        models="default (built from recipes)" if cfg.models is None else str(cfg.models),
        scales=list(cfg.scales),
        nncf_scales=list(cfg.nncf_scales),
        memory_scales=list(cfg.memory_scales),
        repeats_128=record.pop("repeats"),
        repeats_720p=cfg.repeats_720p,
    )
    return record


def run_bench(cfg: BenchConfig) -> BenchResults:
    """Run everything and write the reports into ``cfg.output``; see the package docstring.

    The sections, in order: the runtime choice (and OpenVINO's kernels); per scale, accuracy
    (card and paper tables, OpenVINO rows), speed, and peak memory; video; the Ray folder job
    (one local Ray for it and the long video's Ray row); any output size; plots; serving; the
    cold start measured by ``make coldstart``; the reports.
    """
    t0 = time.perf_counter()
    run = _Run(cfg)
    _runtime_choice(run)
    for scale in cfg.scales:
        _accuracy(run, scale)
        _speed(run, scale)
        if cfg.memory and scale in cfg.memory_scales:
            _memory(run, scale)
    ray = _ray_session(cfg)
    try:
        if cfg.video and 2 in cfg.scales:
            run.res.video = _video(run, ray)
            _lap(run, "video", ray, started=False)
        if ray is not None:
            _ray_folder(run, ray)
    finally:
        if ray is not None:
            ray.close()
    if run.set14_x3 is not None and run.set14_x3[1] is not None and 4 in cfg.scales:
        _outscale(run)
    run.res.plots = [
        plot_psnr_drop([*run.res.card, *run.res.paper], run.out / "psnr_drop.png"),
        plot_speed(run.res.speed, run.out / "speed.png"),
    ]
    if cfg.serving and 2 in cfg.scales and importlib.util.find_spec("uvicorn") is not None:
        _serving(run)
    run.res.cold_start = load_cold_start(run.out)  # measured by `make coldstart` (.coldstart)
    run.res.wall_s = time.perf_counter() - t0
    write_reports(run.res, run.out)
    return run.res


def _runtime_choice(run: _Run) -> None:
    """OpenVINO's int8 kernels (do they run on AMX) and the default runtime, and why."""
    from ..runtime.choice import resolve_runtime  # what every deployed path runs, and why

    first_int8 = run.models(run.cfg.scales[0])[1]
    if run.with_ov:  # whether the int8 convolutions really run on AMX, from OpenVINO's graph
        from ..runtime.kernels import int8_conv_kernels

        kernels = int8_conv_kernels(first_int8.path, threads=run.cfg.threads)
        run.res.system["openvino_int8_convs"] = kernels.to_dict()
        run.res.system["openvino_int8_amx"] = kernels.summary()
    choice = resolve_runtime(first_int8, threads=run.cfg.threads)
    run.res.config["default_runtime"] = choice.to_dict()
    run.lap("runtime choice")


def _accuracy(run: _Run, scale: int) -> None:
    """The card and paper tables of ``scale`` (ORT fp32 vs int8), the OpenVINO accuracy rows and
    the visual sheet."""
    cfg, res = run.cfg, run.res
    fp32, int8 = run.models(scale)
    res.models += [_entry(fp32), _entry(int8)]
    manifest = read_manifest(int8.path)
    if manifest is not None:
        res.quantization[scale] = manifest
    cost = measure_cost(build_model(scale), scale)
    res.cost[scale] = {
        "params": cost.params,
        "macs": cost.macs,
        "gmacs": cost.gmacs,
        "card_flops_g": cost.card_flops_g,
    }
    r32 = open_runner(fp32, runtime="ort", threads=cfg.threads)
    r8 = open_runner(int8, runtime="ort", threads=cfg.threads)
    sets = _open_all(run.roots, scale)
    card_ds, card_label = _card_set(cfg, sets, scale)
    res.card_dataset = card_label.replace(f" ({len(card_ds)} images)", "")
    res.card_is_standin = cfg.div2k is None
    ov_acc: dict[str, Any] = {
        sp.label: open_spec(sp) for sp in _ov_specs(run, scale) if sp.label != rt.OV_FP32
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
            run.set14_x3 = (ds, c.int8)
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
    run.lap(f"x{scale} accuracy")
    if sets:
        out = run.out / f"visual_x{scale}.png"
        res.visuals.append(comparison_sheet(r32, r8, dataset=sets[0], output=out))


def _ov_specs(run: _Run, scale: int) -> list[RunnerSpec]:
    """The OpenVINO rows of ``scale`` (with NNCF's int8 on ``cfg.nncf_scales``), or none."""
    if not run.with_ov:
        return []
    if scale in run.ov_specs:
        return run.ov_specs[scale]
    fp32, int8 = run.models(scale)
    nncf_path = (
        rt.nncf_default_int8(fp32.path, run.out / "nncf" / f"lesrcnn_x{scale}_nncf.onnx")
        if scale in run.cfg.nncf_scales
        else None
    )
    specs = rt.openvino_specs(
        scale, fp32.path, int8=int8.path, nncf_int8=nncf_path, threads=run.cfg.threads
    )
    run.ov_specs[scale] = specs
    return specs


def _specs(run: _Run, scale: int) -> list[RunnerSpec]:
    """The ONNX Runtime fp32 and int8 rows and the PyTorch reference."""
    fp32, int8 = run.models(scale)
    threads = run.cfg.threads
    return [
        RunnerSpec("ORT fp32", "onnx", str(fp32.path), scale, threads),
        RunnerSpec("ORT int8", "onnx", str(int8.path), scale, threads),
        RunnerSpec(TORCH, "torch", "", scale, threads),
    ]


def _speed(run: _Run, scale: int) -> None:
    """Every runner of ``scale`` timed, interleaved, at 128x128 and 720p."""
    from tqdm import tqdm

    cfg = run.cfg
    runners = {s.label: open_spec(s) for s in [*_specs(run, scale), *_ov_specs(run, scale)]}
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
            run.res.speed += time_runners(
                timed,
                wl,
                threads=cfg.threads,
                warmup=cfg.warmup,
                repeats=n,
                max_repeats=caps,
                on_round=lambda: bar.update(1),
            )
    del runners
    run.lap(f"x{scale} speed")


def _memory(run: _Run, scale: int) -> None:
    """Peak memory of the ONNX Runtime rows at 720p, each in a fresh process."""
    wl = workloads(scale)[1]
    specs = _specs(run, scale)
    big = [sp for sp in specs if sp.label != TORCH or run.cfg.torch_repeats_720p > 0]
    run.res.memory += measure_peak_memory(big, wl)
    run.lap("memory")


def _outscale(run: _Run) -> None:
    """The "Any output size" section: x3 by the x4 model and an area downscale."""
    from .outscale import bench_outscale

    run.res.outscale = bench_outscale(
        run.models(4)[1].path,
        run.set14_x3[0],
        x3=run.set14_x3[1],
        precision="int8",
        threads=run.cfg.threads,
        progress=run.cfg.progress,
    )
    run.lap("any output size")


def _serving(run: _Run) -> None:
    """The "Serving" section (:mod:`.serving`)."""
    from .serving import ServingBenchConfig, run_serving_bench

    fp32, int8 = run.models(2)
    run.res.serving = run_serving_bench(ServingBenchConfig(int8=int8.path, fp32=fp32.path))
    run.lap("serving")
    del run.res.sections_s["serving"]
    run.res.sections_s.update(run.res.serving.get("seconds", {}))
