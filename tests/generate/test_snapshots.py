"""Snapshots of generated patches: the bytes a node receives, reviewed as plain YAML files.

The matrix covers role x CNI x tunnel x IPv4/dual-stack x admin/no admin, plus every
add-on on a role it applies to. Each snapshot is a ``.yaml`` file under
``tests/__snapshots__/generate/test_snapshots/``; update them with ``pytest --snapshot-update`` and read
the diff before committing.
"""

from __future__ import annotations

import itertools

import pytest

from talospatch.cli.params import command_line
from talospatch.generate.expand import GenOptions, expand
from talospatch.generate.render import render

V4 = ("192.168.30.0/24",)
DUAL = ("192.168.30.0/24", "fd00:30::/64")
CNIS = [
    ("cilium", "vxlan"),
    ("cilium", "geneve"),
    ("cilium", "both"),
    ("flannel", None),
    ("calico", None),
    ("none", None),
]

MATRIX = [
    pytest.param(
        role,
        cni,
        tunnel,
        stack,
        admin,
        id="-".join(x for x in (role, cni, tunnel, stack, "admin" if admin else "noadmin") if x),
    )
    for role, (cni, tunnel), stack, admin in itertools.product(
        ("controlplane", "worker"), CNIS, ("v4", "dual"), (True, False)
    )
]


def _controlplane(stack: str) -> tuple[str, ...]:
    nodes = ("192.168.30.11", "192.168.30.12", "192.168.30.13")
    return nodes + (("fd00:30::11",) if stack == "dual" else ())


@pytest.mark.parametrize(("role", "cni", "tunnel", "stack", "admin"), MATRIX)
def test_matrix(snapshot_yaml, role: str, cni: str, tunnel: str | None, stack: str, admin: bool) -> None:  # type: ignore[no-untyped-def]
    opts = GenOptions(
        role=role,
        subnets=DUAL if stack == "dual" else V4,
        cni=cni,
        tunnel=tunnel,
        controlplane=_controlplane(stack) if role == "controlplane" else (),
        admins=(("196.45.28.20/32",) + (("2001:db8:45::/48",) if stack == "dual" else ())) if admin else (),
        pod_subnets=("10.244.0.0/16", "fd00:244::/56") if stack == "dual" else (),
    )
    generated = expand(opts)
    assert render(generated, command_line(generated.options)) == snapshot_yaml


ADDONS = [
    pytest.param("worker", ("kubespan",), {}, id="worker-kubespan"),
    pytest.param("worker", ("hubble",), {}, id="worker-hubble"),
    pytest.param("worker", ("cilium-wireguard",), {}, id="worker-cilium-wireguard"),
    pytest.param("worker", ("metallb",), {}, id="worker-metallb"),
    pytest.param("worker", ("node-exporter",), {}, id="worker-node-exporter"),
    pytest.param("controlplane", ("etcd-metrics",), {}, id="controlplane-etcd-metrics"),
    pytest.param("worker", ("ingress-http",), {}, id="worker-ingress-http"),
    pytest.param("worker", ("ingress-http",), {"subnets": DUAL}, id="worker-ingress-http-dual"),
    pytest.param("worker", ("trust-nodes",), {}, id="worker-trust-nodes"),
    pytest.param("worker", ("nodeport",), {}, id="worker-nodeport"),
    pytest.param(
        "worker",
        ("nodeport",),
        {"nodeport_from": ("203.0.113.0/24",), "admins": ("196.45.28.20",)},
        id="worker-nodeport-from-admin",
    ),
    pytest.param(
        "controlplane",
        (
            "cilium-wireguard",
            "etcd-metrics",
            "hubble",
            "kubespan",
            "metallb",
            "node-exporter",
            "ingress-http",
            "trust-nodes",
        ),
        {"controlplane": ("192.168.30.11",)},
        id="controlplane-all-addons",
    ),
]


@pytest.mark.parametrize(("role", "addons", "extra"), ADDONS)
def test_addons(snapshot_yaml, role: str, addons: tuple[str, ...], extra: dict[str, tuple[str, ...]]) -> None:  # type: ignore[no-untyped-def]
    options = {"subnets": V4, **extra}
    opts = GenOptions(role=role, addons=addons, **options)  # type: ignore[arg-type]
    generated = expand(opts)
    assert render(generated, command_line(generated.options)) == snapshot_yaml
