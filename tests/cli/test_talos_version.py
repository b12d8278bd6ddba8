"""``--talos-version`` on the command line: gen, nft and query model the chosen release."""

from __future__ import annotations

from pathlib import Path

from testing.cluster import OUTSIDER, ROOT, WORKER, WORKER_PATCH
from testing.documents import rule_docs
from testing.runner import Cli, error_message, ok

NODEPORT_QUERY = ["--node-ip", "192.168.30.21", "--from", OUTSIDER, "--port", "30080/tcp"]


def test_gen_names_the_default_release_in_the_header(cli: Cli) -> None:
    header = ok(cli("gen", *WORKER)).out_lines[1]
    assert header.endswith("--talos-version v1.14.0")


def test_gen_before_1_12_5_ends_trust_nodes_at_65534_with_a_warning(cli: Cli) -> None:
    result = ok(cli("gen", *WORKER, "--with", "trust-nodes", "--talos-version", "1.11"))
    ports = {d["name"]: d["portSelector"]["ports"] for d in rule_docs(result.out)}
    assert ports["trust-nodes-tcp"] == ["1-65534"]
    assert ports["trust-nodes-udp"] == ["1-65534"]
    assert any(
        w.startswith("NetworkRuleConfig/trust-nodes-tcp: ports 1-65535 emitted as 1-65534") for w in result.warnings
    )
    assert result.out_lines[1].endswith("--talos-version v1.11.6")
    # From v1.12.5 the range stays whole.
    assert {
        d["name"]: d["portSelector"]["ports"] for d in rule_docs(ok(cli("gen", *WORKER, "--with", "trust-nodes")).out)
    }["trust-nodes-tcp"] == ["1-65535"]


def test_nft_before_1_10_has_no_prerouting_chain(cli: Cli) -> None:
    old = ok(cli("nft", str(WORKER_PATCH), "--node-ip", "192.168.30.21", "--talos-version", "1.9")).out
    new = ok(cli("nft", str(WORKER_PATCH), "--node-ip", "192.168.30.21")).out
    assert old.startswith("# table inet talos as Talos v1.9.6 builds it")
    assert new.startswith("# table inet talos as Talos v1.14.0 builds it")
    assert "chain prerouting" not in old
    assert "chain prerouting" in new


def test_query_says_when_the_release_decides(cli: Cli) -> None:
    old = cli("query", str(WORKER_PATCH), *NODEPORT_QUERY, "--talos-version", "1.9")
    assert old.code == 0
    assert old.out == (
        "allowed: on Talos v1.9 NodePort traffic is DNATed by kube-proxy before the ingress chain "
        "(no prerouting chain before v1.10): no rule filters it\n"
    )
    assert cli("query", str(WORKER_PATCH), *NODEPORT_QUERY).code == 1


def test_unknown_newer_release_is_modelled_with_a_warning(cli: Cli) -> None:
    result = ok(cli("nft", str(WORKER_PATCH), "--talos-version", "1.16"))
    assert result.warnings == [
        (
            "Talos v1.16 is newer than any release talospatch knows (v1.14.0): modelled as main (v1.15 development, "
            "after 55e0f6350)"
        )
    ]


def test_older_than_1_8_is_refused(cli: Cli) -> None:
    for command in (["gen", *WORKER], ["nft", str(WORKER_PATCH)]):
        message = error_message(cli(*command, "--talos-version", "1.7"))
        assert message.startswith("Talos v1.7 is older than v1.8: no $patch: delete")


def test_malformed_release_is_exit_3(cli: Cli) -> None:
    assert error_message(cli("gen", *WORKER, "--talos-version", "latest")).startswith(
        "invalid Talos version 'latest': want X.Y or X.Y.Z"
    )


CHECK = ROOT / "tests" / "fixtures" / "check"


def test_check_reports_only_the_named_releases_hazards(cli: Cli, tmp_path: Path) -> None:
    for fixture, code in (("duplicate-name", "duplicate"), ("too-many-rules", "ENOBUFS")):
        path = str(CHECK / f"{fixture}.yaml")
        unknown = cli("check", path)
        assert unknown.code == 1
        assert any(code in line for line in unknown.out_lines), unknown.out
        assert not any(code in line for line in cli("check", path, "--talos-version", "1.14").out_lines)
        assert any(code in line for line in cli("check", path, "--talos-version", "1.13.4").out_lines)
    patch = tmp_path / "trust.yaml"
    ok(cli("gen", *WORKER, "--with", "trust-nodes", "-o", str(patch)))
    old = cli("check", str(patch), "--talos-version", "1.12.4")
    assert old.code == 1
    assert any(
        line.startswith(f"{patch}: NetworkRuleConfig/trust-nodes-tcp: ports 1-65535: on Talos v1.12.4")
        for line in old.out_lines
    ), old.out
    assert not any(
        ": ports 1-65535: " in line for line in cli("check", str(patch), "--talos-version", "1.12.5").out_lines
    )


def test_diff_follows_the_release(cli: Cli, tmp_path: Path) -> None:
    nodeport = tmp_path / "nodeport.yaml"
    ok(cli("gen", *WORKER, "--nodeport", "-o", str(nodeport)))
    args = ["diff", str(WORKER_PATCH), str(nodeport), "--node-ip", "192.168.30.21"]
    # From v1.10 the prerouting chain filters NodePorts: opening them is a change.
    assert cli(*args).code == 1
    # Before v1.10 kube-proxy's DNAT passes every NodePort whatever the rules: nothing changes there.
    old = cli(*args, "--talos-version", "1.9")
    assert not any("30000-32767" in line for line in old.out_lines), old.out
