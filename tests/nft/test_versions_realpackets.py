"""NodePorts on the real kernel, per Talos release: kube-proxy's DNAT against Talos's chains.

For each release, a fresh :class:`netlab.Lab` node gets the ruleset that release compiles
(``compile_firewall(..., version)``, loaded with ``nft -f``) plus kube-proxy's NodePort
DNAT to a pod behind the node (``testing.netlab_pods.PodBackend``: a real pod namespace, a real
forward path). Then TCP probes from the client namespace:

- the NodePort with no rule for it: from v1.10 Talos's ``prerouting`` chain (priority
  dstnat - 10) drops the new connection before the DNAT; before v1.10 there is no such
  chain, the DNATed packet is forwarded to the pod, and the ``ingress`` chain (hook input)
  never sees it: the pod answers;
- the NodePort with a rule allowing one client: that client reaches the pod on every
  release, the other client only where NodePorts are not filtered;
- a node port outside the NodePort range with no rule: dropped by ``ingress`` on every
  release (the ruleset does filter input traffic).

For every probe the kernel's verdict (the pod's or node's handshake completed, ``OPEN``, or
nothing came back, ``TIMEOUT``) and ``Reach(..., version).query`` agree, and both match the
expectation written here from the reference (talos-live.md §3). Skipped without root /
network namespaces, failed instead under ``CI=true``.
"""

from __future__ import annotations

import pytest

from talospatch.nft.compile import NodeContext, compile_firewall
from talospatch.nft.reach import Reach
from talospatch.nft.text import render
from talospatch.talos.documents import Firewall
from testing.documents import firewall, ip, rule
from testing.netlab import Lab, Outcome, Probe, ensure_netns
from testing.netlab_pods import PodBackend

NODE4 = "192.168.30.21"
ALLOWED_CLIENT = "198.51.100.7"
OTHER_CLIENT = "203.0.113.9"
NODEPORT = 30080
POD_PORT = 8080
NODE_ONLY_PORT = 9100  # a node port outside the NodePort range, no rule for it
CONTEXT = NodeContext(node_ips=(ip(NODE4),))

APID = rule("apid-ingress", [50000], "tcp", "192.168.30.0/24")
NO_NODEPORT_RULE = firewall("block", APID)
NODEPORT_RULE = firewall("block", APID, rule("nodeports", ["30000-32767"], "tcp", "198.51.100.0/24"))

# (release given to --talos-version, NodePorts filtered by Talos)
RELEASES = [
    pytest.param("1.9.3", False, id="v1.9.3"),  # ingress at priority filter
    pytest.param("1.9", False, id="v1.9.6"),  # ingress at -140, still no prerouting chain
    pytest.param("1.10.0", True, id="v1.10.0"),  # the prerouting chain arrives
    pytest.param(None, True, id="default-v1.14.0"),
]


@pytest.fixture(scope="module")
def _netns_available() -> None:
    ensure_netns()


def kernel_and_reach(fw: Firewall, version: str | None, probes: list[Probe]) -> list[tuple[bool, bool]]:
    """(kernel reached, Reach allowed) per probe, on a fresh lab with the pod and kube-proxy."""
    reach = Reach(fw, CONTEXT, version)
    ruleset = compile_firewall(fw, CONTEXT, version)
    assert ruleset.version == reach.version
    with Lab([f"{NODE4}/24"], [ALLOWED_CLIENT, OTHER_CLIENT]) as lab, PodBackend(lab, POD_PORT) as pod:
        lab.listen(tcp_ports=[NODE_ONLY_PORT])
        lab.load_nft(pod.kube_proxy_nat(NODEPORT))
        # The emulation works: with no Talos table the NodePort reaches the pod.
        [check] = lab.probe_many_detailed([Probe(OTHER_CLIENT, NODE4, "tcp", NODEPORT)])
        assert check.outcome is Outcome.OPEN
        lab.load_nft(render(ruleset))
        results = lab.probe_many_detailed(probes)
    out: list[tuple[bool, bool]] = []
    for result in results:
        # OPEN: a handshake completed (the pod's listener, or the node's for NODE_ONLY_PORT);
        # TIMEOUT: dropped. Anything else (a RST from a closed port) would be a broken setup.
        assert result.outcome in (Outcome.OPEN, Outcome.TIMEOUT), result
        answer = reach.query(result.probe.src, result.probe.port, "tcp", result.probe.dst)
        out.append((result.outcome is Outcome.OPEN, answer.allowed))
    return out


@pytest.mark.kernel
@pytest.mark.usefixtures("_netns_available")
@pytest.mark.parametrize(("version", "filtered"), RELEASES)
def test_nodeport_without_a_rule(version: str | None, filtered: bool) -> None:
    probes = [
        Probe(OTHER_CLIENT, NODE4, "tcp", NODEPORT),
        Probe(OTHER_CLIENT, NODE4, "tcp", NODE_ONLY_PORT),
    ]
    nodeport, node_only = kernel_and_reach(NO_NODEPORT_RULE, version, probes)
    assert nodeport == (not filtered, not filtered)
    assert node_only == (False, False)


@pytest.mark.kernel
@pytest.mark.usefixtures("_netns_available")
@pytest.mark.parametrize(("version", "filtered"), RELEASES)
def test_nodeport_with_a_rule_for_one_client(version: str | None, filtered: bool) -> None:
    probes = [
        Probe(ALLOWED_CLIENT, NODE4, "tcp", NODEPORT),
        Probe(OTHER_CLIENT, NODE4, "tcp", NODEPORT),
    ]
    allowed, other = kernel_and_reach(NODEPORT_RULE, version, probes)
    assert allowed == (True, True)
    assert other == (not filtered, not filtered)


def test_reach_names_the_release_when_a_nodeport_is_not_filtered() -> None:
    answer = Reach(NO_NODEPORT_RULE, CONTEXT, "1.9").query(OTHER_CLIENT, NODEPORT, "tcp")
    assert answer.reason == (
        "allowed: on Talos v1.9 NodePort traffic is DNATed by kube-proxy before the ingress chain "
        "(no prerouting chain before v1.10): no rule filters it"
    )
