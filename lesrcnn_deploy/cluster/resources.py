"""Size Ray work to the cluster's nodes, or refuse in seconds what no node can hold.

Ray queues an actor that asks for more CPUs than any node has and waits for a node that never
comes (a folder job hung 15 minutes that way). :func:`plan_actors` reads the alive nodes' CPUs
first: by default it sizes each actor to fit the largest node; a size the user chose that no node
can hold is a :class:`~lesrcnn_deploy.core.errors.ConfigError` naming the largest node's CPUs and
the option to change.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..core.errors import ConfigError

__all__ = ["ActorPlan", "node_cpus", "plan_actors"]


def node_cpus(ray: Any) -> tuple[int, ...]:
    """The CPUs of every alive node of the connected cluster, largest first."""
    cpus = (int(n.get("Resources", {}).get("CPU", 0)) for n in ray.nodes() if n.get("Alive"))
    return tuple(sorted(cpus, reverse=True))


@dataclass(frozen=True)
class ActorPlan:
    """How many actors of how many CPUs run on the cluster.

    Attributes:
        cpus: CPUs reserved by each actor (its ONNX Runtime / OpenVINO threads).
        actors: actors that fit on the alive nodes at ``cpus`` each.
        nodes: the alive nodes' CPUs, largest first.
    """

    cpus: int
    actors: int
    nodes: tuple[int, ...]

    @property
    def summary(self) -> str:
        """One line: ``2 actor(s) x 1 CPU on 2 node(s) (1+1 CPUs)``."""
        sizes = "+".join(str(c) for c in self.nodes)
        return (
            f"{self.actors} actor(s) x {self.cpus} CPU on {len(self.nodes)} node(s) ({sizes} CPUs)"
        )


def plan_actors(
    nodes: Sequence[int],
    *,
    cpus: int | None,
    default_cpus: int,
    actors: int | None = None,
    cpus_option: str = "--threads",
    actors_option: str = "--actors",
) -> ActorPlan:
    """Fit actors of ``cpus`` CPUs on ``nodes``; ``cpus=None`` sizes them to fit.

    Args:
        nodes: the alive nodes' CPUs (:func:`node_cpus`).
        cpus: CPUs per actor the user asked for, or ``None``: ``default_cpus`` capped at the
            largest node.
        default_cpus: the size without a user choice (the command's ``--threads`` default).
        actors: actor count the user asked for, or ``None``: as many as fit.
        cpus_option, actors_option: the options to name in the error.

    Raises:
        ConfigError: no node has a CPU, no node has ``cpus`` CPUs, or ``actors`` do not fit.
    """
    sizes = tuple(sorted((int(c) for c in nodes), reverse=True))
    largest = sizes[0] if sizes else 0
    if largest < 1:
        msg = "the Ray cluster has no alive node with a CPU"
        raise ConfigError(msg)
    per = min(default_cpus, largest) if cpus is None else cpus
    if per < 1:
        msg = f"{cpus_option} must be >= 1, got {per}"
        raise ConfigError(msg)
    if per > largest:
        msg = (
            f"{cpus_option} {per}: each Ray actor needs {per} CPUs but the largest node has "
            f"{largest} (nodes: {'+'.join(map(str, sizes))} CPUs); use {cpus_option} {largest} "
            "or fewer"
        )
        raise ConfigError(msg)
    fit = sum(c // per for c in sizes)
    if actors is not None and actors > fit:
        msg = (
            f"{actors_option} {actors}: the cluster holds {fit} actor(s) of {per} CPU(s) "
            f"(nodes: {'+'.join(map(str, sizes))} CPUs); use {actors_option} {fit} or fewer"
        )
        raise ConfigError(msg)
    if actors is not None and actors < 1:
        msg = f"{actors_option} must be >= 1, got {actors}"
        raise ConfigError(msg)
    return ActorPlan(per, fit if actors is None else actors, sizes)
