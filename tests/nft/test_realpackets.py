"""The built-in profiles on the real kernel: generated rules, loaded with ``nft``, probed.

For every role x CNI (Cilium with each tunnel choice, Flannel, Calico, none), a dual-stack
case per role, and add-on cases per role, the test

1. generates the firewall with ``expand(GenOptions(...))`` and checks that the rule names,
   protocols and ports are the ones in the hand-written table below;
2. compiles it for the node (``compile_firewall``), renders it and loads the text into the
   node namespace of a fresh :class:`netlab.Lab` with the real ``nft``;
3. listens on TCP and UDP on every probed port (every port of the table and of the
   generated rules, range ends and one port inside, plus closed control ports) and probes
   every port, both protocols, from one client address per source group, in one batch;
4. asserts, for every probe: kernel verdict == ``Reach.query`` == the expectation table.

The expectation table (``ROLE_RULES``, ``CNI_RULES``, ``ADDON_RULES``) is written by hand
from the seed's port tables and the profile files' intent. It is deliberately *not*
computed from the profiles or from talospatch code: when a profile or the compiler
changes what a source group can reach, this test says so.

Topology: node 192.168.30.21/24 (and fd00:30::21/64 for dual stack). Client groups:
control-plane peer (given as ``--controlplane``), worker peer (in the subnet, not control
plane), admin outside the subnet (``--admin``), a pod address, an address given as
``--nodeport-from`` (only the nodeport cases pass it), and an address outside everything.

Skipped without root / network namespaces, failed instead under ``CI=true``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass

import pytest

from talospatch.cli.params import command_line
from talospatch.generate.expand import GenOptions, expand
from talospatch.nft.compile import NodeContext, compile_firewall
from talospatch.nft.reach import Reach
from talospatch.nft.text import render
from testing.cluster import NODE as NODE4
from testing.cluster import NODE6, POD_SUBNET6, SUBNET6
from testing.cluster import POD_SUBNET as POD_SUBNET4
from testing.cluster import SUBNET as SUBNET4
from testing.netlab import Lab, Probe, ensure_netns

pytestmark = pytest.mark.kernel

# --------------------------------------------------------------------------------------
# Topology


CP = "controlplane"
WORKER = "worker"
ADMIN = "admin"
POD = "pod"
NODEPORT_CLIENT = "nodeport-client"
OUTSIDE = "outside"
GROUPS = (CP, WORKER, ADMIN, POD, NODEPORT_CLIENT, OUTSIDE)

CLIENTS4 = {
    CP: "192.168.30.11",
    WORKER: "192.168.30.31",
    ADMIN: "196.45.28.20",
    POD: "10.244.1.5",
    NODEPORT_CLIENT: "198.51.100.7",
    OUTSIDE: "203.0.113.9",
}
CLIENTS6 = {
    CP: "fd00:30::11",
    WORKER: "fd00:30::31",
    ADMIN: "2001:db8:45::20",
    POD: "fd00:244::5",
    NODEPORT_CLIENT: "2001:db8:51::7",
    OUTSIDE: "2001:db8:99::9",
}

# --------------------------------------------------------------------------------------
# The expectation table, by hand from the seed (firewall-requirements.md) and the profiles.
# rule name -> (protocol, ports as (lo, hi), source groups that may reach it)

NODES = frozenset({CP, WORKER})  # the node subnet: control-plane and worker peers
NODES_PODS = NODES | {POD}
EVERYONE = frozenset(GROUPS)

Rule = tuple[str, tuple[tuple[int, int], ...], frozenset[str]]


def _p(*ports: int | tuple[int, int]) -> tuple[tuple[int, int], ...]:
    return tuple(p if isinstance(p, tuple) else (p, p) for p in ports)


ROLE_RULES: dict[str, dict[str, Rule]] = {
    "controlplane": {
        # seed: 50000 from all nodes and admin workstations
        "apid-ingress": ("tcp", _p(50000), NODES | {ADMIN}),
        # seed: 50001 from workers; workers default to the node subnet
        "trustd-ingress": ("tcp", _p(50001), NODES),
        # seed: 6443 from all nodes and admins; in-cluster clients come from pod addresses
        "kubernetes-api-ingress": ("tcp", _p(6443), NODES | {ADMIN, POD}),
        # seed: 2379-2380 from control-plane nodes only
        "etcd-ingress": ("tcp", _p((2379, 2380)), frozenset({CP})),
        # seed: 10250 from all nodes; metrics-server/Prometheus scrape it from pods
        "kubelet-ingress": ("tcp", _p(10250), NODES_PODS),
        # seed: 10257 / 10259 from control-plane nodes only
        "kube-controller-manager-ingress": ("tcp", _p(10257), frozenset({CP})),
        "kube-scheduler-ingress": ("tcp", _p(10259), frozenset({CP})),
    },
    "worker": {
        "apid-ingress": ("tcp", _p(50000), NODES | {ADMIN}),
        "kubelet-ingress": ("tcp", _p(10250), NODES_PODS),
    },
}

_CILIUM_HEALTH: dict[str, Rule] = {"cilium-health-ingress": ("tcp", _p(4240), NODES)}
CNI_RULES: dict[str, dict[str, Rule]] = {
    "cilium-vxlan": {**_CILIUM_HEALTH, "cni-vxlan": ("udp", _p(8472), NODES)},
    "cilium-geneve": {**_CILIUM_HEALTH, "cni-geneve": ("udp", _p(6081), NODES)},
    "cilium-both": {
        **_CILIUM_HEALTH,
        "cni-vxlan": ("udp", _p(8472), NODES),
        "cni-geneve": ("udp", _p(6081), NODES),
    },
    # no --tunnel: both tunnels (README: a missing tunnel port breaks every pod connection)
    "cilium": {
        **_CILIUM_HEALTH,
        "cni-vxlan": ("udp", _p(8472), NODES),
        "cni-geneve": ("udp", _p(6081), NODES),
    },
    "flannel": {"cni-vxlan": ("udp", _p(4789), NODES)},
    "calico": {
        "cni-vxlan": ("udp", _p(4789), NODES),
        "calico-bgp-ingress": ("tcp", _p(179), NODES),
        "calico-typha-ingress": ("tcp", _p(5473), NODES),
    },
    "none": {},
}

ADDON_RULES: dict[str, dict[str, Rule]] = {
    "cilium-wireguard": {"cilium-wireguard-ingress": ("udp", _p(51871), NODES)},
    "etcd-metrics": {"etcd-metrics-ingress": ("tcp", _p(2381), NODES_PODS)},
    "hubble": {"hubble-ingress": ("tcp", _p(4244), NODES_PODS)},
    "ingress-http": {"ingress-http-ingress": ("tcp", _p(80, 443), EVERYONE)},
    "kubespan": {"kubespan-ingress": ("udp", _p(51820), NODES)},
    "metallb": {
        "metallb-memberlist-ingress-tcp": ("tcp", _p(7946), NODES),
        "metallb-memberlist-ingress-udp": ("udp", _p(7946), NODES),
    },
    "node-exporter": {"node-exporter-ingress": ("tcp", _p(9100), NODES_PODS)},
    "trust-nodes": {
        "trust-nodes-tcp": ("tcp", _p((1, 65535)), NODES),
        "trust-nodes-udp": ("udp", _p((1, 65535)), NODES),
    },
    # seed: 30000-32767 TCP/UDP "as needed": nodes, admins and --nodeport-from
    "nodeport": {
        "nodeport-ingress-tcp": ("tcp", _p((30000, 32767)), NODES | {ADMIN, NODEPORT_CLIENT}),
        "nodeport-ingress-udp": ("udp", _p((30000, 32767)), NODES | {ADMIN, NODEPORT_CLIENT}),
    },
}

# Every port probed in every case, TCP and UDP: each profile's ports, range ends and their
# neighbours, and control ports no profile opens (22, 53, 8080, 9999, etcd's 2383).
PROBE_PORTS = (
    1,
    22,
    53,
    80,
    179,
    443,
    2378,
    2379,
    2380,
    2381,
    2383,
    4240,
    4244,
    4789,
    5473,
    6081,
    6443,
    7946,
    8080,
    8472,
    9100,
    9999,
    10250,
    10257,
    10259,
    29999,
    30000,
    31000,
    32767,
    32768,
    50000,
    50001,
    51820,
    51871,
    65535,
)
ETCD_PORTS = (2379, 2380)
KUBELET_PORT = 10250
HTTP_PORTS = (80, 443)

ROLE_ADDONS = {
    "controlplane": (
        "cilium-wireguard",
        "etcd-metrics",
        "hubble",
        "ingress-http",
        "kubespan",
        "metallb",
        "node-exporter",
    ),
    "worker": ("cilium-wireguard", "hubble", "ingress-http", "kubespan", "metallb", "node-exporter"),
}


@dataclass(frozen=True)
class Case:
    id: str
    role: str
    cni: str  # key of CNI_RULES: "<cni>" or "<cni>-<tunnel>"
    addons: tuple[str, ...] = ()
    nodeport: bool = False
    dual: bool = False

    @property
    def options(self) -> GenOptions:
        cni, _, tunnel = self.cni.partition("-")
        families = (CLIENTS4, CLIENTS6) if self.dual else (CLIENTS4,)
        return GenOptions(
            role=self.role,
            subnets=(SUBNET4, SUBNET6) if self.dual else (SUBNET4,),
            cni=cni,
            tunnel=tunnel or None,
            controlplane=tuple(c[CP] for c in families) if self.role == "controlplane" else (),
            admins=tuple(c[ADMIN] for c in families),
            pod_subnets=(POD_SUBNET4, POD_SUBNET6) if self.dual else (),  # single stack: the default
            addons=self.addons,
            nodeport=self.nodeport,
            nodeport_from=tuple(c[NODEPORT_CLIENT] for c in families) if self.nodeport else (),
        )

    @property
    def context(self) -> NodeContext:
        pods = (POD_SUBNET4, POD_SUBNET6) if self.dual else (POD_SUBNET4,)
        return NodeContext(
            node_ips=tuple(ipaddress.ip_address(a) for a in ((NODE4, NODE6) if self.dual else (NODE4,))),
            pod_subnets=tuple(ipaddress.ip_network(p) for p in pods),
        )

    @property
    def node_addrs(self) -> list[str]:
        return [f"{NODE4}/24", f"{NODE6}/64"] if self.dual else [f"{NODE4}/24"]

    @property
    def clients(self) -> list[tuple[str, str]]:
        """(group, address) for every client, IPv4 first."""
        families = (CLIENTS4, CLIENTS6) if self.dual else (CLIENTS4,)
        return [(group, c[group]) for c in families for group in GROUPS]

    @property
    def expected_rules(self) -> dict[str, Rule]:
        rules = {**ROLE_RULES[self.role], **CNI_RULES[self.cni]}
        for addon in (*self.addons, *(("nodeport",) if self.nodeport else ())):
            rules.update(ADDON_RULES[addon])
        return rules


def _cases() -> list[Case]:
    cases: list[Case] = []
    for role in ("controlplane", "worker"):
        for cni in CNI_RULES:
            cases.append(Case(f"{role}-{cni}", role, cni))
        cases.append(Case(f"{role}-dualstack", role, "cilium", dual=True))
        addons = ROLE_ADDONS[role]
        nodeport = role == "worker"
        suffix = "-nodeport" if nodeport else ""
        cases.append(Case(f"{role}-addons{suffix}", role, "cilium", addons, nodeport=nodeport))
        cases.append(Case(f"{role}-dualstack-addons{suffix}", role, "cilium", addons, nodeport=nodeport, dual=True))
        cases.append(Case(f"{role}-trust-nodes", role, "cilium", ("trust-nodes",)))
    return cases


CASES = _cases()


@pytest.fixture(scope="module", autouse=True)
def _netns_available() -> None:
    ensure_netns()


def _expected(case: Case, group: str, proto: str, port: int) -> bool:
    for rule_proto, ranges, groups in case.expected_rules.values():
        if rule_proto == proto and group in groups and any(lo <= port <= hi for lo, hi in ranges):
            return True
    return False


def _probe_ports(case: Case, generated: Mapping[str, tuple[str, tuple[tuple[int, int], ...]]]) -> list[int]:
    """The fixed probe ports plus the low end, high end and middle of every rule's range."""
    ports = set(PROBE_PORTS)
    for _, ranges in [*generated.values(), *((p, r) for p, r, _ in case.expected_rules.values())]:
        for lo, hi in ranges:
            ports.update({lo, hi, (lo + hi) // 2})
    ports.discard(0)
    return sorted(ports)


@dataclass(frozen=True)
class Observation:
    group: str
    probe: Probe
    outcome: str
    kernel: bool
    query: bool
    reason: str
    expected: bool

    def line(self) -> str:
        p = self.probe
        return (
            f"{self.group:>15} {p.src:>16} -> {p.port}/{p.proto}: kernel={self.kernel} ({self.outcome}) "
            f"query={self.query} ({self.reason}) expected={self.expected}"
        )


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_profile_on_the_real_kernel(case: Case) -> None:
    generated = expand(case.options)
    fw = generated.firewall
    fw.check()
    assert fw.default_action == "block"

    # 1. The generated rules are exactly the hand-written table's (names, protocol, ports).
    got_rules = {r.name: (r.protocol, tuple((p.lo, p.hi) for p in r.ports)) for r in fw.rules}
    want_rules = {name: (proto, ranges) for name, (proto, ranges, _) in case.expected_rules.items()}
    assert got_rules == want_rules, (
        f"{command_line(generated.options)}: generated rules differ from the expectation table"
    )

    ctx = case.context
    reach = Reach(fw, ctx)
    text = render(compile_firewall(fw, ctx))
    ports = _probe_ports(case, got_rules)
    node_by_version = {ip.version: str(ip) for ip in ctx.node_ips}
    probes: list[tuple[str, Probe]] = []
    for group, src in case.clients:
        dst = node_by_version[ipaddress.ip_address(src).version]
        for proto in ("tcp", "udp"):
            probes += [(group, Probe(src, dst, proto, port)) for port in ports]

    # 2. Load the render into a fresh lab and probe everything in one batch.
    with Lab(case.node_addrs, [src for _, src in case.clients]) as lab:
        lab.load_nft(text)
        lab.listen(tcp_ports=ports, udp_ports=ports)
        results = lab.probe_many_detailed([p for _, p in probes])

    observations: list[Observation] = []
    for (group, probe), result in zip(probes, results, strict=True):
        answer = reach.query(probe.src, probe.port, probe.proto, probe.dst)
        observations.append(
            Observation(
                group,
                probe,
                result.outcome.value,
                result.reached,
                answer.allowed,
                answer.reason,
                _expected(case, group, probe.proto, probe.port),
            )
        )

    # 3. kernel == query == expectation, for every probe.
    mismatches = [o.line() for o in observations if not (o.kernel == o.query == o.expected)]

    # 4. The sensitive-port invariants, stated on their own (kernel and query).
    violations: list[str] = []
    etcd_sources = NODES if "trust-nodes" in case.addons else frozenset({CP})
    http_open = "ingress-http" in case.addons
    for o in observations:
        p = o.probe
        for what, value in (("kernel", o.kernel), ("query", o.query)):
            if not value:
                continue
            if p.proto == "tcp" and p.port in ETCD_PORTS and o.group not in etcd_sources:
                violations.append(f"etcd {p.port}/tcp reachable from {o.group} {p.src} ({what})")
            if o.group == OUTSIDE and not (http_open and p.proto == "tcp" and p.port in HTTP_PORTS):
                violations.append(f"{p.port}/{p.proto} reachable from the outside address {p.src} ({what})")
            if p.proto == "tcp" and p.port == KUBELET_PORT and o.group in (ADMIN, OUTSIDE, NODEPORT_CLIENT):
                violations.append(f"kubelet {p.port}/tcp reachable from {o.group} {p.src} ({what})")

    report = []
    if mismatches:
        report.append(f"{len(mismatches)} of {len(observations)} probes disagree (kernel / query / expected):")
        report += [f"  {m}" for m in mismatches]
    if violations:
        report.append(f"{len(violations)} sensitive-port invariant violations:")
        report += [f"  {v}" for v in violations]
    if report:
        report += [f"case {case.id}: {command_line(generated.options)}", "ruleset loaded:", text]
    assert not report, "\n".join(report)
