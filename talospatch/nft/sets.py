"""Address sets as Talos builds them (``BuildIPSet``/``SplitIPSet``): inclusive integer
intervals per family, and the anonymous nft interval sets a rule matches with.

Pure: intervals in, intervals out. ``AddressSet.elements`` spells a set's elements as
``nft list`` (nftables 1.0.6) prints them.
"""

from __future__ import annotations

import bisect
import ipaddress
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from talospatch.talos.documents import Network

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Family = Literal["ipv4", "ipv6"]

_FAMILY_BITS: dict[Family, int] = {"ipv4": 32, "ipv6": 128}


def _family_of(value: IPAddress | Network) -> Family:
    return "ipv4" if value.version == 4 else "ipv6"


def _merge_intervals(intervals: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted, with overlapping and touching intervals joined (netipx's normal form)."""
    merged: list[tuple[int, int]] = []
    for lo, hi in sorted(intervals):
        if merged and lo <= merged[-1][1] + 1:
            if hi > merged[-1][1]:
                merged[-1] = (merged[-1][0], hi)
        else:
            merged.append((lo, hi))
    return merged


def _subtract(include: list[tuple[int, int]], exclude: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """``include`` minus ``exclude``; both in normal form, and so is the result."""
    out: list[tuple[int, int]] = []
    for lo, hi in include:
        cur = lo
        for ex_lo, ex_hi in exclude:
            if ex_hi < cur or ex_lo > hi:
                continue
            if ex_lo > cur:
                out.append((cur, ex_lo - 1))
            cur = ex_hi + 1
            if cur > hi:
                break
        if cur <= hi:
            out.append((cur, hi))
    return out


@dataclass(frozen=True)
class IPSetParts:
    """Talos's ``SplitIPSet(BuildIPSet(...))``: the IPv4 and IPv6 inclusive integer ranges.

    An empty tuple is Go's ``nil`` set for that family.
    """

    v4: tuple[tuple[int, int], ...]
    v6: tuple[tuple[int, int], ...]

    def of(self, family: Family) -> tuple[tuple[int, int], ...]:
        return self.v4 if family == "ipv4" else self.v6

    def covers_all(self, family: Family) -> bool:
        ranges = self.of(family)
        return ranges == ((0, (1 << _FAMILY_BITS[family]) - 1),)

    def contains(self, addr: IPAddress) -> bool:
        return _in_ranges(self.of(_family_of(addr)), int(addr))


def build_ip_set(include: Iterable[Network], exclude: Iterable[Network] = ()) -> IPSetParts:
    """The union of ``include`` minus the union of ``exclude``, per family (netipx semantics).

    Every exclude applies to every include: an ``except`` of one ingress entry removes its
    addresses from all the subnets of that rule.
    """
    inc: dict[Family, list[tuple[int, int]]] = {"ipv4": [], "ipv6": []}
    exc: dict[Family, list[tuple[int, int]]] = {"ipv4": [], "ipv6": []}
    for target, networks in ((inc, include), (exc, exclude)):
        for net in networks:
            target[_family_of(net)].append((int(net.network_address), int(net.broadcast_address)))
    v4 = _subtract(_merge_intervals(inc["ipv4"]), _merge_intervals(exc["ipv4"]))
    v6 = _subtract(_merge_intervals(inc["ipv6"]), _merge_intervals(exc["ipv6"]))
    return IPSetParts(tuple(v4), tuple(v6))


def _in_ranges(ranges: Sequence[tuple[int, int]], value: int) -> bool:
    index = bisect.bisect_right(ranges, (value, 1 << 129)) - 1
    return index >= 0 and ranges[index][0] <= value <= ranges[index][1]


@dataclass(frozen=True)
class AddressSet:
    """An anonymous interval set of one family, matched with ``==`` or (``invert``) ``!=``.

    ``ranges`` are inclusive integer ranges, sorted, disjoint and not touching.
    """

    family: Family
    ranges: tuple[tuple[int, int], ...]
    invert: bool = False

    def contains(self, addr: IPAddress) -> bool:
        """Plain membership, ignoring ``invert``; an address of the other family is not in it."""
        return _family_of(addr) == self.family and _in_ranges(self.ranges, int(addr))

    def matches(self, addr: IPAddress) -> bool:
        """What the nft expression does: the family must match, then ``==`` or ``!=``."""
        if _family_of(addr) != self.family:
            return False
        return _in_ranges(self.ranges, int(addr)) != self.invert

    @property
    def address_ranges(self) -> tuple[tuple[IPAddress, IPAddress], ...]:
        """The ranges as (first, last) addresses."""
        make = ipaddress.IPv4Address if self.family == "ipv4" else ipaddress.IPv6Address
        return tuple((make(lo), make(hi)) for lo, hi in self.ranges)

    def elements(self) -> list[str]:
        """The set elements as nft lists them: an address, a CIDR prefix, or ``a-b``."""
        return [_interval_text(self.family, lo, hi) for lo, hi in self.ranges]


def _addr_text(family: Family, value: int) -> str:
    """An address as nft prints it (``inet_ntop``; differs from Python for IPv6)."""
    if family == "ipv4":
        return str(ipaddress.IPv4Address(value))
    return socket.inet_ntop(socket.AF_INET6, value.to_bytes(16, "big"))


def _interval_text(family: Family, lo: int, hi: int) -> str:
    if lo == hi:
        return _addr_text(family, lo)
    size = hi - lo + 1
    if size & (size - 1) == 0 and lo % size == 0:
        prefix_len = _FAMILY_BITS[family] - (size.bit_length() - 1)
        return f"{_addr_text(family, lo)}/{prefix_len}"
    return f"{_addr_text(family, lo)}-{_addr_text(family, hi)}"
