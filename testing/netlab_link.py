"""Link-level traffic on a running :class:`netlab.Lab`: what ``Lab.probe`` refuses to send.

DHCP and unnumbered BGP need packets that ``Lab.probe`` (client address to node address, TCP
or UDP) cannot make: IPv6 link-local sources, the limited broadcast 255.255.255.255, the
multicast group ff02::1:2, replies to the node's own datagrams, and a packet socket that sees
frames before netfilter does. :class:`LinkLab` adds them to a lab::

    client ns (the router / DHCP server)           node ns (the node under test)
    tpc-<id>: fe80::1/64, the lab's clients  <--->  tpn-<id>: fe80::21/64, the node addresses

Safety rules as in ``testing.netlab``: nothing is created in the root namespace. Every socket
is made by the lab's own namespace threads and bound to the lab's veth end (``SO_BINDTODEVICE``
or the link-local scope), and it only sends to the other end's link-local address, a lab
address, 255.255.255.255 or ff02::1:2 on that veth; the veth joins the two lab namespaces only,
so no packet can leave them. The link-local addresses and neighbour entries go with the
namespaces when the lab is closed.

Only the standard library is used.
"""

from __future__ import annotations

import secrets
import select
import socket
import struct
from collections.abc import Callable
from typing import TypeVar

from testing import netlab
from testing.netlab import Lab, LabError

T = TypeVar("T")

NODE_LINK_LOCAL = "fe80::21"
PEER_LINK_LOCAL = "fe80::1"
DHCP4_SERVER_PORT, DHCP4_CLIENT_PORT = 67, 68
DHCP6_CLIENT_PORT, DHCP6_SERVER_PORT = 546, 547
ALL_DHCP_RELAY_AGENTS_AND_SERVERS = "ff02::1:2"  # RFC 8415 section 7.1
_ETH_P_IP = 0x0800
_WAIT = 1.0  # seconds a receiver waits for an expected datagram (a drop costs this once)


def _receive(sock: socket.socket, token: bytes, wait: float = _WAIT) -> bool:
    """Whether a datagram ending with ``token`` arrives within ``wait`` (others are skipped)."""
    for _ in range(64):
        ready, _, _ = select.select([sock], [], [], wait)
        if not ready:
            return False
        if sock.recv(65535).endswith(token):
            return True
    return False


def _udp(family: socket.AddressFamily, address: tuple[object, ...], device: str) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, device.encode())
        sock.bind(address)
    except BaseException:
        sock.close()
        raise
    return sock


class LinkLab:
    """``lab`` with IPv6 link-local addresses on both veth ends and link-level exchanges.

    Each method returns what arrived; the caller loads the ruleset it tests first.
    """

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        lab._require_running()
        self._node_index = 0
        self._client_index = 0
        sides = (
            (lab.node_ns, lab.node_if, NODE_LINK_LOCAL, PEER_LINK_LOCAL, netlab._CLIENT_MAC),
            (lab.client_ns, lab.client_if, PEER_LINK_LOCAL, NODE_LINK_LOCAL, netlab._NODE_MAC),
        )
        for ns, ifname, mine, peer, peer_mac in sides:
            commands = [
                f"addr add {mine}/64 dev {ifname} nodad",
                f"neigh replace {peer} lladdr {peer_mac} dev {ifname} nud permanent",
            ]
            netlab._run(["ip", "-n", ns, "-batch", "-"], input="\n".join(commands) + "\n")
        self._node_index = self.in_node(lambda: socket.if_nametoindex(lab.node_if))
        self._client_index = self.in_client(lambda: socket.if_nametoindex(lab.client_if))

    # -- running in a namespace ------------------------------------------------------------

    def in_node(self, fn: Callable[[], T]) -> T:
        worker = self.lab._node
        if worker is None:
            raise LabError("lab is not running")
        return worker.call(fn, timeout=30)

    def in_client(self, fn: Callable[[], T]) -> T:
        worker = self.lab._client
        if worker is None:
            raise LabError("lab is not running")
        return worker.call(fn, timeout=30)

    def _client_route(self, address: str) -> None:
        """A host route and a permanent neighbour (the node's MAC) for ``address`` in the
        client namespace: a frame to the node for an address the node does not have yet."""
        commands = [
            f"route replace {address}/32 dev {self.lab.client_if}",
            f"neigh replace {address} lladdr {netlab._NODE_MAC} dev {self.lab.client_if} nud permanent",
        ]
        netlab._run(["ip", "-n", self.lab.client_ns, "-batch", "-"], input="\n".join(commands) + "\n")

    # -- DHCPv4 ----------------------------------------------------------------------------

    def dhcp4_server_reply(self, server: str, destination: str) -> tuple[bool, bool]:
        """A DHCPv4 server's OFFER/ACK from ``server``:67 to ``destination``:68.

        ``destination`` is 255.255.255.255 (the broadcast flag) or the offered address, which
        the node does not have yet (sent to the node's MAC, as servers do when the flag is
        clear, which Talos's client leaves). The node listens as Talos's client does before it
        has a lease: a packet socket on its link (nclient4's raw socket), and beside it an
        ordinary UDP socket on 0.0.0.0:68, which gets what the input hook lets through.
        Returns (packet socket got it, UDP socket got it).
        """
        if server not in {str(ip) for ip in self.lab.client_ips}:
            raise LabError(f"{server} is not a client address of the lab")
        if destination != "255.255.255.255":
            self._client_route(destination)
        ifname = self.lab.node_if

        def listen() -> tuple[socket.socket, socket.socket]:
            packet = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(_ETH_P_IP))
            packet.bind((ifname, _ETH_P_IP))
            udp = _udp(socket.AF_INET, ("0.0.0.0", DHCP4_CLIENT_PORT), ifname)
            return packet, udp

        packet, udp = self.in_node(listen)
        token = secrets.token_bytes(16)
        client_if = self.lab.client_if

        def send() -> None:
            with _udp(socket.AF_INET, (server, DHCP4_SERVER_PORT), client_if) as out:
                out.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
                out.sendto(token, (destination, DHCP4_CLIENT_PORT))

        try:
            self.in_client(send)
            return _receive(packet, token), _receive(udp, token)
        finally:
            packet.close()
            udp.close()

    def dhcp4_renew(self, node: str, server: str, reply_from: str | None = None) -> bool:
        """A renewal as Talos's client makes it with a lease: a UDP socket bound to the
        leased ``node``:68 sends the REQUEST to ``server``:67, and the server answers from
        ``reply_from`` (default: ``server``) to ``node``:68. Whether the ACK arrives."""
        clients = {str(ip) for ip in self.lab.client_ips}
        if server not in clients or (reply_from or server) not in clients:
            raise LabError("the server addresses must be client addresses of the lab")
        node_if, client_if = self.lab.node_if, self.lab.client_if
        listener = self.in_client(lambda: _udp(socket.AF_INET, (server, DHCP4_SERVER_PORT), client_if))
        answer_from = reply_from or server
        replier = listener if answer_from == server else None
        try:
            if replier is None:
                replier = self.in_client(lambda: _udp(socket.AF_INET, (answer_from, DHCP4_SERVER_PORT), client_if))
            client = self.in_node(lambda: _udp(socket.AF_INET, (node, DHCP4_CLIENT_PORT), node_if))
            try:
                request = secrets.token_bytes(16)
                client.sendto(request, (server, DHCP4_SERVER_PORT))
                if not _receive(listener, request):
                    raise LabError("the server did not get the REQUEST: the lab itself is broken")
                ack = secrets.token_bytes(16)
                replier.sendto(ack, (node, DHCP4_CLIENT_PORT))
                return _receive(client, ack)
            finally:
                client.close()
        finally:
            listener.close()
            if replier is not None and replier is not listener:
                replier.close()

    # -- DHCPv6 ----------------------------------------------------------------------------

    def dhcp6_exchange(self) -> bool:
        """Talos's client's exchange: from [fe80::21]:546 a Solicit to [ff02::1:2]:547 on the
        link; the server gets it, answers from its own link-local address [fe80::1]:547 to the
        client's. Whether the reply arrives."""
        node_if, client_if = self.lab.node_if, self.lab.client_if
        node_index, client_index = self._node_index, self._client_index

        def server() -> socket.socket:
            sock = _udp(socket.AF_INET6, ("::", DHCP6_SERVER_PORT), client_if)
            group = socket.inet_pton(socket.AF_INET6, ALL_DHCP_RELAY_AGENTS_AND_SERVERS)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, group + struct.pack("@I", client_index))
            return sock

        listener = self.in_client(server)
        try:
            replier = self.in_client(
                lambda: _udp(socket.AF_INET6, (PEER_LINK_LOCAL, DHCP6_SERVER_PORT, 0, client_index), client_if)
            )
            client = self.in_node(
                lambda: _udp(socket.AF_INET6, (NODE_LINK_LOCAL, DHCP6_CLIENT_PORT, 0, node_index), node_if)
            )
            try:
                solicit = secrets.token_bytes(16)
                client.sendto(solicit, (ALL_DHCP_RELAY_AGENTS_AND_SERVERS, DHCP6_SERVER_PORT, 0, node_index))
                if not _receive(listener, solicit):
                    raise LabError("the server did not get the Solicit: the lab itself is broken")
                reply = secrets.token_bytes(16)
                replier.sendto(reply, (NODE_LINK_LOCAL, DHCP6_CLIENT_PORT, 0, client_index))
                return _receive(client, reply)
            finally:
                client.close()
                replier.close()
        finally:
            listener.close()

    # -- from the peer's link-local address (unnumbered BGP) --------------------------------

    def tcp_from_peer(self, port: int) -> bool:
        """A TCP connection from [fe80::1] to a node listener on [fe80::21]:``port``
        (``Lab.listen`` first): True when the handshake completes or the node resets it."""
        client_if, index = self.lab.client_if, self._client_index

        def connect() -> bool:
            with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, client_if.encode())
                sock.bind((PEER_LINK_LOCAL, 0, 0, index))
                sock.settimeout(_WAIT)
                try:
                    sock.connect((NODE_LINK_LOCAL, port, 0, index))
                except ConnectionRefusedError:
                    return True
                except OSError:
                    return False
                return True

        return self.in_client(connect)

    def udp_exchange(self, node: str, peer: str, port: int, peer_port: int, node_sends_first: bool = True) -> bool:
        """BFD's pattern: the node sends from ``peer_port + 1`` to ``peer``:``port`` first, then
        the peer sends from ``peer``:``peer_port`` to ``node``:``port`` (a listener there,
        ``Lab.listen``, echoes it back). Whether the echo arrives: the peer's datagram was let in.

        ``node``/``peer`` are lab addresses or the two link-local addresses.
        """
        link_local = peer == PEER_LINK_LOCAL
        if link_local != (node == NODE_LINK_LOCAL):
            raise LabError("both addresses link-local, or neither")
        if not link_local and (
            peer not in {str(ip) for ip in self.lab.client_ips} or node not in {str(i.ip) for i in self.lab.node_ifaces}
        ):
            raise LabError(f"{peer} must be a client address and {node} a node address of the lab")
        family = socket.AF_INET6 if ":" in peer else socket.AF_INET
        node_if, client_if = self.lab.node_if, self.lab.client_if

        def where(address: str, port: int, index: int) -> tuple[object, ...]:
            return (address, port, 0, index) if family == socket.AF_INET6 else (address, port)

        if node_sends_first:
            own = self.in_node(lambda: _udp(family, where(node, peer_port + 1, self._node_index), node_if))
            with own:
                own.sendto(secrets.token_bytes(16), where(peer, port, self._node_index))
        sock = self.in_client(lambda: _udp(family, where(peer, peer_port, self._client_index), client_if))
        with sock:
            token = secrets.token_bytes(16)
            sock.sendto(token, where(node, port, self._client_index))
            return _receive(sock, token)
