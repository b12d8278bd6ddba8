"""The host DNS setting a machine config names decides a real packet's verdict.

In block mode Talos accepts DNS (53/udp, 53/tcp) from the pod and service subnets to the host
DNS addresses only when CoreDNS forwards to the host (``forwardKubeDNSToHost``); from v1.14.0
the IPv6 part of that rule matches the IPv6 host DNS address, once the pod subnets have an
IPv6 one. ``nft`` on a machine config reads the setting (``ResolverConfig.hostDNS`` or
``machine.features.hostDNS``; a whole config that sets none has it off) and the pod subnets,
so an IPv6 pod of ``fd00:200::/56`` reaches the IPv6 host DNS address on the node when the
config forwards, and not when it does not, leaves it unset, or ``--no-host-dns`` wins. (The
IPv4 host DNS address 169.254.116.108 is link-local, which the lab does not put on a node.)
The kernel's verdict and ``Reach.query`` must agree with the prediction. Skipped without root /
network namespaces, failed instead under ``CI=true``.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from talospatch.nft.compile import HOST_DNS_V6, compile_firewall
from talospatch.nft.reach import Reach
from talospatch.nft.text import render
from talospatch.workflows.node import NodeOptions, node_firewall
from testing.cluster import CONTROLPLANE_PATCH
from testing.netlab import Lab, Probe, ensure_netns

pytestmark = pytest.mark.kernel

NODE4, NODE6, POD6 = "192.168.30.11", "fd00:30::11", "fd00:200::5"
DNS6 = str(HOST_DNS_V6.network_address)
NETWORK = """\
apiVersion: v1alpha1
kind: KubeNetworkConfig
podSubnets: [10.200.0.0/16, fd00:200::/56]
serviceSubnets: [10.201.0.0/16, fd00:201::/112]
"""
RESOLVER = """\
---
apiVersion: v1alpha1
kind: ResolverConfig
hostDNS:
  enabled: true
  forwardKubeDNSToHost: {forward}
"""
WHOLE = "version: v1alpha1\nmachine:\n  type: controlplane\n---\n"


@pytest.fixture(scope="module", autouse=True)
def _netns_available() -> None:
    ensure_netns()


@pytest.mark.parametrize(
    ("config", "no_host_dns", "passes"),
    [
        pytest.param(WHOLE + NETWORK + RESOLVER.format(forward="true"), False, True, id="ResolverConfig-forwards"),
        pytest.param(WHOLE + NETWORK + RESOLVER.format(forward="false"), False, False, id="ResolverConfig-does-not"),
        pytest.param(WHOLE + NETWORK, False, False, id="whole-config-unset"),
        pytest.param(WHOLE + NETWORK + RESOLVER.format(forward="true"), True, False, id="flag-wins"),
    ],
)
def test_host_dns_from_the_config(tmp_path: Path, config: str, no_host_dns: bool, passes: bool) -> None:
    path = tmp_path / "node.yaml"
    path.write_text(config, encoding="utf-8")
    node = node_firewall(
        [str(CONTROLPLANE_PATCH), str(path)], NodeOptions(node_ips=(NODE4, NODE6), host_dns=not no_host_dns)
    )
    probes = [Probe(POD6, DNS6, "udp", 53), Probe(POD6, DNS6, "tcp", 53)]
    reach = Reach(node.firewall, node.context, node.version)
    answers = [reach.query(p.src, p.port, p.proto, p.dst).allowed for p in probes]
    with Lab([f"{NODE4}/24", f"{NODE6}/64", f"{DNS6}/128"], [POD6], name=f"context{secrets.token_hex(2)}") as lab:
        lab.listen(tcp_ports=[53], udp_ports=[53])
        assert lab.probe_many(probes) == [True, True]  # the setup itself is sound
        lab.load_nft(render(compile_firewall(node.firewall, node.context, node.version)))
        kernel = lab.probe_many(probes)
    assert (kernel, answers) == ([passes] * 2, [passes] * 2)
