"""Compare the chains a node really built with what talospatch compiles for it.

The node's side is ``talosctl get nftableschains`` output (read by ``talospatch.nft.live``);
talospatch's side is ``expected_chains`` for the same documents, node and Talos release.
Chains compare by id (type, hook, priority, policy); rules by content, not by text: two
rules are the same when they match the same packets the same way (address sets compared
after includes, excludes and merging, port ranges after merging). Node rules carry no
names, so each difference is told with the NetworkRuleConfig it maps back to, if any:

- ``node allows 22/tcp from 0.0.0.0/0, which no rule here generates``
- ``etcd-ingress (2379-2380/tcp from 192.168.30.11-13) is missing on the node: the patch
  was not applied``
- ``kubelet-ingress: node allows 10250/tcp from X, the patch allows Y``

Pure: no printing. ``VerifyResult.equal`` is the exit status (0 equal, 1 different).
"""

from __future__ import annotations

import ipaddress
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from talospatch.errors import BadInput
from talospatch.nft.compile import NodeContext
from talospatch.nft.live import LiveChains
from talospatch.nft.resources import (
    AddressMatch,
    ResourceChain,
    ResourceRule,
    compile_ruleset,
    expected_chains,
    priority_text,
)
from talospatch.nft.sets import IPAddress, build_ip_set
from talospatch.talos.documents import Firewall, merge_adjacent
from talospatch.talos.versions import TalosVersion

FindingKind = Literal[
    "missing-chain",
    "extra-chain",
    "chain-differs",
    "missing-rule",
    "extra-rule",
    "changed-rule",
    "rule-order",
]


@dataclass(frozen=True)
class Finding:
    """One difference, as one line a reviewer reads.

    ``chains``: the chains it was found in (a NetworkRuleConfig appears in ``ingress`` and
    ``prerouting``; the same difference in both is one finding). ``rule``: the
    NetworkRuleConfig name it maps to, when it maps to one.
    """

    kind: FindingKind
    message: str
    chains: tuple[str, ...]
    rule: str | None = None

    def __str__(self) -> str:
        if self.kind in ("missing-chain", "extra-chain", "chain-differs"):
            return self.message  # names its chain
        where = " and ".join(self.chains)
        return f"{self.message} ({where} chain{'s' if len(self.chains) > 1 else ''})"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "message": self.message, "chains": list(self.chains), "rule": self.rule}


@dataclass(frozen=True)
class VerifyResult:
    """The comparison for one node: ``equal`` when there is no finding."""

    node: str | None
    findings: tuple[Finding, ...]
    notes: tuple[str, ...]
    talos_version: str

    @property
    def equal(self) -> bool:
        return not self.findings

    def lines(self) -> list[str]:
        """The findings as printed lines (notes not included)."""
        return [str(finding) for finding in self.findings]

    def to_dict(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "equal": self.equal,
            "talosVersion": self.talos_version,
            "findings": [finding.to_dict() for finding in self.findings],
            "notes": list(self.notes),
        }


# --------------------------------------------------------------------------------------
# Describing rules


def _address_text(lo: IPAddress, hi: IPAddress) -> str:
    """``10.0.0.0/8``, ``192.168.30.20``, ``192.168.30.11-13`` or ``a-b``."""
    if lo == hi:
        return str(lo)
    nets = list(ipaddress.summarize_address_range(lo, hi))
    if len(nets) == 1:
        return str(nets[0])
    if lo.version == 4 and str(lo).rsplit(".", 1)[0] == str(hi).rsplit(".", 1)[0]:
        return f"{lo}-{str(hi).rsplit('.', 1)[1]}"
    return f"{lo}-{hi}"


def addresses_text(match: AddressMatch | None) -> str:
    """The addresses a match selects, merged: ``192.168.30.0/24, 196.45.28.20``."""
    if match is None:
        return "anyone"
    sets = build_ip_set(match.include, match.exclude)
    parts: list[str] = []
    for family, ranges in (("ipv4", sets.v4), ("ipv6", sets.v6)):
        make = ipaddress.IPv4Address if family == "ipv4" else ipaddress.IPv6Address
        parts += [_address_text(make(lo), make(hi)) for lo, hi in ranges]
    listed = ", ".join(parts)
    if match.invert:
        return f"anyone except {listed}" if parts else "anyone"
    return listed or "nobody"


def ports_text(rule: ResourceRule) -> str:
    """``22/tcp``, ``2379-2380/tcp``, ``80,443/tcp``, ``tcp`` or ``icmp types 13,14``."""
    proto = rule.protocol or "any protocol"
    if rule.dports:
        return ",".join(p.label for p in merge_adjacent(rule.dports)) + f"/{proto}"
    if rule.icmp_types:
        return f"{proto} types {','.join(str(t) for t in rule.icmp_types)}"
    return proto


def describe(rule: ResourceRule) -> str:
    """What a rule matches, in words: ``22/tcp from 0.0.0.0/0``.

    The ``ct state new`` of the prerouting chain's copies of the document rules is left
    out: it is the same rule.
    """
    parts: list[str] = []
    if rule.iifnames is not None:
        word = "not on" if rule.iif_operator == "!=" else "on"
        parts.append(f"{word} {', '.join(rule.iifnames)}")
    if rule.ct_states and rule.ct_states != ("new",):
        parts.append(f"connection state {','.join(rule.ct_states)}")
    if rule.protocol is not None or rule.dports:
        parts.append(ports_text(rule))
    elif rule.ct_states == ("new",):
        parts.append("new connections")
    if rule.source is not None:
        parts.append(f"from {addresses_text(rule.source)}")
    if rule.destination is not None:
        parts.append(f"to {addresses_text(rule.destination)}")
    if rule.limit is not None:
        parts.append(f"at {rule.limit}/s")
    parts += [f"{key} {value}" for key, value in rule.other]
    if parts and parts[0].startswith(("from ", "to ")):
        parts.insert(0, "traffic")
    return " ".join(parts) or "everything"


def _verb(rule: ResourceRule) -> str:
    return {"accept": "allows", "drop": "drops"}.get(rule.verdict or "", "counts")


# --------------------------------------------------------------------------------------
# Comparing


def _addr_key(match: AddressMatch | None) -> object:
    if match is None:
        return None
    return (build_ip_set(match.include, match.exclude), match.invert)


def rule_key(rule: ResourceRule) -> tuple[object, ...]:
    """What decides a rule's effect; equal keys match the same packets the same way."""
    return (
        rule.verdict,
        None if rule.iifnames is None else (frozenset(rule.iifnames), rule.iif_operator),
        frozenset(rule.ct_states),
        _addr_key(rule.source),
        _addr_key(rule.destination),
        rule.protocol,
        tuple(merge_adjacent(rule.dports)),
        frozenset(rule.icmp_types),
        rule.limit,
        rule.other,
    )


def _same_service(expected: ResourceRule, node: ResourceRule) -> str | None:
    """How a node rule differs from the document rule it stands for, or ``None``."""
    if (expected.verdict, expected.protocol, frozenset(expected.ct_states)) != (
        node.verdict,
        node.protocol,
        frozenset(node.ct_states),
    ) or (node.iifnames, node.destination, node.other) != (None, None, ()):
        return None
    same_ports = merge_adjacent(expected.dports) == merge_adjacent(node.dports)
    same_source = _addr_key(expected.source) == _addr_key(node.source)
    overlap = any(a.lo <= b.hi and b.lo <= a.hi for a in expected.dports for b in node.dports)
    verb = _verb(node)
    if same_ports and not same_source:
        return (
            f"{expected.rule_name}: node {verb} {ports_text(node)} from {addresses_text(node.source)}, "
            f"the patch {_verb(expected)} {addresses_text(expected.source)}"
        )
    if same_source and overlap and not same_ports:
        return (
            f"{expected.rule_name}: node {verb} {ports_text(node)} from {addresses_text(node.source)}, "
            f"the patch {_verb(expected)} {ports_text(expected)}"
        )
    return None


def _label(rule: ResourceRule) -> str:
    return rule.rule_name if rule.rule_name is not None else f"'{_verb(rule)} {describe(rule)}'"


def _compare_rules(expected: Sequence[ResourceRule], node: Sequence[ResourceRule]) -> list[Finding]:
    """Pair equal rules, then document rules with their changed node rule; report the rest."""
    chain_findings: list[Finding] = []
    pairs: dict[int, int] = {}  # expected index -> node index
    free = list(range(len(node)))
    keys = [rule_key(rule) for rule in node]
    for e_index, rule in enumerate(expected):
        key = rule_key(rule)
        for n_index in free:
            if keys[n_index] == key:
                pairs[e_index] = n_index
                free.remove(n_index)
                break
    for e_index, rule in enumerate(expected):
        if e_index in pairs or rule.rule_name is None:
            continue
        for n_index in free:
            message = _same_service(rule, node[n_index])
            if message is not None:
                chain_findings.append(Finding("changed-rule", message, (), rule.rule_name))
                pairs[e_index] = n_index
                free.remove(n_index)
                break
    for e_index, rule in enumerate(expected):
        if e_index in pairs:
            continue
        if rule.rule_name is not None:
            message = f"{rule.rule_name} ({describe(rule)}) is missing on the node: the patch was not applied"
        else:
            message = f"the node lacks Talos's built-in rule that {_verb(rule)} {describe(rule)}"
        chain_findings.append(Finding("missing-rule", message, (), rule.rule_name))
    for n_index in free:
        rule = node[n_index]
        message = f"node {_verb(rule)} {describe(rule)}, which no rule here generates"
        chain_findings.append(Finding("extra-rule", message, ()))
    # The first rule that matches decides: the same rules in another order can differ.
    ordered = sorted(pairs.items())
    for (e_a, n_a), (e_b, n_b) in itertools.pairwise(ordered):
        if n_b < n_a:
            message = (
                f"rules in another order: on the node {_label(expected[e_b])} comes before {_label(expected[e_a])}"
            )
            chain_findings.append(Finding("rule-order", message, ()))
            break
    return chain_findings


def _compare_chain(expected: ResourceChain, node: ResourceChain) -> list[Finding]:
    findings: list[Finding] = []
    for what, mine, theirs in (
        ("type", expected.type, node.type),
        ("hook", expected.hook, node.hook),
        ("priority", priority_text(expected.priority), priority_text(node.priority)),
        ("policy", expected.policy, node.policy),
    ):
        if mine != theirs:
            message = f"chain {expected.id}: the node's {what} is {theirs}, talospatch builds {mine}"
            if what == "priority" and node.priority == 0 and expected.id == "ingress":
                message += " (Talos before v1.9.4 uses filter)"
            findings.append(Finding("chain-differs", message, (expected.id,)))
    for finding in _compare_rules(expected.rules, node.rules):
        findings.append(replace(finding, chains=(expected.id,)))
    return findings


def _merge_across_chains(findings: list[Finding]) -> tuple[Finding, ...]:
    """The same finding in several chains (a document rule in ingress and prerouting) once."""
    merged: dict[tuple[str, str], Finding] = {}
    for finding in findings:
        key = (finding.kind, finding.message)
        if key in merged:
            old = merged[key]
            merged[key] = replace(old, chains=old.chains + tuple(c for c in finding.chains if c not in old.chains))
        else:
            merged[key] = finding
    return tuple(merged.values())


def node_addresses(chains: Sequence[ResourceChain]) -> tuple[IPAddress, ...]:
    """The node addresses in a node's prerouting chain ("not addressed to the node" rule)."""
    for chain in chains:
        if chain.hook != "prerouting":
            continue
        for rule in chain.rules:
            dest = rule.destination
            if dest is not None and dest.invert and rule.source is None and rule.protocol is None:
                return tuple(net.network_address for net in dest.include)
    return ()


def verify_chains(
    node_chains: Sequence[ResourceChain],
    fw: Firewall,
    ctx: NodeContext | None = None,
    version: TalosVersion | str | None = None,
    *,
    node: str | None = None,
) -> VerifyResult:
    """Compare one node's chains with what talospatch compiles for ``fw`` on that node.

    Without ``ctx.node_ips`` the node addresses are taken from the node's own prerouting
    chain (talospatch cannot know them otherwise), with a note.
    """
    ctx = NodeContext() if ctx is None else ctx
    notes: list[str] = []
    if not ctx.node_ips:
        found = node_addresses(node_chains)
        if found:
            ctx = replace(ctx, node_ips=found)
            notes.append(f"node addresses taken from the node's prerouting chain: {', '.join(map(str, found))}")
    expected = expected_chains(fw, ctx, version)
    talos_version = compile_ruleset(fw, ctx, version).talos_version
    findings: list[Finding] = []
    theirs = {chain.id: chain for chain in node_chains}
    mine = {chain.id: chain for chain in expected}
    for chain in expected:
        if chain.id not in theirs:
            hint = ""
            if not node_chains:
                hint = ": the node has no firewall chains (no firewall documents applied)"
            elif chain.id == "prerouting":
                hint = ": Talos before v1.10 builds none, nor a node without a routed address"
            findings.append(Finding("missing-chain", f"chain {chain.id} is missing on the node{hint}", (chain.id,)))
            continue
        findings += _compare_chain(chain, theirs[chain.id])
    for chain in node_chains:
        if chain.id not in mine:
            message = f"the node has a chain {chain.id} ({chain.hook}) that talospatch does not build"
            findings.append(Finding("extra-chain", message, (chain.id,)))
    return VerifyResult(node, _merge_across_chains(findings), tuple(notes), talos_version)


def verify(
    live: LiveChains,
    fw: Firewall,
    ctx: NodeContext | None = None,
    version: TalosVersion | str | None = None,
) -> list[VerifyResult]:
    """``verify_chains`` for every node in the file, in file order (one result per node).

    A file with no chains at all still gives one result (node ``None``): every chain is
    missing.
    """
    nodes = live.nodes or [None]
    if ctx is not None and ctx.node_ips and len(nodes) > 1:
        raise BadInput(
            f"{live.where}: chains of {len(nodes)} nodes but one set of node addresses; "
            "leave the node addresses out (they are read from each node's chains) or give one node's output"
        )
    results = []
    for node in nodes:
        result = verify_chains(live.of_node(node), fw, ctx, version, node=node)
        results.append(replace(result, notes=live.notes_of(node) + result.notes))
    return results


def results_dict(results: Sequence[VerifyResult]) -> dict[str, Any]:
    """``--format json``: every node's result and whether all are equal."""
    return {"equal": all(r.equal for r in results), "nodes": [r.to_dict() for r in results]}
