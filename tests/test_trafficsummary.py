"""minimal_traffic_summary: who gains or loses which port between two firewalls."""

from __future__ import annotations

from talospatch.nft import NodeContext
from talospatch.trafficsummary import minimal_traffic_summary
from testing.documents import firewall, rule

OLD = firewall(
    "block",
    rule("apid-ingress", [50000], "tcp", "192.168.30.0/24"),
    rule("kubelet-ingress", [10250], "tcp", "0.0.0.0/0"),
    rule("etcd-ingress", ["2379-2380"], "tcp", "192.168.30.0/24"),
)


def test_gains_and_losses_per_port_with_the_rule() -> None:
    new = firewall(
        "block",
        rule("apid-ingress", [50000], "tcp", "192.168.30.0/24", "196.45.28.20/32"),
        rule("kubelet-ingress", [10250], "tcp", "192.168.30.0/24"),
        rule("etcd-ingress", ["2379-2380"], "tcp", "192.168.30.0/24"),
    )
    assert minimal_traffic_summary(OLD, new, NodeContext()) == [
        "- 0.0.0.0/0 loses 10250/tcp (kubelet-ingress)",  # 196.45.28.20/32 too: inside, the same change
        "+ 196.45.28.20/32 gains 50000/tcp (apid-ingress)",
    ]


def test_equivalent_rulesets_renamed_and_merged_change_nothing() -> None:
    new = firewall(
        "block",
        rule("mesh", ["2379-2380", 50000], "tcp", "192.168.30.0/24"),
        rule("kubelet", [10250], "tcp", "0.0.0.0/0"),
    )
    assert minimal_traffic_summary(OLD, new, NodeContext()) == []


def test_a_split_port_range_is_reported_per_stretch() -> None:
    new = firewall(
        "block",
        rule("apid-ingress", [50000], "tcp", "192.168.30.0/24"),
        rule("kubelet-ingress", [10250], "tcp", "0.0.0.0/0"),
        rule("etcd-ingress", [2379], "tcp", "192.168.30.0/24"),
    )
    assert minimal_traffic_summary(OLD, new, NodeContext()) == ["- 192.168.30.0/24 loses 2380/tcp (etcd-ingress)"]


def test_a_subnet_with_a_different_change_than_its_wider_one_is_reported() -> None:
    new = firewall(
        "block",
        rule("apid-ingress", [50000], "tcp", "192.168.30.0/24"),
        rule("kubelet-ingress", [10250], "tcp", "0.0.0.0/0 except 192.168.30.0/25"),
        rule("etcd-ingress", ["2379-2380"], "tcp", "192.168.30.0/24"),
    )
    assert minimal_traffic_summary(OLD, new, NodeContext()) == ["- 192.168.30.0/25 loses 10250/tcp (kubelet-ingress)"]
