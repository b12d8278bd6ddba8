"""Checks of the firewall as a whole: what the set of rules allows, on the node and to
whom (with the evaluator, ``talospatch.nft.reach``), and what a Talos release does with it.

A firewall check gets the firewall the files make (patches merged, rules that take part
only) and the collector. The registry runs the ones marked ``needs_mode`` only when the
files set the default action: what a patch of rules only does depends on the config it patches.
"""

from __future__ import annotations

import dataclasses
import ipaddress

from talospatch.checks.diff import traffic_diff
from talospatch.checks.guard import lost_access
from talospatch.checks.hazards import range_end_hazards
from talospatch.checks.lint.findings import Collector, nets, ports_text
from talospatch.checks.lint.options import LintOptions
from talospatch.nft.compile import compile_firewall
from talospatch.nft.reach import Reach
from talospatch.talos.addresses import LINK_LOCAL, IPAddress, is_link_local
from talospatch.talos.documents import DEFAULT_ACTION_KIND, L4, RULE_KIND, Firewall, PortRange

APID: tuple[int, L4] = (50000, "tcp")
DHCPV6_CLIENT_PORT = 546
# The node's own link-local address, where a DHCPv6 reply is sent.
_NODE_LINK_LOCAL = ipaddress.ip_address("fe80::2")
KUBE_API: tuple[int, L4] = (6443, "tcp")

# Compiled nft rules above which Talos before v1.13.9 / v1.14.0-rc.1 risks ENOBUFS (issue
# 14001): the Talos test saw it past ~91 rules, and a control plane hung at boot with 12
# documents (about 60 rules with a node address, dual-stack). Keep under that report.
NFT_RULE_BUDGET = 60


def covered(fw: Firewall, protocol: str, ports: PortRange) -> bool:
    """Whether rules with sources cover every port of ``ports``."""
    cursor = ports.lo
    spans = sorted(p for r in fw.rules if r.portSelector.protocol == protocol and r.ingress for p in r.ports)
    for span in spans:
        if span.lo > cursor:
            break
        cursor = max(cursor, span.hi + 1)
    return cursor > ports.hi


def _dual_stack(fw: Firewall, opts: LintOptions) -> tuple[bool, str]:
    """Whether the node has both families, and what says so."""
    if opts.subnets:
        versions = {n.version for n in opts.subnets}
        return len(versions) == 2, f"{opts.labels('subnets')} {nets(opts.subnets)}"
    specific = [n for r in fw.rules for n in r.subnets if n.prefixlen > 0 and not is_link_local(n)]
    v4 = next((n for n in specific if n.version == 4), None)
    v6 = next((n for n in specific if n.version == 6), None)
    if v4 is None or v6 is None:
        return False, ""
    return True, f"other rules list {v4} and {v6}"


def check_families(fw: Firewall, out: Collector) -> None:
    dual, evidence = _dual_stack(fw, out.options)
    if dual:
        for rule in fw.rules:
            if rule.subnets and all(is_link_local(n) for n in rule.subnets):
                continue  # IPv6 link-local only (DHCPv6, unnumbered BGP): there is no IPv4 side to it
            versions = {n.version for n in rule.subnets}
            if len(versions) == 1:
                have, lack = (4, 6) if 4 in versions else (6, 4)
                out.add(
                    f"{RULE_KIND}/{rule.name}",
                    "one-family",
                    f"lists only IPv{have} sources on a dual-stack node ({evidence}), so {ports_text(rule)} "
                    f"is closed over IPv{lack}",
                    f"add the IPv{lack} sources too",
                )


def check_budget(fw: Firewall, out: Collector) -> None:
    version = out.options.version
    if version is not None and version.enobufs_rule_limit is None:
        return  # fixed in this release
    dual, _ = _dual_stack(fw, out.options)
    node = (ipaddress.ip_address("192.0.2.1"),) + ((ipaddress.ip_address("2001:db8::1"),) if dual else ())
    if not fw.has_default_doc:  # rules only: count them as the block mode they are usually applied in
        fw = dataclasses.replace(fw, default_action="block", has_default_doc=True)
    count = sum(
        len(chain.rules)
        for chain in compile_firewall(fw, dataclasses.replace(out.options.context, node_ips=node)).chains
    )
    if count > NFT_RULE_BUDGET:
        out.add(
            "firewall",
            "too-many-rules",
            f"{len(fw.rules)} rules compile to {count} nft rules on a node with an address; Talos before v1.13.9 "
            f"and v1.14.0-rc.1 can fail with ENOBUFS above about {NFT_RULE_BUDGET} (Talos issue 14001)",
            "merge rules with the same protocol and sources into one rule with several ports, or run Talos >= v1.13.9",
        )


def check_range_ends(fw: Firewall, out: Collector) -> None:
    """With a release that crash-loops on a set ending at port 65535 or the last address."""
    version = out.options.version
    if version is None or not version.range_end_crash or not fw.active:
        return
    for hazard in range_end_hazards(compile_firewall(fw, out.options.context, version)):
        out.add(
            hazard.origin,
            "range-end",
            hazard.message.removeprefix(f"{hazard.origin}: "),
            "end the range at 65534 (talospatch gen does), narrow the sources, or run Talos >= v1.12.5",
        )


def check_default_action(fw: Firewall, out: Collector) -> None:
    """A patch of rules only: the mode, and so what the rules do, comes from the config it patches."""
    if not fw.has_default_doc and (out.options.guard_from or out.options.profiles):
        out.add(
            "firewall",
            "no-default-action",
            "no NetworkDefaultActionConfig, so what the rules allow depends on the config they patch",
            "give that file too, first, with --merge (the lockout and profile checks need it)",
        )


def check_apid(fw: Firewall, out: Collector) -> None:
    if fw.default_action == "block" and not covered(fw, "tcp", PortRange(50000, 50000)):
        out.add(
            DEFAULT_ACTION_KIND,
            "no-apid",
            "block mode, and no rule allows apid 50000/tcp: talosctl cannot reach the node",
            "add an apid-ingress rule for the node subnet and the admin addresses",
        )


def check_lockout(fw: Firewall, out: Collector) -> None:
    opts = out.options
    if not opts.guard_from:
        return
    ports = list(opts.lockout_ports) or [APID]
    if not opts.lockout_ports and (
        out.machine_type in ("controlplane", "init") or covered(fw, "tcp", PortRange(6443, 6443))
    ):
        ports.append(KUBE_API)
    for address, port, protocol, answer in lost_access(Reach(fw, opts.context, opts.version), opts.guard_from, ports):
        out.add(
            "firewall",
            "lockout",
            f"lockout: {address} would lose {port}/{protocol} ({answer.reason})",
            f"add {ipaddress.ip_network(address)} to the rule for {port}/{protocol}",
        )


def _link_local_sources(fw: Firewall) -> set[IPAddress]:
    """One link-local address inside each rule subnet that overlaps fe80::/10, and fe80::1."""
    found: set[IPAddress] = {ipaddress.IPv6Address("fe80::1")}
    for rule in fw.rules:
        for subnet in rule.subnets:
            if subnet.version == 6 and subnet.overlaps(LINK_LOCAL):
                inner = subnet if is_link_local(subnet) else LINK_LOCAL
                found.add(inner.network_address + (1 if inner.num_addresses > 1 else 0))
    return found


def check_dhcpv6(fw: Firewall, out: Collector) -> None:
    """DHCPv6 on, and no link-local server may answer: the reply to the multicast Solicit is
    a new flow for conntrack (tests/nft/test_dhcp_realpackets.py)."""
    if not out.dhcpv6:
        return
    reach = Reach(fw, out.options.context, out.options.version)
    sources = _link_local_sources(fw)
    if any(reach.query(a, DHCPV6_CLIENT_PORT, "udp", _NODE_LINK_LOCAL).allowed for a in sources):
        return
    out.add(
        "firewall",
        "dhcpv6-blocked",
        f"DHCPv6 is on ({', '.join(out.dhcpv6)}) and the firewall drops its replies: the server answers the "
        f"multicast Solicit from a link-local address to {DHCPV6_CLIENT_PORT}/udp, a new flow for conntrack, so "
        "the node gets no DHCPv6 address",
        f"allow {DHCPV6_CLIENT_PORT}/udp from fe80::/10 (talospatch gen --with dhcp); DHCPv4 needs no rule",
    )


def check_redundant(fw: Firewall, out: Collector) -> None:
    """A rule that adds nothing to the others: removing it changes no verdict (last first)."""
    current = fw
    for rule in reversed(fw.rules):
        if rule.protocol not in ("tcp", "udp") or not rule.ingress:
            continue
        others = tuple(r for r in current.rules if r.name != rule.name)
        without = dataclasses.replace(current, rules=others)
        if traffic_diff(current, without, out.options.context, within=(rule.protocol, rule.ports)):
            continue
        overlapping = [
            r.name
            for r in others
            if r.portSelector.protocol == rule.protocol
            and any(p.lo <= q.hi and q.lo <= p.hi for p in r.ports for q in rule.ports)
        ]
        if fw.default_action == "block":
            verb = "allows" if len(overlapping) == 1 else "allow"
            what = "allows nothing the other rules do not" + (
                f" ({', '.join(overlapping)} already {verb} it)" if overlapping else ""
            )
        else:
            what = "changes no verdict: in accept mode it drops nothing that the other rules do not"
        fix = "delete it, or merge its ports and sources into one rule"
        out.add(f"{RULE_KIND}/{rule.name}", "redundant", what, fix)
        current = without
