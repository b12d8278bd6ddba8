"""``talospatch query``: verdicts, grids, patch files and stdin, bad input."""

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
    POD,
    QUERY_OK,
    SUBNET,
    SUBNET6,
    WORKER,
    WORKER_OPTIONS,
    WORKER_PATCH,
)
from testing.documents import BLOCK_DOC, rule_doc, write
from testing.runner import WARNING, Cli, Result, error_message, gen_file


def reason_lines(result: Result) -> list[str]:
    """The per-pair lines after the grid of a multi-answer query."""
    return [line for line in result.out_lines if re.match(r"^\S+ \d+/(tcp|udp): ", line)]


def grid(result: Result) -> dict[tuple[str, str], str]:
    """The grid of a multi-answer query: {(address, port/proto): allowed|dropped}."""
    lines = result.out_lines
    header = lines[0].split()
    assert header[0] == "from"
    cells: dict[tuple[str, str], str] = {}
    for line in lines[1:]:
        if not line.strip():
            break
        words = line.split()
        assert len(words) == len(header), line
        for label, cell in zip(header[1:], words[1:], strict=True):
            cells[(words[0], label)] = cell
    return cells


@pytest.mark.parametrize(
    ("source", "port", "code", "reason"),
    [
        pytest.param(ADMIN, "50000/tcp", 0, f"allowed: apid-ingress ({ADMIN}/32)", id="admin-apid"),
        pytest.param(ADMIN, "8080/tcp", 1, "dropped: no rule allows 8080/tcp (default action block)", id="no-rule"),
        pytest.param(
            OUTSIDER,
            "2379/tcp",
            1,
            f"dropped: {OUTSIDER} is outside etcd-ingress (192.168.30.11/32, 192.168.30.12/31)",
            id="outside-etcd",
        ),
        pytest.param("192.168.30.12", "2379/tcp", 0, "allowed: etcd-ingress (192.168.30.12/31)", id="peer-etcd"),
        pytest.param(POD, "6443/tcp", 0, "allowed: kubernetes-api-ingress (10.244.0.0/16)", id="pod-api"),
        pytest.param("192.168.30.40", "6081/udp", 0, "allowed: cni-geneve (192.168.30.0/24)", id="udp"),
        pytest.param(ADMIN, "50000", 0, f"allowed: apid-ingress ({ADMIN}/32)", id="bare-port-is-tcp"),
        pytest.param(
            ADMIN, "50000/udp", 1, "dropped: no rule allows 50000/udp (default action block)", id="udp-not-tcp"
        ),
    ],
)
def test_query_single_answer_is_one_reason_line(cli: Cli, source: str, port: str, code: int, reason: str) -> None:
    result = cli("query", str(CONTROLPLANE_PATCH), "--from", source, "--port", port)
    assert result.code == code, result.err
    assert result.out == reason + "\n"
    assert result.err == ""


def test_query_grid_then_one_reason_per_pair(cli: Cli) -> None:
    result = cli(
        "query",
        str(CONTROLPLANE_PATCH),
        "--from",
        ADMIN,
        "--from",
        OUTSIDER,
        "--port",
        "50000/tcp",
        "--port",
        "6443/tcp",
    )
    assert result.code == 1
    assert result.err == ""
    lines = result.out_lines
    assert lines[0].split() == ["from", "50000/tcp", "6443/tcp"]
    assert lines[0].startswith("from  ")
    assert lines[1].split() == [ADMIN, "allowed", "allowed"]
    assert lines[2].split() == [OUTSIDER, "dropped", "dropped"]
    assert reason_lines(result) == [
        f"{ADMIN} 50000/tcp: allowed: apid-ingress ({ADMIN}/32)",
        f"{ADMIN} 6443/tcp: allowed: kubernetes-api-ingress ({ADMIN}/32)",
        f"{OUTSIDER} 50000/tcp: dropped: {OUTSIDER} is outside apid-ingress (192.168.30.0/24, {ADMIN}/32)",
        (
            f"{OUTSIDER} 6443/tcp: dropped: {OUTSIDER} is outside kubernetes-api-ingress "
            f"(10.244.0.0/16, 192.168.30.0/24, {ADMIN}/32)"
        ),
    ]
    # Nothing else: the grid, blank separator lines, and the reasons.
    assert len([line for line in lines if line.strip()]) == 3 + 4


def test_query_grid_all_allowed_exits_0(cli: Cli) -> None:
    result = cli(
        "query",
        str(CONTROLPLANE_PATCH),
        "--from",
        ADMIN,
        "--from",
        "192.168.30.12",
        "--port",
        "50000/tcp",
        "--port",
        "6443/tcp",
    )
    assert result.code == 0, result.out
    assert result.err == ""
    assert set(grid(result).values()) == {"allowed"}
    assert len(grid(result)) == 4
    assert len(reason_lines(result)) == 4
    assert all(": allowed: " in line for line in reason_lines(result))


def test_query_grid_one_dropped_cell_exits_1(cli: Cli) -> None:
    result = cli("query", str(WORKER_PATCH), "--from", ADMIN, "--port", "50000/tcp", "--port", "10250/tcp")
    assert result.code == 1
    assert grid(result) == {(ADMIN, "50000/tcp"): "allowed", (ADMIN, "10250/tcp"): "dropped"}
    assert reason_lines(result) == [
        f"{ADMIN} 50000/tcp: allowed: apid-ingress ({ADMIN}/32)",
        f"{ADMIN} 10250/tcp: dropped: {ADMIN} is outside kubelet-ingress (10.244.0.0/16, 192.168.30.0/24)",
    ]


def test_query_worker_patch_file(cli: Cli) -> None:
    result = cli(
        "query",
        str(WORKER_PATCH),
        "--from",
        ADMIN,
        "--from",
        "192.168.30.40",
        "--from",
        POD,
        "--port",
        "50000/tcp",
        "--port",
        "6443/tcp",
        "--port",
        "10250/tcp",
    )
    assert result.code == 1
    assert grid(result) == {
        (ADMIN, "50000/tcp"): "allowed",
        (ADMIN, "6443/tcp"): "dropped",  # a worker runs no API server
        (ADMIN, "10250/tcp"): "dropped",
        ("192.168.30.40", "50000/tcp"): "allowed",
        ("192.168.30.40", "6443/tcp"): "dropped",
        ("192.168.30.40", "10250/tcp"): "allowed",
        (POD, "50000/tcp"): "dropped",
        (POD, "6443/tcp"): "dropped",
        (POD, "10250/tcp"): "allowed",
    }
    assert f"{ADMIN} 6443/tcp: dropped: no rule allows 6443/tcp (default action block)" in reason_lines(result)


def test_query_later_file_replaces_rule_ingress_by_name(cli: Cli, tmp_path: Path) -> None:
    override = write(
        tmp_path / "apid.yaml",
        "apiVersion: v1alpha1\nkind: NetworkRuleConfig\nname: apid-ingress\ningress:\n  - subnet: 203.0.113.0/24\n",
    )
    args = ["--from", ADMIN, "--from", OUTSIDER, "--from", "192.168.30.40", "--port", "50000/tcp"]
    result = cli("query", str(CONTROLPLANE_PATCH), str(override), *args)
    assert result.code == 1, result.err
    # ingress replaces the list (not appended): the admin and the node subnet are gone.
    assert grid(result) == {
        (ADMIN, "50000/tcp"): "dropped",
        (OUTSIDER, "50000/tcp"): "allowed",
        ("192.168.30.40", "50000/tcp"): "dropped",
    }
    assert f"{OUTSIDER} 50000/tcp: allowed: apid-ingress (203.0.113.0/24)" in reason_lines(result)
    assert f"{ADMIN} 50000/tcp: dropped: {ADMIN} is outside apid-ingress (203.0.113.0/24)" in reason_lines(result)
    # Other rules are untouched, and the ports of apid-ingress are kept.
    single = cli("query", str(CONTROLPLANE_PATCH), str(override), "--from", ADMIN, "--port", "6443/tcp")
    assert (single.code, single.out) == (0, f"allowed: kubernetes-api-ingress ({ADMIN}/32)\n")
    # In the other order the reference file wins again.
    again = cli("query", str(override), str(CONTROLPLANE_PATCH), *args)
    assert grid(again) == {
        (ADMIN, "50000/tcp"): "allowed",
        (OUTSIDER, "50000/tcp"): "dropped",
        ("192.168.30.40", "50000/tcp"): "allowed",
    }


def test_query_later_file_deletes_rule(cli: Cli, tmp_path: Path) -> None:
    before = cli("query", str(CONTROLPLANE_PATCH), "--from", "192.168.30.12", "--port", "2379/tcp")
    assert (before.code, before.out) == (0, "allowed: etcd-ingress (192.168.30.12/31)\n")
    delete = write(
        tmp_path / "delete.yaml",
        """
        apiVersion: v1alpha1
        kind: NetworkRuleConfig
        name: etcd-ingress
        $patch: delete
        """,
    )
    result = cli("query", str(CONTROLPLANE_PATCH), str(delete), "--from", "192.168.30.12", "--port", "2379/tcp")
    assert result.code == 1, result.err
    assert result.out == "dropped: no rule allows 2379/tcp (default action block)\n"
    assert result.err == ""
    kept = cli("query", str(CONTROLPLANE_PATCH), str(delete), "--from", "192.168.30.12", "--port", "50000/tcp")
    assert (kept.code, kept.out) == (0, "allowed: apid-ingress (192.168.30.0/24)\n")


def test_query_reads_stdin(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(CONTROLPLANE_PATCH.read_text(encoding="utf-8")))
    result = cli("query", "-", "--from", ADMIN, "--port", "50000/tcp")
    assert (result.code, result.out, result.err) == (0, f"allowed: apid-ingress ({ADMIN}/32)\n", "")


def test_query_stdin_merged_after_a_file(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    extra = BLOCK_DOC + "---\n" + rule_doc("http-ingress", "[8080]", "tcp", ["0.0.0.0/0"])
    monkeypatch.setattr(sys, "stdin", io.StringIO(extra))
    result = cli("query", str(WORKER_PATCH), "-", "--from", OUTSIDER, "--port", "8080", "--port", "50000")
    assert result.code == 1
    assert grid(result) == {(OUTSIDER, "8080/tcp"): "allowed", (OUTSIDER, "50000/tcp"): "dropped"}
    assert f"{OUTSIDER} 8080/tcp: allowed: http-ingress (0.0.0.0/0)" in reason_lines(result)


def test_query_stdin_errors_name_stdin(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(rule_doc("x", '["80"]', "tcp", ["10.0.0.0/8"])))
    message = error_message(cli("query", "-", "--from", OUTSIDER, "--port", "80"))
    assert message.startswith("stdin: ")
    assert 'NetworkRuleConfig/x: portSelector.ports: invalid port range: "80"' in message


QUERY_GRID = [
    "--from",
    ADMIN,
    "--from",
    OUTSIDER,
    "--from",
    "192.168.30.11",
    "--from",
    "192.168.30.40",
    "--from",
    POD,
    "--from",
    "fd00:30::40",
    "--from",
    "2001:db8:45::20",
    "--port",
    "50000/tcp",
    "--port",
    "50001/tcp",
    "--port",
    "6443/tcp",
    "--port",
    "2379/tcp",
    "--port",
    "10250/tcp",
    "--port",
    "4240/tcp",
    "--port",
    "8472/udp",
    "--port",
    "6081/udp",
    "--port",
    "30080/tcp",
    "--port",
    "53/udp",
]


@pytest.mark.parametrize(
    "options",
    [
        pytest.param(WORKER_OPTIONS, id="worker-reference"),
        pytest.param(CONTROLPLANE_OPTIONS, id="controlplane-reference"),
        pytest.param(
            [*WORKER, "--subnet", SUBNET6, "--nodeport", "--admin", "2001:db8:45::/48"], id="worker-dual-stack"
        ),
        pytest.param(
            [*CONTROLPLANE, "--cni", "flannel", "--pod-subnet", "10.42.0.0/16", "--with", "etcd-metrics"],
            id="controlplane-flannel-pod-subnet",
        ),
    ],
)
def test_query_gen_options_answer_as_the_generated_file(cli: Cli, tmp_path: Path, options: list[str]) -> None:
    patch = gen_file(cli, tmp_path / "patch.yaml", *options)
    pod_subnet = [w for i, w in enumerate(options) if i and options[i - 1] == "--pod-subnet"]
    pod_args = [a for p in pod_subnet for a in ("--pod-subnet", p)]
    from_file = cli("query", str(patch), *QUERY_GRID, *pod_args)
    from_options = cli("query", *options, *QUERY_GRID)
    assert from_file.code == 1  # the outsider is dropped everywhere
    assert from_file.err == ""
    assert from_options.code == from_file.code
    assert from_options.out == from_file.out
    assert "Traceback" not in from_options.err
    assert all(line.startswith(WARNING) for line in from_options.err_lines)
    assert len(reason_lines(from_file)) == 7 * 10


def test_query_gen_options_match_reference_file(cli: Cli) -> None:
    from_file = cli("query", str(CONTROLPLANE_PATCH), *QUERY_GRID)
    from_options = cli("query", *CONTROLPLANE_OPTIONS, *QUERY_GRID)
    assert from_options.out == from_file.out
    assert from_options.code == from_file.code == 1


def test_query_gen_options_single_answer(cli: Cli) -> None:
    result = cli("query", *WORKER, "--admin", ADMIN, "--from", ADMIN, "--port", "50000/tcp")
    assert result.code == 0
    assert result.out == f"allowed: apid-ingress ({ADMIN}/32)\n"
    dropped = cli("query", *WORKER, "--from", ADMIN, "--port", "50000/tcp")
    assert dropped.code == 1
    assert dropped.out == f"dropped: {ADMIN} is outside apid-ingress (192.168.30.0/24)\n"


@pytest.mark.parametrize(
    "node_ip",
    [
        pytest.param([NODE], id="v4"),
        pytest.param([NODE, "fd00:30::21"], id="dual-stack"),
        pytest.param(["192.168.30.11"], id="controlplane-address"),
    ],
)
@pytest.mark.parametrize(
    "source",
    [
        pytest.param([str(CONTROLPLANE_PATCH)], id="file"),
        pytest.param(CONTROLPLANE_OPTIONS, id="options"),
    ],
)
def test_query_node_ip_is_accepted_and_changes_no_answer(cli: Cli, node_ip: list[str], source: list[str]) -> None:
    without = cli("query", *source, *QUERY_GRID)
    node_args = [a for ip in node_ip for a in ("--node-ip", ip)]
    with_ip = cli("query", *source, *QUERY_GRID, *node_args)
    assert with_ip.code == without.code == 1
    assert "Traceback" not in with_ip.err
    assert grid(with_ip) == grid(without)
    assert "allowed" in grid(with_ip).values()
    assert with_ip.out == without.out


def test_query_node_ip_single_answers(cli: Cli) -> None:
    for source, port, code in [(ADMIN, "50000/tcp", 0), (OUTSIDER, "50000/tcp", 1), (ADMIN, "8080/tcp", 1)]:
        plain = cli("query", str(WORKER_PATCH), "--from", source, "--port", port)
        with_ip = cli("query", str(WORKER_PATCH), "--from", source, "--port", port, "--node-ip", NODE)
        assert (with_ip.code, with_ip.out, with_ip.err) == (plain.code, plain.out, plain.err)
        assert plain.code == code


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        pytest.param(
            ["--from", "nope", "--port", "50000"], ["--from", "'nope'", "not an IP address"], id="from-not-ip"
        ),
        pytest.param(
            ["--from", "10.0.0.0/24", "--port", "50000"],
            ["--from", "'10.0.0.0/24'", "not an IP address"],
            id="from-cidr",
        ),
        pytest.param(["--from", "", "--port", "50000"], ["--from", "''"], id="from-empty"),
        pytest.param(
            ["--from", ADMIN, "--from", "300.1.1.1", "--port", "50000"], ["--from", "'300.1.1.1'"], id="second-from-bad"
        ),
        pytest.param(["--from", ADMIN, "--port", "70000/tcp"], ["--port", "'70000/tcp'", "0-65535"], id="port-too-big"),
        pytest.param(["--from", ADMIN, "--port", "53/icmp"], ["--port", "'53/icmp'", "tcp or udp"], id="port-icmp"),
        pytest.param(["--from", ADMIN, "--port", "abc"], ["--port", "'abc'", "0-65535"], id="port-abc"),
        pytest.param(["--from", ADMIN, "--port", "-1/tcp"], ["--port", "'-1/tcp'"], id="port-negative"),
        pytest.param(["--from", ADMIN, "--port", "/tcp"], ["--port", "'/tcp'"], id="port-missing-number"),
        pytest.param(["--port", "50000"], ["--from", "--port"], id="missing-from"),
        pytest.param(["--from", ADMIN], ["--from", "--port"], id="missing-port"),
        pytest.param([], ["--from", "--port"], id="missing-both"),
    ],
)
@pytest.mark.parametrize(
    "source",
    [pytest.param([str(CONTROLPLANE_PATCH)], id="file"), pytest.param(WORKER, id="options")],
)
def test_query_bad_option_is_one_line_exit_3(
    cli: Cli, args: list[str], fragments: list[str], source: list[str]
) -> None:
    message = error_message(cli("query", *source, *args))
    for fragment in fragments:
        assert fragment in message, message


def test_query_missing_patch_file(cli: Cli, tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    assert error_message(cli("query", str(missing), *QUERY_OK)) == f"{missing}: no such file"
    # Also when it is the second of two files.
    assert error_message(cli("query", str(WORKER_PATCH), str(missing), *QUERY_OK)) == f"{missing}: no such file"


@pytest.mark.parametrize(
    ("text", "line"),
    [
        pytest.param(
            "apiVersion: v1alpha1\nkind: NetworkRuleConfig\nname: x\nportSelector:\n  ports: [50000\n  protocol: tcp\n",
            6,
            id="unclosed-flow-list",
        ),
        pytest.param(BLOCK_DOC + "---\nname: a\n  bad: indent\n", 6, id="bad-indent-second-document"),
        pytest.param("kind: NetworkDefaultActionConfig\nkind: NetworkDefaultActionConfig\n", 2, id="duplicate-key"),
    ],
)
def test_query_broken_yaml_names_file_and_line(cli: Cli, tmp_path: Path, text: str, line: int) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(text, encoding="utf-8")
    message = error_message(cli("query", str(path), *QUERY_OK))
    assert message.startswith(f"{path}: line {line}: invalid YAML: "), message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            rule_doc("x", '["8000-8100", 8050]', "tcp", ["10.0.0.0/8"]),
            "NetworkRuleConfig/x: invalid port range: 8050-8050, overlaps with 8000-8100",
            id="overlapping-ports",
        ),
        pytest.param(
            rule_doc("x", "[80, 80]", "tcp", ["10.0.0.0/8"]),
            "NetworkRuleConfig/x: invalid port range: 80-80, overlaps with 80-80",
            id="duplicate-port",
        ),
        pytest.param(
            rule_doc("x", '["9000-8000"]', "tcp", ["10.0.0.0/8"]),
            "NetworkRuleConfig/x: invalid port range: 9000-8000",
            id="reversed-range",
        ),
    ],
)
def test_query_invalid_rule_is_talos_message(cli: Cli, tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path / "rule.yaml", text)
    assert error_message(cli("query", str(path), *QUERY_OK)) == expected


def test_query_quoted_single_port_is_rejected(cli: Cli, tmp_path: Path) -> None:
    path = write(tmp_path / "quoted.yaml", rule_doc("x", '["80"]', "tcp", ["10.0.0.0/8"]))
    message = error_message(cli("query", str(path), *QUERY_OK))
    assert message == (
        f'{path}: document 1: NetworkRuleConfig/x: portSelector.ports: invalid port range: "80" '
        "(a single port must be an unquoted integer)"
    )


def test_query_invalid_rule_after_merge(cli: Cli, tmp_path: Path) -> None:
    """Each file is fine alone; the merged rule has overlapping ports."""
    first = write(tmp_path / "a.yaml", BLOCK_DOC + "---\n" + rule_doc("x", "[80]", "tcp", ["10.0.0.0/8"]))
    second = write(
        tmp_path / "b.yaml",
        'apiVersion: v1alpha1\nkind: NetworkRuleConfig\nname: x\nportSelector:\n  ports: ["70-90", 85]\n',
    )
    assert cli("query", str(first), "--from", "10.1.2.3", "--port", "80").code == 0
    message = error_message(cli("query", str(first), str(second), "--from", "10.1.2.3", "--port", "80"))
    assert message == "NetworkRuleConfig/x: invalid port range: 85-85, overlaps with 70-90"


def test_query_bad_gen_options_exit_3(cli: Cli) -> None:
    message = error_message(cli("query", "--role", "worker", "--subnet", "192.168.30.5/24", *QUERY_OK))
    assert "--subnet" in message
    message = error_message(cli("query", "--role", "nope", "--subnet", SUBNET, *QUERY_OK))
    assert "nope" in message


def test_query_bad_node_ip_exit_3(cli: Cli) -> None:
    message = error_message(cli("query", str(WORKER_PATCH), *QUERY_OK, "--node-ip", "10.0.0.0/24"))
    assert "--node-ip" in message
