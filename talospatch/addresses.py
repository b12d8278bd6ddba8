"""Addresses and networks as users write them: strict parsing, with messages that say why."""

from __future__ import annotations

import ipaddress

from talospatch.errors import BadInput
from talospatch.talosdocs import Network

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


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
    network = ipaddress.ip_network(f"{address}/{int(prefix_text)}", strict=False)
    if network.network_address != address:
        raise BadInput(f"{option} {text!r} has host bits set; did you mean {network}?")
    return network


def _families(networks: list[Network]) -> tuple[list[ipaddress.IPv4Network], list[ipaddress.IPv6Network]]:
    v4 = [n for n in networks if isinstance(n, ipaddress.IPv4Network)]
    v6 = [n for n in networks if isinstance(n, ipaddress.IPv6Network)]
    return v4, v6


def dedupe(networks: list[Network]) -> list[Network]:
    """De-duplicated, IPv4 before IPv6, each family sorted: a group as the user gave it."""
    v4, v6 = _families(networks)
    return [*sorted(set(v4)), *sorted(set(v6))]


def collapse(networks: list[Network]) -> list[Network]:
    """De-duplicated and collapsed, IPv4 before IPv6, each family sorted: a rule's sources."""
    v4, v6 = _families(networks)
    return [*ipaddress.collapse_addresses(v4), *ipaddress.collapse_addresses(v6)]


def address_order(address: IPAddress) -> tuple[int, int]:
    """Sort key: IPv4 before IPv6, then by value."""
    return (address.version, int(address))
