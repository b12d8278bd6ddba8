"""talospatch.nft.sets: Talos's BuildIPSet (netipx semantics) and nft's element spelling."""

from __future__ import annotations

from talospatch.nft.sets import AddressSet, build_ip_set
from testing.documents import ip, net


def test_an_except_on_one_entry_applies_to_all_entries() -> None:
    sets = build_ip_set([net("10.0.0.0/8"), net("10.3.0.0/16")], [net("10.3.0.0/16")])
    assert sets.v4 == ((int(ip("10.0.0.0")), int(ip("10.2.255.255"))), (int(ip("10.4.0.0")), int(ip("10.255.255.255"))))
    assert not sets.contains(ip("10.3.1.1"))
    assert sets.v6 == ()


def test_ip_set_merges_overlapping_and_touching_subnets() -> None:
    sets = build_ip_set([net("10.128.0.0/9"), net("10.0.0.0/9"), net("10.1.0.0/16")])
    aset = AddressSet("ipv4", sets.v4)
    assert aset.elements() == ["10.0.0.0/8"]


def test_ip_set_ignores_excepts_of_the_other_family() -> None:
    sets = build_ip_set([net("10.0.0.0/8")], [net("::/0")])
    assert sets.v4 == ((int(ip("10.0.0.0")), int(ip("10.255.255.255"))),)
    assert sets.covers_all("ipv4") is False
