"""Real-packet firewall test harness built on Linux network namespaces.

Topology
--------
A :class:`Lab` creates two network namespaces and one veth pair between them::

    +----------------------------+            +-----------------------------+
    | netns tp-<id>-cli          |            | netns tp-<id>-node          |
    |  (the "client")            |   veth     |  (the "node" under test)    |
    |  lo up                     |            |  lo up                      |
    |  tpc-<id>  <=================================>  tpn-<id>              |
    |    every client address   |            |    node addresses, e.g.     |
    |    as /32 or /128, e.g.   |            |    192.168.30.21/24         |
    |    192.168.30.11/32       |            |    fd00:30::21/64           |
    |    196.45.28.20/32 ...    |            |  nftables ruleset (load_nft)|
    |  host routes to the node  |            |  host routes to every client|
    |  addresses via tpc-<id>   |            |  address via tpn-<id>       |
    +----------------------------+            |  listeners (listen())       |
                                              +-----------------------------+

Both sides get permanent neighbour (ARP/NDP) entries for each other's
addresses, so the packets that a firewall ruleset sees are exactly the L4
probes: neighbour discovery can neither be blocked by the ruleset under test
nor add latency.  (The harness therefore does *not* test whether a ruleset
would let ICMPv6 neighbour discovery through.)

Listeners run inside the node namespace and are served by a background thread
of the test process; probes are sent from the client namespace with an explicit
source address.  Sockets are created by a dedicated thread that entered the
namespace with ``setns(2)``; a socket stays in the namespace it was created in,
so it can then be used from any thread.  There is one such thread per
namespace and it never runs anything else.

Safety rule
-----------
Traffic never leaves namespaces this module created.  Nothing is ever created
in the root (host) namespace: the veth pair is created inside the node
namespace with its peer placed directly into the client namespace, neither
namespace has any other interface than ``lo`` and that veth, there is no
default route, :meth:`Lab.probe` refuses any source that is not a client
address of the lab or any destination that is not a node address of the lab,
and every namespaced thread verifies (by nsfs inode) that it is in the
intended namespace before creating a socket.  Names carry the prefix ``tp-``
plus a random suffix so parallel runs do not collide; namespaces are deleted in
``__exit__`` (also when the body raises, including ``KeyboardInterrupt``) with
an ``atexit`` hook as a backstop.  A SIGKILL can still leak ``tp-*`` namespaces
(``ip netns list``; remove with ``ip netns del NAME``).

Probe semantics
---------------
* TCP: a completed handshake (``OPEN``) or an RST (``REFUSED``) means the SYN
  reached the node's TCP stack, i.e. the ruleset accepted it -> reached.
  No answer within the timeout (``TIMEOUT``) -> dropped.  An ICMP error
  (``UNREACHABLE``, e.g. from a ``reject`` rule) -> not reached.  Note that a
  ``reject with tcp reset`` rule is indistinguishable from a closed port and
  is reported as reached.
* UDP: reached only when the listener's echo comes back (``OPEN``).  A closed
  port (ICMP port unreachable -> ``REFUSED``) is *not* reached.
* A negative ``TIMEOUT`` is retried once (with twice the timeout) so that a
  slow, loaded machine does not turn an allowed probe into a false "dropped".

Only the standard library is used; :func:`skip_or_fail` imports pytest lazily.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import ctypes.util
import enum
import errno
import functools
import ipaddress
import itertools
import json
import math
import os
import queue
import re
import resource
import secrets
import selectors
import shutil
import socket
import struct
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from types import TracebackType
from typing import Any, NoReturn, TypeVar

__all__ = [
    "Lab",
    "LabError",
    "NftError",
    "Outcome",
    "Probe",
    "ProbeResult",
    "ensure_netns",
    "nft_in",
    "reached",
    "require_netns",
    "scratch_netns",
    "skip_or_fail",
]

T = TypeVar("T")

CLONE_NEWNET = 0x40000000
NETNS_PREFIX = "tp-"
_NETNS_DIR = "/run/netns"
_CMD_TIMEOUT = 30.0  # seconds, for every external command
_READY_TIMEOUT = 10.0  # seconds, waiting for links/addresses to become usable
_NODE_MAC = "02:74:70:00:00:01"
_CLIENT_MAC = "02:74:70:00:00:02"
_SRC_PORT_FIRST = 10000
_SRC_PORT_LAST = 64999
_IPV6_PKTINFO = getattr(socket, "IPV6_PKTINFO", 50)
_IPV6_RECVPKTINFO = getattr(socket, "IPV6_RECVPKTINFO", 49)
_IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)
_SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface


class LabError(RuntimeError):
    """Setting up, using or tearing down a :class:`Lab` failed."""


class NftError(LabError):
    """``nft`` rejected a ruleset; the message contains nft's stderr."""


# --------------------------------------------------------------------------
# capability check
# --------------------------------------------------------------------------


def _run(
    argv: Sequence[str], *, input: str | None = None, check: bool = True, timeout: float = _CMD_TIMEOUT
) -> subprocess.CompletedProcess[str]:
    try:
        proc = subprocess.run(
            list(argv),
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise LabError(f"command timed out after {timeout}s: {' '.join(argv)}") from exc
    if check and proc.returncode != 0:
        raise LabError(f"command failed (rc={proc.returncode}): {' '.join(argv)}\n{proc.stderr.strip()}")
    return proc


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def _setns(fd: int) -> None:
    setns = getattr(os, "setns", None)  # Python >= 3.12
    if setns is not None:
        setns(fd, CLONE_NEWNET)
        return
    if _libc().setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns(CLONE_NEWNET) failed: {os.strerror(err)}")


@functools.cache
def require_netns() -> str | None:
    """Return ``None`` if namespace labs can run here, else the reason why not.

    Checks: running as root, ``ip`` and ``nft`` on PATH, ``setns`` available,
    ``ip netns add`` works, a veth pair can be created (inside the scratch
    namespace, never in the root namespace) and ``nft`` works in a namespace.
    The result is cached for the process.
    """
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "network-namespace tests need root"
    for tool in ("ip", "nft"):
        if shutil.which(tool) is None:
            return f"`{tool}` not found on PATH"
    try:
        if not hasattr(os, "setns") and not hasattr(_libc(), "setns"):
            return "libc has no setns()"
    except OSError as exc:
        return f"cannot load libc: {exc}"
    name = f"{NETNS_PREFIX}cap-{secrets.token_hex(4)}"
    try:
        proc = _run(["ip", "netns", "add", name], check=False)
    except LabError as exc:
        return str(exc)
    if proc.returncode != 0:
        return f"`ip netns add` failed: {proc.stderr.strip()}"
    try:
        proc = _run(["ip", "-n", name, "link", "add", "tpcap0", "type", "veth", "peer", "name", "tpcap1"], check=False)
        if proc.returncode != 0:
            return f"cannot create a veth pair: {proc.stderr.strip()}"
        proc = _run(["ip", "netns", "exec", name, "nft", "list", "ruleset"], check=False)
        if proc.returncode != 0:
            return f"`nft` does not work in a network namespace: {proc.stderr.strip()}"
        if not socket.has_ipv6:
            return "Python was built without IPv6 support"
    except LabError as exc:
        return str(exc)
    finally:
        _run(["ip", "netns", "del", name], check=False)
    return None


def skip_or_fail(reason: str) -> NoReturn:
    """Skip the current test, or fail it when ``CI=true``.

    On CI a missing capability must not silently turn a firewall proof into a
    skip, so it is a failure there.
    """
    import pytest

    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true and network-namespace lab unavailable: {reason}", pytrace=False)
    pytest.skip(reason)


def ensure_netns() -> None:
    """Call :func:`skip_or_fail` unless :func:`require_netns` says we are good."""
    reason = require_netns()
    if reason is not None:
        skip_or_fail(reason)


@contextlib.contextmanager
def scratch_netns() -> Iterator[str]:
    """An empty network namespace (only ``lo``, down) for loading rulesets; deleted afterwards.

    Skips (or fails under CI) when namespaces are not available. No traffic is sent.
    """
    ensure_netns()
    name = f"{NETNS_PREFIX}nft-{secrets.token_hex(5)}"
    _run(["ip", "netns", "add", name])
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "delete", name], capture_output=True, check=False)


def nft_in(netns: str, *args: str, stdin: str | None = None) -> str:
    """Run ``nft ARGS`` in ``netns`` and return its stdout; fail with nft's stderr."""
    done = subprocess.run(
        ["ip", "netns", "exec", netns, "nft", *args], input=stdin, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise NftError(f"nft {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


# --------------------------------------------------------------------------
# a thread living in a network namespace
# --------------------------------------------------------------------------


def _ns_id(path: str) -> tuple[int, int]:
    st = os.stat(path)
    return (st.st_dev, st.st_ino)


class _NetnsWorker:
    """A dedicated thread that entered ``/run/netns/<name>`` and runs calls.

    Sockets created by callables passed to :meth:`call` belong to that
    namespace.  Before every call the thread re-verifies it is in the expected
    namespace, so a failed ``setns`` can never create a socket on the host.
    """

    def __init__(self, netns: str) -> None:
        self.netns = netns
        self._path = os.path.join(_NETNS_DIR, netns)
        self._expected = _ns_id(self._path)
        self._queue: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]] | None] = queue.SimpleQueue()
        self._ready: Future[None] = Future()
        self._thread = threading.Thread(target=self._main, name=f"netlab-{netns}", daemon=True)
        self._thread.start()
        try:
            self._ready.result(timeout=_READY_TIMEOUT)
        except BaseException:
            self.stop()
            raise

    def _check(self) -> None:
        if _ns_id("/proc/thread-self/ns/net") != self._expected:
            raise LabError(f"worker thread is not in netns {self.netns}; refusing to continue")

    def _main(self) -> None:
        try:
            fd = os.open(self._path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                _setns(fd)
            finally:
                os.close(fd)
            self._check()
        except BaseException as exc:  # report and leave: this thread never runs calls
            self._ready.set_exception(exc)
            return
        self._ready.set_result(None)
        while True:
            item = self._queue.get()
            if item is None:
                return
            fn, fut = item
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                self._check()
                fut.set_result(fn())
            except BaseException as exc:
                fut.set_exception(exc)

    def call(self, fn: Callable[[], T], timeout: float | None = None) -> T:
        if not self._thread.is_alive():
            raise LabError(f"worker for netns {self.netns} is not running")
        fut: Future[T] = Future()
        self._queue.put((fn, fut))
        return fut.result(timeout=timeout)

    def stop(self, timeout: float = 5.0) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()


# --------------------------------------------------------------------------
# listeners (TCP accept-and-close, UDP echo) served by one selector thread
# --------------------------------------------------------------------------


def _raise_nofile(needed: int) -> None:
    """Raise RLIMIT_NOFILE's soft limit so that ``needed`` more fds fit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        in_use = len(os.listdir("/proc/self/fd"))
    except OSError:
        in_use = 256
    want = in_use + needed + 256
    if soft != resource.RLIM_INFINITY and soft < want:
        new_soft = want if hard == resource.RLIM_INFINITY else min(want, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new_soft, hard))


def _free_fds() -> int:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 1 << 16
    try:
        in_use = len(os.listdir("/proc/self/fd"))
    except OSError:
        in_use = 256
    return max(0, soft - in_use)


class _Server:
    """Serves listening sockets from one background thread."""

    def __init__(self, name: str) -> None:
        self._sel = selectors.DefaultSelector()
        self._lock = threading.Lock()
        self._pending: list[tuple[socket.socket, str]] = []
        self._pending_done: list[threading.Event] = []
        self._rfd, self._wfd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._sel.register(self._rfd, selectors.EVENT_READ, None)
        self._stop = False
        self.sockets: list[socket.socket] = []
        self._thread = threading.Thread(target=self._loop, name=f"netlab-srv-{name}", daemon=True)
        self._thread.start()

    def _wake(self) -> None:
        with contextlib.suppress(OSError):  # pipe full: a wake-up is pending anyway
            os.write(self._wfd, b"x")

    def add(self, socks: list[tuple[socket.socket, str]], timeout: float = 10.0) -> None:
        done = threading.Event()
        with self._lock:
            self._pending.extend(socks)
            self._pending_done.append(done)
        self._wake()
        if not done.wait(timeout):
            raise LabError("listener thread did not register the sockets in time")

    def _loop(self) -> None:
        buf_size = 65535
        cmsg_size = socket.CMSG_SPACE(20)
        while not self._stop:
            with self._lock:
                pending, self._pending = self._pending, []
                dones, self._pending_done = self._pending_done, []
            for sock, kind in pending:
                self._sel.register(sock, selectors.EVENT_READ, kind)
                self.sockets.append(sock)
            for done in dones:
                done.set()
            try:
                events = self._sel.select(timeout=1.0)
            except OSError:
                time.sleep(0.01)  # do not spin if the selector is unhappy
                continue
            for key, _mask in events:
                if key.data is None:
                    with contextlib.suppress(OSError):  # drain the wake-up pipe
                        for _ in range(64):
                            if not os.read(self._rfd, 4096):
                                break
                    continue
                lsock = key.fileobj
                if not isinstance(lsock, socket.socket):
                    continue
                for _ in range(1024):  # drain, bounded
                    try:
                        if key.data == "tcp":
                            conn, _addr = lsock.accept()
                            conn.close()
                        else:
                            # echo from the address the datagram was sent to
                            # (the received PKTINFO is passed back as is)
                            data, anc, _flags, addr = lsock.recvmsg(buf_size, cmsg_size)
                            lsock.sendmsg([data], anc, 0, addr)
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError:
                        continue

    def stop(self) -> None:
        self._stop = True
        self._wake()
        self._thread.join(5.0)
        for sock in self.sockets:
            with contextlib.suppress(KeyError, ValueError, OSError):
                self._sel.unregister(sock)
            sock.close()
        self.sockets.clear()
        with self._lock:
            for sock, _ in self._pending:
                sock.close()
            self._pending.clear()
        self._sel.close()
        for fd in (self._rfd, self._wfd):
            with contextlib.suppress(OSError):
                os.close(fd)


def _make_listener(proto: str, port: int, family: socket.AddressFamily) -> socket.socket:
    """Create one wildcard listener (runs in the node namespace's worker)."""
    stype = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    sock = socket.socket(family, stype)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            # one dual-stack socket serves both IPv4 and IPv6 node addresses
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            if proto == "udp":
                sock.setsockopt(socket.IPPROTO_IPV6, _IPV6_RECVPKTINFO, 1)
            sock.bind(("::", port))
        else:
            if proto == "udp":
                sock.setsockopt(socket.IPPROTO_IP, _IP_PKTINFO, 1)
            sock.bind(("0.0.0.0", port))
        if proto == "tcp":
            sock.listen(4096)
        else:
            try:
                sock.setsockopt(socket.SOL_SOCKET, _SO_RCVBUFFORCE, 4 << 20)
            except OSError:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


# --------------------------------------------------------------------------
# probes
# --------------------------------------------------------------------------


class Outcome(enum.Enum):
    """What one probe observed."""

    OPEN = "open"  # TCP handshake completed / UDP echo received
    REFUSED = "refused"  # TCP RST / UDP ICMP port unreachable
    TIMEOUT = "timeout"  # nothing came back
    UNREACHABLE = "unreachable"  # another ICMP error / local error


@dataclass(frozen=True)
class Probe:
    """One probe: from client address ``src`` to node address ``dst``."""

    src: str
    dst: str
    proto: str  # "tcp" | "udp"
    port: int


@dataclass(frozen=True)
class ProbeResult:
    probe: Probe
    outcome: Outcome
    attempts: int
    seconds: float  # duration of the last attempt

    @property
    def reached(self) -> bool:
        return reached(self.probe.proto, self.outcome)


def reached(proto: str, outcome: Outcome) -> bool:
    """TCP: OPEN or REFUSED reached the node; UDP: only an echo (OPEN) does."""
    if proto == "tcp":
        return outcome in (Outcome.OPEN, Outcome.REFUSED)
    return outcome is Outcome.OPEN


ProbeLike = Probe | tuple[str, str, str, int]


@dataclass
class _Active:
    index: int
    sock: socket.socket
    proto: str
    token: bytes
    started: float
    deadline: float


class _ProbeEngine:
    """Runs batches of non-blocking probes with a selector (client-ns worker)."""

    def __init__(self) -> None:
        self._ports = itertools.cycle(range(_SRC_PORT_FIRST, _SRC_PORT_LAST + 1))

    def _bind(self, sock: socket.socket, src: str) -> None:
        # Rotate source ports explicitly so a 4-tuple (and thus a conntrack
        # entry left by an earlier, differently-filtered probe) is not reused
        # until ~55000 probes later.
        last: OSError | None = None
        for _ in range(64):
            try:
                sock.bind((src, next(self._ports)))
                return
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE:
                    raise
                last = exc
        assert last is not None
        raise last

    def _start(self, index: int, p: Probe, timeout: float) -> tuple[_Active | None, Outcome | None]:
        family = socket.AF_INET6 if ":" in p.dst else socket.AF_INET
        stype = socket.SOCK_STREAM if p.proto == "tcp" else socket.SOCK_DGRAM
        sock = socket.socket(family, stype)
        token = b""
        try:
            sock.setblocking(False)
            if p.proto == "tcp":
                # close() sends RST: no TIME_WAIT, no lingering state
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self._bind(sock, p.src)
            now = time.monotonic()
            if p.proto == "tcp":
                err = sock.connect_ex((p.dst, p.port))
                if err not in (0, errno.EINPROGRESS, errno.EALREADY, errno.EWOULDBLOCK):
                    sock.close()
                    return None, _errno_outcome(err)
                if err == 0:
                    sock.close()
                    return None, Outcome.OPEN
            else:
                sock.connect((p.dst, p.port))
                token = secrets.token_bytes(16)
                sock.send(token)
        except OSError as exc:
            sock.close()
            if exc.errno in (errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH):
                return None, _errno_outcome(exc.errno)
            raise
        return _Active(index, sock, p.proto, token, now, now + timeout), None

    def run(
        self,
        probes: Sequence[Probe],
        timeout: float,
        max_inflight: int,
    ) -> list[tuple[Outcome, float]]:
        results: list[tuple[Outcome, float] | None] = [None] * len(probes)
        todo = deque(range(len(probes)))
        active: dict[int, _Active] = {}  # fd -> state
        sel = selectors.DefaultSelector()
        cap = max(1, min(max_inflight, _free_fds() // 2 - 32))
        # hard bound on the whole batch, whatever happens
        hard_deadline = time.monotonic() + (math.ceil(len(probes) / cap) + 2) * (timeout + 1) + 10

        def finish(a: _Active, outcome: Outcome) -> None:
            fd = a.sock.fileno()
            sel.unregister(a.sock)
            del active[fd]
            a.sock.close()
            results[a.index] = (outcome, time.monotonic() - a.started)

        try:
            while (todo or active) and time.monotonic() < hard_deadline:
                while todo and len(active) < cap:
                    i = todo.popleft()
                    t0 = time.monotonic()
                    a, out = self._start(i, probes[i], timeout)
                    if a is None:
                        assert out is not None
                        results[i] = (out, time.monotonic() - t0)
                        continue
                    active[a.sock.fileno()] = a
                    ev = selectors.EVENT_WRITE if a.proto == "tcp" else selectors.EVENT_READ
                    sel.register(a.sock, ev, a)
                if not active:
                    continue
                wait = max(0.0, min(a.deadline for a in active.values()) - time.monotonic())
                # Handle whatever is ready *before* expiring deadlines, so a
                # late wake-up (loaded machine) does not turn an answer into a
                # timeout.
                for key, _mask in sel.select(min(wait, 1.0)):
                    a = key.data
                    if a.proto == "tcp":
                        err = a.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                        if err == 0:
                            finish(a, Outcome.OPEN)
                        elif err in (errno.EINPROGRESS, errno.EALREADY):
                            continue
                        else:
                            finish(a, _errno_outcome(err))
                        continue
                    for _ in range(16):  # drain, bounded
                        try:
                            data = a.sock.recv(2048)
                        except (BlockingIOError, InterruptedError):
                            break
                        except OSError as exc:
                            finish(a, _errno_outcome(exc.errno or 0))
                            break
                        if data == a.token:
                            finish(a, Outcome.OPEN)
                            break
                now = time.monotonic()
                for a in [a for a in active.values() if a.deadline <= now]:
                    finish(a, Outcome.TIMEOUT)
        finally:
            for a in list(active.values()):
                sel.unregister(a.sock)
                a.sock.close()
                results[a.index] = (Outcome.TIMEOUT, time.monotonic() - a.started)
            active.clear()
            sel.close()
        return [r if r is not None else (Outcome.TIMEOUT, 0.0) for r in results]


def _errno_outcome(err: int) -> Outcome:
    if err == errno.ECONNREFUSED:
        return Outcome.REFUSED
    if err == errno.ETIMEDOUT:
        return Outcome.TIMEOUT
    return Outcome.UNREACHABLE


# --------------------------------------------------------------------------
# the lab
# --------------------------------------------------------------------------

_LIVE: dict[int, Lab] = {}
_LIVE_LOCK = threading.Lock()


def _atexit_cleanup() -> None:
    with _LIVE_LOCK:
        labs = list(_LIVE.values())
    for lab in labs:
        with contextlib.suppress(BaseException):  # best effort at interpreter exit
            lab.close()


atexit.register(_atexit_cleanup)


def _host_ip(addr: str) -> IPAddress:
    ip = ipaddress.ip_interface(addr).ip
    if ip.is_loopback or ip.is_multicast or ip.is_unspecified or ip.is_link_local:
        raise ValueError(f"unsupported lab address: {addr}")
    return ip


class Lab:
    """A node namespace and a client namespace joined by one veth pair.

    ``node_addrs``: the node's addresses with prefix, e.g. ``"192.168.30.21/24"``,
    ``"fd00:30::21/64"`` (no prefix means /32 or /128).
    ``client_addrs``: addresses that probes may come from; each is put on the
    client's veth end as /32 or /128 (a prefix given here is ignored), and the
    node gets a host route back to each over its veth end.

    Use as a context manager; ``__enter__`` builds everything and waits until
    it is usable, ``__exit__`` tears everything down.
    """

    def __init__(self, node_addrs: Sequence[str], client_addrs: Sequence[str], *, name: str | None = None) -> None:
        if not node_addrs:
            raise ValueError("the node needs at least one address")
        self.node_ifaces: list[IPInterface] = [ipaddress.ip_interface(a) for a in node_addrs]
        for iface in self.node_ifaces:
            _host_ip(str(iface))
        self.client_ips: list[IPAddress] = [_host_ip(a) for a in client_addrs]
        self._node_set = {i.ip for i in self.node_ifaces}
        self._client_set = set(self.client_ips)
        if self._node_set & self._client_set:
            raise ValueError(f"addresses on both sides: {self._node_set & self._client_set}")
        suffix = name or secrets.token_hex(4)
        if not re.fullmatch(r"[a-z0-9]{1,11}", suffix):
            raise ValueError(f"lab name must be 1-11 lowercase letters/digits: {suffix!r}")
        self.id = suffix
        self.node_ns = f"{NETNS_PREFIX}{suffix}-node"
        self.client_ns = f"{NETNS_PREFIX}{suffix}-cli"
        self.node_if = f"tpn-{suffix}"[:15]
        self.client_if = f"tpc-{suffix}"[:15]
        self._created: list[str] = []
        self._node: _NetnsWorker | None = None
        self._client: _NetnsWorker | None = None
        self._server: _Server | None = None
        self._engine = _ProbeEngine()
        self._listening: set[tuple[str, int]] = set()
        self._family = socket.AF_INET6
        self._closed = False
        self._started = False

    # -- lifecycle ---------------------------------------------------------

    def __enter__(self) -> Lab:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def start(self) -> None:
        if self._started:
            raise LabError("lab already started")
        self._started = True
        with _LIVE_LOCK:
            _LIVE[id(self)] = self
        try:
            self._build()
        except BaseException:
            self.close()
            raise

    def _build(self) -> None:
        for ns in (self.node_ns, self.client_ns):
            _run(["ip", "netns", "add", ns])
            self._created.append(ns)
        # The veth is created inside the node namespace and its peer goes
        # straight into the client namespace: no end ever exists in the root
        # namespace.
        _run(
            [
                "ip",
                "-n",
                self.node_ns,
                "link",
                "add",
                self.node_if,
                "address",
                _NODE_MAC,
                "type",
                "veth",
                "peer",
                "name",
                self.client_if,
                "address",
                _CLIENT_MAC,
                "netns",
                self.client_ns,
            ]
        )
        root_links = _run(["ip", "-o", "link", "show"]).stdout
        for ifname in (self.node_if, self.client_if):
            if f" {ifname}:" in root_links or f" {ifname}@" in root_links:
                raise LabError(f"safety: {ifname} showed up in the root namespace")

        node_cmds = ["link set lo up", f"link set {self.node_if} up"]
        for iface in self.node_ifaces:
            nodad = " nodad" if iface.version == 6 else ""
            node_cmds.append(f"addr add {iface.with_prefixlen} dev {self.node_if}{nodad}")
        for ip in self.client_ips:
            plen = 32 if ip.version == 4 else 128
            # (ip -batch infers the family from the address; no -4/-6 per line)
            node_cmds.append(f"route replace {ip}/{plen} dev {self.node_if}")
            node_cmds.append(f"neigh replace {ip} lladdr {_CLIENT_MAC} dev {self.node_if} nud permanent")
        client_cmds = ["link set lo up", f"link set {self.client_if} up"]
        for ip in self.client_ips:
            plen = 32 if ip.version == 4 else 128
            nodad = " nodad" if ip.version == 6 else ""
            client_cmds.append(f"addr add {ip}/{plen} dev {self.client_if} noprefixroute{nodad}")
        for iface in self.node_ifaces:
            ip = iface.ip
            plen = 32 if ip.version == 4 else 128
            client_cmds.append(f"route replace {ip}/{plen} dev {self.client_if}")
            client_cmds.append(f"neigh replace {ip} lladdr {_NODE_MAC} dev {self.client_if} nud permanent")
        _run(["ip", "-n", self.node_ns, "-batch", "-"], input="\n".join(node_cmds) + "\n")
        _run(["ip", "-n", self.client_ns, "-batch", "-"], input="\n".join(client_cmds) + "\n")
        self._wait_ready()

        self._node = _NetnsWorker(self.node_ns)
        self._client = _NetnsWorker(self.client_ns)
        self._server = _Server(self.id)

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + _READY_TIMEOUT
        problem = ""
        sides = (
            (self.node_ns, self.node_if, self._node_set),
            (self.client_ns, self.client_if, self._client_set),
        )
        while time.monotonic() < deadline:
            problem = ""
            for ns, ifname, ours in sides:
                out = _run(["ip", "-n", ns, "-j", "addr", "show", "dev", ifname]).stdout
                info = json.loads(out)[0]
                if "LOWER_UP" not in info.get("flags", []):
                    problem = f"{ifname} has no carrier"
                usable = set()
                # Only our (nodad) addresses matter; the kernel's own fe80::
                # address does DAD for ~1-2s but is never used by the lab.
                for a in info.get("addr_info", []):
                    ip = ipaddress.ip_address(a.get("local", "::"))
                    if ip in ours and not (a.get("tentative") or a.get("dadfailed")):
                        usable.add(ip)
                if usable != ours:
                    problem = f"not yet usable on {ifname}: {sorted(map(str, ours - usable))}"
            if not problem:
                return
            time.sleep(0.02)
        raise LabError(f"lab did not become ready within {_READY_TIMEOUT}s: {problem}")

    def close(self) -> None:
        """Stop threads, close sockets and delete both namespaces (idempotent)."""
        if self._closed:
            return
        errors: list[str] = []
        try:
            if self._server is not None:
                try:
                    self._server.stop()
                except Exception as exc:  # keep tearing down
                    errors.append(f"server: {exc}")
                self._server = None
            for worker in (self._node, self._client):
                if worker is not None:
                    try:
                        worker.stop()
                    except Exception as exc:
                        errors.append(f"worker {worker.netns}: {exc}")
            self._node = self._client = None
        finally:
            for ns in list(self._created):
                proc = _run(["ip", "netns", "del", ns], check=False)
                if proc.returncode == 0 or not os.path.exists(os.path.join(_NETNS_DIR, ns)):
                    self._created.remove(ns)
                else:
                    errors.append(f"ip netns del {ns}: {proc.stderr.strip()}")
            if not self._created:
                self._closed = True
                with _LIVE_LOCK:
                    _LIVE.pop(id(self), None)
        if errors:
            raise LabError("lab teardown problems: " + "; ".join(errors))

    @property
    def namespaces(self) -> tuple[str, str]:
        return (self.node_ns, self.client_ns)

    # -- nftables ----------------------------------------------------------

    def node_exec(self, *argv: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a command in the node namespace (``ip netns exec``)."""
        self._require_running()
        return _run(["ip", "netns", "exec", self.node_ns, *argv], input=input, check=check)

    def load_nft(self, text: str) -> None:
        """Load a ruleset into the node with ``nft -f -``; raise NftError on failure."""
        proc = self.node_exec("nft", "-f", "-", input=text, check=False)
        if proc.returncode != 0:
            raise NftError(f"nft -f failed (rc={proc.returncode}):\n{proc.stderr.strip()}")

    def list_nft(self) -> str:
        """``nft list ruleset`` in the node namespace."""
        return self.node_exec("nft", "list", "ruleset").stdout

    def flush_nft(self) -> None:
        """``nft flush ruleset`` in the node namespace."""
        self.node_exec("nft", "flush", "ruleset")

    # -- listeners ---------------------------------------------------------

    def listen(self, tcp_ports: Iterable[int] = (), udp_ports: Iterable[int] = ()) -> None:
        """Listen on ports on all node addresses (IPv4 and IPv6) inside the node.

        TCP connections are accepted and closed; every UDP datagram is echoed
        back from the address it was sent to.  Ports already listened on are
        skipped.  One dual-stack socket per (proto, port).
        """
        self._require_running()
        assert self._node is not None
        assert self._server is not None
        wanted = [("tcp", int(p)) for p in tcp_ports] + [("udp", int(p)) for p in udp_ports]
        new: list[tuple[str, int]] = []
        for proto, port in wanted:
            if not 1 <= port <= 65535:
                raise ValueError(f"bad port {port}")
            if (proto, port) not in self._listening and (proto, port) not in new:
                new.append((proto, port))
        if not new:
            return
        _raise_nofile(len(new) + 512)

        def make() -> list[tuple[socket.socket, str]]:
            made: list[tuple[socket.socket, str]] = []
            try:
                for proto, port in new:
                    try:
                        sock = _make_listener(proto, port, self._family)
                    except OSError as exc:
                        if self._family == socket.AF_INET6 and exc.errno == errno.EAFNOSUPPORT and not made:
                            self._family = socket.AF_INET  # kernel without IPv6
                            sock = _make_listener(proto, port, self._family)
                        else:
                            raise
                    made.append((sock, proto))
            except BaseException:
                for s, _ in made:
                    s.close()
                raise
            return made

        socks = self._node.call(make, timeout=60)
        self._server.add(socks)
        self._listening.update(new)

    def node_connect(self, src: str, src_port: int, dst: str, port: int, timeout: float = 1.0) -> bool:
        """Open a TCP connection from the node (``src:src_port``) to a listener on a client address.

        The other direction of :meth:`probe`: the node starts the connection, so what the ruleset
        sees is the reply (SYN-ACK) to the node's own SYN, arriving on ``src_port``. True when the
        handshake completes within ``timeout``; False when the reply was dropped.
        """
        self._require_running()
        assert self._node is not None
        assert self._client is not None
        source, target = _host_ip(src), _host_ip(dst)
        if source not in self._node_set or target not in self._client_set:
            raise LabError(f"node_connect: {src} must be a node address and {dst} a client address")
        family = socket.AF_INET if source.version == 4 else socket.AF_INET6

        def serve() -> socket.socket:
            server = socket.socket(family, socket.SOCK_STREAM)
            server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            server.bind((str(target), port))
            server.listen(1)
            return server

        def connect() -> bool:
            with socket.socket(family, socket.SOCK_STREAM) as client:
                client.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                client.bind((str(source), src_port))
                client.settimeout(timeout)
                try:
                    client.connect((str(target), port))
                except (TimeoutError, OSError):
                    return False
                return True

        server = self._client.call(serve, timeout=10)
        try:
            return self._node.call(connect, timeout=timeout + 10)
        finally:
            server.close()

    @property
    def listening(self) -> frozenset[tuple[str, int]]:
        return frozenset(self._listening)

    # -- probes ------------------------------------------------------------

    def _require_running(self) -> None:
        if not self._started or self._closed or self._node is None:
            raise LabError("lab is not running (use it as a context manager)")

    def _validate(self, p: ProbeLike) -> Probe:
        if not isinstance(p, Probe):
            p = Probe(*p)
        proto = p.proto.lower()
        if proto not in ("tcp", "udp"):
            raise ValueError(f"proto must be tcp or udp, not {p.proto!r}")
        src, dst = ipaddress.ip_address(p.src), ipaddress.ip_address(p.dst)
        # safety: only ever send from our client addresses to our node addresses
        if src not in self._client_set:
            raise ValueError(f"{src} is not a client address of this lab")
        if dst not in self._node_set:
            raise ValueError(f"{dst} is not a node address of this lab")
        if src.version != dst.version:
            raise ValueError(f"address family mismatch: {src} -> {dst}")
        if not 1 <= int(p.port) <= 65535:
            raise ValueError(f"bad port {p.port}")
        return Probe(str(src), str(dst), proto, int(p.port))

    def probe_many_detailed(
        self, probes: Iterable[ProbeLike], timeout: float = 0.3, retries: int = 1, max_inflight: int = 512
    ) -> list[ProbeResult]:
        """Run probes concurrently from the client namespace.

        Each attempt waits at most ``timeout`` seconds; probes that timed out
        are retried up to ``retries`` times, each retry with twice the previous
        timeout.  Results are in input order.
        """
        self._require_running()
        assert self._client is not None
        plist = [self._validate(p) for p in probes]
        if not plist:
            return []
        out: list[ProbeResult | None] = [None] * len(plist)
        todo = list(range(len(plist)))
        t = timeout
        for attempt in range(1, retries + 2):
            batch = [plist[i] for i in todo]
            limit = 600 + (len(batch) / max(1, max_inflight) + 2) * (t + 1) * 2
            res = self._client.call(functools.partial(self._engine.run, batch, t, max_inflight), timeout=limit)
            again: list[int] = []
            for i, (outcome, secs) in zip(todo, res, strict=True):
                out[i] = ProbeResult(plist[i], outcome, attempt, secs)
                if outcome is Outcome.TIMEOUT:
                    again.append(i)
            todo = again
            t *= 2
            if not todo:
                break
        return [r for r in out if r is not None]

    def probe_many(self, probes: Iterable[ProbeLike], timeout: float = 0.3, retries: int = 1) -> list[bool]:
        """Like :meth:`probe_many_detailed` but just "reached?" per probe."""
        return [r.reached for r in self.probe_many_detailed(probes, timeout, retries)]

    def probe(self, src: str, dst: str, proto: str, port: int, timeout: float = 0.3, retries: int = 1) -> bool:
        """One probe from client address ``src`` to node address ``dst``."""
        return self.probe_many([Probe(src, dst, proto, port)], timeout, retries)[0]
