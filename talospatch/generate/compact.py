"""The compact layout: one NetworkRuleConfig per protocol and set of sources.

Talos compiles each NetworkRuleConfig into its own nftables rule in the ``ingress`` chain
and another in ``prerouting`` (two of each for a dual-stack source list). Services that
take the same protocol from the same CIDRs can share one document whose port list is the
union of theirs: the node accepts exactly the same packets with fewer rules.

A document that carries one service keeps the service's own name (``apid-ingress``, as
Talos's documentation names it); a shared one is named for what it allows, the protocol and
the source groups of its services: ``tcp-from-controlplane``, ``udp-from-nodes``. The names
depend only on the request, so regenerating gives the same documents.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from talospatch.talos.documents import PortRange, PortSelector, RuleConfig


def merge_overlapping(ports: Iterable[PortRange]) -> tuple[PortRange, ...]:
    """Sorted, with overlapping ranges joined (Talos rejects overlaps; touching ones stay apart)."""
    merged: list[PortRange] = []
    for pr in sorted(ports):
        if merged and pr.lo <= merged[-1].hi:
            merged[-1] = PortRange(merged[-1].lo, max(merged[-1].hi, pr.hi))
        else:
            merged.append(pr)
    return tuple(merged)


def shared_name(protocol: str, groups: Iterable[str]) -> str:
    """``tcp-from-controlplane``: the name of a document shared by several services."""
    return f"{protocol}-from-{'-'.join(groups)}"


def group_rules(documents: Sequence[RuleConfig]) -> list[list[int]]:
    """Which documents can share one: lists of indexes into ``documents``, in first-seen
    order. Documents share when their protocol and ingress list are equal."""
    by_key: dict[tuple[object, ...], list[int]] = {}
    for index, document in enumerate(documents):
        key = (document.protocol, *((str(r.subnet), str(r.except_)) for r in document.ingress))
        by_key.setdefault(key, []).append(index)
    return list(by_key.values())


def shared_document(members: Sequence[tuple[RuleConfig, Sequence[str]]], group_order: Sequence[str]) -> RuleConfig:
    """The document of services that take the same protocol from the same sources.

    One member: its own document. Several: named by ``shared_name`` over the source groups
    of every member (in ``group_order``), with the union of their ports.
    """
    if len(members) == 1:
        return members[0][0]
    first = members[0][0]
    used = {group for _, groups in members for group in groups}
    return RuleConfig(
        name=shared_name(first.protocol, [g for g in group_order if g in used]),
        portSelector=PortSelector(
            ports=merge_overlapping(p for document, _ in members for p in document.ports),
            protocol=first.protocol,
        ),
        ingress=first.ingress,
    )
