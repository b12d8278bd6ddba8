"""Talos's own BGP speaker and KubeSpan peers outside the node subnet, on the real kernel.

A worker (block mode) with ``talos-bgp`` (``--bgp-peer`` a router's IPv4 and IPv6 address),
``talos-bgp-unnumbered`` and ``kubespan`` with ``--kubespan-peer``, compiled for the node and
loaded with the real ``nft``. The node listens where Talos does: 179/tcp (GoBGP), 3784/udp
(GoBGP's BFD), 51820/udp (KubeSpan), and apid and the kubelet. Expected by hand:

- 179/tcp and 3784/udp: from the routers only (numbered), and from a link-local router
  address (unnumbered); not from another node, the KubeSpan peer or the internet;
- BFD from the router is a new flow even after the node sent its own BFD packets to the
  router: the router sends from its own port, so without ``talos-bgp`` it is dropped;
- 51820/udp: from the nodes and the KubeSpan peer; the KubeSpan peer reaches nothing else.

The kernel's verdict and ``Reach.query`` must agree for every probe. Skipped without root /
network namespaces, failed instead under ``CI=true``.
"""

from __future__ import annotations

import secrets

import pytest

from talospatch.generate.expand import GenOptions, expand
from talospatch.nft.compile import NodeContext, compile_firewall
from talospatch.nft.reach import Reach
from talospatch.nft.text import render
from talospatch.talos.documents import Firewall
from testing.documents import ip
from testing.netlab import Lab, ensure_netns
from testing.netlab_link import NODE_LINK_LOCAL, PEER_LINK_LOCAL, LinkLab

pytestmark = pytest.mark.kernel

NODE4, NODE6 = "192.168.30.21", "fd00:30::21"
ROUTER4, ROUTER6 = "192.168.30.1", "fd00:30::1"
OTHER_NODE, KUBESPAN_PEER, OUTSIDE = "192.168.30.31", "203.0.113.7", "198.51.100.9"
CLIENTS = (ROUTER4, ROUTER6, OTHER_NODE, KUBESPAN_PEER, OUTSIDE)
SUBNETS = ("192.168.30.0/24", "fd00:30::/64")
CONTEXT = NodeContext(node_ips=(ip(NODE4), ip(NODE6)))
BGP, BFD, KUBESPAN, APID, KUBELET = ("tcp", 179), ("udp", 3784), ("udp", 51820), ("tcp", 50000), ("tcp", 10250)

FULL = GenOptions(
    role="worker",
    subnets=SUBNETS,
    addons=("kubespan", "talos-bgp", "talos-bgp-unnumbered"),
    bgp_peers=(ROUTER4, ROUTER6),
    kubespan_peers=(KUBESPAN_PEER,),
)
# Who reaches what with FULL, by hand (apid and the kubelet: the node subnets).
REACHES: dict[tuple[str, int], set[str]] = {
    BGP: {ROUTER4, ROUTER6},
    BFD: {ROUTER4, ROUTER6},
    KUBESPAN: {ROUTER4, ROUTER6, OTHER_NODE, KUBESPAN_PEER},
    APID: {ROUTER4, ROUTER6, OTHER_NODE},
    KUBELET: {ROUTER4, ROUTER6, OTHER_NODE},
}


@pytest.fixture(scope="module", autouse=True)
def _netns_available() -> None:
    ensure_netns()


def _lab() -> Lab:
    return Lab([f"{NODE4}/24", f"{NODE6}/64"], CLIENTS, name=f"v114b{secrets.token_hex(3)}")


def _firewall(opts: GenOptions) -> Firewall:
    return expand(opts).firewall


def test_talos_bgp_bfd_and_kubespan_peers() -> None:
    firewall = _firewall(FULL)
    reach = Reach(firewall, CONTEXT)
    probes = [(src, NODE6 if ":" in src else NODE4, proto, port) for (proto, port) in REACHES for src in CLIENTS]
    with _lab() as lab:
        lab.listen(tcp_ports=[p for proto, p in REACHES if proto == "tcp"], udp_ports=[3784, 51820])
        link = LinkLab(lab)
        lab.load_nft(render(compile_firewall(firewall, CONTEXT)))
        kernel = lab.probe_many(probes)
        unnumbered = (link.tcp_from_peer(179), link.udp_exchange(NODE_LINK_LOCAL, PEER_LINK_LOCAL, 3784, 49153))
        bfd_after_own = link.udp_exchange(NODE4, ROUTER4, 3784, 49155)
    expected = [src in REACHES[(proto, port)] for src, _, proto, port in probes]
    modelled = [reach.query(src, port, proto, dst).allowed for src, dst, proto, port in probes]
    assert kernel == expected == modelled
    assert unnumbered == (True, True)
    assert all(reach.query(PEER_LINK_LOCAL, port, proto, NODE_LINK_LOCAL).allowed for proto, port in (BGP, BFD))
    assert bfd_after_own is True


def test_without_the_addons_bgp_and_bfd_are_dropped_even_after_the_nodes_own_bfd() -> None:
    """The control: a worker without talos-bgp drops the router's BGP and BFD, numbered or not,
    although the node sent its own BFD packets to the router first."""
    firewall = _firewall(GenOptions(role="worker", subnets=SUBNETS))
    reach = Reach(firewall, CONTEXT)
    with _lab() as lab:
        lab.listen(tcp_ports=[179], udp_ports=[3784])
        link = LinkLab(lab)
        # Without the Talos table everything passes: the setup itself is sound.
        sound = (
            lab.probe(ROUTER4, NODE4, "tcp", 179),
            link.tcp_from_peer(179),
            link.udp_exchange(NODE4, ROUTER4, 3784, 49157),
            link.udp_exchange(NODE_LINK_LOCAL, PEER_LINK_LOCAL, 3784, 49159),
        )
        lab.load_nft(render(compile_firewall(firewall, CONTEXT)))
        blocked = (
            lab.probe(ROUTER4, NODE4, "tcp", 179),
            link.tcp_from_peer(179),
            link.udp_exchange(NODE4, ROUTER4, 3784, 49161),
            link.udp_exchange(NODE_LINK_LOCAL, PEER_LINK_LOCAL, 3784, 49163),
        )
    assert sound == (True, True, True, True)
    assert blocked == (False, False, False, False)
    assert not reach.query(ROUTER4, 3784, "udp", NODE4).allowed
    assert not reach.query(PEER_LINK_LOCAL, 179, "tcp", NODE_LINK_LOCAL).allowed
