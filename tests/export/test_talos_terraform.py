"""``talos-terraform`` read back with python-hcl2 and ``terraform fmt -check``: one ``file()``
of each role's built patch, from the export's folder to the patches' folder."""

from __future__ import annotations

import shutil
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import hcl2
import pytest
from hcl2.utils import SerializationOptions

from talospatch.export import render
from talospatch.registry import ExportOptions
from testing.cluster import REFERENCE_SPEC, SPEC_NODES
from testing.exportnft import REFERENCE, build_cluster_cli
from testing.runner import Cli, error_message, ok

HCL = SerializationOptions(strip_string_quotes=True, explicit_blocks=False, with_comments=False)
FILE = "talospatch-patches.tf"


def _text(patches_dir: str = "out") -> str:
    return render("talos-terraform", build_cluster_cli(REFERENCE), ExportOptions(patches_dir=patches_dir)).files[FILE]


def _patches(text: str) -> dict[str, Any]:
    doc: dict[str, Any] = hcl2.loads(text, serialization_options=HCL)
    (locals_,) = doc["locals"]
    patches: dict[str, Any] = locals_["talospatch_config_patches"]
    return patches


@pytest.mark.parametrize(
    ("patches_dir", "folder"),
    [
        ("out", "${path.module}/out"),
        ("../talos/out/", "${path.module}/../talos/out"),
        (".", "${path.module}"),
        ("/srv/talos", "/srv/talos"),
    ],
)
def test_each_role_reads_its_built_patch(patches_dir: str, folder: str) -> None:
    assert _patches(_text(patches_dir)) == {
        "controlplane": [f'${{file("{folder}/controlplane.yaml")}}'],
        "worker": [f'${{file("{folder}/worker.yaml")}}'],
    }


def test_the_header_shows_the_data_source_that_takes_them() -> None:
    text = _text()
    assert "#     config_patches = local.talospatch_config_patches.controlplane" in text
    assert '#   data "talos_machine_configuration" "worker" {' in text


@pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform is not on PATH")
@pytest.mark.parametrize("patches_dir", ["out", "../talos/out"])
def test_terraform_fmt_leaves_it_as_is(tmp_path: Path, patches_dir: str) -> None:
    (tmp_path / FILE).write_text(_text(patches_dir), encoding="utf-8")
    done = subprocess.run(
        ["terraform", "fmt", "-check", "-diff", FILE], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("patches_dir", ["", "my patches", 'a"b', "${var.x}", "a\\b", "%{x}"])
def test_a_path_it_cannot_write_is_one_line_and_exit_3(cli: Cli, tmp_path: Path, patches_dir: str) -> None:
    result = cli(
        "export",
        "talos-terraform",
        "--subnet",
        "192.168.30.0/24",
        "--patches-dir",
        patches_dir,
        "--output-dir",
        str(tmp_path / "tf"),
    )
    assert error_message(result).startswith(f"--patches-dir {patches_dir!r}: want a folder path")
    assert not (tmp_path / "tf").exists()


def test_the_flag_applies_to_this_target_only(cli: Cli) -> None:
    result = cli("export", "aws-terraform", "--subnet", "192.168.30.0/24", "--patches-dir", "out")
    assert error_message(result) == "--patches-dir applies to the talos-terraform target only"


def test_export_prints_the_file(cli: Cli) -> None:
    result = ok(cli("export", "talos-terraform", "--subnet", "192.168.30.0/24", "--patches-dir", "../out"))
    assert _patches(result.out)["worker"] == ['${file("${path.module}/../out/worker.yaml")}']


def test_build_points_from_the_export_folder_to_the_spec_output(cli: Cli, tmp_path: Path) -> None:
    spec = tmp_path / "talospatch.yaml"
    exports = """\
        output: patches
        exports:
          - target: talos-terraform
            output: infra/terraform
        """
    spec.write_text(REFERENCE_SPEC + textwrap.dedent(exports), encoding="utf-8")
    ok(cli("build", str(spec)))
    written = (tmp_path / "infra/terraform" / FILE).read_text(encoding="utf-8")
    patches = _patches(written)
    assert patches == {
        role: [f'${{file("${{path.module}}/../../patches/{role}.yaml")}}'] for role in ("controlplane", "worker")
    }
    # the paths resolve to the files build wrote
    for role in patches:
        assert (tmp_path / "infra/terraform/../../patches" / f"{role}.yaml").is_file()
    ok(cli("build", "--check", str(spec)))


def _node_patches(text: str) -> dict[str, Any] | None:
    doc: dict[str, Any] = hcl2.loads(text, serialization_options=HCL)
    found = [
        block["talospatch_node_config_patches"] for block in doc["locals"] if "talospatch_node_config_patches" in block
    ]
    return found[0] if found else None


@pytest.mark.parametrize("own", ["      admins: [10.9.9.9/32]\n", ""])
def test_a_spec_whose_nodes_differ_gets_each_nodes_patch(cli: Cli, tmp_path: Path, own: str) -> None:
    """build writes out/nodes/NAME.yaml for every node when one has settings of its own; the
    .tf then maps each node to its file (and has no node map when no node differs)."""
    spec = tmp_path / "talospatch.yaml"
    exports = "exports:\n  - target: talos-terraform\n    output: terraform\n"
    spec.write_text(REFERENCE_SPEC + SPEC_NODES + own + exports, encoding="utf-8")
    ok(cli("build", str(spec)))
    text = (tmp_path / "terraform" / FILE).read_text(encoding="utf-8")
    nodes = _node_patches(text)
    if not own:
        assert nodes is None
        assert not (tmp_path / "out" / "nodes").exists()
        return
    assert nodes == {name: [f'${{file("${{path.module}}/../out/nodes/{name}.yaml")}}'] for name in ("cp1", "w1")}
    for name in nodes:
        assert (tmp_path / "out" / "nodes" / f"{name}.yaml").is_file()
    assert '#   config_patches = local.talospatch_node_config_patches["cp1"]' in text
    ok(cli("build", "--check", str(spec)))
    # export --spec says the same, given the patches' folder
    assert ok(cli("export", "talos-terraform", "--spec", str(spec), "--patches-dir", "../out")).out == text


@pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform is not on PATH")
def test_terraform_fmt_leaves_the_node_map_as_is(tmp_path: Path) -> None:
    options = ExportOptions(node_patches=("cp1", "w1", "10-storage"))
    (tmp_path / FILE).write_text(
        render("talos-terraform", build_cluster_cli(REFERENCE), options).files[FILE], encoding="utf-8"
    )
    assert _node_patches((tmp_path / FILE).read_text(encoding="utf-8")) is not None
    done = subprocess.run(
        ["terraform", "fmt", "-check", "-diff", FILE], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
