"""The node's settings read from its config, in the v1alpha1 form and the v1.14 documents."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from talospatch.errors import BadInput
from talospatch.talos.context import ConfigContext, config_context

V1ALPHA1: dict[str, Any] = {
    "version": "v1alpha1",
    "machine": {"type": "controlplane", "features": {"hostDNS": {"enabled": True, "forwardKubeDNSToHost": False}}},
    "cluster": {
        "network": {"podSubnets": ["10.200.0.0/16"], "serviceSubnets": ["10.100.0.0/16"]},
        "proxy": {"disabled": True},
        "allowSchedulingOnControlPlanes": True,
    },
}
MULTIDOC: list[dict[str, Any]] = [
    {"version": "v1alpha1", "machine": {"type": "controlplane"}},
    {
        "apiVersion": "v1alpha1",
        "kind": "KubeNetworkConfig",
        "podSubnets": ["10.200.0.0/16"],
        "serviceSubnets": ["10.100.0.0/16"],
    },
    {"apiVersion": "v1alpha1", "kind": "ResolverConfig", "hostDNS": {"forwardKubeDNSToHost": False}},
    {"apiVersion": "v1alpha1", "kind": "KubeProxyConfig", "enabled": False},
    {"apiVersion": "v1alpha1", "kind": "KubeNodeConfig", "labels": {"node-role.kubernetes.io/control-plane": ""}},
]


def _keys(config: ConfigContext) -> dict[str, tuple[object, str]]:
    items = {name: getattr(config, name) for name in vars(config)}
    return {name: (item.value, item.key) for name, item in items.items() if item is not None}


def test_v1alpha1_form() -> None:
    assert _keys(config_context([("cp.yaml", V1ALPHA1)])) == {
        "pod_subnets": ((ipaddress.ip_network("10.200.0.0/16"),), "cluster.network.podSubnets"),
        "service_subnets": ((ipaddress.ip_network("10.100.0.0/16"),), "cluster.network.serviceSubnets"),
        "host_dns": (False, "machine.features.hostDNS.forwardKubeDNSToHost"),
        "kube_proxy": (False, "cluster.proxy.disabled"),
        "control_plane": (True, "machine.type"),
        "schedules_workloads": (True, "cluster.allowSchedulingOnControlPlanes"),
    }


def test_v114_documents() -> None:
    config = config_context([(f"cp.yaml: document {i}", d) for i, d in enumerate(MULTIDOC, 1)])
    assert _keys(config) == {
        "pod_subnets": ((ipaddress.ip_network("10.200.0.0/16"),), "KubeNetworkConfig podSubnets"),
        "service_subnets": ((ipaddress.ip_network("10.100.0.0/16"),), "KubeNetworkConfig serviceSubnets"),
        "host_dns": (False, "ResolverConfig hostDNS.forwardKubeDNSToHost"),
        "kube_proxy": (False, "KubeProxyConfig enabled"),
        "control_plane": (True, "KubeNodeConfig labels node-role.kubernetes.io/control-plane"),
        "schedules_workloads": (True, "KubeNodeConfig taints (no node-role.kubernetes.io/control-plane:NoSchedule)"),
    }
    assert config.converged
    assert config.pod_subnets is not None
    assert config.pod_subnets.where == "cp.yaml: document 2"


def test_the_control_plane_taint_keeps_workloads_off() -> None:
    tainted = {**MULTIDOC[4], "taints": {"node-role.kubernetes.io/control-plane": "NoSchedule"}}
    config = config_context([("a", MULTIDOC[0]), ("b", tainted)])
    assert config.schedules_workloads is not None
    assert not config.schedules_workloads.value
    assert not config.converged


def test_host_dns_disabled_turns_forwarding_off() -> None:
    doc = {"machine": {"features": {"hostDNS": {"enabled": False, "forwardKubeDNSToHost": True}}}}
    config = config_context([("p.yaml", doc)])
    assert config.host_dns is not None
    assert (config.host_dns.value, config.host_dns.key) == (
        False,
        "machine.features.hostDNS.enabled",
    )


def test_a_later_document_wins_and_silence_is_none() -> None:
    later = {"kind": "KubeNetworkConfig", "apiVersion": "v1alpha1", "podSubnets": ["10.50.0.0/16"]}
    config = config_context([("a", V1ALPHA1), ("b", later)])
    assert config.pod_subnets is not None
    assert config.pod_subnets.value == (ipaddress.ip_network("10.50.0.0/16"),)
    assert config.service_subnets is not None
    assert config.service_subnets.key == "cluster.network.serviceSubnets"
    assert config_context([("c", {"kind": "NetworkDefaultActionConfig", "ingress": "block"})]) == ConfigContext()


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"cluster": {"network": {"podSubnets": ["10.200.0.1/16"]}}}, "has host bits set"),
        ({"cluster": {"network": {"podSubnets": ["nope"]}}}, "is not an IP address"),
        ({"cluster": {"network": {"serviceSubnets": "10.96.0.0/12"}}}, "must be a list of CIDRs"),
        ({"cluster": {"proxy": {"disabled": "yes"}}}, "must be true or false"),
        ({"kind": "KubeProxyConfig", "enabled": 1}, "must be true or false"),
    ],
)
def test_malformed_values_are_bad_input(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(BadInput, match=message):
        config_context([("bad.yaml", doc)])
