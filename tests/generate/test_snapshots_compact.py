"""Snapshots of ``gen --compact`` patches: the shared documents, their names and comments.

Each snapshot is a ``.yaml`` file under ``tests/__snapshots__/generate/test_snapshots_compact/``; update
them with ``pytest --snapshot-update`` and read the diff before committing.
"""

from __future__ import annotations

import itertools

import pytest

from talospatch.cli.params import command_line
from talospatch.generate.expand import GenOptions, expand
from talospatch.generate.render import render

V4 = ("192.168.30.0/24",)
DUAL = ("192.168.30.0/24", "fd00:30::/64")
CNIS = [("cilium", "both"), ("cilium", "vxlan"), ("flannel", None), ("calico", None), ("none", None)]

MATRIX = [
    pytest.param(role, cni, tunnel, stack, id="-".join(x for x in (role, cni, tunnel, stack) if x))
    for role, (cni, tunnel), stack in itertools.product(("controlplane", "worker"), CNIS, ("v4", "dual"))
]


@pytest.mark.parametrize(("role", "cni", "tunnel", "stack"), MATRIX)
def test_compact_matrix(snapshot_yaml, role: str, cni: str, tunnel: str | None, stack: str) -> None:  # type: ignore[no-untyped-def]
    controlplane = ("192.168.30.11", "192.168.30.12", "192.168.30.13") + (("fd00:30::11",) if stack == "dual" else ())
    opts = GenOptions(
        role=role,
        subnets=DUAL if stack == "dual" else V4,
        cni=cni,
        tunnel=tunnel,
        controlplane=controlplane if role == "controlplane" else (),
        admins=("196.45.28.20/32",) + (("2001:db8:45::/48",) if stack == "dual" else ()),
        pod_subnets=("10.244.0.0/16", "fd00:244::/56") if stack == "dual" else (),
        compact=True,
    )
    generated = expand(opts)
    assert render(generated, command_line(generated.options)) == snapshot_yaml


@pytest.mark.parametrize(
    ("role", "extra"),
    [
        pytest.param(
            "controlplane",
            {"addons": ("etcd-metrics", "hubble", "kubespan", "node-exporter", "trust-nodes")},
            id="controlplane-addons",
        ),
        pytest.param(
            "worker",
            {"addons": ("hubble", "ingress-http", "metallb"), "nodeport": True, "nodeport_from": ("203.0.113.0/24",)},
            id="worker-addons-nodeport",
        ),
        pytest.param("worker", {}, id="worker-no-admin"),
    ],
)
def test_compact_addons(snapshot_yaml, role: str, extra: dict[str, object]) -> None:  # type: ignore[no-untyped-def]
    opts = GenOptions(role=role, subnets=V4, compact=True, **extra)  # type: ignore[arg-type]
    generated = expand(opts)
    assert render(generated, command_line(generated.options)) == snapshot_yaml
