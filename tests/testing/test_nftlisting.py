"""testing.nftlisting: ``normalize_listing`` brings nft input and listings to one comparable form."""

from __future__ import annotations

import pytest

from testing.nftlisting import normalize_listing
from testing.nftreference import REFERENCE_2_7


@pytest.mark.parametrize(
    ("written", "listed"),
    [
        pytest.param(
            "ip daddr != { 10.3.4.5/32 } counter packets 12 bytes 3400 accept",
            "ip daddr != 10.3.4.5 counter accept",
            id="single-element-and-counter",
        ),
        pytest.param(
            "ip6 saddr { fd54:616c:6f73::204f:5320:444e:531/128, ::1 } counter accept",
            "ip6 saddr { ::1, fd54:616c:6f73:0:204f:5320:444e:531 } counter accept",
            id="ipv6-spelling-and-order",
        ),
        pytest.param(
            "ip saddr { 10.0.0.0-10.255.255.255, 1.2.3.4 } tcp dport { 443, 80 } counter accept",
            "ip saddr { 1.2.3.4, 10.0.0.0/8 } tcp dport { 80, 443 } counter accept",
            id="range-as-prefix-and-sorting",
        ),
        pytest.param(
            "meta l4proto icmp icmp type { address-mask-reply, timestamp-request } counter drop",
            "icmp type { timestamp-request, address-mask-reply } counter drop",
            id="icmp-dependency",
        ),
        pytest.param(
            "meta nfproto ipv4 ip saddr 1.1.1.1 meta l4proto tcp tcp dport 1 counter accept",
            "ip saddr 1.1.1.1 tcp dport 1 counter accept",
            id="implied-nfproto-and-l4proto",
        ),
    ],
)
def test_normalize_listing_rules(written: str, listed: str) -> None:
    assert normalize_listing(written) == [listed]
    assert normalize_listing(listed) == [listed]


def test_normalize_listing_keeps_chain_structure() -> None:
    assert normalize_listing(REFERENCE_2_7)[:3] == [
        "table inet talos",
        "chain ingress",
        "type filter hook input priority mangle + 10; policy drop;",
    ]
    assert "chain prerouting" in normalize_listing(REFERENCE_2_7)
