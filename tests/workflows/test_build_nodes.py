"""``build`` with nodes: out/nodes/NAME.yaml when a node differs from its role, stale and extra node files."""

from __future__ import annotations

from pathlib import Path

import pytest

from talospatch.talos.documents import apply_patches
from talospatch.yamlio import load_all
from testing.cluster import SPEC_NODES
from testing.runner import error_message, ok, run
from tests.workflows.test_build import SPEC, names, write_spec

NODES = SPEC_NODES + "    - name: w2\n      role: worker\n      address: 192.168.30.22\n"
EDGE = "      address: 192.168.30.22\n      addons: [bgp]\n      bgpPeers: [192.168.30.1]\n"


def test_nodes_like_their_role_get_the_role_patches(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    spec = write_spec(tmp_path, SPEC + NODES)
    result = ok(run(capsys, "build", str(spec)))
    assert result.out_lines == [f"{tmp_path}/out/controlplane.yaml: written", f"{tmp_path}/out/worker.yaml: written"]
    assert not (tmp_path / "out" / "nodes").exists()
    assert ok(run(capsys, "build", "--check", str(spec))).out == ""


def test_a_node_that_differs_gives_every_node_a_patch(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    spec = write_spec(tmp_path, SPEC + NODES.replace("      address: 192.168.30.22\n", EDGE))
    ok(run(capsys, "build", str(spec)))
    out = tmp_path / "out"
    assert sorted(p.name for p in (out / "nodes").iterdir()) == ["cp1.yaml", "w1.yaml", "w2.yaml"]
    # The role patches stay what they are without nodes.
    plain = write_spec(tmp_path / "plain", SPEC)
    ok(run(capsys, "build", str(plain)))
    for role in ("controlplane", "worker"):
        assert (out / f"{role}.yaml").read_bytes() == (tmp_path / "plain" / "out" / f"{role}.yaml").read_bytes()
    # A node like its role gets the role's documents; the header names the node.
    w1 = (out / "nodes" / "w1.yaml").read_text(encoding="utf-8")
    assert w1.splitlines()[1] == "#   talospatch build talospatch.yaml (Talos v1.14.0), node w1 (generation 1)"
    worker = (out / "worker.yaml").read_text(encoding="utf-8")
    assert w1.splitlines()[2:] == worker.splitlines()[2:]
    # The edge node: the worker's rules and its BGP peer.
    firewall = apply_patches([("w2", load_all((out / "nodes" / "w2.yaml").read_text(encoding="utf-8"), "w2"))])
    assert names(out / "nodes" / "w2.yaml")[0] == [*names(out / "worker.yaml")[0], "bgp-peers-ingress"]
    (bgp,) = [r for r in firewall.rules if r.name == "bgp-peers-ingress"]
    assert [str(s) for s in bgp.subnets] == ["192.168.30.1/32"]
    assert ok(run(capsys, "build", "--check", str(spec))).out == ""


def test_stale_removed_and_renamed_nodes(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    edge = SPEC + NODES.replace("      address: 192.168.30.22\n", EDGE)
    spec = write_spec(tmp_path, edge)
    ok(run(capsys, "build", str(spec)))
    nodes = tmp_path / "out" / "nodes"

    # A node renamed: its old file is extra, the new one missing.
    write_spec(tmp_path, edge.replace("name: w1", "name: w3"))
    check = run(capsys, "build", "--check", str(spec))
    assert check.code == 1
    assert check.errors == [
        f"{nodes}/w3.yaml: missing",
        f"{nodes}/w1.yaml: extra: no node of {spec} has that name",
        "run talospatch build and commit the result",
    ]
    built = ok(run(capsys, "build", str(spec)))
    assert built.warnings == [
        f"{nodes}/w1.yaml: no node of {spec} has that name; delete it (build --check fails while it is there)"
    ]
    (nodes / "w1.yaml").unlink()

    # The edge node loses its BGP peer while another node still differs: its file deletes the rule.
    write_spec(
        tmp_path,
        edge.replace("name: w1", "name: w3").replace(EDGE, "      address: 192.168.30.22\n")
        + ("      admins: [203.0.113.7]\n"),
    )
    check = run(capsys, "build", "--check", str(spec))
    assert check.code == 1
    assert f"{nodes}/w2.yaml: stale" in check.errors
    assert f"{nodes}/w2.yaml: stale; traffic changes:" in check.out_lines
    assert any("192.168.30.1/32" in line and "179/tcp" in line for line in check.out_lines)
    ok(run(capsys, "build", str(spec)))
    assert names(nodes / "w2.yaml")[1] == ["bgp-peers-ingress"]

    # No node differs any more: no node file is built, and those there are extra.
    write_spec(tmp_path, SPEC + NODES)
    check = run(capsys, "build", "--check", str(spec))
    assert check.code == 1
    reason = f"no node of {spec} differs from its role, so each takes its role's patch"
    assert check.errors == [f"{nodes}/{name}.yaml: extra: {reason}" for name in ("cp1", "w2", "w3")] + [
        "run talospatch build and commit the result"
    ]
    for path in nodes.iterdir():
        path.unlink()
    assert ok(run(capsys, "build", "--check", str(spec))).out == ""


def test_a_nodes_lockout_stops_the_build(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A node's from: guards its own patch: an address no rule admits there is a lockout."""
    spec = write_spec(tmp_path, SPEC + NODES + "      from: [203.0.113.7]\n")
    result = run(capsys, "build", str(spec))
    assert result.code == 1
    assert result.errors == [
        (
            f"{spec}: node w2: lockout: 203.0.113.7 would lose 50000/tcp (dropped: 203.0.113.7 is outside apid-ingress "
            "(192.168.30.0/24, 196.45.28.20/32)); add nodes[2].admins 203.0.113.7"
        )
    ]
    assert not (tmp_path / "out").exists()


def test_a_node_error_names_the_node(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    spec = write_spec(tmp_path, SPEC + NODES + "      bgpPeers: [192.168.30.1]\n")
    message = error_message(run(capsys, "build", str(spec)))
    assert message.startswith(f"{spec}: node w2: nodes[2].bgpPeers does not apply to role worker")
    assert not (tmp_path / "out").exists()
