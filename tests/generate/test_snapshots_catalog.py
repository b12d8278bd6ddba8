"""Snapshots of the catalog's add-ons, converged control planes and native routing.

Each case is a ``.yaml`` file under ``tests/__snapshots__/generate/test_snapshots_catalog/``: the patch a
node receives. Update with ``pytest --snapshot-update`` and read the diff before committing.
"""

from __future__ import annotations

import pytest

from talospatch.cli.params import LABELS, command_line
from talospatch.generate.expand import GenOptions, expand
from talospatch.generate.render import render

V4 = ("192.168.30.0/24",)
DUAL = ("192.168.30.0/24", "fd00:30::/64")
CP = ("192.168.30.11", "192.168.30.12", "192.168.30.13")
ADMIN = ("196.45.28.20",)

CASES = [
    pytest.param({"role": "worker", "addons": ("cilium-mutual-auth",)}, id="worker-cilium-mutual-auth"),
    pytest.param({"role": "worker", "addons": ("cilium-metrics",)}, id="worker-cilium-metrics"),
    pytest.param({"role": "worker", "cni": "calico", "addons": ("calico-metrics",)}, id="worker-calico-metrics"),
    pytest.param(
        {"role": "worker", "addons": ("bgp",), "bgp_peers": ("192.168.30.1", "fd00:30::1")}, id="worker-bgp-peers"
    ),
    pytest.param({"role": "worker", "addons": ("metallb", "metallb-metrics")}, id="worker-metallb-metrics"),
    pytest.param(
        {"role": "worker", "addons": ("kube-proxy-health",), "load_balancers": ("203.0.113.10", "203.0.113.11")},
        id="worker-kube-proxy-health-load-balancers",
    ),
    pytest.param({"role": "worker", "addons": ("rook-ceph",)}, id="worker-rook-ceph"),
    pytest.param({"role": "worker", "addons": ("tailscale",), "subnets": DUAL}, id="worker-tailscale-dual"),
    pytest.param({"role": "worker", "addons": ("spegel",)}, id="worker-spegel"),
    pytest.param({"role": "worker", "cni": "calico", "addons": ("calico-wireguard",)}, id="worker-calico-wireguard"),
    pytest.param({"role": "worker", "cni": "none", "addons": ("flannel-wireguard",)}, id="worker-flannel-wireguard"),
    pytest.param({"role": "worker", "tunnel": "native"}, id="worker-cilium-native"),
    pytest.param(
        {"role": "controlplane", "tunnel": "native", "controlplane": CP, "admins": ADMIN},
        id="controlplane-cilium-native",
    ),
    pytest.param(
        {"role": "controlplane", "cni": "flannel", "converged": True, "controlplane": CP, "admins": ADMIN},
        id="controlplane-converged",
    ),
    pytest.param(
        {
            "role": "controlplane",
            "cni": "flannel",
            "converged": True,
            "controlplane": CP,
            "admins": ADMIN,
            "nodeport_from": ("203.0.113.0/24",),
            "addons": ("metallb", "metallb-metrics", "kube-proxy-health", "node-exporter"),
            "load_balancers": ("203.0.113.10",),
        },
        id="controlplane-converged-addons",
    ),
    pytest.param(
        {
            "role": "controlplane",
            "cni": "flannel",
            "converged": True,
            "subnets": ("192.168.1.0/24",),
            "controlplane": ("192.168.1.10",),
            "admins": ("192.168.1.0/24",),
        },
        id="controlplane-single-node",
    ),
]


@pytest.mark.parametrize("options", CASES)
def test_catalog(snapshot_yaml, options: dict[str, object]) -> None:  # type: ignore[no-untyped-def]
    opts = GenOptions(**{"subnets": V4, **options})  # type: ignore[arg-type]
    generated = expand(opts, labels=LABELS)
    assert render(generated, command_line(generated.options)) == snapshot_yaml
