"""``gen --prune-from`` / ``pruneFrom``: delete the node's rules that are not generated now."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from talospatch.generate.removal import node_documents, parse_previous, rule_names
from talospatch.talos.documents import apply_patches
from talospatch.yamlio import load_all
from testing.runner import WARNING, error_message, ok, run

WORKER = ["--role", "worker", "--subnet", "192.168.30.0/24", "--admin", "196.45.28.20/32"]

# A node's machine config: the main document, the firewall as a community patch wrote it.
MACHINE_CONFIG = textwrap.dedent(
    """\
    version: v1alpha1
    machine:
        type: worker
    cluster:
        network:
            podSubnets: [10.244.0.0/16]
    ---
    apiVersion: v1alpha1
    kind: NetworkDefaultActionConfig
    ingress: block
    ---
    apiVersion: v1alpha1
    kind: NetworkRuleConfig
    name: 00-break-glass
    portSelector: {ports: [50000, 6443], protocol: tcp}
    ingress: [{subnet: 203.0.113.9/32}]
    ---
    apiVersion: v1alpha1
    kind: NetworkRuleConfig
    name: apid-ingress
    portSelector: {ports: [50000], protocol: tcp}
    ingress: [{subnet: 0.0.0.0/0}]
    ---
    apiVersion: v1alpha1
    kind: NetworkRuleConfig
    name: kubelet-ingress
    portSelector: {ports: [10250], protocol: tcp}
    ingress: [{subnet: 0.0.0.0/0}]
    ---
    apiVersion: v1alpha1
    kind: NetworkRuleConfig
    name: mesh-vxlan
    portSelector: {ports: [8472], protocol: udp}
    ingress: [{subnet: 192.168.30.0/24}]
    """
)


def talosctl_get(config: str) -> str:
    """What ``talosctl get machineconfig -o yaml`` prints (Talos >= 1.8: the config is a string)."""
    body = textwrap.indent(config, "    ")
    return (
        "node: 192.168.30.21\nmetadata:\n    namespace: config\n    type: MachineConfigs.config.talos.dev\n"
        "    id: v1alpha1\n    version: 3\n    owner:\n    phase: running\n"
        f"spec: |\n{body}"
    )


@pytest.mark.parametrize("form", ["machine-config", "talosctl-get"])
def test_gen_prune_from_leaves_exactly_the_generated_rules(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, form: str
) -> None:
    node = tmp_path / "node.yaml"
    node.write_text(MACHINE_CONFIG if form == "machine-config" else talosctl_get(MACHINE_CONFIG), encoding="utf-8")
    plain = ok(run(capsys, "gen", *WORKER, "--cni", "flannel"))
    result = run(capsys, "gen", *WORKER, "--cni", "flannel", "--prune-from", str(node))
    assert result.code == 0, result.err
    # The config's pod subnets (Talos's default here) are the pods source, and a note says so.
    assert result.err_lines[0] == f"talospatch: pod subnets 10.244.0.0/16 from cluster.network.podSubnets ({node})"
    # A whole config that sets no host DNS has forwarding off, Talos's zero value (docs/live-node.md).
    # The config lists no service subnets: Talos's default, named as such.
    services = (
        f"talospatch: service subnets 10.96.0.0/12 (Talos's default: cluster.network sets no serviceSubnets; {node})"
    )
    assert result.err_lines[1] == services
    host_dns = f"talospatch: host DNS off from machine.features.hostDNS (not set: Talos's default) ({node})"
    assert result.err_lines[2] == host_dns
    assert all(line.startswith(WARNING) for line in result.err_lines[3:]), result.err
    assert f"--prune-from {node}" in result.out.splitlines()[1]
    patch = load_all(result.out, "patch")
    deleted = [d["name"] for d in patch if d.get("$patch") == "delete"]
    assert deleted == ["00-break-glass", "mesh-vxlan"]
    assert [d for d in patch if "$patch" not in d] == load_all(plain.out, "plain")
    assert (
        f"00-break-glass: removed: the node's config ({node}) has it and no selected profile generates it."
        in result.out.replace("\n# ", " ")
    )
    generated = [d["name"] for d in patch if d.get("kind") == "NetworkRuleConfig" and "$patch" not in d]
    applied = apply_patches([("node", node_documents(node.read_text(encoding="utf-8"), "node")), ("patch", patch)])
    assert sorted(r.name for r in applied.rules) == sorted(generated)
    # Without the delete documents, the node keeps the break-glass rule: the check above can fail.
    kept = apply_patches(
        [("node", node_documents(node.read_text(encoding="utf-8"), "node")), ("plain", load_all(plain.out, "p"))]
    )
    assert "00-break-glass" in {r.name for r in kept.rules}


def test_node_documents_of_an_old_talosctl_mapping_spec() -> None:
    old = "node: 10.0.0.1\nmetadata:\n    type: MachineConfigs.config.talos.dev\n    id: v1alpha1\nspec:\n    version: v1alpha1\n    machine: {type: worker}\n"
    assert rule_names(node_documents(old, "old")) == []
    assert rule_names(node_documents(MACHINE_CONFIG, "mc")) == [
        "00-break-glass",
        "apid-ingress",
        "kubelet-ingress",
        "mesh-vxlan",
    ]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        pytest.param(None, "--prune-from {node}: no such file", id="missing"),
        pytest.param("a: [\n", "{node}: line 2: invalid YAML", id="yaml"),
        pytest.param(
            "metadata: {type: MachineConfigs.config.talos.dev}\nspec: 3\n",
            "{node}: resource 1: spec is neither",
            id="spec",
        ),
        pytest.param(
            "apiVersion: v1alpha1\nkind: NetworkRuleConfig\nname: x\nportSelector: {ports: ['80'], protocol: tcp}\n",
            "{node}: document 1: NetworkRuleConfig/x: portSelector.ports: invalid port range",
            id="invalid-rule",
        ),
    ],
)
def test_prune_from_errors(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, content: str | None, expected: str
) -> None:
    node = tmp_path / "node.yaml"
    if content is not None:
        node.write_text(content, encoding="utf-8")
    message = error_message(run(capsys, "gen", *WORKER, "--prune-from", str(node)))
    assert message.startswith(expected.format(node=node)), message


def test_spec_prune_from_then_tombstones_stay(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "nodes").mkdir()
    (tmp_path / "nodes" / "worker.yaml").write_text(talosctl_get(MACHINE_CONFIG), encoding="utf-8")
    spec = tmp_path / "talospatch.yaml"
    base = "cni: flannel\nsubnets: [192.168.30.0/24]\nadmins: [196.45.28.20/32]\n"
    spec.write_text(base + "roles:\n  worker:\n    pruneFrom: nodes/worker.yaml\n", encoding="utf-8")
    built = run(capsys, "build", str(spec))
    assert built.code == 0, built.err
    note = f"talospatch: {spec}: role worker: pod subnets 10.244.0.0/16 from cluster.network.podSubnets (nodes/worker.yaml)"
    assert built.err_lines[0] == note
    assert (
        "service subnets 10.96.0.0/12 (Talos's default: cluster.network sets no serviceSubnets;" in built.err_lines[1]
    )
    assert "host DNS off from machine.features.hostDNS (not set: Talos's default)" in built.err_lines[2]
    assert all(line.startswith(WARNING) for line in built.err_lines[3:]), built.err
    worker = tmp_path / "out" / "worker.yaml"
    text = worker.read_text(encoding="utf-8")
    previous = parse_previous(text, "worker")
    assert sorted(previous.tombstones) == ["00-break-glass", "mesh-vxlan"]
    assert previous.tombstones["mesh-vxlan"].removed_in == 1
    assert "# mesh-vxlan: removed in generation 1: the node's config (nodes/worker.yaml) has it" in text
    # The node file goes from the spec: the tombstones stay.
    spec.write_text(base + "roles:\n  worker: {}\n", encoding="utf-8")
    assert ok(run(capsys, "build", str(spec))).out.endswith("worker.yaml: unchanged\n")
    assert ok(run(capsys, "build", "--check", str(spec))).out == ""
