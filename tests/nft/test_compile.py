"""talospatch.nft.compile: golden tests against the reference (§2.4, §2.6, §2.7 of
/work/shared/reference/talos-firewall.md), rules as ``rule_text`` lists them.
"""

from __future__ import annotations

import pytest

from talospatch.errors import BadInput
from talospatch.nft.compile import NodeContext, Ruleset, compile_firewall
from talospatch.nft.text import render, rule_text
from talospatch.talos.documents import PortRange, PortSelector, RuleConfig
from testing.documents import firewall, ip, net, rule
from testing.nftlisting import normalize_listing
from testing.nftreference import APID_2_7, KUBELET_2_7, NODE, REFERENCE_2_7


def rules_of(ruleset: Ruleset, chain: str) -> list[str]:
    """The chain's rules as listed text lines."""
    found = ruleset.chain(chain)
    assert found is not None, f"no chain {chain}"
    return [rule_text(r) for r in found.rules]


# -- golden: §2.7 --------------------------------------------------------------------------


def test_reference_2_7_block_mode_renders_the_reference_rules() -> None:
    ruleset = compile_firewall(firewall("block", KUBELET_2_7, APID_2_7), NODE)
    assert normalize_listing(render(ruleset)) == normalize_listing(REFERENCE_2_7)


def test_reference_2_7_accept_mode() -> None:
    # main: the conntrack rules exist in accept mode too (55e0f6350, #13926).
    ruleset = compile_firewall(firewall("accept", KUBELET_2_7, APID_2_7), NODE, "main")
    kubelet_set = "{ 10.0.0.0-10.2.255.255, 10.4.0.0-10.255.255.255, 192.168.0.0/16 }"
    assert rules_of(ruleset, "ingress") == [
        'iifname { "lo", "kubespan", "siderolink" } counter accept',
        "ct state { established, related } counter accept",
        "ct state invalid counter drop",
        f"ip saddr != {kubelet_set} tcp dport 10250 counter drop",
        "meta nfproto ipv6 tcp dport 10250 counter drop",
        "meta nfproto ipv6 tcp dport 50000 counter drop",
    ]
    assert rules_of(ruleset, "prerouting") == [
        'iifname { "lo", "kubespan", "siderolink" } counter accept',
        "ip daddr != 10.3.4.5 counter accept",
        "meta nfproto ipv6 counter accept",
        f"ct state new ip saddr != {kubelet_set} tcp dport 10250 counter drop",
        "ct state new meta nfproto ipv6 tcp dport 10250 counter drop",
        "ct state new meta nfproto ipv6 tcp dport 50000 counter drop",
    ]
    assert ruleset.chain("ingress").policy == "accept"  # type: ignore[union-attr]


def test_accept_mode_drops_outside_the_subnets_and_has_no_block_mode_builtins() -> None:
    ctx = NodeContext(node_ips=NODE.node_ips)  # host DNS on, as by default
    ruleset = compile_firewall(firewall("accept", rule("apid-ingress", [50000], "tcp", "192.168.30.0/24")), ctx)
    assert ruleset.chain("ingress").policy == "accept"  # type: ignore[union-attr]
    lines = rules_of(ruleset, "ingress")
    assert lines[-2:] == [
        "ip saddr != 192.168.30.0/24 tcp dport 50000 counter drop",
        "meta nfproto ipv6 tcp dport 50000 counter drop",
    ]
    # No block-mode built-ins: host DNS, ICMP rate limits, the ICMP CVE drop.
    assert not [line for line in lines if "169.254.116.108" in line or "limit rate" in line or "icmp type" in line]


def test_chain_hooks_priorities_and_policies() -> None:
    block = compile_firewall(firewall("block", APID_2_7), NODE)
    ingress, prerouting = block.chains
    assert (ingress.name, ingress.hook, ingress.priority, ingress.policy) == (
        "ingress",
        "input",
        -140,
        "drop",
    )
    assert (prerouting.name, prerouting.hook, prerouting.priority, prerouting.policy) == (
        "prerouting",
        "prerouting",
        -110,
        "accept",
    )


# -- golden: §2.6 controller test -----------------------------------------------------------


def test_reference_2_6_accept_mode_lines() -> None:
    fw = firewall(
        "accept",
        rule("a", ["1023-1024"], "tcp", "10.0.0.0/8"),
        rule("b", [5000, 5001, 10250, 4240], "tcp", "10.0.0.0/8"),
    )
    expected = """
        ip saddr != { 10.0.0.0/8 } tcp dport { 1023-1024 } drop
        meta nfproto ipv6 tcp dport { 1023-1024 } drop
        ip saddr != { 10.0.0.0/8 } tcp dport { 4240, 5000-5001, 10250 } drop
        meta nfproto ipv6 tcp dport { 4240, 5000-5001, 10250 } drop
    """
    # main: the three preamble rules include accept mode's conntrack rules (#13926).
    got = rules_of(compile_firewall(fw, NodeContext(), "main"), "ingress")[3:]
    assert [line.replace(" counter", "") for line in got] == normalize_listing(expected)


def test_reference_2_6_block_mode_except_makes_ranges() -> None:
    fw = firewall(
        "block",
        rule("any", [1023], "tcp", "0.0.0.0/0"),
        rule("most", [1023], "tcp", "0.0.0.0/0 except 10.1.2.3/32", "::/0 except fe80::1/128"),
    )
    ctx = NodeContext(pod_subnets=(), service_subnets=())
    expected = """
        meta nfproto ipv4 tcp dport { 1023 } counter accept
        ip saddr { 0.0.0.0-10.1.2.2, 10.1.2.4-255.255.255.255 } tcp dport { 1023 } counter accept
        ip6 saddr { ::-fe80::, fe80::2-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff } tcp dport { 1023 } counter accept
    """
    got = rules_of(compile_firewall(fw, ctx), "ingress")[6:]
    assert got == normalize_listing(expected)


# -- the per-family decision (§2.4) ---------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "ingress", "expected"),
    [
        pytest.param("block", [], [], id="block-empty-ingress-no-rule"),
        pytest.param(
            "accept",
            [],
            [
                "meta nfproto ipv4 tcp dport 10250 counter drop",
                "meta nfproto ipv6 tcp dport 10250 counter drop",
            ],
            id="accept-empty-ingress-drops-both-families",
        ),
        pytest.param(
            "block",
            ["0.0.0.0/0"],
            ["meta nfproto ipv4 tcp dport 10250 counter accept"],
            id="block-any-v4",
        ),
        pytest.param(
            "block",
            ["0.0.0.0/0", "::/0"],
            [
                "meta nfproto ipv4 tcp dport 10250 counter accept",
                "meta nfproto ipv6 tcp dport 10250 counter accept",
            ],
            id="block-any-dual-stack",
        ),
        pytest.param(
            "accept",
            ["0.0.0.0/0"],
            ["meta nfproto ipv6 tcp dport 10250 counter drop"],
            id="accept-any-v4-drops-v6",
        ),
        pytest.param("accept", ["0.0.0.0/0", "::/0"], [], id="accept-any-dual-stack-no-rule"),
        pytest.param(
            "accept",
            ["::/0"],
            ["meta nfproto ipv4 tcp dport 10250 counter drop"],
            id="accept-any-v6-drops-v4",
        ),
        pytest.param(
            "block",
            ["172.20.0.0/24", "fd00::/64"],
            [
                "ip saddr 172.20.0.0/24 tcp dport 10250 counter accept",
                "ip6 saddr fd00::/64 tcp dport 10250 counter accept",
            ],
            id="block-dual-stack-subnets",
        ),
        pytest.param(
            "accept",
            ["172.20.0.0/24", "fd00::/64"],
            [
                "ip saddr != 172.20.0.0/24 tcp dport 10250 counter drop",
                "ip6 saddr != fd00::/64 tcp dport 10250 counter drop",
            ],
            id="accept-dual-stack-subnets",
        ),
        pytest.param(
            "accept",
            ["172.20.0.0/24 except 172.20.0.1/32"],
            [
                "ip saddr != { 172.20.0.0, 172.20.0.2-172.20.0.255 } tcp dport 10250 counter drop",
                "meta nfproto ipv6 tcp dport 10250 counter drop",
            ],
            id="accept-except-gateway-as-in-pr-10437",
        ),
        pytest.param(
            "block",
            ["10.0.0.0/8 except 10.0.0.0/8"],
            [],
            id="block-except-removes-everything-no-rule",
        ),
        pytest.param(
            "accept",
            ["10.0.0.0/8 except 10.0.0.0/8"],
            [
                "meta nfproto ipv4 tcp dport 10250 counter drop",
                "meta nfproto ipv6 tcp dport 10250 counter drop",
            ],
            id="accept-except-removes-everything-drops-all",
        ),
        pytest.param(
            "accept",
            ["0.0.0.0/0 except 10.0.0.0/8", "::/0"],
            ["ip saddr != { 0.0.0.0-9.255.255.255, 11.0.0.0-255.255.255.255 } tcp dport 10250 counter drop"],
            id="accept-v6-covers-all-only-v4-rule",
        ),
    ],
)
def test_per_family_decision(action: str, ingress: list[str], expected: list[str]) -> None:
    fw = firewall(action, rule("kubelet-ingress", [10250], "tcp", *ingress))
    ruleset = compile_firewall(fw, NodeContext())
    got = [
        rule_text(r)
        for r in ruleset.chain("ingress").rules  # type: ignore[union-attr]
        if r.rule_name == "kubelet-ingress"
    ]
    assert got == expected


def test_rule_origin_names_the_document() -> None:
    ruleset = compile_firewall(firewall("block", KUBELET_2_7, APID_2_7), NODE)
    origins = [r.origin for r in ruleset.chain("ingress").rules]  # type: ignore[union-attr]
    assert origins == [
        "trusted interface",
        "established",
        "invalid",
        "icmp cve-1999-0524",
        "icmp rate limit",
        "icmpv6 rate limit",
        "pod/service",
        "NetworkRuleConfig/kubelet-ingress",
        "NetworkRuleConfig/apid-ingress",
    ]
    prerouting = ruleset.chain("prerouting")
    assert prerouting is not None
    assert [r.origin for r in prerouting.rules][-2:] == ["default action block"] * 2


# -- address sets in rules ---------------------------------------------------------------


def test_host_bits_are_masked() -> None:
    fw = firewall("block", rule("r", [22], "tcp", "192.168.1.77/24"))
    assert "ip saddr 192.168.1.0/24 tcp dport 22 counter accept" in rules_of(
        compile_firewall(fw, NodeContext()), "ingress"
    )


# -- ends and merging ----------------------------------------------------------------------


def test_port_65535_and_address_255_255_255_255_ends() -> None:
    fw = firewall(
        "block",
        rule("top", [65535], "udp", "255.255.255.255/32"),
        rule("range", ["60000-65535"], "tcp", "255.255.255.0/24 except 255.255.255.0/32"),
        rule("v6", [0, 65535], "tcp", "ffff::/16 except ffff::/128"),
    )
    got = rules_of(compile_firewall(fw, NodeContext()), "ingress")[-3:]
    assert got == [
        "ip saddr 255.255.255.255 udp dport 65535 counter accept",
        "ip saddr 255.255.255.1-255.255.255.255 tcp dport 60000-65535 counter accept",
        "ip6 saddr ffff::1-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff tcp dport { 0, 65535 } counter accept",
    ]
    ingress = compile_firewall(fw, NodeContext()).chain("ingress")
    assert ingress is not None
    assert ingress.rules[-3].saddr is not None
    assert ingress.rules[-3].saddr.ranges == ((2**32 - 1, 2**32 - 1),)
    assert ingress.rules[-2].dports == (PortRange(60000, 65535),)


@pytest.mark.parametrize(
    ("ports", "expected"),
    [
        pytest.param([50000, 50001], "50000-50001", id="issue-9009-adjacent-singles"),
        pytest.param([80, "81-90", 91], "80-91", id="single-range-single"),
        pytest.param([443, 80], "{ 80, 443 }", id="sorted-not-merged"),
        pytest.param(["8000-9000", 53, 54, 7999], "{ 53-54, 7999-9000 }", id="mixed"),
        pytest.param(["0-65535"], "0-65535", id="all-ports"),
    ],
)
def test_ports_are_sorted_and_adjacent_ones_merged(ports: list[int | str], expected: str) -> None:
    fw = firewall("block", rule("r", ports, "tcp", "10.0.0.0/8"))
    assert rules_of(compile_firewall(fw, NodeContext()), "ingress")[-1] == (
        f"ip saddr 10.0.0.0/8 tcp dport {expected} counter accept"
    )


# -- dual stack, node context --------------------------------------------------------------


def test_dual_stack_node_pods_services_and_host_dns() -> None:
    ctx = NodeContext(
        node_ips=(ip("10.3.4.5"), ip("2001:db8::5"), ip("10.3.4.6")),
        pod_subnets=(net("10.244.0.0/16"), net("fd00:10:244::/56")),
        service_subnets=(net("10.96.0.0/12"), net("fd00:10:96::/112")),
    )
    fw = firewall("block", rule("apid-ingress", [50000], "tcp", "0.0.0.0/0", "::/0"))
    ruleset = compile_firewall(fw, ctx)
    k8s4 = "{ 10.96.0.0/12, 10.244.0.0/16 }"
    k8s6 = "{ fd00:10:96::/112, fd00:10:244::/56 }"
    dns6 = "fd54:616c:6f73:0:204f:5320:444e:531"
    assert rules_of(ruleset, "ingress")[6:] == [
        f"ip saddr {k8s4} ip daddr 169.254.116.108 udp dport 53 counter accept",
        f"ip6 saddr {k8s6} ip6 daddr {dns6} udp dport 53 counter accept",
        f"ip saddr {k8s4} ip daddr 169.254.116.108 tcp dport 53 counter accept",
        f"ip6 saddr {k8s6} ip6 daddr {dns6} tcp dport 53 counter accept",
        f"ip saddr {k8s4} ip daddr {k8s4} counter accept",
        f"ip6 saddr {k8s6} ip6 daddr {k8s6} counter accept",
        "meta nfproto ipv4 tcp dport 50000 counter accept",
        "meta nfproto ipv6 tcp dport 50000 counter accept",
    ]
    assert rules_of(ruleset, "prerouting")[1:3] == [
        "ip daddr != 10.3.4.5-10.3.4.6 counter accept",  # netipx merges touching addresses
        "ip6 daddr != 2001:db8::5 counter accept",
    ]


def test_v6_only_node_accepts_all_ipv4_in_prerouting() -> None:
    ctx = NodeContext(node_ips=(ip("2001:db8::5"),))
    ruleset = compile_firewall(firewall("block", APID_2_7), ctx)
    assert rules_of(ruleset, "prerouting")[1:3] == [
        "meta nfproto ipv4 counter accept",
        "ip6 daddr != 2001:db8::5 counter accept",
    ]


def test_host_dns_v6_service_without_v6_pods_is_talos_faithful() -> None:
    # Talos adds the IPv6 host-DNS address only for IPv6 *pod* subnets; an IPv6 service
    # subnet then yields an IPv6 rule with no daddr match (nftablesRule.Compile quirk).
    ctx = NodeContext(service_subnets=(net("fd00:10:96::/112"),))
    lines = rules_of(compile_firewall(firewall("block"), ctx), "ingress")
    assert "ip6 saddr fd00:10:96::/112 udp dport 53 counter accept" in lines


def test_host_dns_off_and_no_k8s_subnets_drop_those_rules() -> None:
    ctx = NodeContext(pod_subnets=(), service_subnets=(), host_dns=False)
    lines = rules_of(compile_firewall(firewall("block"), ctx), "ingress")
    assert len(lines) == 6
    assert not any("saddr" in line for line in lines)


def test_no_node_address_means_no_prerouting_chain() -> None:
    ruleset = compile_firewall(firewall("block", APID_2_7), NodeContext())
    assert [c.name for c in ruleset.chains] == ["ingress"]


def test_inactive_firewall_is_an_empty_table() -> None:
    fw = firewall("accept", default_doc=False)
    assert not fw.active
    ruleset = compile_firewall(fw, NODE)
    assert ruleset.chains == ()
    assert render(ruleset, header=False) == "table inet talos {\n}\n"


def test_accept_default_document_without_rules_still_builds_chains() -> None:
    # main: accept mode has the conntrack rules too (55e0f6350, #13926).
    ruleset = compile_firewall(firewall("accept"), NODE, "main")
    assert rules_of(ruleset, "ingress") == [
        'iifname { "lo", "kubespan", "siderolink" } counter accept',
        "ct state { established, related } counter accept",
        "ct state invalid counter drop",
    ]
    assert rules_of(ruleset, "prerouting") == [
        'iifname { "lo", "kubespan", "siderolink" } counter accept',
        "ip daddr != 10.3.4.5 counter accept",
        "meta nfproto ipv6 counter accept",
    ]


def test_icmp_protocol_rule_matches_the_checksum_as_nft_shows() -> None:
    fw = firewall("block", rule("ping", ["0-65535"], "icmp", "10.0.0.0/8"), rule("ping6", [1], "icmpv6", "fd00::/8"))
    assert rules_of(compile_firewall(fw, NodeContext()), "ingress")[-2:] == [
        "ip saddr 10.0.0.0/8 icmp checksum 0-65535 counter accept",
        "ip6 saddr fd00::/8 icmpv6 checksum 1 counter accept",
    ]


def test_rule_without_protocol_is_bad_input() -> None:
    bare = RuleConfig(name="bare", portSelector=PortSelector(ports=(PortRange(1, 1),)))
    with pytest.raises(BadInput, match=r"NetworkRuleConfig/bare: portSelector\.protocol"):
        compile_firewall(firewall("block", bare), NodeContext())
