"""``lesrcnn-deploy serve --ray``: the same ASGI application as a Ray Serve deployment.

Each replica builds the app with :func:`~lesrcnn_deploy.serve.app.create_app` (its own models,
worker pool and queue, so ``--workers``/``--max-queue`` are per replica); Ray Serve's proxy on
every node spreads requests over the replicas. Models must be readable at the same path on every
node that runs a replica.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ..core.vocab import DEFAULT_THREADS
from ..serve.config import ServeConfig
from .connect import connect_ray
from .resources import ActorPlan, node_cpus, plan_actors

__all__ = ["deploy_on_ray", "fit_replicas", "serve_on_ray"]


def _builder(config: ServeConfig) -> Any:
    """A plain function (Ray Serve treats a ``partial`` as an ASGI app, not as a builder)."""

    def build_app() -> Any:
        from ..serve.app import create_app

        return create_app(config)

    return build_app


def fit_replicas(
    config: ServeConfig, nodes: tuple[int, ...], *, replicas: int
) -> tuple[ServeConfig, ActorPlan]:
    """Size the replicas to the nodes: ``(config with threads set, plan)``.

    A replica reserves ``workers x threads`` CPUs (``threads`` on OpenVINO, whose streams share
    them); without ``threads``, ``workers x`` the ``--threads`` default capped at the largest node.

    Raises:
        ConfigError: ``workers x threads`` CPUs exceed the largest node, or ``replicas`` do not
            fit (the message names the largest node's CPUs and the option to change).
    """
    # ONNX Runtime: each worker runs its own session on ``threads`` threads; OpenVINO: ``threads``
    # are the threads of all its streams together, whatever the workers (they decode/encode).
    workers = 1 if getattr(config, "runtime", None) == "openvino" else config.workers
    asked = None if config.threads is None else workers * config.threads
    option = "--workers x --threads" if workers > 1 else "--threads"
    plan = plan_actors(
        nodes,
        cpus=asked,
        default_cpus=workers * DEFAULT_THREADS,
        actors=replicas,
        cpus_option=option,
        actors_option="--replicas",
    )
    if config.threads is None:
        config = dataclasses.replace(config, threads=max(1, plan.cpus // workers))
    return config, plan


def deploy_on_ray(
    config: ServeConfig, *, address: str | None = None, replicas: int = 1, blocking: bool = False
) -> Any:
    """Deploy the app on Ray Serve at ``http://{config.host}:{config.port}/``.

    Args:
        config: the server configuration (host/port are those of Ray Serve's HTTP proxy).
        address: ``None`` starts a local Ray; otherwise the cluster to join.
        replicas: Ray Serve replicas, each holding its own runner sessions.
        blocking: wait (until Ctrl-C) instead of returning the deployment handle.

    Returns:
        The Ray Serve deployment handle.

    Raises:
        ConfigError: replicas that no node can hold (see :func:`fit_replicas`).
        MissingExtraError: Ray (with Serve) is not installed.
    """
    ray = connect_ray(address, what="serve --ray")
    config, plan = fit_replicas(config, node_cpus(ray), replicas=replicas)
    from ..core.extras import require

    serve = require("ray.serve", "ray", what="serve --ray")
    ingress = serve.ingress(_builder(config))
    cls = ingress(type("LesrcnnServe", (), {"__module__": __name__}))
    deployment = serve.deployment(
        cls,
        name="lesrcnn",
        num_replicas=replicas,
        ray_actor_options={"num_cpus": plan.cpus},
    )
    serve.start(http_options={"host": config.host, "port": config.port})
    return serve.run(deployment.bind(), name="lesrcnn", route_prefix="/", blocking=blocking)


def serve_on_ray(config: ServeConfig, *, address: str | None = None, replicas: int = 1) -> None:
    """Deploy with :func:`deploy_on_ray` and block until Ctrl-C, then shut Serve down."""
    from ray import serve

    try:
        print(f"serving on Ray Serve at http://{config.host}:{config.port}/ ({replicas} replicas)")
        deploy_on_ray(config, address=address, replicas=replicas, blocking=True)
    finally:
        serve.shutdown()
