"""DHCP in block mode on the real kernel: which replies pass Talos's ruleset, and which do not.

The node's ruleset is a worker's as ``gen`` writes it (block mode, Cilium), compiled for the
node and loaded with the real ``nft``; the lab's client namespace plays the DHCP server on the
same link (``testing.netlab_link``). What Talos's clients do is read from their sources
(``internal/app/machined/pkg/controllers/network/operator/dhcp4.go`` and ``dhcp6.go`` at
v1.14.0-rc.1, insomniacslk/dhcp ``nclient4``/``nclient6``):

- DHCPv4 without a lease (DISCOVER/OFFER, REQUEST/ACK): nclient4 sends and receives on a
  packet socket (``AF_PACKET``, ``ETH_P_IP``). The server's reply, broadcast or sent to the
  offered address at the node's MAC, reaches that socket whatever the ruleset says: the
  packet socket gets the frame in the receive path before IP and netfilter. An ordinary UDP
  socket on 68 beside it, which only gets what the input hook accepts, gets nothing.
- DHCPv4 renewal with a lease: a UDP socket bound to the leased address:68 sends a unicast
  REQUEST to the server; the ACK is the reply conntrack expects (established) and passes. An
  ACK from another address of the server is a new flow and is dropped (then the client's
  renewal fails and it starts over with DISCOVER, on the packet socket).
- DHCPv6: a UDP socket on the link-local address:546 sends Solicit/Request to ff02::1:2:547;
  the server answers from its link-local address, which conntrack has not seen (the request
  went to a multicast group), so block mode drops the reply. The ``dhcp`` add-on's rule
  (546/udp from fe80::/10) lets it in.

Every verdict through the input hook is also asked of ``Reach.query``, which must agree.
Skipped without root / network namespaces, failed instead under ``CI=true``.
"""

from __future__ import annotations

import secrets

import pytest

from talospatch.generate.expand import GenOptions, expand
from talospatch.nft.compile import CtState, NodeContext, compile_firewall
from talospatch.nft.reach import Reach
from talospatch.nft.text import render
from talospatch.talos.documents import Firewall
from testing.documents import ip
from testing.netlab import Lab, ensure_netns
from testing.netlab_link import NODE_LINK_LOCAL, PEER_LINK_LOCAL, LinkLab

pytestmark = pytest.mark.kernel

NODE4, NODE6 = "192.168.30.21", "fd00:30::21"
SERVER, SERVER_OTHER = "192.168.30.1", "192.168.30.2"  # the DHCPv4 server, and another address of it
OFFERED = "192.168.30.50"  # an address the node does not have yet
SUBNETS = ("192.168.30.0/24", "fd00:30::/64")
CONTEXT = NodeContext(node_ips=(ip(NODE4), ip(NODE6)))


def _worker(*addons: str) -> Firewall:
    return expand(GenOptions(role="worker", subnets=SUBNETS, addons=addons)).firewall


FIREWALLS: dict[str, Firewall | None] = {
    "no-firewall": None,
    "worker-block": _worker(),
    "worker-block-dhcp": _worker("dhcp"),
}


@pytest.fixture(scope="module", autouse=True)
def _netns_available() -> None:
    ensure_netns()


def _lab() -> Lab:
    return Lab([f"{NODE4}/24", f"{NODE6}/64"], [SERVER, SERVER_OTHER], name=f"v114d{secrets.token_hex(3)}")


def _load(lab: Lab, firewall: Firewall | None) -> None:
    if firewall is not None:
        lab.load_nft(render(compile_firewall(firewall, CONTEXT)))


def _reach(firewall: Firewall | None, source: str, port: int, destination: str, ct_state: CtState = "new") -> bool:
    if firewall is None:
        return True
    return Reach(firewall, CONTEXT).query(source, port, "udp", destination, ct_state=ct_state).allowed


# (firewall, DHCPv4 reply's UDP socket gets it, DHCPv4 renewal ACK, ACK from another address, DHCPv6 reply)
EXPECTED = [
    pytest.param("no-firewall", True, True, True, True, id="no-firewall"),
    pytest.param("worker-block", False, True, False, False, id="worker-block"),
    pytest.param("worker-block-dhcp", False, True, False, True, id="worker-block-dhcp"),
]


@pytest.mark.parametrize(("name", "udp4", "renew", "renew_other", "dhcp6"), EXPECTED)
def test_dhcp_replies(name: str, udp4: bool, renew: bool, renew_other: bool, dhcp6: bool) -> None:
    firewall = FIREWALLS[name]
    with _lab() as lab:
        link = LinkLab(lab)
        _load(lab, firewall)
        broadcast = link.dhcp4_server_reply(SERVER, "255.255.255.255")
        unicast = link.dhcp4_server_reply(SERVER, OFFERED)
        got_renew = link.dhcp4_renew(NODE4, SERVER)
        got_renew_other = link.dhcp4_renew(NODE4, SERVER, reply_from=SERVER_OTHER)
        got_dhcp6 = link.dhcp6_exchange()
    # The packet socket, Talos's DHCPv4 client without a lease, gets the OFFER/ACK in every case.
    assert (broadcast[0], unicast[0]) == (True, True)
    # A UDP socket on 68 gets the broadcast only when the input hook accepts it; a reply to an
    # address the node does not have never reaches the input hook.
    assert broadcast[1] == udp4 == _reach(firewall, SERVER, 68, "255.255.255.255")
    assert unicast[1] is False
    assert got_renew == renew == _reach(firewall, SERVER, 68, NODE4, "established")
    assert got_renew_other == renew_other == _reach(firewall, SERVER_OTHER, 68, NODE4)
    assert got_dhcp6 == dhcp6 == _reach(firewall, PEER_LINK_LOCAL, 546, NODE_LINK_LOCAL)
