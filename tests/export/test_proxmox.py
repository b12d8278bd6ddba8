"""``proxmox`` read back with the pve-firewall grammar port, ``proxmox-terraform`` with
python-hcl2: every line is one pve-firewall accepts, and both say the same."""

from __future__ import annotations

import pytest

from talospatch.export import render
from talospatch.export.proxmox import GROUP_NAME, _dports
from talospatch.generate.options import GenOptions
from talospatch.talos.documents import PortRange
from testing.exportnft import PVE_CLUSTERS as CLUSTERS
from testing.exportnft import build_cluster_cli
from testing.pvefw import PveSyntaxError, parse_fw, parse_rule


def _files(name: str) -> dict[str, str]:
    return render("proxmox", build_cluster_cli(CLUSTERS[name])).files


def _rule_lines(text: str) -> int:
    """Lines that are neither blank, comments, section headers, options, aliases nor ipset entries."""
    count, section = 0, ""
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            section = line.lower()
            continue
        if section.startswith("[group") or section == "[rules]":
            count += 1
    return count


@pytest.mark.parametrize("name", list(CLUSTERS))
def test_pve_firewall_accepts_every_line(name: str) -> None:
    files = _files(name)
    assert sorted(files) == ["cluster.fw", "controlplane.fw", "worker.fw"]
    cluster = parse_fw(files["cluster.fw"], "cluster")
    assert cluster.options == {"enable": "1"}
    assert set(cluster.groups) == set(GROUP_NAME.values())
    parsed_rules = sum(len(rules) for rules in cluster.groups.values())
    assert parsed_rules == _rule_lines(files["cluster.fw"])  # nothing skipped
    for role, group in GROUP_NAME.items():
        vm = parse_fw(files[f"{role}.fw"], "vm", cluster)
        assert vm.options["enable"] == "1"
        assert vm.options["policy_in"] == "DROP"
        assert [(r.type, r.action, r.iface) for r in vm.rules] == [("group", group, "net0")]
        assert "firewall=1" in files[f"{role}.fw"]
        # every IN rule has a protocol and ports; the egress is the seed's
        rules = cluster.groups[group]
        assert all(r.proto in ("tcp", "udp") and r.dport for r in rules)
        assert [(r.proto, r.dport) for r in rules if r.type == "out"] == [
            ("tcp", "443"),
            ("udp", "123"),
            ("tcp", "4460"),
        ]


def test_reference_cluster_groups() -> None:
    cluster = parse_fw(_files("reference")["cluster.fw"], "cluster")
    assert cluster.ipsets["talos-controlplane"] == ["192.168.30.11", "192.168.30.12", "192.168.30.13"]
    assert cluster.ipsets["talos-nodes"] == ["talos-nodes-v4"]
    assert cluster.aliases["talos-nodes-v4"] == ("192.168.30.0/24", 4)
    etcd = [r for r in cluster.groups["talos-cp"] if r.dport == "2379:2380"]
    assert [(r.source, r.proto) for r in etcd] == [("+talos-controlplane", "tcp")]
    assert not any(r.dport == "2379:2380" for r in cluster.groups["talos-worker"])


def test_any_on_a_single_stack_cluster_is_ipv4_only() -> None:
    cluster = parse_fw(_files("dualstack-everything")["cluster.fw"], "cluster")
    http = [r for r in cluster.groups["talos-worker"] if r.comment and r.comment.startswith("ingress-http")]
    assert [r.source for r in http] == [None]  # both families
    single = build_cluster_cli(GenOptions(subnets=("192.168.30.0/24",), addons=("ingress-http",)))
    parsed = parse_fw(render("proxmox", single).files["cluster.fw"], "cluster")
    http = [r for r in parsed.groups["talos-worker"] if r.comment and r.comment.startswith("ingress-http")]
    assert [(r.source, r.dport) for r in http] == [("0.0.0.0/0", "80,443")]


def test_port_lists_stay_within_fifteen_numbers() -> None:
    ports = tuple(PortRange(p, p + 1) for p in range(1000, 1040, 4))  # 10 ranges = 20 numbers
    lists = _dports(ports)
    assert lists == [
        "1000:1001,1004:1005,1008:1009,1012:1013,1016:1017,1020:1021,1024:1025",
        "1028:1029,1032:1033,1036:1037",
    ]


# The grammar port must refuse what pve-firewall refuses, or the tests above prove nothing.
CLUSTER = parse_fw("[IPSET talos-nodes]\n192.168.30.0/24\n[ALIASES]\nsix fd00::/64\n", "cluster")


@pytest.mark.parametrize(
    ("line", "env", "error"),
    [
        pytest.param("IN ACCEPT -i net0 -p tcp -dport 22", "group", "-i not allowed", id="iface-in-group"),
        pytest.param("IN ACCEPT -dport 22", "group", "requires proto", id="dport-without-proto"),
        pytest.param("IN ACCEPT -p icmp -dport 22", "group", "does not support ports", id="dport-on-icmp"),
        pytest.param("IN ACCEPT -p tcp -dport 2380:2379", "group", "backwards range", id="backwards-range"),
        pytest.param("IN ACCEPT -p tcp -dport 2379-2380", "group", "invalid port", id="dash-range"),
        pytest.param(
            "IN ACCEPT -p tcp -dport " + ",".join(str(p) for p in range(1, 17)),
            "group",
            "too many entries",
            id="sixteen-ports",
        ),
        pytest.param("IN ACCEPT -source +talos-cp -p tcp -dport 22", "group", "no such ipset", id="unknown-ipset"),
        pytest.param("IN ACCEPT -source nosuch -p tcp -dport 22", "group", "no such alias", id="unknown-alias"),
        pytest.param("IN ACCEPT -source 10.0.0.1,fd00::1 -p tcp -dport 22", "group", "mixed", id="mixed-list"),
        pytest.param("IN ACCEPT -source six -p icmp", "group", "mixed", id="v6-alias-with-icmp"),
        pytest.param("IN ACCEPT -p tcp --dport 22 -x 1", "group", "unable to parse rule parameters", id="leftover"),
        pytest.param("IN ACCEPT -p tcp -dport 22 -source", "group", "unable to parse", id="missing-value"),
        pytest.param("GROUP talos-cp -i net0", "group", "invalid rule type", id="group-in-group"),
        pytest.param("IN PASS -p tcp", "group", "unknown action", id="unknown-action"),
        pytest.param("GROUP talos-cp -i eth0", "vm", "net", id="vm-iface-not-netN"),
        pytest.param("GROUP talos-cp -i net0 -p tcp", "vm", "unable to parse rule parameters", id="group-with-proto"),
        pytest.param("IN ACCEPT -p nosuchproto", "vm", "unknown protocol", id="unknown-proto"),
    ],
)
def test_grammar_port_rejects_what_pve_firewall_skips(line: str, env: str, error: str) -> None:
    with pytest.raises(PveSyntaxError, match=error):
        parse_rule(line, env, CLUSTER, None)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        pytest.param("[group talos-controlplane-x]\n", "security group name too long", id="group-name-19"),
        pytest.param("[group 1abc]\n", "invalid security group name", id="group-name-digit"),
        pytest.param("[IPSET x]\n", "invalid ipset name", id="ipset-name-one-char"),
        pytest.param("[IPSET all]\n0.0.0.0/0\n", "zero prefix", id="ipset-zero-prefix"),
        pytest.param("[IPSET dup]\n10.0.0.1\n10.0.0.1/32\n", "duplicate", id="ipset-duplicate"),
        pytest.param("[ALIASES]\nname  10.0.0.0/8\n", "alias line", id="alias-two-spaces"),
        pytest.param("[OPTIONS]\npolicy_in: DENY\n", "can't parse option", id="bad-policy"),
        pytest.param("IN ACCEPT -p tcp -dport 22\n", "no section", id="no-section"),
    ],
)
def test_grammar_port_rejects_bad_files(text: str, error: str) -> None:
    with pytest.raises(PveSyntaxError, match=error):
        parse_fw(text, "cluster")


def test_grammar_port_accepts_pve_documentation_examples() -> None:
    conf = parse_fw(
        "[OPTIONS]\nenable: 1\n\n[ALIASES]\nlocal_network 1.2.3.4 # use the same name as the alias\n"
        "[IPSET management] # comment\n192.168.2.10\n192.168.2.10/30\n\n"
        "[group webserver] # web\nIN ACCEPT -p tcp -dport 80,443\n|IN ACCEPT -source +management -p tcp -dport 22\n",
        "cluster",
    )
    assert [r.enable for r in conf.groups["webserver"]] == [True, False]
    vm = parse_fw(
        "[OPTIONS]\nenable: 1\n\n[RULES]\nGROUP webserver -i net1 # x\nIN ACCEPT -source local_network\n", "vm", conf
    )
    assert vm.rules[0].iface == "net1"
