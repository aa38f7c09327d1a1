"""``lesrcnn-deploy serve``: thin wrapper over :func:`.app.create_app`, uvicorn or Ray Serve."""

from __future__ import annotations

import argparse
import math
import signal
import sys
from types import FrameType
from typing import Any

from ..core.vocab import DEFAULT_STREAMS
from .options import (
    add_list_option,
    add_runtime_option,
    add_threads_option,
    add_tile_options,
    int_at_least,
    model_precision_arg,
    scale_arg,
)

__all__ = ["add_serve_parser", "run_uvicorn"]

# The service's limits: (flag, ServeConfig field, smallest value, what it bounds); each default is
# the ServeConfig field's, so the CLI and the Python API cannot drift apart.
_LIMITS = (
    ("--max-queue", "max_queue", 0, "requests waiting for a worker before 503"),
    ("--max-pixels", "max_pixels", 1, "largest input width*height (video frames too), else 413"),
    (
        "--max-output-pixels",
        "max_output_pixels",
        1,
        "largest output width*height (network output and final size), checked before any "
        "work, else 413",
    ),
    ("--max-body-bytes", "max_body_bytes", 1, "largest request body in bytes, else 413"),
    ("--max-jobs", "max_jobs", 0, "jobs (POST /v1/jobs) waiting in the queue before 429"),
    ("--max-job-bytes", "max_job_bytes", 1, "bytes all job uploads and results may hold, else 503"),
    (
        "--body-min-rate",
        "body_min_rate",
        1,
        "bytes/s a request body must average after its first --body-timeout seconds, else 408",
    ),
    (
        "--limit-concurrency",
        "limit_concurrency",
        1,
        "connections and requests at once; one more request gets 503",
    ),
)


# The time bounds: (flag, ServeConfig field, what it bounds); seconds > 0, ServeConfig defaults.
_TIMEOUTS = (
    ("--header-timeout", "header_timeout", "seconds to send complete request headers, else 408"),
    ("--body-timeout", "body_timeout", "seconds a request body may stall, else 408"),
    (
        "--shutdown-timeout",
        "shutdown_timeout",
        "seconds SIGTERM waits for requests and uploads in flight before cutting them",
    ),
)


def _add_limits(p: argparse.ArgumentParser) -> None:
    from dataclasses import fields

    from ..serve.config import ServeConfig

    defaults = {f.name: f.default for f in fields(ServeConfig)}
    for flag, name, least, what in _LIMITS:
        p.add_argument(
            flag,
            type=int_at_least(least),
            default=defaults[name],
            metavar="N",
            help=f"{what} (default {defaults[name]})",
        )
    for flag, name, what in _TIMEOUTS:
        p.add_argument(
            flag, type=_seconds, default=defaults[name], help=f"{what} (default %(default)g)"
        )


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        msg = f"expected a number of seconds > 0, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def _config(args: argparse.Namespace) -> Any:
    from ..core.vocab import DEFAULT_THREADS
    from ..serve.config import ServeConfig, models_by_key

    return ServeConfig(
        scales=tuple(args.scales) if args.scales else None,
        precisions=tuple(args.precision) if args.precision else None,
        models=models_by_key(args.model or []),
        host=args.host,
        port=args.port,
        workers=args.workers,
        # not given: the one default locally; on Ray, None = replicas sized to fit the nodes
        threads=DEFAULT_THREADS if args.threads is None and args.ray is None else args.threads,
        runtime=args.runtime,
        streams=args.streams,
        max_queue=args.max_queue,
        max_pixels=args.max_pixels,
        max_output_pixels=args.max_output_pixels,
        max_body_bytes=args.max_body_bytes,
        token_file=args.token_file,
        tile=args.tile,
        max_jobs=args.max_jobs,
        max_job_bytes=args.max_job_bytes,
        job_ttl=args.job_ttl,
        header_timeout=args.header_timeout,
        body_timeout=args.body_timeout,
        body_min_rate=args.body_min_rate,
        limit_concurrency=args.limit_concurrency,
        shutdown_timeout=args.shutdown_timeout,
    )


def run_uvicorn(app: Any, host: str, *, port: int, log_level: str = "info") -> None:
    """Serve ``app`` with uvicorn until SIGINT/SIGTERM, with the time bounds of its config.

    The header-read timeout wraps uvicorn's HTTP protocol (see :mod:`~..serve.guards`);
    ``limit_concurrency`` and the graceful-shutdown cap are uvicorn's own. On SIGTERM the server
    stops accepting, lets the requests in flight finish for up to ``shutdown_timeout`` seconds,
    then cuts the rest (an upload's file is deleted), cancels the jobs, closes the worker pool and
    returns normally (exit code 0); uvicorn's default would re-raise the signal.
    """
    import uvicorn
    from uvicorn.protocols.http.auto import AutoHTTPProtocol

    from ..serve.guards import guarded_protocol

    service = app.state.service
    cfg = service.config

    class _Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            super().handle_exit(sig, frame)
            captured = getattr(self, "_captured_signals", None)
            if sig == signal.SIGTERM and isinstance(captured, list) and sig in captured:
                captured.remove(sig)  # drained on purpose: a clean exit, not death by signal

    http = guarded_protocol(
        AutoHTTPProtocol,
        header_timeout=cfg.header_timeout,
        on_timeout=lambda: service.metrics.reject("header_timeout"),
    )
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        lifespan="on",
        http=http,
        limit_concurrency=cfg.limit_concurrency,
        timeout_graceful_shutdown=max(1, math.ceil(cfg.shutdown_timeout)),
    )
    _Server(config).run()


def _cmd_serve(args: argparse.Namespace) -> int:
    from ..core.extras import require

    require("starlette", "serve", what="lesrcnn-deploy serve")
    require("uvicorn", "serve", what="lesrcnn-deploy serve")
    require("prometheus_client", "serve", what="lesrcnn-deploy serve")
    cfg = _config(args)
    if args.ray is not None:
        from ..cluster.serve import serve_on_ray

        serve_on_ray(cfg, address=args.ray or None, replicas=args.replicas)
        return 0
    from ..serve.app import create_app
    from ..serve.engine import ModelPool

    pool = ModelPool(cfg)
    pool.load()  # load before listening: a bad model is a one-line error, not a dead server
    app = create_app(cfg, pool=pool)
    names = ", ".join(f"x{s} {p}" for s, p in pool.loaded())
    print(f"serving {names} on http://{cfg.host}:{cfg.port} (Ctrl-C or SIGTERM to stop)")
    for s, p in pool.loaded():
        m = pool.get(s, p)
        if m is not None:
            print(f"x{s} {p}: {m.upscaler.runtime_choice.note}")
    sys.stdout.flush()
    run_uvicorn(app, cfg.host, port=cfg.port, log_level=args.log_level)
    return 0


def add_serve_parser(subparsers: Any) -> None:
    """Register the ``serve`` sub-command on the main CLI's ``subparsers``."""
    p = subparsers.add_parser(
        "serve",
        help="run the HTTP upscaling service and its web page (optionally on Ray Serve)",
        description=(
            "Serve a web page at /, POST /v1/upscale?scale=S&format=png|jpg|webp&precision=int8|"
            "fp32 (image bytes in, image bytes out), the jobs API for long work (POST /v1/jobs, "
            "GET /v1/jobs/ID, /v1/jobs/ID/result, DELETE /v1/jobs/ID), GET /healthz, /readyz, "
            "/metrics, /openapi.json. Needs the 'serve' extra. SIGTERM drains the in-flight "
            "requests, cancels the jobs and deletes their files, then exits 0."
        ),
    )
    _add_model_options(p)
    p.add_argument("--host", default="127.0.0.1", help="listen address (default loopback)")
    p.add_argument("--port", type=int_at_least(0), default=8000, help="TCP port (default 8000)")
    add_runtime_option(p)
    _add_compute_options(p)
    _add_limits(p)
    p.add_argument("--token-file", help="require 'Authorization: Bearer <file content>'")
    add_tile_options(p)
    p.add_argument(
        "--job-ttl",
        type=_seconds,
        default=3600.0,
        help="seconds a finished job's result is kept before it is deleted (default 3600)",
    )
    p.add_argument(
        "--log-level",
        default="info",
        choices=["critical", "error", "warning", "info", "debug"],
        help="uvicorn's access and error log level (default info)",
    )
    p.add_argument(
        "--ray",
        nargs="?",
        const="",
        metavar="ADDRESS",
        help="deploy on Ray Serve: a local Ray, or the cluster at ADDRESS (needs the 'ray' extra)",
    )
    p.add_argument(
        "--replicas", type=int_at_least(1), default=1, help="Ray Serve replicas (with --ray)"
    )
    p.set_defaults(func=_cmd_serve)


def _add_model_options(p: argparse.ArgumentParser) -> None:
    """--scales, --precision and --model: what is loaded."""
    add_list_option(
        p,
        "--scales",
        item=scale_arg,
        metavar="S",
        help="scales to load: 2,3,4 or 2 3 4 (default: those of --model, else 2 3 4)",
    )
    add_list_option(
        p,
        "--precision",
        item=model_precision_arg,
        metavar="P",
        help="precisions to load, the first is a request's default: int8, fp32, or int8,fp32 "
        "(default: those of --model, else int8)",
    )
    add_list_option(
        p,
        "--model",
        split=False,
        metavar="PATH",
        help="an .onnx model to serve (repeatable); its scale and precision are read from the "
        "file; the other scales of --scales use the default models",
    )


def _add_compute_options(p: argparse.ArgumentParser) -> None:
    """--workers, --threads and --streams: how inference runs."""
    p.add_argument(
        "--workers",
        type=int_at_least(1),
        default=1,
        help="inference workers, requests computed at once (default 1; on OpenVINO at least "
        "2 x --streams)",
    )
    add_threads_option(
        p, "ONNX Runtime intra-op threads per inference; OpenVINO: threads of all streams"
    )
    p.set_defaults(threads=None)  # None = not given (with --ray: replicas sized to fit the nodes)
    p.add_argument(
        "--streams",
        type=int_at_least(1),
        default=None,
        help="OpenVINO inference streams: requests (or tiles of one) run at once, the threads "
        f"split between them (default {DEFAULT_STREAMS}, at most --threads)",
    )
