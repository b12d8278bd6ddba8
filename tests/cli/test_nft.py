"""``talospatch nft``: the ruleset Talos builds, from patch files or options, loaded into the kernel."""

from __future__ import annotations

import io
import re
import sys
from pathlib import Path

import pytest

from testing.cluster import (
    ADMIN,
    CONTROLPLANE,
    CONTROLPLANE_OPTIONS,
    CONTROLPLANE_PATCH,
    NODE,
    OUTSIDER,
    SUBNET,
    SUBNET6,
    WORKER,
    WORKER_OPTIONS,
    WORKER_PATCH,
)
from testing.documents import ACCEPT_DOC, rule_doc, write
from testing.netlab import ensure_netns, nft_in, scratch_netns
from testing.nftlisting import normalize_listing
from testing.runner import Cli, error_message, gen_file, ok

HEADER = [
    "# table inet talos as Talos v1.14.0 builds it",  # the default release
    "# (talospatch; nft list ruleset form, nftables 1.0.6; load with nft -f)",
    "table inet talos {",
]


def block(text: str, name: str) -> list[str]:
    """The lines of one chain of rendered nft text (``chain NAME {`` to its ``}``)."""
    lines = text.splitlines()
    start = lines.index(f"\tchain {name} {{")
    end = lines.index("\t}", start)
    return lines[start + 1 : end]


def nft_out(cli: Cli, *args: str) -> str:
    return ok(cli("nft", *args)).out


def test_nft_header_and_table(cli: Cli) -> None:
    result = cli("nft", str(WORKER_PATCH))
    assert result.code == 0
    assert result.err == ""
    lines = result.out_lines
    assert lines[:3] == HEADER
    assert lines[3] == "\tchain ingress {"
    assert lines[4] == "\t\ttype filter hook input priority mangle + 10; policy drop;"
    assert lines[-1] == "}"
    assert result.out.endswith("}\n")
    assert "chain prerouting" not in result.out
    assert f"\t\tip saddr {{ 192.168.30.0/24, {ADMIN} }} tcp dport 50000 counter accept" in lines


@pytest.mark.parametrize(
    ("patch", "options"),
    [
        pytest.param(WORKER_PATCH, WORKER_OPTIONS, id="worker-reference"),
        pytest.param(CONTROLPLANE_PATCH, CONTROLPLANE_OPTIONS, id="controlplane-reference"),
    ],
)
@pytest.mark.parametrize(
    "extra",
    [
        pytest.param([], id="plain"),
        pytest.param(["--node-ip", NODE], id="node-ip"),
        pytest.param(["--node-ip", NODE, "--node-ip", "fd00:30::21", "--comments"], id="dual-node-ip-comments"),
        pytest.param(["--no-host-dns", "--service-subnet", "10.100.0.0/16"], id="no-host-dns-services"),
    ],
)
def test_nft_reference_file_equals_gen_options(cli: Cli, patch: Path, options: list[str], extra: list[str]) -> None:
    from_file = nft_out(cli, str(patch), *extra)
    from_options = nft_out(cli, *options, *extra)
    assert from_file == from_options
    assert from_file.splitlines()[:3] == HEADER


@pytest.mark.parametrize(
    "options",
    [
        pytest.param(
            [*WORKER, "--subnet", SUBNET6, "--nodeport", "--admin", "2001:db8:45::/48"], id="worker-dual-stack"
        ),
        pytest.param(
            [*WORKER, "--cni", "calico", "--with", "metallb", "--nodeport-from", "198.51.100.0/24", "--nodeport"],
            id="worker-calico",
        ),
        pytest.param(
            [*CONTROLPLANE, "--cni", "flannel", "--pod-subnet", "10.42.0.0/16", "--with", "etcd-metrics"],
            id="controlplane-flannel-pod-subnet",
        ),
        pytest.param(
            [*CONTROLPLANE, "--subnet", SUBNET6, "--pod-subnet", "10.42.0.0/16", "--pod-subnet", "fd00:42::/56"],
            id="controlplane-dual-stack-pods",
        ),
    ],
)
def test_nft_generated_file_equals_gen_options(cli: Cli, tmp_path: Path, options: list[str]) -> None:
    patch = gen_file(cli, tmp_path / "patch.yaml", *options)
    pod_args = [a for i, w in enumerate(options) if i and options[i - 1] == "--pod-subnet" for a in ("--pod-subnet", w)]
    node_args = ["--node-ip", NODE, "--node-ip", "fd00:30::21"]
    from_file = nft_out(cli, str(patch), *pod_args, *node_args)
    from_options = nft_out(cli, *options, *node_args)
    assert from_file == from_options
    assert "chain prerouting" in from_file


def test_nft_node_ip_adds_prerouting_chain(cli: Cli) -> None:
    without = nft_out(cli, str(WORKER_PATCH))
    with_ip = nft_out(cli, str(WORKER_PATCH), "--node-ip", NODE)
    assert "chain prerouting" not in without
    assert "\tchain prerouting {" in with_ip.splitlines()
    # The ingress chain is the same; the prerouting chain comes after it.
    assert block(with_ip, "ingress") == block(without, "ingress")
    # What the chain holds is the compiler's (tests/nft/test_compile.py); here: the address.
    assert f"\t\tip daddr != {NODE} counter accept" in block(with_ip, "prerouting")
    # Two node addresses: both in the "not addressed to node" rules.
    dual = nft_out(cli, str(WORKER_PATCH), "--node-ip", NODE, "--node-ip", "fd00:30::21")
    assert f"\t\tip daddr != {NODE} counter accept" in block(dual, "prerouting")
    assert "\t\tip6 daddr != fd00:30::21 counter accept" in block(dual, "prerouting")


def test_nft_no_host_dns_removes_the_host_dns_rules(cli: Cli) -> None:
    default = nft_out(cli, str(WORKER_PATCH))
    no_dns = nft_out(cli, str(WORKER_PATCH), "--no-host-dns")
    dns_rules = [line for line in default.splitlines() if "169.254.116.108" in line]
    assert dns_rules == [
        "\t\tip saddr { 10.96.0.0/12, 10.244.0.0/16 } ip daddr 169.254.116.108 udp dport 53 counter accept",
        "\t\tip saddr { 10.96.0.0/12, 10.244.0.0/16 } ip daddr 169.254.116.108 tcp dport 53 counter accept",
    ]
    assert "169.254.116.108" not in no_dns
    assert [line for line in default.splitlines() if line not in dns_rules] == no_dns.splitlines()
    # The pod/service accept stays.
    assert "\t\tip saddr { 10.96.0.0/12, 10.244.0.0/16 } ip daddr { 10.96.0.0/12, 10.244.0.0/16 } counter accept" in (
        no_dns.splitlines()
    )


def test_nft_service_subnet_changes_pod_service_rule(cli: Cli) -> None:
    default = nft_out(cli, str(WORKER_PATCH))
    custom = nft_out(cli, str(WORKER_PATCH), "--service-subnet", "10.100.0.0/16")
    pod_service = "\t\tip saddr {{ {0} }} ip daddr {{ {0} }} counter accept"
    assert pod_service.format("10.96.0.0/12, 10.244.0.0/16") in default.splitlines()
    assert pod_service.format("10.100.0.0/16, 10.244.0.0/16") in custom.splitlines()
    assert "10.96.0.0/12" not in custom
    # Repeatable, and an IPv6 service subnet gives an ip6 rule.
    both = nft_out(cli, str(WORKER_PATCH), "--service-subnet", "10.100.0.0/16", "--service-subnet", "fd00:96::/108")
    assert "\t\tip6 saddr fd00:96::/108 ip6 daddr fd00:96::/108 counter accept" in both.splitlines()


def test_nft_pod_subnet_with_patch_file(cli: Cli) -> None:
    custom = nft_out(cli, str(WORKER_PATCH), "--pod-subnet", "10.42.0.0/16")
    assert "\t\tip saddr { 10.42.0.0/16, 10.96.0.0/12 } ip daddr { 10.42.0.0/16, 10.96.0.0/12 } counter accept" in (
        custom.splitlines()
    )


def test_nft_comments_name_the_rule_origin(cli: Cli) -> None:
    plain = nft_out(cli, str(CONTROLPLANE_PATCH))
    commented = nft_out(cli, str(CONTROLPLANE_PATCH), "--comments")
    assert "comment" not in plain
    line = f'\t\tip saddr {{ 192.168.30.0/24, {ADMIN} }} tcp dport 50000 counter accept comment "NetworkRuleConfig/apid-ingress"'
    assert line in commented.splitlines()
    # Every rule gets one and nothing else changes: tests/nft/test_text.py.
    stripped = [re.sub(r' comment "[^"]*"$', "", x) for x in commented.splitlines()]
    assert stripped == plain.splitlines()


def test_nft_accept_mode_patch(cli: Cli, tmp_path: Path) -> None:
    patch = write(tmp_path / "accept.yaml", ACCEPT_DOC + "---\n" + rule_doc("apid-ingress", "[50000]", "tcp", [SUBNET]))
    out = nft_out(cli, str(patch))
    lines = out.splitlines()
    assert lines[:3] == HEADER
    assert "\t\ttype filter hook input priority mangle + 10; policy accept;" in lines
    assert "policy drop" not in out
    assert "\t\tip saddr != 192.168.30.0/24 tcp dport 50000 counter drop" in lines
    # And the query agrees: outside the subnet dropped, anything else allowed.
    dropped = cli("query", str(patch), "--from", OUTSIDER, "--port", "50000")
    assert (dropped.code, dropped.out) == (1, f"dropped: {OUTSIDER} is outside apid-ingress (192.168.30.0/24)\n")
    allowed = cli("query", str(patch), "--from", OUTSIDER, "--port", "8080")
    assert (allowed.code, allowed.out) == (0, "allowed: default action accept (no rule for 8080/tcp)\n")


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty-file"),
        pytest.param("machine:\n  type: worker\n", id="machine-config-only"),
        pytest.param("apiVersion: v1alpha1\nkind: HostnameConfig\nhostname: a\n", id="other-kind"),
    ],
)
def test_nft_no_firewall_documents_is_an_empty_table(cli: Cli, tmp_path: Path, text: str) -> None:
    patch = tmp_path / "patch.yaml"
    patch.write_text(text, encoding="utf-8")
    result = cli("nft", str(patch))
    assert result.code == 0, result.err
    assert result.err == ""
    assert result.out == "\n".join([*HEADER, "}"]) + "\n"
    # Also with a node address: Talos builds no chains at all.
    assert nft_out(cli, str(patch), "--node-ip", NODE) == result.out


def test_nft_reads_stdin(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(WORKER_PATCH.read_text(encoding="utf-8")))
    assert nft_out(cli, "-") == nft_out(cli, str(WORKER_PATCH))


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        pytest.param(["--node-ip", "nope"], ["--node-ip", "'nope'", "not an IP address"], id="node-ip-not-ip"),
        pytest.param(["--node-ip", "10.0.0.0/24"], ["--node-ip", "'10.0.0.0/24'"], id="node-ip-cidr"),
        pytest.param(["--service-subnet", "nope"], ["--service-subnet", "'nope'"], id="service-subnet-not-cidr"),
        pytest.param(
            ["--service-subnet", "10.96.0.1/12"],
            ["--service-subnet", "'10.96.0.1/12'", "host bits", "10.96.0.0/12"],
            id="service-subnet-host-bits",
        ),
        pytest.param(
            ["--service-subnet", "10.96.0.1"], ["--service-subnet", "'10.96.0.1'", "not a subnet"], id="service-address"
        ),
        pytest.param(
            ["--pod-subnet", "10.244.0.1/16"], ["--pod-subnet", "host bits", "10.244.0.0/16"], id="pod-subnet-host-bits"
        ),
    ],
)
@pytest.mark.parametrize(
    "source",
    [pytest.param([str(WORKER_PATCH)], id="file"), pytest.param(WORKER, id="options")],
)
def test_nft_bad_input_is_one_line_exit_3(cli: Cli, args: list[str], fragments: list[str], source: list[str]) -> None:
    message = error_message(cli("nft", *source, *args))
    for fragment in fragments:
        assert fragment in message, message


def test_nft_bad_patch_inputs_exit_3(cli: Cli, tmp_path: Path) -> None:
    assert error_message(cli("nft", str(tmp_path / "x.yaml"))) == f"{tmp_path / 'x.yaml'}: no such file"
    assert "not both" in error_message(cli("nft", str(WORKER_PATCH), *WORKER))
    assert "--role" in error_message(cli("nft"))
    broken = tmp_path / "broken.yaml"
    broken.write_text("a: [1\n", encoding="utf-8")
    assert error_message(cli("nft", str(broken))).startswith(f"{broken}: line ")


# Every shape of ruleset loads and lists back: tests/nft/test_text_kernel.py. Here: what the
# command prints, from a patch file and from options.
@pytest.mark.kernel
@pytest.mark.parametrize(
    "args",
    [
        pytest.param([str(CONTROLPLANE_PATCH), "--node-ip", "192.168.30.11", "--comments"], id="file-node-ip-comments"),
        pytest.param(
            [
                *WORKER,
                "--subnet",
                SUBNET6,
                "--nodeport",
                "--admin",
                "2001:db8:45::/48",
                "--pod-subnet",
                "10.42.0.0/16",
                "--pod-subnet",
                "fd00:42::/56",
                "--node-ip",
                NODE,
                "--node-ip",
                "fd00:30::21",
            ],
            id="options-dual-stack",
        ),
    ],
)
def test_nft_output_loads_into_the_kernel(cli: Cli, tmp_path: Path, args: list[str]) -> None:
    ensure_netns()
    text = nft_out(cli, *args)
    ruleset = tmp_path / "ruleset.nft"
    ruleset.write_text(text, encoding="utf-8")
    with scratch_netns() as ns:
        assert nft_in(ns, "list", "ruleset") == ""
        nft_in(ns, "-c", "-f", str(ruleset))
        nft_in(ns, "-f", str(ruleset))
        listed = nft_in(ns, "list", "table", "inet", "talos")
    assert normalize_listing(listed) == normalize_listing(text)
    assert normalize_listing(text)[0] == "table inet talos"
