"""pfSense's ``config.xml`` elements talospatch writes: rules, aliases and the comment above them.

The format is pfSense's own (``src/etc/inc/xmlparse.inc`` writes it): ``descr`` and ``detail``
as CDATA holding HTML-escaped text, one ``<rule>`` per pass rule with a unique integer
``tracker``, addresses or alias names in ``<address>``, ``<any></any>`` for any address. The
indentation is the caller's: tabs in the restore areas, the file's own in a merge. Every rule
and alias has a description starting ``talospatch:`` (pfSense's rule and alias forms keep
``descr`` and ``tracker`` when a rule is edited), and its trackers come from
3,000,000,000-3,000,999,999, away from the ``(int)microtime()`` trackers pfSense gives new rules.
"""

from __future__ import annotations

from dataclasses import dataclass

from talospatch.export.routed import (
    TAG,
    Alias,
    RoutedPlan,
    RoutedRule,
    address_text,
    family_name,
    not_enforced_lines,
    stable_number,
)

TRACKER_START = 3_000_000_000
TRACKER_SPAN = 1_000_000


@dataclass(frozen=True)
class PfRule:
    tracker: int
    interface: str
    rule: RoutedRule


def _cdata(text: str) -> str:
    """As pfSense writes descr/detail: htmlentities(ENT_QUOTES | ENT_XML1) inside CDATA."""
    escaped = (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&apos;")
    )
    return f"<![CDATA[{escaped}]]>"


def _comment_text(text: str) -> str:
    """Text that is safe inside an XML comment (no ``--``, not ending in ``-``)."""
    while "--" in text:
        text = text.replace("--", "- -")
    return text.rstrip("-")


def pf_rules(
    routed: RoutedPlan, cluster_interface: str, from_interfaces: tuple[str, ...], taken: set[int]
) -> list[PfRule]:
    rules: list[PfRule] = []
    for rule in routed.rules:
        interfaces = from_interfaces if rule.placement == "inbound" else (cluster_interface,)
        for interface in interfaces:
            tracker = stable_number(f"{rule.key}@{interface}", TRACKER_START, TRACKER_SPAN, taken)
            rules.append(PfRule(tracker, interface, rule))
    return rules


def _endpoint(tag: str, address: str | None, port: str | None, ind: str, unit: str) -> list[str]:
    inner = ind + unit
    lines = [f"{ind}<{tag}>"]
    lines.append(f"{inner}<any></any>" if address is None else f"{inner}<address>{address}</address>")
    if port is not None:
        lines.append(f"{inner}<port>{port}</port>")
    lines.append(f"{ind}</{tag}>")
    return lines


def rule_lines(pf: PfRule, ind: str, unit: str) -> list[str]:
    rule = pf.rule
    inner = ind + unit
    port = str(rule.port.lo) if rule.port.lo == rule.port.hi else f"{rule.port.lo}-{rule.port.hi}"
    return [
        f"{ind}<rule>",
        f"{inner}<tracker>{pf.tracker}</tracker>",
        f"{inner}<type>pass</type>",
        f"{inner}<interface>{pf.interface}</interface>",
        f"{inner}<ipprotocol>{family_name(rule.families)}</ipprotocol>",
        f"{inner}<protocol>{rule.protocol}</protocol>",
        *_endpoint("source", rule.source, None, inner, unit),
        *_endpoint("destination", rule.destination, port, inner, unit),
        f"{inner}<descr>{_cdata(rule.description)}</descr>",
        f"{ind}</rule>",
    ]


def alias_lines(alias: Alias, ind: str, unit: str) -> list[str]:
    inner = ind + unit
    kind = "host" if alias.hosts_only else "network"
    addresses = " ".join(address_text(n) if kind == "host" else str(n) for n in alias.networks)
    detail = "||".join("talospatch" for _ in alias.networks)
    return [
        f"{ind}<alias>",
        f"{inner}<name>{alias.name}</name>",
        f"{inner}<type>{kind}</type>",
        f"{inner}<address>{addresses}</address>",
        f"{inner}<descr>{_cdata(alias.description)}</descr>",
        f"{inner}<detail>{_cdata(detail)}</detail>",
        f"{ind}</alias>",
    ]


def comment_lines(
    routed: RoutedPlan, cluster_interface: str, from_interfaces: tuple[str, ...], ind: str, *, section: bool
) -> list[str]:
    lines = [
        (
            f"{TAG} rules for the Talos node VLAN (interface {cluster_interface}); admin and other routed "
            f"sources arrive on {', '.join(from_interfaces)}."
        ),
    ]
    if section:
        lines.append(
            "Restoring this file as the Firewall Rules area replaces every rule on the firewall: "
            "merge the rules into your own exported config.xml instead (export pfsense with merge-into)."
        )
    lines += not_enforced_lines(routed)
    body = [f"{ind}{_comment_text(line)}" for line in lines]
    return [f"{ind}<!-- {body[0].strip()}", *body[1:], f"{ind}-->"]
