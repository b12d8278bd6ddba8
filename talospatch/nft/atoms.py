"""Split the address and port spaces where rule boundaries fall, and merge the pieces back.

Between two boundaries no rule starts or ends, so every address (or port) of one piece, an
*atom*, meets the same verdict: evaluating one point per atom answers for all of them. That
makes questions about whole address ranges exact without sampling (``talospatch.checks.diff``).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from talospatch.talos.addresses import IPAddress
from talospatch.talos.documents import Network, PortRange

Interval = tuple[int, int]  # inclusive

PORT_MAX = 65535


def address_space(version: int) -> int:
    """The number of addresses of IPv4 (4) or IPv6 (6)."""
    return 1 << (32 if version == 4 else 128)


def address_atoms(version: int, networks: Iterable[Network]) -> list[Interval]:
    """The whole address space of ``version`` cut at every network's first and last address."""
    size = address_space(version)
    starts = {0}
    for net in networks:
        if net.version != version:
            continue
        starts.add(int(net.network_address))
        end = int(net.broadcast_address) + 1
        if end < size:
            starts.add(end)
    ordered = sorted(starts)
    return [(lo, hi - 1) for lo, hi in zip(ordered, [*ordered[1:], size], strict=True)]


def port_atoms(ranges: Iterable[PortRange]) -> list[PortRange]:
    """Ports 0-65535 cut at every range's first and last port."""
    starts = {0}
    for pr in ranges:
        starts.add(pr.lo)
        if pr.hi < PORT_MAX:
            starts.add(pr.hi + 1)
    ordered = sorted(starts)
    return [PortRange(lo, hi - 1) for lo, hi in zip(ordered, [*ordered[1:], PORT_MAX + 1], strict=True)]


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """Sorted, with touching and overlapping intervals joined."""
    merged: list[Interval] = []
    for lo, hi in sorted(intervals):
        if merged and lo <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(hi, merged[-1][1]))
        else:
            merged.append((lo, hi))
    return merged


def merge_ports(ranges: Iterable[PortRange]) -> list[PortRange]:
    return [PortRange(lo, hi) for lo, hi in merge((p.lo, p.hi) for p in ranges)]


def address(version: int, value: int) -> IPAddress:
    return ipaddress.IPv4Address(value) if version == 4 else ipaddress.IPv6Address(value)


def networks(version: int, intervals: Iterable[Interval]) -> list[Network]:
    """The fewest CIDRs that cover exactly these intervals, in address order."""
    out: list[Network] = []
    for lo, hi in merge(intervals):
        out.extend(ipaddress.summarize_address_range(address(version, lo), address(version, hi)))
    return out


def inside(version: int, intervals: Iterable[Interval], nets: Iterable[Network]) -> list[Interval]:
    """The parts of ``intervals`` (atoms) that lie inside ``nets``; atoms cut at ``nets`` lie wholly in or out."""
    spans = merge((int(n.network_address), int(n.broadcast_address)) for n in nets if n.version == version)
    return [(lo, hi) for lo, hi in intervals if any(s_lo <= lo and hi <= s_hi for s_lo, s_hi in spans)]
