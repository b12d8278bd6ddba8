"""talospatch.live.netstat: talosctl netstat's tabwriter table, cut at the header's offsets.

Fixtures (tests/fixtures/live/) follow cmd/talosctl/cmd/talos/netstat.go: tabwriter with
padding 3; ``cp1-netstat.txt`` is ``-l -p`` with the NODE column (v1.14+),
``cp1-netstat-x.txt`` is ``-a -x -p`` without it (v1.13 talking to a node directly).
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from talospatch.errors import BadInput
from talospatch.live.netstat import listeners, parse_netstat, split_address

LIVE = Path(__file__).resolve().parents[1] / "fixtures" / "live"


def read(name: str) -> str:
    return (LIVE / name).read_text(encoding="utf-8")


def test_with_the_node_column() -> None:
    sockets = parse_netstat(read("cp1-netstat.txt"), "cp1-netstat.txt")
    assert len(sockets) == 14
    assert {s.node for s in sockets} == {"192.168.30.11"}
    first = sockets[0]
    assert (first.proto, str(first.local), first.port, first.state, first.pid, first.program) == (
        "tcp",
        "127.0.0.1",
        10248,
        "LISTEN",
        2361,
        "kubelet",
    )
    # comm is cut at 15 characters
    assert sockets[1].program == "kube-controller"


def test_without_the_node_column_and_with_uid_inode() -> None:
    sockets = parse_netstat(read("cp1-netstat-x.txt"), "cp1-netstat-x.txt")
    assert {s.node for s in sockets} == {None}
    assert [(s.uid, s.inode) for s in sockets[:2]] == [(0, 28711), (0, 40122)]


def test_ipv6_addresses_without_brackets() -> None:
    sockets = parse_netstat(read("cp1-netstat-x.txt"), "f")
    by_inode = {s.inode: s for s in sockets}
    assert (str(by_inode[40133].local), by_inode[40133].port) == ("::", 4240)
    assert (str(by_inode[30001].local), by_inode[30001].port) == ("::1", 10248)
    assert (str(by_inode[19001].local), by_inode[19001].port) == ("fd00:30::11", 50000)
    established = by_inode[19077]
    assert (str(established.remote), established.remote_port) == ("fd00:30::12", 41620)


def test_udp_rows_have_an_empty_state_and_no_program() -> None:
    sockets = parse_netstat(read("cp1-netstat-x.txt"), "f")
    udp = [s for s in sockets if s.transport == "udp"]
    assert [(s.proto, s.port, s.state, s.program, s.process) for s in udp] == [
        ("udp", 6081, "", None, "-"),
        ("udp6", 51820, "", None, "-"),
    ]
    assert all(s.listening for s in udp)


def test_listening_means_remote_unspecified_and_port_star() -> None:
    sockets = parse_netstat(read("cp1-netstat-x.txt"), "f")
    assert len(sockets) == 9
    assert [s.inode for s in listeners(sockets)] == [28711, 40122, 40133, 40140, 30001, 19001, 39001, 39002]


POD_AND_TIMER = (
    "NODE       Proto   Recv-Q   Send-Q   Local Address    Foreign Address   State    PID/Program name   Pod                          Timer\n"
    "10.5.0.2   tcp     0        0        0.0.0.0:50000    0.0.0.0:*         LISTEN   1874/apid          -                            off (0.00/0/0)\n"
    "10.5.0.2   tcp     0        0        10.244.0.7:53    0.0.0.0:*         LISTEN   2211/coredns       kube-system/coredns-78f6bd   off (0.00/0/0)\n"
    "10.5.0.2   udp     0        0        0.0.0.0:68       0.0.0.0:*                  -                  -                            off (0.00/0/0)\n"
)


def test_pod_and_timer_columns() -> None:
    sockets = parse_netstat(POD_AND_TIMER, "f")
    assert [s.pod for s in sockets] == [None, "kube-system/coredns-78f6bd", None]
    assert sockets[2].state == ""
    assert sockets[2].program is None
    # -k pod sockets are not the node's listeners
    assert [s.port for s in listeners(sockets)] == [50000, 68]


@pytest.mark.parametrize(
    ("text", "address", "port"),
    [
        pytest.param(":::50000", "::", 50000, id="ipv6-wildcard"),
        pytest.param("fd00::1:443", "fd00::1", 443, id="ipv6-ends-like-a-port"),
        pytest.param("0.0.0.0:*", "0.0.0.0", None, id="remote-port-star"),
        pytest.param(":::*", "::", None, id="ipv6-remote-star"),
        pytest.param("[::1]:8080", "::1", 8080, id="brackets-tolerated"),
    ],
)
def test_split_address_on_the_last_colon(text: str, address: str, port: int | None) -> None:
    assert split_address(text, "f") == (ipaddress.ip_address(address), port)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(
            "Proto   Local Address\n", "f line 1: the header has no 'Foreign Address' column", id="missing-column"
        ),
        pytest.param("Proto   Local Addr   Foreign Address\n", "f line 1: unknown column 'Local'", id="unknown-column"),
        pytest.param(
            "Proto   Recv-Q   Send-Q   Local Address   Foreign Address   State\nsctp    0        0        0.0.0.0:1       0.0.0.0:*         LISTEN\n",
            "f line 2: protocol 'sctp' is not one of tcp",
            id="bad-protocol",
        ),
        pytest.param(
            "Proto   Recv-Q   Send-Q   Local Address   Foreign Address   State\ntcp     0        0        nowhere:22      0.0.0.0:*         LISTEN\n",
            "f line 2: 'nowhere' in 'nowhere:22' is not an IP address",
            id="bad-address",
        ),
        pytest.param("apid is running\n", "f: no talosctl netstat header", id="not-netstat"),
    ],
)
def test_bad_input(text: str, message: str) -> None:
    with pytest.raises(BadInput) as err:
        parse_netstat(text, "f")
    assert str(err.value).startswith(message)


def test_empty_output_has_no_sockets() -> None:
    assert parse_netstat("", "f") == []
