"""``--node NAME`` with a cluster spec: nft, query, verify and audit look at one node, at its address."""

from __future__ import annotations

from pathlib import Path

import pytest

from testing.cluster import ADMIN, ROOT
from testing.runner import Cli, error_message, ok
from tests.workflows.test_build import SPEC, write_spec

REFERENCE = str(ROOT / "talospatch.yaml")
LIVE = ROOT / "tests" / "fixtures" / "live"
NODES = """\
nodes:
    - name: w1
      role: worker
      address: 192.168.30.21
    - name: edge
      role: worker
      address: 192.168.30.22
      addons: [bgp]
      bgpPeers: [192.168.30.1]
"""


@pytest.fixture
def spec(cli: Cli, tmp_path: Path) -> str:
    path = write_spec(tmp_path, SPEC + NODES)
    ok(cli("build", str(path)))
    return str(path)


def test_a_node_is_its_patch_at_its_address(cli: Cli, spec: str, tmp_path: Path) -> None:
    for name, address in (("w1", "192.168.30.21"), ("edge", "192.168.30.22")):
        patch = str(tmp_path / "out" / "nodes" / f"{name}.yaml")
        expected = ok(cli("nft", patch, "--node-ip", address)).out
        assert ok(cli("nft", spec, "--node", name)).out == expected
    # The reference cluster's nodes take their role's patch.
    assert ok(cli("nft", REFERENCE, "--node", "w1")).out == (
        ok(cli("nft", str(ROOT / "out" / "worker.yaml"), "--node-ip", "192.168.30.21")).out
    )


def test_query_answers_for_the_node(cli: Cli, spec: str) -> None:
    assert ok(cli("query", spec, "--node", "edge", "--from", "192.168.30.1", "--port", "179/tcp")).out == (
        "allowed: bgp-peers-ingress (192.168.30.1/32)\n"
    )
    dropped = cli("query", spec, "--node", "w1", "--from", "192.168.30.1", "--port", "179/tcp")
    assert dropped.code == 1
    assert dropped.out.startswith("dropped")
    ok(cli("query", REFERENCE, "--node", "cp1", "--from", ADMIN, "--port", "6443/tcp"))


def test_verify_and_audit_take_a_node(cli: Cli, spec: str, tmp_path: Path) -> None:
    chains = tmp_path / "edge-chains.yaml"
    chains.write_text(ok(cli("nft", spec, "--node", "edge", "--format", "resource")).out, encoding="utf-8")
    assert ok(cli("verify", spec, "--node", "edge", "--live", str(chains))).out == ""
    other = cli("verify", spec, "--node", "w1", "--live", str(chains))
    assert other.code == 1
    assert "node allows 179/tcp from 192.168.30.1, which no rule here generates" in other.out
    assert ok(cli("verify", REFERENCE, "--node", "cp1", "--live", str(LIVE / "cp1-chains.yaml"))).out == ""
    audit = ok(cli("audit", REFERENCE, "--node", "cp1", "--netstat", str(LIVE / "cp1-netstat.txt")))
    assert audit.out_lines[0] == "node 192.168.30.11 (Talos v1.14.0)"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        pytest.param(
            ["nft", REFERENCE, "--node", "w9"],
            f"--node w9: no such node in {REFERENCE}; valid: cp1, cp2, cp3, w1",
            id="unknown",
        ),
        pytest.param(
            ["nft", str(ROOT / "out" / "worker.yaml"), "--node", "w1"],
            "--node w1: give the cluster spec that names the node (talospatch.yaml)",
            id="patch-file",
        ),
        pytest.param(
            ["nft", REFERENCE, "--node", "w1", "--node-ip", "192.168.30.21"],
            "--node w1 gives the node's address; leave out --node-ip",
            id="node-ip",
        ),
        pytest.param(
            ["query", REFERENCE, "--node", "w1", "--role", "controlplane", "--from", ADMIN, "--port", "50000/tcp"],
            f"--node w1 is a worker node of {REFERENCE}, not controlplane; leave out --role",
            id="other-role",
        ),
        pytest.param(
            ["nft", REFERENCE],
            f"{REFERENCE} is a cluster spec: give --role with the role to look at, or --node NAME",
            id="neither",
        ),
    ],
)
def test_node_errors(cli: Cli, args: list[str], expected: str) -> None:
    assert error_message(cli(*args)) == expected


def test_a_spec_without_nodes_says_so(cli: Cli, tmp_path: Path) -> None:
    path = write_spec(tmp_path, SPEC)
    assert error_message(cli("nft", str(path), "--node", "w1")) == (
        f"--node w1: {path} names no node (give it nodes: with name, role and address)"
    )
