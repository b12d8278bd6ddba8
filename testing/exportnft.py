"""Translate the rules an export target wrote (as parsed back by an independent reader) into
an nftables ruleset for the netns lab, so the kernel says what they let through.

The model of a per-NIC firewall both targets share: inbound packets are dropped unless an
allow entry (protocol, destination ports, source networks) matches; the firewall is
stateful. Only new connections are probed, so the ruleset holds the allow entries and the
drop policy only (no conntrack rule: a stale entry from an earlier probe must not decide).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any

from talospatch.cli.params import LABELS, command_line
from talospatch.export.cluster import Cluster, build_cluster
from talospatch.generate.options import GenOptions
from testing.pvefw import Config, resolve

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Allow:
    proto: str
    ports: tuple[tuple[int, int], ...]
    sources: tuple[Network, ...] | None  # None: every source, IPv4 and IPv6
    origin: str


def ruleset(allows: list[Allow]) -> str:
    lines = [
        "table inet exported {",
        "  chain input {",
        "    type filter hook input priority filter; policy drop;",
        '    iifname "lo" accept',
    ]
    for allow in allows:
        ports = ", ".join(str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in allow.ports)
        match = f"{allow.proto} dport {{ {ports} }}"
        comment = f' comment "{allow.origin[:120]}"'
        if allow.sources is None:
            lines.append(f"    meta nfproto {{ ipv4, ipv6 }} {match} accept{comment}")
            continue
        for net in allow.sources:
            family = "ip" if net.version == 4 else "ip6"
            lines.append(f"    {family} saddr {net} {match} accept{comment}")
    lines += ["  }", "}"]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------
# AWS: python-hcl2's reading of the Terraform, security-group references resolved to members


def _unwrap(value: Any) -> Any:
    return value[0] if isinstance(value, list) and len(value) == 1 and isinstance(value[0], dict) else value


def resources(doc: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    """``{name: attributes}`` of every resource of one type."""
    out: dict[str, dict[str, Any]] = {}
    for block in doc.get("resource", []):
        for rtype, named in block.items():
            if rtype != kind:
                continue
            for name, attrs in named.items():
                assert name not in out, f"resource {kind}.{name} defined twice"
                out[name] = _unwrap(attrs)
    return out


def variables(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: _unwrap(attrs) for block in doc.get("variable", []) for name, attrs in block.items()}


_SG_REF = re.compile(r"\$\{aws_security_group\.([a-z_]+)\.id\}")
_VAR_INDEX = re.compile(r"\$\{var\.([a-z0-9_]+)\[count\.index\]\}")
_COUNT = re.compile(r"\$\{length\(var\.([a-z0-9_]+)\)\}")


def aws_allows(doc: dict[str, Any], group: str, members: dict[str, list[str]]) -> list[Allow]:
    """The ingress of security group ``group``; a reference stands for its members' addresses."""
    varz = variables(doc)
    allows = []
    for name, attrs in resources(doc, "aws_vpc_security_group_ingress_rule").items():
        owner = _SG_REF.fullmatch(attrs["security_group_id"])
        assert owner, f"{name}: security_group_id {attrs['security_group_id']!r} is not a group of this file"
        if owner.group(1) != group:
            continue
        ports = ((int(attrs["from_port"]), int(attrs["to_port"])),)
        sources: list[Network] = []
        if "referenced_security_group_id" in attrs:
            ref = _SG_REF.fullmatch(attrs["referenced_security_group_id"])
            assert ref, name
            sources = [ipaddress.ip_network(a) for a in members[ref.group(1)]]
        else:
            key = "cidr_ipv4" if "cidr_ipv4" in attrs else "cidr_ipv6"
            value = attrs[key]
            if (m := _VAR_INDEX.fullmatch(value)) is not None:
                count = _COUNT.fullmatch(attrs["count"])
                assert count, f"{name}: no count"
                assert count.group(1) == m.group(1), f"{name}: count does not follow {m.group(1)}"
                sources = [ipaddress.ip_network(c) for c in varz[m.group(1)]["default"]]
            else:
                sources = [ipaddress.ip_network(value)]
        allows.append(Allow(attrs["ip_protocol"], ports, tuple(sources), name))
    return allows


# --------------------------------------------------------------------------------------
# Proxmox: the VM's .fw names the group; the group's IN rules, sources resolved


def pve_allows(cluster: Config, vm: Config) -> list[Allow]:
    assert vm.options.get("enable") == "1", vm.options
    assert vm.options.get("policy_in") == "DROP", vm.options
    allows = []
    for rule in vm.rules:
        if not rule.enable:
            continue
        assert rule.type == "group", f"talospatch writes only GROUP rules per VM, not {rule}"
        for grule in cluster.groups[rule.action.lower()]:
            if grule.type != "in" or not grule.enable:
                continue
            assert grule.action == "ACCEPT", grule
            assert grule.proto is not None, grule
            assert grule.dport is not None, grule
            ports = tuple(
                (int(lo), int(hi or lo)) for lo, _, hi in (item.partition(":") for item in grule.dport.split(","))
            )
            sources = None if grule.source is None else tuple(resolve(cluster, grule.source))
            allows.append(Allow(grule.proto, ports, sources, grule.comment or ""))
    return allows


# The reference cluster: 192.168.30.0/24, control planes .11-.13, one admin, Cilium with Geneve.
REFERENCE = GenOptions(
    subnets=("192.168.30.0/24",),
    cni="cilium",
    tunnel="geneve",
    controlplane=("192.168.30.11", "192.168.30.12", "192.168.30.13"),
    admins=("196.45.28.20/32",),
)


def reference(**changes: Any) -> GenOptions:
    """The reference cluster with ``changes``."""
    return REFERENCE._replace(**changes)


# Clusters the Proxmox tests read back: the reference, one with every group and family, one without admins.
PVE_CLUSTERS = {
    "reference": REFERENCE,
    "dualstack-everything": GenOptions(
        subnets=("192.168.30.0/24", "fd00:30::/64"),
        controlplane=("192.168.30.11", "fd00:30::11"),
        workers=("192.168.30.21", "fd00:30::21"),
        admins=("196.45.28.20/32", "2001:db8:45::/48"),
        pod_subnets=("10.244.0.0/16", "fd00:244::/56"),
        addons=(
            "cilium-wireguard",
            "etcd-metrics",
            "hubble",
            "ingress-http",
            "kubespan",
            "metallb",
            "node-exporter",
            "trust-nodes",
        ),
        nodeport=True,
        nodeport_from=("203.0.113.0/24", "2001:db8:51::/48"),
    ),
    "calico-no-admin": GenOptions(subnets=("192.168.30.0/24",), cni="calico"),
}


def build_cluster_cli(opts: GenOptions) -> Cluster:
    """The cluster as the command line builds it: flags in messages, gen command lines in headers."""
    return build_cluster(opts, labels=LABELS, command=command_line)
