"""A ``Ruleset`` as text for ``nft -f``, exactly as ``nft list ruleset`` (nftables 1.0.6)
prints the table back, minus the packet/byte numbers of the counters. Pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from talospatch.nft.compile import TABLE_FAMILY, TABLE_NAME, NftRule, Ruleset
from talospatch.nft.sets import AddressSet
from talospatch.talos.documents import PortRange

_CT_STATE_BITS: dict[str, int] = {
    "invalid": 1,
    "established": 2,
    "related": 4,
    "new": 8,
    "untracked": 64,
}
_ICMP_TYPES: dict[str, int] = {
    "echo-reply": 0,
    "destination-unreachable": 3,
    "echo-request": 8,
    "time-exceeded": 11,
    "timestamp-request": 13,
    "timestamp-reply": 14,
    "address-mask-request": 17,
    "address-mask-reply": 18,
}

_STD_PRIORITIES: tuple[tuple[str, int], ...] = (
    ("raw", -300),
    ("mangle", -150),
    ("dstnat", -100),
    ("filter", 0),
    ("security", 50),
    ("srcnat", 100),
)


def priority_text(priority: int) -> str:
    """A chain priority as nft 1.0.6 lists it: ``mangle + 10``, ``dstnat - 10``, ``filter``."""
    for name, value in _STD_PRIORITIES:
        offset = priority - value
        if offset == 0:
            return name
        if -10 <= offset <= 10:
            return f"{name} {'+' if offset > 0 else '-'} {abs(offset)}"
    return str(priority)


def _ifname_key(name: str) -> int:
    # nft sorts ifname set elements as host-endian (little-endian) 16-byte integers.
    return int.from_bytes(name.encode().ljust(16, b"\0")[:16], "little")


def _value(elements: Sequence[str]) -> str:
    return elements[0] if len(elements) == 1 else "{ " + ", ".join(elements) + " }"


def _port_text(ports: Iterable[PortRange]) -> str:
    return _value([p.label for p in sorted(ports)])


def _address_text(prefix: str, key: str, aset: AddressSet) -> str:
    op = "!= " if aset.invert else ""
    return f"{prefix} {key} {op}{_value(aset.elements())}"


def rule_text(rule: NftRule, *, comment: bool = False) -> str:
    """One rule as ``nft list`` prints it (counter without numbers).

    nft folds Talos's ``meta nfproto`` into a following ``ip``/``ip6`` address match, and
    ``meta l4proto`` into the port match (``tcp dport``); a port match on ICMP lists as
    ``icmp checksum`` because Talos loads the transport header at offset 2.
    """
    parts: list[str] = []
    if rule.iifnames:
        names = sorted(rule.iifnames, key=_ifname_key)
        parts.append("iifname " + _value([f'"{n}"' for n in names]))
    if rule.ct_states:
        states = sorted(rule.ct_states, key=lambda s: _CT_STATE_BITS[s])
        parts.append("ct state " + _value(states))
    folded_l4 = bool(rule.dports or rule.icmp_types)
    if rule.l4proto is not None and not folded_l4:
        parts.append(f"meta l4proto {rule.l4proto}")
    if rule.family is not None and rule.saddr is None and rule.daddr is None:
        parts.append(f"meta nfproto {rule.family}")
    ip = "ip" if rule.family == "ipv4" else "ip6"
    if rule.saddr is not None:
        parts.append(_address_text(ip, "saddr", rule.saddr))
    if rule.daddr is not None:
        parts.append(_address_text(ip, "daddr", rule.daddr))
    if rule.l4proto is not None and folded_l4:
        header = {"tcp": "tcp", "udp": "udp", "icmp": "icmp", "ipv6-icmp": "icmpv6"}[rule.l4proto]
        if rule.dports:
            field_name = "dport" if rule.l4proto in ("tcp", "udp") else "checksum"
            parts.append(f"{header} {field_name} {_port_text(rule.dports)}")
        if rule.icmp_types:
            types = sorted(rule.icmp_types, key=lambda t: _ICMP_TYPES.get(t, 256))
            parts.append(f"{header} type {_value(types)}")
    if rule.limit_per_second is not None:
        # Talos sets burst = rate; nft omits the default burst of 5.
        burst = rule.limit_per_second
        extra = "" if burst == 5 else f" burst {burst} packets"
        parts.append(f"limit rate {rule.limit_per_second}/second{extra}")
    if rule.counter:
        parts.append("counter")
    parts.append(rule.verdict)
    if comment:
        parts.append(f'comment "{rule.origin}"')
    return " ".join(parts)


def render(ruleset: Ruleset, *, header: bool = True, comments: bool = False) -> str:
    """The table as text for ``nft -f`` (no flush/delete), in ``nft list ruleset`` layout.

    ``header`` adds ``#`` lines naming the modelled Talos version; ``comments`` adds an nft
    ``comment "<origin>"`` to each rule (Talos itself sets none). Deterministic.
    """
    lines: list[str] = []
    if header:
        lines.append(f"# table {TABLE_FAMILY} {TABLE_NAME} as Talos {ruleset.talos_version} builds it")
        lines.append("# (talospatch; nft list ruleset form, nftables 1.0.6; load with nft -f)")
    lines.append(f"table {TABLE_FAMILY} {TABLE_NAME} {{")
    for index, chain in enumerate(ruleset.chains):
        if index:
            lines.append("")
        lines.append(f"\tchain {chain.name} {{")
        lines.append(
            f"\t\ttype {chain.type} hook {chain.hook} priority {priority_text(chain.priority)}; policy {chain.policy};"
        )
        lines.extend(f"\t\t{rule_text(rule, comment=comments)}" for rule in chain.rules)
        lines.append("\t}")
    lines.append("}")
    return "\n".join(lines) + "\n"
