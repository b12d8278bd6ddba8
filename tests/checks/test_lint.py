"""``talospatch check``: one fixture per hazard is flagged, the project's own out/ passes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from talospatch.checks.lint.engine import NFT_RULE_BUDGET, check_text, lint_options
from testing.runner import ERROR, error_message, ok, run

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "check"
CP = ["--controlplane", "192.168.30.11", "--controlplane", "192.168.30.12", "--controlplane", "192.168.30.13"]


def fixture(name: str) -> str:
    return str(FIXTURES / f"{name}.yaml")


def test_own_out_passes(capsys: pytest.CaptureFixture[str]) -> None:
    result = ok(run(capsys, "check", *sorted(str(p) for p in (ROOT / "out").glob("*.yaml"))))
    assert result.out == ""


def test_own_out_passes_with_everything_it_was_generated_for(capsys: pytest.CaptureFixture[str]) -> None:
    common = ["--cni", "cilium", "--tunnel", "geneve", "--subnet", "192.168.30.0/24", "--from", "196.45.28.20"]
    cp = ok(run(capsys, "check", str(ROOT / "out/controlplane.yaml"), "--role", "controlplane", *CP, *common))
    worker = ok(run(capsys, "check", str(ROOT / "out/worker.yaml"), "--role", "worker", *common))
    assert cp.out == worker.out == ""


# (fixture, extra options, the one finding's document, the start of its message, the start of its fix)
HAZARDS = [
    ("no-protocol", [], "NetworkRuleConfig/kubelet-ingress", "portSelector.protocol is missing", "add protocol: tcp"),
    ("icmp-rule", [], "NetworkRuleConfig/icmp-echo", "protocol icmp: Talos matches the ports against", "delete it"),
    ("empty-ingress", [], "NetworkRuleConfig/kubelet-ingress", "ingress is empty or missing, so 10250/tcp", "list"),
    (
        "except-outside",
        [],
        "NetworkRuleConfig/kubelet-ingress",
        "ingress[0]: except 192.168.31.1/32 is outside its subnet 192.168.30.0/24",
        "Talos subtracts every except",
    ),
    ("quoted-port", [], "NetworkRuleConfig/kubelet-ingress", 'port "10250" is a quoted single port', "write it"),
    (
        "open-to-everyone",
        [],
        "NetworkRuleConfig/etcd-ingress",
        "etcd 2379-2380/tcp is open to 0.0.0.0/0, ::/0",
        "allow only the control-plane addresses",
    ),
    (
        "beyond-controlplane",
        CP,
        "NetworkRuleConfig/etcd-ingress",
        "etcd 2379-2380/tcp is open to 192.168.30.0/24, beyond the control-plane addresses",
        "allow only --controlplane 192.168.30.11/32, 192.168.30.12/32, 192.168.30.13/32",
    ),
    (
        "one-family",
        [],
        "NetworkRuleConfig/kubelet-ingress",
        "lists only IPv4 sources on a dual-stack node (other rules list 192.168.30.0/24 and fd00:30::/64)",
        "add the IPv6 sources too",
    ),
    ("no-apid", [], "NetworkDefaultActionConfig", "block mode, and no rule allows apid 50000/tcp", "add an apid"),
    (
        "lockout",
        ["--from", "196.45.28.20"],
        "firewall",
        "lockout: 196.45.28.20 would lose 50000/tcp (dropped: 196.45.28.20 is outside apid-ingress",
        "add 196.45.28.20/32 to the rule for 50000/tcp",
    ),
    (
        "missing-port",
        ["--cni", "flannel"],
        "firewall",
        "flannel: cni-vxlan (Flannel VXLAN overlay) needs 4789/udp and no rule allows it",
        "add a rule from nodes",
    ),
    (
        "duplicate-name",
        [],
        "NetworkRuleConfig/kubelet-ingress",
        "the name is used by 2 documents in this file",
        "keep one: Talos before v1.14 rejects",
    ),
    (
        "redundant",
        [],
        "NetworkRuleConfig/kubelet-from-nodes",
        "allows nothing the other rules do not (kubelet-ingress already allows it)",
        "delete it",
    ),
    (
        "redundant-accept",
        [],
        "NetworkRuleConfig/open",
        "changes no verdict: in accept mode it drops nothing that the other rules do not",
        "delete it",
    ),
    ("too-many-rules", ["--subnet", "192.168.30.0/24"], "firewall", "25 rules compile to", "merge rules"),
]


@pytest.mark.parametrize(("name", "extra", "document", "message", "fix"), HAZARDS, ids=[h[0] for h in HAZARDS])
def test_each_hazard_is_flagged(
    capsys: pytest.CaptureFixture[str], name: str, extra: list[str], document: str, message: str, fix: str
) -> None:
    result = run(capsys, "check", fixture(name), *extra)
    assert result.code == 1, result.err
    assert result.err == ""
    assert len(result.out_lines) == 1, result.out
    file, doc, rest = result.out_lines[0].split(": ", 2)
    assert (file, doc) == (fixture(name), document)
    assert rest.startswith(message), rest
    assert f"; {fix}" in rest.removeprefix(message), rest


def test_json_names_each_finding(capsys: pytest.CaptureFixture[str]) -> None:
    result = run(capsys, "check", "--format", "json", fixture("redundant"), fixture("no-apid"))
    assert result.code == 1
    report = json.loads(result.out)
    assert report["files"] == 2
    assert [(f["code"], f["severity"], f["document"]) for f in report["findings"]] == [
        ("redundant", "hazard", "NetworkRuleConfig/kubelet-from-nodes"),
        ("no-apid", "hazard", "NetworkDefaultActionConfig"),
    ]


def test_documents_talos_rejects_are_each_reported_with_exit_3(capsys: pytest.CaptureFixture[str]) -> None:
    result = run(capsys, "check", fixture("invalid"), fixture("redundant"))
    assert result.code == 3
    assert result.out_lines == [
        (
            f"{fixture('invalid')}: NetworkRuleConfig/apid-ingress: invalid port range: 50000-50000, overlaps with "
            "50000-50000; fix the document: Talos rejects it"
        ),
        (
            f"{fixture('invalid')}: NetworkRuleConfig/kubelet-ingress: ingress.subnet: invalid prefix: 'not-a-cidr' "
            "(want a CIDR such as 192.168.0.0/16); fix the document: Talos rejects it"
        ),
        (
            f"{fixture('redundant')}: NetworkRuleConfig/kubelet-from-nodes: allows nothing the other rules do not "
            "(kubelet-ingress already allows it); delete it, or merge its ports and sources into one rule"
        ),
    ]
    assert result.err_lines == [f"{ERROR}2 document(s) or file(s) that Talos would reject; see the findings above"]


def test_unreadable_yaml_is_exit_3(capsys: pytest.CaptureFixture[str]) -> None:
    result = run(capsys, "check", fixture("unreadable"))
    assert result.code == 3
    assert (
        result.out
        == f"{fixture('unreadable')}: file: line 4: invalid YAML: mapping values are not allowed here; fix the YAML\n"
    )


def test_missing_file_is_exit_3(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.yaml")
    assert error_message(run(capsys, "check", missing)) == f"{missing}: no such file"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "xml"], "--format 'xml' is not a format; valid: text, json"),
        (["--role", "nosuch"], None),
        (["--tunnel", "vxlan"], "--tunnel needs --cni with a tunnel choice (cilium)"),
        (["--cni", "cilium", "--tunnel", "gre"], "unknown tunnel 'gre'; valid: vxlan, geneve, both, native"),
        (["--from", "nope"], "--from 'nope' is not an IP address (want e.g. 196.45.28.20)"),
        (["--controlplane", "10.0.0.1/8"], "--controlplane '10.0.0.1/8' has host bits set; did you mean 10.0.0.0/8?"),
    ],
    ids=["format", "role", "tunnel-without-cni", "tunnel", "from", "controlplane"],
)
def test_bad_options_are_exit_3(capsys: pytest.CaptureFixture[str], args: list[str], message: str | None) -> None:
    result = run(capsys, "check", str(ROOT / "out/worker.yaml"), *args)
    text = error_message(result)
    if message is not None:
        assert text == message
    else:
        assert "nosuch" in text


def test_stdin_is_read(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO(Path(fixture("no-apid")).read_text()))
    result = run(capsys, "check", "-")
    assert result.code == 1
    assert result.out.startswith("stdin: NetworkDefaultActionConfig: block mode, and no rule allows apid")


def test_cilium_without_tunnel_wants_one_of_them(capsys: pytest.CaptureFixture[str]) -> None:
    result = run(capsys, "check", fixture("missing-port"), "--cni", "cilium")
    assert result.code == 1
    assert result.out_lines[-1].endswith(
        "firewall: cilium: no rule allows its tunnel, vxlan (8472/udp) or geneve (6081/udp); "
        "add the rule of your tunnel (--tunnel names it)"
    )


# -- community patch sets (the styles of the reference notes): read without a crash


@pytest.mark.parametrize("name", ["break-glass", "consolidated", "flow-style", "machineconfig-resource"])
def test_community_sets_are_read(capsys: pytest.CaptureFixture[str], name: str) -> None:
    result = run(capsys, "check", fixture(f"community/{name}"))
    assert result.code == 0, result.out + result.err
    assert result.out == result.err == ""


def test_machineconfig_resource_is_a_control_plane_for_the_lockout(capsys: pytest.CaptureFixture[str]) -> None:
    result = run(
        capsys, "check", fixture("community/machineconfig-resource"), "--from", "10.0.0.9", "--from", "8.8.8.8"
    )
    assert result.code == 1
    lost = [line.split("lockout: ", 1)[1].split(" (")[0] for line in result.out_lines]
    assert lost == ["8.8.8.8 would lose 50000/tcp", "8.8.8.8 would lose 6443/tcp"]


def test_placeholders_are_findings(capsys: pytest.CaptureFixture[str]) -> None:
    result = run(capsys, "check", fixture("community/placeholders"))
    assert result.code == 1
    assert result.err == ""
    path = fixture("community/placeholders")
    assert result.out_lines == [
        (
            f"{path}: NetworkRuleConfig/apid-ingress: ingress[0].subnet is the placeholder ${{CLUSTER_SUBNET}}, "
            "which Talos reads literally; substitute it before applying (envsubst, talhelper, flux); "
            "this document is not checked further"
        ),
        (
            f"{path}: NetworkRuleConfig/apid-ingress: ingress[1].subnet is the placeholder ${{ADMIN_CIDR}}, "
            "which Talos reads literally; substitute it before applying (envsubst, talhelper, flux); "
            "this document is not checked further"
        ),
        (
            f"{path}: NetworkRuleConfig/kubelet-ingress: ingress[0].subnet is the placeholder ${{CLUSTER_SUBNET}}, "
            "which Talos reads literally; substitute it before applying (envsubst, talhelper, flux); "
            "this document is not checked further"
        ),
        (
            f"{path}: firewall: 2 document(s) hold placeholders, so the firewall as a whole is not checked; "
            "substitute them and run check again"
        ),
    ]


def test_budget_is_not_reached_by_the_reference_cluster() -> None:
    text = (ROOT / "out/controlplane.yaml").read_text()
    assert check_text(text, "cp", lint_options(subnets=("192.168.30.0/24", "fd00:30::/64"))) != []
    # Dual-stack makes each rule one-family, but the rule count stays under the budget.
    codes = {f.code for f in check_text(text, "cp", lint_options(subnets=("192.168.30.0/24", "fd00:30::/64")))}
    assert codes == {"one-family"}
    assert NFT_RULE_BUDGET == 60


def test_accept_mode_skips_block_only_checks() -> None:
    text = "apiVersion: v1alpha1\nkind: NetworkDefaultActionConfig\ningress: accept\n"
    assert check_text(text, "accept.yaml", lint_options(role="worker")) == []


# -- --merge: patches of one node, applied in order

PER_RULE = sorted(str(p) for p in (FIXTURES / "community" / "per-rule").glob("*.yaml"))


def test_per_rule_files_alone_lack_what_the_others_give(capsys: pytest.CaptureFixture[str]) -> None:
    result = run(capsys, "check", *PER_RULE)
    assert result.code == 3
    assert [line.split(": ", 2)[:2] for line in result.out_lines] == [
        [PER_RULE[0], "NetworkDefaultActionConfig"],
        [PER_RULE[3], "NetworkRuleConfig/kubelet-ingress"],
    ]
    assert "portSelector.ports is required" in result.out_lines[1]
    assert "check both files with --merge" in result.out_lines[1]


def test_per_rule_files_merged_are_one_clean_node(capsys: pytest.CaptureFixture[str]) -> None:
    result = ok(run(capsys, "check", "--merge", *PER_RULE, "--from", "196.45.28.20", "--role", "worker"))
    assert result.out == ""


def test_merged_findings_name_every_file_and_see_the_later_patch(capsys: pytest.CaptureFixture[str]) -> None:
    result = run(capsys, "check", "--merge", *PER_RULE, "--subnet", "10.0.0.0/16", "--subnet", "fd00::/64")
    assert result.code == 1
    # The later patch replaced kubelet-ingress's sources with the IPv4 node subnet only.
    assert result.out_lines == [
        (
            f"{' + '.join(PER_RULE)}: NetworkRuleConfig/kubelet-ingress: lists only IPv4 sources on a dual-stack "
            "node (--subnet 10.0.0.0/16, fd00::/64), so 10250/tcp is closed over IPv6; add the IPv6 sources too"
        )
    ]


def test_rules_without_a_default_action_ask_for_the_rest(capsys: pytest.CaptureFixture[str]) -> None:
    result = run(capsys, "check", PER_RULE[1], "--from", "196.45.28.20")
    assert result.code == 1
    assert result.out_lines == [
        (
            f"{PER_RULE[1]}: firewall: no NetworkDefaultActionConfig, so what the rules allow depends on the config "
            "they patch; give that file too, first, with --merge (the lockout and profile checks need it)"
        )
    ]


def test_cilium_with_both_tunnels_wants_both(capsys: pytest.CaptureFixture[str]) -> None:
    result = run(capsys, "check", str(ROOT / "out/worker.yaml"), "--cni", "cilium", "--tunnel", "both")
    assert result.code == 1
    assert result.out_lines == [
        (
            f"{ROOT / 'out/worker.yaml'}: firewall: cilium: cni-vxlan (Cilium VXLAN overlay) needs 8472/udp and no rule "
            "allows it; add a rule from nodes: cross-node pod traffic is encapsulated in VXLAN, Cilium's default tunnel "
            "protocol; without it every cross-node pod connection breaks"
        )
    ]
    assert ok(run(capsys, "check", str(ROOT / "out/worker.yaml"), "--cni", "cilium", "--tunnel", "geneve")).out == ""
