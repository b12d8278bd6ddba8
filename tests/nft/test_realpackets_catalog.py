"""Converged control planes and Cilium native routing on the real kernel.

Same method as ``test_realpackets.py``: generate with ``expand``, compile for the node, load
the ruleset into a fresh :class:`netlab.Lab` with the real ``nft``, listen on every probed
port and probe from one client address per source group. For every probe the kernel's
verdict, ``Reach.query`` and the hand-written expectation below must agree.

On top of that each case is compared with its baseline on the kernel:

- converged control plane vs. the same control plane without ``converged``: what became
  reachable is exactly the NodePort range, TCP and UDP, from the nodes, the admin and the
  ``--nodeport-from`` client; nothing else opened, nothing closed;
- ``--tunnel native`` vs. ``--tunnel vxlan``: the only difference is the VXLAN port from the
  nodes (no tunnel port is open with native routing), and pod-to-pod traffic, probed from a
  pod address of another node to a pod address on this node, passes in both.

Skipped without root / network namespaces, failed instead under ``CI=true``.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import pytest

from talospatch.cli.params import command_line
from talospatch.generate.expand import GenOptions, expand
from talospatch.nft.compile import NodeContext, compile_firewall
from talospatch.nft.reach import Reach
from talospatch.nft.text import render
from testing.cluster import NODE, SUBNET
from testing.netlab import Lab, Probe, ensure_netns

pytestmark = pytest.mark.kernel

NODE_POD = "10.244.0.10"  # a pod on this node (Talos's default pod subnet 10.244.0.0/16)

CP, WORKER, ADMIN, POD, NODEPORT_CLIENT, OUTSIDE = (
    "controlplane",
    "worker",
    "admin",
    "pod",
    "nodeport-client",
    "outside",
)
CLIENTS = {
    CP: "192.168.30.11",
    WORKER: "192.168.30.31",
    ADMIN: "196.45.28.20",
    POD: "10.244.1.5",  # a pod on another node
    NODEPORT_CLIENT: "198.51.100.7",
    OUTSIDE: "203.0.113.9",
}
NODES = frozenset({CP, WORKER})

Rule = tuple[str, tuple[int, int], frozenset[str]]  # protocol, (lo, hi), groups

# By hand, from the seed's port tables and the profile files' intent (not computed from them).
CONTROLPLANE: dict[str, Rule] = {
    "apid-ingress": ("tcp", (50000, 50000), NODES | {ADMIN}),
    "trustd-ingress": ("tcp", (50001, 50001), NODES),
    "kubernetes-api-ingress": ("tcp", (6443, 6443), NODES | {ADMIN, POD}),
    "etcd-ingress": ("tcp", (2379, 2380), frozenset({CP})),
    "kubelet-ingress": ("tcp", (10250, 10250), NODES | {POD}),
    "kube-controller-manager-ingress": ("tcp", (10257, 10257), frozenset({CP})),
    "kube-scheduler-ingress": ("tcp", (10259, 10259), frozenset({CP})),
    "cni-vxlan": ("udp", (4789, 4789), NODES),  # flannel
}
NODEPORT_GROUPS = NODES | {ADMIN, NODEPORT_CLIENT}
NODEPORTS: dict[str, Rule] = {
    "nodeport-ingress-tcp": ("tcp", (30000, 32767), NODEPORT_GROUPS),
    "nodeport-ingress-udp": ("udp", (30000, 32767), NODEPORT_GROUPS),
}
WORKER_CILIUM: dict[str, Rule] = {
    "apid-ingress": ("tcp", (50000, 50000), NODES | {ADMIN}),
    "kubelet-ingress": ("tcp", (10250, 10250), NODES | {POD}),
    "cilium-health-ingress": ("tcp", (4240, 4240), NODES),
}
VXLAN: dict[str, Rule] = {"cni-vxlan": ("udp", (8472, 8472), NODES)}

PORTS = (
    22,
    179,
    2379,
    2380,
    4240,
    4789,
    6081,
    6443,
    8080,
    8472,
    9999,
    10250,
    10256,
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
)


@dataclass(frozen=True)
class Case:
    id: str
    options: GenOptions
    expected: dict[str, Rule]


def _controlplane(converged: bool) -> GenOptions:
    return GenOptions(
        role="controlplane",
        subnets=(SUBNET,),
        cni="flannel",
        controlplane=(CLIENTS[CP],),
        admins=(CLIENTS[ADMIN],),
        converged=converged,
        nodeport_from=(CLIENTS[NODEPORT_CLIENT],) if converged else (),
    )


def _worker(tunnel: str) -> GenOptions:
    return GenOptions(role="worker", subnets=(SUBNET,), tunnel=tunnel, admins=(CLIENTS[ADMIN],))


CONTROLPLANE_PLAIN = Case("controlplane", _controlplane(False), CONTROLPLANE)
CONTROLPLANE_CONVERGED = Case("controlplane-converged", _controlplane(True), {**CONTROLPLANE, **NODEPORTS})
WORKER_VXLAN = Case("worker-cilium-vxlan", _worker("vxlan"), {**WORKER_CILIUM, **VXLAN})
WORKER_NATIVE = Case("worker-cilium-native", _worker("native"), WORKER_CILIUM)


@pytest.fixture(scope="module", autouse=True)
def _netns_available() -> None:
    ensure_netns()


def _expected(case: Case, group: str, proto: str, port: int) -> bool:
    return any(p == proto and group in groups and lo <= port <= hi for p, (lo, hi), groups in case.expected.values())


@dataclass(frozen=True)
class Run:
    reached: frozenset[tuple[str, str, int]]  # (group, proto, port) reaching the node address
    pod_to_pod: dict[tuple[str, int], bool]  # (proto, port) from the other node's pod to NODE_POD
    problems: list[str]


def _run(case: Case) -> Run:
    """Load the case's ruleset into a lab, probe everything, check kernel == query == table."""
    generated = expand(case.options)
    fw = generated.firewall
    got = {r.name: (r.protocol, tuple((p.lo, p.hi) for p in r.ports)) for r in fw.rules}
    want = {name: (proto, ((lo, hi),)) for name, (proto, (lo, hi), _) in case.expected.items()}
    problems = [] if got == want else [f"generated rules {got} != expected {want}"]

    ctx = NodeContext(node_ips=(ipaddress.ip_address(NODE),))
    reach = Reach(fw, ctx)
    text = render(compile_firewall(fw, ctx))
    probes = [
        (group, Probe(src, NODE, proto, port))
        for group, src in CLIENTS.items()
        for proto in ("tcp", "udp")
        for port in PORTS
    ]
    pod_probes = [Probe(CLIENTS[POD], NODE_POD, proto, port) for proto in ("tcp", "udp") for port in PORTS]
    with Lab([f"{NODE}/24", f"{NODE_POD}/32"], list(CLIENTS.values())) as lab:
        lab.load_nft(text)
        lab.listen(tcp_ports=PORTS, udp_ports=PORTS)
        results = lab.probe_many_detailed([p for _, p in probes] + pod_probes)

    reached: set[tuple[str, str, int]] = set()
    for (group, probe), result in zip(probes, results[: len(probes)], strict=True):
        query = reach.query(probe.src, probe.port, probe.proto, probe.dst).allowed
        expected = _expected(case, group, probe.proto, probe.port)
        if not (result.reached == query == expected):
            problems.append(
                f"{group} {probe.src} -> {probe.port}/{probe.proto}: kernel={result.reached} "
                f"({result.outcome.value}) query={query} expected={expected}"
            )
        if result.reached:
            reached.add((group, probe.proto, probe.port))
    pod_to_pod: dict[tuple[str, int], bool] = {}
    for probe, result in zip(pod_probes, results[len(probes) :], strict=True):
        query = reach.query(probe.src, probe.port, probe.proto, probe.dst).allowed
        pod_to_pod[(probe.proto, probe.port)] = result.reached
        if not (result.reached and query):
            problems.append(
                f"pod-to-pod {probe.src} -> {probe.dst} {probe.port}/{probe.proto}: kernel={result.reached} "
                f"({result.outcome.value}) query={query}, expected to pass"
            )
    if problems:
        problems += [f"case {case.id}: {command_line(generated.options)}", "ruleset loaded:", text]
    return Run(frozenset(reached), pod_to_pod, problems)


CASES = (CONTROLPLANE_PLAIN, CONTROLPLANE_CONVERGED, WORKER_VXLAN, WORKER_NATIVE)
_RUNS: dict[str, Run] = {}


def _lab_run(case: Case) -> Run:
    """Each case runs once per session; a case that fails to generate fails only its tests."""
    if case.id not in _RUNS:
        _RUNS[case.id] = _run(case)
    return _RUNS[case.id]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_kernel_query_and_table_agree(case: Case) -> None:
    problems = _lab_run(case).problems
    assert not problems, "\n".join(problems)


def test_converged_controlplane_opens_nodeports_to_the_allowed_clients_and_nothing_else() -> None:
    plain, converged = _lab_run(CONTROLPLANE_PLAIN).reached, _lab_run(CONTROLPLANE_CONVERGED).reached
    assert plain <= converged, f"closed by --converged: {sorted(plain - converged)}"
    newly = converged - plain
    nodeport_probes = [p for p in PORTS if 30000 <= p <= 32767]
    assert newly == {(g, proto, port) for g in NODEPORT_GROUPS for proto in ("tcp", "udp") for port in nodeport_probes}
    assert not {(g, proto, port) for g, proto, port in converged if g in (POD, OUTSIDE) and 30000 <= port <= 32767}


def test_native_routing_opens_no_tunnel_port_and_pods_still_talk() -> None:
    vxlan, native = _lab_run(WORKER_VXLAN), _lab_run(WORKER_NATIVE)
    tunnel_ports = {("udp", 8472), ("udp", 6081), ("udp", 4789)}
    assert not {(g, p, n) for g, p, n in native.reached if (p, n) in tunnel_ports}
    assert vxlan.reached - native.reached == {(g, "udp", 8472) for g in NODES}
    assert native.reached <= vxlan.reached
    assert all(native.pod_to_pod.values())
    assert all(vxlan.pod_to_pod.values())
    assert len(native.pod_to_pod) == 2 * len(PORTS)
