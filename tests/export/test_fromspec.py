"""Export targets from a cluster spec (``talospatch.export.fromspec``) and the spec's ``exports`` key."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from talospatch.errors import BadInput
from talospatch.export import render
from talospatch.export.cluster import build_cluster
from talospatch.export.fromspec import cluster_request, export_options, spec_cluster, spec_exports
from talospatch.generate.expand import expand
from talospatch.generate.options import GenOptions
from talospatch.registry import NAMES, ExportOptions
from talospatch.spec.load import load_spec, parse_spec
from testing.cluster import REFERENCE_SPEC

REFERENCE = REFERENCE_SPEC
REFERENCE_OPTIONS = GenOptions(
    cni="cilium",
    tunnel="geneve",
    subnets=("192.168.30.0/24",),
    controlplane=("192.168.30.11", "192.168.30.12", "192.168.30.13"),
    admins=("196.45.28.20/32",),
)
# A cluster with more of everything: workers, NodePorts, add-ons for some roles only, BGP.
RICH = """\
cni: cilium
subnets: [192.168.30.0/24, fd00:30::/64]
controlplane: [192.168.30.11, 192.168.30.12]
workers: [192.168.30.0/25]
admins: [196.45.28.20/32, 2001:db8::20/128]
podSubnets: [10.244.0.0/16, fd00:244::/56]
nodeport: true
nodeportFrom: [203.0.113.0/24]
bgpPeers: [192.168.30.1]
addons: [metallb, bgp, etcd-metrics, node-exporter]
"""
RICH_OPTIONS = GenOptions(
    cni="cilium",
    subnets=("192.168.30.0/24", "fd00:30::/64"),
    controlplane=("192.168.30.11", "192.168.30.12"),
    workers=("192.168.30.0/25",),
    admins=("196.45.28.20/32", "2001:db8::20/128"),
    pod_subnets=("10.244.0.0/16", "fd00:244::/56"),
    nodeport=True,
    nodeport_from=("203.0.113.0/24",),
    bgp_peers=("192.168.30.1",),
    addons=("metallb", "bgp", "etcd-metrics", "node-exporter"),
)


def spec_file(folder: Path, text: str) -> Path:
    path = folder / "talospatch.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def bad(folder: Path, text: str) -> str:
    with pytest.raises(BadInput) as exc:
        cluster_request(load_spec(str(spec_file(folder, text))))
    return str(exc.value)


def bad_spec(folder: Path, text: str) -> str:
    with pytest.raises(BadInput) as exc:
        load_spec(str(spec_file(folder, text)))
    return str(exc.value)


@pytest.mark.parametrize("target", NAMES)
@pytest.mark.parametrize(
    ("text", "options"), [(REFERENCE, REFERENCE_OPTIONS), (RICH, RICH_OPTIONS)], ids=["ref", "rich"]
)
def test_export_from_the_spec_equals_export_from_the_options(
    tmp_path: Path, target: str, text: str, options: GenOptions
) -> None:
    request = cluster_request(load_spec(str(spec_file(tmp_path, text))))
    from_spec = render(target, spec_cluster(request))
    from_options = render(target, build_cluster(options, command=request.command))
    assert from_spec.files == from_options.files
    assert from_spec.warnings == from_options.warnings


def test_the_headers_name_the_build_that_makes_the_talos_patches(tmp_path: Path) -> None:
    request = cluster_request(load_spec(str(spec_file(tmp_path, REFERENCE + "output: built\n"))))
    (text,) = render("aws-terraform", spec_cluster(request)).files.values()
    assert "#   talospatch build talospatch.yaml (built/controlplane.yaml)\n" in text
    assert "#   talospatch build talospatch.yaml (built/worker.yaml)\n" in text


def test_per_role_settings_give_each_role_the_rules_of_its_talos_patch(tmp_path: Path) -> None:
    """roles.worker.addons and roles.controlplane.cni: every role's rules are those build writes for it."""
    spec = load_spec(
        str(
            spec_file(
                tmp_path,
                REFERENCE
                + "roles:\n  controlplane:\n    extraRules:\n"
                + "      - {name: vault, service: Vault, ports: [8200], protocol: tcp, from: [admins], why: w, source: s}\n"
                + "  worker:\n    addons: [metallb]\n",
            )
        )
    )
    cluster = spec_cluster(cluster_request(spec))
    for role in ("controlplane", "worker"):
        request = spec.request(role)
        talos = [r.document.name for r in expand(request.options, request.catalog, request.labels).rules]
        assert [r.name for r in cluster.role(role).rules] == talos
    worker = {r.profile for r in cluster.role("worker").rules}
    controlplane = {r.profile for r in cluster.role("controlplane").rules}
    assert "metallb" in worker
    assert "metallb" not in controlplane
    assert "extra-rules" in controlplane
    assert "extra-rules" not in worker


def test_the_same_addresses_given_per_role_are_one_group(tmp_path: Path) -> None:
    text = REFERENCE.replace("admins: [196.45.28.20/32]\n", "")
    text += "roles:\n  controlplane:\n    admins: [196.45.28.20/32]\n  worker:\n    admins: [196.45.28.20/32]\n"
    cluster = spec_cluster(cluster_request(load_spec(str(spec_file(tmp_path, text)))))
    assert [str(n) for n in cluster.addresses("admins")] == ["196.45.28.20/32"]


def test_different_addresses_per_role_name_the_spec_line_and_key(tmp_path: Path) -> None:
    text = REFERENCE + "roles:\n  controlplane: {}\n  worker:\n    admins: [198.51.100.7]\n"
    message = bad(tmp_path, text)
    assert message.startswith(f"{tmp_path / 'talospatch.yaml'}:10: roles.worker.admins: export targets give admins ")
    assert "controlplane: 196.45.28.20/32, worker: 198.51.100.7" in message
    assert message.endswith("set admins at the top of the spec")


def test_a_spec_of_one_role_cannot_be_exported(tmp_path: Path) -> None:
    message = bad(tmp_path, REFERENCE + "roles:\n  worker: {}\n")
    assert message == (
        f"{tmp_path / 'talospatch.yaml'}:7: roles: export targets cover the roles controlplane and worker; "
        "this spec builds worker"
    )


def test_router_options_of_an_export_entry(tmp_path: Path) -> None:
    text = REFERENCE + (
        "exports:\n  - target: pfsense\n    output: pf\n    clusterInterface: opt2\n"
        "    fromInterfaces: [lan, opt3]\n    ntpServers: [192.168.30.1]\n"
    )
    (built,) = spec_exports(load_spec(str(spec_file(tmp_path, text))))
    assert built.folder == tmp_path / "pf"
    assert export_options(built.entry) == ExportOptions("opt2", ("lan", "opt3"), ("192.168.30.1",))
    filter_xml = built.export.files["pfsense-filter.xml"]
    assert "<interface>opt2</interface>" in filter_xml
    assert "<interface>opt3</interface>" in filter_xml


@pytest.mark.parametrize(
    ("entry", "line", "message"),
    [
        (
            "  - target: juniper\n    output: j\n",
            8,
            f"exports[0].target: unknown export target 'juniper'; valid: {', '.join(sorted(NAMES))}",
        ),
        ("  - target: proxmox\n", 8, "exports[0].output: missing"),
        (
            "  - target: pfsense\n    output: pf\n    mergeInto: backup.xml\n",
            10,
            (
                "exports[0].mergeInto: a build writes the pfSense sections whole; merge them into a config.xml "
                "with talospatch export pfsense --merge-into BACKUP.xml"
            ),
        ),
        (
            "  - target: proxmox\n    output: pve\n    clusterInterface: opt1\n",
            10,
            "exports[0].clusterInterface: applies to the pfsense and opnsense targets only",
        ),
        (
            "  - target: aws-terraform\n    output: aws\n    region: eu-west-1\n",
            10,
            (
                "exports[0].region: unknown key; valid: target, output, clusterInterface, fromInterfaces, ntpServers, "
                "inline, clusterDefaultAction"
            ),
        ),
        (
            "  - target: opnsense\n    output: opn\n    fromInterfaces: [lan, 'opt 2']\n",
            10,
            (
                "exports[0].fromInterfaces[1]: 'opt 2' is not an interface name (want the interface's key, e.g. "
                "lan, wan, opt1)"
            ),
        ),
        (
            "  - target: opnsense\n    output: opn\n    ntpServers: [pool.ntp.org]\n",
            10,
            "exports[0].ntpServers[0]: 'pool.ntp.org' is not an IP address or CIDR (want e.g. 192.168.30.0/24)",
        ),
        (
            "  - target: proxmox\n    output: out\n",
            9,
            "exports[0].output: out holds the files of output; give each export a folder of its own",
        ),
        (
            "  - target: proxmox\n    output: .\n",
            9,
            "exports[0].output: . holds the spec itself; give the export a folder of its own",
        ),
        (
            "  - target: proxmox\n    output: out/pve\n  - target: proxmox-terraform\n    output: out/pve/tf\n",
            11,
            "exports[1].output: out/pve/tf is inside the folder of exports[0].output",
        ),
        (
            "  - target: proxmox\n    output: out/pve\n  - target: aws-terraform\n    output: out/pve/../pve\n",
            11,
            (
                "exports[1].output: out/pve/../pve holds the files of exports[0].output; give each export a folder "
                "of its own"
            ),
        ),
        ("  target: proxmox\n", 7, "exports: must be a list, e.g. [a, b]"),
    ],
    ids=[
        "target",
        "no-output",
        "merge-into",
        "router-key",
        "unknown-key",
        "interface",
        "ntp",
        "patch-folder",
        "spec-folder",
        "nested",
        "same",
        "not-a-list",
    ],
)
def test_a_bad_exports_entry_names_file_line_and_key(tmp_path: Path, entry: str, line: int, message: str) -> None:
    got = bad_spec(tmp_path, REFERENCE + "exports:\n" + entry)
    assert got == f"{tmp_path / 'talospatch.yaml'}:{line}: {message}"


def test_a_good_exports_list_parses(tmp_path: Path) -> None:
    text = REFERENCE + "exports:\n  - target: aws-terraform\n    output: out/aws\n"
    spec = parse_spec(text, str(tmp_path / "talospatch.yaml"))
    assert [(e.target, e.output) for e in spec.spec.exports or ()] == [("aws-terraform", "out/aws")]


def test_the_schema_lists_every_export_target() -> None:
    from talospatch.spec.model import schema

    assert schema()["$defs"]["ExportSpec"]["properties"]["target"]["enum"] == list(NAMES)


def test_an_empty_from_interfaces_list_is_refused(tmp_path: Path) -> None:
    text = REFERENCE + "exports:\n  - target: pfsense\n    output: pf\n    fromInterfaces: []\n"
    message = bad_spec(tmp_path, text)
    assert message.startswith(f"{tmp_path / 'talospatch.yaml'}:10: exports[0].fromInterfaces: ")
    assert "at least 1 item" in message


def test_every_export_of_a_spec_renders_one_expansion_of_each_role(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from talospatch.export import fromspec

    text = REFERENCE + "exports:\n" + "".join(f"  - {{target: {t}, output: e/{t}}}\n" for t in NAMES)
    expanded: list[str] = []

    def counting(options: GenOptions, *args: object) -> object:
        expanded.append(options.role)
        return expand(options, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(fromspec, "expand", counting)
    built = spec_exports(load_spec(str(spec_file(tmp_path, text))))
    assert [b.entry.target for b in built] == list(NAMES)
    assert expanded == ["controlplane", "worker"]
