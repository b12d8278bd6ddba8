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
    later = {"cluster": {"network": {"podSubnets": ["10.50.0.0/16"]}}}
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


# -- Talos's rules beyond the shapes


@pytest.mark.parametrize(
    ("taint", "schedules"),
    [
        pytest.param("NoSchedule", False, id="noschedule"),
        pytest.param("value:NoExecute", False, id="value-noexecute"),
        pytest.param("PreferNoSchedule", True, id="prefer-only-discourages"),
    ],
)
def test_only_a_blocking_control_plane_taint_keeps_workloads_off(taint: str, schedules: bool) -> None:
    node = {**MULTIDOC[4], "taints": {"node-role.kubernetes.io/control-plane": taint}}
    config = config_context([("a", MULTIDOC[0]), ("b", node)])
    assert config.schedules_workloads is not None
    assert config.schedules_workloads.value is schedules
    legacy = {"machine": {"type": "controlplane", "nodeTaints": {"node-role.kubernetes.io/control-plane": taint}}}
    allowed = {**legacy, "cluster": {"allowSchedulingOnControlPlanes": True}}
    assert config_context([("c", allowed)]).converged is schedules


def test_the_older_allow_scheduling_on_masters_counts() -> None:
    config = config_context([("a", {"machine": {"type": "init"}, "cluster": {"allowSchedulingOnMasters": True}})])
    assert config.schedules_workloads is not None
    assert config.schedules_workloads.key == "cluster.allowSchedulingOnMasters"
    assert config.converged


def test_a_whole_config_without_host_dns_has_forwarding_off() -> None:
    config = config_context([("cp.yaml: document 1", MULTIDOC[0])])
    assert config.host_dns is not None
    assert (config.host_dns.value, config.host_dns.where) == (False, "cp.yaml: document 1")
    assert config.host_dns.key == "machine.features.hostDNS (not set: Talos's default)"
    # A patch that does not set it says nothing: the default (on) holds.
    assert config_context([("p.yaml", {"cluster": {"proxy": {"disabled": True}}})]).host_dns is None


@pytest.mark.parametrize(
    ("legacy", "document", "fragment"),
    [
        pytest.param(
            {"cluster": {"network": {"podSubnets": ["10.1.0.0/16"]}}},
            {"kind": "KubeNetworkConfig", "podSubnets": ["10.1.0.0/16"]},
            "b: KubeNetworkConfig and cluster.network (a) are both set",
            id="network",
        ),
        pytest.param(
            {"cluster": {"proxy": {"disabled": False}}},
            {"kind": "KubeProxyConfig", "enabled": False},
            "KubeProxyConfig and cluster.proxy",
            id="proxy",
        ),
        pytest.param(
            {"cluster": {"allowSchedulingOnControlPlanes": True}},
            {"kind": "KubeNodeConfig"},
            "KubeNodeConfig and cluster.allowSchedulingOnControlPlanes",
            id="scheduling",
        ),
        pytest.param(
            {"machine": {"features": {"hostDNS": {"enabled": True}}}},
            {"kind": "ResolverConfig", "hostDNS": {"enabled": True}},
            "ResolverConfig hostDNS and machine.features.hostDNS",
            id="host-dns",
        ),
    ],
)
def test_a_document_beside_its_v1alpha1_counterpart_is_refused(
    legacy: dict[str, Any], document: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(BadInput) as exc:
        config_context([("a", legacy), ("b", {"apiVersion": "v1alpha1", **document})])
    assert fragment in str(exc.value)
    assert "Talos refuses the config" in str(exc.value)


# -- subnets a whole config does not list: what Talos uses then, named as Talos's

POD_DEFAULT, SERVICE_DEFAULT = ipaddress.ip_network("10.244.0.0/16"), ipaddress.ip_network("10.96.0.0/12")
NO_NETWORK = (
    "the config sets neither cluster.network nor a KubeNetworkConfig: Talos v1.14 then has no Kubernetes network"
)
WITHOUT_NETWORK: list[dict[str, Any]] = [MULTIDOC[0], *MULTIDOC[2:]]  # v1.14 documents, no KubeNetworkConfig


def _subnets(config: ConfigContext) -> tuple[object, ...]:
    assert config.pod_subnets is not None
    assert config.service_subnets is not None
    assert config.pod_subnets.default
    assert config.service_subnets.default
    return config.pod_subnets.value, config.service_subnets.value, config.pod_subnets.source


@pytest.mark.parametrize(
    ("documents", "version", "expected"),
    [
        pytest.param(
            [{"version": "v1alpha1", "machine": {"type": "worker"}, "cluster": {"clusterName": "c"}}],
            None,
            ((), (), f"{NO_NETWORK}, so no pod/service accept rule and no kubelet; cp.yaml: document 1"),
            id="v1alpha1-v1.14",
        ),
        pytest.param(
            WITHOUT_NETWORK,
            "v1.14.0",
            ((), (), f"{NO_NETWORK}, so no pod/service accept rule and no kubelet; cp.yaml: document 1"),
            id="v1.14-documents",
        ),
        pytest.param(
            [{"version": "v1alpha1", "machine": {"type": "worker"}}],
            "1.13",
            (
                (POD_DEFAULT,),
                (SERVICE_DEFAULT,),
                "Talos's default: the config sets no cluster.network; cp.yaml: document 1",
            ),
            id="v1alpha1-v1.13",
        ),
        pytest.param(
            [{"version": "v1alpha1", "cluster": {"network": {"cni": {"name": "none"}}}}],
            None,
            (
                (POD_DEFAULT,),
                (SERVICE_DEFAULT,),
                "Talos's default: cluster.network sets no podSubnets; cp.yaml: document 1",
            ),
            id="network-without-subnets",
        ),
        pytest.param(
            [MULTIDOC[0], {"apiVersion": "v1alpha1", "kind": "KubeNetworkConfig", "dnsDomain": "c.local"}],
            None,
            ((), (), "KubeNetworkConfig lists no podSubnets, and Talos adds none; cp.yaml: document 2"),
            id="kube-network-config-without-subnets",
        ),
    ],
)
def test_a_whole_config_without_subnets_has_what_talos_uses(
    documents: list[dict[str, Any]], version: str | None, expected: tuple[object, ...]
) -> None:
    config = config_context([(f"cp.yaml: document {i}", d) for i, d in enumerate(documents, 1)], version)
    assert _subnets(config) == expected


def test_a_patch_without_subnets_says_nothing_of_them() -> None:
    config = config_context([("p.yaml", {"cluster": {"proxy": {"disabled": True}}})])
    assert (config.pod_subnets, config.service_subnets) == (None, None)
    patch = config_context([("p.yaml", {"apiVersion": "v1alpha1", "kind": "KubeProxyConfig", "enabled": False})])
    assert (patch.pod_subnets, patch.service_subnets) == (None, None)
