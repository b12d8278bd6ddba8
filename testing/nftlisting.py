"""nftables listings as comparable lines: the tests' view of ``nft list ruleset``.

``normalize_listing`` brings ``nft -f`` input and ``nft list ruleset`` output (other
spellings of the same rules included) to nftables 1.0.6's listed form, so a rendered
ruleset and what the kernel lists back can be compared rule for rule.
"""

from __future__ import annotations

import ipaddress
import re

from talospatch.nft.sets import _addr_text, _family_of, _interval_text
from talospatch.nft.text import _CT_STATE_BITS, _ICMP_TYPES, _ifname_key, _value, priority_text

_COUNTER_RE = re.compile(r"\bcounter packets \d+ bytes \d+")
_SET_RE = re.compile(r"\{([^{}]*)\}")
_PRIORITY_RE = re.compile(r"\bpriority (-?\d+);")
_FOLDS = (
    (re.compile(r"\bmeta l4proto icmp (icmp (type|code|checksum))\b"), r"\1"),
    (re.compile(r"\bmeta l4proto (ipv6-icmp|icmpv6) (icmpv6 (type|code|checksum))\b"), r"\2"),
    (re.compile(r"\bmeta l4proto (tcp|udp) (\1 [sd]port)\b"), r"\2"),
    (re.compile(r"\bmeta l4proto icmp th dport\b"), "icmp checksum"),
    (re.compile(r"\bmeta l4proto (ipv6-icmp|icmpv6) th dport\b"), "icmpv6 checksum"),
)


def _element_key(index: int, element: str) -> tuple[int, int, int]:
    if element.startswith('"') and element.endswith('"'):
        return (0, _ifname_key(element[1:-1]), index)
    if element in _CT_STATE_BITS:
        return (2, _CT_STATE_BITS[element], index)
    if element in _ICMP_TYPES:
        return (2, _ICMP_TYPES[element], index)
    first = element.split("/")[0].split("-")[0]
    if first.isdigit():
        return (1, int(first), index)
    try:
        addr = ipaddress.ip_address(first)
    except ValueError:
        return (9, 0, index)
    return (3 + addr.version, int(addr), index)


def _normalize_element(element: str) -> str:
    """An address, prefix or range element in nft's listed spelling; others unchanged."""
    lo_text, sep, hi_text = element.partition("-")
    try:
        if "/" in element:
            net = ipaddress.ip_network(element, strict=False)
            first, last = int(net.network_address), int(net.broadcast_address)
            return _interval_text(_family_of(net), first, last)
        if sep:
            lo, hi = ipaddress.ip_address(lo_text), ipaddress.ip_address(hi_text)
            if lo.version != hi.version:
                return element
            return _interval_text(_family_of(lo), int(lo), int(hi))
        addr = ipaddress.ip_address(element)
        return _addr_text(_family_of(addr), int(addr))
    except ValueError:
        return element


def _normalize_set(match: re.Match[str]) -> str:
    elements = [e.strip() for e in match.group(1).split(",") if e.strip()]
    elements = [_normalize_element(e) for e in elements]
    ordered = [e for _, e in sorted(enumerate(elements), key=lambda p: _element_key(*p))]
    return _value(ordered)


def _normalize_rule(line: str) -> str:
    line = _COUNTER_RE.sub("counter", line)
    line = line.replace(" burst 5 packets", "")
    line = _SET_RE.sub(_normalize_set, line)
    for pattern, replacement in _FOLDS:
        line = pattern.sub(replacement, line)
    if re.search(r"\bip (saddr|daddr)\b", line):
        line = line.replace("meta nfproto ipv4 ", "")
    if re.search(r"\bip6 (saddr|daddr)\b", line):
        line = line.replace("meta nfproto ipv6 ", "")
    tokens = line.split()
    # Single plain addresses outside sets, e.g. "ip daddr != 10.3.4.5/32".
    return " ".join(_normalize_element(t) if t[:1].isdigit() or ":" in t else t for t in tokens)


def normalize_listing(text: str) -> list[str]:
    """``nft -f`` input or ``nft list ruleset`` output as comparable lines, in order.

    Keeps ``table ...``/``chain ...`` headers, the chain ``type`` line and one line per rule;
    drops blank lines, ``#`` comments and braces. Brings each line to nft 1.0.6's listed
    form: counters without numbers, numeric priorities as ``mangle + 10``, no default
    ``burst 5 packets``, set elements sorted and in nft's spelling (``/32`` dropped, IPv6 as
    ``inet_ntop`` writes it), single-element sets as plain values, and ``meta l4proto``/
    ``meta nfproto`` folded into the match that implies them.
    """
    out: list[str] = []
    for raw in text.splitlines():
        line = " ".join(raw.split())
        if not line or line.startswith("#") or line == "}":
            continue
        if line.endswith(" {") and line.split()[0] in ("table", "chain"):
            out.append(line[:-2])
            continue
        if line.startswith("type "):
            line = _PRIORITY_RE.sub(lambda m: f"priority {priority_text(int(m.group(1)))};", line)
            out.append(line)
            continue
        out.append(_normalize_rule(line))
    return out
