"""Patches for talhelper: what ``gen --for talhelper`` and ``for: talhelper`` write reads, through
talhelper's own rules (``testing.talhelper``), as exactly the documents written for talosctl;
and every command that reads patches reads such a file as talhelper passes it to Talos."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from talospatch.errors import BadInput
from talospatch.talhelper import MARKER, escape, readable
from talospatch.yamlio import load_all
from testing.runner import Cli, error_message, ok
from testing.talhelper import EnvsubstError, talhelper_documents, talhelper_text

WORKER = ["--role", "worker", "--subnet", "192.168.30.0/24", "--admin", "196.45.28.20/32"]
CONTROLPLANE = ["--role", "controlplane", "--subnet", "192.168.30.0/24", "--controlplane", "192.168.30.11"]
# A node config with rules no profile generates: gen --prune-from writes their tombstones.
NODE = (
    "apiVersion: v1alpha1\nkind: NetworkRuleConfig\nname: 00-break-glass\n"
    "portSelector: {ports: [50000], protocol: tcp}\ningress: [{subnet: 203.0.113.9/32}]\n"
)


def _body(text: str) -> list[str]:
    """The lines from the default-deny comment on: what follows the header."""
    lines = text.splitlines()
    return lines[next(i for i, line in enumerate(lines) if line.startswith("# Default deny")) :]


@pytest.fixture
def node(tmp_path: Path) -> Path:
    path = tmp_path / "node.yaml"
    path.write_text(NODE, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(WORKER, id="worker"),
        pytest.param([*CONTROLPLANE, "--with", "hubble"], id="controlplane"),
        pytest.param([*WORKER, "--compact"], id="compact"),
        pytest.param([*WORKER, "--prune-from", "{node}"], id="tombstones"),
    ],
)
@pytest.mark.parametrize("env", [{}, {"patch": "oops", "HOME": "/root"}], ids=["no-env", "env"])
def test_talhelper_reads_what_gen_writes_for_talosctl(
    cli: Cli, node: Path, args: list[str], env: dict[str, str]
) -> None:
    args = [a.format(node=node) for a in args]
    talosctl = ok(cli("gen", *args)).out
    talhelper = ok(cli("gen", *args, "--for", "talhelper")).out
    assert talhelper_documents(talhelper, env) == load_all(talosctl, "talosctl")
    # Byte for byte too: past the header, talhelper's substitution gives talosctl's file.
    assert _body(readable(talhelper, "talhelper")) == _body(talosctl)


def test_talhelper_refuses_the_tombstone_as_talosctl_reads_it(cli: Cli, node: Path) -> None:
    # The control, and issue 18: "$patch: delete" is a variable to talhelper.
    talosctl = ok(cli("gen", *WORKER, "--prune-from", str(node))).out
    assert "\n$patch: delete\n" in talosctl
    with pytest.raises(EnvsubstError, match=r"variable \$\{patch\} not set"):
        talhelper_documents(talosctl, {})
    talhelper = ok(cli("gen", *WORKER, "--prune-from", str(node), "--for", "talhelper")).out
    assert "\n$$patch: delete\n" in talhelper


@pytest.mark.parametrize(
    ("args", "group"),
    [pytest.param(WORKER, "worker", id="worker"), pytest.param(CONTROLPLANE, "controlPlane", id="controlplane")],
)
def test_header_shows_the_talconfig_lines_and_regenerates(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], group: str
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "out").mkdir()
    role = args[1]
    ok(cli("gen", *args, "--for", "talhelper", "-o", f"out/{role}.yaml"))
    text = (tmp_path / "out" / f"{role}.yaml").read_text(encoding="utf-8")
    lines = text.splitlines()
    assert lines[1].endswith(" --for talhelper")
    assert MARKER in lines
    entry = f'patches: ["@./out/{role}.yaml"]'
    start = lines.index(f"#   {group}:")
    assert lines[start + 1] == f"#     {entry}"
    assert lines[start + 2 : start + 6] == [
        "# or for one node:",
        "#   nodes:",
        "#     - hostname: NODE",
        f"#       {entry}",
    ]
    # The header's command writes the same file again.
    command = shlex.split(lines[1].removeprefix("#   "))
    assert command[:2] == ["talospatch", "gen"]
    assert ok(cli(*command[1:], "-o", f"out/{role}.yaml")).out == ""
    assert (tmp_path / "out" / f"{role}.yaml").read_text(encoding="utf-8") == text


def test_for_nonsense_is_one_line_and_writes_nothing(cli: Cli, tmp_path: Path) -> None:
    target = tmp_path / "worker.yaml"
    message = error_message(cli("gen", *WORKER, "--for", "nonsense", "-o", str(target)))
    assert message == "--for 'nonsense' is not a tool; valid: talosctl, talhelper"
    assert not target.exists()


SPEC = "cni: flannel\nsubnets: [192.168.30.0/24]\nadmins: [196.45.28.20/32]\nroles: {{worker: }}\n{extra}"


def _build(cli: Cli, folder: Path, extra: str) -> str:
    spec = folder / "talospatch.yaml"
    spec.write_text(SPEC.format(extra=extra), encoding="utf-8")
    ok(cli("build", str(spec)))
    return (folder / "out" / "worker.yaml").read_text(encoding="utf-8")


def test_build_for_talhelper_keeps_tombstones_and_reads_its_own_files(cli: Cli, tmp_path: Path) -> None:
    for form in ("talosctl", "talhelper"):
        (tmp_path / form).mkdir()
        _build(cli, tmp_path / form, f"for: {form}\naddons: [node-exporter]\n")
    texts = {form: _build(cli, tmp_path / form, f"for: {form}\n") for form in ("talosctl", "talhelper")}
    assert "\n$$patch: delete\n" in texts["talhelper"]
    assert "# or for one node:" in texts["talhelper"]
    assert talhelper_documents(texts["talhelper"], {}) == load_all(texts["talosctl"], "talosctl")
    assert _body(readable(texts["talhelper"], "talhelper")) == _body(texts["talosctl"])
    spec = str(tmp_path / "talhelper" / "talospatch.yaml")
    worker = str(tmp_path / "talhelper" / "out" / "worker.yaml")
    # Read back as talhelper reads it: nothing to rebuild, the tombstone kept, no finding.
    assert ok(cli("build", spec)).out.endswith("worker.yaml: unchanged\n")
    assert ok(cli("build", "--check", spec)).out == ""
    assert ok(cli("check", worker)).out == ""
    assert cli("diff", str(tmp_path / "talosctl" / "out" / "worker.yaml"), worker).code == 0
    # Switching the spec back to talosctl: the file is stale, then rewritten as talosctl reads it.
    (tmp_path / "talhelper" / "talospatch.yaml").write_text(SPEC.format(extra=""), encoding="utf-8")
    assert cli("build", "--check", spec).code == 1
    ok(cli("build", spec))
    assert "\n$patch: delete\n" in Path(worker).read_text(encoding="utf-8")


def test_spec_for_nonsense_names_the_line(cli: Cli, tmp_path: Path) -> None:
    spec = tmp_path / "talospatch.yaml"
    spec.write_text(SPEC.format(extra="for: nonsense\n"), encoding="utf-8")
    message = error_message(cli("build", str(spec)))
    assert message == f"{spec}:5: for: 'nonsense' is not a tool; valid: talosctl, talhelper"
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        pytest.param(
            "$patch: delete",
            "{path}:5: talhelper reads $patch as an environment variable (this file doubles its dollar signs "
            "elsewhere, as talhelper needs): write $$patch: delete",
            id="undoubled-tombstone",
        ),
        pytest.param(
            "note: {{ .Hostname }}",
            "{path}:5: {{ .Hostname }} is a Go template action for talhelper; talhelper renders it, "
            "talospatch does not: check the config talhelper genconfig writes",
            id="template",
        ),
    ],
)
@pytest.mark.parametrize("command", ["check", "nft", "diff"])
def test_a_file_for_talhelper_that_talospatch_cannot_read_is_one_line(
    cli: Cli, tmp_path: Path, line: str, expected: str, command: str
) -> None:
    path = tmp_path / "mixed.yaml"
    path.write_text(
        "apiVersion: v1alpha1\nkind: NetworkRuleConfig\nname: a\n$$patch: delete\n"
        f"{line}\n---\napiVersion: v1alpha1\nkind: NetworkDefaultActionConfig\ningress: block\n",
        encoding="utf-8",
    )
    files = [str(path), str(path)] if command == "diff" else [str(path)]
    assert error_message(cli(command, *files)) == expected.replace("{path}", str(path))


def test_check_names_talhelper_placeholders(cli: Cli, tmp_path: Path) -> None:
    # A community patch for talhelper: an escaped tombstone beside a variable talhelper fills in.
    path = tmp_path / "community.yaml"
    path.write_text(
        "apiVersion: v1alpha1\nkind: NetworkRuleConfig\nname: old\n$$patch: delete\n---\n"
        "apiVersion: v1alpha1\nkind: NetworkRuleConfig\nname: apid-ingress\n"
        "portSelector: {ports: [50000], protocol: tcp}\ningress: [{subnet: '${ADMIN_CIDR}'}]\n",
        encoding="utf-8",
    )
    result = cli("check", str(path))
    assert result.code == 1
    assert result.err == ""
    assert "ingress[0].subnet is the placeholder ${ADMIN_CIDR}" in result.out


def test_files_for_talosctl_are_read_as_they_are() -> None:
    text = "name: x\n$patch: delete\nnote: ${VAR} {{ y }}\n"
    assert readable(text, "f") == text


@given(st.text(alphabet='${}"#_p a\n', max_size=60))
def test_escape_reads_back_exactly(text: str) -> None:
    escaped = escape(f"{MARKER}\n{text}")
    assert readable(escaped, "f") == f"{MARKER}\n{text}"


def test_escape_reads_back_through_talhelper() -> None:
    # Every substitution either step would make, written so that neither makes one.
    text = "a: '$patch $HOME ${X:-y} {{ z }} {{{ $$'\n$b: '{{\"{{\"}}'\n"
    assert talhelper_documents(escape(text), {}) == load_all(text, "text")
    assert talhelper_text(escape(text), {}).startswith("a: $patch $HOME ${X:-y} {{ z }} {{{ $$\n")
    with pytest.raises(BadInput):
        readable("a: $$x\nb: {{ y }}\n", "f")
