"""talospatch.nft.reach: evaluate() on compiled rulesets, and query() reasons.

Hand-built firewalls; the property test at the end checks query() against an oracle that
reads the documents directly (block: some rule for the port has the source; accept: every
rule for the port has it), so a compile or evaluate bug shows up as a disagreement.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from talospatch.errors import BadInput
from talospatch.nft.compile import NodeContext, compile_firewall
from talospatch.nft.reach import Packet, Reach, evaluate, query
from talospatch.talos.documents import Firewall, RuleConfig
from testing.documents import firewall, ip, rule

NODE = NodeContext(node_ips=(ip("192.168.30.10"),))
NODE6 = NodeContext(node_ips=(ip("192.168.30.10"), ip("2001:db8:30::10")))
NO_ADDRESS = NodeContext()

APID = rule("apid-ingress", [50000], "tcp", "196.45.28.20/32", "10.20.0.0/16")
ETCD = rule("etcd-ingress", ["2379-2380"], "tcp", "192.168.30.11/32", "192.168.30.12/32")
KUBELET = rule("kubelet-ingress", [10250], "tcp", "10.0.0.0/8 except 10.3.0.0/16")
VXLAN = rule("cni-vxlan", [4789], "udp", "192.168.30.0/24")


# -- the reason texts ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fw", "ctx", "source", "port", "proto", "reason"),
    [
        pytest.param(
            firewall("block", APID),
            NODE,
            "196.45.28.20",
            50000,
            "tcp",
            "allowed: apid-ingress (196.45.28.20/32)",
            id="block-allowed-by-rule",
        ),
        pytest.param(
            firewall("block", APID),
            NODE,
            "10.20.3.4",
            50000,
            "tcp",
            "allowed: apid-ingress (10.20.0.0/16)",
            id="block-allowed-by-second-subnet",
        ),
        pytest.param(
            firewall("accept", KUBELET),
            NODE,
            "10.9.9.9",
            8080,
            "tcp",
            "allowed: default action accept (no rule for 8080/tcp)",
            id="accept-no-rule-for-port",
        ),
        pytest.param(
            firewall("accept", KUBELET),
            NODE,
            "10.9.9.9",
            10250,
            "udp",
            "allowed: default action accept (no rule for 10250/udp)",
            id="accept-rule-is-for-the-other-protocol",
        ),
        pytest.param(
            firewall("block", APID),
            NODE,
            "10.9.9.9",
            8080,
            "tcp",
            "dropped: no rule allows 8080/tcp (default action block)",
            id="block-no-rule-for-port",
        ),
        pytest.param(
            firewall("block", ETCD),
            NODE,
            "10.9.9.9",
            2380,
            "tcp",
            "dropped: 10.9.9.9 is outside etcd-ingress (192.168.30.11/32, 192.168.30.12/32)",
            id="block-outside-rule-subnets",
        ),
        pytest.param(
            firewall("accept", KUBELET),
            NODE,
            "192.168.7.7",
            10250,
            "tcp",
            "dropped: 192.168.7.7 is outside kubelet-ingress (10.0.0.0/8)",
            id="accept-drop-rule",
        ),
        pytest.param(
            firewall("accept", KUBELET),
            NODE,
            "10.9.9.9",
            10250,
            "tcp",
            "allowed: kubelet-ingress (10.0.0.0/8)",
            id="accept-inside-rule",
        ),
        pytest.param(
            firewall("block", KUBELET),
            NODE,
            "10.3.1.1",
            10250,
            "tcp",
            "dropped: 10.3.1.1 is excluded from kubelet-ingress by except 10.3.0.0/16",
            id="block-excluded-by-except",
        ),
        pytest.param(
            firewall("accept", KUBELET),
            NODE,
            "10.3.1.1",
            10250,
            "tcp",
            "dropped: 10.3.1.1 is excluded from kubelet-ingress by except 10.3.0.0/16",
            id="accept-excluded-by-except",
        ),
        pytest.param(
            firewall("block", VXLAN),
            NODE,
            "192.168.30.99",
            4789,
            "udp",
            "allowed: cni-vxlan (192.168.30.0/24)",
            id="block-udp-rule",
        ),
        pytest.param(
            firewall("block", rule("closed", [9000], "tcp")),
            NODE,
            "10.1.1.1",
            9000,
            "tcp",
            "dropped: 10.1.1.1 is outside closed (no ingress subnets)",
            id="block-empty-ingress",
        ),
        pytest.param(
            firewall("accept", rule("closed", [9000], "tcp")),
            NODE,
            "10.1.1.1",
            9000,
            "tcp",
            "dropped: 10.1.1.1 is outside closed (no ingress subnets)",
            id="accept-empty-ingress",
        ),
        pytest.param(
            firewall("block", ETCD, rule("etcd-extra", [2379], "tcp", "10.0.0.0/8")),
            NODE,
            "172.16.0.1",
            2379,
            "tcp",
            "dropped: 172.16.0.1 is outside etcd-ingress (192.168.30.11/32, 192.168.30.12/32);"
            " outside etcd-extra (10.0.0.0/8)",
            id="block-outside-several-rules",
        ),
        pytest.param(
            firewall("accept", default_doc=False),
            NODE,
            "10.1.1.1",
            22,
            "tcp",
            "allowed: default action accept (no rule for 22/tcp)",
            id="inactive-firewall",
        ),
    ],
)
def test_reason(fw: Firewall, ctx: NodeContext, source: str, port: int, proto: str, reason: str) -> None:
    answer = Reach(fw, ctx).query(source, port, proto)
    assert answer.reason == reason
    assert str(answer) == reason
    assert answer.allowed is reason.startswith("allowed:")


def test_query_function_matches_reach() -> None:
    fw = firewall("block", ETCD)
    answer = query(fw, NODE, ip("192.168.30.11"), 2379, "tcp")
    assert answer.allowed
    assert answer.reason == "allowed: etcd-ingress (192.168.30.11/32)"
    assert Reach(fw, NODE).query(ip("192.168.30.11"), 2379, "tcp") == answer


# -- except handling -----------------------------------------------------------------------


@pytest.mark.parametrize("action", ["block", "accept"])
def test_an_except_on_one_entry_removes_addresses_from_all_entries(action: str) -> None:
    # The second entry lists 10.3.0.0/16 explicitly, and is still cut by the first's except.
    fw = firewall(action, rule("kubelet-ingress", [10250], "tcp", "10.0.0.0/8 except 10.3.0.0/16", "10.3.0.0/16"))
    reach = Reach(fw, NODE)
    cut = reach.query("10.3.1.1", 10250, "tcp")
    assert not cut.allowed
    assert cut.reason == "dropped: 10.3.1.1 is excluded from kubelet-ingress by except 10.3.0.0/16"
    assert reach.query("10.4.0.1", 10250, "tcp").allowed


# -- IPv6 sources against IPv4-only rules (§2.4) --------------------------------------------


@pytest.mark.parametrize("action", ["block", "accept"])
def test_ipv6_source_is_dropped_by_an_ipv4_only_rule(action: str) -> None:
    fw = firewall(action, rule("kubelet-ingress", [10250], "tcp", "0.0.0.0/0"))
    answer = Reach(fw, NODE6).query("2001:db8:99::1", 10250, "tcp")
    assert not answer.allowed
    assert answer.reason == "dropped: 2001:db8:99::1 is outside kubelet-ingress (no IPv6 subnets)"
    assert answer.packet.destination == ip("2001:db8:30::10")
    assert Reach(fw, NODE6).query("203.0.113.5", 10250, "tcp").allowed


def test_accept_mode_v6_drop_comes_from_the_meta_nfproto_rule() -> None:
    fw = firewall("accept", rule("kubelet-ingress", [10250], "tcp", "10.0.0.0/8"))
    verdict = Reach(fw, NO_ADDRESS).query("fd00::1", 10250, "tcp").verdict
    assert verdict.chain == "ingress"
    assert verdict.rule is not None
    assert verdict.rule.family == "ipv6"
    assert verdict.rule.saddr is None
    assert verdict.origin == "NetworkRuleConfig/kubelet-ingress"


@pytest.mark.parametrize("action", ["block", "accept"])
def test_ipv6_source_inside_a_v6_subnet_is_allowed(action: str) -> None:
    fw = firewall(action, rule("apid-ingress", [50000], "tcp", "0.0.0.0/0", "::/0"))
    answer = Reach(fw, NODE6).query("2001:db8:99::1", 50000, "tcp")
    assert answer.allowed
    assert answer.reason == "allowed: apid-ingress (::/0)"


# -- trusted interfaces, conntrack ---------------------------------------------------------


@pytest.mark.parametrize("iface", ["lo", "siderolink", "kubespan"])
def test_trusted_interface(iface: str) -> None:
    answer = Reach(firewall("block"), NODE).query("10.9.9.9", 8080, "tcp", iifname=iface)
    assert answer.allowed
    assert answer.reason == f"allowed: trusted interface {iface}"
    # prerouting accepts first, then ingress accepts: the last chain decides.
    assert answer.verdict.chain == "ingress"
    assert answer.verdict.index == 0
    assert len(answer.verdict.trail) == 2


def test_untrusted_interface_name_is_not_trusted() -> None:
    answer = Reach(firewall("block"), NODE).query("10.9.9.9", 8080, "tcp", iifname="lo0")
    assert not answer.allowed


@pytest.mark.parametrize("action", ["block", "accept"])
def test_established_is_accepted_and_invalid_dropped_in_both_modes(action: str) -> None:
    # main (after 55e0f6350): the conntrack rules exist in accept mode too.
    fw = firewall(action, rule("closed", [8080], "tcp"))
    ruleset = compile_firewall(fw, NODE, "main")
    base = {"source": ip("10.9.9.9"), "destination": ip("192.168.30.10"), "protocol": "tcp", "port": 8080}
    established = evaluate(ruleset, Packet(**base, ct_state="established"))  # type: ignore[arg-type]
    assert established.allowed
    assert established.origin == "established"
    invalid = evaluate(ruleset, Packet(**base, ct_state="invalid"))  # type: ignore[arg-type]
    assert not invalid.allowed
    assert invalid.origin == "invalid"
    new = evaluate(ruleset, Packet(**base))  # type: ignore[arg-type]
    assert not new.allowed


# -- prerouting present vs absent ----------------------------------------------------------


def test_block_mode_without_node_address_is_decided_by_the_ingress_policy() -> None:
    answer = Reach(firewall("block", ETCD), NO_ADDRESS).query("10.9.9.9", 8080, "tcp")
    assert not answer.allowed
    assert answer.verdict.chain == "ingress"
    assert answer.verdict.rule is None
    assert answer.verdict.origin == "ingress policy drop"
    assert answer.packet.destination == ip("192.0.2.1")
    assert answer.reason == "dropped: no rule allows 8080/tcp (default action block)"


def test_block_mode_with_node_address_drops_in_prerouting() -> None:
    answer = Reach(firewall("block", ETCD), NODE).query("10.9.9.9", 8080, "tcp")
    assert not answer.allowed
    assert answer.verdict.chain == "prerouting"
    assert answer.verdict.origin == "default action block"
    assert answer.reason == "dropped: no rule allows 8080/tcp (default action block)"


def test_block_mode_allowed_passes_both_chains() -> None:
    answer = Reach(firewall("block", ETCD), NODE).query("192.168.30.12", 2379, "tcp")
    assert answer.allowed
    assert answer.verdict.trail == (
        "prerouting: rule 4 accept (NetworkRuleConfig/etcd-ingress)",
        "ingress: rule 10 accept (NetworkRuleConfig/etcd-ingress)",
    )


def test_accept_mode_drop_happens_in_prerouting_when_present() -> None:
    fw = firewall("accept", KUBELET)
    with_node = Reach(fw, NODE).query("192.168.7.7", 10250, "tcp").verdict
    without = Reach(fw, NO_ADDRESS).query("192.168.7.7", 10250, "tcp").verdict
    assert (with_node.allowed, with_node.chain) == (False, "prerouting")
    assert (without.allowed, without.chain) == (False, "ingress")


def test_traffic_not_addressed_to_the_node_skips_prerouting() -> None:
    reach = Reach(firewall("block", ETCD), NODE)
    answer = reach.query("10.9.9.9", 8080, "tcp", destination="192.168.30.77")
    assert not answer.allowed
    assert answer.verdict.chain == "ingress"
    assert answer.verdict.trail[0] == "prerouting: rule 2 accept (not addressed to node)"


def test_pod_to_service_is_allowed_in_block_mode() -> None:
    answer = Reach(firewall("block"), NODE).query("10.244.1.2", 8080, "tcp", "10.96.0.10")
    assert answer.allowed
    assert answer.reason == "allowed: pod/service traffic"


def test_pod_to_node_address_needs_a_rule() -> None:
    answer = Reach(firewall("block"), NODE).query("10.244.1.2", 8080, "tcp")
    assert not answer.allowed
    assert answer.reason == "dropped: no rule allows 8080/tcp (default action block)"


@pytest.mark.parametrize(("host_dns", "allowed"), [(True, True), (False, False)])
def test_host_dns_from_pods(host_dns: bool, allowed: bool) -> None:
    ctx = NodeContext(node_ips=NODE.node_ips, host_dns=host_dns)
    answer = Reach(firewall("block"), ctx).query("10.244.1.2", 53, "udp", "169.254.116.108")
    assert answer.allowed is allowed
    if allowed:
        assert answer.reason == "allowed: host DNS from pods/services (169.254.116.108:53)"


# -- destinations and input checking -------------------------------------------------------


def test_default_destination_per_family() -> None:
    reach = Reach(firewall("block"), NODE)
    assert reach.destination_for(ip("10.1.1.1")) == ip("192.168.30.10")
    assert reach.destination_for(ip("fd00::1")) == ip("2001:db8::1")
    assert Reach(firewall("block"), NO_ADDRESS).destination_for(ip("10.1.1.1")) == ip("192.0.2.1")


@pytest.mark.parametrize(
    ("source", "port", "proto", "destination", "message"),
    [
        pytest.param("10.1.1.1", 22, "icmp", None, "invalid protocol", id="protocol"),
        pytest.param("10.1.1.1", 70000, "tcp", None, "invalid port", id="port"),
        pytest.param("10.1.1.300", 22, "tcp", None, "invalid source", id="source"),
        pytest.param("10.1.1.1", 22, "tcp", "fd00::1", "not the same IP family", id="families"),
    ],
)
def test_bad_query_input(source: str, port: int, proto: str, destination: str | None, message: str) -> None:
    with pytest.raises(BadInput, match=message):
        Reach(firewall("block"), NODE).query(source, port, proto, destination)


def test_protocol_is_case_insensitive() -> None:
    assert Reach(firewall("block", VXLAN), NODE).query("192.168.30.5", 4789, "UDP").allowed


# -- property: query agrees with the documents ---------------------------------------------

_SUBNETS = [
    "10.0.0.0/8",
    "10.3.0.0/16",
    "192.168.30.0/24",
    "0.0.0.0/0",
    "::/0",
    "fd00::/8",
    "2001:db8::/32",
    "10.3.4.5/32",
]
_EXCEPTS = [None, None, "10.3.0.0/16", "10.3.4.0/24", "fd00::/16", "0.0.0.0/1"]
_SOURCES = [
    "10.3.4.5",
    "10.3.9.9",
    "10.200.0.1",
    "192.168.30.7",
    "203.0.113.9",
    "fd00::1",
    "fd12::1",
    "2001:db8::7",
    "2001:db9::1",
    "10.244.0.9",
]
_PORTS = [22, 53, 2379, 2380, 10250, 50000, 65535]


def _oracle(fw: Firewall, source: str, port: int, proto: str) -> bool:
    """What the documents say, without nftables: per rule, union of subnets minus excepts."""
    src = ip(source)

    def has(r: RuleConfig) -> bool:
        inside = any(n.version == src.version and src in n for n in r.subnets)
        cut = any(n.version == src.version and src in n for n in r.excepts)
        return inside and not cut

    covering = [r for r in fw.rules if r.portSelector.protocol == proto and any(port in p for p in r.ports)]
    if fw.default_action == "block":
        return any(has(r) for r in covering)
    return all(has(r) for r in covering)


@st.composite
def _cases(draw: st.DrawFn) -> tuple[Firewall, NodeContext]:
    rules = []
    for index in range(draw(st.integers(0, 4))):
        entries = []
        for _ in range(draw(st.integers(0, 3))):
            subnet, exc = draw(st.sampled_from(_SUBNETS)), draw(st.sampled_from(_EXCEPTS))
            entries.append(subnet if exc is None else f"{subnet} except {exc}")
        ports = draw(st.lists(st.sampled_from(_PORTS), min_size=1, max_size=3, unique=True))
        proto = draw(st.sampled_from(["tcp", "udp"]))
        rules.append(rule(f"r{index}", list(ports), proto, *entries))
    action = draw(st.sampled_from(["accept", "block"]))
    node_ips = draw(st.sampled_from([(), (ip("192.168.30.10"),), (ip("2001:db8:30::10"), ip("192.168.30.10"))]))
    return firewall(action, *rules), NodeContext(node_ips=node_ips, host_dns=draw(st.booleans()))


@settings(max_examples=300, deadline=None)
@given(case=_cases())
def test_query_agrees_with_the_documents(case: tuple[Firewall, NodeContext]) -> None:
    fw, ctx = case
    reach = Reach(fw, ctx)
    for source in _SOURCES:
        for port in _PORTS:
            for proto in ("tcp", "udp"):
                answer = reach.query(source, port, proto)
                expected = _oracle(fw, source, port, proto)
                assert answer.allowed is expected, (source, port, proto, answer.reason)
                assert answer.reason.startswith("allowed: " if expected else "dropped: ")
                assert " is inside " not in answer.reason
