"""Sizing Ray actors and Serve replicas to the nodes (no Ray needed: the plan is arithmetic on
the nodes' CPUs; the real two-node cluster is ``test_cluster_two_nodes.py``)."""

from __future__ import annotations

import pytest

from lesrcnn_deploy.cluster.resources import plan_actors
from lesrcnn_deploy.cluster.serve import fit_replicas
from lesrcnn_deploy.core.errors import ConfigError
from lesrcnn_deploy.serve.config import ServeConfig


def test_default_size_fits_the_largest_node() -> None:
    plan = plan_actors((1, 1), cpus=None, default_cpus=2)
    assert (plan.cpus, plan.actors, plan.nodes) == (1, 2, (1, 1))
    assert plan.summary == "2 actor(s) x 1 CPU on 2 node(s) (1+1 CPUs)"
    plan = plan_actors((1, 4), cpus=None, default_cpus=2)
    assert (plan.cpus, plan.actors, plan.nodes) == (2, 2, (4, 1))  # the 1-CPU node holds none
    assert plan_actors((2,), cpus=1, default_cpus=2).actors == 2


def test_a_size_no_node_can_hold_is_one_line() -> None:
    with pytest.raises(ConfigError) as e:
        plan_actors((1, 1), cpus=2, default_cpus=2)
    msg = str(e.value)
    assert "\n" not in msg
    assert msg == (
        "--threads 2: each Ray actor needs 2 CPUs but the largest node has 1 "
        "(nodes: 1+1 CPUs); use --threads 1 or fewer"
    )
    with pytest.raises(ConfigError, match=r"--actors 3: the cluster holds 2 actor\(s\) of 1 CPU"):
        plan_actors((1, 1), cpus=1, default_cpus=2, actors=3)
    with pytest.raises(ConfigError, match="no alive node with a CPU"):
        plan_actors((), cpus=None, default_cpus=2)


def test_serve_replicas_fit_or_fail() -> None:
    cfg = ServeConfig(workers=1, threads=None)
    fitted, plan = fit_replicas(cfg, (1, 1), replicas=2)
    assert (plan.cpus, plan.actors, fitted.threads) == (1, 2, 1)
    with pytest.raises(ConfigError, match="use --replicas 2 or fewer"):
        fit_replicas(cfg, (1, 1), replicas=3)
    with pytest.raises(ConfigError, match=r"--workers x --threads 4: .* largest node has 2"):
        fit_replicas(ServeConfig(workers=2, threads=2), (2, 1), replicas=1)
    fitted, plan = fit_replicas(ServeConfig(workers=2, threads=None), (4,), replicas=1)
    assert (plan.cpus, fitted.threads) == (4, 2)
