"""A pod behind the lab's node, and kube-proxy's NodePort DNAT to it, for real-packet tests.

:class:`PodBackend` adds a third network namespace to a running :class:`netlab.Lab`::

    client ns  --veth--  node ns (ip_forward on)  --veth--  pod ns
                         tpn-<id>   tpb-<id>                 tpp-<id>
                         node addr  10.244.0.1/24            10.244.0.5/24, listener

and :meth:`PodBackend.kube_proxy_nat` returns the nftables equivalent of the rules kube-proxy
(iptables mode) installs for one NodePort Service with ``externalTrafficPolicy: Cluster``:

- ``nat`` PREROUTING at priority ``dstnat`` (-100): a new connection to a local address
  (``-m addrtype --dst-type LOCAL`` = ``fib daddr type local``) on the NodePort is DNATed to
  the pod's address and port (KUBE-NODEPORTS -> KUBE-SVC -> KUBE-SEP);
- ``nat`` POSTROUTING at ``srcnat`` (100): NodePort traffic is masqueraded (KUBE-MARK-MASQ,
  KUBE-POSTROUTING), so the pod answers the node.

The DNATed packet takes the path a real NodePort takes: routing after prerouting sends it
to the pod's veth, through the forward hook; the input hook (Talos's ``ingress`` chain)
never sees it.

Safety rules as in ``testing.netlab``: the pod namespace is named ``tp-<lab id>-pod``; its veth is
created inside the node namespace with the peer placed straight into the pod namespace
(nothing in the root namespace, checked); the pod namespace has only ``lo`` and that veth,
no default route; ``ip_forward`` is set in the node namespace only. Probes still go through
``Lab.probe*``, which only sends from lab client addresses to lab node addresses; the pod is
reached only through the DNAT. Deleted on ``close`` (also on errors), atexit as a backstop.
"""

from __future__ import annotations

import atexit
import contextlib
import ipaddress
import socket
from types import TracebackType

from testing import netlab
from testing.netlab import Lab, LabError

POD_GATEWAY = "10.244.0.1/24"
POD_ADDRESS = "10.244.0.5/24"

_LIVE: dict[int, PodBackend] = {}


def _cleanup() -> None:
    for backend in list(_LIVE.values()):
        with contextlib.suppress(BaseException):
            backend.close()


atexit.register(_cleanup)


class PodBackend:
    """A pod namespace behind ``lab``'s node with a TCP listener on ``pod_port``."""

    def __init__(self, lab: Lab, pod_port: int, *, pod_address: str = POD_ADDRESS, gateway: str = POD_GATEWAY) -> None:
        self.lab = lab
        self.pod_port = pod_port
        self.pod = ipaddress.ip_interface(pod_address)
        self.gateway = ipaddress.ip_interface(gateway)
        if self.pod.version != 4 or self.pod.network != self.gateway.network:
            raise ValueError("the pod and its gateway must share one IPv4 subnet")
        self.ns = f"{netlab.NETNS_PREFIX}{lab.id}-pod"
        self.node_if = f"tpb-{lab.id}"[:15]
        self.pod_if = f"tpp-{lab.id}"[:15]
        self._created = False
        self._worker: netlab._NetnsWorker | None = None
        self._server: netlab._Server | None = None

    @property
    def address(self) -> str:
        return str(self.pod.ip)

    def __enter__(self) -> PodBackend:
        _LIVE[id(self)] = self
        try:
            self._build()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _build(self) -> None:
        node_ns = self.lab.node_ns
        netlab._run(["ip", "netns", "add", self.ns])
        self._created = True
        veth = ["link", "add", self.node_if, "type", "veth", "peer", "name", self.pod_if, "netns", self.ns]
        netlab._run(["ip", "-n", node_ns, *veth])
        root_links = netlab._run(["ip", "-o", "link", "show"]).stdout
        for ifname in (self.node_if, self.pod_if):
            if f" {ifname}:" in root_links or f" {ifname}@" in root_links:
                raise LabError(f"safety: {ifname} showed up in the root namespace")
        node_cmds = [f"addr add {self.gateway.with_prefixlen} dev {self.node_if}", f"link set {self.node_if} up"]
        pod_cmds = [
            "link set lo up",
            f"addr add {self.pod.with_prefixlen} dev {self.pod_if}",
            f"link set {self.pod_if} up",
        ]
        netlab._run(["ip", "-n", node_ns, "-batch", "-"], input="\n".join(node_cmds) + "\n")
        netlab._run(["ip", "-n", self.ns, "-batch", "-"], input="\n".join(pod_cmds) + "\n")
        # Forwarding in the node namespace only (a per-namespace sysctl).
        self.lab.node_exec("sysctl", "-q", "-w", "net.ipv4.ip_forward=1")
        self._worker = netlab._NetnsWorker(self.ns)
        self._server = netlab._Server(f"{self.lab.id}pod")
        port = self.pod_port
        sock = self._worker.call(lambda: netlab._make_listener("tcp", port, socket.AF_INET), timeout=30)
        self._server.add([(sock, "tcp")])

    def kube_proxy_nat(self, nodeport: int) -> str:
        """kube-proxy's NodePort DNAT + masquerade to this pod, as ``nft -f`` text."""
        pod, port = self.pod.ip, self.pod_port
        return "\n".join(
            [
                "table ip kube-proxy-emulation {",
                "\tchain nat-prerouting {",
                "\t\ttype nat hook prerouting priority dstnat; policy accept;",
                f"\t\tfib daddr type local tcp dport {nodeport} dnat to {pod}:{port}",
                "\t}",
                "\tchain nat-postrouting {",
                "\t\ttype nat hook postrouting priority srcnat; policy accept;",
                f"\t\tip daddr {pod} tcp dport {port} masquerade",
                "\t}",
                "}",
                "",
            ]
        )

    def close(self) -> None:
        """Stop the listener and delete the pod namespace (its veth goes with it)."""
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self._worker is not None:
            self._worker.stop()
            self._worker = None
        if self._created:
            netlab._run(["ip", "netns", "del", self.ns], check=False)
            self._created = False
        _LIVE.pop(id(self), None)
