"""What a node's machine config says of its cluster, in both forms Talos accepts, and the flags over it."""

from __future__ import annotations

import ipaddress
import textwrap

import pytest

from talospatch.errors import BadInput
from talospatch.talos.context import ConfigContext, Context, Given, read_context, resolve, runs_workloads
from talospatch.talos.machineconfig import config_documents
from testing.cluster import ROOT

FIXTURES = ROOT / "tests" / "fixtures" / "context"
V1ALPHA1 = FIXTURES / "controlplane-v1alpha1.yaml"
V114 = FIXTURES / "controlplane-v1.14.yaml"
net = ipaddress.ip_network


def read(text: str, where: str = "n.yaml") -> ConfigContext:
    return read_context(config_documents(textwrap.dedent(text), where))


def label(field: str) -> str:
    return {"pod_subnets": "--pod-subnet", "host_dns": "--no-host-dns", "kube_proxy": "--no-kube-proxy"}.get(
        field, f"--{field}"
    )


def error(text: str) -> str:
    with pytest.raises(BadInput) as exc:
        read(text, "b.yaml")
    message = str(exc.value)
    assert "\n" not in message
    return message


# -- the two forms


def test_v1alpha1_form() -> None:
    found = read_context(config_documents(V1ALPHA1.read_text(encoding="utf-8"), "cp.yaml"))
    where = "cp.yaml: document 1"
    assert found.pod_subnets is not None
    assert found.service_subnets is not None
    assert (found.pod_subnets.value, found.pod_subnets.key, found.pod_subnets.where) == (
        (net("10.200.0.0/16"),),
        "cluster.network.podSubnets",
        where,
    )
    assert found.service_subnets.value == (net("10.201.0.0/16"),)
    assert found.host_dns is not None
    assert found.host_dns.value
    assert found.host_dns.key == "machine.features.hostDNS.forwardKubeDNSToHost"
    assert found.kube_proxy is not None
    assert not found.kube_proxy.value
    assert found.kube_proxy.key == "cluster.proxy.disabled"
    assert found.scheduling is not None
    assert found.scheduling.value
    assert found.scheduling.key == "cluster.allowSchedulingOnControlPlanes"
    assert found.machine_type == "controlplane"


def test_v114_multi_document_form() -> None:
    found = read_context(config_documents(V114.read_text(encoding="utf-8"), "cp.yaml"))
    assert found.pod_subnets is not None
    assert found.service_subnets is not None
    assert found.pod_subnets.value == (net("10.200.0.0/16"), net("fd00:200::/56"))
    assert (found.pod_subnets.key, found.pod_subnets.where) == ("KubeNetworkConfig.podSubnets", "cp.yaml: document 2")
    assert found.service_subnets.value == (net("10.201.0.0/16"), net("fd00:201::/112"))
    assert found.host_dns is not None
    assert found.host_dns.value
    assert found.host_dns.key == "ResolverConfig.hostDNS.forwardKubeDNSToHost"
    assert found.kube_proxy is not None
    assert not found.kube_proxy.value
    assert (found.kube_proxy.key, found.kube_proxy.where) == ("KubeProxyConfig.enabled", "cp.yaml: document 4")
    # KubeNodeConfig without the control-plane NoSchedule taint: the control plane runs workloads.
    assert found.scheduling is not None
    assert found.scheduling.value
    assert found.scheduling.key.startswith("KubeNodeConfig.taints without")


def test_talosctl_get_machineconfig_resource_is_read_like_the_config() -> None:
    spec = textwrap.indent(V114.read_text(encoding="utf-8"), "    ")
    resource = (
        f"node: 192.168.30.11\nmetadata:\n    type: MachineConfigs.config.talos.dev\n    id: v1alpha1\nspec: |\n{spec}"
    )
    found = read_context(config_documents(resource, "mc.yaml"))
    assert found.pod_subnets is not None
    assert found.pod_subnets.where == "mc.yaml: spec document 2"
    plain = read_context(config_documents(V114.read_text(encoding="utf-8"), "mc.yaml"))
    for field in ("pod_subnets", "service_subnets", "host_dns", "kube_proxy", "scheduling"):
        mine, theirs = getattr(found, field), getattr(plain, field)
        assert mine is not None, field
        assert (mine.value, mine.key) == (theirs.value, theirs.key), field


# -- defaults: what a whole config says by omission, what a patch does not say


def test_whole_config_without_the_keys_has_talos_zero_values() -> None:
    found = read(
        """\
        version: v1alpha1
        machine: {type: controlplane}
        cluster: {network: {podSubnets: []}}
        """
    )
    assert found.pod_subnets is None  # empty: Talos's default 10.244.0.0/16, the caller's
    assert found.host_dns is not None
    assert not found.host_dns.value
    assert found.host_dns.unset
    assert found.scheduling is not None
    assert not found.scheduling.value
    assert found.scheduling.unset
    assert found.kube_proxy is None


def test_a_patch_says_only_what_it_sets() -> None:
    assert read("apiVersion: v1alpha1\nkind: NetworkDefaultActionConfig\ningress: block\n") == ConfigContext()
    found = read("machine: {features: {hostDNS: {enabled: true}}}\n")
    assert found.host_dns is None


def test_resolver_config_counts_only_when_host_dns_is_enabled() -> None:
    found = read("apiVersion: v1alpha1\nkind: ResolverConfig\nhostDNS: {enabled: true}\n")
    assert found.host_dns is not None
    assert not found.host_dns.value
    assert found.host_dns.unset
    found = read("apiVersion: v1alpha1\nkind: ResolverConfig\nhostDNS: {enabled: false}\n")
    assert found.host_dns is not None
    assert not found.host_dns.value
    assert found.host_dns.key == "ResolverConfig.hostDNS.enabled"
    assert read("apiVersion: v1alpha1\nkind: ResolverConfig\nnameservers: [{address: 1.1.1.1}]\n").host_dns is None


@pytest.mark.parametrize(
    ("taint", "schedules"),
    [
        pytest.param("NoSchedule", False, id="noschedule"),
        pytest.param("x:NoExecute", False, id="value-noexecute"),
        pytest.param("PreferNoSchedule", True, id="prefer"),
    ],
)
def test_kube_node_config_taints_decide_scheduling(taint: str, schedules: bool) -> None:
    found = read(
        f"apiVersion: v1alpha1\nkind: KubeNodeConfig\ntaints:\n  node-role.kubernetes.io/control-plane: {taint}\n"
    )
    assert found.scheduling is not None
    assert found.scheduling.value is schedules


def test_machine_node_taints_keep_a_v1alpha1_control_plane_tainted() -> None:
    found = read(
        """\
        machine: {nodeTaints: {node-role.kubernetes.io/control-plane: NoSchedule}}
        cluster: {allowSchedulingOnControlPlanes: true}
        """
    )
    assert found.scheduling is not None
    assert not found.scheduling.value
    older = read("cluster: {allowSchedulingOnMasters: true}\n").scheduling
    assert older is not None
    assert older.value
    assert older.key == "cluster.allowSchedulingOnMasters"


def test_later_patches_replace_earlier_values() -> None:
    text = """\
    cluster: {network: {podSubnets: [10.200.0.0/16]}, proxy: {disabled: true}}
    ---
    cluster: {network: {podSubnets: [10.210.0.0/16]}, proxy: {disabled: false}}
    """
    found = read(text)
    assert found.pod_subnets is not None
    assert found.pod_subnets.value == (net("10.210.0.0/16"),)
    assert found.pod_subnets.where == "n.yaml: document 2"
    assert found.kube_proxy is not None
    assert found.kube_proxy.value


def test_v1alpha1_subnets_take_host_bits_as_talos_does() -> None:
    found = read("cluster: {network: {podSubnets: [10.200.1.0/16]}}\n")
    assert found.pod_subnets is not None
    assert found.pod_subnets.value == (net("10.200.0.0/16"),)


# -- what Talos refuses: one line each


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        pytest.param(
            "cluster: {network: {podSubnets: [10.200.0.0/33]}}\n",
            ["b.yaml: document 1: cluster.network.podSubnets[0]: '10.200.0.0/33' is not a CIDR"],
            id="v1alpha1-bad-cidr",
        ),
        pytest.param(
            "cluster: {network: {serviceSubnets: [nope]}}\n",
            ["cluster.network.serviceSubnets[0]: 'nope' is not a CIDR"],
            id="v1alpha1-bad-service",
        ),
        pytest.param(
            "cluster: {network: {podSubnets: 10.200.0.0/16}}\n",
            ["cluster.network.podSubnets must be a list of CIDRs"],
            id="not-a-list",
        ),
        pytest.param(
            "apiVersion: v1alpha1\nkind: KubeNetworkConfig\npodSubnets: [10.200.0.1/16]\nserviceSubnets: [10.96.0.0/12]\n",
            ["KubeNetworkConfig.podSubnets[0] '10.200.0.1/16' has host bits set; did you mean 10.200.0.0/16?"],
            id="kube-network-host-bits",
        ),
        pytest.param(
            "apiVersion: v1alpha1\nkind: KubeNetworkConfig\npodSubnets: [10.1.0.0/16, 10.2.0.0/16]\n"
            "serviceSubnets: [10.96.0.0/12]\n",
            ["at most one IPv4 and one IPv6 subnet"],
            id="kube-network-two-v4",
        ),
        pytest.param(
            "apiVersion: v1alpha1\nkind: KubeNetworkConfig\nserviceSubnets: [10.96.0.0/12]\n",
            ["KubeNetworkConfig.podSubnets: pod subnets: at least one subnet must be specified"],
            id="kube-network-no-pods",
        ),
        pytest.param(
            "apiVersion: v1alpha1\nkind: KubeNetworkConfig\npodSubnets: [10.1.0.0/16, fd00::/56]\n"
            "serviceSubnets: [10.96.0.0/12]\n",
            ["the number of pod subnets must match the number of service subnets"],
            id="kube-network-counts",
        ),
        pytest.param(
            "cluster: {network: {podSubnets: [10.1.0.0/16]}}\n---\napiVersion: v1alpha1\nkind: KubeNetworkConfig\n"
            "podSubnets: [10.1.0.0/16]\nserviceSubnets: [10.96.0.0/12]\n",
            ["b.yaml: document 2: KubeNetworkConfig and cluster.network (b.yaml: document 1) are both set"],
            id="network-conflict",
        ),
        pytest.param(
            "cluster: {proxy: {disabled: false}}\n---\napiVersion: v1alpha1\nkind: KubeProxyConfig\nenabled: false\n",
            ["KubeProxyConfig and cluster.proxy", "Talos refuses the config"],
            id="proxy-conflict",
        ),
        pytest.param(
            "cluster: {allowSchedulingOnControlPlanes: true}\n---\napiVersion: v1alpha1\nkind: KubeNodeConfig\n",
            ["KubeNodeConfig and cluster.allowSchedulingOnControlPlanes"],
            id="node-conflict",
        ),
        pytest.param(
            "machine: {features: {hostDNS: {enabled: true}}}\n---\napiVersion: v1alpha1\nkind: ResolverConfig\n"
            "hostDNS: {enabled: true}\n",
            ["ResolverConfig.hostDNS and machine.features.hostDNS"],
            id="host-dns-conflict",
        ),
        pytest.param(
            "apiVersion: v1alpha1\nkind: ResolverConfig\nhostDNS: {enabled: false, forwardKubeDNSToHost: true}\n",
            ["ResolverConfig.hostDNS.forwardKubeDNSToHost is true and ResolverConfig.hostDNS.enabled false"],
            id="resolver-forward-without-enabled",
        ),
        pytest.param(
            "cluster: {proxy: {disabled: yes please}}\n",
            ["cluster.proxy.disabled: 'yes please' is not true or false"],
            id="not-a-bool",
        ),
        pytest.param(
            "apiVersion: v1alpha2\nkind: KubeProxyConfig\nenabled: false\n",
            ["KubeProxyConfig apiVersion must be v1alpha1"],
            id="api-version",
        ),
    ],
)
def test_values_talos_refuses(text: str, fragments: list[str]) -> None:
    message = error(text)
    for fragment in fragments:
        assert fragment in message, message


# -- the flags over the config


def test_values_from_the_config_are_noted() -> None:
    found = read_context(config_documents(V1ALPHA1.read_text(encoding="utf-8"), "cp.yaml"))
    context = resolve(found, Given(), label)
    assert context.pod_subnets == (net("10.200.0.0/16"),)
    assert context.host_dns is True
    assert context.kube_proxy is False
    assert context.kube_proxy_off_by == "cluster.proxy.disabled in cp.yaml: document 1"
    assert context.notes == (
        "pod subnets 10.200.0.0/16 from cluster.network.podSubnets (cp.yaml: document 1)",
        "service subnets 10.201.0.0/16 from cluster.network.serviceSubnets (cp.yaml: document 1)",
        "host DNS forwarding on from machine.features.hostDNS.forwardKubeDNSToHost (cp.yaml: document 1)",
        "kube-proxy off from cluster.proxy.disabled (cp.yaml: document 1)",
        "workloads on the control plane: yes from cluster.allowSchedulingOnControlPlanes (cp.yaml: document 1)",
    )
    assert runs_workloads(context, None)
    assert runs_workloads(context, "controlplane")


def test_a_flag_wins_with_a_note() -> None:
    found = read_context(config_documents(V1ALPHA1.read_text(encoding="utf-8"), "cp.yaml"))
    given = Given(pod_subnets=(net("10.244.0.0/16"),), no_host_dns=True, no_kube_proxy=True)
    context = resolve(found, given, label)
    assert (context.pod_subnets, context.host_dns, context.kube_proxy) == ((net("10.244.0.0/16"),), False, False)
    assert context.kube_proxy_off_by == "--no-kube-proxy"
    assert context.notes[0] == (
        "--pod-subnet 10.244.0.0/16 wins over cluster.network.podSubnets 10.200.0.0/16 (cp.yaml: document 1)"
    )
    assert (
        "--no-host-dns wins over machine.features.hostDNS.forwardKubeDNSToHost in cp.yaml: document 1"
        in (context.notes[2])
    )
    # A flag the config agrees with needs no note; nothing given, nothing said.
    same = resolve(found, Given(pod_subnets=(net("10.200.0.0/16"),)), label)
    assert not any("wins" in n for n in same.notes)
    assert resolve(ConfigContext(), Given(), label) == Context()


def test_converged_flag_over_a_tainted_control_plane() -> None:
    found = read("version: v1alpha1\nmachine: {type: controlplane}\n")
    context = resolve(found, Given(converged=True), label)
    assert context.converged_by == "--converged"
    assert context.notes[-1].startswith("--converged wins over cluster.allowSchedulingOnControlPlanes in n.yaml")
    assert not runs_workloads(resolve(found, Given(), label), None)
    # A worker's config: scheduling on control planes does not concern it.
    worker = resolve(read("version: v1alpha1\nmachine: {type: worker}\n"), Given(), label)
    assert not worker.converged
    assert not any("workloads" in n for n in worker.notes)
