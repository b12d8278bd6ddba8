"""Tests for the real-packet namespace harness in ``testing/netlab.py``.

They load a handwritten nftables ruleset into the lab's node namespace and
check, with real TCP/UDP packets over a veth pair between two throw-away
namespaces, that the harness reports exactly what the kernel lets through.
Skipped without root/ip/nft/netns, failed instead when ``CI=true``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from testing.cluster import ADMIN, NODE, NODE6, POD, ROOT
from testing.netlab import Lab, LabError, NftError, Outcome, Probe, ensure_netns, skip_or_fail

NODE_B = "192.168.30.22"  # secondary address: UDP echo must come from it
NODE6_B = "fd00:30::22"
NODE_ADDRS = [f"{NODE}/24", f"{NODE_B}/24", f"{NODE6}/64", f"{NODE6_B}/64"]

CP = "192.168.30.11"  # control-plane peer
WORKER = "192.168.30.31"  # worker peer
OUTSIDE = "203.0.113.9"  # somewhere on the internet
CP6 = "fd00:30::11"
WORKER6 = "fd00:30::31"
OUTSIDE6 = "2001:db8::9"
CLIENTS4 = [CP, WORKER, ADMIN, POD, OUTSIDE]
CLIENTS6 = [CP6, WORKER6, OUTSIDE6]
CLIENT_ADDRS = CLIENTS4 + CLIENTS6

TCP_PORTS = [2379, 6443, 10250, 50000]
UDP_PORTS = [8472, 51820, 53]

RULESET = """\
table inet talos {
  chain ingress {
    type filter hook input priority -140; policy drop;
    iifname "lo" accept
    ct state { established, related } accept
    ct state invalid drop
    ip saddr 192.168.30.11 tcp dport 2379 accept
    ip saddr 192.168.30.11 tcp dport 2380 accept
    ip saddr 192.168.30.0/24 udp dport 8472 accept
    ip saddr 192.168.30.0/24 udp dport 8473 accept
    ip6 saddr fd00:30::/64 tcp dport 10250 accept
    ip6 saddr fd00:30::/64 udp dport 51820 accept
  }
}
"""


@pytest.fixture(scope="module")
def module_lab() -> Iterator[Lab]:
    ensure_netns()
    with Lab(NODE_ADDRS, CLIENT_ADDRS) as lab:
        lab.listen(TCP_PORTS, UDP_PORTS)
        yield lab


@pytest.fixture
def lab(module_lab: Lab) -> Lab:
    """The shared lab, with an empty ruleset at the start of every test."""
    module_lab.flush_nft()
    return module_lab


def _netns_names() -> set[str]:
    try:
        return set(os.listdir("/run/netns"))
    except FileNotFoundError:
        return set()


def _check(lab: Lab, expected: list[tuple[str, str, str, int, bool]]) -> None:
    probes = [Probe(src, dst, proto, port) for src, dst, proto, port, _ in expected]
    results = lab.probe_many_detailed(probes)
    wrong = [
        f"{r.probe.proto} {r.probe.src} -> [{r.probe.dst}]:{r.probe.port}: "
        f"expected {'reached' if want else 'dropped'}, got {r.outcome.value}"
        for r, (*_, want) in zip(results, expected, strict=True)
        if r.reached != want
    ]
    assert not wrong, "\n".join(wrong)


@pytest.mark.kernel
def test_without_ruleset_every_listener_is_reachable(lab: Lab) -> None:
    assert "table" not in lab.list_nft()
    expected = []
    for dst, srcs in ((NODE, CLIENTS4), (NODE_B, CLIENTS4), (NODE6, CLIENTS6), (NODE6_B, CLIENTS6)):
        for src in srcs:
            expected += [(src, dst, "tcp", p, True) for p in TCP_PORTS]
            expected += [(src, dst, "udp", p, True) for p in UDP_PORTS]
            # nothing listens there: TCP is refused (= reached), UDP gets no echo
            expected += [(src, dst, "tcp", 7, True), (src, dst, "udp", 7, False)]
    _check(lab, expected)


@pytest.mark.kernel
def test_udp_echo_comes_from_the_probed_address(lab: Lab) -> None:
    # The client's UDP socket is connected, so it only accepts a reply whose
    # source is exactly the address it sent to (secondary address included).
    for src, dst in ((CP, NODE), (CP, NODE_B), (CP6, NODE6), (CP6, NODE6_B)):
        result = lab.probe_many_detailed([Probe(src, dst, "udp", 8472)])[0]
        assert result.outcome is Outcome.OPEN, (src, dst, result)


@pytest.mark.kernel
def test_ruleset_allows_and_drops(lab: Lab) -> None:
    lab.load_nft(RULESET)
    assert "table inet talos" in lab.list_nft()
    expected: list[tuple[str, str, str, int, bool]] = []
    for dst in (NODE, NODE_B):
        expected += [
            # etcd: control-plane peer only
            (CP, dst, "tcp", 2379, True),
            (WORKER, dst, "tcp", 2379, False),
            (ADMIN, dst, "tcp", 2379, False),
            (POD, dst, "tcp", 2379, False),
            (OUTSIDE, dst, "tcp", 2379, False),
            # listening but not allowed
            (CP, dst, "tcp", 6443, False),
            (ADMIN, dst, "tcp", 50000, False),
            (CP, dst, "tcp", 10250, False),  # allowed for IPv6 only
            # flannel vxlan: node subnet only
            (CP, dst, "udp", 8472, True),
            (WORKER, dst, "udp", 8472, True),
            (POD, dst, "udp", 8472, False),
            (ADMIN, dst, "udp", 8472, False),
            (OUTSIDE, dst, "udp", 8472, False),
            (CP, dst, "udp", 51820, False),  # allowed for IPv6 only
            (CP, dst, "udp", 53, False),
            # closed and not allowed
            (CP, dst, "tcp", 7, False),
            (CP, dst, "udp", 7, False),
        ]
    for dst in (NODE6, NODE6_B):
        expected += [
            (CP6, dst, "tcp", 10250, True),
            (WORKER6, dst, "tcp", 10250, True),
            (OUTSIDE6, dst, "tcp", 10250, False),
            (CP6, dst, "tcp", 2379, False),
            (CP6, dst, "udp", 51820, True),
            (WORKER6, dst, "udp", 51820, True),
            (OUTSIDE6, dst, "udp", 51820, False),
            (CP6, dst, "udp", 8472, False),  # allowed for IPv4 only
            (CP6, dst, "tcp", 7, False),
        ]
    _check(lab, expected)


@pytest.mark.kernel
def test_refused_tcp_counts_as_reached(lab: Lab) -> None:
    lab.load_nft(RULESET)
    assert ("tcp", 2380) not in lab.listening
    assert lab.probe(CP, NODE, "tcp", 2380)  # allowed, nobody listens: RST
    allowed, forbidden = lab.probe_many_detailed([Probe(CP, NODE, "tcp", 2380), Probe(WORKER, NODE, "tcp", 2380)])
    assert allowed.outcome is Outcome.REFUSED
    assert allowed.reached
    assert forbidden.outcome is Outcome.TIMEOUT
    assert not forbidden.reached
    assert forbidden.attempts == 2  # a negative is retried once
    # UDP to an allowed port without a listener: ICMP port unreachable, no echo
    udp = lab.probe_many_detailed([Probe(CP, NODE, "udp", 8473)])[0]
    assert udp.outcome is Outcome.REFUSED
    assert not udp.reached


@pytest.mark.kernel
def test_many_ports_and_mixed_probes(lab: Lab) -> None:
    lab.load_nft(
        RULESET.replace(
            "ct state invalid drop",
            "ct state invalid drop\n    ip saddr 192.168.30.31 tcp dport 30000-30149 accept"
            "\n    ip saddr 192.168.30.31 udp dport 30000-30149 accept",
        )
    )
    ports = range(30000, 30150)
    lab.listen(tcp_ports=ports, udp_ports=ports)
    expected: list[tuple[str, str, str, int, bool]] = []
    for port in ports:
        expected.append((WORKER, NODE, "tcp", port, True))
        expected.append((WORKER, NODE, "udp", port, True))
        expected.append((ADMIN, NODE, "tcp", port, False))
        expected.append((CP, NODE_B, "udp", port, False))
    start = time.monotonic()
    _check(lab, expected)
    time.monotonic() - start


@pytest.mark.kernel
def test_probe_refuses_foreign_addresses(lab: Lab) -> None:
    with pytest.raises(ValueError, match="not a client address"):
        lab.probe("192.168.30.99", NODE, "tcp", 2379)
    with pytest.raises(ValueError, match="not a node address"):
        lab.probe(CP, "192.168.30.1", "tcp", 2379)
    with pytest.raises(ValueError, match="not a node address"):
        lab.probe(CP, "8.8.8.8", "udp", 53)
    with pytest.raises(ValueError, match="family"):
        lab.probe(CP, NODE6, "tcp", 10250)


@pytest.mark.kernel
def test_load_nft_reports_nft_stderr(lab: Lab) -> None:
    with pytest.raises(NftError, match="syntax error"):
        lab.load_nft("table inet broken { chain c { nonsense } }\n")


def _lab_threads(lab_id: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if lab_id in t.name]


@pytest.mark.kernel
def test_namespaces_removed_after_exit() -> None:
    ensure_netns()
    lab = Lab([f"{NODE}/24"], [CP])
    with lab:
        assert set(lab.namespaces) <= _netns_names()
        lab.listen([2379], [8472])
        assert lab.probe(CP, NODE, "tcp", 2379)
        assert _lab_threads(lab.id)
    assert not set(lab.namespaces) & _netns_names()
    assert not _lab_threads(lab.id)
    with pytest.raises(LabError):
        lab.probe(CP, NODE, "tcp", 2379)


@pytest.mark.kernel
@pytest.mark.parametrize("exc_type", [RuntimeError, KeyboardInterrupt])
def test_namespaces_removed_when_body_raises(exc_type: type[BaseException]) -> None:
    ensure_netns()
    lab = Lab([f"{NODE}/24", f"{NODE6}/64"], [CP, CP6])

    def body() -> None:
        with lab:
            lab.listen([2379], [8472])
            assert set(lab.namespaces) <= _netns_names()
            raise exc_type("boom")

    with pytest.raises(exc_type):
        body()
    assert not set(lab.namespaces) & _netns_names()
    assert not _lab_threads(lab.id)


_CHILD = """
import os, signal, sys, time
sys.path.insert(0, {root!r})
from testing.netlab import Lab
lab = Lab(["192.168.30.21/24", "fd00:30::21/64"], ["192.168.30.11", "fd00:30::11"])
if sys.argv[1] == "atexit":
    lab.start()  # never closed: the atexit hook must clean up
    lab.listen([2379], [8472])
    print(" ".join(lab.namespaces), flush=True)
else:
    with lab:
        lab.listen([2379], [8472])
        print(" ".join(lab.namespaces), flush=True)
        time.sleep(30)  # interrupted by SIGINT from the parent
"""


@pytest.mark.kernel
@pytest.mark.parametrize("mode", ["atexit", "sigint"])
def test_namespaces_removed_when_process_exits_or_is_interrupted(mode: str) -> None:
    ensure_netns()
    code = _CHILD.format(root=str(ROOT))
    child = subprocess.Popen(
        [sys.executable, "-c", code, mode], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    names: list[str] = []
    try:
        assert child.stdout is not None
        line = child.stdout.readline()  # bounded: the child prints or dies
        names = line.split()
        assert len(names) == 2, (line, child.stderr.read() if child.stderr else "")
        if mode == "sigint":
            assert set(names) <= _netns_names()
            child.send_signal(signal.SIGINT)
        _out, err = child.communicate(timeout=30)
        if mode == "sigint":
            assert "KeyboardInterrupt" in err
        else:
            assert child.returncode == 0, err
        assert not set(names) & _netns_names()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)
        for name in names:  # do not leak namespaces if an assertion failed
            if name.startswith("tp-") and name in _netns_names():
                subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=30)


def test_skip_or_fail_follows_ci_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="no netns here"):
        skip_or_fail("no netns here")
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception, match="no netns here"):
        skip_or_fail("no netns here")
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception):
        skip_or_fail("no netns here")


@pytest.mark.kernel
def test_probe_many_accepts_tuples_and_keeps_order(lab: Lab) -> None:
    lab.load_nft(RULESET)
    probes = [
        (ADMIN, NODE, "tcp", 2379),
        (CP, NODE, "tcp", 2379),
        (OUTSIDE6, NODE6, "udp", 51820),
        (WORKER6, NODE6, "udp", 51820),
    ]
    assert lab.probe_many(probes) == [False, True, False, True]
