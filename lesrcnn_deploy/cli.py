"""Command line: ``lesrcnn-deploy <command>``. Thin: parse, call the library, print, exit.

Every :class:`~lesrcnn_deploy.errors.LesrcnnError` (and a few expected OS errors) becomes one line
on stderr and exit code 2; Ctrl-C exits 130. No tracebacks for bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from . import __version__
from .cli_types import positive_int, scale_arg
from .errors import LesrcnnError

__all__ = ["build_parser", "main"]

Handler = Callable[[argparse.Namespace], int]


def _cmd_export(args: argparse.Namespace) -> int:
    from .export import export_onnx
    from .paths import models_dir
    from .weights import load_model

    scale = args.scale
    model_scale = None if args.blind else scale
    reference, ckpt, digest = load_model(
        model_scale, args.weights, allow_custom=args.allow_custom_weights
    )
    fused, _, _ = load_model(
        model_scale, ckpt, allow_custom=True, fuse_upsample=not args.no_fuse_upsample
    )
    default_name = f"lesrcnn{'_blind' if args.blind else ''}_x{scale}.onnx"
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
    from .evaluate import evaluate_model
    from .report import format_evaluation

    result = evaluate_model(
        args.model,
        args.dataset,
        scale=args.scale,
        protocol=args.protocol,
        limit=args.limit,
        threads=args.threads,
        progress=not args.quiet,
        runtime=args.runtime,
        precision=args.precision,
    )
    if args.runtime != "ort":
        print(result.config["runtime_note"], file=sys.stderr)
    print(format_evaluation(result, per_image=not args.summary))
    if args.json:
        result.save_json(args.json)
        print(f"wrote {args.json}")
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    from .model import build_model
    from .profile import measure_cost
    from .weights import list_weights

    rows = []
    for rec in list_weights():
        scales = [rec.scale] if rec.scale is not None else [2, 3, 4]
        for s in scales:
            cost = measure_cost(build_model(rec.scale), s)
            fused = measure_cost(build_model(rec.scale, fuse_upsample=True), s)
            rows.append(
                {
                    "weights": rec.name,
                    "scale": s,
                    "params": cost.params,
                    "card_flops_g@128": round(cost.card_flops_g, 3),
                    "gmacs@128": round(cost.gmacs, 3),
                    "deployed_gmacs@128": round(fused.gmacs, 3),
                    "sha256": rec.sha256 or "(none on record)",
                    "url": rec.url,
                }
            )
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for r in rows:
            print(
                f"{r['weights']:<14} x{r['scale']}  params {r['params']:>9,}  "
                f"card Flops(G) {r['card_flops_g@128']:>8.3f}  GMACs {r['gmacs@128']:>7.3f}  "
                f"(fused export {r['deployed_gmacs@128']:>7.3f})  "
                f"sha256 {str(r['sha256'])[:12]}"
            )
    return 0


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage dump) and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The argparse tree of every sub-command."""
    p = _Parser(prog="lesrcnn-deploy", description=__doc__.splitlines()[0])
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    e = sub.add_parser("export", help="official checkpoint -> ONNX, parity-checked against PyTorch")
    e.add_argument("--scale", type=scale_arg, required=True)
    e.add_argument("--weights", help="checkpoint path (default: registry search, then download)")
    e.add_argument(
        "--blind", action="store_true", help="the blind multi-scale model; exports --scale's head"
    )
    e.add_argument(
        "--allow-custom-weights",
        action="store_true",
        help="accept a --weights file that is not the official checkpoint (fine-tuned)",
    )
    e.add_argument("--output", help="default models/lesrcnn_x{S}.onnx")
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

    v = sub.add_parser("evaluate", help="PSNR/SSIM of an .onnx or .pth on a dataset folder")
    v.add_argument("--model", required=True, help=".onnx model or .pth checkpoint")
    v.add_argument(
        "--dataset", required=True, help="dataset folder (Set5, Set14, DIV2K, or HR images)"
    )
    v.add_argument("--scale", type=scale_arg, required=True)
    v.add_argument("--protocol", choices=["paper", "seed128"], default="paper")
    v.add_argument("--limit", type=positive_int, help="first N images only")
    v.add_argument("--threads", type=positive_int, help="inference threads")
    v.add_argument(
        "--runtime",
        choices=["ort", "openvino", "auto"],
        default="ort",
        help="runtime of an .onnx: ort (default), openvino, auto (the faster, measured once)",
    )
    v.add_argument(
        "--precision",
        choices=["bf16"],
        help="bf16: OpenVINO bf16 inference of an fp32 .onnx (default: the model's own)",
    )
    v.add_argument("--json", help="write the result as JSON here")
    v.add_argument("--summary", action="store_true", help="mean row only")
    v.add_argument("--quiet", action="store_true", help="no progress bar")
    v.set_defaults(func=_cmd_evaluate)

    i = sub.add_parser("info", help="the weights registry with parameters and cost")
    i.add_argument("--json", action="store_true")
    i.set_defaults(func=_cmd_info)

    for plugin in _plugins():
        plugin(sub)
    return p


def _plugins() -> list[Callable[[Any], None]]:
    """Sub-commands that live with their feature package (quantize, bench, upscale)."""
    found = []
    for mod, attr in (
        ("lesrcnn_deploy.quantization.cli", "add_quantize_parser"),
        ("lesrcnn_deploy.bench.cli", "add_bench_parser"),
        ("lesrcnn_deploy.upscale.cli", "add_upscale_parser"),
    ):
        try:
            module = __import__(mod, fromlist=[attr])
        except ModuleNotFoundError as exc:
            if exc.name and mod.startswith(exc.name):
                continue
            raise
        found.append(getattr(module, attr))
    return found


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``lesrcnn-deploy`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        handler: Handler = args.func
        return handler(args)
    except KeyboardInterrupt:
        print("lesrcnn-deploy: interrupted", file=sys.stderr)
        return 130
    except (LesrcnnError, ValueError) as exc:
        kind = "error" if isinstance(exc, LesrcnnError) else "invalid input"
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"lesrcnn-deploy: {kind}: {text}", file=sys.stderr)
        return 2
    except OSError as exc:
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        print(f"lesrcnn-deploy: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
