"""``omni`` read back as Omni reads a cluster template (``testing.omni``, from Omni's sources):
the ConfigPatches it makes hold exactly the documents gen writes for talosctl, a re-export
keeps their IDs, and the user's template keeps everything else."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from talospatch.export import render
from talospatch.registry import ExportOptions
from testing.cluster import REFERENCE_SPEC
from testing.exportnft import REFERENCE, build_cluster_cli
from testing.omni import OmniError, template_patches
from testing.runner import Cli, error_message, ok

FIXTURE = Path(__file__).parent.parent / "fixtures" / "omni"
CP_ID = "402-my-first-cluster-control-planes-talospatch-firewall"  # after the template's own two
WORKERS_ID = "400-my-first-cluster-workers-talospatch-firewall"
CLUSTER_HEAD = "kind: Cluster\nname: lab\nkubernetes:\n  version: v1.34.1\ntalos:\n  version: v1.11.3\n---\n"
GEN = ("--subnet", "192.168.30.0/24", "--cni", "cilium", "--tunnel", "geneve", "--admin", "196.45.28.20/32")
CONTROLPLANES = (
    "--controlplane",
    "192.168.30.11",
    "--controlplane",
    "192.168.30.12",
    "--controlplane",
    "192.168.30.13",
)


def _documents(text: str) -> list[Any]:
    return [d for d in YAML(typ="safe", pure=True).load_all(text) if d is not None]


@pytest.fixture
def gen_documents(cli: Cli) -> dict[str, list[Any]]:
    """What ``gen`` writes for talosctl for each role of the reference cluster."""
    return {
        "controlplane": _documents(ok(cli("gen", "--role", "controlplane", *GEN, *CONTROLPLANES)).out),
        "worker": _documents(ok(cli("gen", "--role", "worker", *GEN)).out),
    }


def _template(tmp_path: Path) -> Path:
    """The user's template (Omni's example) and the patch files it names, in a folder of its own."""
    folder = tmp_path / "omni"
    shutil.copytree(FIXTURE, folder)
    return folder / "cluster-template.yaml"


def _merge(template: Path, **options: Any) -> str:
    result = render(
        "omni",
        build_cluster_cli(REFERENCE),
        ExportOptions(merge_into=template.read_bytes(), merge_name=str(template), **options),
    )
    (text,) = result.files.values()
    return text


def _machine_set(patches: dict[str, Any], machine_set: str) -> list[Any]:
    """Every document the machine set's config gets from the template's patches, in ID order
    (the cluster's first): how Omni applies them."""
    return [
        doc
        for patch_id in sorted(patches)
        if patches[patch_id].machine_set in ("", machine_set) and not patch_id.startswith("400-cm-")
        for doc in _documents(patches[patch_id].text)
    ]


def _firewall(documents: list[Any]) -> list[Any]:
    return [d for d in documents if str(d.get("kind", "")).startswith("Network")]


def test_merged_template_carries_exactly_gens_documents(tmp_path: Path, gen_documents: dict[str, list[Any]]) -> None:
    template = _template(tmp_path)
    template.write_text(_merge(template), encoding="utf-8")
    patches = template_patches(template)
    assert _documents(patches[CP_ID].text) == gen_documents["controlplane"]
    assert _documents(patches[WORKERS_ID].text) == gen_documents["worker"]


def test_the_users_template_keeps_its_documents_and_comments(tmp_path: Path) -> None:
    template = _template(tmp_path)
    before = _documents(template.read_text())
    merged = _merge(template)
    after = _documents(merged)
    for document in after:
        document["patches"] = [p for p in document.get("patches", []) if p.get("name") != "talospatch-firewall"]
    for document in before:
        document.setdefault("patches", [])
    assert after == before
    assert "# name is derived from the filename" in merged
    assert "# weight is implied (000-999)" in merged


def test_a_re_export_replaces_its_patches_and_keeps_their_ids(tmp_path: Path) -> None:
    template = _template(tmp_path)
    template.write_text(_merge(template), encoding="utf-8")
    first = template.read_text()
    ids = set(template_patches(template))
    # the user adds a patch after talospatch's; the next export keeps talospatch's in its place
    template.write_text(
        first.replace(
            "---\nkind: Workers\n",
            "  - name: late\n    inline:\n      machine:\n        sysctls:\n          a.b: '1'\n---\nkind: Workers\n",
        ),
        encoding="utf-8",
    )
    again = _merge(template)
    assert again.count("name: talospatch-firewall") == 2
    template.write_text(again, encoding="utf-8")
    assert set(template_patches(template)) == ids | {"403-my-first-cluster-control-planes-late"}
    assert _merge(template) == again


def test_cluster_default_action_goes_to_the_cluster_and_back(
    tmp_path: Path, gen_documents: dict[str, list[Any]]
) -> None:
    template = _template(tmp_path)
    template.write_text(_merge(template, cluster_default_action=True), encoding="utf-8")
    patches = template_patches(template)
    assert _documents(patches["202-cluster-my-first-cluster-talospatch-default-action"].text) == [
        {"apiVersion": "v1alpha1", "kind": "NetworkDefaultActionConfig", "ingress": "block"}
    ]
    assert all(d["kind"] == "NetworkRuleConfig" for d in _documents(patches[CP_ID].text))
    # what each machine set's config gets is what gen writes
    assert _firewall(_machine_set(patches, "my-first-cluster-control-planes")) == gen_documents["controlplane"]
    assert _firewall(_machine_set(patches, "my-first-cluster-workers")) == gen_documents["worker"]
    # and back: the Cluster's entry goes, the machine sets carry the default action again
    template.write_text(_merge(template), encoding="utf-8")
    patches = template_patches(template)
    assert not any("talospatch-default-action" in patch_id for patch_id in patches)
    assert _documents(patches[CP_ID].text) == gen_documents["controlplane"]


@pytest.mark.parametrize("inline", [False, True])
def test_the_documents_beside_a_cluster_make_a_valid_template(
    tmp_path: Path, gen_documents: dict[str, list[Any]], inline: bool
) -> None:
    """The export alone (files beside it, or inline) with the user's Cluster document above it."""
    result = render("omni", build_cluster_cli(REFERENCE), ExportOptions(inline=inline))
    assert sorted(result.files) == (
        ["talospatch-omni.yaml"]
        if inline
        else ["talospatch-controlplane.yaml", "talospatch-omni.yaml", "talospatch-worker.yaml"]
    )
    for name, text in result.files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    template = tmp_path / "cluster-template.yaml"
    template.write_text(CLUSTER_HEAD + result.files["talospatch-omni.yaml"], encoding="utf-8")
    patches = template_patches(template)
    assert sorted(patches) == ["400-lab-control-planes-talospatch-firewall", "400-lab-workers-talospatch-firewall"]
    assert _documents(patches["400-lab-control-planes-talospatch-firewall"].text) == gen_documents["controlplane"]
    assert _documents(patches["400-lab-workers-talospatch-firewall"].text) == gen_documents["worker"]


def test_cluster_default_action_alone_warns_of_a_workers_set_without_its_patch() -> None:
    result = render("omni", build_cluster_cli(REFERENCE), ExportOptions(inline=True, cluster_default_action=True))
    assert result.warnings == (
        (
            "omni: the default action is the Cluster's entry: a Workers document without the talospatch-firewall "
            "entry blocks all ingress but ICMP and SideroLink (--merge-into puts it in every one)"
        ),
    )
    (text,) = result.files.values()
    kinds = [d["kind"] for d in _documents(text)]
    assert kinds == ["Cluster", "ControlPlane", "Workers"]


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("kind: ControlPlane\npatches:\n  - file: ../x.yaml\n", id="a file outside --allowed-dir"),
        pytest.param("kind: ControlPlane\npatches:\n  - inline:\n      machine: {}\n", id="inline without a name"),
        pytest.param("kind: ControlPlane\nmachinez: []\n", id="an unknown key"),
        pytest.param(
            "kind: ControlPlane\npatches:\n  - name: a\n    inline:\n      machine:\n        token: x\n",
            id="a field Omni controls",
        ),
        pytest.param("kind: ControlPlane\n---\nkind: ControlPlane\n", id="two ControlPlanes"),
    ],
)
def test_the_reader_refuses_what_omni_refuses(tmp_path: Path, text: str) -> None:
    """Controls: the reader is not a pass-through."""
    (tmp_path / "sub").mkdir()
    (tmp_path / "x.yaml").write_text("machine: {}\n", encoding="utf-8")
    template = tmp_path / "sub" / "t.yaml"
    template.write_text(CLUSTER_HEAD + text, encoding="utf-8")
    with pytest.raises(OmniError):
        template_patches(template)


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("kind: Cluster\nname: a\n  bad: [\n", "invalid YAML"),
        ("kind: Cluster\nname: a\n", "an Omni cluster template has one kind: ControlPlane document, this one has 0"),
        ("kind: ControlPlane\n", "an Omni cluster template has one kind: Cluster document, this one has 0"),
        ("kind: Cluster\n---\nkind: Cluster\n---\nkind: ControlPlane\n", "one kind: Cluster document, this one has 2"),
        ("- a\n", "document 1 is not a cluster-template document (a mapping with a kind)"),
        (
            "kind: Cluster\n---\nkind: ControlPlane\npatches: 3\n",
            "document 2 (kind: ControlPlane): patches is not a list",
        ),
    ],
)
def test_a_template_it_cannot_merge_into_is_one_line_and_exit_3(
    cli: Cli, tmp_path: Path, template: str, message: str
) -> None:
    path = tmp_path / "cluster-template.yaml"
    path.write_text(template, encoding="utf-8")
    result = cli("export", "omni", *GEN, "--merge-into", str(path))
    assert message in error_message(result)
    assert error_message(result).startswith(str(path))
    assert result.out == ""


def test_not_utf8_is_one_line(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_bytes(b"kind: \xff\n")
    assert error_message(cli("export", "omni", *GEN, "--merge-into", str(path))) == (
        f"{path}: not UTF-8 text (want an Omni cluster template)"
    )


@pytest.mark.parametrize("flag", ["--inline", "--cluster-default-action"])
def test_the_flags_apply_to_omni_only(cli: Cli, flag: str) -> None:
    assert error_message(cli("export", "aws-terraform", *GEN, flag)) == f"{flag} applies to the omni target only"


def test_export_without_output_dir_wants_one_unless_inline(cli: Cli) -> None:
    result = cli("export", "omni", *GEN)
    assert result.code == 2
    assert "omni writes several files: give --output-dir DIR" in result.err
    assert _documents(ok(cli("export", "omni", *GEN, "--inline")).out)[0]["kind"] == "ControlPlane"


def test_export_merges_and_warns_of_a_template_without_workers(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text("kind: Cluster\nname: a\n---\nkind: ControlPlane\n", encoding="utf-8")
    result = ok(cli("export", "omni", *GEN, "--merge-into", str(path)))
    assert f"omni: {path} has no kind: Workers document: the worker patch is in none" in result.err
    assert _documents(result.out)[1]["patches"][0]["name"] == "talospatch-firewall"


def test_build_writes_and_checks_it(cli: Cli, tmp_path: Path) -> None:
    spec = tmp_path / "talospatch.yaml"
    exports = """\
        exports:
          - target: omni
            output: omni
          - target: omni
            output: omni-inline
            inline: true
            clusterDefaultAction: true
        """
    spec.write_text(REFERENCE_SPEC + textwrap.dedent(exports), encoding="utf-8")
    result = ok(cli("build", str(spec)))
    assert "the default action is the Cluster's entry" in result.err
    assert sorted(p.name for p in (tmp_path / "omni").iterdir()) == [
        "talospatch-controlplane.yaml",
        "talospatch-omni.yaml",
        "talospatch-worker.yaml",
    ]
    assert [p.name for p in (tmp_path / "omni-inline").iterdir()] == ["talospatch-omni.yaml"]
    ok(cli("build", "--check", str(spec)))
    (tmp_path / "omni" / "talospatch-worker.yaml").write_text("# edited\n", encoding="utf-8")
    assert cli("build", "--check", str(spec)).code != 0


def test_a_spec_key_of_another_target_is_refused(cli: Cli, tmp_path: Path) -> None:
    spec = tmp_path / "talospatch.yaml"
    spec.write_text(
        REFERENCE_SPEC + "exports:\n  - target: aws-terraform\n    output: aws\n    inline: true\n", encoding="utf-8"
    )
    assert error_message(cli("build", str(spec))).endswith("exports[0].inline: applies to the omni target only")


def test_every_workers_document_gets_the_worker_entry(tmp_path: Path, gen_documents: dict[str, list[Any]]) -> None:
    template = tmp_path / "cluster-template.yaml"
    template.write_text(
        CLUSTER_HEAD + "kind: ControlPlane\n---\nkind: Workers\nname: a\n---\nkind: Workers\nname: b\n",
        encoding="utf-8",
    )
    merged = _merge(template)
    assert "&" not in merged  # each written out, no YAML anchor and alias
    template.write_text(merged, encoding="utf-8")
    patches = template_patches(template)
    for machine_set in ("a", "b"):
        assert _documents(patches[f"400-lab-{machine_set}-talospatch-firewall"].text) == gen_documents["worker"]
