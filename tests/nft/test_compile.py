"""talospatch.nft.compile: golden tests against the reference, and real-kernel round trips.

The goldens come from /work/shared/reference/talos-firewall.md (§2.4, §2.6, §2.7). The
round-trip tests load ``render()`` into a fresh network namespace with ``nft -f`` and
compare ``nft list ruleset`` with it rule for rule, per chain (root + nft + ip netns
needed: skipped without them, failed under ``CI=true``; see ``tests/netlab.py``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from talospatch.errors import BadInput
from talospatch.generate.expand import GenOptions, expand
from talospatch.generate.profiles import Catalog
from talospatch.nft.compile import NodeContext, Ruleset, compile_firewall
from talospatch.nft.sets import AddressSet, build_ip_set
from talospatch.nft.text import priority_text, render, rule_text
from talospatch.talos.documents import Firewall, PortRange, PortSelector, RuleConfig
from testing.documents import firewall, ip, net, rule
from testing.netlab import nft_in, scratch_netns
from testing.nftlisting import normalize_listing


def rules_of(ruleset: Ruleset, chain: str) -> list[str]:
    """The chain's rules as listed text lines."""
    found = ruleset.chain(chain)
    assert found is not None, f"no chain {chain}"
    return [rule_text(r) for r in found.rules]


NODE = NodeContext(node_ips=(ip("10.3.4.5"),), host_dns=False)
KUBELET_2_7 = rule("kubelet-ingress", [10250], "tcp", "10.0.0.0/8 except 10.3.0.0/16", "192.168.0.0/16")
APID_2_7 = rule("apid-ingress", [50000], "tcp", "0.0.0.0/0")

# §2.7, verbatim: what the reference loaded with nft -f.
REFERENCE_2_7 = """
table inet talos {
  chain ingress {
    type filter hook input priority -140; policy drop;
    iifname { "lo", "siderolink", "kubespan" } counter accept
    ct state { established, related } counter accept
    ct state invalid counter drop
    meta l4proto icmp icmp type { timestamp-request, timestamp-reply, address-mask-request, address-mask-reply } counter drop
    meta l4proto icmp limit rate 5/second burst 5 packets counter accept
    meta l4proto ipv6-icmp limit rate 5/second burst 5 packets counter accept
    ip saddr { 10.244.0.0/16, 10.96.0.0/12 } ip daddr { 10.244.0.0/16, 10.96.0.0/12 } counter accept
    ip saddr { 10.0.0.0-10.2.255.255, 10.4.0.0-10.255.255.255, 192.168.0.0/16 } tcp dport { 10250 } counter accept
    meta nfproto ipv4 tcp dport { 50000 } counter accept
  }
  chain prerouting {
    type filter hook prerouting priority -110; policy accept;
    iifname { "lo", "siderolink", "kubespan" } counter accept
    ip daddr != { 10.3.4.5 } counter accept
    meta nfproto ipv6 counter accept
    ct state new ip saddr { 10.0.0.0-10.2.255.255, 10.4.0.0-10.255.255.255, 192.168.0.0/16 } tcp dport { 10250 } counter accept
    ct state new meta nfproto ipv4 tcp dport { 50000 } counter accept
    ct state new meta l4proto tcp counter drop
    ct state new meta l4proto udp counter drop
  }
}
"""

# The same table as `nft list ruleset` (nftables 1.0.6) printed it after loading
# REFERENCE_2_7 into a namespace, with the counters' "packets 0 bytes 0" removed.
LISTED_2_7 = """\
table inet talos {
\tchain ingress {
\t\ttype filter hook input priority mangle + 10; policy drop;
\t\tiifname { "lo", "kubespan", "siderolink" } counter accept
\t\tct state { established, related } counter accept
\t\tct state invalid counter drop
\t\ticmp type { timestamp-request, timestamp-reply, address-mask-request, address-mask-reply } counter drop
\t\tmeta l4proto icmp limit rate 5/second counter accept
\t\tmeta l4proto ipv6-icmp limit rate 5/second counter accept
\t\tip saddr { 10.96.0.0/12, 10.244.0.0/16 } ip daddr { 10.96.0.0/12, 10.244.0.0/16 } counter accept
\t\tip saddr { 10.0.0.0-10.2.255.255, 10.4.0.0-10.255.255.255, 192.168.0.0/16 } tcp dport 10250 counter accept
\t\tmeta nfproto ipv4 tcp dport 50000 counter accept
\t}

\tchain prerouting {
\t\ttype filter hook prerouting priority dstnat - 10; policy accept;
\t\tiifname { "lo", "kubespan", "siderolink" } counter accept
\t\tip daddr != 10.3.4.5 counter accept
\t\tmeta nfproto ipv6 counter accept
\t\tct state new ip saddr { 10.0.0.0-10.2.255.255, 10.4.0.0-10.255.255.255, 192.168.0.0/16 } tcp dport 10250 counter accept
\t\tct state new meta nfproto ipv4 tcp dport 50000 counter accept
\t\tct state new meta l4proto tcp counter drop
\t\tct state new meta l4proto udp counter drop
\t}
}
"""


# -- golden: §2.7 --------------------------------------------------------------------------


def test_reference_2_7_block_mode_renders_the_reference_rules() -> None:
    ruleset = compile_firewall(firewall("block", KUBELET_2_7, APID_2_7), NODE)
    assert normalize_listing(render(ruleset)) == normalize_listing(REFERENCE_2_7)


def test_reference_2_7_render_is_exactly_what_nft_lists_back() -> None:
    ruleset = compile_firewall(firewall("block", KUBELET_2_7, APID_2_7), NODE)
    assert render(ruleset, header=False) == LISTED_2_7


def test_render_header_names_the_modelled_talos_version() -> None:
    text = render(compile_firewall(firewall("block", APID_2_7), NODE, "main"))
    assert text.startswith("# table inet talos as Talos main (v1.15 development, after 55e0f6350) builds it\n")
    assert "flush" not in text
    assert "delete" not in text


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


# -- address sets (BuildIPSet) -------------------------------------------------------------


def test_an_except_on_one_entry_applies_to_all_entries() -> None:
    sets = build_ip_set([net("10.0.0.0/8"), net("10.3.0.0/16")], [net("10.3.0.0/16")])
    assert sets.v4 == ((int(ip("10.0.0.0")), int(ip("10.2.255.255"))), (int(ip("10.4.0.0")), int(ip("10.255.255.255"))))
    assert not sets.contains(ip("10.3.1.1"))
    assert sets.v6 == ()


def test_ip_set_merges_overlapping_and_touching_subnets() -> None:
    sets = build_ip_set([net("10.128.0.0/9"), net("10.0.0.0/9"), net("10.1.0.0/16")])
    aset = AddressSet("ipv4", sets.v4)
    assert aset.elements() == ["10.0.0.0/8"]


def test_ip_set_ignores_excepts_of_the_other_family() -> None:
    sets = build_ip_set([net("10.0.0.0/8")], [net("::/0")])
    assert sets.v4 == ((int(ip("10.0.0.0")), int(ip("10.255.255.255"))),)
    assert sets.covers_all("ipv4") is False


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


def test_render_is_deterministic() -> None:
    fw = firewall("accept", KUBELET_2_7, APID_2_7)
    assert render(compile_firewall(fw, NODE)) == render(compile_firewall(fw, NODE))


# -- normalize_listing and priorities ------------------------------------------------------


@pytest.mark.parametrize(
    ("priority", "text"),
    [
        pytest.param(-140, "mangle + 10", id="ingress"),
        pytest.param(-110, "dstnat - 10", id="prerouting"),
        pytest.param(0, "filter", id="filter"),
        pytest.param(-150, "mangle", id="mangle"),
        pytest.param(-200, "-200", id="no-name"),
    ],
)
def test_priority_text(priority: int, text: str) -> None:
    assert priority_text(priority) == text


@pytest.mark.parametrize(
    ("written", "listed"),
    [
        pytest.param(
            "ip daddr != { 10.3.4.5/32 } counter packets 12 bytes 3400 accept",
            "ip daddr != 10.3.4.5 counter accept",
            id="single-element-and-counter",
        ),
        pytest.param(
            "ip6 saddr { fd54:616c:6f73::204f:5320:444e:531/128, ::1 } counter accept",
            "ip6 saddr { ::1, fd54:616c:6f73:0:204f:5320:444e:531 } counter accept",
            id="ipv6-spelling-and-order",
        ),
        pytest.param(
            "ip saddr { 10.0.0.0-10.255.255.255, 1.2.3.4 } tcp dport { 443, 80 } counter accept",
            "ip saddr { 1.2.3.4, 10.0.0.0/8 } tcp dport { 80, 443 } counter accept",
            id="range-as-prefix-and-sorting",
        ),
        pytest.param(
            "meta l4proto icmp icmp type { address-mask-reply, timestamp-request } counter drop",
            "icmp type { timestamp-request, address-mask-reply } counter drop",
            id="icmp-dependency",
        ),
        pytest.param(
            "meta nfproto ipv4 ip saddr 1.1.1.1 meta l4proto tcp tcp dport 1 counter accept",
            "ip saddr 1.1.1.1 tcp dport 1 counter accept",
            id="implied-nfproto-and-l4proto",
        ),
    ],
)
def test_normalize_listing_rules(written: str, listed: str) -> None:
    assert normalize_listing(written) == [listed]
    assert normalize_listing(listed) == [listed]


def test_normalize_listing_keeps_chain_structure() -> None:
    assert normalize_listing(REFERENCE_2_7)[:3] == [
        "table inet talos",
        "chain ingress",
        "type filter hook input priority mangle + 10; policy drop;",
    ]
    assert "chain prerouting" in normalize_listing(REFERENCE_2_7)


# -- real kernel round trip ----------------------------------------------------------------


def _without_counter_numbers(listing: str) -> str:
    return re.sub(r"counter packets \d+ bytes \d+", "counter", listing)


def _body(rendered: str) -> str:
    return "".join(line for line in rendered.splitlines(keepends=True) if not line.startswith("#"))


def _assert_round_trip(netns: str, rendered: str, tmp_path: Path) -> None:
    """Load ``rendered`` with ``nft -f`` and check the listing matches it rule for rule."""
    path = tmp_path / "talos.nft"
    path.write_text(rendered)
    nft_in(netns, "-f", str(path))
    listed = nft_in(netns, "list", "ruleset")
    assert normalize_listing(listed) == normalize_listing(rendered)
    # Stronger: byte for byte, once the counters' numbers and our header are removed.
    assert _without_counter_numbers(listed) == _body(rendered)


ROUND_TRIPS = [
    pytest.param(firewall("block", KUBELET_2_7, APID_2_7), NODE, id="reference-2-7-block"),
    pytest.param(firewall("accept", KUBELET_2_7, APID_2_7), NODE, id="reference-2-7-accept"),
    pytest.param(
        firewall(
            "block",
            rule("etcd-ingress", ["2379-2380"], "tcp", "192.168.30.11/32", "192.168.30.12/32"),
            rule("cni-vxlan", [4789, 8472], "udp", "172.20.0.0/24 except 172.20.0.1/32"),
            rule("apid-ingress", [50000, 50001], "tcp", "0.0.0.0/0", "::/0"),
            rule("nodeports", ["30000-32767", 65535], "tcp", "0.0.0.0/0 except 10.1.2.3/32", "::/0 except fe80::1/128"),
        ),
        NodeContext(
            node_ips=(ip("172.20.0.5"), ip("fd00:20::5"), ip("172.20.0.6"), ip("172.20.0.9")),
            pod_subnets=(net("10.244.0.0/16"), net("fd00:10:244::/56")),
            service_subnets=(net("10.96.0.0/12"), net("fd00:10:96::/112")),
        ),
        id="block-dual-stack-excepts-multiport",
    ),
    pytest.param(
        firewall(
            "accept",
            rule("kubelet-ingress", [10250], "tcp", "fd00::/8 except fd00::1/128"),
            rule("closed", [9000, "9001-9100"], "udp"),
            rule("top", [65535], "udp", "255.255.255.0/24 except 255.255.255.0/31"),
            rule("open", [22], "tcp", "0.0.0.0/0", "::/0"),
        ),
        NodeContext(node_ips=(ip("2001:db8::5"),)),
        id="accept-v6-node-empty-ingress-ends",
    ),
    pytest.param(
        firewall("block", rule("ping", ["0-65535"], "icmp", "10.0.0.0/8")),
        NodeContext(),
        id="block-no-prerouting-icmp-rule",
    ),
    pytest.param(firewall("accept", default_doc=False), NODE, id="inactive-empty-table"),
]


@pytest.mark.parametrize(("fw", "ctx"), ROUND_TRIPS)
def test_kernel_round_trip(fw: Firewall, ctx: NodeContext, netns: str, tmp_path: Path) -> None:
    _assert_round_trip(netns, render(compile_firewall(fw, ctx)), tmp_path)


def test_kernel_round_trip_with_rule_comments(netns: str, tmp_path: Path) -> None:
    rendered = render(compile_firewall(firewall("accept", KUBELET_2_7), NODE), comments=True)
    assert 'comment "NetworkRuleConfig/kubelet-ingress"' in rendered
    path = tmp_path / "talos.nft"
    path.write_text(rendered)
    nft_in(netns, "-f", str(path))
    assert _without_counter_numbers(nft_in(netns, "list", "ruleset")) == _body(rendered)


def test_kernel_loads_the_reference_text_as_listed(netns: str, tmp_path: Path) -> None:
    # Pins LISTED_2_7 (used above) to what this nft actually prints for REFERENCE_2_7.
    path = tmp_path / "reference.nft"
    path.write_text(REFERENCE_2_7)
    nft_in(netns, "-f", str(path))
    assert _without_counter_numbers(nft_in(netns, "list", "ruleset")) == LISTED_2_7


# A property test: random firewalls, all loaded into one namespace in turn.

_SUBNETS = [
    "10.0.0.0/8",
    "10.3.0.0/16",
    "192.168.1.77/24",
    "0.0.0.0/0",
    "255.255.255.255/32",
    "172.16.0.0/12",
    "::/0",
    "fd00::/8",
    "2001:db8::/32",
    "ffff::/16",
    "fe80::1/128",
]
_EXCEPTS = [None, "10.3.0.0/16", "10.1.2.3/32", "fd00::1/128", "0.0.0.0/1", "ffff::/128"]


@st.composite
def _firewalls(draw: st.DrawFn) -> tuple[Firewall, NodeContext]:
    rules = []
    for index in range(draw(st.integers(0, 4))):
        entries = []
        for _ in range(draw(st.integers(0, 3))):
            subnet = draw(st.sampled_from(_SUBNETS))
            exc = draw(st.sampled_from(_EXCEPTS))
            entries.append(subnet if exc is None else f"{subnet} except {exc}")
        starts = draw(st.lists(st.integers(0, 65535), min_size=1, max_size=4, unique=True))
        ports: list[int | str] = []
        taken: set[int] = set()
        for lo in sorted(starts):
            hi = min(65535, lo + draw(st.integers(0, 3)))
            if any(p in taken for p in range(lo, hi + 1)):
                continue
            taken.update(range(lo, hi + 1))
            ports.append(lo if lo == hi else f"{lo}-{hi}")
        proto = draw(st.sampled_from(["tcp", "udp"]))
        rules.append(rule(f"r{index}", ports, proto, *entries))
    action = draw(st.sampled_from(["accept", "block"]))
    node_ips = draw(st.sampled_from([(), (ip("10.3.4.5"),), (ip("fd00::5"), ip("10.3.4.5"))]))
    pods = draw(st.sampled_from([(net("10.244.0.0/16"),), (net("10.244.0.0/16"), net("fd00:10:244::/56"))]))
    ctx = NodeContext(node_ips=node_ips, pod_subnets=pods, host_dns=draw(st.booleans()))
    return firewall(action, *rules), ctx


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=_firewalls())
def test_kernel_round_trip_random_firewalls(case: tuple[Firewall, NodeContext]) -> None:
    fw, ctx = case
    rendered = render(compile_firewall(fw, ctx))
    # hypothesis runs many examples per test: a namespace of its own for each.
    with scratch_netns() as name:
        nft_in(name, "-f", "-", stdin=rendered)
        listed = nft_in(name, "list", "ruleset")
    assert normalize_listing(listed) == normalize_listing(rendered)
    assert _without_counter_numbers(listed) == _body(rendered)


# -- the capability check itself -----------------------------------------------------------


# Every built-in profile, as gen builds it, loads and lists back rule for rule.


def _profile_cases() -> list[Any]:
    catalog = Catalog.load()
    cases = []
    for role in catalog.names("role"):
        addons = tuple(
            name
            for name in catalog.names("addon")
            if not catalog.get(name, "addon").profile.roles or role in catalog.get(name, "addon").profile.roles
        )
        for cni in catalog.names("cni"):
            for stack, subnets in (("v4", ("192.168.30.0/24",)), ("dual", ("192.168.30.0/24", "fd00:30::/64"))):
                opts = GenOptions(
                    role=role,
                    cni=cni,
                    subnets=subnets,
                    admins=("196.45.28.20",),
                    pod_subnets=("10.244.0.0/16", "fd00:244::/56") if stack == "dual" else (),
                    addons=addons if cni == "cilium" else (),
                )
                cases.append(pytest.param(opts, id=f"{role}-{cni}-{stack}{'-addons' if opts.addons else ''}"))
    return cases


@pytest.mark.parametrize("opts", _profile_cases())
def test_every_builtin_profile_round_trips_in_the_kernel(opts: GenOptions, netns: str, tmp_path: Path) -> None:
    generated = expand(opts)
    node_ips = (ip("192.168.30.21"),) + ((ip("fd00:30::21"),) if len(opts.subnets) > 1 else ())
    ctx = NodeContext(node_ips=node_ips, pod_subnets=generated.pod_subnets)
    _assert_round_trip(netns, render(compile_firewall(generated.firewall, ctx)), tmp_path)
