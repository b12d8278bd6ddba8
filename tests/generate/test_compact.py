"""gen --compact: fewer documents and nft rules, the same verdicts on every probe.

The layouts are compared three ways: the nft rule count of the compiled ruleset, the
verdict of ``Reach.query`` for every probe (each rule's port range ends and their
neighbours, each source CIDR's first and last address and the addresses just outside), and,
in network namespaces, the real kernel's verdict for every probe with each layout loaded.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from talospatch.generate.compact import group_rules, merge_overlapping, shared_name
from talospatch.generate.expand import Generated, expand
from talospatch.generate.options import GenOptions
from talospatch.generate.profiles import Catalog
from talospatch.nft.compile import NodeContext, compile_firewall
from talospatch.nft.reach import Reach
from talospatch.nft.text import render
from talospatch.talos.documents import PortRange, apply_patches
from talospatch.yamlio import load_all
from testing.netlab import Lab, Probe, ensure_netns
from testing.runner import error_message, ok, run

SUBNET4 = "192.168.30.0/24"
SUBNET6 = "fd00:30::/64"
CONTROLPLANE = ("192.168.30.11", "192.168.30.12", "192.168.30.13")
ADMIN = "196.45.28.20"
NODE4 = "192.168.30.21"
NODE6 = "fd00:30::21"

REFERENCE = GenOptions(
    role="controlplane", tunnel="both", subnets=(SUBNET4,), controlplane=CONTROLPLANE, admins=(ADMIN,)
)


def _compact(opts: GenOptions) -> GenOptions:
    return opts._replace(compact=True)


def _context(generated: Generated, dual: bool = False) -> NodeContext:
    nodes = (NODE4, NODE6) if dual else (NODE4,)
    return NodeContext(node_ips=tuple(ipaddress.ip_address(a) for a in nodes), pod_subnets=generated.pod_subnets)


def _document_rules(opts: GenOptions) -> int:
    generated = expand(opts)
    ruleset = compile_firewall(generated.firewall, _context(generated))
    return sum(1 for chain in ruleset.chains for rule in chain.rules if rule.rule_name is not None)


def test_the_reference_control_plane_compiles_to_at_least_40_percent_fewer_rules() -> None:
    per_service, compact = _document_rules(REFERENCE), _document_rules(_compact(REFERENCE))
    assert per_service == 20  # 10 documents, in ingress and prerouting
    assert compact <= 0.6 * per_service, (per_service, compact)


def test_shared_documents_are_named_for_protocol_and_sources() -> None:
    generated = expand(_compact(REFERENCE))
    names = [d.document.name for d in generated.documents]
    assert names == [
        "apid-ingress",
        "tcp-from-nodes-workers",
        "kubernetes-api-ingress",
        "tcp-from-controlplane",
        "kubelet-ingress",
        "udp-from-nodes",
    ]
    shared = {d.document.name: [r.document.name for r in d.rules] for d in generated.documents if d.shared}
    assert shared == {
        "tcp-from-nodes-workers": ["trustd-ingress", "cilium-health-ingress"],
        "tcp-from-controlplane": ["etcd-ingress", "kube-controller-manager-ingress", "kube-scheduler-ingress"],
        "udp-from-nodes": ["cni-vxlan", "cni-geneve"],
    }
    etcd = next(d.document for d in generated.documents if d.document.name == "tcp-from-controlplane")
    assert [p.label for p in etcd.ports] == ["2379-2380", "10257", "10259"]
    # The same request gives the same documents.
    assert expand(_compact(REFERENCE)).firewall == generated.firewall


def test_the_comment_of_a_shared_document_lists_every_service(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["gen", "--role", "controlplane", "--tunnel", "both", "--subnet", SUBNET4, "--admin", ADMIN]
    argv += [w for cp in CONTROLPLANE for w in ("--controlplane", cp)]
    result = ok(run(capsys, *argv, "--compact", "--from", ADMIN))
    assert " --compact " in result.out_lines[1]
    documents = result.out.split("\n---\n")
    generated = expand(_compact(REFERENCE))
    for document in generated.documents:
        [text] = [d for d in documents if f"\nname: {document.document.name}\n" in d]
        comment = "\n".join(line for line in text.splitlines() if line.startswith("#"))
        for rule in document.rules:
            assert f"{rule.document.name}: {rule.entry.service}" in comment
        if document.shared:
            assert comment.startswith(f"# {document.document.name}: {len(document.rules)} services, ")
    # What is written reads back as the compact firewall.
    assert apply_patches([("out", load_all(result.out, "out"))]) == generated.firewall


def test_explain_names_the_shared_document_and_the_service(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["explain", "--role", "controlplane", "--subnet", SUBNET4, "--controlplane", "192.168.30.11"]
    result = ok(run(capsys, *argv, "--admin", ADMIN, "--compact"))
    rows = [line.split()[0:2] for line in result.out_lines[1:]]
    assert ["apid-ingress", "50000"] in rows
    assert ["tcp-from-controlplane", "(etcd-ingress)"] in rows
    assert ["tcp-from-nodes-workers", "(trustd-ingress)"] in rows
    # Still one row per service.
    opts = GenOptions(role="controlplane", subnets=(SUBNET4,), controlplane=("192.168.30.11",), admins=(ADMIN,))
    assert len(rows) == len(expand(opts).rules)


def test_the_lockout_guard_still_names_the_fix(capsys: pytest.CaptureFixture[str]) -> None:
    outsider = "203.0.113.9"
    argv = ["gen", "--role", "controlplane", "--subnet", SUBNET4, "--admin", ADMIN, "--compact", "--from", outsider]
    result = run(capsys, *argv)
    assert result.code == 1
    assert result.out == ""
    assert [e.split(" (")[0] for e in result.errors] == [
        f"lockout: {outsider} would lose 50000/tcp",
        f"lockout: {outsider} would lose 6443/tcp",
    ]
    assert all(e.endswith(f"); add --admin {outsider}") for e in result.errors), result.errors


def test_compact_is_refused_beside_patch_files(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    patch = tmp_path / "worker.yaml"
    patch.write_text(ok(run(capsys, "gen", "--role", "worker", "--subnet", SUBNET4)).out)
    message = error_message(run(capsys, "nft", str(patch), "--compact"))
    assert message == "--compact is an option of gen's profiles; with patch files it does not apply"


def test_overlapping_ports_of_shared_services_are_joined(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "extra.yaml").write_text(
        """kind: addon
description: two services on overlapping ports
rules:
  - name: metrics-a
    service: exporter A
    ports: ["9100-9102"]
    protocol: tcp
    from: [nodes]
    why: test
    source: test
  - name: metrics-b
    service: exporter B
    ports: ["9101-9105", 9107]
    protocol: tcp
    from: [nodes]
    why: test
    source: test
""",
        encoding="utf-8",
    )
    argv = ["gen", "--role", "worker", "--cni", "none", "--subnet", SUBNET4, "--with", "extra"]
    argv += ["--profiles-dir", str(tmp_path), "--compact"]
    out = ok(run(capsys, *argv)).out
    firewall = apply_patches([("out", load_all(out, "out"))])
    [shared] = [r for r in firewall.rules if r.name == "tcp-from-nodes"]
    # apid takes the node subnet too when no --admin is given.
    assert [p.label for p in shared.ports] == ["9100-9105", "9107", "50000"]


def test_merge_overlapping_keeps_touching_ranges_apart() -> None:
    ranges = [PortRange(10, 20), PortRange(21, 21), PortRange(15, 25), PortRange(30, 30), PortRange(5, 5)]
    assert merge_overlapping(ranges) == (PortRange(5, 5), PortRange(10, 25), PortRange(30, 30))
    assert merge_overlapping([PortRange(1, 1), PortRange(2, 2)]) == (PortRange(1, 1), PortRange(2, 2))


def test_group_rules_keeps_first_seen_order() -> None:
    generated = expand(REFERENCE)
    shares = group_rules([r.document for r in generated.rules])
    assert [i for share in shares for i in share] != list(range(len(generated.rules)))  # something moved up
    assert sorted(i for share in shares for i in share) == list(range(len(generated.rules)))
    assert [share[0] for share in shares] == sorted(share[0] for share in shares)
    assert shared_name("udp", ["nodes"]) == "udp-from-nodes"


# --------------------------------------------------------------------------------------
# Same verdicts in both layouts


def _every_layout_case() -> list[pytest.ParameterSet]:
    catalog = Catalog.load()
    cases = []
    for role in catalog.names("role"):
        controlplane = CONTROLPLANE if role == "controlplane" else ()
        for cni in catalog.names("cni"):
            tunnels = catalog.get(cni, "cni").profile.tunnels
            for tunnel in (*tunnels, "both") if tunnels else (None,):
                opts = GenOptions(
                    role=role, cni=cni, tunnel=tunnel, subnets=(SUBNET4,), controlplane=controlplane, admins=(ADMIN,)
                )
                cases.append(pytest.param(opts, False, id=f"{role}-{cni}" + (f"-{tunnel}" if tunnel else "")))
        dual = GenOptions(
            role=role,
            subnets=(SUBNET4, SUBNET6),
            controlplane=(*controlplane, "fd00:30::11") if controlplane else (),
            admins=(ADMIN, "2001:db8:45::/48"),
            pod_subnets=("10.244.0.0/16", "fd00:244::/56"),
        )
        cases.append(pytest.param(dual, True, id=f"{role}-dualstack"))
        addons = [
            p.name for p in catalog.all() if p.kind == "addon" and (not p.profile.roles or role in p.profile.roles)
        ]
        nodeport = "nodeport" in addons
        with_addons = GenOptions(
            role=role,
            subnets=(SUBNET4,),
            controlplane=controlplane,
            admins=(ADMIN,),
            addons=tuple(a for a in addons if a != "nodeport"),
            nodeport=nodeport,
            nodeport_from=("198.51.100.0/24",) if nodeport else (),
        )
        cases.append(pytest.param(with_addons, False, id=f"{role}-every-addon"))
        cases.append(pytest.param(with_addons._replace(controlplane=()), False, id=f"{role}-defaults"))
    return cases


def _probe_sources(generated: Generated) -> list[str]:
    """Each source CIDR's first and last address and the addresses just outside it."""
    addresses: set[ipaddress.IPv4Address | ipaddress.IPv6Address] = {
        ipaddress.ip_address(a) for a in ("203.0.113.9", "2001:db8:99::9", "10.96.0.10")
    }
    for rule in generated.rules:
        for net in rule.document.subnets:
            first, last = int(net.network_address), int(net.broadcast_address)
            top = (1 << net.max_prefixlen) - 1
            for value in (first, last, first - 1, last + 1):
                if 0 <= value <= top:
                    addresses.add(ipaddress.ip_address(value) if net.version == 4 else ipaddress.IPv6Address(value))
    return [str(a) for a in sorted(addresses, key=lambda a: (a.version, int(a)))]


def _probe_ports(generated: Generated) -> list[int]:
    """Each port range's ends and middle and the ports just outside, and a few closed ports."""
    ports = {1, 22, 53, 8080, 65535}
    for rule in generated.rules:
        for pr in rule.document.ports:
            ports |= {pr.lo, pr.hi, (pr.lo + pr.hi) // 2, pr.lo - 1, pr.hi + 1}
    return sorted(p for p in ports if 1 <= p <= 65535)


@pytest.mark.parametrize(("opts", "dual"), _every_layout_case())
def test_query_gives_the_same_verdict_in_both_layouts(opts: GenOptions, dual: bool) -> None:
    per_service, compact = expand(opts), expand(_compact(opts))
    assert len(compact.documents) <= len(per_service.documents)
    assert compact.rules == per_service.rules  # the same services, in the same order
    context = _context(per_service, dual)
    reaches = Reach(per_service.firewall, context), Reach(compact.firewall, context)
    nodes = {4: NODE4, 6: NODE6}
    differences = []
    probes = 0
    for source in _probe_sources(per_service):
        version = ipaddress.ip_address(source).version
        if version == 6 and not dual:
            continue
        for port in _probe_ports(per_service):
            for protocol in ("tcp", "udp"):
                for destination in (nodes[version], None):
                    one, other = (r.query(source, port, protocol, destination).allowed for r in reaches)
                    probes += 1
                    if one != other:
                        differences.append(f"{source} -> {destination} {port}/{protocol}: {one} vs {other}")
    assert probes > 500
    assert not differences, "\n".join(differences)


# --------------------------------------------------------------------------------------
# Same verdicts on the real kernel

CLIENTS = {
    "controlplane": ("192.168.30.11", "fd00:30::11"),
    "worker": ("192.168.30.31", "fd00:30::31"),
    "admin": ("196.45.28.20", "2001:db8:45::20"),
    "pod": ("10.244.1.5", "fd00:244::5"),
    "outside": ("203.0.113.9", "2001:db8:99::9"),
}


@pytest.fixture(scope="module")
def netns_available() -> None:
    ensure_netns()


@pytest.mark.kernel
@pytest.mark.parametrize("dual", [False, True], ids=["v4", "dualstack"])
@pytest.mark.parametrize("role", ["controlplane", "worker"])
def test_the_kernel_gives_the_same_verdict_in_both_layouts(netns_available: None, role: str, dual: bool) -> None:
    families = (0, 1) if dual else (0,)
    opts = GenOptions(
        role=role,
        tunnel="both",
        subnets=(SUBNET4, SUBNET6) if dual else (SUBNET4,),
        controlplane=tuple(CLIENTS["controlplane"][f] for f in families) if role == "controlplane" else (),
        admins=tuple(CLIENTS["admin"][f] for f in families),
        pod_subnets=("10.244.0.0/16", "fd00:244::/56") if dual else (),
        addons=("hubble", "node-exporter"),
    )
    per_service, compact = expand(opts), expand(_compact(opts))
    assert len(compact.documents) < len(per_service.documents)
    context = _context(per_service, dual)
    ports = _probe_ports(per_service)
    clients = [CLIENTS[group][f] for f in families for group in CLIENTS]
    probes = [
        Probe(src, NODE6 if ":" in src else NODE4, protocol, port)
        for src in clients
        for protocol in ("tcp", "udp")
        for port in ports
    ]
    node_addrs = [f"{NODE4}/24", f"{NODE6}/64"] if dual else [f"{NODE4}/24"]
    kernel: list[list[bool]] = []
    query: list[list[bool]] = []
    with Lab(node_addrs, clients) as lab:
        lab.listen(tcp_ports=ports, udp_ports=ports)
        for generated in (per_service, compact):
            lab.flush_nft()
            lab.load_nft(render(compile_firewall(generated.firewall, context)))
            kernel.append(lab.probe_many(list(probes)))
            reach = Reach(generated.firewall, context)
            query.append([reach.query(p.src, p.port, p.proto, p.dst).allowed for p in probes])
    mismatches = [
        f"{p.src} -> {p.port}/{p.proto}: kernel {k1}/{k2} query {q1}/{q2} (per service/compact)"
        for p, k1, k2, q1, q2 in zip(probes, *kernel, *query, strict=True)
        if not (k1 == k2 == q1 == q2)
    ]
    assert any(kernel[0])
    assert not all(kernel[0])
    assert not mismatches, "\n".join(mismatches)


QUERY = ["--role", "controlplane", "--subnet", SUBNET4, "--controlplane", "192.168.30.11", "--admin", ADMIN]


def test_query_with_compact_prints_the_same_verdicts(capsys: pytest.CaptureFixture[str]) -> None:
    probes = ["--from", "192.168.30.11", "--from", "203.0.113.9", "--port", "2379/tcp", "--port", "4240/tcp"]
    per_service = run(capsys, "query", *QUERY, *probes)
    compact = run(capsys, "query", *QUERY, *probes, "--compact")
    assert per_service.code == compact.code == 1  # the outside address is dropped
    assert per_service.err == compact.err == ""
    table = compact.out.split("\n\n")[0]
    assert table == per_service.out.split("\n\n")[0]
    assert "allowed: tcp-from-controlplane (192.168.30.11/32)" in compact.out


def test_nft_with_compact_prints_fewer_rules(capsys: pytest.CaptureFixture[str]) -> None:
    node = ["--node-ip", "192.168.30.11", "--tunnel", "both"]
    per_service = ok(run(capsys, "nft", *QUERY, *node)).out
    compact = ok(run(capsys, "nft", *QUERY, *node, "--compact")).out
    assert compact.count(" dport ") < per_service.count(" dport ")
    assert "tcp dport { 2379-2380, 10257, 10259 } counter accept" in compact
