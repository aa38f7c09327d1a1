"""Command line: ``lesrcnn-deploy <command>``. Thin: parse, call the library, print, exit.

Every :class:`~lesrcnn_deploy.core.errors.LesrcnnError` (and a few expected OS errors) becomes one
line on stderr and exit code 2; ``upscale`` exits 1 when some inputs could not be upscaled (a bad
image or video: one line each, the others are written); Ctrl-C exits 130. No tracebacks.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from .. import __version__
from ..core.errors import LesrcnnError, one_line
from ..core.paths import CACHE_ENV
from ..core.vocab import PRECISIONS
from .bench import add_bench_parser
from .options import (
    add_json_option,
    add_runtime_option,
    add_threads_option,
    positive_int,
    report_stream,
    require_build,
    scale_arg,
    write_json_output,
)
from .quantize import add_quantize_parser
from .serve import add_serve_parser
from .upscale import add_upscale_parser

__all__ = ["build_parser", "main"]

Handler = Callable[[argparse.Namespace], int]


def _cmd_export(args: argparse.Namespace) -> int:
    require_build("lesrcnn-deploy export")
    from ..core.paths import models_dir
    from ..models import model_file_name
    from ..network.export import export_onnx
    from ..weights import load_model

    scale = args.scale
    model_scale = None if args.blind else scale
    reference, ckpt, digest = load_model(
        model_scale, args.weights, allow_custom=args.allow_custom_weights
    )
    fused, _, _ = load_model(
        model_scale, ckpt, allow_custom=True, fuse_upsample=not args.no_fuse_upsample
    )
    default_name = model_file_name(scale, blind=args.blind)
    output = Path(args.output) if args.output else models_dir() / default_name
    result = export_onnx(
        fused,
        output,
        scale=scale,
        input_size=args.input_size,
        checkpoint_sha256=digest,
        checkpoint_path=str(ckpt),
        reference=reference,
    )
    print(
        f"wrote {result.path} (x{result.scale}, {result.depth_to_space} DepthToSpace, "
        f"parity {max(result.parity_random, result.parity_image):.1e}, sha256 {result.sha256[:12]})"
    )
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from ..core.vocab import split_precision
    from ..evaluation.evaluate import evaluate_model
    from ..evaluation.tables import format_evaluation

    precision, compute = split_precision(args.precision) if args.precision else (None, "f32")
    result = evaluate_model(
        args.model,
        args.dataset,
        scale=args.scale,
        protocol=args.protocol,
        limit=args.limit,
        threads=args.threads,
        progress=not args.quiet,
        runtime=args.runtime,
        precision=precision,
        compute=compute,
    )
    if args.runtime != "ort":
        print(result.config["runtime_note"], file=sys.stderr)
    out = report_stream(args)
    print(format_evaluation(result, per_image=not args.summary), file=out)
    if args.json:
        wrote = write_json_output(args.json, result.to_dict())
        if wrote:
            print(wrote, file=out)
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    from ..network.facts import COST_128
    from ..weights.registry import list_weights

    rows = []
    for rec in list_weights():
        scales = [rec.scale] if rec.scale is not None else [2, 3, 4]
        for s in scales:
            cost = COST_128[rec.name, s]
            rows.append(
                {
                    "weights": rec.name,
                    "scale": s,
                    "params": cost.params,
                    "card_flops_g@128": round(cost.card_flops_g, 3),
                    "gmacs@128": round(cost.macs / 1e9, 3),
                    "deployed_gmacs@128": round(cost.fused_macs / 1e9, 3),
                    "sha256": rec.sha256 or "(none on record)",
                    "url": rec.url,
                }
            )
    out = report_stream(args)
    for r in rows:
        print(
            f"{r['weights']:<14} x{r['scale']}  params {r['params']:>9,}  "
            f"card Flops(G) {r['card_flops_g@128']:>8.3f}  GMACs {r['gmacs@128']:>7.3f}  "
            f"(fused export {r['deployed_gmacs@128']:>7.3f})  "
            f"sha256 {str(r['sha256'])[:12]}",
            file=out,
        )
    machine = _machine_info()
    for line in machine.pop("lines"):
        print(line, file=out)
    if args.json:
        wrote = write_json_output(args.json, {"weights": rows, "machine": machine})
        if wrote:
            print(wrote, file=out)
    return 0


def _machine_info() -> dict[str, Any]:
    """This machine for ``info``: CPU, VNNI/AMX flags, the default runtime, and whether OpenVINO
    runs the int8 convolutions on AMX (read from the runtime graph of the built x2 int8 model)."""
    from ..core.system import system_info
    from ..models import model_path
    from ..runtime.choice import default_runtime
    from ..runtime.ov import openvino_available

    sysi = system_info()
    yes = {True: "yes", False: "no"}
    out: dict[str, Any] = {
        "system": {**sysi.to_dict(), "isa_summary": sysi.isa_summary()},
        "default_runtime": default_runtime(),
        "openvino_int8_convs": None,
    }
    lines = [
        f"machine: {sysi.cpu}, {sysi.logical_cpus} logical CPUs; VNNI {yes[sysi.vnni]}, "
        f"AMX {yes[sysi.amx]} (flags: {sysi.isa_summary()})",
        f"default runtime: {out['default_runtime']} (auto when OpenVINO is installed, else ort)",
    ]
    int8 = model_path(2, "int8")
    if not openvino_available():
        amx = "unknown (OpenVINO is not installed)"
    elif not int8.is_file():
        amx = f"unknown ({int8} not built yet: make quantize)"
    else:
        from ..runtime.kernels import int8_conv_kernels

        kernels = int8_conv_kernels(int8, threads=1)
        out["openvino_int8_convs"] = kernels.to_dict()
        amx = kernels.summary()
    lines.append(f"int8 convolutions on AMX (OpenVINO, x2 int8 model): {amx}")
    out["lines"] = lines
    return out


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage dump) and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


class _TopHelp(argparse.HelpFormatter):
    """The commands listed like options, without argparse's ``COMMAND`` line above them."""

    def _format_action(self, action: argparse.Action) -> str:
        if isinstance(action, argparse._SubParsersAction):
            return "".join(self._format_action(a) for a in action._get_subactions())
        return super()._format_action(action)


DESCRIPTION = (
    "Upscale photos, animations and videos 2x, 3x or 4x on a CPU with LESRCNN, a lightweight "
    "super-resolution network, run as an int8 model on ONNX Runtime or OpenVINO; serve it over "
    "HTTP; check and benchmark its accuracy and speed."
)
"""The top-level ``--help`` text, written for users (the module docstring is for developers)."""

EPILOG = (
    "Each command has its own --help, e.g. lesrcnn-deploy upscale --help. Exit codes: 0 done, "
    "1 some inputs failed (upscale) or a check failed (gate), 2 bad options or model, "
    "130 interrupted."
)


def build_parser() -> argparse.ArgumentParser:
    """The argparse tree of every sub-command."""
    p = _Parser(
        prog="lesrcnn-deploy", description=DESCRIPTION, epilog=EPILOG, formatter_class=_TopHelp
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    p.add_argument(
        "--cache-dir",
        metavar="DIR",
        help="where built models, retrained recipes and reports go (default: the checkout, or "
        f"the per-user cache directory when installed; also ${CACHE_ENV})",
    )
    sub = p.add_subparsers(
        dest="command", required=True, parser_class=_Parser, title="commands", metavar="COMMAND"
    )
    add_upscale_parser(sub)
    add_serve_parser(sub)
    _add_info_parser(sub)
    _add_export_parser(sub)
    add_quantize_parser(sub)
    _add_evaluate_parser(sub)
    add_bench_parser(sub)
    return p


def _add_export_parser(sub: Any) -> None:
    e = sub.add_parser(
        "export",
        help="build an fp32 .onnx model from the official PyTorch checkpoint",
        description=(
            "Export the official LESRCNN checkpoint (x2, x3, x4, or the blind multi-scale model) "
            "to ONNX and check that the .onnx gives PyTorch's output. The int8 models ship with "
            "the package; export builds the fp32 models (--precision fp32) and models of other "
            "weights. Needs the 'build' extra (PyTorch)."
        ),
    )
    e.add_argument(
        "--scale", type=scale_arg, required=True, help="the model's upscaling factor: 2, 3 or 4"
    )
    e.add_argument("--weights", help="checkpoint path (default: registry search, then download)")
    e.add_argument(
        "--blind", action="store_true", help="the blind multi-scale model; exports --scale's head"
    )
    e.add_argument(
        "--allow-custom-weights",
        action="store_true",
        help="accept a --weights file that is not the official checkpoint (fine-tuned)",
    )
    e.add_argument("--output", help="the .onnx file to write (default models/lesrcnn_x{S}.onnx)")
    g = e.add_mutually_exclusive_group()
    g.add_argument("--input-size", type=positive_int, help="fixed square LR input size, e.g. 128")
    g.add_argument(
        "--dynamic", action="store_true", help="dynamic batch, height and width (default)"
    )
    e.add_argument(
        "--no-fuse-upsample",
        action="store_true",
        help="keep the two upsample branches of the official graph",
    )
    e.set_defaults(func=_cmd_export)


def _add_evaluate_parser(sub: Any) -> None:
    v = sub.add_parser(
        "evaluate",
        help="PSNR/SSIM of an .onnx model or .pth checkpoint on a dataset folder",
        description=(
            "Score a model on a folder of images (Set5, Set14, DIV2K, or any high-resolution "
            "images, downscaled bicubically to make the inputs): PSNR and SSIM per image and "
            "their mean. The paper protocol reproduces the LESRCNN paper's numbers."
        ),
    )
    v.add_argument("--model", required=True, help=".onnx model or .pth checkpoint")
    v.add_argument(
        "--dataset", required=True, help="dataset folder (Set5, Set14, DIV2K, or HR images)"
    )
    v.add_argument(
        "--scale", type=scale_arg, help="2, 3 or 4 (default: the model's; checked against it)"
    )
    v.add_argument(
        "--protocol",
        choices=["paper", "seed128"],
        default="paper",
        help="paper: the official test script (Y channel, border = scale, truncation); seed128: "
        "the model card's (inputs resized to 128x128, RGB, rounding) (default paper)",
    )
    v.add_argument("--limit", type=positive_int, help="first N images only")
    add_threads_option(v, "ONNX Runtime / PyTorch / OpenVINO intra-op threads")
    add_runtime_option(v, default="ort")
    v.add_argument(
        "--precision",
        choices=list(PRECISIONS),
        help="the .onnx model's precision, checked against it (default: the model's own); "
        "bf16: OpenVINO bf16 inference of an fp32 .onnx",
    )
    add_json_option(v, "the scores")
    v.add_argument("--summary", action="store_true", help="mean row only")
    v.add_argument("--quiet", action="store_true", help="no progress bar")
    v.set_defaults(func=_cmd_evaluate)


def _add_info_parser(sub: Any) -> None:
    i = sub.add_parser(
        "info",
        help="the models' weights and cost; this machine's CPU features and default runtime",
        description=(
            "Print the weights registry (parameters, operation counts at 128x128, checksums) "
            "and this machine: CPU, VNNI/AMX, the default runtime, and whether OpenVINO runs the "
            "int8 convolutions on AMX."
        ),
    )
    add_json_option(i, '{"weights": the table, "machine": ...}')
    i.set_defaults(func=_cmd_info)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``lesrcnn-deploy`` console script; returns the exit code."""
    from ..core.noise import quiet_library_warnings

    quiet_library_warnings()  # torch/ONNX/Pillow warnings are not the user's business
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.cache_dir:
        os.environ[CACHE_ENV] = str(Path(args.cache_dir).expanduser().resolve())
    try:
        handler: Handler = args.func
        return handler(args)
    except KeyboardInterrupt:
        print("lesrcnn-deploy: interrupted", file=sys.stderr)
        return 130
    except LesrcnnError as exc:  # only the toolkit's own errors: anything else is a bug
        text = one_line(exc)
        print(f"lesrcnn-deploy: error: {text}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
