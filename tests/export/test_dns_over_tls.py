"""DNS over TLS: gen/export's --dns-over-tls and a spec's dnsOverTls add 853/tcp to the exports' egress."""

from __future__ import annotations

from pathlib import Path

import pytest

from talospatch.export import render
from talospatch.export.cluster import DOT_EGRESS, EGRESS, NTS_EGRESS
from talospatch.export.fromspec import cluster_request, spec_cluster
from talospatch.spec.load import load_spec
from testing.cluster import REFERENCE_SPEC
from testing.exportnft import build_cluster_cli
from testing.runner import Cli, error_message
from tests.export.test_cluster import REFERENCE
from tests.export.test_fromspec import spec_file

TARGETS = ("aws-terraform", "proxmox", "proxmox-terraform", "pfsense", "opnsense")


def test_the_option_adds_853_tcp_after_the_seeds_egress() -> None:
    assert build_cluster_cli(REFERENCE).egress == (*EGRESS, NTS_EGRESS)
    assert build_cluster_cli(REFERENCE._replace(dns_over_tls=True)).egress == (*EGRESS, NTS_EGRESS, DOT_EGRESS)
    assert (DOT_EGRESS.protocol, DOT_EGRESS.port) == ("tcp", 853)
    old = build_cluster_cli(REFERENCE._replace(dns_over_tls=True, talos_version="1.13")).egress
    assert old == (*EGRESS, DOT_EGRESS)


@pytest.mark.parametrize("target", TARGETS)
def test_every_egress_target_allows_853_tcp_with_the_option_only(target: str) -> None:
    without = "".join(render(target, build_cluster_cli(REFERENCE)).files.values())
    with_dot = "".join(render(target, build_cluster_cli(REFERENCE._replace(dns_over_tls=True))).files.values())
    assert "853" not in without
    assert "853" in with_dot


def test_the_routed_rule_is_853_tcp_from_the_nodes() -> None:
    from talospatch.export.routed import plan

    rules = {r.key: r for r in plan(build_cluster_cli(REFERENCE._replace(dns_over_tls=True))).rules}
    dot = rules["egress/dot"]
    assert (dot.placement, dot.protocol, dot.port.label, dot.destination) == ("egress", "tcp", "853", None)
    assert "egress/dot" not in {r.key for r in plan(build_cluster_cli(REFERENCE)).rules}


def test_the_spec_key_dns_over_tls(tmp_path: Path) -> None:
    on = spec_cluster(cluster_request(load_spec(str(spec_file(tmp_path, REFERENCE_SPEC + "dnsOverTls: true\n")))))
    assert DOT_EGRESS in on.egress
    off = spec_cluster(cluster_request(load_spec(str(spec_file(tmp_path, REFERENCE_SPEC)))))
    assert DOT_EGRESS not in off.egress


def test_the_talos_patch_rules_do_not_change(cli: Cli) -> None:
    args = ["gen", "--role", "worker", "--subnet", "192.168.30.0/24"]
    plain, dot = cli(*args), cli(*args, "--dns-over-tls")
    assert plain.code == dot.code == 0
    body = plain.out.split("\n", 2)[2]
    assert dot.out.split("\n", 2)[2] == body  # only the header's command line differs
    assert "--dns-over-tls" in dot.out.splitlines()[1]


def test_a_bad_spec_value_and_bad_input_stay_one_line(cli: Cli, tmp_path: Path) -> None:
    path = spec_file(tmp_path, REFERENCE_SPEC + "dnsOverTls: maybe\n")
    message = error_message(cli("build", str(path)))
    assert "dnsOverTls" in message
    bad = error_message(cli("export", "aws-terraform", "--subnet", "192.168.30.0/33", "--dns-over-tls"))
    assert "192.168.30.0/33" in bad
    assert not (tmp_path / "out").exists()
