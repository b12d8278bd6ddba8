"""``proxmox-terraform`` read back with python-hcl2: it says what ``proxmox``'s cluster.fw says."""

from __future__ import annotations

import re
from typing import Any

import hcl2
import pytest
from hcl2.utils import SerializationOptions

from talospatch.export import render
from talospatch.export.proxmox import GROUP_NAME
from testing.exportnft import PVE_CLUSTERS as CLUSTERS
from testing.exportnft import build_cluster_cli, resources
from testing.pvefw import Config, parse_fw, parse_rule

HCL = SerializationOptions(strip_string_quotes=True, explicit_blocks=False, with_comments=False)


def _files(name: str) -> dict[str, str]:
    return render("proxmox", build_cluster_cli(CLUSTERS[name])).files


def _rule_attrs(rule: Any) -> dict[str, Any]:
    attrs: dict[str, Any] = rule[0] if isinstance(rule, list) else rule
    return attrs


def _terraform(name: str) -> dict[str, Any]:
    text = render("proxmox-terraform", build_cluster_cli(CLUSTERS[name])).files["talos-proxmox-firewall.tf"]
    doc: dict[str, Any] = hcl2.loads(text, serialization_options=HCL)
    return doc


def _as_fw_line(attrs: dict[str, Any]) -> str:
    words = [attrs["type"].upper(), attrs["action"]]
    for key, flag in (("source", "-source"), ("proto", "-p"), ("dport", "-dport")):
        if key in attrs:
            words += [flag, str(attrs[key])]
    return " ".join(words) + f" # {attrs['comment']}"


@pytest.mark.parametrize("name", list(CLUSTERS))
def test_terraform_matches_cluster_fw(name: str) -> None:
    fw: Config = parse_fw(_files(name)["cluster.fw"], "cluster")
    doc = _terraform(name)
    groups = resources(doc, "proxmox_virtual_environment_cluster_firewall_security_group")
    assert {g["name"] for g in groups.values()} == set(fw.groups)
    for attrs in groups.values():
        rules = attrs["rule"] if isinstance(attrs["rule"], list) else [attrs["rule"]]
        # each rule block, written as a .fw line, is accepted by the grammar and equals cluster.fw's
        lines = [_as_fw_line(_rule_attrs(r)) for r in rules]
        parsed = [parse_rule(line, "group", fw, None) for line in lines]
        assert parsed == fw.groups[attrs["name"]]
    ipsets = resources(doc, "proxmox_virtual_environment_firewall_ipset")
    got = {
        s["name"]: [c["name"] for c in (s["cidr"] if isinstance(s["cidr"], list) else [s["cidr"]])]
        for s in ipsets.values()
    }
    aliases = {a["name"]: a["cidr"] for a in resources(doc, "proxmox_virtual_environment_firewall_alias").values()}
    want = {name: [aliases.get(e, e) for e in entries] for name, entries in fw.ipsets.items()}
    assert got == want
    for role, group in GROUP_NAME.items():
        options = resources(doc, "proxmox_virtual_environment_firewall_options")[f"{role}_vms"]
        assert (options["enabled"], options["input_policy"]) == (True, "DROP")
        vm_rules = resources(doc, "proxmox_virtual_environment_firewall_rules")[f"{role}_vms"]
        rule = _rule_attrs(vm_rules["rule"])
        assert rule["iface"] == "net0"
        assert re.fullmatch(
            rf"\$\{{proxmox_virtual_environment_cluster_firewall_security_group\.{group.replace('-', '_')}\.name\}}",
            rule["security_group"],
        )
    assert resources(doc, "proxmox_virtual_environment_cluster_firewall")["talos"]["enabled"] is True
