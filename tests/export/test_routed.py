"""What a router in front of the node VLAN can enforce, and what it never sees: a view of the cluster."""

from __future__ import annotations

import pytest

from talospatch.errors import BadInput
from talospatch.export import routed as routed_view
from talospatch.export.cluster import build_cluster
from talospatch.export.routed import DESCRIPTION_MAX, TAG, RoutedPlan, describe, stable_number, stable_uuid
from talospatch.generate.expand import GenOptions
from testing.exportnft import reference

SUBNET = ("192.168.30.0/24",)
CONTROLPLANE = ("192.168.30.11", "192.168.30.12", "192.168.30.13")
ADMIN = ("196.45.28.20/32",)


def plan(options: GenOptions, ntp_servers: tuple[str, ...] = ()) -> RoutedPlan:
    """The router's view of the cluster gen's options build."""
    return routed_view.plan(build_cluster(options), ntp_servers)


def rows(routed: RoutedPlan) -> set[tuple[str, str, str, str | None, str | None, tuple[int, ...]]]:
    return {
        (r.placement, f"{r.port.label}/{r.protocol}", r.key.split("/")[0], r.source, r.destination, r.families)
        for r in routed.rules
    }


def test_reference_cluster_routes_admin_rules_and_egress_only() -> None:
    routed = plan(reference())
    assert rows(routed) == {
        ("inbound", "50000/tcp", "controlplane", "talospatch_admins", "talospatch_controlplane", (4,)),
        ("inbound", "6443/tcp", "controlplane", "talospatch_admins", "talospatch_controlplane", (4,)),
        ("inbound", "50000/tcp", "worker", "talospatch_admins", "talospatch_nodes", (4,)),
        ("egress", "443/tcp", "egress", "talospatch_nodes", None, (4,)),
        ("egress", "123/udp", "egress", "talospatch_nodes", None, (4,)),
        ("egress", "4460/tcp", "egress", "talospatch_nodes", None, (4,)),
    }
    assert {a.name: [str(n) for n in a.networks] for a in routed.aliases} == {
        "talospatch_nodes": ["192.168.30.0/24"],
        "talospatch_controlplane": ["192.168.30.11/32", "192.168.30.12/32", "192.168.30.13/32"],
        "talospatch_admins": ["196.45.28.20/32"],
    }


def test_every_in_cluster_source_is_listed_as_not_enforced() -> None:
    routed = plan(reference())
    unenforced = {(u.role, u.rule, u.group) for u in routed.unenforced}
    # Each role's rules from nodes, pods and control planes: none of them is a router rule.
    for entry in [
        ("controlplane", "etcd-ingress", "controlplane"),
        ("controlplane", "trustd-ingress", "workers"),
        ("controlplane", "kubernetes-api-ingress", "nodes"),
        ("controlplane", "kubernetes-api-ingress", "pods"),
        ("controlplane", "cni-geneve", "nodes"),
        ("worker", "kubelet-ingress", "pods"),
        ("worker", "cilium-health-ingress", "nodes"),
    ]:
        assert entry in unenforced
    assert not any(r.port.lo in (2379, 10250, 6081, 4240, 50001) for r in routed.rules)


def test_an_admin_inside_the_node_subnet_is_not_routed() -> None:
    routed = plan(reference(admins=("192.168.30.50/32", "10.9.0.0/16")))
    admins = {a.name: a for a in routed.aliases}["talospatch_admins_routed"]
    assert [str(n) for n in admins.networks] == ["10.9.0.0/16"]
    assert ("controlplane", "apid-ingress", "admins") in {(u.role, u.rule, u.group) for u in routed.unenforced}


def test_any_source_has_no_alias_and_takes_the_destination_family() -> None:
    routed = plan(reference(addons=("ingress-http",)))
    http = [r for r in routed.rules if "ingress-http" in r.key]
    assert {(r.key.split("/")[0], r.port.label, r.source, r.families) for r in http} == {
        ("controlplane", "80", None, (4,)),
        ("controlplane", "443", None, (4,)),
        ("worker", "80", None, (4,)),
        ("worker", "443", None, (4,)),
    }


def test_dual_stack_nodes_give_dual_egress_and_v4_admin_rules() -> None:
    routed = plan(reference(subnets=("192.168.30.0/24", "fd00:30::/64"), controlplane=(*CONTROLPLANE, "fd00:30::11")))
    families = {r.key: r.families for r in routed.rules}
    assert families["egress/https"] == (4, 6)
    assert families["controlplane/apid-ingress/admins/50000"] == (4,)


def test_nodeport_clients_and_role_only_addons_go_to_their_role() -> None:
    options = reference(nodeport=True, nodeport_from=("10.50.0.0/24",), addons=("etcd-metrics",))
    cluster = build_cluster(options)
    assert any(r.name.startswith("nodeport-ingress") for r in cluster.role("worker").rules)
    assert not any(r.name.startswith("nodeport-ingress") for r in cluster.role("controlplane").rules)
    assert any(r.profile == "etcd-metrics" for r in cluster.role("controlplane").rules)
    assert not any(r.profile == "etcd-metrics" for r in cluster.role("worker").rules)
    routed = routed_view.plan(cluster)
    nodeport = {(r.protocol, r.source) for r in routed.rules if "nodeport" in r.key}
    assert nodeport == {
        ("tcp", "talospatch_admins"),
        ("udp", "talospatch_admins"),
        ("tcp", "talospatch_nodeport_clients"),
        ("udp", "talospatch_nodeport_clients"),
    }


def test_workers_given_get_their_own_alias() -> None:
    routed = plan(reference(workers=("192.168.30.21", "192.168.30.22")))
    assert ("inbound", "50000/tcp", "worker", "talospatch_admins", "talospatch_workers", (4,)) in rows(routed)
    assert not any("no workers:" in w for w in routed.warnings)


def test_no_workers_warns_that_worker_rules_name_the_subnet() -> None:
    assert any(w.startswith("no workers:") for w in plan(reference()).warnings)


def test_ntp_servers_become_the_egress_destination() -> None:
    routed = plan(reference(), ntp_servers=("192.168.1.1", "162.159.200.1"))
    ntp = next(r for r in routed.rules if r.key == "egress/ntp")
    assert ntp.destination == "talospatch_ntp"
    assert [str(n) for n in {a.name: a for a in routed.aliases}["talospatch_ntp"].networks] == [
        "162.159.200.1/32",
        "192.168.1.1/32",
    ]
    # NTS key exchange (v1.14's default time sync) goes to the same servers, on 4460/tcp.
    nts = next(r for r in routed.rules if r.key == "egress/nts-ke")
    assert (nts.protocol, nts.port.label, nts.destination, nts.families) == ("tcp", "4460", "talospatch_ntp", (4,))


@pytest.mark.parametrize(
    ("version", "nts"),
    [("1.13", False), ("v1.12.5", False), (None, True), ("1.14", True), ("main", True)],
    ids=["v1.13", "v1.12.5", "default", "v1.14", "main"],
)
def test_nts_key_exchange_egress_from_v1_14(version: str | None, nts: bool) -> None:
    """Talos v1.14 syncs time with NTS by default (4460/tcp, then NTP on 123/udp); older releases use NTP only."""
    routed = plan(reference(talos_version=version), ntp_servers=("162.159.200.1",))
    egress = [(r.port.label, r.protocol, r.destination) for r in routed.rules if r.placement == "egress"]
    assert egress[:2] == [("443", "tcp", None), ("123", "udp", "talospatch_ntp")]
    assert (("4460", "tcp", "talospatch_ntp") in egress) is nts
    assert len(egress) == 2 + nts


@pytest.mark.parametrize(
    ("changes", "ntp", "message"),
    [
        pytest.param({"subnets": ("192.168.30.5/24",)}, (), "host bits set", id="subnet-host-bits"),
        pytest.param({"cni": "weave"}, (), "unknown CNI", id="unknown-cni"),
        pytest.param({}, ("ntp.example.org",), "ntp_servers 'ntp.example.org'", id="ntp-not-an-address"),
        pytest.param(
            {"subnets": ("fd00:30::/64",), "controlplane": ()}, ("192.168.1.1",), "IP family", id="ntp-other-family"
        ),
    ],
)
def test_bad_input_is_one_line(changes: dict[str, object], ntp: tuple[str, ...], message: str) -> None:
    with pytest.raises(BadInput) as info:
        plan(reference(**changes), ntp_servers=ntp)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_descriptions_are_tagged_and_fit_opnsense() -> None:
    long = describe("x " * 200 + 'with "quotes" and a back\\slash')
    assert long.startswith(TAG)
    assert long.endswith("...")
    assert len(long.encode()) <= DESCRIPTION_MAX
    short = describe('say "hi"\\there')
    assert short == "talospatch: say 'hi'/there"
    for rule in plan(reference(addons=("hubble", "node-exporter"))).rules:
        assert rule.description.startswith(TAG)
        assert len(rule.description.encode()) <= DESCRIPTION_MAX


def test_stable_numbers_and_uuids() -> None:
    assert stable_uuid("a") == stable_uuid("a") != stable_uuid("b")
    taken: set[int] = set()
    numbers = [stable_number(str(i), 100, 5, taken) for i in range(5)]
    assert sorted(numbers) == [100, 101, 102, 103, 104]
    with pytest.raises(BadInput):
        stable_number("full", 100, 5, taken)
