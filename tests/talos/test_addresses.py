"""collapse and dedupe give what ipaddress gives, computed faster."""

from __future__ import annotations

import ipaddress

from hypothesis import given, settings
from hypothesis import strategies as st

from talospatch.talos.addresses import collapse, dedupe
from talospatch.talos.documents import Network


@st.composite
def network(draw: st.DrawFn) -> Network:
    """A network crowded into a few small spaces, so that networks overlap and touch."""
    if draw(st.booleans()):
        base = draw(st.sampled_from([0, 0xC0A81E00, 0xFFFFFF00]))
        address = base + draw(st.integers(min_value=0, max_value=255))
        return ipaddress.IPv4Network((address, draw(st.integers(min_value=0, max_value=32))), strict=False)
    base = draw(st.sampled_from([0, 0xFD00 << 112, (1 << 128) - 256]))
    address = base + draw(st.integers(min_value=0, max_value=255))
    return ipaddress.IPv6Network((address, draw(st.integers(min_value=0, max_value=128))), strict=False)


def networks() -> st.SearchStrategy[list[Network]]:
    return st.lists(network(), max_size=40)


@settings(max_examples=500, deadline=None)
@given(networks())
def test_collapse_is_ipaddress_collapse(nets: list[Network]) -> None:
    v4 = [n for n in nets if n.version == 4]
    v6 = [n for n in nets if n.version == 6]
    expected = [*ipaddress.collapse_addresses(v4), *ipaddress.collapse_addresses(v6)]
    assert collapse(nets) == expected


@settings(max_examples=300, deadline=None)
@given(networks())
def test_dedupe_sorts_as_ipaddress_compares(nets: list[Network]) -> None:
    v4 = [n for n in nets if n.version == 4]
    v6 = [n for n in nets if n.version == 6]
    assert dedupe(nets) == [*sorted(set(v4)), *sorted(set(v6))]


def test_collapse_merges_touching_and_covered_networks() -> None:
    nets = [ipaddress.ip_network(n) for n in ("10.0.0.0/25", "10.0.0.128/25", "10.0.0.7/32", "10.0.1.0/24", "::/0")]
    assert [str(n) for n in collapse(nets)] == ["10.0.0.0/23", "::/0"]
