"""Exports of the link-local and kubespan-peers groups (the dhcp, talos-bgp-unnumbered and
kubespan add-ons): a VM's firewall filters link-local traffic and gets the fe80::/10 IP set, a
router never sees it (it does not forward link-local traffic), KubeSpan peers get 51820/udp."""

from __future__ import annotations

from talospatch.export import render
from talospatch.export.cluster import build_cluster
from talospatch.export.routed import plan
from talospatch.generate.expand import GenOptions
from testing.exportnft import build_cluster_cli
from testing.pvefw import parse_fw

SUBNETS = ("192.168.30.0/24", "fd00:30::/64")
OPTIONS = GenOptions(
    subnets=SUBNETS,
    addons=("dhcp", "kubespan", "talos-bgp-unnumbered"),
    kubespan_peers=("203.0.113.7",),
)
LINK_LOCAL_RULES = {
    ("udp", "546"): "dhcpv6-client-ingress",
    ("tcp", "179"): "talos-bgp-unnumbered-ingress",
    ("udp", "3784"): "talos-bgp-unnumbered-bfd-ingress",
}


def test_proxmox_defines_and_uses_the_link_local_ip_set() -> None:
    cluster = parse_fw(render("proxmox", build_cluster_cli(OPTIONS)).files["cluster.fw"], "cluster")
    assert cluster.ipsets["talos-link-local"] == ["fe80::/10"]
    assert cluster.ipsets["talos-kubespan-peers"] == ["203.0.113.7"]
    for group in ("talos-cp", "talos-worker"):
        rules = cluster.groups[group]
        from_link_local = {(r.proto, r.dport) for r in rules if r.source == "+talos-link-local"}
        assert from_link_local == set(LINK_LOCAL_RULES)
        assert {(r.proto, r.dport) for r in rules if r.source == "+talos-kubespan-peers"} == {("udp", "51820")}


def test_a_router_never_sees_link_local_sources() -> None:
    routed = plan(build_cluster(OPTIONS))
    assert not [r for r in routed.rules if "link-local" in r.key]
    assert {(u.role, u.rule) for u in routed.unenforced if u.group == "link-local"} == {
        (role, rule) for role in ("controlplane", "worker") for rule in LINK_LOCAL_RULES.values()
    }
    assert {u.reason for u in routed.unenforced if u.group == "link-local"} == {
        "link-local traffic never leaves its link: a router does not forward it"
    }
    kubespan = [r for r in routed.rules if "/kubespan-ingress/kubespan-peers/" in r.key]
    assert sorted(r.key.split("/")[0] for r in kubespan) == ["controlplane", "worker"]
