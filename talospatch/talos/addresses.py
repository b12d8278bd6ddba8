"""Addresses and networks as users write them: strict parsing, with messages that say why."""

from __future__ import annotations

import ipaddress

from talospatch.errors import BadInput
from talospatch.talos.documents import Network

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


# IPv6 link-local: never routed, so only hosts on the node's own links have these addresses.
LINK_LOCAL = ipaddress.ip_network("fe80::/10")


def is_link_local(network: Network) -> bool:
    """An IPv6 network inside fe80::/10."""
    return network.version == 6 and network.subnet_of(LINK_LOCAL)  # type: ignore[arg-type]


def parse_address(text: str, option: str) -> IPAddress:
    """An IP address (not a CIDR); ``option`` names where it was given."""
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        raise BadInput(f"{option} {text!r} is not an IP address (want e.g. 196.45.28.20)") from None


def parse_network(text: str, option: str, *, allow_address: bool) -> Network:
    """A CIDR, strictly: host bits set is an error, not a guess.

    With ``allow_address`` a bare IP means that one host (/32 or /128).
    """
    value = text.strip()
    if "/" not in value:
        try:
            address = ipaddress.ip_address(value)
        except ValueError:
            raise BadInput(f"{option} {text!r} is not an IP address or CIDR (want e.g. 192.168.30.0/24)") from None
        if allow_address:
            return ipaddress.ip_network(address)
        example = ipaddress.ip_network(f"{address}/{24 if address.version == 4 else 64}", strict=False)
        raise BadInput(f"{option} {text!r} is an address, not a subnet; give the network in CIDR form, e.g. {example}")
    addr_text, _, prefix_text = value.partition("/")
    try:
        address = ipaddress.ip_address(addr_text)
    except ValueError:
        raise BadInput(f"{option} {text!r}: {addr_text!r} is not an IP address (want e.g. 192.168.30.0/24)") from None
    max_len = address.max_prefixlen
    if not (prefix_text.isascii() and prefix_text.isdigit()) or int(prefix_text) > max_len:
        raise BadInput(f"{option} {text!r}: prefix length must be 0-{max_len} for IPv{address.version}")
    network = ipaddress.ip_network((address, int(prefix_text)), strict=False)
    if network.network_address != address:
        raise BadInput(f"{option} {text!r} has host bits set; did you mean {network}?")
    return network


def _families(networks: list[Network]) -> tuple[list[ipaddress.IPv4Network], list[ipaddress.IPv6Network]]:
    v4 = [n for n in networks if isinstance(n, ipaddress.IPv4Network)]
    v6 = [n for n in networks if isinstance(n, ipaddress.IPv6Network)]
    return v4, v6


def _network_order(network: Network) -> tuple[int, int]:
    # The order of ``ipaddress``'s own comparison (address, then netmask), without its
    # per-comparison overhead: it matters for thousands of networks.
    return int(network.network_address), network.prefixlen


def dedupe(networks: list[Network]) -> list[Network]:
    """De-duplicated, IPv4 before IPv6, each family sorted: a group as the user gave it."""
    v4, v6 = _families(networks)
    return [*sorted(set(v4), key=_network_order), *sorted(set(v6), key=_network_order)]


def _collapse_family(networks: list[Network], bits: int, make: type[Network]) -> list[Network]:
    """The fewest CIDRs covering exactly the union of ``networks`` (one family), in order.

    What ``ipaddress.collapse_addresses`` returns, computed on integers: merge the
    networks' address intervals, then cut each interval into the largest aligned blocks.
    """
    # The given networks by (address, prefix length): a block that is one of them is reused.
    given = {(int(n.network_address), n.prefixlen): n for n in networks}
    intervals = sorted((lo, lo | ((1 << (bits - length)) - 1)) for lo, length in given)
    merged: list[list[int]] = []
    for lo, hi in intervals:
        if merged and lo <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    out: list[Network] = []
    for lo, hi in merged:
        while lo <= hi:
            # The largest block aligned at lo that ends at or before hi.
            size = (lo & -lo).bit_length() - 1 if lo else bits
            while lo + (1 << size) - 1 > hi:
                size -= 1
            block = (lo, bits - size)
            out.append(given.get(block) or make(block))
            lo += 1 << size
    return out


def collapse(networks: list[Network]) -> list[Network]:
    """De-duplicated and collapsed, IPv4 before IPv6, each family sorted: a rule's sources."""
    v4, v6 = _families(networks)
    return [
        *_collapse_family(list(v4), 32, ipaddress.IPv4Network),
        *_collapse_family(list(v6), 128, ipaddress.IPv6Network),
    ]


def address_order(address: IPAddress) -> tuple[int, int]:
    """Sort key: IPv4 before IPv6, then by value."""
    return (address.version, int(address))
