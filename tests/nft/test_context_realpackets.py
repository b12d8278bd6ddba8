"""The node's config decides verdicts, on the real kernel: its pod subnets and its host DNS setting.

The rulesets are built as ``nft``/``query`` build them from a machine config
(``workflows.node.node_firewall``: the config's context read, flags over it), loaded into a
lab node, and probed with real packets; the kernel, ``Reach.query`` and the expectation agree.

- Pod subnets (v1alpha1 ``cluster.network.podSubnets: [10.200.0.0/16]``): Talos's block mode
  accepts traffic between pod and service addresses. A pod (10.200.0.5) reaches the node's own
  address in the pod network (10.200.0.1, as cilium_host holds it) on a port no rule opens; an
  address of Talos's default pod subnet (10.244.0.5 -> 10.244.0.1) does not. ``--pod-subnet
  10.244.0.0/16`` turns both around.
- Host DNS (v1.14 ``KubeNetworkConfig`` with an IPv6 pod subnet and ``ResolverConfig.hostDNS``):
  an IPv6 pod (fd00:200::5) reaches the IPv6 host DNS address on 53/udp and 53/tcp when the
  config forwards to the host, and not when it does not or ``--no-host-dns`` is given. (The
  IPv4 host DNS address is link-local, which the lab does not put on a node.)

The node address Talos filters on (prerouting) is 192.168.30.11 only: Talos leaves addresses
in the pod and service subnets out of it. Skipped without root / network namespaces, failed
instead under ``CI=true``.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from talospatch.nft.compile import HOST_DNS_V6, compile_firewall
from talospatch.nft.reach import Reach
from talospatch.nft.text import render
from talospatch.workflows.node import NodeFirewall, NodeOptions, node_firewall
from testing.cluster import ROOT
from testing.netlab import Lab, Probe, ensure_netns

pytestmark = pytest.mark.kernel

FIXTURES = ROOT / "tests" / "fixtures" / "context"
V1ALPHA1 = FIXTURES / "controlplane-v1alpha1.yaml"
V114 = FIXTURES / "controlplane-v1.14.yaml"
NODE = "192.168.30.11"
NODE6 = "fd00:30::11"
PORT = 8080  # no rule opens it
# (source, destination): a pod of 10.200.0.0/16 to the node's pod-network address, and the
# same for Talos's default pod subnet.
CONFIG_PODS = ("10.200.0.5", "10.200.0.1")
DEFAULT_PODS = ("10.244.0.5", "10.244.0.1")
POD6 = "fd00:200::5"
DNS6 = str(HOST_DNS_V6.network_address)


@pytest.fixture(scope="module", autouse=True)
def _netns_available() -> None:
    ensure_netns()


def _lab_name() -> str:
    return f"context{secrets.token_hex(2)}"


def _verdicts(node: NodeFirewall, lab: Lab, probes: list[tuple[str, str, str, int]]) -> list[tuple[bool, bool]]:
    """(kernel, Reach) for each (source, destination, protocol, port)."""
    lab.load_nft(render(compile_firewall(node.firewall, node.context, node.version)))
    kernel = lab.probe_many([Probe(src, dst, proto, port) for src, dst, proto, port in probes])
    reach = Reach(node.firewall, node.context, node.version)
    answers = [reach.query(src, port, proto, dst).allowed for src, dst, proto, port in probes]
    return list(zip(kernel, answers, strict=True))


@pytest.mark.parametrize(
    ("pod_subnets", "allowed"),
    [
        pytest.param((), CONFIG_PODS, id="config-10.200"),
        pytest.param(("10.244.0.0/16",), DEFAULT_PODS, id="flag-10.244"),
    ],
)
def test_pod_subnet_from_the_config_decides(pod_subnets: tuple[str, ...], allowed: tuple[str, str]) -> None:
    node = node_firewall([str(V1ALPHA1)], NodeOptions(node_ips=(NODE,), pod_subnets=pod_subnets))
    pairs = [CONFIG_PODS, DEFAULT_PODS]
    probes = [(src, dst, "tcp", PORT) for src, dst in pairs]
    with Lab(
        [f"{NODE}/24", f"{CONFIG_PODS[1]}/32", f"{DEFAULT_PODS[1]}/32"], [p[0] for p in pairs], name=_lab_name()
    ) as lab:
        lab.listen(tcp_ports=[PORT])
        verdicts = _verdicts(node, lab, probes)
    expected = [(pair == allowed, pair == allowed) for pair in pairs]
    assert verdicts == expected


@pytest.mark.parametrize(
    ("forward", "no_host_dns", "reached"),
    [
        pytest.param(True, False, True, id="config-forwards"),
        pytest.param(False, False, False, id="config-does-not-forward"),
        pytest.param(True, True, False, id="flag-no-host-dns"),
    ],
)
def test_host_dns_from_the_config_decides(tmp_path: Path, forward: bool, no_host_dns: bool, reached: bool) -> None:
    text = V114.read_text(encoding="utf-8")
    if not forward:
        text = text.replace("    forwardKubeDNSToHost: true\n", "    forwardKubeDNSToHost: false\n")
    config = tmp_path / "cp.yaml"
    config.write_text(text, encoding="utf-8")
    node = node_firewall([str(config)], NodeOptions(node_ips=(NODE, NODE6), host_dns=not no_host_dns))
    assert node.context.host_dns is (forward and not no_host_dns)
    probes = [(POD6, DNS6, "udp", 53), (POD6, DNS6, "tcp", 53)]
    with Lab([f"{NODE}/24", f"{NODE6}/64", f"{DNS6}/128"], [POD6], name=_lab_name()) as lab:
        lab.listen(tcp_ports=[53], udp_ports=[53])
        verdicts = _verdicts(node, lab, probes)
    assert verdicts == [(reached, reached)] * len(probes)
