"""talospatch.talos.versions, and what each release changes in nft, reach and hazards.

The expected values are written from the reference notes (talos-live.md §3,
talos-firewall.md §2 and §5), not computed from ``talospatch.talos.versions``: when the table
changes what a release builds, these tests say so. The kernel test loads every release's
ruleset with ``nft -f`` in a fresh namespace and compares the listing with ``render``
(root + nft + ip netns needed: skipped without them, failed under ``CI=true``).
"""

from __future__ import annotations

import re

import pytest

from talospatch.checks.hazards import (
    apply_version,
    avoid_range_end,
    consolidation_groups,
    enobufs_hazard,
    fit_generated,
    range_end_hazards,
    refuse_range_end,
    repeated_documents,
    rule_count,
)
from talospatch.errors import BadInput
from talospatch.generate.expand import GenOptions, expand
from talospatch.generate.options import TALOS_VERSION_HELP
from talospatch.nft.compile import NodeContext, Ruleset, compile_firewall
from talospatch.nft.reach import Reach
from talospatch.nft.text import render, rule_text
from talospatch.talos.documents import PortRange, RuleConfig
from talospatch.talos.versions import (
    DEFAULT_VERSION,
    DEFAULT_VERSION_NAME,
    LINE_VERSIONS,
    MAIN,
    RELEASES,
    TalosVersion,
    parse_talos_version,
    support_matrix,
)
from testing.documents import firewall, ip, net, rule
from testing.netlab import nft_in

NODE4 = "192.168.30.21"
NODE = NodeContext(node_ips=(ip(NODE4),))
NODE_DUAL = NodeContext(
    node_ips=(ip(NODE4), ip("fd00:30::21")),
    pod_subnets=(net("10.244.0.0/16"), net("fd00:244::/56")),
)
APID = rule("apid-ingress", [50000], "tcp", "192.168.30.0/24")
BLOCK = firewall("block", APID)
ACCEPT = firewall("accept", APID)
ICMP_DROP = "icmp type { timestamp-request, timestamp-reply, address-mask-request, address-mask-reply } counter drop"
CONNTRACK = ["ct state { established, related } counter accept", "ct state invalid counter drop"]


def lines(ruleset: Ruleset, chain: str) -> list[str]:
    found = ruleset.chain(chain)
    assert found is not None, f"no chain {chain}"
    return [rule_text(r) for r in found.rules]


def v(text: str) -> TalosVersion:
    return parse_talos_version(text).version


# -- the parser ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "name"),
    [
        pytest.param("1.9", "v1.9.6", id="minor-is-newest-patch"),
        pytest.param("v1.9", "v1.9.6", id="leading-v"),
        pytest.param("1.9.3", "v1.9.3", id="exact-patch"),
        pytest.param("v1.13.9", "v1.13.9", id="exact-with-v"),
        pytest.param("1.8.0", "v1.8.0", id="oldest"),
        pytest.param("1.12", "v1.12.11", id="1.12-line"),
        pytest.param("1.14", "v1.14.0", id="1.14-line"),
        pytest.param(" 1.10.0 ", "v1.10.0", id="spaces"),
        pytest.param("main", "main", id="main"),
        pytest.param("MAIN", "main", id="main-any-case"),
    ],
)
def test_parse_known_versions(text: str, name: str) -> None:
    choice = parse_talos_version(text)
    assert choice.version.name == name
    assert choice.warning is None


@pytest.mark.parametrize("text", [None, "", "  "], ids=["none", "empty", "blank"])
def test_no_version_is_the_newest_release_not_main(text: str | None) -> None:
    choice = parse_talos_version(text)
    assert choice.version == DEFAULT_VERSION
    assert choice.version.name == DEFAULT_VERSION_NAME == "v1.14.0"
    assert not choice.version.is_main
    assert choice.warning is None


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("1.7", id="1.7"),
        pytest.param("v1.7.6", id="1.7.6"),
        pytest.param("1.6.0", id="1.6.0"),
        pytest.param("0.14", id="0.14"),
    ],
)
def test_older_than_1_8_is_refused(text: str) -> None:
    with pytest.raises(BadInput) as caught:
        parse_talos_version(text)
    message = str(caught.value)
    assert message.startswith(f"Talos v{text.removeprefix('v')} is older than v1.8: no $patch: delete")
    assert "lists appended on merge" in message
    assert "\n" not in message


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("1", id="major-only"),
        pytest.param("1.x", id="letter"),
        pytest.param("1.14.0-rc.1", id="prerelease"),
        pytest.param("v1.9.4.1", id="four-parts"),
        pytest.param("latest", id="word"),
    ],
)
def test_malformed_versions_are_refused_naming_the_forms(text: str) -> None:
    with pytest.raises(BadInput) as caught:
        parse_talos_version(text)
    assert str(caught.value).startswith(f"invalid Talos version {text!r}: want X.Y or X.Y.Z")
    assert "main" in str(caught.value)


def test_a_newer_patch_is_modelled_as_the_newest_known_of_its_line_with_a_warning() -> None:
    choice = parse_talos_version("1.13.12")
    assert choice.version.name == "v1.13.9"
    assert choice.warning == (
        "Talos v1.13.12 is newer than the newest v1.13 release talospatch knows (v1.13.9): modelled as v1.13.9"
    )


@pytest.mark.parametrize("text", ["1.15", "v1.16.2", "2.0"], ids=["1.15", "1.16.2", "2.0"])
def test_a_newer_line_is_modelled_as_main_with_a_warning(text: str) -> None:
    choice = parse_talos_version(text)
    assert choice.version == MAIN
    assert choice.warning is not None
    assert "is newer than any release talospatch knows (v1.14.0)" in choice.warning
    assert choice.warning.endswith("modelled as main (v1.15 development, after 55e0f6350)")


def test_help_names_the_range_and_the_default() -> None:
    assert TALOS_VERSION_HELP.endswith(f"Default: {DEFAULT_VERSION_NAME}.")
    assert TALOS_VERSION_HELP == (
        "Talos release to model: X.Y or X.Y.Z (v1.8.0 to v1.14.0; X.Y is the newest patch of that line) or main. "
        "Default: v1.14.0."
    )


def test_release_table_covers_every_patch_from_1_8_0_to_the_default() -> None:
    names = [r.name for r in RELEASES]
    assert names[0] == "v1.8.0"
    assert names[-1] == "v1.14.0"
    assert {"v1.8.4", "v1.9.3", "v1.9.4", "v1.9.6", "v1.10.9", "v1.11.6", "v1.12.4", "v1.12.5", "v1.13.9"} <= set(names)
    assert names == sorted(names, key=lambda n: tuple(int(x) for x in n[1:].split(".")))
    assert [x.name for x in LINE_VERSIONS] == [
        "v1.8.4",
        "v1.9.6",
        "v1.10.9",
        "v1.11.6",
        "v1.12.11",
        "v1.13.9",
        "v1.14.0",
        "main",
    ]
    assert max(RELEASES) < MAIN


# -- the behaviour table (talos-live.md §3) ------------------------------------------------------

# name: (ingress priority, prerouting, icmp drop, host dns, host dns v6, accept-mode conntrack,
#        range-end crash, ENOBUFS limit, $patch: delete, repeated documents in one patch)
EXPECTED: dict[str, tuple[int, bool, bool, bool, bool, bool, bool, int | None, bool, bool]] = {
    "v1.8.0": (0, False, False, True, False, False, True, 91, True, False),
    "v1.9.3": (0, False, False, True, False, False, True, 91, True, False),
    "v1.9.4": (-140, False, False, True, False, False, True, 91, True, False),
    "v1.10.0": (-140, True, False, True, False, False, True, 91, True, False),
    "v1.11.0": (-140, True, True, True, False, False, True, 91, True, False),
    "v1.12.4": (-140, True, True, True, False, False, True, 91, True, False),
    "v1.12.5": (-140, True, True, True, False, False, False, 91, True, False),
    "v1.13.0": (-140, True, True, True, False, False, False, 91, True, False),
    "v1.13.8": (-140, True, True, True, False, False, False, 91, True, False),
    "v1.13.9": (-140, True, True, True, False, False, False, None, True, False),
    "v1.14.0": (-140, True, True, True, True, True, False, None, True, True),
    "main": (-140, True, True, True, True, True, False, None, True, True),
}


@pytest.mark.parametrize("name", list(EXPECTED))
def test_release_behaviours(name: str) -> None:
    version = v(name)
    got = (
        version.ingress_priority,
        version.prerouting_chain,
        version.icmp_cve_drop,
        version.host_dns,
        version.host_dns_v6,
        version.accept_mode_conntrack,
        version.range_end_crash,
        version.enobufs_rule_limit,
        version.patch_delete,
        version.duplicate_documents_in_patch,
    )
    assert got == EXPECTED[name]


def test_support_matrix_rows_name_first_releases() -> None:
    rows = {first: effect for first, effect, _ in support_matrix()}
    assert "v1.9.4 / v1.10.0" in rows
    assert "v1.12.5 / v1.13.0" in rows
    assert "v1.13.9 / v1.14.0" in rows
    assert "v1.14.0" in rows
    assert all(action for _, _, action in support_matrix())


# -- nft: v1.9 against the default ----------------------------------------------------------------


def test_v1_9_and_the_default_differ_exactly_where_the_table_says() -> None:
    old = compile_firewall(BLOCK, NODE, "1.9.3")
    new = compile_firewall(BLOCK, NODE)
    assert new.version == DEFAULT_VERSION
    assert old.version.name == "v1.9.3"
    # Chain list: no prerouting chain before v1.10.
    assert [c.name for c in old.chains] == ["ingress"]
    assert [c.name for c in new.chains] == ["ingress", "prerouting"]
    # Priority: filter before v1.9.4, mangle + 10 after.
    assert render(old).splitlines()[4] == "\t\ttype filter hook input priority filter; policy drop;"
    assert render(new).splitlines()[4] == "\t\ttype filter hook input priority mangle + 10; policy drop;"
    # ICMP timestamp/address-mask drop only from v1.11; everything else in ingress equal.
    new_ingress = lines(new, "ingress")
    assert ICMP_DROP in new_ingress
    assert ICMP_DROP not in lines(old, "ingress")
    assert [x for x in new_ingress if x != ICMP_DROP] == lines(old, "ingress")


def test_v1_9_4_has_the_new_priority_but_no_prerouting_chain() -> None:
    ruleset = compile_firewall(BLOCK, NODE, "1.9")
    assert ruleset.version.name == "v1.9.6"
    assert "\t\ttype filter hook input priority mangle + 10; policy drop;" in render(ruleset).splitlines()
    assert [c.name for c in ruleset.chains] == ["ingress"]


@pytest.mark.parametrize(
    ("version", "conntrack"),
    [
        pytest.param("1.13", False, id="v1.13.9"),
        pytest.param("1.9", False, id="v1.9.6"),
        pytest.param("1.14", True, id="v1.14.0"),
        pytest.param("main", True, id="main"),
    ],
)
def test_accept_mode_conntrack_rules_from_v1_14(version: str, conntrack: bool) -> None:
    ingress = lines(compile_firewall(ACCEPT, NODE, version), "ingress")
    assert ingress[0] == 'iifname { "lo", "kubespan", "siderolink" } counter accept'
    assert (ingress[1:3] == CONNTRACK) is conntrack
    assert ingress[-2:] == [
        "ip saddr != 192.168.30.0/24 tcp dport 50000 counter drop",
        "meta nfproto ipv6 tcp dport 50000 counter drop",
    ]
    # Block mode has them on every release.
    assert lines(compile_firewall(BLOCK, NODE, version), "ingress")[1:3] == CONNTRACK


@pytest.mark.parametrize(
    ("version", "has_v6"),
    [
        pytest.param("1.13", False, id="v1.13.9"),
        pytest.param("1.14", True, id="v1.14.0"),
        pytest.param("main", True, id="main"),
    ],
)
def test_host_dns_over_ipv6_from_1_14(version: str, has_v6: bool) -> None:
    ingress = lines(compile_firewall(BLOCK, NODE_DUAL, version), "ingress")
    dns = [x for x in ingress if "dport 53 " in x]
    v4 = "ip saddr { 10.96.0.0/12, 10.244.0.0/16 } ip daddr 169.254.116.108"
    # Before v1.14 the destination set has no IPv6 part, and Talos's Compile keeps the IPv6
    # part of the source match: an IPv6 pod may reach port 53 at any address.
    v6 = (
        "ip6 saddr fd00:244::/56 ip6 daddr fd54:616c:6f73:0:204f:5320:444e:531" if has_v6 else "ip6 saddr fd00:244::/56"
    )
    assert dns == [
        f"{v4} udp dport 53 counter accept",
        f"{v6} udp dport 53 counter accept",
        f"{v4} tcp dport 53 counter accept",
        f"{v6} tcp dport 53 counter accept",
    ]


def test_render_header_names_the_version() -> None:
    assert render(compile_firewall(BLOCK, NODE)).splitlines()[0] == "# table inet talos as Talos v1.14.0 builds it"
    assert render(compile_firewall(BLOCK, NODE, "1.9")).splitlines()[0] == (
        "# table inet talos as Talos v1.9.6 builds it"
    )
    assert render(compile_firewall(firewall("accept", default_doc=False), NODE, "1.10.2")).splitlines()[0] == (
        "# table inet talos as Talos v1.10.2 builds it"
    )


def test_a_version_string_is_parsed_and_a_bad_one_refused() -> None:
    assert compile_firewall(BLOCK, NODE, "v1.11.0").version.name == "v1.11.0"
    with pytest.raises(BadInput):
        compile_firewall(BLOCK, NODE, "1.7")


# -- reach -------------------------------------------------------------------------------------

OUTSIDER = "203.0.113.9"


@pytest.mark.parametrize("version", ["1.8", "1.9.3", "1.9"], ids=["v1.8.4", "v1.9.3", "v1.9.6"])
def test_nodeports_are_not_filtered_before_1_10(version: str) -> None:
    reach = Reach(BLOCK, NODE, version)
    answer = reach.query(OUTSIDER, 30080, "tcp")
    line = reach.version.line
    assert answer.allowed
    assert answer.reason == (
        f"allowed: on Talos {line} NodePort traffic is DNATed by kube-proxy before the ingress chain "
        "(no prerouting chain before v1.10): no rule filters it"
    )
    assert answer.version_note is not None
    assert answer.verdict.dnat
    assert answer.verdict.origin == "kube-proxy dnat"
    # The same release filters a port outside the NodePort range.
    other = reach.query(OUTSIDER, 8080, "tcp")
    assert (other.allowed, other.reason) == (False, "dropped: no rule allows 8080/tcp (default action block)")
    assert other.version_note is None


@pytest.mark.parametrize("version", ["1.10.0", "1.14", "main"])
def test_nodeports_are_filtered_from_1_10(version: str) -> None:
    reach = Reach(BLOCK, NODE, version)
    answer = reach.query(OUTSIDER, 30080, "tcp")
    assert (answer.allowed, answer.reason) == (False, "dropped: no rule allows 30080/tcp (default action block)")
    assert answer.verdict.chain == "prerouting"
    assert answer.version_note is None


def test_nodeport_rule_allows_in_prerouting_and_ingress_is_not_met() -> None:
    fw = firewall("block", APID, rule("nodeports", ["30000-32767"], "tcp", "198.51.100.0/24"))
    answer = Reach(fw, NODE).query("198.51.100.7", 30080, "tcp")
    assert (answer.allowed, answer.reason) == (True, "allowed: nodeports (198.51.100.0/24)")
    assert answer.verdict.chain == "prerouting"
    assert answer.verdict.dnat
    assert answer.verdict.trail[-1].startswith("kube-proxy: DNAT of NodePort 30080/tcp to a pod")


def test_nodeport_without_kube_proxy_or_to_another_address_meets_the_ingress_chain() -> None:
    no_kube_proxy = NodeContext(node_ips=(ip(NODE4),), nodeport_range=None)
    answer = Reach(BLOCK, no_kube_proxy, "1.9").query(OUTSIDER, 30080, "tcp")
    assert (answer.allowed, answer.verdict.chain) == (False, "ingress")
    custom = NodeContext(node_ips=(ip(NODE4),), nodeport_range=PortRange(20000, 20100))
    assert Reach(BLOCK, custom, "1.9").query(OUTSIDER, 20050, "tcp").allowed
    assert not Reach(BLOCK, custom, "1.9").query(OUTSIDER, 30080, "tcp").allowed


def test_nodeport_on_the_default_without_a_node_address_is_answered_by_ingress() -> None:
    # A real v1.10+ node has the prerouting chain; without --node-ip ingress stands in for it.
    answer = Reach(BLOCK, NodeContext(), None).query(OUTSIDER, 30080, "tcp")
    assert (answer.allowed, answer.verdict.chain) == (False, "ingress")
    assert not answer.verdict.dnat


@pytest.mark.parametrize(
    ("version", "allowed"),
    [
        pytest.param("1.13", False, id="v1.13.9"),
        pytest.param("1.14", True, id="v1.14.0"),
        pytest.param("main", True, id="main"),
    ],
)
def test_established_traffic_in_accept_mode_depends_on_the_release(version: str, allowed: bool) -> None:
    answer = Reach(ACCEPT, NODE, version).query(OUTSIDER, 50000, "tcp", ct_state="established")
    assert answer.allowed is allowed
    if allowed:
        assert answer.reason == "allowed: connection state established"
        assert answer.version_note is None
    else:
        assert answer.reason == (
            f"dropped: {OUTSIDER} is outside apid-ingress (192.168.30.0/24); on Talos v1.13.9 accept mode has no "
            "conntrack rules (v1.14.0 adds them, #13926): established traffic is filtered like new connections"
        )


@pytest.mark.parametrize(
    ("version", "allowed"),
    [
        pytest.param("1.9", True, id="v1.9.6"),
        pytest.param("1.13", False, id="v1.13.9"),  # the prerouting chain drops it first
        pytest.param("1.14", False, id="v1.14.0"),
    ],
)
def test_ipv6_pod_to_node_port_53_depends_on_the_release(version: str, allowed: bool) -> None:
    answer = Reach(BLOCK, NODE_DUAL, version).query("fd00:244::5", 53, "udp", "fd00:30::21")
    assert answer.allowed is allowed
    if allowed:
        assert answer.reason == (
            "allowed: host DNS from pods/services (fd00:30::21:53); on Talos v1.9.6 the host DNS rule has no IPv6 "
            "destination match (v1.14.0 adds one): IPv6 pods reach port 53 at every node address"
        )
    else:
        assert answer.reason == "dropped: no rule allows 53/udp (default action block)"
        assert answer.verdict.chain == "prerouting"


# -- hazards ----------------------------------------------------------------------------------


def test_trust_nodes_range_is_rewritten_before_1_12_5() -> None:
    fw = expand(GenOptions(role="worker", subnets=("192.168.30.0/24",), addons=("trust-nodes",))).firewall
    ports = {r.name: [p.label for p in r.ports] for r in fw.rules}
    assert ports["trust-nodes-tcp"] == ["1-65535"]
    fix = avoid_range_end(fw, "1.12.4")
    fixed = {r.name: [p.label for p in r.ports] for r in fix.firewall.rules}
    assert fixed["trust-nodes-tcp"] == fixed["trust-nodes-udp"] == ["1-65534"]
    assert {k: p for k, p in fixed.items() if not k.startswith("trust-nodes")} == {
        k: p for k, p in ports.items() if not k.startswith("trust-nodes")
    }
    assert fix.changes[0] == (
        "NetworkRuleConfig/trust-nodes-tcp: ports 1-65535 emitted as 1-65534: on Talos v1.12.4 a set ending at port "
        "65535 crash-loops the firewall controller with EINVAL, so no rule is applied (#12890, fixed in v1.12.5 / "
        "v1.13.0); port 65535 stays closed"
    )
    assert len(fix.changes) == 2
    # Before the rewrite the compiled ruleset has the hazard (ingress and prerouting); after, none.
    before = range_end_hazards(compile_firewall(fw, NODE, "1.12.4"))
    assert {h.origin for h in before} == {"NetworkRuleConfig/trust-nodes-tcp", "NetworkRuleConfig/trust-nodes-udp"}
    assert range_end_hazards(compile_firewall(fix.firewall, NODE, "1.12.4")) == []


def test_fit_generated_rewrites_trust_nodes_for_gen_before_1_12_5() -> None:
    generated = expand(GenOptions(role="worker", subnets=("192.168.30.0/24",), addons=("trust-nodes",)))
    fit = fit_generated(generated, version="1.12.4")
    docs = {d.document.name: [p.label for p in d.document.ports] for d in fit.generated.documents}
    assert docs["trust-nodes-tcp"] == docs["trust-nodes-udp"] == ["1-65534"]
    assert [r.profile for r in fit.generated.rules] == [r.profile for r in generated.rules]
    assert len(fit.changes) == 2
    assert fit.generated.warnings == [*generated.warnings, *fit.changes]
    assert fit.generated.firewall == avoid_range_end(generated.firewall, "1.12.4").firewall
    # The lockout guard queries the fit's ruleset: the fitted documents, compiled.
    context = NodeContext(pod_subnets=generated.pod_subnets)
    assert fit.ruleset == compile_firewall(fit.generated.firewall, context, "1.12.4")
    same = fit_generated(generated)
    assert same.generated == generated
    assert same.changes == ()
    assert same.ruleset == compile_firewall(generated.firewall, context)


@pytest.mark.parametrize("version", ["1.12.5", "1.13.0", "1.14", "main"])
def test_range_end_is_left_alone_once_fixed(version: str) -> None:
    fw = firewall("block", rule("all", ["1-65535"], "tcp", "192.168.30.0/24"))
    fix = avoid_range_end(fw, version)
    assert fix.firewall == fw
    assert fix.changes == ()
    assert range_end_hazards(compile_firewall(fw, NODE, version)) == []


def test_single_port_65535_is_refused_before_the_fix() -> None:
    fw = firewall("block", rule("odd", [65535], "udp", "192.168.30.0/24"))
    with pytest.raises(BadInput) as caught:
        avoid_range_end(fw, "1.11")
    assert str(caught.value).startswith("NetworkRuleConfig/odd: port 65535 cannot be opened on Talos v1.11.6")


def test_address_set_ending_at_the_last_address_is_refused_before_the_fix() -> None:
    fw = firewall("block", rule("apid-ingress", [50000], "tcp", "0.0.0.0/0 except 10.0.0.0/8"))
    ruleset = compile_firewall(fw, NODE, "1.12.0")
    hazards = range_end_hazards(ruleset)
    assert [h.message.split(": on Talos")[0] for h in hazards] == [
        "NetworkRuleConfig/apid-ingress: source addresses ending with 11.0.0.0-255.255.255.255"
    ]
    with pytest.raises(BadInput, match=r"narrow the subnets/excepts or target v1\.12\.5"):
        refuse_range_end(ruleset)
    refuse_range_end(compile_firewall(fw, NODE, "1.12.5"))  # fixed: no error
    # Without an except, 0.0.0.0/0 needs no set at all: no hazard.
    assert range_end_hazards(compile_firewall(firewall("block", APID), NODE, "1.12.0")) == []


def many_rules(count: int) -> list[RuleConfig]:
    return [rule(f"svc-{i}", [20000 + i], "tcp", "192.168.30.0/24", "fd00:30::/64") for i in range(count)]


def test_enobufs_warning_counts_the_compiled_rules_before_1_13_9() -> None:
    fw = firewall("block", *many_rules(25))
    old = compile_firewall(fw, NODE_DUAL, "1.13.8")
    count = rule_count(old)
    # 25 documents x (IPv4 + IPv6) x (ingress + prerouting) + the built-in rules.
    assert count == sum(len(c.rules) for c in old.chains)
    assert count > 100
    hazard = enobufs_hazard(old)
    assert hazard is not None
    assert hazard.message.startswith(
        f"the ruleset has {count} nft rules: Talos v1.13.8 can fail with ENOBUFS above 91 (#14001"
    )
    assert enobufs_hazard(compile_firewall(fw, NODE_DUAL, "1.13.9")) is None
    assert enobufs_hazard(compile_firewall(fw, NODE_DUAL, "1.14")) is None
    small = compile_firewall(firewall("block", *many_rules(3)), NODE_DUAL, "1.13.8")
    assert rule_count(small) <= 91
    assert enobufs_hazard(small) is None


def test_consolidation_groups_rules_with_the_same_protocol_and_sources() -> None:
    fw = firewall(
        "block",
        *many_rules(3),
        rule("dns", [53], "udp", "192.168.30.0/24", "fd00:30::/64"),
        rule("other", [9000], "tcp", "10.0.0.0/8"),
    )
    assert consolidation_groups(fw) == [("svc-0", "svc-1", "svc-2")]


def test_apply_version_rewrites_refuses_and_warns() -> None:
    fw = firewall("block", rule("trust", ["1-65535"], "tcp", "192.168.30.0/24"), *many_rules(25))
    fit = apply_version(fw, NODE_DUAL, "1.12.0")
    assert [p.label for p in fit.firewall.rules[0].ports] == ["1-65534"]
    assert len(fit.changes) == 1
    assert len(fit.warnings) == 1
    assert "can fail with ENOBUFS above 91" in fit.warnings[0]
    assert fit.warnings[0].endswith("; could merge: svc-0 + svc-1 + " + " + ".join(f"svc-{i}" for i in range(2, 25)))
    assert fit.ruleset.version.name == "v1.12.0"
    assert range_end_hazards(fit.ruleset) == []
    new = apply_version(fw, NODE_DUAL)
    assert new.firewall == fw
    assert new.changes == ()
    assert new.warnings == ()


def test_repeated_documents_in_one_patch_before_1_14() -> None:
    docs = [
        {"apiVersion": "v1alpha1", "kind": "NetworkRuleConfig", "name": "a"},
        {"apiVersion": "v1alpha1", "kind": "NetworkRuleConfig", "name": "b"},
        {"apiVersion": "v1alpha1", "kind": "NetworkRuleConfig", "name": "a"},
        {"apiVersion": "v1alpha1", "kind": "NetworkDefaultActionConfig", "ingress": "block"},
        {"apiVersion": "v1alpha1", "kind": "NetworkDefaultActionConfig", "ingress": "accept"},
    ]
    found = repeated_documents(docs, "1.13")
    assert [h.origin for h in found] == ["NetworkRuleConfig/a", "NetworkDefaultActionConfig/"]
    assert found[0].message.startswith("NetworkRuleConfig/a appears twice in one patch: Talos v1.13.9 rejects it")
    assert repeated_documents(docs, "1.14") == []


# -- every release's output loads into the kernel ------------------------------------------------


@pytest.mark.kernel
@pytest.mark.parametrize("version", LINE_VERSIONS, ids=[x.name for x in LINE_VERSIONS])
@pytest.mark.parametrize("action", ["block", "accept"])
def test_every_release_loads_with_nft_and_lists_back_as_rendered(
    netns: str, version: TalosVersion, action: str
) -> None:
    fw = firewall(action, APID, rule("kubelet", [10250], "tcp", "192.168.30.0/24 except 192.168.30.1/32"))
    ruleset = compile_firewall(fw, NODE_DUAL, version)
    text = render(ruleset)
    nft_in(netns, "flush", "ruleset")
    nft_in(netns, "-f", "-", stdin=text)
    listed = re.sub(r"counter packets \d+ bytes \d+", "counter", nft_in(netns, "list", "ruleset"))
    assert listed == render(ruleset, header=False)
