"""``action.yml``, the composite GitHub Action, parses and its steps run.

The run steps are executed as a runner would (``bash -eo pipefail``, ``GITHUB_ACTION_PATH`` the
action's files, inputs substituted) in a copy of this repository and a user's workspace
holding the reference cluster. The one ``uses`` step, actions/setup-python, is stood in for by
a fresh virtual environment first on PATH; the install step runs in it offline (no index, the
test environment's packages for the dependencies and the build backend).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from talospatch.yamlio import load_all

ROOT = Path(__file__).resolve().parents[1]
ACTION = load_all((ROOT / "action.yml").read_text(encoding="utf-8"), "action.yml")[0]
STEPS: list[dict[str, Any]] = ACTION["runs"]["steps"]
RUN_STEPS = [step for step in STEPS if "run" in step]
EXPRESSION = re.compile(r"\$\{\{\s*([^}]*?)\s*\}\}")


def test_action_is_a_composite_with_documented_inputs() -> None:
    assert ACTION["runs"]["using"] == "composite"
    assert set(ACTION["inputs"]) == {"specs", "patches", "python-version"}
    assert all(entry.get("description") for entry in ACTION["inputs"].values())
    assert ACTION["inputs"]["specs"]["default"] == "talospatch.yaml"


def test_steps_use_only_declared_inputs_and_setup_python() -> None:
    uses = [step["uses"] for step in STEPS if "uses" in step]
    assert uses == ["actions/setup-python@v5"]
    for step in RUN_STEPS:
        assert step["shell"] == "bash"
        # Inputs reach the shell through env, never pasted into the script.
        assert not EXPRESSION.search(step["run"]), step["run"]
    used = {m.group(1) for step in STEPS for m in EXPRESSION.finditer(repr(step))}
    assert used == {f"inputs.{name}" for name in ACTION["inputs"]}


def test_action_installs_its_own_checkout_not_the_package_index() -> None:
    install = RUN_STEPS[0]["run"]
    assert '"$GITHUB_ACTION_PATH"' in install
    bare = re.compile(r"pip install (-U |--upgrade )?['\"]?talospatch(?![ ]*@)")
    assert not any(bare.search(step["run"]) for step in RUN_STEPS)


@dataclass(frozen=True)
class Runner:
    """A stand-in for a GitHub runner: the Python setup-python gives, the action's files."""

    python: Path
    action_path: Path

    def run(self, workspace: Path, inputs: dict[str, str]) -> list[subprocess.CompletedProcess[str]]:
        """Run the action's run steps in order, stopping at the first that fails."""
        values = {name: entry.get("default", "") for name, entry in ACTION["inputs"].items()} | inputs
        env = {
            **os.environ,
            "PATH": f"{self.python.parent}{os.pathsep}{os.environ['PATH']}",
            "GITHUB_ACTION_PATH": str(self.action_path),
            # Offline: no index, the test environment's packages and build backend (see .pth).
            "PIP_NO_INDEX": "1",
            "PIP_NO_DEPS": "1",
            "PIP_NO_BUILD_ISOLATION": "0",
        }
        done = []
        for step in RUN_STEPS:
            step_env = {
                key: EXPRESSION.sub(lambda m: values[m.group(1).removeprefix("inputs.")], str(value))
                for key, value in (step.get("env") or {}).items()
            }
            result = subprocess.run(
                ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
                cwd=workspace,
                env={**env, **step_env},
                capture_output=True,
                text=True,
                timeout=300,
            )
            done.append(result)
            if result.returncode != 0:
                break
        return done


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Runner:
    base = tmp_path_factory.mktemp("runner")
    action_path = base / "talospatch"
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    for name in files.splitlines():
        if name.startswith(("talospatch/", "profiles/")) or name in ("pyproject.toml", "README.md", "action.yml"):
            (action_path / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, action_path / name)
    venv = base / "python"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
    python = venv / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (Path(site) / "test-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    return Runner(python, action_path)


def _workspace(tmp_path: Path) -> Path:
    """A user's repository: the reference cluster and its built out/."""
    shutil.copy(ROOT / "talospatch.yaml", tmp_path / "talospatch.yaml")
    shutil.copytree(ROOT / "out", tmp_path / "out")
    return tmp_path


def test_action_installs_at_its_ref_and_passes_a_fresh_cluster(runner: Runner, tmp_path: Path) -> None:
    results = runner.run(_workspace(tmp_path), {})
    assert [r.returncode for r in results] == [0, 0, 0], [r.stderr for r in results]
    installed = subprocess.run(
        [str(runner.python), "-c", "import talospatch; print(talospatch.__file__)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert installed.startswith(str(runner.python.parents[1])), installed  # the action's copy, installed
    assert results[1].stdout == ""  # build --check: nothing stale
    assert results[2].stdout == ""  # check: no finding


def test_action_fails_a_stale_output_folder(runner: Runner, tmp_path: Path) -> None:
    workspace = _workspace(tmp_path)
    worker = workspace / "out" / "worker.yaml"
    worker.write_text(worker.read_text(encoding="utf-8").replace("- 10250", "- 10251"), encoding="utf-8")
    results = runner.run(workspace, {})
    assert [r.returncode for r in results] == [0, 1]
    assert "out/worker.yaml: stale" in results[1].stdout


def test_action_checks_the_given_patches_and_other_specs(runner: Runner, tmp_path: Path) -> None:
    workspace = _workspace(tmp_path)
    (workspace / "cluster").mkdir()
    spec = "cni: flannel\nsubnets: [10.0.0.0/24]\nadmins: [198.51.100.7]\nfor: talhelper\nroles: {worker: }\n"
    (workspace / "cluster" / "talospatch.yaml").write_text(spec, encoding="utf-8")
    subprocess.run(
        [sys.executable, "-m", "talospatch", "build", "cluster/talospatch.yaml"],
        cwd=workspace,
        check=True,
        capture_output=True,
    )
    specs = "talospatch.yaml cluster/talospatch.yaml"
    assert [r.returncode for r in runner.run(workspace, {"specs": specs})] == [0, 0, 0]
    # A hazard in a given patch fails the check step.
    shutil.copy(ROOT / "tests" / "fixtures" / "check" / "open-to-everyone.yaml", workspace / "extra.yaml")
    results = runner.run(workspace, {"specs": specs, "patches": "out/*.yaml extra.yaml"})
    assert [r.returncode for r in results] == [0, 0, 1]
    assert "extra.yaml" in results[2].stdout
    assert "out/worker.yaml" not in results[2].stdout


def test_no_patch_to_check_is_an_error(runner: Runner, tmp_path: Path) -> None:
    results = runner.run(_workspace(tmp_path), {"patches": "nothing/*.yaml"})
    assert [r.returncode for r in results] == [0, 0, 3]
    assert results[2].stderr == "talospatch: error: no patch files to check\n"


NODE_SPEC = """\
cni: flannel
subnets: [10.0.0.0/24]
controlplane: [10.0.0.11]
admins: [198.51.100.7]
output: nodes-out
nodes:
  - name: w1
    role: worker
    address: 10.0.0.21
  - name: w2
    role: worker
    address: 10.0.0.22
    addons: [node-exporter]
"""
# A node's own rule that check reports (open-to-everyone): only w2's patch holds it.
OPEN_KUBELET = """\
    extraRules:
      - name: debug-kubelet
        service: kubelet API from anywhere
        ports: [10250]
        protocol: [tcp]
        from: [any]
        why: a mistake the check step must catch
        source: tests/test_action.py
"""


def _node_workspace(tmp_path: Path, spec: str) -> Path:
    tmp_path.mkdir()
    workspace = _workspace(tmp_path)
    (workspace / "nodes.yaml").write_text(spec, encoding="utf-8")
    subprocess.run(
        [sys.executable, "-m", "talospatch", "build", "nodes.yaml"], cwd=workspace, check=True, capture_output=True
    )
    return workspace


def test_action_checks_the_node_patches_build_writes(runner: Runner, tmp_path: Path) -> None:
    workspace = _node_workspace(tmp_path / "clean", NODE_SPEC)
    assert sorted(p.name for p in (workspace / "nodes-out" / "nodes").iterdir()) == ["w1.yaml", "w2.yaml"]
    results = runner.run(workspace, {"specs": "talospatch.yaml nodes.yaml"})
    assert [r.returncode for r in results] == [0, 0, 0], [r.stderr for r in results]
    # A hazard in a node's own patch (its role patches are clean) fails the check step.
    hazard = _node_workspace(tmp_path / "hazard", NODE_SPEC + OPEN_KUBELET)
    results = runner.run(hazard, {"specs": "talospatch.yaml nodes.yaml"})
    assert [r.returncode for r in results] == [0, 0, 1], [r.stderr for r in results]
    found = results[2].stdout.splitlines()
    assert found
    assert all(line.startswith("nodes-out/nodes/w2.yaml: ") for line in found), found
    assert any("debug-kubelet" in line and "open to 0.0.0.0/0" in line for line in found), found


def test_a_spec_whose_nodes_take_their_role_patches_checks_no_node_file(tmp_path: Path) -> None:
    from talospatch.spec.load import load_spec
    from talospatch.spec.nodes import node_patches

    same = NODE_SPEC.replace("    addons: [node-exporter]\n", "")
    (tmp_path / "same.yaml").write_text(same, encoding="utf-8")
    (tmp_path / "differs.yaml").write_text(NODE_SPEC, encoding="utf-8")
    assert node_patches(load_spec(str(tmp_path / "same.yaml"))) == []
    folder = tmp_path / "nodes-out" / "nodes"
    assert node_patches(load_spec(str(tmp_path / "differs.yaml"))) == [folder / "w1.yaml", folder / "w2.yaml"]
