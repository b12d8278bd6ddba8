"""The per-NIC export targets on the real kernel: AWS security groups and the Proxmox VE
firewall let through exactly what the Talos patch lets through, for the same cluster.

For each cluster case and role, the test

1. builds the cluster (``build_cluster``) and renders ``aws-terraform`` and ``proxmox``;
2. reads them back with independent readers (python-hcl2; the pve-firewall grammar port in
   ``pvefw.py``, which rejects whatever pve-firewall would skip), and translates the
   resulting allow rules to nftables (``exportnft.py``); a security-group reference
   stands for the member addresses of the test cluster;
3. loads, each into a fresh netns lab, the Talos patch's compiled ruleset (``gen`` for
   that role, ``compile_firewall``), the AWS rules of the role's group and the Proxmox
   rules of the role's VM, and probes every rule port (range ends, middle, neighbours)
   and two closed ports, TCP and UDP, from one client per source group;
4. asserts: Proxmox == Talos for every probe; AWS == Talos for every source group. The one
   planned difference: AWS maps ``nodes`` to the two security groups, not the subnet, so
   a subnet address that is in neither group ("subnet-other") reaches on AWS only what an
   outside address reaches, while the Talos patch lets it reach the ``nodes`` rules.

The test cluster names its workers (``--workers``), so ``workers`` means the same members
everywhere. Skipped without root / network namespaces, failed instead under ``CI=true``.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

import hcl2
import pytest
from hcl2.utils import SerializationOptions

from talospatch.export import render as export
from talospatch.generate.expand import GenOptions, expand
from talospatch.nft.compile import NodeContext, compile_firewall
from talospatch.nft.text import render
from testing.exportnft import Allow, aws_allows, build_cluster_cli, pve_allows, ruleset
from testing.netlab import Lab, Probe, ensure_netns
from testing.pvefw import parse_fw

pytestmark = pytest.mark.kernel

CP4 = ("192.168.30.11", "192.168.30.12", "192.168.30.13")
WK4 = ("192.168.30.21", "192.168.30.22")
CP6 = ("fd00:30::11", "fd00:30::12", "fd00:30::13")
WK6 = ("fd00:30::21", "fd00:30::22")
ADMIN4, ADMIN6 = "196.45.28.20", "2001:db8:45::20"
POD4, POD6 = "10.244.1.5", "fd00:244::5"
NODEPORT4, NODEPORT6 = "198.51.100.7", "2001:db8:51::7"
OUTSIDE4, OUTSIDE6 = "203.0.113.9", "2001:db8:99::9"
OTHER4, OTHER6 = "192.168.30.99", "fd00:30::99"  # in the node subnet, in neither group
CLOSED_PORTS = (22, 8080)


@dataclass(frozen=True)
class Case:
    id: str
    dual: bool
    addons: tuple[str, ...] = ()
    nodeport: bool = False

    @property
    def options(self) -> GenOptions:
        return GenOptions(
            subnets=("192.168.30.0/24", "fd00:30::/64") if self.dual else ("192.168.30.0/24",),
            tunnel="geneve",
            controlplane=CP4 + (CP6 if self.dual else ()),
            workers=WK4 + (WK6 if self.dual else ()),
            admins=(f"{ADMIN4}/32",) + ((f"{ADMIN6}/128",) if self.dual else ()),
            pod_subnets=("10.244.0.0/16", "fd00:244::/56") if self.dual else (),
            addons=self.addons,
            nodeport=self.nodeport,
            nodeport_from=((NODEPORT4,) + ((NODEPORT6,) if self.dual else ())) if self.nodeport else (),
        )

    def gen_options(self, role: str) -> GenOptions:
        """``gen`` for one role, written out by hand (not through the cluster model)."""
        o = self.options
        cp_only, worker_only = {"etcd-metrics"}, {"nodeport"}
        addons = tuple(a for a in o.addons if a not in (worker_only if role == "controlplane" else cp_only))
        return GenOptions(
            role=role,
            subnets=o.subnets,
            cni="cilium",
            tunnel="geneve",
            controlplane=o.controlplane if role == "controlplane" else (),
            workers=o.workers if role == "controlplane" else (),
            admins=o.admins,
            pod_subnets=o.pod_subnets,
            addons=addons,
            nodeport=o.nodeport and role == "worker",
            nodeport_from=o.nodeport_from if role == "worker" else (),
        )

    def node(self, role: str) -> tuple[str, ...]:
        return (
            (CP4[0], CP6[0])
            if role == "controlplane" and self.dual
            else ((CP4[0],) if role == "controlplane" else ((WK4[0], WK6[0]) if self.dual else (WK4[0],)))
        )

    def clients(self, role: str) -> list[tuple[str, str]]:
        """(group, address): a control-plane peer and a worker peer that are not the node."""
        cp = (CP4[1], CP6[1])
        wk = (WK4[0], WK6[0]) if role == "controlplane" else (WK4[1], WK6[1])
        rows = [
            ("controlplane", cp),
            ("workers", wk),
            ("admins", (ADMIN4, ADMIN6)),
            ("pods", (POD4, POD6)),
            ("nodeport-clients", (NODEPORT4, NODEPORT6)),
            ("outside", (OUTSIDE4, OUTSIDE6)),
            ("subnet-other", (OTHER4, OTHER6)),
        ]
        families = (0, 1) if self.dual else (0,)
        return [(group, pair[f]) for f in families for group, pair in rows]


CASES = [
    Case("reference-v4", dual=False),
    Case(
        "dualstack-addons-nodeport",
        dual=True,
        addons=("etcd-metrics", "hubble", "ingress-http", "kubespan"),
        nodeport=True,
    ),
]
PARAMS = [pytest.param(case, role, id=f"{case.id}-{role}") for case in CASES for role in ("controlplane", "worker")]
HCL = SerializationOptions(strip_string_quotes=True, explicit_blocks=False, with_comments=False)


@pytest.fixture(scope="module", autouse=True)
def _netns_available() -> None:
    ensure_netns()


def _ports(allows: list[Allow]) -> list[int]:
    ports = set(CLOSED_PORTS)
    for allow in allows:
        for lo, hi in allow.ports:
            ports.update({lo, hi, (lo + hi) // 2, lo - 1, hi + 1})
    return sorted(p for p in ports if 1 <= p <= 65535)


def _kernel(case: Case, role: str, text: str, ports: list[int]) -> dict[tuple[str, str, int], bool]:
    nodes = case.node(role)
    clients = case.clients(role)
    by_version = {ipaddress.ip_address(n).version: n for n in nodes}
    probes = [
        Probe(src, by_version[ipaddress.ip_address(src).version], proto, port)
        for _, src in clients
        for proto in ("tcp", "udp")
        for port in ports
    ]
    node_addrs = [f"{n}/24" if ipaddress.ip_address(n).version == 4 else f"{n}/64" for n in nodes]
    with Lab(node_addrs, [src for _, src in clients]) as lab:
        lab.load_nft(text)
        lab.listen(tcp_ports=ports, udp_ports=ports)
        results = lab.probe_many_detailed(probes)
    return {(p.src, p.proto, p.port): r.reached for p, r in zip(probes, results, strict=True)}


def _talos_ruleset(case: Case, role: str) -> str:
    fw = expand(case.gen_options(role)).firewall
    pods = case.options.pod_subnets or ("10.244.0.0/16",)
    ctx = NodeContext(
        node_ips=tuple(ipaddress.ip_address(n) for n in case.node(role)),
        pod_subnets=tuple(ipaddress.ip_network(p) for p in pods),
    )
    return render(compile_firewall(fw, ctx))


def _aws(case: Case, role: str) -> list[Allow]:
    cluster = build_cluster_cli(case.options)
    doc: dict[str, Any] = hcl2.loads(
        export("aws-terraform", cluster).files["talos-security-groups.tf"], serialization_options=HCL
    )
    members = {
        "controlplane": [f"{a}/{32 if ':' not in a else 128}" for a in case.options.controlplane],
        "worker": [f"{a}/{32 if ':' not in a else 128}" for a in case.options.workers],
    }
    return aws_allows(doc, "controlplane" if role == "controlplane" else "worker", members)


def _proxmox(case: Case, role: str) -> list[Allow]:
    files = export("proxmox", build_cluster_cli(case.options)).files
    cluster_fw = parse_fw(files["cluster.fw"], "cluster")
    vm_fw = parse_fw(files[f"{role}.fw"], "vm", cluster_fw)
    return pve_allows(cluster_fw, vm_fw)


@pytest.mark.parametrize(("case", "role"), PARAMS)
def test_exports_let_through_what_the_talos_patch_does(case: Case, role: str) -> None:
    aws, pve = _aws(case, role), _proxmox(case, role)
    talos_text = _talos_ruleset(case, role)
    ports = sorted(
        set(_ports(aws))
        | set(_ports(pve))
        | {p for r in expand(case.gen_options(role)).firewall.rules for pr in r.ports for p in (pr.lo, pr.hi)}
    )
    talos = _kernel(case, role, talos_text, ports)
    got = {"aws": _kernel(case, role, ruleset(aws), ports), "proxmox": _kernel(case, role, ruleset(pve), ports)}
    group_of = {src: group for group, src in case.clients(role)}

    mismatches = []
    for target, verdicts in got.items():
        for key, allowed in verdicts.items():
            src, proto, port = key
            group = group_of[src]
            want = talos[key]
            if target == "aws" and group == "subnet-other":
                # nodes -> the two security groups, not the subnet: an address in neither
                # group is any outside address to AWS.
                outside = OUTSIDE4 if ipaddress.ip_address(src).version == 4 else OUTSIDE6
                want = talos[(outside, proto, port)]
            if allowed != want:
                mismatches.append(f"  {target}: {group} {src} -> {port}/{proto}: {allowed}, Talos patch: {talos[key]}")
    assert not mismatches, "\n".join([f"{len(mismatches)} verdicts differ from the Talos patch:", *mismatches])

    # The probes mean something: each group reaches some port and not the closed ones.
    reached = {group_of[src] for (src, _, _), ok in talos.items() if ok}
    expected = (
        {"controlplane", "workers", "admins", "pods", "subnet-other"}
        | ({"outside", "nodeport-clients"} if "ingress-http" in case.addons else set())
        | ({"nodeport-clients"} if case.nodeport and role == "worker" else set())
    )
    assert reached == expected
    assert not any(ok for (_, _, port), ok in talos.items() if port in CLOSED_PORTS)
