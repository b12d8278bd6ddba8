"""``talospatch query``, ``talospatch nft`` and ``talospatch gen --from``, run through ``main``.

Every test calls ``talospatch.cli.main`` inside ``pytest.raises(SystemExit)`` and reads the
exit code, stdout and stderr separately. Exit codes: 0 ok, 1 a check failed (a query
answered "dropped", a lockout), 3 bad input. An error is exactly one ``talospatch: error:``
line on stderr (no traceback) with nothing on stdout; a lockout is one such line per lost
(address, port), also with nothing on stdout.

The kernel test (``nft`` output loaded with the real ``nft -f`` into a fresh network
namespace) is skipped without root/``ip netns``/``nft``, and fails instead under ``CI=true``.
"""

from __future__ import annotations

import io
import ipaddress
import re
import secrets
import shlex
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from helpers import ERROR, WARNING, Result, error_message, ok, run

from talospatch.cli.params import GEN_OPTIONS
from testing.netlab import ensure_netns
from testing.nftlisting import normalize_listing

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "out"
CONTROLPLANE_PATCH = OUT / "controlplane.yaml"
WORKER_PATCH = OUT / "worker.yaml"

SUBNET = "192.168.30.0/24"
SUBNET6 = "fd00:30::/64"
ADMIN = "196.45.28.20"
OUTSIDER = "203.0.113.9"
POD = "10.244.1.5"
NODE = "192.168.30.21"
WORKER = ["--role", "worker", "--subnet", SUBNET]
CONTROLPLANE = ["--role", "controlplane", "--subnet", SUBNET]

# The options out/regenerate.sh gives gen for the two reference patches (without --from,
# which only guards and changes no rule).
CONTROLPLANE_OPTIONS = [
    *CONTROLPLANE,
    "--cni",
    "cilium",
    "--tunnel",
    "geneve",
    "--controlplane",
    "192.168.30.11",
    "--controlplane",
    "192.168.30.12",
    "--controlplane",
    "192.168.30.13",
    "--admin",
    f"{ADMIN}/32",
]
WORKER_OPTIONS = [*WORKER, "--cni", "cilium", "--tunnel", "geneve", "--admin", f"{ADMIN}/32"]

MODE_TRY = "--mode=try"
HEADER = [
    "# table inet talos as Talos v1.15 (main after 55e0f6350) builds it",
    "# (talospatch; nft list ruleset form, nftables 1.0.6; load with nft -f)",
    "table inet talos {",
]


# --------------------------------------------------------------------------- helpers


def lockout_lines(result: Result) -> list[str]:
    """A failed guard: exit 1, nothing on stdout, and only ``lockout:`` error lines."""
    assert result.code == 1, result.err
    assert result.out == ""
    assert "Traceback" not in result.err
    assert MODE_TRY not in result.err
    for line in result.err_lines:
        assert line.startswith((ERROR, WARNING)), line
    assert result.errors, result.err
    for message in result.errors:
        assert message.startswith("lockout: "), message
    return result.errors


def lost(messages: list[str]) -> list[tuple[str, str]]:
    """(address, port) of each lockout line, in order."""
    pairs = []
    for message in messages:
        match = re.match(r"lockout: (\S+) would lose (\d+/(?:tcp|udp)) \(", message)
        assert match, message
        pairs.append((match.group(1), match.group(2)))
    return pairs


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def rule_doc(name: str, ports: str, protocol: str, subnets: list[str]) -> str:
    ingress = "".join(f"  - subnet: {s}\n" for s in subnets)
    return (
        "apiVersion: v1alpha1\n"
        "kind: NetworkRuleConfig\n"
        f"name: {name}\n"
        "portSelector:\n"
        f"  ports: {ports}\n"
        f"  protocol: {protocol}\n"
        "ingress:\n" + ingress
    )


BLOCK_DOC = "apiVersion: v1alpha1\nkind: NetworkDefaultActionConfig\ningress: block\n"
ACCEPT_DOC = "apiVersion: v1alpha1\nkind: NetworkDefaultActionConfig\ningress: accept\n"


def gen_file(capsys: pytest.CaptureFixture[str], path: Path, *args: str) -> Path:
    ok(run(capsys, "gen", *args, "-o", str(path)))
    assert path.is_file()
    return path


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


def block(text: str, name: str) -> list[str]:
    """The lines of one chain of rendered nft text (``chain NAME {`` to its ``}``)."""
    lines = text.splitlines()
    start = lines.index(f"\tchain {name} {{")
    end = lines.index("\t}", start)
    return lines[start + 1 : end]


# =========================================================================== 1. query


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
def test_query_single_answer_is_one_reason_line(
    capsys: pytest.CaptureFixture[str], source: str, port: str, code: int, reason: str
) -> None:
    result = run(capsys, "query", str(CONTROLPLANE_PATCH), "--from", source, "--port", port)
    assert result.code == code, result.err
    assert result.out == reason + "\n"
    assert result.err == ""


def test_query_grid_then_one_reason_per_pair(capsys: pytest.CaptureFixture[str]) -> None:
    result = run(
        capsys,
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
        f"{OUTSIDER} 6443/tcp: dropped: {OUTSIDER} is outside kubernetes-api-ingress "
        f"(10.244.0.0/16, 192.168.30.0/24, {ADMIN}/32)",
    ]
    # Nothing else: the grid, blank separator lines, and the reasons.
    assert len([line for line in lines if line.strip()]) == 3 + 4


def test_query_grid_all_allowed_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    result = run(
        capsys,
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


def test_query_grid_one_dropped_cell_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    result = run(capsys, "query", str(WORKER_PATCH), "--from", ADMIN, "--port", "50000/tcp", "--port", "10250/tcp")
    assert result.code == 1
    assert grid(result) == {(ADMIN, "50000/tcp"): "allowed", (ADMIN, "10250/tcp"): "dropped"}
    assert reason_lines(result) == [
        f"{ADMIN} 50000/tcp: allowed: apid-ingress ({ADMIN}/32)",
        f"{ADMIN} 10250/tcp: dropped: {ADMIN} is outside kubelet-ingress (10.244.0.0/16, 192.168.30.0/24)",
    ]


def test_query_worker_patch_file(capsys: pytest.CaptureFixture[str]) -> None:
    result = run(
        capsys,
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


# --- several patch files, merged in order ------------------------------------------------


def test_query_later_file_replaces_rule_ingress_by_name(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    override = write(
        tmp_path / "apid.yaml",
        "apiVersion: v1alpha1\nkind: NetworkRuleConfig\nname: apid-ingress\ningress:\n  - subnet: 203.0.113.0/24\n",
    )
    args = ["--from", ADMIN, "--from", OUTSIDER, "--from", "192.168.30.40", "--port", "50000/tcp"]
    result = run(capsys, "query", str(CONTROLPLANE_PATCH), str(override), *args)
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
    single = run(capsys, "query", str(CONTROLPLANE_PATCH), str(override), "--from", ADMIN, "--port", "6443/tcp")
    assert (single.code, single.out) == (0, f"allowed: kubernetes-api-ingress ({ADMIN}/32)\n")
    # In the other order the reference file wins again.
    again = run(capsys, "query", str(override), str(CONTROLPLANE_PATCH), *args)
    assert grid(again) == {
        (ADMIN, "50000/tcp"): "allowed",
        (OUTSIDER, "50000/tcp"): "dropped",
        ("192.168.30.40", "50000/tcp"): "allowed",
    }


def test_query_later_file_deletes_rule(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    before = run(capsys, "query", str(CONTROLPLANE_PATCH), "--from", "192.168.30.12", "--port", "2379/tcp")
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
    result = run(capsys, "query", str(CONTROLPLANE_PATCH), str(delete), "--from", "192.168.30.12", "--port", "2379/tcp")
    assert result.code == 1, result.err
    assert result.out == "dropped: no rule allows 2379/tcp (default action block)\n"
    assert result.err == ""
    kept = run(capsys, "query", str(CONTROLPLANE_PATCH), str(delete), "--from", "192.168.30.12", "--port", "50000/tcp")
    assert (kept.code, kept.out) == (0, "allowed: apid-ingress (192.168.30.0/24)\n")


def test_query_reads_stdin(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(CONTROLPLANE_PATCH.read_text(encoding="utf-8")))
    result = run(capsys, "query", "-", "--from", ADMIN, "--port", "50000/tcp")
    assert (result.code, result.out, result.err) == (0, f"allowed: apid-ingress ({ADMIN}/32)\n", "")


def test_query_stdin_merged_after_a_file(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    extra = BLOCK_DOC + "---\n" + rule_doc("http-ingress", "[8080]", "tcp", ["0.0.0.0/0"])
    monkeypatch.setattr(sys, "stdin", io.StringIO(extra))
    result = run(capsys, "query", str(WORKER_PATCH), "-", "--from", OUTSIDER, "--port", "8080", "--port", "50000")
    assert result.code == 1
    assert grid(result) == {(OUTSIDER, "8080/tcp"): "allowed", (OUTSIDER, "50000/tcp"): "dropped"}
    assert f"{OUTSIDER} 8080/tcp: allowed: http-ingress (0.0.0.0/0)" in reason_lines(result)


def test_query_stdin_errors_name_stdin(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(rule_doc("x", '["80"]', "tcp", ["10.0.0.0/8"])))
    message = error_message(run(capsys, "query", "-", "--from", OUTSIDER, "--port", "80"))
    assert message.startswith("stdin: ")
    assert 'NetworkRuleConfig/x: portSelector.ports: invalid port range: "80"' in message


# --- gen options instead of files ----------------------------------------------------------

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
def test_query_gen_options_answer_as_the_generated_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, options: list[str]
) -> None:
    patch = gen_file(capsys, tmp_path / "patch.yaml", *options)
    pod_subnet = [w for i, w in enumerate(options) if i and options[i - 1] == "--pod-subnet"]
    pod_args = [a for p in pod_subnet for a in ("--pod-subnet", p)]
    from_file = run(capsys, "query", str(patch), *QUERY_GRID, *pod_args)
    from_options = run(capsys, "query", *options, *QUERY_GRID)
    assert from_file.code == 1  # the outsider is dropped everywhere
    assert from_file.err == ""
    assert from_options.code == from_file.code
    assert from_options.out == from_file.out
    assert "Traceback" not in from_options.err
    assert all(line.startswith(WARNING) for line in from_options.err_lines)
    assert len(reason_lines(from_file)) == 7 * 10


def test_query_gen_options_match_reference_file(capsys: pytest.CaptureFixture[str]) -> None:
    from_file = run(capsys, "query", str(CONTROLPLANE_PATCH), *QUERY_GRID)
    from_options = run(capsys, "query", *CONTROLPLANE_OPTIONS, *QUERY_GRID)
    assert from_options.out == from_file.out
    assert from_options.code == from_file.code == 1


def test_query_gen_options_single_answer(capsys: pytest.CaptureFixture[str]) -> None:
    result = run(capsys, "query", *WORKER, "--admin", ADMIN, "--from", ADMIN, "--port", "50000/tcp")
    assert result.code == 0
    assert result.out == f"allowed: apid-ingress ({ADMIN}/32)\n"
    dropped = run(capsys, "query", *WORKER, "--from", ADMIN, "--port", "50000/tcp")
    assert dropped.code == 1
    assert dropped.out == f"dropped: {ADMIN} is outside apid-ingress (192.168.30.0/24)\n"


# --- --node-ip ---------------------------------------------------------------------------


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
def test_query_node_ip_is_accepted_and_changes_no_answer(
    capsys: pytest.CaptureFixture[str], node_ip: list[str], source: list[str]
) -> None:
    without = run(capsys, "query", *source, *QUERY_GRID)
    node_args = [a for ip in node_ip for a in ("--node-ip", ip)]
    with_ip = run(capsys, "query", *source, *QUERY_GRID, *node_args)
    assert with_ip.code == without.code == 1
    assert "Traceback" not in with_ip.err
    assert grid(with_ip) == grid(without)
    assert "allowed" in grid(with_ip).values()
    assert with_ip.out == without.out


def test_query_node_ip_single_answers(capsys: pytest.CaptureFixture[str]) -> None:
    for source, port, code in [(ADMIN, "50000/tcp", 0), (OUTSIDER, "50000/tcp", 1), (ADMIN, "8080/tcp", 1)]:
        plain = run(capsys, "query", str(WORKER_PATCH), "--from", source, "--port", port)
        with_ip = run(capsys, "query", str(WORKER_PATCH), "--from", source, "--port", port, "--node-ip", NODE)
        assert (with_ip.code, with_ip.out, with_ip.err) == (plain.code, plain.out, plain.err)
        assert plain.code == code


# --- bad input ---------------------------------------------------------------------------

QUERY_OK = ["--from", ADMIN, "--port", "50000/tcp"]


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
    capsys: pytest.CaptureFixture[str], args: list[str], fragments: list[str], source: list[str]
) -> None:
    message = error_message(run(capsys, "query", *source, *args))
    for fragment in fragments:
        assert fragment in message, message


def test_query_missing_patch_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    assert error_message(run(capsys, "query", str(missing), *QUERY_OK)) == f"{missing}: no such file"
    # Also when it is the second of two files.
    assert error_message(run(capsys, "query", str(WORKER_PATCH), str(missing), *QUERY_OK)) == f"{missing}: no such file"


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
def test_query_broken_yaml_names_file_and_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str, line: int
) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(text, encoding="utf-8")
    message = error_message(run(capsys, "query", str(path), *QUERY_OK))
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
def test_query_invalid_rule_is_talos_message(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str, expected: str
) -> None:
    path = write(tmp_path / "rule.yaml", text)
    assert error_message(run(capsys, "query", str(path), *QUERY_OK)) == expected


def test_query_quoted_single_port_is_rejected(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = write(tmp_path / "quoted.yaml", rule_doc("x", '["80"]', "tcp", ["10.0.0.0/8"]))
    message = error_message(run(capsys, "query", str(path), *QUERY_OK))
    assert message == (
        f'{path}: document 1: NetworkRuleConfig/x: portSelector.ports: invalid port range: "80" '
        "(a single port must be an unquoted integer)"
    )


def test_query_invalid_rule_after_merge(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """Each file is fine alone; the merged rule has overlapping ports."""
    first = write(tmp_path / "a.yaml", BLOCK_DOC + "---\n" + rule_doc("x", "[80]", "tcp", ["10.0.0.0/8"]))
    second = write(
        tmp_path / "b.yaml",
        'apiVersion: v1alpha1\nkind: NetworkRuleConfig\nname: x\nportSelector:\n  ports: ["70-90", 85]\n',
    )
    assert run(capsys, "query", str(first), "--from", "10.1.2.3", "--port", "80").code == 0
    message = error_message(run(capsys, "query", str(first), str(second), "--from", "10.1.2.3", "--port", "80"))
    assert message == "NetworkRuleConfig/x: invalid port range: 85-85, overlaps with 70-90"


@pytest.mark.parametrize(
    ("extra", "fragments"),
    [
        pytest.param(["--role", "worker"], ["patch files", "--role", "not both"], id="role"),
        pytest.param(["--role", "worker", "--subnet", SUBNET], ["patch files", "--role", "not both"], id="role-subnet"),
        pytest.param(["--admin", ADMIN], ["--admin", "patch files"], id="admin"),
        pytest.param(["--subnet", SUBNET], ["--subnet", "patch files"], id="subnet"),
        pytest.param(["--with", "hubble"], ["--with", "patch files"], id="with"),
    ],
)
def test_query_patch_files_with_gen_options(
    capsys: pytest.CaptureFixture[str], extra: list[str], fragments: list[str]
) -> None:
    message = error_message(run(capsys, "query", str(WORKER_PATCH), *QUERY_OK, *extra))
    for fragment in fragments:
        assert fragment in message, message


# A value for each of gen's profile options; None for a flag.
PROFILE_OPTION_VALUES = {
    "--cni": "flannel",
    "--tunnel": "vxlan",
    "--subnet": SUBNET,
    "--controlplane": "192.168.30.11",
    "--workers": SUBNET,
    "--admin": ADMIN,
    "--nodeport-from": OUTSIDER,
    "--nodeport": None,
    "--with": "hubble",
    "--compact": None,
    "--profiles-dir": ".",
}


@pytest.mark.parametrize("command", ["nft", "query"])
@pytest.mark.parametrize("flag", sorted(o.flag for o in GEN_OPTIONS if not o.with_patch_files))
def test_profile_options_are_refused_beside_patch_files(
    capsys: pytest.CaptureFixture[str], command: str, flag: str
) -> None:
    value = PROFILE_OPTION_VALUES[flag]
    extra = QUERY_OK if command == "query" else []
    args = [command, str(WORKER_PATCH), *extra, flag, *([] if value is None else [value])]
    message = error_message(run(capsys, *args))
    assert message == f"{flag} is an option of gen's profiles; with patch files it does not apply"


def test_query_neither_files_nor_role(capsys: pytest.CaptureFixture[str]) -> None:
    message = error_message(run(capsys, "query", *QUERY_OK))
    assert "patch files" in message
    assert "--role" in message
    # gen options without --role are no firewall either.
    message = error_message(run(capsys, "query", *QUERY_OK, "--subnet", SUBNET))
    assert "--role" in message


def test_query_bad_gen_options_exit_3(capsys: pytest.CaptureFixture[str]) -> None:
    message = error_message(run(capsys, "query", "--role", "worker", "--subnet", "192.168.30.5/24", *QUERY_OK))
    assert "--subnet" in message
    message = error_message(run(capsys, "query", "--role", "nope", "--subnet", SUBNET, *QUERY_OK))
    assert "nope" in message


def test_query_bad_node_ip_exit_3(capsys: pytest.CaptureFixture[str]) -> None:
    message = error_message(run(capsys, "query", str(WORKER_PATCH), *QUERY_OK, "--node-ip", "10.0.0.0/24"))
    assert "--node-ip" in message


# =========================================================================== 2. nft


def nft_out(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    return ok(run(capsys, "nft", *args)).out


def test_nft_header_and_table(capsys: pytest.CaptureFixture[str]) -> None:
    result = run(capsys, "nft", str(WORKER_PATCH))
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
def test_nft_reference_file_equals_gen_options(
    capsys: pytest.CaptureFixture[str], patch: Path, options: list[str], extra: list[str]
) -> None:
    from_file = nft_out(capsys, str(patch), *extra)
    from_options = nft_out(capsys, *options, *extra)
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
def test_nft_generated_file_equals_gen_options(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, options: list[str]
) -> None:
    patch = gen_file(capsys, tmp_path / "patch.yaml", *options)
    pod_args = [a for i, w in enumerate(options) if i and options[i - 1] == "--pod-subnet" for a in ("--pod-subnet", w)]
    node_args = ["--node-ip", NODE, "--node-ip", "fd00:30::21"]
    from_file = nft_out(capsys, str(patch), *pod_args, *node_args)
    from_options = nft_out(capsys, *options, *node_args)
    assert from_file == from_options
    assert "chain prerouting" in from_file


def test_nft_node_ip_adds_prerouting_chain(capsys: pytest.CaptureFixture[str]) -> None:
    without = nft_out(capsys, str(WORKER_PATCH))
    with_ip = nft_out(capsys, str(WORKER_PATCH), "--node-ip", NODE)
    assert "chain prerouting" not in without
    assert "\tchain prerouting {" in with_ip.splitlines()
    # The ingress chain is the same; the prerouting chain comes after it.
    assert block(with_ip, "ingress") == block(without, "ingress")
    pre = block(with_ip, "prerouting")
    assert pre[0] == "\t\ttype filter hook prerouting priority dstnat - 10; policy accept;"
    assert f"\t\tip daddr != {NODE} counter accept" in pre
    assert f"\t\tct state new ip saddr {{ 192.168.30.0/24, {ADMIN} }} tcp dport 50000 counter accept" in pre
    assert pre[-2:] == [
        "\t\tct state new meta l4proto tcp counter drop",
        "\t\tct state new meta l4proto udp counter drop",
    ]
    # Two node addresses: both in the "not addressed to node" rules.
    dual = nft_out(capsys, str(WORKER_PATCH), "--node-ip", NODE, "--node-ip", "fd00:30::21")
    assert f"\t\tip daddr != {NODE} counter accept" in block(dual, "prerouting")
    assert "\t\tip6 daddr != fd00:30::21 counter accept" in block(dual, "prerouting")


def test_nft_no_host_dns_removes_the_host_dns_rules(capsys: pytest.CaptureFixture[str]) -> None:
    default = nft_out(capsys, str(WORKER_PATCH))
    no_dns = nft_out(capsys, str(WORKER_PATCH), "--no-host-dns")
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


def test_nft_service_subnet_changes_pod_service_rule(capsys: pytest.CaptureFixture[str]) -> None:
    default = nft_out(capsys, str(WORKER_PATCH))
    custom = nft_out(capsys, str(WORKER_PATCH), "--service-subnet", "10.100.0.0/16")
    pod_service = "\t\tip saddr {{ {0} }} ip daddr {{ {0} }} counter accept"
    assert pod_service.format("10.96.0.0/12, 10.244.0.0/16") in default.splitlines()
    assert pod_service.format("10.100.0.0/16, 10.244.0.0/16") in custom.splitlines()
    assert "10.96.0.0/12" not in custom
    # Repeatable, and an IPv6 service subnet gives an ip6 rule.
    both = nft_out(capsys, str(WORKER_PATCH), "--service-subnet", "10.100.0.0/16", "--service-subnet", "fd00:96::/108")
    assert "\t\tip6 saddr fd00:96::/108 ip6 daddr fd00:96::/108 counter accept" in both.splitlines()


def test_nft_pod_subnet_with_patch_file(capsys: pytest.CaptureFixture[str]) -> None:
    custom = nft_out(capsys, str(WORKER_PATCH), "--pod-subnet", "10.42.0.0/16")
    assert "\t\tip saddr { 10.42.0.0/16, 10.96.0.0/12 } ip daddr { 10.42.0.0/16, 10.96.0.0/12 } counter accept" in (
        custom.splitlines()
    )


def test_nft_comments_name_the_rule_origin(capsys: pytest.CaptureFixture[str]) -> None:
    plain = nft_out(capsys, str(CONTROLPLANE_PATCH))
    commented = nft_out(capsys, str(CONTROLPLANE_PATCH), "--comments")
    assert "comment" not in plain
    line = f'\t\tip saddr {{ 192.168.30.0/24, {ADMIN} }} tcp dport 50000 counter accept comment "NetworkRuleConfig/apid-ingress"'
    assert line in commented.splitlines()
    assert 'comment "NetworkRuleConfig/etcd-ingress"' in commented
    # Every rule line gets one; nothing else changes.
    stripped = [re.sub(r' comment "[^"]*"$', "", x) for x in commented.splitlines()]
    assert stripped == plain.splitlines()
    rules = [x for x in commented.splitlines() if x.startswith("\t\t") and not x.startswith("\t\ttype ")]
    assert rules and all(re.search(r' comment "[^"]+"$', x) for x in rules)


def test_nft_accept_mode_patch(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    patch = write(tmp_path / "accept.yaml", ACCEPT_DOC + "---\n" + rule_doc("apid-ingress", "[50000]", "tcp", [SUBNET]))
    out = nft_out(capsys, str(patch))
    lines = out.splitlines()
    assert lines[:3] == HEADER
    assert "\t\ttype filter hook input priority mangle + 10; policy accept;" in lines
    assert "policy drop" not in out
    assert "\t\tip saddr != 192.168.30.0/24 tcp dport 50000 counter drop" in lines
    assert "\t\tmeta nfproto ipv6 tcp dport 50000 counter drop" in lines
    # No block-mode built-ins.
    assert "169.254.116.108" not in out
    assert "limit rate" not in out
    # And the query agrees: outside the subnet dropped, anything else allowed.
    dropped = run(capsys, "query", str(patch), "--from", OUTSIDER, "--port", "50000")
    assert (dropped.code, dropped.out) == (1, f"dropped: {OUTSIDER} is outside apid-ingress (192.168.30.0/24)\n")
    allowed = run(capsys, "query", str(patch), "--from", OUTSIDER, "--port", "8080")
    assert (allowed.code, allowed.out) == (0, "allowed: default action accept (no rule for 8080/tcp)\n")


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty-file"),
        pytest.param("machine:\n  type: worker\n", id="machine-config-only"),
        pytest.param("apiVersion: v1alpha1\nkind: HostnameConfig\nhostname: a\n", id="other-kind"),
    ],
)
def test_nft_no_firewall_documents_is_an_empty_table(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str
) -> None:
    patch = tmp_path / "patch.yaml"
    patch.write_text(text, encoding="utf-8")
    result = run(capsys, "nft", str(patch))
    assert result.code == 0, result.err
    assert result.err == ""
    assert result.out == "\n".join([*HEADER, "}"]) + "\n"
    # Also with a node address: Talos builds no chains at all.
    assert nft_out(capsys, str(patch), "--node-ip", NODE) == result.out


def test_nft_reads_stdin(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(WORKER_PATCH.read_text(encoding="utf-8")))
    assert nft_out(capsys, "-") == nft_out(capsys, str(WORKER_PATCH))


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
def test_nft_bad_input_is_one_line_exit_3(
    capsys: pytest.CaptureFixture[str], args: list[str], fragments: list[str], source: list[str]
) -> None:
    message = error_message(run(capsys, "nft", *source, *args))
    for fragment in fragments:
        assert fragment in message, message


def test_nft_bad_patch_inputs_exit_3(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert error_message(run(capsys, "nft", str(tmp_path / "x.yaml"))) == f"{tmp_path / 'x.yaml'}: no such file"
    assert "not both" in error_message(run(capsys, "nft", str(WORKER_PATCH), *WORKER))
    assert "--role" in error_message(run(capsys, "nft"))
    broken = tmp_path / "broken.yaml"
    broken.write_text("a: [1\n", encoding="utf-8")
    assert error_message(run(capsys, "nft", str(broken))).startswith(f"{broken}: line ")


@contextmanager
def fresh_netns() -> Iterator[str]:
    name = f"tp-clitest-{secrets.token_hex(5)}"
    subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)


def nft_in(ns: str, *args: str) -> str:
    done = subprocess.run(["ip", "netns", "exec", ns, "nft", *args], capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"nft {' '.join(args)}: {done.stderr}"
    return done.stdout


@pytest.mark.parametrize(
    "args",
    [
        pytest.param([str(CONTROLPLANE_PATCH)], id="controlplane-file"),
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
        pytest.param(
            [
                str(WORKER_PATCH),
                "--no-host-dns",
                "--service-subnet",
                "10.100.0.0/16",
                "--service-subnet",
                "fd00:96::/108",
                "--node-ip",
                NODE,
            ],
            id="file-no-host-dns-services",
        ),
        pytest.param("accept", id="accept-mode"),
        pytest.param("empty", id="empty-table"),
    ],
)
def test_nft_output_loads_into_the_kernel(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, args: list[str] | str
) -> None:
    ensure_netns()
    if args == "accept":
        patch = write(
            tmp_path / "accept.yaml",
            ACCEPT_DOC + "---\n" + rule_doc("apid-ingress", "[50000, 50001]", "tcp", [SUBNET, "fd00:30::/64"]),
        )
        args = [str(patch), "--node-ip", NODE, "--node-ip", "fd00:30::21"]
    elif args == "empty":
        patch = write(tmp_path / "empty.yaml", "machine:\n  type: worker\n")
        args = [str(patch)]
    text = nft_out(capsys, *args)
    ruleset = tmp_path / "ruleset.nft"
    ruleset.write_text(text, encoding="utf-8")
    with fresh_netns() as ns:
        assert nft_in(ns, "list", "ruleset") == ""
        nft_in(ns, "-c", "-f", str(ruleset))
        nft_in(ns, "-f", str(ruleset))
        listed = nft_in(ns, "list", "table", "inet", "talos")
    assert normalize_listing(listed) == normalize_listing(text)
    assert normalize_listing(text)[0] == "table inet talos"


# =========================================================================== 3. gen --from


def test_gen_from_inside_subnet_passes_without_mode_try_warning(capsys: pytest.CaptureFixture[str]) -> None:
    guarded = ok(run(capsys, "gen", *CONTROLPLANE, "--from", "192.168.30.5"))
    assert guarded.out.startswith("# Talos ingress firewall patch")
    assert "kind: NetworkRuleConfig" in guarded.out
    assert not any(MODE_TRY in w for w in guarded.warnings), guarded.err
    assert MODE_TRY not in guarded.err
    assert guarded.errors == []
    # Without --from the advice is there (so the check above can tell).
    unguarded = ok(run(capsys, "gen", *CONTROLPLANE))
    assert any(MODE_TRY in w for w in unguarded.warnings)
    # --from changes no rule: the patch differs only in the header command.
    g, u = guarded.out.splitlines(), unguarded.out.splitlines()
    assert g[1] == u[1] + " --from 192.168.30.5"
    assert g[:1] + g[2:] == u[:1] + u[2:]


@pytest.mark.parametrize(
    ("role_args", "ports"),
    [
        pytest.param(CONTROLPLANE, ["50000/tcp", "6443/tcp"], id="controlplane"),
        pytest.param(WORKER, ["50000/tcp"], id="worker"),
    ],
)
def test_gen_from_admin_without_admin_is_a_lockout(
    capsys: pytest.CaptureFixture[str], role_args: list[str], ports: list[str]
) -> None:
    result = run(capsys, "gen", *role_args, "--from", ADMIN)
    messages = lockout_lines(result)
    assert lost(messages) == [(ADMIN, port) for port in ports]
    for message in messages:
        assert message.endswith(f"; add --admin {ADMIN}"), message
        assert f"{ADMIN} is outside" in message
    if "6443/tcp" not in ports:
        assert "6443" not in result.err
    assert messages[0] == (
        f"lockout: {ADMIN} would lose 50000/tcp (dropped: {ADMIN} is outside apid-ingress (192.168.30.0/24)); "
        f"add --admin {ADMIN}"
    )


@pytest.mark.parametrize(
    "role_args", [pytest.param(CONTROLPLANE, id="controlplane"), pytest.param(WORKER, id="worker")]
)
@pytest.mark.parametrize("admin", [ADMIN, f"{ADMIN}/32", "196.45.28.0/24"])
def test_gen_from_admin_with_admin_passes(capsys: pytest.CaptureFixture[str], role_args: list[str], admin: str) -> None:
    result = ok(run(capsys, "gen", *role_args, "--admin", admin, "--from", ADMIN))
    assert "kind: NetworkRuleConfig" in result.out
    assert result.errors == []
    assert MODE_TRY not in result.err


def test_gen_from_several_addresses_one_line_per_lost_pair(capsys: pytest.CaptureFixture[str]) -> None:
    result = run(
        capsys,
        "gen",
        *CONTROLPLANE,
        "--admin",
        ADMIN,
        "--from",
        OUTSIDER,
        "--from",
        ADMIN,
        "--from",
        "192.168.30.5",
        "--from",
        "198.51.100.7",
    )
    assert sorted(lost(lockout_lines(result))) == sorted(
        [(OUTSIDER, "50000/tcp"), (OUTSIDER, "6443/tcp"), ("198.51.100.7", "50000/tcp"), ("198.51.100.7", "6443/tcp")]
    )


@pytest.mark.parametrize(
    "spellings",
    [
        pytest.param([ADMIN, ADMIN], id="same"),
        pytest.param([ADMIN, f" {ADMIN} "], id="whitespace"),
        pytest.param(["2001:db8:45::20", "2001:db8:45:0::20", "2001:DB8:45::20"], id="ipv6-spellings"),
    ],
)
def test_gen_from_repeated_address_reports_each_lost_pair_once(
    capsys: pytest.CaptureFixture[str], spellings: list[str]
) -> None:
    from_args = [a for s in spellings for a in ("--from", s)]
    result = run(capsys, "gen", *WORKER, "--subnet", SUBNET6, *from_args)
    pairs = lost(lockout_lines(result))
    assert pairs == [(str(ipaddress.ip_address(spellings[0].strip())), "50000/tcp")], result.err


def test_gen_from_pod_address_on_controlplane_loses_apid_only(capsys: pytest.CaptureFixture[str]) -> None:
    result = run(capsys, "gen", *CONTROLPLANE, "--from", POD)
    assert lost(lockout_lines(result)) == [(POD, "50000/tcp")]
    assert "6443" not in result.err
    # A custom pod subnet: its addresses reach the API, the default one's do not.
    custom = run(capsys, "gen", *CONTROLPLANE, "--pod-subnet", "10.42.0.0/16", "--from", "10.42.0.9", "--from", POD)
    assert sorted(lost(lockout_lines(custom))) == [
        ("10.244.1.5", "50000/tcp"),
        ("10.244.1.5", "6443/tcp"),
        ("10.42.0.9", "50000/tcp"),
    ]


def test_gen_from_lockout_writes_no_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    target = tmp_path / "new.yaml"
    lockout_lines(run(capsys, "gen", *WORKER, "--from", ADMIN, "-o", str(target)))
    assert list(tmp_path.iterdir()) == []


def test_gen_from_lockout_leaves_existing_file_untouched(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    target = tmp_path / "patch.yaml"
    original = b"# hand-written\r\nkeep: me\n\x00binary\n"
    target.write_bytes(original)
    target.chmod(0o640)
    before = target.stat()
    lockout_lines(run(capsys, "gen", *CONTROLPLANE, "--from", ADMIN, "-o", str(target)))
    assert target.read_bytes() == original
    after = target.stat()
    assert (after.st_ino, after.st_mode, after.st_mtime_ns) == (before.st_ino, before.st_mode, before.st_mtime_ns)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["patch.yaml"]


def test_gen_from_passing_writes_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    target = tmp_path / "patch.yaml"
    result = ok(run(capsys, "gen", *WORKER, "--admin", ADMIN, "--from", ADMIN, "-o", str(target)))
    assert result.out == ""
    assert MODE_TRY not in result.err
    stdout = ok(run(capsys, "gen", *WORKER, "--admin", ADMIN, "--from", ADMIN)).out
    assert target.read_text(encoding="utf-8") == stdout


def test_gen_from_in_header_command_normalized_sorted_deduplicated(capsys: pytest.CaptureFixture[str]) -> None:
    result = ok(
        run(
            capsys,
            "gen",
            *WORKER,
            "--subnet",
            SUBNET6,
            "--from",
            "fd00:30:0::5",
            "--from",
            "192.168.30.9",
            "--from",
            " 192.168.30.5 ",
            "--from",
            "192.168.30.9",
            "--from",
            "FD00:30::5",
            "--from",
            "192.168.30.10",
        )
    )
    command = result.out.splitlines()[1].removeprefix("#").strip()
    words = shlex.split(command)
    froms = [words[i + 1] for i, w in enumerate(words) if w == "--from"]
    assert froms == ["192.168.30.5", "192.168.30.9", "192.168.30.10", "fd00:30::5"]
    assert command.endswith("--from 192.168.30.5 --from 192.168.30.9 --from 192.168.30.10 --from fd00:30::5")
    # The header command reproduces the output byte for byte.
    assert words[:2] == ["talospatch", "gen"]
    again = ok(run(capsys, *words[1:]))
    assert again.out == result.out


def test_gen_without_from_has_none_in_header(capsys: pytest.CaptureFixture[str]) -> None:
    result = ok(run(capsys, "gen", *WORKER))
    assert "--from" not in result.out.splitlines()[1]


def test_reference_files_are_guarded_and_reproducible(capsys: pytest.CaptureFixture[str]) -> None:
    for patch in (CONTROLPLANE_PATCH, WORKER_PATCH):
        text = patch.read_text(encoding="utf-8")
        command = text.splitlines()[1].removeprefix("#").strip()
        words = shlex.split(command)
        assert words[-2:] == ["--from", ADMIN]
        assert ok(run(capsys, *words[1:])).out == text


def test_gen_from_ipv6_dual_stack(capsys: pytest.CaptureFixture[str]) -> None:
    dual = [*CONTROLPLANE, "--subnet", SUBNET6]
    inside = ok(run(capsys, "gen", *dual, "--from", "fd00:30::7", "--from", "192.168.30.7"))
    assert "--from 192.168.30.7 --from fd00:30::7" in inside.out.splitlines()[1]
    assert MODE_TRY not in inside.err
    outside = run(capsys, "gen", *dual, "--from", "2001:db8:45::20")
    messages = lockout_lines(outside)
    assert lost(messages) == [("2001:db8:45::20", "50000/tcp"), ("2001:db8:45::20", "6443/tcp")]
    assert all(m.endswith("; add --admin 2001:db8:45::20") for m in messages)
    ok(run(capsys, "gen", *dual, "--admin", "2001:db8:45::/48", "--from", "2001:db8:45::20"))
    # An IPv6 workstation on an IPv4-only cluster has no rule of its family.
    v4_only = run(capsys, "gen", *CONTROLPLANE, "--from", "fd00:30::7")
    assert lost(lockout_lines(v4_only)) == [("fd00:30::7", "50000/tcp"), ("fd00:30::7", "6443/tcp")]


@pytest.mark.parametrize(
    ("value", "fragments"),
    [
        pytest.param("nope", ["--from", "'nope'", "not an IP address"], id="word"),
        pytest.param("10.0.0.0/24", ["--from", "'10.0.0.0/24'"], id="cidr"),
        pytest.param("", ["--from", "''"], id="empty"),
    ],
)
def test_gen_from_bad_address_exit_3(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, value: str, fragments: list[str]
) -> None:
    target = tmp_path / "out.yaml"
    message = error_message(run(capsys, "gen", *WORKER, "--from", value, "-o", str(target)))
    for fragment in fragments:
        assert fragment in message, message
    assert not target.exists()


# --- custom role profiles and their lockout ports -------------------------------------------

SSH_RULE = """
  - name: ssh-ingress
    service: ssh
    ports: [2222]
    protocol: tcp
    from: [nodes, admins]
    why: a test needs it
    source: tests/test_cli_check.py
"""
APID_RULE = """
  - name: apid-ingress
    service: Talos API
    ports: [50000]
    protocol: tcp
    from: [nodes, admins]
    why: a test needs it
    source: tests/test_cli_check.py
"""


def bastion(folder: Path, lockout: str | None, rules: str) -> Path:
    text = "kind: role\ndescription: a test role\n"
    if lockout is not None:
        text += f"lockout: {lockout}\n"
    text += "rules:" + rules
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "bastion.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def bastion_args(folder: Path, *extra: str) -> list[str]:
    return ["gen", "--role", "bastion", "--cni", "none", "--subnet", SUBNET, "--profiles-dir", str(folder), *extra]


def test_custom_role_lockout_port_is_guarded(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    folder = tmp_path / "profiles"
    bastion(folder, "[2222/tcp]", SSH_RULE + APID_RULE)
    result = run(capsys, *bastion_args(folder, "--from", ADMIN))
    messages = lockout_lines(result)
    assert lost(messages) == [(ADMIN, "2222/tcp")]
    assert messages[0].endswith(f"; add --admin {ADMIN}")
    assert "50000" not in result.err
    ok(run(capsys, *bastion_args(folder, "--admin", ADMIN, "--from", ADMIN)))
    # Only 2222/tcp is guarded: a role with no apid rule at all passes.
    only_ssh = tmp_path / "only-ssh"
    bastion(only_ssh, "[2222/tcp]", SSH_RULE)
    passed = ok(run(capsys, *bastion_args(only_ssh, "--admin", ADMIN, "--from", ADMIN)))
    assert "name: ssh-ingress" in passed.out


def test_custom_role_lockout_several_ports(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    folder = tmp_path / "profiles"
    bastion(folder, "[2222/tcp, 50000/tcp, 9999/udp]", SSH_RULE + APID_RULE)
    result = run(capsys, *bastion_args(folder, "--admin", ADMIN, "--from", ADMIN))
    messages = lockout_lines(result)
    assert lost(messages) == [(ADMIN, "9999/udp")]
    assert messages[0] == (
        f"lockout: {ADMIN} would lose 9999/udp (dropped: no rule allows 9999/udp (default action block)); "
        "no rule for this port takes --admin"
    )


def test_custom_role_without_lockout_guards_apid(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    folder = tmp_path / "profiles"
    bastion(folder, None, SSH_RULE + APID_RULE)
    result = run(capsys, *bastion_args(folder, "--from", ADMIN))
    messages = lockout_lines(result)
    assert lost(messages) == [(ADMIN, "50000/tcp")]
    assert messages[0].endswith(f"; add --admin {ADMIN}")
    assert "2222" not in result.err
    ok(run(capsys, *bastion_args(folder, "--admin", ADMIN, "--from", ADMIN)))
    # Without an apid rule, even an address inside the subnet loses 50000/tcp.
    no_apid = tmp_path / "no-apid"
    bastion(no_apid, None, SSH_RULE)
    inside = run(capsys, *bastion_args(no_apid, "--from", "192.168.30.5"))
    assert lockout_lines(inside) == [
        "lockout: 192.168.30.5 would lose 50000/tcp (dropped: no rule allows 50000/tcp (default action block)); "
        "no rule for this port takes --admin"
    ]


@pytest.mark.parametrize(
    ("lockout", "value"),
    [
        ("[abc]", "abc"),
        ("[2222/icmp]", "2222/icmp"),
        ("[70000/tcp]", "70000/tcp"),
        ('["2222"]', "2222"),
        ("[tcp/2222]", "tcp/2222"),
    ],
)
def test_custom_role_bad_lockout_is_profile_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, lockout: str, value: str
) -> None:
    folder = tmp_path / "profiles"
    path = bastion(folder, lockout, SSH_RULE + APID_RULE)
    for extra in (["--from", ADMIN], []):
        message = error_message(run(capsys, *bastion_args(folder, *extra)))
        assert message == f"{path}: lockout: {value!r} is not PORT/tcp or PORT/udp"


def test_custom_role_lockout_not_a_string_is_profile_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    folder = tmp_path / "profiles"
    path = bastion(folder, "[2222]", SSH_RULE + APID_RULE)
    message = error_message(run(capsys, *bastion_args(folder, "--from", ADMIN)))
    assert message.startswith(f"{path}: lockout"), message


def test_lockout_only_in_role_profiles(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    folder = tmp_path / "profiles"
    path = write(
        folder / "extra.yaml",
        "kind: addon\ndescription: an add-on\nlockout: [2222/tcp]\nrules:" + SSH_RULE,
    )
    message = error_message(
        run(capsys, "gen", *WORKER, "--profiles-dir", str(folder), "--with", "extra", "--from", ADMIN)
    )
    assert message == f"{path}: lockout: only a role profile has lockout ports"
