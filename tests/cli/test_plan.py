"""``talospatch plan``: the printed plan, its errors, and ``--run`` against a fake talosctl on PATH."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from testing.cluster import ROOT, SPEC_NODES
from testing.runner import Cli, error_message, ok
from tests.workflows.test_build import SPEC, write_spec

NODES = SPEC_NODES + "      addons: [bgp]\n      bgpPeers: [192.168.30.1]\n"
# Records each call's words, one line a call; prints the chains of the node it is asked about
# (chains/ADDRESS.yaml) and fails the calls whose words hold $FAKE_FAIL.
FAKE_TALOSCTL = """\
#!/bin/sh
printf '%s\\n' "$*" >> "$FAKE_LOG"
case "$*" in *"$FAKE_FAIL"*) [ -n "$FAKE_FAIL" ] && { echo "fake talosctl: failing" >&2; exit 1; } ;; esac
if [ "$1" = get ]; then cat "$FAKE_CHAINS/$6.yaml"; fi
"""


@pytest.fixture
def cluster(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A built spec with two nodes, the chains each should build, and a fake talosctl first on PATH."""
    spec = write_spec(tmp_path, SPEC + NODES)
    ok(cli("build", str(spec)))
    chains = tmp_path / "chains"
    chains.mkdir()
    for name, address in (("cp1", "192.168.30.11"), ("w1", "192.168.30.21")):
        resource = ok(cli("nft", str(spec), "--node", name, "--format", "resource")).out
        (chains / f"{address}.yaml").write_text(resource, encoding="utf-8")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "talosctl"
    fake.write_text(FAKE_TALOSCTL, encoding="utf-8")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_LOG", str(tmp_path / "talosctl.log"))
    monkeypatch.setenv("FAKE_CHAINS", str(chains))
    monkeypatch.setenv("FAKE_FAIL", "")
    return spec


def calls(spec: Path) -> list[str]:
    log = spec.parent / "talosctl.log"
    return log.read_text(encoding="utf-8").splitlines() if log.exists() else []


def test_plan_prints_a_script_per_node(cli: Cli, cluster: Path) -> None:
    out = cluster.parent / "out"
    text = ok(cli("plan", str(cluster))).out
    body = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert body == [
        "set -e",
        f"talosctl patch mc -n 192.168.30.11 --patch @{out}/nodes/cp1.yaml --mode=try --timeout=1m",
        f"talospatch query {cluster} --node cp1 --from 196.45.28.20 --port 50000/tcp --port 6443/tcp",
        f"talosctl get nftableschains -o yaml -n 192.168.30.11 | talospatch verify {cluster} --node cp1 --live -",
        f"talosctl patch mc -n 192.168.30.11 --patch @{out}/nodes/cp1.yaml --mode=auto",
        f"talosctl patch mc -n 192.168.30.21 --patch @{out}/nodes/w1.yaml --mode=try --timeout=1m",
        f"talospatch query {cluster} --node w1 --from 196.45.28.20 --port 50000/tcp",
        f"talosctl get nftableschains -o yaml -n 192.168.30.21 | talospatch verify {cluster} --node w1 --live -",
        f"talosctl patch mc -n 192.168.30.21 --patch @{out}/nodes/w1.yaml --mode=auto",
    ]
    assert f"# w1 (worker, 192.168.30.21): {out}/nodes/w1.yaml" in text.splitlines()
    assert calls(cluster) == []  # printing runs nothing


def test_the_printed_plan_runs_with_sh(cli: Cli, cluster: Path) -> None:
    """As a script: every step runs (talospatch from this environment), and set -e stops at a failed check."""
    script = ok(cli("plan", str(cluster))).out
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert [c for c in calls(cluster) if c.startswith("patch")][-1].endswith("w1.yaml --mode=auto")
    (cluster.parent / "talosctl.log").unlink()
    env["FAKE_FAIL"] = "-n 192.168.30.21 --patch"  # w1's try fails
    done = subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True)
    assert done.returncode == 1
    assert calls(cluster)[-1].endswith("w1.yaml --mode=try --timeout=1m")


def test_plan_json_is_for_scripts(cli: Cli, cluster: Path) -> None:
    data = json.loads(ok(cli("plan", str(cluster), "--format", "json", "--node", "w1", "--timeout", "2m")).out)
    assert data["spec"] == str(cluster)
    assert data["timeout"] == "2m"
    (node,) = data["nodes"]
    assert (node["name"], node["role"], node["address"]) == ("w1", "worker", "192.168.30.21")
    assert [step["step"] for step in node["steps"]] == ["try", "check", "check", "confirm"]
    assert node["steps"][0]["pipeline"] == [
        ["talosctl", "patch", "mc", "-n", "192.168.30.21", "--patch", f"@{node['patch']}", "--mode=try", "--timeout=2m"]
    ]


def test_run_applies_checks_and_confirms_each_node(cli: Cli, cluster: Path) -> None:
    result = ok(cli("plan", str(cluster), "--run"))
    out = cluster.parent / "out" / "nodes"
    assert calls(cluster) == [
        f"patch mc -n 192.168.30.11 --patch @{out}/cp1.yaml --mode=try --timeout=1m",
        "get nftableschains -o yaml -n 192.168.30.11",
        f"patch mc -n 192.168.30.11 --patch @{out}/cp1.yaml --mode=auto",
        f"patch mc -n 192.168.30.21 --patch @{out}/w1.yaml --mode=try --timeout=1m",
        "get nftableschains -o yaml -n 192.168.30.21",
        f"patch mc -n 192.168.30.21 --patch @{out}/w1.yaml --mode=auto",
    ]
    ran = [line.removeprefix("+ ") for line in result.out_lines if line.startswith("+ ")]
    assert ran[1] == f"talospatch query {cluster} --node cp1 --from 196.45.28.20 --port 50000/tcp --port 6443/tcp"
    assert "allowed: apid-ingress (196.45.28.20/32)" in result.out_lines
    assert result.out_lines[-2:] == [
        f"+ talosctl patch mc -n 192.168.30.21 --patch @{out}/w1.yaml --mode=auto",
        "w1: confirmed",
    ]
    assert "cp1: confirmed" in result.out_lines


def test_run_stops_when_the_node_built_other_chains(cli: Cli, cluster: Path) -> None:
    """cp1 reports w1's chains: verify fails, cp1 is not confirmed, w1 is not touched."""
    chains = cluster.parent / "chains"
    (chains / "192.168.30.11.yaml").write_text(
        (chains / "192.168.30.21.yaml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    result = cli("plan", str(cluster), "--run")
    assert result.code == 1
    assert result.errors == [
        (
            f"node cp1: a check failed (talospatch verify {cluster} --node cp1 --live - exited 1); not confirmed: the "
            "node reverts to its previous config within 1m; nothing more was run"
        )
    ]
    assert calls(cluster) == [
        f"patch mc -n 192.168.30.11 --patch @{cluster.parent}/out/nodes/cp1.yaml --mode=try --timeout=1m",
        "get nftableschains -o yaml -n 192.168.30.11",
    ]
    assert any("is missing on the node" in line for line in result.out_lines)  # verify's report


def test_run_stops_when_the_try_apply_fails(cli: Cli, cluster: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_FAIL", "--mode=try")
    result = cli("plan", str(cluster), "--run", "--node", "w1")
    assert result.code == 1
    assert result.errors == [
        (
            f"node w1: the try apply failed (talosctl patch mc -n 192.168.30.21 --patch @{cluster.parent}/out/nodes/w1.yaml "
            "--mode=try --timeout=1m exited 1); nothing more was run"
        )
    ]
    assert len(calls(cluster)) == 1


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        pytest.param(["--node", "w9"], "--node w9: no such node in {spec}; valid: cp1, w1", id="unknown-node"),
        pytest.param(
            ["--timeout", "60"],
            "--timeout '60' is not a duration talosctl takes; give e.g. 1m, 90s or 2m30s",
            id="timeout",
        ),
        pytest.param(
            ["--run", "--format", "json"],
            "--run prints the steps as it runs them; leave out --format json",
            id="run-json",
        ),
    ],
)
def test_plan_bad_input(cli: Cli, cluster: Path, args: list[str], expected: str) -> None:
    assert error_message(cli("plan", str(cluster), *args)) == expected.format(spec=cluster)
    assert calls(cluster) == []


def test_plan_needs_nodes_and_talosctl(
    cli: Cli, cluster: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = write_spec(tmp_path / "plain", SPEC)
    assert error_message(cli("plan", str(plain))) == (
        f"{plain}: names no node; plan needs the spec's nodes: (name, role and address of each)"
    )
    bad = write_spec(tmp_path / "bad", SPEC + NODES.replace("role: worker", "role: bastion"))
    assert (
        error_message(cli("plan", str(bad)))
        == f"{bad}:12: nodes[1].role: unknown role 'bastion'; the spec builds controlplane, worker"
    )
    monkeypatch.setenv("PATH", str(tmp_path / "chains"))  # no talosctl there
    assert error_message(cli("plan", str(cluster), "--run")) == (
        "talosctl: not found on PATH; plan --run runs it (or run the printed plan yourself)"
    )
    assert calls(cluster) == []


def test_plan_of_a_stale_build_exits_1(cli: Cli, cluster: Path) -> None:
    (cluster.parent / "out" / "nodes" / "w1.yaml").unlink()
    result = cli("plan", str(cluster))
    assert result.code == 1
    assert result.out == ""
    assert result.errors == [
        f"{cluster.parent}/out/nodes/w1.yaml: missing",
        f"run talospatch build {cluster}: the plan applies the built files",
    ]


def test_the_reference_cluster_has_a_plan(cli: Cli) -> None:
    text = ok(cli("plan", str(ROOT / "talospatch.yaml"), "--node", "w1")).out
    assert f"talosctl patch mc -n 192.168.30.21 --patch @{ROOT}/out/worker.yaml --mode=auto" in text.splitlines()
