"""The cluster model the export targets share: every role expanded once, from gen's options."""

from __future__ import annotations

import ipaddress

import pytest

from talospatch.cli.params import command_line
from talospatch.errors import BadInput
from talospatch.export import render
from talospatch.export.cluster import EGRESS, NTS_EGRESS, build_cluster, cluster_of
from talospatch.generate.expand import GenOptions, expand
from testing.exportnft import build_cluster_cli

REFERENCE = GenOptions(
    subnets=("192.168.30.0/24",),
    tunnel="geneve",
    controlplane=("192.168.30.11", "192.168.30.12", "192.168.30.13"),
    admins=("196.45.28.20/32",),
)


def test_every_role_has_the_rules_gen_writes_for_it() -> None:
    cluster = build_cluster_cli(REFERENCE)
    assert [r.role for r in cluster.roles] == ["controlplane", "worker"]
    for role, controlplane in (("controlplane", REFERENCE.controlplane), ("worker", ())):
        gen = expand(
            GenOptions(
                role=role,
                subnets=REFERENCE.subnets,
                tunnel="geneve",
                admins=REFERENCE.admins,
                controlplane=controlplane,
            )
        )
        rules = cluster.role(role).rules
        assert [r.name for r in rules] == [r.document.name for r in gen.rules]
        assert [(r.protocol, r.ports) for r in rules] == [(g.document.protocol, g.document.ports) for g in gen.rules]
        assert [r.why for r in rules] == [g.entry.why for g in gen.rules]
        assert cluster.role(role).command == command_line(gen.options)


def test_sources_stay_by_group() -> None:
    cluster = build_cluster_cli(REFERENCE)
    etcd = next(r for r in cluster.role("controlplane").rules if r.name == "etcd-ingress")
    assert [(s.group, [str(n) for n in s.networks]) for s in etcd.sources] == [
        ("controlplane", ["192.168.30.11/32", "192.168.30.12/32", "192.168.30.13/32"])
    ]
    api = next(r for r in cluster.role("controlplane").rules if r.name == "kubernetes-api-ingress")
    assert api.groups == ("nodes", "pods", "admins")
    assert cluster.group("pods") == (ipaddress.ip_network("10.244.0.0/16"),)
    assert cluster.defaulted == frozenset({"workers", "pods"})


def test_egress_is_the_seeds_and_nts_from_v1_14() -> None:
    """The seed's 443/tcp and 123/udp; NTS key exchange 4460/tcp where time sync uses NTS by default."""
    cluster = build_cluster_cli(REFERENCE)  # the default release, v1.14.0
    assert [(e.protocol, e.port) for e in cluster.egress] == [("tcp", 443), ("udp", 123), ("tcp", 4460)]
    assert cluster.egress == (*EGRESS, NTS_EGRESS)
    for version, nts in (("1.13", False), ("v1.8.0", False), ("1.14", True), ("main", True)):
        egress = build_cluster_cli(REFERENCE._replace(talos_version=version)).egress
        assert (NTS_EGRESS in egress, egress[:2]) == (nts, EGRESS), version


def test_role_limited_addons_and_options_go_to_their_roles_only() -> None:
    cluster = build_cluster_cli(
        GenOptions(
            subnets=("192.168.30.0/24",),
            controlplane=("192.168.30.11",),
            workers=("192.168.30.21",),
            addons=("etcd-metrics",),
            nodeport=True,
            nodeport_from=("203.0.113.0/24",),
        )
    )
    cp = {r.name for r in cluster.role("controlplane").rules}
    worker = {r.name for r in cluster.role("worker").rules}
    assert "etcd-metrics-ingress" in cp
    assert "etcd-metrics-ingress" not in worker
    assert {"nodeport-ingress-tcp", "nodeport-ingress-udp"} <= worker
    assert not any(n.startswith("nodeport") for n in cp)
    trustd = next(r for r in cluster.role("controlplane").rules if r.name == "trustd-ingress")
    assert [str(n) for n in trustd.sources[0].networks] == ["192.168.30.21/32"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        pytest.param(GenOptions(subnets=()), "--subnet is required", id="no-subnet"),
        pytest.param(GenOptions(subnets=("192.168.30.1/24",)), "host bits set", id="host-bits"),
        pytest.param(
            GenOptions(subnets=("192.168.30.0/24",), nodeport_from=("203.0.113.0/24",)),
            "--nodeport-from needs --nodeport",
            id="nodeport-from-alone",
        ),
        pytest.param(
            GenOptions(subnets=("192.168.30.0/24",), addons=("nope",)), "unknown add-on 'nope'", id="unknown-addon"
        ),
    ],
)
def test_bad_options_are_bad_input(options: GenOptions, message: str) -> None:
    with pytest.raises(BadInput, match=message):
        build_cluster_cli(options)


def test_unknown_target_is_bad_input() -> None:
    with pytest.raises(
        BadInput,
        match=r"^unknown export target 'junos'; valid: aws-terraform, ",
    ):
        render("junos", build_cluster_cli(REFERENCE))


def test_the_cluster_carries_the_networks_expand_parsed() -> None:
    options = GenOptions(
        subnets=("fd00:30::/64", "192.168.30.0/24", "192.168.30.0/24"),
        controlplane=("192.168.30.11", "192.168.30.11"),
        admins=("196.45.28.20",),
    )
    cluster = build_cluster_cli(options)
    nets = ipaddress.ip_network
    # Normalized as in the patch header: de-duplicated, IPv4 first.
    assert cluster.subnets == (nets("192.168.30.0/24"), nets("fd00:30::/64"))
    assert cluster.addresses("controlplane") == (nets("192.168.30.11/32"),)
    assert cluster.addresses("admins") == (nets("196.45.28.20/32"),)
    assert cluster.addresses("workers") == ()
    assert cluster.defaulted == frozenset({"workers", "pods"})
    assert cluster.dual_stack


def test_a_cluster_of_expansions_is_the_same_as_from_options() -> None:
    roles = ("controlplane", "worker")
    generated = {
        role: expand(
            GenOptions(
                role=role,
                subnets=REFERENCE.subnets,
                tunnel="geneve",
                admins=REFERENCE.admins,
                controlplane=REFERENCE.controlplane if role == "controlplane" else (),
            )
        )
        for role in roles
    }
    assert cluster_of(generated) == build_cluster(REFERENCE)


def test_an_option_no_role_takes_is_refused() -> None:
    with pytest.raises(BadInput, match=r"^bgp_peers does not apply to this cluster: no selected rule of any role"):
        build_cluster(GenOptions(subnets=("192.168.30.0/24",), bgp_peers=("192.168.30.1",)))


def test_warnings_per_target() -> None:
    """gen's warnings reach every target they apply to; AWS has no CIDR for controlplane."""
    cluster = build_cluster_cli(GenOptions(subnets=("192.168.30.0/24",)))
    assert any(w.startswith("controlplane: no --controlplane:") for w in cluster.warnings)
    assert any(w.startswith("worker: no --admin:") for w in cluster.warnings)
    for target in ("proxmox", "proxmox-terraform"):
        assert render(target, cluster).warnings == cluster.warnings
    aws = render("aws-terraform", cluster).warnings
    assert not any("no --controlplane" in w for w in aws)
    assert any(w.startswith("controlplane: no --admin:") for w in aws)
    assert build_cluster_cli(REFERENCE).warnings == ()
