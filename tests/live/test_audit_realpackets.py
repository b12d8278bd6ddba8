"""The audit's "who may reach it" against the kernel, with real packets.

The reference control plane (out/controlplane.yaml) is compiled for node 192.168.30.11,
rendered and loaded into the node namespace of a fresh :class:`netlab.Lab`, which listens
on every wildcard listener of the cp1-netstat.txt fixture. Each listener is probed from a
fixed set of client addresses (control-plane peers, a worker, the admin, a pod, a service
address, the neighbours of each allowed range, outsiders). For every probe the kernel's
answer must equal the audit's: the source lies in one of the listener's ``access`` ranges.

Skipped without root / network namespaces, failed instead under ``CI=true``.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from talospatch.live.audit import ListenerReport, audit
from talospatch.live.netstat import listeners, parse_netstat
from talospatch.nft.compile import NodeContext, compile_firewall
from talospatch.nft.text import render
from talospatch.talos.patchfiles import load_firewall
from testing.netlab import Lab, Probe, ensure_netns

pytestmark = pytest.mark.kernel

ROOT = Path(__file__).resolve().parents[2]
LIVE = Path(__file__).resolve().parents[1] / "fixtures" / "live"
NODE = "192.168.30.11"
CLIENTS = (
    "192.168.30.12",  # control-plane peer
    "192.168.30.13",  # control-plane peer, last of the etcd range
    "192.168.30.14",  # first address after the control plane
    "192.168.30.10",  # just before the control plane
    "192.168.30.31",  # worker
    "192.168.30.254",  # last host of the node subnet
    "192.168.31.1",  # next subnet
    "196.45.28.20",  # admin
    "196.45.28.21",  # next to the admin
    "10.244.1.5",  # pod
    "10.243.255.254",  # just below the pod subnet
    "10.96.0.10",  # service address
    "203.0.113.9",  # outside
)


@pytest.fixture(scope="module", autouse=True)
def _netns() -> None:
    ensure_netns()


def _may_reach(report: ListenerReport, source: str) -> bool:
    address = ipaddress.ip_address(source)
    return any(
        address in ipaddress.ip_network(text)
        for access in report.access
        for item in access.sources
        for text in item.split(", ")
    )


def test_audit_agrees_with_the_kernel() -> None:
    fw = load_firewall([str(ROOT / "out" / "controlplane.yaml")])
    ctx = NodeContext(node_ips=(ipaddress.ip_address(NODE),))
    sockets = listeners(parse_netstat((LIVE / "cp1-netstat.txt").read_text(encoding="utf-8"), "cp1-netstat.txt"))
    result = audit(sockets, fw, ctx)
    probed = [r for r in result.listeners if r.socket.wildcard]
    assert {r.socket.port for r in probed} == {2379, 2380, 2383, 6443, 10250, 50000, 50001}
    probes = [Probe(src, NODE, r.socket.transport, r.socket.port) for r in probed for src in CLIENTS]
    with Lab([f"{NODE}/24"], list(CLIENTS)) as lab:
        lab.load_nft(render(compile_firewall(fw, ctx)))
        lab.listen(
            tcp_ports=[r.socket.port for r in probed if r.socket.transport == "tcp"],
            udp_ports=[r.socket.port for r in probed if r.socket.transport == "udp"],
        )
        results = lab.probe_many_detailed(probes)
    reports = {(r.socket.transport, r.socket.port): r for r in probed}
    mismatches = [
        f"{p.src} -> {p.port}/{p.proto}: kernel {'reached' if res.reached else 'dropped'}, audit says the opposite"
        for p, res in zip(probes, results, strict=True)
        if res.reached != _may_reach(reports[(p.proto, p.port)], p.src)
    ]
    assert not mismatches, "\n".join(mismatches)
    # the probes exercised both answers
    assert any(res.reached for res in results)
    assert not all(res.reached for res in results)
