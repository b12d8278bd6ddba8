"""Parse ``talosctl netstat`` (alias ``ss``) output: which sockets a node listens on.

talosctl prints a ``text/tabwriter`` table (padding 3, spaces) and has no JSON or YAML
output. Columns (``cmd/talosctl/cmd/talos/netstat.go``, main at ``ad8823176``): ``NODE``
(always from v1.14.0-alpha.2; up to v1.13 only when the request went through apid with
``-n``), ``Proto``, ``Recv-Q``, ``Send-Q``, ``Local Address``, ``Foreign Address``,
``State``, then ``Uid`` ``Inode`` (``-x``), ``PID/Program name`` (``-p``), ``Pod``
(``-k``), ``Timer`` (``-o``).

Headers contain spaces and cells can be empty (UDP sockets have no State), so the rows
are cut at the header's column offsets, which tabwriter keeps for every row. Addresses
are ``ip:port`` with no IPv6 brackets (``:::50000``): split on the last colon; a remote
port 0 prints ``*``. Pure: no printing, no files.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from talospatch.errors import BadInput
from talospatch.nft.sets import IPAddress

COLUMNS = (
    "NODE",
    "Proto",
    "Recv-Q",
    "Send-Q",
    "Local Address",
    "Foreign Address",
    "State",
    "Uid",
    "Inode",
    "PID/Program name",
    "Pod",
    "Timer",
)
REQUIRED = ("Proto", "Local Address", "Foreign Address")
PROTOCOLS = ("tcp", "tcp6", "udp", "udp6", "udplite", "udplite6", "raw", "raw6")


@dataclass(frozen=True)
class Socket:
    """One row: a socket of the node (or of a pod with ``-k``)."""

    proto: str
    local: IPAddress
    port: int
    remote: IPAddress
    remote_port: int | None  # None for ``*`` (port 0)
    state: str = ""
    node: str | None = None
    pid: int | None = None
    program: str | None = None
    pod: str | None = None
    uid: int | None = None
    inode: int | None = None

    @property
    def transport(self) -> str:
        """``tcp``, ``udp``, ``udplite`` or ``raw`` (without the 6)."""
        return self.proto.removesuffix("6")

    @property
    def listening(self) -> bool:
        """talosctl's own test: remote address unspecified and remote port 0.

        Unconnected UDP sockets count (their State is empty).
        """
        return self.remote.is_unspecified and self.remote_port is None

    @property
    def loopback_only(self) -> bool:
        return self.local.is_loopback

    @property
    def wildcard(self) -> bool:
        return self.local.is_unspecified

    @property
    def local_text(self) -> str:
        """``0.0.0.0:50000``, ``[::]:50000``, ``127.0.0.1:10257``."""
        host = f"[{self.local}]" if self.local.version == 6 else str(self.local)
        return f"{host}:{self.port}"

    @property
    def process(self) -> str:
        """``apid`` or ``-`` when talosctl printed no program."""
        return self.program or "-"


def split_address(text: str, where: str) -> tuple[IPAddress, int | None]:
    """``10.5.0.2:50000``, ``:::50000``, ``0.0.0.0:*``: split on the last colon."""
    host, sep, port = text.rpartition(":")
    if not sep or not host:
        raise BadInput(f"{where}: address {text!r} is not ip:port")
    host = host.removeprefix("[").removesuffix("]")
    host = host.split("%", 1)[0]  # a zone (fe80::1%eth0)
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise BadInput(f"{where}: {host!r} in {text!r} is not an IP address") from None
    if port == "*":
        return address, None
    if not (port.isascii() and port.isdigit()) or int(port) > 65535:
        raise BadInput(f"{where}: port {port!r} in {text!r} is not 0-65535 or *")
    return address, int(port) or None


def _offsets(header: str, where: str) -> list[tuple[str, int]]:
    """Each known column name in the header and where it starts."""
    found: list[tuple[str, int]] = []
    position = 0
    rest = header
    while rest.strip():
        stripped = rest.lstrip(" ")
        position += len(rest) - len(stripped)
        name = next((c for c in COLUMNS if stripped.startswith(c) and stripped[len(c) : len(c) + 1] in ("", " ")), None)
        if name is None:
            word = stripped.split()[0]
            raise BadInput(f"{where}: unknown column {word!r} in the header (want talosctl netstat output)")
        found.append((name, position))
        position += len(name)
        rest = stripped[len(name) :]
    missing = [c for c in REQUIRED if c not in dict(found)]
    if missing:
        raise BadInput(f"{where}: the header has no {missing[0]!r} column (want talosctl netstat output)")
    return found


def _cells(line: str, offsets: list[tuple[str, int]]) -> dict[str, str]:
    cells: dict[str, str] = {}
    for index, (name, start) in enumerate(offsets):
        end = offsets[index + 1][1] if index + 1 < len(offsets) else len(line)
        cells[name] = line[start:end].strip()
    return cells


def _program(cell: str, where: str) -> tuple[int | None, str | None]:
    if cell in ("", "-"):
        return None, None
    pid, sep, name = cell.partition("/")
    if not sep or not pid.isdigit():
        raise BadInput(f"{where}: program {cell!r} is not pid/name or -")
    return int(pid), name


def _number(cell: str, what: str, where: str) -> int | None:
    if cell in ("", "-"):
        return None
    if not cell.isdigit():
        raise BadInput(f"{where}: {what} {cell!r} is not a number")
    return int(cell)


def parse_netstat(text: str, where: str) -> list[Socket]:
    """Every row of ``talosctl netstat`` output (any flags), in order.

    Lines before the header are ignored (a talosctl warning); several header lines (one
    file with several runs) each set the columns for the rows that follow.
    """
    sockets: list[Socket] = []
    offsets: list[tuple[str, int]] | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip("\r\n")
        if not line.strip():
            continue
        first = line.split()[0]
        if first in ("NODE", "Proto"):
            offsets = _offsets(line, f"{where} line {number}")
            continue
        if offsets is None:
            continue
        at = f"{where} line {number}"
        cells = _cells(line, offsets)
        proto = cells["Proto"].lower()
        if proto not in PROTOCOLS:
            raise BadInput(f"{at}: protocol {cells['Proto']!r} is not one of {', '.join(PROTOCOLS)}")
        local, port = split_address(cells["Local Address"], at)
        remote, remote_port = split_address(cells["Foreign Address"], at)
        pid, program = _program(cells.get("PID/Program name", ""), at)
        pod = cells.get("Pod") or None
        sockets.append(
            Socket(
                proto=proto,
                local=local,
                port=port or 0,
                remote=remote,
                remote_port=remote_port,
                state=cells.get("State", ""),
                node=cells.get("NODE") or None,
                pid=pid,
                program=program,
                pod=None if pod == "-" else pod,
                uid=_number(cells.get("Uid", ""), "uid", at),
                inode=_number(cells.get("Inode", ""), "inode", at),
            )
        )
    if offsets is None and text.strip():
        raise BadInput(f"{where}: no talosctl netstat header (a line starting with NODE or Proto)")
    return sockets


def listeners(sockets: list[Socket]) -> list[Socket]:
    """The listening sockets of the host network namespace (``-k`` pod sockets left out)."""
    return [s for s in sockets if s.listening and s.pod is None]
