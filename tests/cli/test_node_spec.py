"""A cluster spec in place of patch files: nft, query, verify and audit look at one of its roles."""

from __future__ import annotations

from testing.cluster import ADMIN, ROOT, WORKER_PATCH
from testing.runner import Cli, error_message, ok

SPEC = str(ROOT / "talospatch.yaml")
LIVE = ROOT / "tests" / "fixtures" / "live"


def test_a_spec_role_is_the_built_patch(cli: Cli) -> None:
    from_spec = ok(cli("nft", SPEC, "--role", "worker", "--node-ip", "192.168.30.21")).out
    assert from_spec == ok(cli("nft", str(WORKER_PATCH), "--node-ip", "192.168.30.21")).out
    assert ok(cli("query", SPEC, "--role", "controlplane", "--from", ADMIN, "--port", "6443/tcp")).out == (
        f"allowed: kubernetes-api-ingress ({ADMIN}/32)\n"
    )


def test_verify_and_audit_take_a_spec(cli: Cli) -> None:
    assert ok(cli("verify", SPEC, "--role", "controlplane", "--live", str(LIVE / "cp1-chains.yaml"))).out == ""
    audit = ok(cli("audit", SPEC, "--role", "controlplane", "--netstat", str(LIVE / "cp1-netstat.txt")))
    assert audit.out_lines[0] == "node 192.168.30.11 (Talos v1.14.0)"


def test_a_spec_needs_a_role_the_spec_builds(cli: Cli) -> None:
    assert (
        error_message(cli("nft", SPEC))
        == f"{SPEC} is a cluster spec: give --role with the role to look at, or --node NAME"
    )
    message = error_message(cli("nft", SPEC, "--role", "bastion"))
    assert message == f"{SPEC}: the spec builds controlplane, worker, not role 'bastion'"


def test_profile_options_do_not_apply_beside_a_spec(cli: Cli) -> None:
    message = error_message(cli("nft", SPEC, "--role", "worker", "--cni", "flannel"))
    assert message == "--cni is an option of gen's profiles; with a cluster spec it does not apply"
