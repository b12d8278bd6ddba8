"""talospatch.nft.resources: the NfTablesChain resources Talos builds, as talosctl prints them.

The fixtures under tests/fixtures/live/ are built to the formats in
shared/reference/talos-live.md (read from the Talos sources): ``note-example.yaml`` is the
note's own example chain, verbatim; ``cp1-chains.yaml`` is a control-plane node of the
reference cluster (out/controlplane.yaml, node 192.168.30.11); ``cluster-chains.json`` is
``-o json`` for two nodes with KubeSpan's chains; ``kubespan-chains.yaml`` holds only those.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from pathlib import Path

import pytest

from talospatch.nft.compile import NodeContext, compile_firewall
from talospatch.nft.live import parse_live
from talospatch.nft.resources import (
    AddressMatch,
    expected_chains,
    priority_text,
    render_resources,
    resource_text,
)
from talospatch.talos.documents import Firewall, PortRange
from talospatch.talos.patchfiles import load_firewall
from testing.documents import firewall, ip, rule

ROOT = Path(__file__).resolve().parents[2]
LIVE = Path(__file__).resolve().parents[1] / "fixtures" / "live"
CP1 = NodeContext(node_ips=(ip("192.168.30.11"),))


def reference() -> Firewall:
    return load_firewall([str(ROOT / "out" / "controlplane.yaml")])


def read(name: str) -> str:
    return (LIVE / name).read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("value", "printed"),
    [
        pytest.param(-140, "NfTablesChainPriority(-140)", id="ingress"),
        pytest.param(-110, "NfTablesChainPriority(-110)", id="prerouting"),
        pytest.param(-150, "mangle", id="mangle"),
        pytest.param(-100, "nat-dest", id="nat-dest"),
        pytest.param(0, "filter", id="filter-before-v1.9.4"),
    ],
)
def test_priority_printed_as_talosctl_does(value: int, printed: str) -> None:
    assert priority_text(value) == printed


# -- rendering -----------------------------------------------------------------------------


def test_the_reference_notes_example_renders_back_byte_for_byte() -> None:
    text = read("note-example.yaml")
    live = parse_live(text, "note-example.yaml")
    assert render_resources(live.chains) == text


def test_reference_cluster_renders_as_the_node_prints_it() -> None:
    """out/controlplane.yaml on node .11: the fixture, but for the node-made metadata."""
    ours = resource_text(reference(), CP1, node="192.168.30.11")
    theirs = read("cp1-chains.yaml")
    strip = ("    version:", "    created:", "    updated:")
    assert [ln for ln in ours.splitlines() if not ln.startswith(strip)] == [
        ln for ln in theirs.splitlines() if not ln.startswith(strip)
    ]


def test_rendering_framing() -> None:
    text = resource_text(reference(), CP1)
    docs = text.split("---\n")
    assert len(docs) == 2
    assert docs[0].startswith("node: talospatch\nmetadata:\n    namespace: network\n")
    assert "    id: ingress\n" in docs[0]
    assert "    id: prerouting\n" in docs[1]
    assert "    priority: NfTablesChainPriority(-110)\n    policy: accept\n" in docs[1]
    assert not text.startswith("---")


FIREWALLS: dict[str, tuple[Callable[[], Firewall], NodeContext]] = {
    "reference-controlplane": (lambda: reference(), CP1),
    "reference-worker": (lambda: load_firewall([str(ROOT / "out" / "worker.yaml")]), CP1),
    "accept-mode": (
        lambda: firewall("accept", rule("kubelet-ingress", [10250], "tcp", "10.0.0.0/8 except 10.3.0.0/16")),
        CP1,
    ),
    "dual-stack-no-node-ip": (
        lambda: firewall("block", rule("apid-ingress", [50000, 50001, "6000-6010"], "tcp", "0.0.0.0/0", "::/0")),
        NodeContext(pod_subnets=(ipaddress.ip_network("10.244.0.0/16"), ipaddress.ip_network("fd00:244::/56"))),
    ),
    "dual-stack-node": (
        lambda: firewall("block", rule("kubelet-ingress", [10250], "tcp", "fd00:30::/64")),
        NodeContext(node_ips=(ip("192.168.30.11"), ip("fd00:30::11"))),
    ),
}


@pytest.mark.parametrize("name", list(FIREWALLS))
def test_round_trip_parses_back_to_the_same_chains(name: str) -> None:
    make, ctx = FIREWALLS[name]
    chains = expected_chains(make(), ctx)
    assert parse_live(render_resources(chains), "ours").chains == chains


def test_host_dns_over_ipv6_when_a_pod_subnet_is_ipv6() -> None:
    make, ctx = FIREWALLS["dual-stack-no-node-ip"]
    ingress = expected_chains(make(), ctx)[0]
    dns = [r for r in ingress.rules if r.protocol == "udp" and r.dports == (PortRange(53, 53),)]
    assert len(dns) == 1
    assert dns[0].destination == AddressMatch(
        (ipaddress.ip_network("169.254.116.108/32"), ipaddress.ip_network("fd54:616c:6f73::204f:5320:444e:531/128"))
    )


def test_a_rule_with_no_subnets_is_in_the_resource_though_nft_gets_none() -> None:
    """Talos keeps the spec rule; only the compiled chain drops a rule that matches nothing."""
    fw = firewall("block", rule("closed", [9000], "tcp"))
    assert not [r for r in compile_firewall(fw, CP1).chains[0].rules if r.rule_name == "closed"]
    named = [r for r in expected_chains(fw, CP1)[0].rules if r.rule_name == "closed"]
    assert named
    assert named[0].source == AddressMatch()


def test_ports_are_sorted_not_merged_in_the_resource() -> None:
    fw = firewall("block", rule("web", [443, 80, 81], "tcp", "0.0.0.0/0"))
    (web,) = [r for r in expected_chains(fw)[0].rules if r.rule_name == "web"]
    assert web.dports == (PortRange(80, 80), PortRange(81, 81), PortRange(443, 443))


def test_inactive_firewall_has_no_chains() -> None:
    assert expected_chains(firewall("accept", default_doc=False)) == ()
    assert render_resources(()) == ""
