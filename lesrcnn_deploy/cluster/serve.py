"""``lesrcnn-deploy serve --ray``: the same ASGI application as a Ray Serve deployment.

Each replica builds the app with :func:`~lesrcnn_deploy.serve.app.create_app` (its own models,
worker pool and queue, so ``--workers``/``--max-queue`` are per replica); Ray Serve's proxy on
every node spreads requests over the replicas. Models must be readable at the same path on every
node that runs a replica.
"""

from __future__ import annotations

from typing import Any

from ..serve.config import ServeConfig
from .connect import connect_ray

__all__ = ["deploy_on_ray", "serve_on_ray"]


def _builder(config: ServeConfig) -> Any:
    """A plain function (Ray Serve treats a ``partial`` as an ASGI app, not as a builder)."""

    def build_app() -> Any:
        from ..serve.app import create_app

        return create_app(config)

    return build_app


def deploy_on_ray(
    config: ServeConfig, *, address: str | None = None, replicas: int = 1, blocking: bool = False
) -> Any:
    """Deploy the app on Ray Serve at ``http://{config.host}:{config.port}/``.

    Args:
        config: the server configuration (host/port are those of Ray Serve's HTTP proxy).
        address: ``None`` starts a local Ray; otherwise the cluster to join.
        replicas: Ray Serve replicas, each holding its own ONNX Runtime sessions.
        blocking: wait (until Ctrl-C) instead of returning the deployment handle.

    Returns:
        The Ray Serve deployment handle.

    Raises:
        MissingExtraError: Ray (with Serve) is not installed.
    """
    connect_ray(address, what="serve --ray")
    from ..core.extras import require

    serve = require("ray.serve", "ray", what="serve --ray")
    ingress = serve.ingress(_builder(config))
    cls = ingress(type("LesrcnnServe", (), {"__module__": __name__}))
    deployment = serve.deployment(
        cls,
        name="lesrcnn",
        num_replicas=replicas,
        ray_actor_options={"num_cpus": config.workers * (config.threads or 1)},
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
