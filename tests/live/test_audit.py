"""talospatch.live.audit: the reference cluster's firewall joined with a node's listeners.

``cp1-netstat.txt`` is a control-plane node (192.168.30.11) of the reference cluster before
Cilium is deployed: apid, trustd, kube-apiserver, etcd (2379, 2380 and, v1.14+, its HTTP
listener 2383 on the client addresses), kubelet, kube-controller-manager and
kube-scheduler on loopback (Talos's --bind-address=127.0.0.1), host DNS.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from talospatch.errors import BadInput
from talospatch.live.audit import (
    AuditResult,
    ListenerReport,
    audit,
    audit_nodes,
    known_listeners,
    parse_listeners,
    results_dict,
    table_text,
)
from talospatch.live.netstat import listeners, parse_netstat
from talospatch.nft.compile import NodeContext
from talospatch.talos.documents import Firewall
from talospatch.talos.patchfiles import load_firewall
from testing.documents import firewall, ip, rule

ROOT = Path(__file__).resolve().parents[2]
LIVE = Path(__file__).resolve().parents[1] / "fixtures" / "live"
CP1 = NodeContext(node_ips=(ip("192.168.30.11"),))
CP1_DUAL = NodeContext(node_ips=(ip("192.168.30.11"), ip("fd00:30::11")))


def reference() -> Firewall:
    return load_firewall([str(ROOT / "out" / "controlplane.yaml")])


def run(name: str, fw: Firewall, ctx: NodeContext) -> AuditResult:
    sockets = listeners(parse_netstat((LIVE / name).read_text(encoding="utf-8"), name))
    (result,) = audit_nodes(sockets, fw, ctx)
    return result


def report(result: AuditResult, proto: str, address: str, port: int) -> ListenerReport:
    (found,) = [
        r
        for r in result.listeners
        if r.socket.transport == proto and str(r.socket.local) == address and r.socket.port == port
    ]
    return found


@pytest.mark.parametrize(
    ("proto", "address", "port", "status", "access"),
    [
        pytest.param("tcp", "::", 50000, "open", "apid-ingress: 192.168.30.0/24, 196.45.28.20", id="apid"),
        pytest.param("tcp", "::", 50001, "open", "trustd-ingress: 192.168.30.0/24", id="trustd"),
        pytest.param(
            "tcp",
            "::",
            6443,
            "open",
            "kubernetes-api-ingress: 10.244.0.0/16, 192.168.30.0/24, 196.45.28.20",
            id="kube-apiserver",
        ),
        pytest.param("tcp", "0.0.0.0", 2379, "open", "etcd-ingress: 192.168.30.11, 192.168.30.12/31", id="etcd-client"),
        pytest.param("tcp", "0.0.0.0", 2380, "open", "etcd-ingress: 192.168.30.11, 192.168.30.12/31", id="etcd-peer"),
        pytest.param("tcp", "0.0.0.0", 2383, "closed", "", id="etcd-http-intended-closed"),
        pytest.param("tcp", "::", 10250, "open", "kubelet-ingress: 10.244.0.0/16, 192.168.30.0/24", id="kubelet"),
        pytest.param("tcp", "127.0.0.1", 10248, "loopback", "", id="kubelet-healthz"),
        pytest.param("tcp", "127.0.0.1", 10257, "loopback", "", id="kube-controller-manager"),
        pytest.param("tcp", "127.0.0.1", 10259, "loopback", "", id="kube-scheduler"),
        pytest.param("udp", "127.0.0.53", 53, "loopback", "", id="host-dns-loopback"),
        pytest.param(
            "udp", "169.254.116.108", 53, "open", "host dns: 10.96.0.0/12, 10.244.0.0/16", id="host-dns-for-pods"
        ),
    ],
)
def test_reference_controlplane_listeners(proto: str, address: str, port: int, status: str, access: str) -> None:
    result = run("cp1-netstat.txt", reference(), CP1)
    found = report(result, proto, address, port)
    assert found.status == status
    assert "; ".join(str(a) for a in found.access) == access


def test_notes_say_why() -> None:
    result = run("cp1-netstat.txt", reference(), CP1)
    assert report(result, "tcp", "127.0.0.1", 10257).note == (
        "bound to loopback only: unreachable from other hosts whatever the rules say"
        " (kube-controller-manager-ingress opens the port for nothing)"
    )
    assert report(result, "tcp", "0.0.0.0", 2383).note.startswith("intended closed: etcd's HTTP listener")
    assert report(result, "tcp", "::", 50000).note == "open to public addresses"
    assert report(result, "udp", "169.254.116.108", 53).note == "only through Talos's built-in rules"
    assert not report(result, "tcp", "::", 10250).public


def test_reference_dead_rules() -> None:
    result = run("cp1-netstat.txt", reference(), CP1)
    assert [str(d) for d in result.dead_rules] == [
        (
            "kube-controller-manager-ingress (10257/tcp): only loopback listens (127.0.0.1:10257) (kube-controller-manager):"
            " the rule opens the port for nothing"
        ),
        (
            "kube-scheduler-ingress (10259/tcp): only loopback listens (127.0.0.1:10259) (kube-scheduler):"
            " the rule opens the port for nothing"
        ),
        (
            "cilium-health-ingress (4240/tcp): nothing listens on 4240/tcp (cilium-health):"
            " a dead rule, or a component not deployed yet"
        ),
        "cni-geneve (6081/udp): nothing listens on 6081/udp (Geneve tunnel): a dead rule, or a component not deployed yet",
    ]


def test_ipv6_listeners_and_listeners_no_rule_opens() -> None:
    result = run("cp1-netstat-x.txt", reference(), CP1_DUAL)
    apid6 = report(result, "tcp", "fd00:30::11", 50000)
    assert (apid6.status, apid6.note) == ("closed", "apid-ingress covers the port but lets no source in")
    hubble = report(result, "tcp", "::", 4244)
    assert hubble.status == "closed"
    assert hubble.note == "no rule opens it (Hubble server: Hubble Relay on the other nodes (hubble add-on))"
    assert report(result, "tcp", "::1", 10248).status == "loopback"
    assert (
        report(result, "udp", "::", 51820).note
        == "no rule opens it (KubeSpan (WireGuard): the other nodes' KubeSpan peers (kubespan add-on))"
    )
    # the established apid connection is not a listener
    assert len([r for r in result.listeners if r.socket.port == 50000]) == 1


def test_dual_stack_wildcard_listener_is_judged_on_both_families() -> None:
    fw = firewall("block", rule("web", [443], "tcp", "0.0.0.0/0", "2001:db8:1::/48"))
    text = (
        "Proto   Recv-Q   Send-Q   Local Address   Foreign Address   State    PID/Program name\n"
        "tcp6    0        0        :::443          :::*              LISTEN   4242/nginx\n"
    )
    (result,) = audit_nodes(listeners(parse_netstat(text, "f")), fw, CP1_DUAL)
    (web,) = result.listeners
    assert [str(a) for a in web.access] == ["web: 0.0.0.0/0, 2001:db8:1::/48"]
    assert web.anyone
    assert web.public
    assert web.note == "open to anyone"


def test_accept_mode_lists_who_the_drop_rules_leave_in() -> None:
    fw = firewall("accept", rule("kubelet-ingress", [10250], "tcp", "10.0.0.0/8"))
    text = (
        "Proto   Recv-Q   Send-Q   Local Address   Foreign Address   State    PID/Program name\n"
        "tcp     0        0        0.0.0.0:10250   0.0.0.0:*         LISTEN   2361/kubelet\n"
        "tcp     0        0        0.0.0.0:8080    0.0.0.0:*         LISTEN   99/web\n"
    )
    result = audit(listeners(parse_netstat(text, "f")), fw, CP1)
    web, kubelet = result.listeners  # by port
    assert [str(a) for a in kubelet.access] == ["default action accept: 10.0.0.0/8"]
    assert not kubelet.public
    assert [str(a) for a in web.access] == ["default action accept: 0.0.0.0/0"]
    assert web.anyone


def test_a_rule_that_opens_a_port_meant_to_stay_closed() -> None:
    fw = firewall("block", rule("etcd-http", [2383], "tcp", "192.168.30.0/24"))
    text = (
        "Proto   Recv-Q   Send-Q   Local Address   Foreign Address   State    PID/Program name\n"
        "tcp     0        0        0.0.0.0:2383    0.0.0.0:*         LISTEN   2130/etcd\n"
    )
    (found,) = audit(listeners(parse_netstat(text, "f")), fw, CP1).listeners
    assert found.status == "open"
    assert found.note.startswith("etcd-http opens a port meant to stay closed: etcd's HTTP listener")


def test_table_and_json() -> None:
    result = run("cp1-netstat.txt", reference(), CP1)
    text = table_text(result)
    lines = text.splitlines()
    assert lines[0].startswith("node 192.168.30.11 (Talos ")
    assert lines[1].split() == ["listener", "program", "status", "who", "may", "reach", "it", "note"]
    assert any(line.startswith("tcp 127.0.0.1:10257") and " loopback " in line for line in lines)
    assert "rules that open a port nobody listens on:" in lines
    data = json.loads(json.dumps(results_dict([result])))
    (node,) = data["nodes"]
    assert len(node["listeners"]) == 14
    assert len(node["deadRules"]) == 4
    apid = next(item for item in node["listeners"] if item["port"] == 50000)
    assert apid == {
        "proto": "tcp6",
        "address": "::",
        "port": 50000,
        "program": "apid",
        "pid": 1874,
        "status": "open",
        "access": [{"by": "apid-ingress", "sources": ["192.168.30.0/24", "196.45.28.20"]}],
        "anyone": False,
        "public": True,
        "rules": ["apid-ingress"],
        "component": "apid (Talos API)",
        "note": "open to public addresses",
    }


def test_known_listener_table_loads() -> None:
    table = known_listeners()
    assert table[(10257, "tcp")].expect == "local"
    assert table[(2383, "tcp")].expect == "closed"
    assert all(entry.source for entry in table.values())


def test_node_address_from_the_node_column() -> None:
    with_address = run("cp1-netstat.txt", reference(), CP1)
    from_column = run("cp1-netstat.txt", reference(), NodeContext())
    assert from_column.notes[0] == "node address taken from the NODE column: 192.168.30.11"
    assert from_column.listeners == with_address.listeners


def test_without_any_node_address_a_documentation_address_stands_in() -> None:
    result = run("cp1-netstat-x.txt", reference(), NodeContext())
    assert "no node address given: wildcard listeners are judged at a documentation address" in result.notes
    assert [str(a) for a in report(result, "tcp", "::", 4240).access] == ["cilium-health-ingress: 192.168.30.0/24"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("listeners: []\n", "listeners.yaml: listeners: must list at least one item", id="empty"),
        pytest.param("other: 1\n", "listeners.yaml: unknown key 'other'", id="unknown-top-key"),
        pytest.param(
            "listeners:\n  - {port: 50000, protocol: tcp, component: apid, expect: open, why: w, source: s}\n"
            "  - {port: 70000, protocol: tcp, component: x, expect: open, why: w, source: s}\n",
            "listeners.yaml: listeners[1]: port: must be a port 1-65535, not 70000",
            id="port",
        ),
        pytest.param(
            "listeners:\n  - {port: 1, protocol: sctp, component: x, expect: open, why: w, source: s}\n",
            "listeners.yaml: listeners[0]: protocol: must be tcp or udp, not 'sctp'",
            id="protocol",
        ),
        pytest.param(
            "listeners:\n  - {port: 1, protocol: tcp, component: x, expect: maybe, why: w, source: s}\n",
            "listeners.yaml: listeners[0]: expect: must be open, closed or local, not 'maybe'",
            id="expect",
        ),
    ],
)
def test_listener_table_errors_name_the_entry(text: str, message: str) -> None:
    with pytest.raises(BadInput) as excinfo:
        parse_listeners(text)
    assert str(excinfo.value) == message


NATIVE_BGP_NETSTAT = (
    "Proto   Recv-Q   Send-Q   Local Address   Foreign Address   State    PID/Program name\n"
    "tcp6    0        0        :::179          :::*              LISTEN   1/machined\n"
    "udp6    0        0        :::3784         :::*                       1/machined\n"
)


def test_talos_native_bgp_listeners_are_known() -> None:
    """Talos's own BGP speaker (GoBGP in machined, v1.14+) on 179/tcp and its BFD on 3784/udp."""
    known = known_listeners()
    assert known[(179, "tcp")].expect == known[(3784, "udp")].expect == "open"
    assert "BGPInstanceConfig" in known[(179, "tcp")].component
    sockets = listeners(parse_netstat(NATIVE_BGP_NETSTAT, "f"))
    unopened = audit(sockets, firewall("block"), CP1_DUAL)
    assert [r.note for r in unopened.listeners] == [
        f"no rule opens it ({known[(179, 'tcp')].component}: {known[(179, 'tcp')].why})",
        f"no rule opens it ({known[(3784, 'udp')].component}: {known[(3784, 'udp')].why})",
    ]
    fw = firewall(
        "block",
        rule("talos-bgp-ingress", [179], "tcp", "192.168.30.1/32", "fe80::/10"),
        rule("talos-bgp-bfd-ingress", [3784], "udp", "192.168.30.1/32"),
    )
    bgp, bfd = audit(sockets, fw, CP1_DUAL).listeners
    assert (bgp.status, [str(a) for a in bgp.access]) == ("open", ["talos-bgp-ingress: 192.168.30.1, fe80::/10"])
    assert (bfd.status, [str(a) for a in bfd.access]) == ("open", ["talos-bgp-bfd-ingress: 192.168.30.1"])
    assert (bgp.public, bfd.public) == (False, False)
