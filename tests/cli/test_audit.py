"""``talospatch audit``: listeners joined with the firewall."""

from __future__ import annotations

import json
from pathlib import Path

from testing.cluster import CONTROLPLANE_PATCH, ROOT
from testing.runner import Cli, error_message, ok

NETSTAT = ROOT / "tests" / "fixtures" / "live" / "cp1-netstat.txt"


def test_audit_table_of_the_reference_control_plane(cli: Cli) -> None:
    result = ok(cli("audit", str(CONTROLPLANE_PATCH), "--netstat", str(NETSTAT)))
    lines = result.out_lines
    assert lines[0] == "node 192.168.30.11 (Talos v1.15 (main after 55e0f6350))"
    assert lines[1].split()[:3] == ["listener", "program", "status"]
    etcd = next(line for line in lines if line.startswith("tcp 0.0.0.0:2379 "))
    assert "open      etcd-ingress: 192.168.30.11, 192.168.30.12/31" in etcd
    scheduler = next(line for line in lines if line.startswith("tcp 127.0.0.1:10259 "))
    assert " loopback " in scheduler
    assert any(line.strip().startswith("cni-geneve (6081/udp): nothing listens") for line in lines)


def test_audit_json(cli: Cli) -> None:
    data = json.loads(ok(cli("audit", str(CONTROLPLANE_PATCH), "--netstat", str(NETSTAT), "--format", "json")).out)
    (node,) = data["nodes"]
    assert {item["port"] for item in node["listeners"]} >= {50000, 6443, 2379, 10250}


def test_audit_bad_netstat_is_exit_3(cli: Cli, tmp_path: Path) -> None:
    bad = tmp_path / "netstat.txt"
    bad.write_text("not a netstat table\n", encoding="utf-8")
    assert error_message(cli("audit", str(CONTROLPLANE_PATCH), "--netstat", str(bad))).startswith(f"{bad}")
