"""``talospatch build`` and ``build --check``: specs to out/, drift, tombstones for removed rules."""

from __future__ import annotations

import tempfile
import textwrap
from pathlib import Path
from typing import Any

import pytest

from talospatch.talos.documents import apply_patches
from talospatch.yamlio import load_all
from testing.cluster import REFERENCE_SPEC
from testing.runner import ERROR, error_message, ok, run

SPEC = REFERENCE_SPEC


def write_spec(folder: Path, text: str = SPEC, name: str = "talospatch.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def names(path: Path) -> tuple[list[str], list[str]]:
    """(rule names, deleted names) of an output file."""
    docs = load_all(path.read_text(encoding="utf-8"), str(path))
    rules = [d["name"] for d in docs if d.get("kind") == "NetworkRuleConfig" and "$patch" not in d]
    deleted = [d["name"] for d in docs if d.get("$patch") == "delete"]
    return rules, deleted


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_build_writes_one_patch_per_role_then_nothing(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    write_spec(tmp_path)
    monkeypatch.chdir(tmp_path)
    first = ok(run(capsys, "build"))
    assert first.out == "out/controlplane.yaml: written\nout/worker.yaml: written\n"
    assert first.err == ""  # from: given, so no --mode=try reminder
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["controlplane.yaml", "worker.yaml"]
    before = snapshot(tmp_path)
    stats = {p.name: p.stat() for p in (tmp_path / "out").iterdir()}
    again = ok(run(capsys, "build"))
    assert again.out == "out/controlplane.yaml: unchanged\nout/worker.yaml: unchanged\n"
    assert snapshot(tmp_path) == before
    # An unchanged file is not written again: the same inode, not touched.
    for path in (tmp_path / "out").iterdir():
        assert (path.stat().st_ino, path.stat().st_mtime_ns) == (stats[path.name].st_ino, stats[path.name].st_mtime_ns)
    assert ok(run(capsys, "build", "--check")).out == ""


def test_build_without_from_reminds_of_try_mode(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    spec = write_spec(tmp_path, SPEC.replace("from: [196.45.28.20]\n", ""))
    result = ok(run(capsys, "build", str(spec)))
    assert any("--mode=try" in w and str(spec) in w for w in result.warnings)


def test_several_specs_one_bad_builds_the_others(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    good = write_spec(tmp_path / "a")
    bad = write_spec(tmp_path / "b", SPEC + "addons: [hubble, hubbel]\n")
    also_good = write_spec(tmp_path / "c", SPEC.replace("cilium", "flannel").replace("tunnel: geneve\n", ""))
    result = run(capsys, "build", str(good), str(bad), str(also_good))
    assert result.code == 3
    assert result.errors == [
        f"{bad}:7: addons[1]: unknown add-on 'hubbel'; valid: " + result.errors[0].split("valid: ")[1]
    ]
    assert (tmp_path / "a" / "out" / "worker.yaml").exists()
    assert (tmp_path / "c" / "out" / "worker.yaml").exists()
    assert not (tmp_path / "b" / "out").exists()
    assert "name: cni-vxlan" in (tmp_path / "c" / "out" / "worker.yaml").read_text(encoding="utf-8")


def _fail_on_second_file(monkeypatch: pytest.MonkeyPatch, error: BaseException) -> None:
    """Staging the second file of a spec raises ``error``."""
    calls: list[str] = []
    mkstemp = tempfile.mkstemp

    def second_fails(*args: Any, **kwargs: Any) -> tuple[int, str]:
        calls.append(kwargs.get("prefix", ""))
        if len(calls) == 2:
            raise error
        return mkstemp(*args, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", second_fails)


def test_a_spec_whose_second_file_fails_to_write_changes_nothing(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    spec = write_spec(tmp_path)
    out = tmp_path / "out"
    with monkeypatch.context() as patched:
        _fail_on_second_file(patched, OSError(28, "No space left on device"))
        message = error_message(run(capsys, "build", str(spec)))
    # Named by the spec key that gave the folder (the spec's first line when output is the default).
    assert message == f"{spec}:1: output {out}/worker.yaml: cannot write: No space left on device"
    assert not out.exists()  # neither file, no staged temporary file, and not the folder made for them

    ok(run(capsys, "build", str(spec)))
    before = snapshot(tmp_path)
    inodes = {p.name: p.stat().st_ino for p in out.iterdir()}
    write_spec(tmp_path, SPEC.replace("admins: [196.45.28.20/32]", "admins: [196.45.28.20/32, 198.51.100.0/24]"))
    with monkeypatch.context() as patched:
        _fail_on_second_file(patched, OSError(28, "No space left on device"))
        assert run(capsys, "build", str(spec)).code == 3
    assert snapshot(tmp_path) == {**before, "talospatch.yaml": spec.read_bytes()}
    assert {p.name: p.stat().st_ino for p in out.iterdir()} == inodes


def test_an_interrupted_build_leaves_no_staged_files(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    spec = write_spec(tmp_path)
    ok(run(capsys, "build", str(spec)))
    before = snapshot(tmp_path)
    write_spec(tmp_path, SPEC.replace("admins: [196.45.28.20/32]", "admins: [196.45.28.20/32, 198.51.100.0/24]"))
    _fail_on_second_file(monkeypatch, KeyboardInterrupt())
    assert run(capsys, "build", str(spec)).code == 130
    assert snapshot(tmp_path) == {**before, "talospatch.yaml": spec.read_bytes()}


def test_a_lockout_fails_the_spec_and_writes_nothing(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    spec = write_spec(tmp_path, SPEC.replace("from: [196.45.28.20]", "from: [203.0.113.9]"))
    result = run(capsys, "build", str(spec))
    assert result.code == 1
    assert result.out == ""
    assert any(
        line.startswith(f"{spec}: role controlplane: lockout: 203.0.113.9 would lose 50000/tcp")
        for line in result.errors
    )
    assert any(line.startswith(f"{spec}: role worker: lockout: 203.0.113.9") for line in result.errors)
    assert not (tmp_path / "out").exists()


def test_a_role_error_names_the_spec_and_role(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    spec = write_spec(tmp_path, SPEC.replace("tunnel: geneve", "tunnel: wireguard"))
    message = error_message(run(capsys, "build", str(spec)))
    assert (
        message
        == f"{spec}: role controlplane: unknown tunnel 'wireguard' for cilium; valid: vxlan, geneve, both, native"
    )
    message = error_message(run(capsys, "build", str(tmp_path / "nope.yaml")))
    assert message == f"{tmp_path / 'nope.yaml'}: no such file (a cluster spec; talospatch init writes one)"


def test_default_spec_missing(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    assert error_message(run(capsys, "build", "--check")).startswith("talospatch.yaml: no such file")


def test_check_reports_missing_stale_and_extra_and_writes_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    spec = write_spec(tmp_path)
    out = tmp_path / "out"
    result = run(capsys, "build", "--check", str(spec))
    assert result.code == 1
    assert not out.exists()
    assert result.errors[:2] == [f"{out}/controlplane.yaml: missing", f"{out}/worker.yaml: missing"]
    assert result.out.startswith(f"{out}/controlplane.yaml: missing; it would hold ")
    assert f"--- /dev/null\n+++ {out}/worker.yaml (built)\n" in result.out

    ok(run(capsys, "build", str(spec)))
    (out / "old-role.yaml").write_text("{}\n", encoding="utf-8")
    warned = ok(run(capsys, "build", str(spec)))
    assert warned.warnings == [
        f"{out}/old-role.yaml: no role of {spec} produces it; delete it (build --check fails while it is there)"
    ]
    spec.write_text(
        SPEC.replace("admins: [196.45.28.20/32]", "admins: [196.45.28.20/32, 198.51.100.0/24]"), encoding="utf-8"
    )
    before = snapshot(tmp_path)
    result = run(capsys, "build", "--check", str(spec))
    assert snapshot(tmp_path) == before
    assert result.code == 1
    assert result.errors == [
        f"{out}/controlplane.yaml: stale",
        f"{out}/worker.yaml: stale",
        f"{out}/old-role.yaml: extra: no role of {spec} produces it",
        "run talospatch build and commit the result",
    ]
    summary, _, diffs = result.out.partition("--- ")
    assert (
        f"{out}/worker.yaml: stale; traffic changes:\n  + 198.51.100.0/24 gains 50000/tcp (apid-ingress)\n" in summary
    )
    assert "+ 198.51.100.0/24 gains 6443/tcp (kubernetes-api-ingress)" in summary
    assert f"{out}/old-role.yaml: extra" in summary
    assert "+    - subnet: 198.51.100.0/24\n" in diffs
    assert (
        "-#   talospatch build talospatch.yaml (Talos v1.14.0) (generation 1)\n+#   talospatch build talospatch.yaml (Talos v1.14.0) (generation 2)\n"
        in diffs
    )


def test_check_without_traffic_change_says_so(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    spec = write_spec(tmp_path)
    ok(run(capsys, "build", str(spec)))
    worker = tmp_path / "out" / "worker.yaml"
    worker.write_text(worker.read_text(encoding="utf-8").replace("# why:", "# reason:"), encoding="utf-8")
    result = run(capsys, "build", "--check", str(spec))
    assert result.code == 1
    assert f"{worker}: stale; no traffic change\n" in result.out


def test_removing_an_addon_leaves_delete_documents_until_it_returns(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    spec = write_spec(tmp_path, SPEC + "addons: [hubble, node-exporter]\n")
    worker = tmp_path / "out" / "worker.yaml"
    ok(run(capsys, "build", str(spec)))
    rules, deleted = names(worker)
    assert {"hubble-ingress", "node-exporter-ingress"} <= set(rules)
    assert deleted == []

    spec.write_text(SPEC + "addons: [node-exporter]\n", encoding="utf-8")
    assert ok(run(capsys, "build", str(spec))).out.endswith("worker.yaml: updated (generation 2)\n")
    rules, deleted = names(worker)
    assert "hubble-ingress" not in rules
    assert deleted == ["hubble-ingress"]
    text = worker.read_text(encoding="utf-8")
    assert (
        "# hubble-ingress: removed in generation 2: profile hubble is no longer selected for role\n"
        "# worker. Deletes it from nodes that still have it (a no-op on the others); kept until the\n"
        "# rule returns.\n"
        "apiVersion: v1alpha1\nkind: NetworkRuleConfig\nname: hubble-ingress\n$patch: delete\n"
    ) in text
    # What a node has after the old patch, then the new one: exactly the generated rules.
    old_node = [("old", [d for d in load_all(text.replace("$patch: delete", "# x"), "x") if d])]
    applied = apply_patches([*old_node, ("new", load_all(text, "new"))])
    assert [r.name for r in applied.rules if r.name == "hubble-ingress"] == []
    assert sorted(r.name for r in applied.rules) == sorted(rules)

    # A later build that changes something else keeps the tombstone and its words.
    spec.write_text(SPEC + "addons: []\n", encoding="utf-8")
    ok(run(capsys, "build", str(spec)))
    _, deleted = names(worker)
    assert deleted == ["hubble-ingress", "node-exporter-ingress"]
    assert "# hubble-ingress: removed in generation 2:" in worker.read_text(encoding="utf-8")
    assert "# node-exporter-ingress: removed in generation 3:" in worker.read_text(encoding="utf-8")
    assert ok(run(capsys, "build", "--check", str(spec))).out == ""

    # The rule returns: its tombstone goes.
    spec.write_text(SPEC + "addons: [hubble]\n", encoding="utf-8")
    ok(run(capsys, "build", str(spec)))
    rules, deleted = names(worker)
    assert "hubble-ingress" in rules
    assert deleted == ["node-exporter-ingress"]


def test_keep_tombstones_drops_them_after_n_generations(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    spec = write_spec(tmp_path, SPEC + "keepTombstones: 2\naddons: [hubble]\nroles: {worker: {}}\n")
    worker = tmp_path / "out" / "worker.yaml"
    ok(run(capsys, "build", str(spec)))  # generation 1
    spec.write_text(SPEC + "keepTombstones: 2\nroles: {worker: {}}\n", encoding="utf-8")
    ok(run(capsys, "build", str(spec)))  # generation 2: hubble removed
    assert names(worker)[1] == ["hubble-ingress"]
    assert "kept for 2 generations" in worker.read_text(encoding="utf-8").replace("\n# ", " ")
    ok(run(capsys, "build", str(spec)))  # nothing changed: still generation 2
    assert names(worker)[1] == ["hubble-ingress"]
    more_admins = SPEC.replace("admins: [196.45.28.20/32]", "admins: [196.45.28.20/32, 198.51.100.7]")
    spec.write_text(more_admins + "keepTombstones: 2\nroles: {worker: {}}\n", encoding="utf-8")
    ok(run(capsys, "build", str(spec)))  # generation 3
    assert names(worker)[1] == ["hubble-ingress"]
    spec.write_text(SPEC + "keepTombstones: 2\nroles: {worker: {}}\n", encoding="utf-8")
    ok(run(capsys, "build", str(spec)))  # generation 4: two generations after its removal
    assert names(worker)[1] == []
    assert "(generation 4)" in worker.read_text(encoding="utf-8").splitlines()[1]


def test_a_file_written_by_gen_is_taken_over(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    spec = write_spec(tmp_path, SPEC + "roles: {worker: {}}\n")
    (tmp_path / "out").mkdir()
    worker = tmp_path / "out" / "worker.yaml"
    gen = ok(run(capsys, "gen", "--role", "worker", "--subnet", "192.168.30.0/24", "--with", "metallb"))
    worker.write_text(gen.out, encoding="utf-8")
    ok(run(capsys, "build", str(spec)))
    rules, deleted = names(worker)
    # metallb's rules, and gen's default VXLAN tunnel where the spec says geneve.
    assert deleted == ["cni-vxlan", "metallb-memberlist-ingress-tcp", "metallb-memberlist-ingress-udp"]
    assert not any(r.startswith("metallb") for r in rules)
    assert "profile metallb is no longer selected for role worker" in worker.read_text(encoding="utf-8").replace(
        "\n# ", " "
    )


def test_an_unreadable_previous_file_is_an_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    spec = write_spec(tmp_path)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "worker.yaml").write_text("a: [\n", encoding="utf-8")
    message = error_message(run(capsys, "build", str(spec)))
    assert message.startswith(f"{spec}: role worker: {tmp_path}/out/worker.yaml:")
    assert "invalid YAML" in message
    assert not (tmp_path / "out" / "controlplane.yaml").exists()


def test_build_help_lists_check(capsys: pytest.CaptureFixture[str]) -> None:
    result = ok(run(capsys, "build", "--help"))
    assert "--check" in result.out
    assert "[SPEC]..." in result.out
    assert ERROR not in result.err


@pytest.mark.parametrize("command", ["build", "init"])
def test_help_does_not_import_heavy_libraries(command: str) -> None:
    import subprocess
    import sys

    probe = (
        "import sys\nfrom talospatch.cli import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
        "heavy = sorted(m for m in ('pydantic', 'ruamel.yaml') if m in sys.modules)\n"
        "sys.stderr.write('HEAVY=' + ','.join(heavy) + '\\n')\n"
    )
    result = subprocess.run([sys.executable, "-c", probe, command, "--help"], capture_output=True, text=True)
    assert "Usage" in result.stdout
    assert "HEAVY=\n" in result.stderr


def test_service_subnets_reach_the_summarys_node_context(tmp_path: Path) -> None:
    from talospatch.workflows.build import _context, build_spec

    spec = write_spec(tmp_path, SPEC + "serviceSubnets: [10.112.0.0/12]\npodSubnets: [10.200.0.0/16]\n")
    result = build_spec(str(spec))
    context = _context(result.spec, result.files[0].patch)
    assert [str(n) for n in context.service_subnets] == ["10.112.0.0/12"]
    assert [str(n) for n in context.pod_subnets] == ["10.200.0.0/16"]
    plain = build_spec(str(write_spec(tmp_path / "plain")))
    assert [str(n) for n in _context(plain.spec, plain.files[0].patch).service_subnets] == ["10.96.0.0/12"]


def test_output_folder_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    spec = write_spec(tmp_path, SPEC + "output: taken\n")
    (tmp_path / "taken").write_text("a file\n", encoding="utf-8")
    message = error_message(run(capsys, "build", str(spec)))
    assert message == f"{spec}:7: output: {tmp_path}/taken is not a folder"
    spec.write_text(SPEC + "output: taken/out\n", encoding="utf-8")
    message = error_message(run(capsys, "build", str(spec)))
    assert message.startswith(f"{spec}:7: output {tmp_path}/taken/out: cannot create the folder: ")
    assert (tmp_path / "taken").read_text(encoding="utf-8") == "a file\n"


@pytest.mark.parametrize("first", [False, True], ids=["to-compact", "from-compact"])
def test_switching_layouts_deletes_the_other_layouts_documents(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, first: bool
) -> None:
    spec = write_spec(tmp_path, SPEC + ("compact: true\n" if first else ""))
    ok(run(capsys, "build", str(spec)))
    out = tmp_path / "out" / "controlplane.yaml"
    before = out.read_text(encoding="utf-8")
    old_rules, _ = names(out)
    write_spec(tmp_path, SPEC + ("" if first else "compact: true\n"))
    ok(run(capsys, "build", str(spec)))
    new_rules, deleted = names(out)
    assert set(old_rules) != set(new_rules)
    assert sorted(deleted) == sorted(set(old_rules) - set(new_rules))
    # A node that had the old layout, patched with the new file, holds exactly the new documents.
    node = apply_patches([("old", load_all(before, "old")), ("new", load_all(out.read_text(encoding="utf-8"), "new"))])
    assert sorted(r.name for r in node.rules) == sorted(new_rules)
