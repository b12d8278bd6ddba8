"""Every lint rule as data: its code, severity, what it finds, the usual fix, and the checks
that report it, in the order the engine runs them (which is the order of the findings).

A check is one function, of one of four kinds: ``OnDocument`` (each firewall document of
a file on its own), ``OnFile`` (after a file's documents), ``OnRule`` (each rule the node
ends up with) and ``OnFirewall`` (the firewall as a whole). Adding a rule is writing its
check in the module of its kind and one line here. The command's list of rules, and
``docs/check-rules.md``, are made from this table.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from talospatch.checks.lint import context, documents, firewall, profiles, rules
from talospatch.checks.lint.findings import Collector, Severity
from talospatch.errors import BadInput
from talospatch.talos.documents import Firewall, RuleConfig


@dataclass(frozen=True)
class OnDocument:
    """Returns the document to read on (repaired if need be), or ``None``: it goes no further."""

    run: Callable[[Mapping[str, Any], str, str, Collector], Mapping[str, Any] | None]


@dataclass(frozen=True)
class OnFile:
    run: Callable[[Collector], None]


@dataclass(frozen=True)
class OnRule:
    run: Callable[[RuleConfig, str, Collector], None]
    # A finding leaves the rule out of the later checks and of the firewall (as does an error).
    drops: bool = False


@dataclass(frozen=True)
class OnFirewall:
    run: Callable[[Firewall, Collector], None]
    # Only when the files set the default action: otherwise the config they patch decides.
    needs_mode: bool = True


Check = OnDocument | OnFile | OnRule | OnFirewall


@dataclass(frozen=True)
class Rule:
    code: str
    severity: Severity
    summary: str  # what it finds
    fix: str
    # The checks that report it; none for what the engine itself reports (a file it cannot read).
    checks: tuple[Check, ...]


RULES: tuple[Rule, ...] = (
    Rule("unreadable", "error", "A file that is not YAML: nothing in it is checked.", "Fix the YAML.", ()),
    Rule(
        "placeholder",
        "hazard",
        "A `${VAR}` placeholder, which Talos reads literally: its document, and the firewall as a whole, "
        "are not checked.",
        "Substitute it before applying (envsubst, talhelper, flux).",
        (OnDocument(documents.check_placeholders),),
    ),
    Rule(
        "quoted-port",
        "hazard",
        'A single port written as a string (`"80"`), which Talos rejects as a port range.',
        "Write it unquoted.",
        (OnDocument(documents.check_quoted_ports),),
    ),
    Rule(
        "invalid",
        "error",
        "A firewall document Talos rejects: a bad field, no name, overlapping port ranges, no ports.",
        "Fix the document (a patch of a rule defined elsewhere: check both files together, merged).",
        (OnDocument(documents.check_valid), OnRule(documents.check_ports_given)),
    ),
    Rule(
        "duplicate-name",
        "hazard",
        "Two documents of one file with the same name: Talos before v1.14 rejects the file, later ones merge them.",
        "Keep one.",
        (OnFile(documents.check_names),),
    ),
    Rule(
        "no-protocol",
        "hazard",
        "A rule without `portSelector.protocol`: Talos accepts it and it matches nothing.",
        "Add `protocol: tcp` (or udp).",
        (OnRule(rules.check_protocol, drops=True),),
    ),
    Rule(
        "icmp-rule",
        "hazard",
        "A rule for ICMP or ICMPv6: Talos matches its ports against the ICMP checksum.",
        "Delete it: block mode accepts ICMP and ICMPv6 at 5 packets/s.",
        (OnRule(rules.check_icmp),),
    ),
    Rule(
        "empty-ingress",
        "hazard",
        "A rule with no sources under `ingress`: its ports are closed to everyone.",
        "List the sources, or delete the rule.",
        (OnRule(rules.check_ingress),),
    ),
    Rule(
        "except-outside",
        "hazard",
        "An `except` outside its subnet: Talos subtracts it from all the rule's subnets.",
        "Put it under the subnet it narrows, or delete it.",
        (OnRule(rules.check_excepts),),
    ),
    Rule(
        "open-to-everyone",
        "hazard",
        "etcd, the kubelet API, kube-controller-manager, kube-scheduler or trustd open to 0.0.0.0/0 or ::/0.",
        "Allow only the node subnet, or the control-plane addresses.",
        (OnRule(rules.check_open_to_everyone),),
    ),
    Rule(
        "beyond-controlplane",
        "hazard",
        "etcd, kube-controller-manager or kube-scheduler open beyond the control-plane addresses given.",
        "Allow only the control-plane addresses.",
        (OnRule(rules.check_beyond_controlplane),),
    ),
    Rule(
        "one-family",
        "hazard",
        "A rule with sources of one IP family on a dual-stack node: its ports are closed over the other "
        "(rules from IPv6 link-local addresses only, such as DHCPv6's, are not reported).",
        "Add the other family's sources.",
        (OnFirewall(firewall.check_families, needs_mode=False),),
    ),
    Rule(
        "too-many-rules",
        "hazard",
        f"More than {firewall.NFT_RULE_BUDGET} compiled nft rules: Talos before v1.13.9 and v1.14.0-rc.1 can "
        "fail with ENOBUFS.",
        "Merge rules with the same protocol and sources, or run Talos >= v1.13.9.",
        (OnFirewall(firewall.check_budget, needs_mode=False),),
    ),
    Rule(
        "range-end",
        "hazard",
        "A set ending at port 65535 or the last address, which crash-loops the firewall of the Talos release "
        "given (before v1.12.5).",
        "End the range at 65534, narrow the sources, or run Talos >= v1.12.5.",
        (OnFirewall(firewall.check_range_ends, needs_mode=False),),
    ),
    Rule(
        "no-default-action",
        "hazard",
        "Rules without a NetworkDefaultActionConfig, while lockout or profile checks are asked for.",
        "Give the config they patch too, first, merged.",
        (OnFirewall(firewall.check_default_action, needs_mode=False),),
    ),
    Rule(
        "no-apid",
        "hazard",
        "Block mode, and no rule allows apid 50000/tcp: talosctl cannot reach the node.",
        "Add an apid-ingress rule for the node subnet and the admin addresses.",
        (OnFirewall(firewall.check_apid),),
    ),
    Rule(
        "lockout",
        "hazard",
        "An address that must keep access would lose apid 50000/tcp (or 6443/tcp on a control plane).",
        "Add the address to the rule for that port.",
        (OnFirewall(firewall.check_lockout),),
    ),
    Rule(
        "dhcpv6-blocked",
        "hazard",
        "DHCPv6 turned on (`DHCPv6Config`, or `dhcpOptions.ipv6`) and no rule lets the server's link-local "
        "reply reach 546/udp: conntrack sees it as new, so the node gets no DHCPv6 address.",
        "Allow 546/udp from fe80::/10 (`gen --with dhcp`). DHCPv4 needs no rule.",
        (OnFirewall(firewall.check_dhcpv6),),
    ),
    Rule(
        "nodeport-bypass",
        "hazard",
        "The node's config turns kube-proxy off (`cluster.proxy.disabled`, `KubeProxyConfig` `enabled: false`): "
        "the CNI's kube-proxy replacement serves NodePorts before nftables, past every rule.",
        "Filter NodePorts in the CNI (Cilium host firewall, network policy), or keep kube-proxy.",
        (OnFirewall(context.check_kube_proxy, needs_mode=False),),
    ),
    Rule(
        "converged-missing",
        "hazard",
        "A control plane whose config lets workloads run on it (`cluster.allowSchedulingOnControlPlanes`, "
        "a `KubeNodeConfig` without the control-plane NoSchedule taint) and no rule for the NodePorts, or for "
        "the ports of a worker-only add-on (`roles: [worker]`) given with `--with` or whose rules stand in a "
        "worker's file checked beside it (block mode).",
        "Generate it with `gen --role controlplane --converged` (a spec: `converged: true`), or keep the taint.",
        (OnFirewall(context.check_converged),),
    ),
    Rule(
        "missing-port",
        "hazard",
        "A port the role, CNI or add-on profiles given need, and no rule allows (block mode).",
        "Add a rule for it from the sources the profile names.",
        (OnFirewall(profiles.check_profiles),),
    ),
    Rule(
        "redundant",
        "hazard",
        "A rule that changes no verdict: the other rules already allow (or, in accept mode, drop) what it does.",
        "Delete it, or merge its ports and sources into one rule.",
        (OnFirewall(firewall.check_redundant),),
    ),
)

BY_CODE: dict[str, Rule] = {rule.code: rule for rule in RULES}


_C = TypeVar("_C", OnDocument, OnFile, OnRule, OnFirewall)


def _of(kind: type[_C]) -> list[_C]:
    """The checks of one kind, in the order of the table."""
    return [check for rule in RULES for check in rule.checks if isinstance(check, kind)]


DOCUMENT_CHECKS: list[OnDocument] = _of(OnDocument)
FILE_CHECKS: list[OnFile] = _of(OnFile)
RULE_CHECKS: list[OnRule] = _of(OnRule)
FIREWALL_CHECKS: list[OnFirewall] = _of(OnFirewall)


def ignorable(codes: list[str], label: str) -> frozenset[str]:
    """The codes to ignore; ``BadInput`` for one that is no rule, or an error (Talos rejects it)."""
    for code in codes:
        rule = BY_CODE.get(code)
        if rule is None:
            raise BadInput(f"{label} {code!r} is not a rule; valid: {', '.join(BY_CODE)}")
        if rule.severity == "error":
            raise BadInput(f"{label} {code!r} cannot be ignored: Talos rejects what it finds")
    return frozenset(codes)
