"""``proxmox-terraform``: the Proxmox VE firewall of ``proxmox`` with the bpg/proxmox provider.

The same aliases, IP sets, security groups and per-VM options as ``cluster.fw`` and the
``ROLE.fw`` files (``talospatch.export.proxmox``), as the provider's firewall resources, for
the VMs listed in ``controlplane_vms`` / ``worker_vms``.
"""

from __future__ import annotations

from talospatch.export.cluster import Cluster, Export, header_lines
from talospatch.export.hcl import Block, Raw, document
from talospatch.export.proxmox import (
    GROUP_NAME,
    IFACE,
    alias_name,
    ip_set_entry,
    ipsets,
    role_rules,
    uses_ipset,
)
from talospatch.registry import ExportOptions


def _tf_name(name: str) -> str:
    return name.replace("-", "_")


def render(cluster: Cluster, options: ExportOptions) -> Export:
    """``talos-proxmox-firewall.tf`` (the target takes no options)."""
    header = [
        *header_lines(cluster, "Proxmox VE firewall for a Talos cluster (bpg/proxmox provider)"),
        "The same as the proxmox target's cluster.fw and <role>.fw. List the VMs in",
        "controlplane_vms / worker_vms, then: terraform init && terraform apply.",
        "Each VM's NIC needs firewall=1: network_device { firewall = true } (the seed's VM",
        "module sets false). proxmox_virtual_environment_cluster_firewall enables the firewall",
        "cluster-wide (the hosts then accept only 8006/tcp and 22/tcp from the local network):",
        "keep a single such resource per Proxmox cluster.",
    ]
    vm_type = Raw("list(object({ node_name = string, vm_id = number }))")
    blocks: list[Block] = []
    for role in cluster.roles:
        blocks.append(
            Block(
                "variable",
                (f"{role.role}_vms",),
                (
                    ("description", f"The Talos {role.role} VMs: Proxmox node name and VM id"),
                    ("type", vm_type),
                    ("default", Raw("[]")),
                ),
            )
        )
    blocks.append(Block("resource", ("proxmox_virtual_environment_cluster_firewall", "talos"), (("enabled", True),)))
    for net in cluster.subnets:
        blocks.append(
            Block(
                "resource",
                ("proxmox_virtual_environment_firewall_alias", _tf_name(alias_name(net))),
                (
                    ("name", alias_name(net)),
                    ("cidr", str(net)),
                    ("comment", "talospatch node subnet"),
                ),
            )
        )
    ipset_refs = []
    for name, comment, _ in ipsets(cluster):
        if not uses_ipset(cluster, name):
            continue
        group = name.removeprefix("talos-")
        cidrs = tuple(Block("cidr", (), (("name", ip_set_entry(n)),)) for n in cluster.group(group))
        blocks.append(
            Block(
                "resource",
                ("proxmox_virtual_environment_firewall_ipset", _tf_name(name)),
                (("name", name), ("comment", comment)),
                cidrs,
            )
        )
        ipset_refs.append(f"proxmox_virtual_environment_firewall_ipset.{_tf_name(name)}")
    for role in cluster.roles:
        group = GROUP_NAME[role.role]
        rules = []
        for r in role_rules(cluster, role.role):
            attrs: list[tuple[str, str | int | bool | Raw]] = [("type", r.direction.lower()), ("action", r.action)]
            if r.source is not None:
                attrs.append(("source", r.source))
            attrs += [("proto", r.proto), ("dport", r.dport), ("comment", r.comment)]
            rules.append(Block("rule", (), tuple(attrs)))
        blocks.append(
            Block(
                "resource",
                ("proxmox_virtual_environment_cluster_firewall_security_group", _tf_name(group)),
                (
                    ("name", group),
                    ("comment", f"talospatch: Talos {role.role} nodes"),
                    ("depends_on", Raw("[" + ", ".join(ipset_refs) + "]")),
                ),
                tuple(rules),
            )
        )
    for role in cluster.roles:
        group = GROUP_NAME[role.role]
        each = Raw(f"{{ for vm in var.{role.role}_vms : tostring(vm.vm_id) => vm }}")
        blocks.append(
            Block(
                "resource",
                ("proxmox_virtual_environment_firewall_options", f"{role.role}_vms"),
                (
                    ("for_each", each),
                    ("node_name", Raw("each.value.node_name")),
                    ("vm_id", Raw("each.value.vm_id")),
                    ("enabled", True),
                    ("input_policy", "DROP"),
                    ("output_policy", "ACCEPT"),
                    ("dhcp", True),
                    *((("ndp", True),) if cluster.dual_stack else ()),
                ),
            )
        )
        blocks.append(
            Block(
                "resource",
                ("proxmox_virtual_environment_firewall_rules", f"{role.role}_vms"),
                (
                    ("for_each", each),
                    ("node_name", Raw("each.value.node_name")),
                    ("vm_id", Raw("each.value.vm_id")),
                ),
                (
                    Block(
                        "rule",
                        (),
                        (
                            (
                                "security_group",
                                Raw(
                                    f"proxmox_virtual_environment_cluster_firewall_security_group.{_tf_name(group)}.name"
                                ),
                            ),
                            ("iface", IFACE),
                            ("comment", f"talospatch: Talos {role.role} rules"),
                        ),
                    ),
                ),
            )
        )
    return Export({"talos-proxmox-firewall.tf": document(header, blocks)}, cluster.warnings)
