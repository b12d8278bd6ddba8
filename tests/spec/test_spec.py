"""The cluster spec (talospatch.spec.model): loading, line-numbered errors, per-role settings, the schema."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from talospatch.errors import BadInput
from talospatch.generate.expand import expand
from talospatch.spec.load import parse_spec
from talospatch.spec.model import EXTRA_RULES, SCHEMA_PATH, schema_text

ROOT = Path(__file__).resolve().parents[2]

BASE = """\
cni: cilium
subnets: [192.168.30.0/24]
controlplane: [192.168.30.11]
admins: [196.45.28.20/32]
"""


def spec(text: str, path: str = "talospatch.yaml"):  # type: ignore[no-untyped-def]
    return parse_spec(textwrap.dedent(text), path)


def error(text: str) -> str:
    with pytest.raises(BadInput) as exc:
        spec(text)
    return str(exc.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            BASE + "addons:\n    - hubble\n    - hubbel\n",
            "talospatch.yaml:7: addons[1]: unknown add-on 'hubbel'; valid: ",
            id="unknown-addon",
        ),
        pytest.param(BASE + "cnii: flannel\n", "talospatch.yaml:5: cnii: unknown key; valid: cni, tunnel, ", id="key"),
        pytest.param(
            BASE + "podSubnets:\n  - 10.244.0.1/16\n",
            "talospatch.yaml:6: podSubnets[0]: '10.244.0.1/16' has host bits set; did you mean 10.244.0.0/16?",
            id="host-bits",
        ),
        pytest.param(
            BASE + "roles:\n  worker:\n    addons: [etcd-metrics]\n",
            "talospatch.yaml:7: roles.worker.addons[0]: add-on etcd-metrics applies to role controlplane only, not worker",
            id="role-addon",
        ),
        pytest.param(
            BASE + "roles:\n  workr: {}\n", "talospatch.yaml:6: roles.workr: unknown role 'workr'; valid: ", id="role"
        ),
        pytest.param(BASE + "cni: [cilium]\n", "talospatch.yaml:5: invalid YAML: found duplicate key", id="duplicate"),
        pytest.param(BASE + "from: [196.45.28.0/24]\n", "talospatch.yaml:5: from[0]: ", id="from-not-address"),
        pytest.param(
            BASE + "keepTombstones: 0\n",
            "talospatch.yaml:5: keepTombstones: Input should be greater than or equal to 1",
            id="keep",
        ),
        pytest.param(
            BASE
            + "extraRules:\n  - name: spegel\n    service: Spegel\n    ports: [30020]\n    protocol: tcp\n    from: [nodez]\n    why: w\n    source: s\n",
            "talospatch.yaml:10: extraRules[0].from: unknown source group 'nodez'",
            id="extra-rule",
        ),
        pytest.param(
            BASE + "nodeportFrom: [203.0.113.9]\n",
            "talospatch.yaml:5: nodeportFrom: needs nodeport: true",
            id="nodeport",
        ),
        pytest.param("- a\n", "talospatch.yaml:1: a cluster spec is a mapping", id="not-mapping"),
        pytest.param(
            "subnets: 192.168.30.0/24\n", "talospatch.yaml:1: subnets: must be a list, e.g. [a, b]", id="list"
        ),
        pytest.param(
            BASE + "roles:\n  worker: 3\n", "talospatch.yaml:6: roles.worker: must be a mapping", id="mapping"
        ),
        pytest.param(BASE + "roles: {}\n", "talospatch.yaml:5: roles: names no role", id="no-role"),
    ],
)
def test_errors_name_file_line_and_key(text: str, expected: str) -> None:
    message = error(text)
    assert message.startswith(expected), message
    assert "\n" not in message


def test_top_level_settings_apply_where_they_mean_something() -> None:
    loaded = spec(
        BASE + "addons: [hubble, etcd-metrics]\nnodeport: true\nnodeportFrom: [203.0.113.9]\nfrom: [196.45.28.20]\n"
    )
    assert loaded.roles == ["controlplane", "worker"]
    cp, worker = (loaded.request(r).options for r in loaded.roles)
    assert cp.addons == ("hubble", "etcd-metrics")
    assert worker.addons == ("hubble",)
    assert cp.controlplane == ("192.168.30.11",)
    assert worker.controlplane == ()
    assert (cp.nodeport, cp.nodeport_from) == (False, ())
    assert (worker.nodeport, worker.nodeport_from) == (True, ("203.0.113.9",))
    assert cp.guard_from == worker.guard_from == ("196.45.28.20",)
    for role in loaded.roles:
        request = loaded.request(role)
        expand(request.options, request.catalog, request.labels)


def test_role_settings_replace_the_top_level_and_are_named_in_messages() -> None:
    loaded = spec(
        BASE + "addons: [hubble]\nroles:\n  worker:\n    addons: [node-exporter]\n    controlplane: [192.168.30.11]\n"
    )
    assert loaded.roles == ["worker"]
    request = loaded.request("worker")
    assert request.options.addons == ("node-exporter",)
    with pytest.raises(BadInput) as exc:
        expand(request.options, request.catalog, request.labels)
    assert str(exc.value).startswith("roles.worker.controlplane does not apply to role worker")
    assert request.labels("pod_subnets") == "podSubnets"


def test_paths_are_relative_to_the_spec(tmp_path: Path) -> None:
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "spegel.yaml").write_text(
        "kind: addon\ndescription: Spegel\nrules:\n  - {name: spegel, service: Spegel, ports: [30020], "
        "protocol: tcp, from: [nodes], why: w, source: s}\n",
        encoding="utf-8",
    )
    loaded = spec(
        BASE + "profilesDir: profiles\naddons: [spegel]\npruneFrom: node.yaml\noutput: build/out\n",
        str(tmp_path / "c.yaml"),
    )
    options = loaded.request("worker").options
    assert options.profiles_dir == str(tmp_path / "profiles")
    assert options.prune_from == str(tmp_path / "node.yaml")
    assert loaded.output_dir == tmp_path / "build" / "out"
    assert options.addons == ("spegel",)


def test_extra_rules_are_an_inline_addon() -> None:
    loaded = spec(
        BASE + "extraRules:\n  - name: spegel\n    service: Spegel registry\n    ports: [30020]\n    protocol: tcp\n"
        "    from: [nodes, pods]\n    why: peers pull layers\n    source: https://spegel.dev/docs/\n"
    )
    request = loaded.request("worker")
    assert request.options.addons == (EXTRA_RULES,)
    generated = expand(request.options, request.catalog, request.labels)
    (rule,) = [r for r in generated.rules if r.document.name == "spegel"]
    assert rule.profile == EXTRA_RULES
    assert [str(n) for n in rule.document.subnets] == ["10.244.0.0/16", "192.168.30.0/24"]


def test_committed_schema_is_fresh() -> None:
    committed = (ROOT / SCHEMA_PATH).read_text(encoding="utf-8")
    assert committed == schema_text(), (
        f'{SCHEMA_PATH} is stale: run python -c "from talospatch.spec.model import schema_text; '
        f"print(schema_text(), end='')\" > {SCHEMA_PATH}"
    )


def _validator() -> Any:
    import jsonschema  # type: ignore[import-untyped]

    data = json.loads((ROOT / SCHEMA_PATH).read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(data)
    cls.check_schema(data)
    return cls(data)


def test_schema_accepts_the_reference_spec_and_rejects_a_typo() -> None:
    from talospatch.yamlio import load_one

    validator = _validator()
    reference = load_one((ROOT / "talospatch.yaml").read_text(encoding="utf-8"), "talospatch.yaml")
    assert not list(validator.iter_errors(reference))
    assert "# yaml-language-server: $schema=talospatch/schemas/talospatch.schema.json" in (
        ROOT / "talospatch.yaml"
    ).read_text(encoding="utf-8")
    extra = {
        "subnets": ["10.0.0.0/8"],
        "extraRules": [
            {
                "name": "x",
                "service": "x",
                "ports": [80, "8000-8080"],
                "protocol": ["tcp", "udp"],
                "from": ["nodes"],
                "why": "w",
                "source": "s",
            }
        ],
    }
    assert not list(validator.iter_errors(extra))
    assert list(validator.iter_errors({"subnet": ["10.0.0.0/8"]}))
    assert list(validator.iter_errors({"roles": {"worker": {"output": "x"}}}))


def test_wheel_ships_the_schema(tmp_path: Path) -> None:
    import subprocess
    import sys
    import zipfile

    subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", str(tmp_path)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("talospatch-*.whl")
    shipped = zipfile.ZipFile(wheel).read(SCHEMA_PATH).decode("utf-8")
    assert shipped == schema_text()


def test_an_empty_role_entry_builds_the_role_and_tunnel_follows_its_cni() -> None:
    loaded = spec(BASE + "tunnel: geneve\nroles:\n  controlplane:\n  worker:\n    cni: flannel\n")
    assert loaded.roles == ["controlplane", "worker"]
    assert loaded.request("controlplane").options.tunnel == "geneve"
    worker = loaded.request("worker")
    assert (worker.options.cni, worker.options.tunnel) == ("flannel", None)
    expand(worker.options, worker.catalog, worker.labels)


def test_every_gen_option_has_a_spec_key() -> None:
    """A gen option added to GenOptions needs a Settings field, or init and build cannot say it."""
    from talospatch.generate.options import GEN_FIELDS
    from talospatch.spec.model import KEYS

    assert set(GEN_FIELDS) - {"role"} <= set(KEYS)


def test_converged_and_peer_groups_apply_where_they_mean_something() -> None:
    loaded = spec(
        BASE + "converged: true\nnodeport: true\naddons: [bgp]\nbgpPeers: [192.168.30.1]\n"
        "loadBalancers: [203.0.113.0/28]\n"
    )
    cp, worker = (loaded.request(r).options for r in loaded.roles)
    assert (cp.converged, cp.nodeport) == (True, True)
    assert (worker.converged, worker.nodeport) == (False, True)
    assert cp.bgp_peers == worker.bgp_peers == ("192.168.30.1",)
    # No selected rule takes load balancers without kube-proxy-health: left out, not an error.
    assert cp.load_balancers == worker.load_balancers == ()
    for role in loaded.roles:
        request = loaded.request(role)
        expand(request.options, request.catalog, request.labels)


def test_kubespan_peers_and_the_first_release_of_a_profile() -> None:
    loaded = spec(BASE + "addons: [kubespan, talos-bgp]\nbgpPeers: [192.168.30.1]\nkubespanPeers: [203.0.113.7]\n")
    for role in loaded.roles:
        request = loaded.request(role)
        generated = expand(request.options, request.catalog, request.labels)
        by_name = {r.document.name: [str(s) for s in r.document.subnets] for r in generated.rules}
        assert by_name["kubespan-ingress"] == ["192.168.30.0/24", "203.0.113.7/32"]
        assert all("203.0.113.7/32" not in v for k, v in by_name.items() if k != "kubespan-ingress")
    old = spec(BASE + "talosVersion: '1.13'\naddons: [talos-bgp]\nbgpPeers: [192.168.30.1]\n")
    request = old.request("worker")
    with pytest.raises(BadInput, match=r"^add-on talos-bgp is for Talos v1\.14\.0 and newer, and talosVersion is"):
        expand(request.options, request.catalog, request.labels)
    assert error(BASE + "kubespanPeers: [203.0.113.7/8]\n").startswith("talospatch.yaml:5: kubespanPeers[0]: ")
