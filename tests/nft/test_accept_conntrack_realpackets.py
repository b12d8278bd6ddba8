"""Accept mode and the node's own connections, on the real kernel, per Talos release.

A rule in accept mode drops every source outside its subnets on its ports. Before v1.14.0
the ingress chain had no conntrack rules in accept mode (#13926), so when such a rule covers
the port a node's own outgoing connection uses, the reply (the server's SYN-ACK to that
port) is dropped like a new connection. From v1.14.0 (PR #14048) ``ct state established,related
accept`` comes first in both modes and the reply passes.

The node (192.168.30.21) connects from port 40005 to a server outside the rule's subnet; the
kernel's verdict and ``Reach.query(..., ct_state="established")`` must agree with the
expectation. Skipped without root / network namespaces, failed instead under ``CI=true``.
"""

from __future__ import annotations

import pytest

from talospatch.nft.compile import NodeContext, compile_firewall
from talospatch.nft.reach import Reach
from talospatch.nft.text import render
from testing.documents import firewall, ip, rule
from testing.netlab import Lab, ensure_netns

pytestmark = pytest.mark.kernel

NODE4 = "192.168.30.21"
SERVER = "203.0.113.9"  # outside the rule's subnet
LOCAL_PORT = 40005
CONTEXT = NodeContext(node_ips=(ip(NODE4),))
# Accept mode, with a rule whose ports cover the node's local port.
ACCEPT = firewall("accept", rule("high-ports", ["40000-40010"], "tcp", "192.168.30.0/24"))


@pytest.fixture(scope="module", autouse=True)
def _netns_available() -> None:
    ensure_netns()


@pytest.mark.parametrize(
    ("version", "reply_passes"),
    [
        pytest.param("1.13", False, id="v1.13.9"),
        pytest.param("1.14", True, id="v1.14.0"),
        pytest.param("main", True, id="main"),
    ],
)
def test_reply_to_the_nodes_own_connection(version: str, reply_passes: bool) -> None:
    answer = Reach(ACCEPT, CONTEXT, version).query(SERVER, LOCAL_PORT, "tcp", ct_state="established")
    with Lab([f"{NODE4}/24"], [SERVER]) as lab:
        # Without the Talos table the connection works: the setup itself is sound.
        assert lab.node_connect(NODE4, LOCAL_PORT, SERVER, 8080)
        lab.load_nft(render(compile_firewall(ACCEPT, CONTEXT, version)))
        kernel = lab.node_connect(NODE4, LOCAL_PORT + 1, SERVER, 8080)
    assert (kernel, answer.allowed) == (reply_passes, reply_passes)
