"""``talospatch verify`` and ``nft --format resource``: the live node against the patch."""

from __future__ import annotations

import json
from pathlib import Path

from testing.cluster import CONTROLPLANE_PATCH, ROOT, WORKER_PATCH
from testing.runner import Cli, error_message, ok

LIVE = ROOT / "tests" / "fixtures" / "live"


def test_verify_equal_node_exits_0_and_prints_nothing(cli: Cli) -> None:
    result = ok(cli("verify", str(CONTROLPLANE_PATCH), "--live", str(LIVE / "cp1-chains.yaml")))
    assert result.out == ""
    assert result.warnings == ["node addresses taken from the node's prerouting chain: 192.168.30.11"]


def test_verify_drift_exits_1_with_one_line_per_difference(cli: Cli) -> None:
    result = cli("verify", str(CONTROLPLANE_PATCH), "--live", str(LIVE / "cp1-chains-drift.yaml"))
    assert result.code == 1
    assert result.out_lines == [
        (
            "kubelet-ingress: node allows 10250/tcp from 0.0.0.0/0, the patch allows 10.244.0.0/16, 192.168.30.0/24"
            " (ingress and prerouting chains)"
        ),
        (
            "etcd-ingress (2379-2380/tcp from 192.168.30.11-13) is missing on the node: the patch was not applied"
            " (ingress and prerouting chains)"
        ),
        "node allows 22/tcp from 0.0.0.0/0, which no rule here generates (ingress and prerouting chains)",
    ]
    assert "Traceback" not in result.err


def test_verify_json(cli: Cli) -> None:
    result = cli(
        "verify",
        str(CONTROLPLANE_PATCH),
        "--node-ip",
        "192.168.30.11",
        "--live",
        str(LIVE / "cp1-chains-drift.yaml"),
        "--format",
        "json",
    )
    assert result.code == 1
    data = json.loads(result.out)
    assert data["equal"] is False
    assert len(data["nodes"][0]["findings"]) == 3


def test_verify_our_own_resource_form_is_equal(cli: Cli, tmp_path: Path) -> None:
    text = ok(cli("nft", str(WORKER_PATCH), "--node-ip", "192.168.30.21", "--format", "resource")).out
    assert text.startswith("node: talospatch\nmetadata:\n")
    live = tmp_path / "chains.yaml"
    live.write_text(text, encoding="utf-8")
    ok(cli("verify", str(WORKER_PATCH), "--node-ip", "192.168.30.21", "--live", str(live)))
    # Another node's patch is not what this node runs.
    assert cli("verify", str(CONTROLPLANE_PATCH), "--node-ip", "192.168.30.21", "--live", str(live)).code == 1


def test_verify_bad_live_file_is_exit_3(cli: Cli, tmp_path: Path) -> None:
    missing = tmp_path / "missing.yaml"
    assert error_message(cli("verify", str(WORKER_PATCH), "--live", str(missing))) == f"{missing}: no such file"
    broken = tmp_path / "broken.yaml"
    broken.write_text("spec: [1\n", encoding="utf-8")
    assert error_message(cli("verify", str(WORKER_PATCH), "--live", str(broken))).startswith(f"{broken}:")
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        (LIVE / "cp1-chains.yaml").read_text(encoding="utf-8").replace("verdict: accept", "verdict: allow", 1)
    )
    assert error_message(cli("verify", str(CONTROLPLANE_PATCH), "--live", str(bad))) == (
        f"{bad}: chain ingress: spec.rules[0].verdict: must be accept or drop, not 'allow'"
    )


def test_verify_needs_live(cli: Cli) -> None:
    result = cli("verify", str(WORKER_PATCH))
    assert result.code == 2
    assert "--live" in result.err


def test_nft_unknown_format_is_a_usage_error(cli: Cli) -> None:
    result = cli("nft", str(WORKER_PATCH), "--format", "xml")
    assert result.code == 2
    assert "xml" in result.err
