"""check's converged-missing: a control plane that schedules workloads lacks the workers' add-ons.

The NodePort half of the rule is tested in test_config_context.py; here the worker-only add-ons
(``roles: [worker]``) that ``gen --converged`` gives a control plane, known to check from
``--with`` or from a worker's file checked in the same run.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from testing.runner import Cli, Result, error_message

ADDON = """\
kind: addon
description: An ingress controller on the workers' host ports
roles: [worker]
rules:
  - name: ingress-workers-https
    service: ingress controller (hostPort)
    ports: [8443]
    protocol: [tcp]
    from: [any]
    why: clients reach the ingress controller on each worker
    source: a test profile
"""
CONFIG = """\
version: v1alpha1
machine:
  type: controlplane
cluster:
  allowSchedulingOnControlPlanes: true
"""
SUBNET = ["--subnet", "192.168.30.0/24"]
LACKS = "lacks the worker add-on ingress-workers"
FIX = "generate it with gen --role controlplane --converged (a spec: converged: true)"


@pytest.fixture
def cluster(cli: Cli, tmp_path: Path) -> Path:
    """A profiles folder with a worker-only add-on; the worker, control-plane and converged
    control-plane patches gen writes with it; and the control plane's config."""
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "ingress-workers.yaml").write_text(ADDON, encoding="utf-8")
    own = ["--profiles-dir", str(tmp_path / "profiles"), *SUBNET]
    for name, args in (
        ("worker", ["--role", "worker", "--with", "ingress-workers"]),
        ("cp", ["--role", "controlplane"]),
        ("cp-converged", ["--role", "controlplane", "--converged", "--with", "ingress-workers"]),
    ):
        result = cli("gen", *args, *own)
        assert result.code == 0, result.err
        (tmp_path / f"{name}.yaml").write_text(result.out, encoding="utf-8")
        # The node as talosctl get machineconfig shows it: the config and the patch applied.
        (tmp_path / f"{name}-node.yaml").write_text(f"{CONFIG}---\n{result.out}", encoding="utf-8")
    (tmp_path / "config.yaml").write_text(CONFIG, encoding="utf-8")
    return tmp_path


def _check(cli: Cli, folder: Path, *args: str) -> Result:
    """check with the folder's profiles; a name ending .yaml is a file of the folder."""
    files = [str(folder / a) if a.endswith(".yaml") else a for a in args]
    return cli("check", "--profiles-dir", str(folder / "profiles"), *files)


def _findings(cli: Cli, folder: Path, *args: str) -> list[str]:
    result = _check(cli, folder, *args)
    assert result.code in (0, 1), result.err
    assert "Traceback" not in result.err
    return [line for line in result.out_lines if "schedules workloads" in line]


def test_a_worker_add_on_in_the_worker_file_beside_it_is_reported_missing(cli: Cli, cluster: Path) -> None:
    found = _findings(cli, cluster, "cp-node.yaml", "worker.yaml")
    nodeports, addon = found
    assert nodeports.startswith(f"{cluster / 'cp-node.yaml'}: firewall: ")
    assert "no rule allows NodePorts 30000-32767/tcp+udp" in nodeports
    assert f"{LACKS} (its rules stand in {cluster / 'worker.yaml'}, checked beside it)" in addon
    assert "no rule allows 8443/tcp, so its pods on this node are unreachable" in addon
    assert FIX in addon


def test_a_worker_add_on_given_with_with_is_reported_for_the_config_and_patch(cli: Cli, cluster: Path) -> None:
    args = ["--merge", "config.yaml", "cp.yaml", "--with", "ingress-workers"]
    found = _findings(cli, cluster, *args)
    assert len(found) == 2
    assert f"{LACKS} (--with ingress-workers): no rule allows 8443/tcp" in found[1]
    assert found[1].startswith(f"{cluster / 'config.yaml'} + {cluster / 'cp.yaml'}: firewall: ")


def test_without_the_add_on_anywhere_only_the_nodeports_are_reported(cli: Cli, cluster: Path) -> None:
    found = _findings(cli, cluster, "--merge", "config.yaml", "cp.yaml")
    assert len(found) == 1
    assert "no rule allows NodePorts" in found[0]
    # A worker file without the add-on's rules names no add-on.
    plain = cli("gen", "--role", "worker", *SUBNET)
    (cluster / "plain-worker.yaml").write_text(plain.out, encoding="utf-8")
    assert [LACKS in line for line in _findings(cli, cluster, "cp-node.yaml", "plain-worker.yaml")] == [False]


@pytest.mark.parametrize(
    "files",
    [
        pytest.param(["cp-converged-node.yaml", "worker.yaml"], id="beside"),
        pytest.param(["--merge", "config.yaml", "cp-converged.yaml", "--with", "ingress-workers"], id="with"),
    ],
)
def test_a_patch_built_with_converged_is_clean(cli: Cli, cluster: Path, files: list[str]) -> None:
    result = _check(cli, cluster, *files)
    assert result.code == 0, result.out + result.err
    assert result.out == ""


def test_a_worker_file_is_no_converged_control_plane(cli: Cli, cluster: Path) -> None:
    """The worker's own file, checked beside the control plane, gets no converged finding."""
    result = _check(cli, cluster, "cp-node.yaml", "worker.yaml")
    assert not [line for line in result.out_lines if line.startswith(f"{cluster / 'worker.yaml'}:")]


def test_a_broken_profiles_folder_is_one_line_and_exit_3(cli: Cli, cluster: Path) -> None:
    (cluster / "profiles" / "broken.yaml").write_text("kind: [\n", encoding="utf-8")
    result = _check(cli, cluster, "cp-node.yaml", "worker.yaml")
    assert result.code == 3
    assert "broken.yaml" in error_message(result)
