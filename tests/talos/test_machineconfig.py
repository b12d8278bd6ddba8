"""Reading machine configs as files hold them: patches, whole configs, talosctl get machineconfig output."""

from __future__ import annotations

from pathlib import Path

import pytest

from talospatch.talos.machineconfig import config_documents, is_resource
from testing.runner import ok, run

RESOURCE = Path(__file__).resolve().parents[1] / "fixtures" / "check" / "community" / "machineconfig-resource.yaml"

OLD_STYLE = """\
node: 10.0.0.3
metadata:
    namespace: config
    type: MachineConfigs.config.talos.dev
    id: v1alpha1
spec:
    version: v1alpha1
    machine:
        type: worker
"""


def test_resource_spec_string_is_unwrapped() -> None:
    docs = config_documents(RESOURCE.read_text(), "mc.yaml")
    assert [where for where, _ in docs] == [f"mc.yaml: spec document {i}" for i in range(1, 6)]
    assert [d.get("kind", d.get("version")) for _, d in docs] == [
        "v1alpha1",
        "NetworkDefaultActionConfig",
        "NetworkRuleConfig",
        "NetworkRuleConfig",
        "ExtensionServiceConfig",
    ]


def test_resource_of_several_nodes_names_each_node() -> None:
    text = RESOURCE.read_text() + "---\n" + OLD_STYLE
    docs = config_documents(text, "all.yaml")
    assert docs[0][0] == "all.yaml: node 10.0.0.2: spec document 1"
    assert docs[-1] == (
        "all.yaml: node 10.0.0.3: spec document 1",
        {"version": "v1alpha1", "machine": {"type": "worker"}},
    )


def test_patch_documents_pass_through() -> None:
    text = "apiVersion: v1alpha1\nkind: NetworkDefaultActionConfig\ningress: block\n"
    assert config_documents(text, "p.yaml") == [
        ("p.yaml: document 1", {"apiVersion": "v1alpha1", "kind": "NetworkDefaultActionConfig", "ingress": "block"})
    ]
    assert not is_resource({"metadata": {}, "spec": {"kind": "NetworkRuleConfig"}})


def test_query_reads_a_resource(capsys: pytest.CaptureFixture[str]) -> None:
    result = ok(run(capsys, "query", str(RESOURCE), "--from", "10.0.0.9", "--port", "6443/tcp"))
    assert result.out == "allowed: kubernetes-api-ingress (10.0.0.0/16)\n"
