"""``proxmox`` and ``proxmox-terraform``: the Proxmox VE firewall for the Talos VMs.

``proxmox`` writes ``cluster.fw`` (options, aliases for the node subnets, one IP set per
source group, one security group per role) and one ``.fw`` template per role for the VMs
(``policy_in: DROP`` and ``GROUP <role group> -i net0``). ``proxmox-terraform`` writes the
same with the bpg/proxmox provider's firewall resources (``talospatch.export.proxmox_terraform``).

The Proxmox firewall filters every packet to a VM's NIC only when the NIC has
``firewall=1`` (the seed's VM module sets ``firewall = false``), and only while the
cluster-wide firewall is enabled (``enable: 1`` in ``cluster.fw``).

A rule that pve-firewall cannot parse is skipped with a log line, not refused, so every
name and rule here stays inside its grammar (``PVE/Firewall.pm``): security groups
``[A-Za-z][A-Za-z0-9_-]+`` of at most 18 characters, IP sets and aliases of at most 64,
ports ``N`` or ``N:M`` with at most 15 numbers per rule, no ``-i`` inside a group.
"""

from __future__ import annotations

from dataclasses import dataclass

from talospatch.export.cluster import Cluster, Export, header_lines
from talospatch.registry import ExportOptions
from talospatch.talos.documents import Network, PortRange

GROUP_NAME = {"controlplane": "talos-cp", "worker": "talos-worker"}
IFACE = "net0"
MAX_PORT_NUMBERS = 15  # pve-firewall: "too many entries in port list (> 15 numbers)"
CLUSTER_FILE = "cluster.fw"


def ipset_name(group: str) -> str:
    return f"talos-{group}"


def alias_name(net: Network) -> str:
    return f"talos-nodes-v{net.version}" if net.prefixlen else f"talos-any-v{net.version}"


@dataclass(frozen=True)
class PveRule:
    """One rule of a security group, as pve-firewall reads it."""

    direction: str  # IN or OUT
    action: str
    proto: str
    dport: str
    source: str | None
    comment: str

    def line(self) -> str:
        words = [self.direction, self.action]
        if self.source is not None:
            words += ["-source", self.source]
        words += ["-p", self.proto, "-dport", self.dport]
        return " ".join(words) + f" # {self.comment}"


def ip_set_entry(net: Network) -> str:
    """An IP set entry: pve-firewall stores a host route without its /32 or /128."""
    return str(net.network_address) if net.prefixlen == net.max_prefixlen else str(net)


def _dports(ports: tuple[PortRange, ...]) -> list[str]:
    """``N`` / ``N:M`` comma lists, split so that no list counts more than 15 numbers."""
    lists: list[list[str]] = [[]]
    count = 0
    for pr in ports:
        weight = 1 if pr.lo == pr.hi else 2
        if count + weight > MAX_PORT_NUMBERS:
            lists.append([])
            count = 0
        lists[-1].append(str(pr.lo) if pr.lo == pr.hi else f"{pr.lo}:{pr.hi}")
        count += weight
    return [",".join(items) for items in lists]


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _source(cluster: Cluster, group: str) -> str | None:
    if group != "any":
        return f"+{ipset_name(group)}"
    # "any" is 0.0.0.0/0, plus ::/0 on a dual-stack cluster; a rule without -source covers both.
    return None if cluster.dual_stack else "0.0.0.0/0"


def role_rules(cluster: Cluster, role: str) -> list[PveRule]:
    """The security group of one role: its ingress rules, then the seed's egress."""
    rules: list[PveRule] = []
    for rule in cluster.role(role).rules:
        for source in rule.sources:
            for dport in _dports(rule.ports):
                comment = _one_line(f"{rule.name} from {source.group}: {rule.why}")
                rules.append(PveRule("IN", "ACCEPT", rule.protocol, dport, _source(cluster, source.group), comment))
    for egress in cluster.egress:
        comment = _one_line(f"{egress.name}: {egress.why}")
        rules.append(PveRule("OUT", "ACCEPT", egress.protocol, str(egress.port), None, comment))
    return rules


def ipsets(cluster: Cluster) -> list[tuple[str, str, list[str]]]:
    """(name, comment, entries) of every IP set a rule uses; the node subnets by alias."""
    out = []
    for source in cluster.groups:
        if source.group == "any":
            continue
        if source.group == "nodes":
            entries = [alias_name(n) for n in source.networks]
        else:
            entries = [ip_set_entry(n) for n in source.networks]
        widened = source.group in cluster.defaulted and source.group != "pods"
        defaulted = " (defaulted to the node subnet)" if widened else ""
        out.append((ipset_name(source.group), f"talospatch group {source.group}{defaulted}", entries))
    return out


def uses_ipset(cluster: Cluster, name: str) -> bool:
    return any(r.source == f"+{name}" for role in cluster.roles for r in role_rules(cluster, role.role))


def _egress_ports(cluster: Cluster) -> str:
    return ", ".join(f"{e.port}/{e.protocol}" for e in cluster.egress)


def cluster_fw(cluster: Cluster) -> str:
    lines = [f"# {line}".rstrip() for line in header_lines(cluster, "Proxmox VE cluster firewall for a Talos cluster")]
    lines += [
        f"# Install: copy to /etc/pve/firewall/{CLUSTER_FILE} (it replaces the whole file: merge this",
        "# into an existing one by hand), then one <role>.fw per VM (see those files).",
        "# enable: 1 turns the firewall on cluster-wide: the Proxmox hosts then accept only",
        "# the web UI (8006/tcp) and SSH (22/tcp) from the local network, unless host.fw says more.",
        f"# Each group ends with the egress (OUT {_egress_ports(cluster)}). The VMs keep policy_out",
        "# ACCEPT, so those rules change nothing until policy_out is DROP, which would also need",
        "# DNS and the nodes' connections to each other (not in the seed's egress list).",
        "",
        "[OPTIONS]",
        "enable: 1",
        "",
        "[ALIASES]",
    ]
    lines += [f"{alias_name(n)} {n} # talospatch node subnet" for n in cluster.subnets]
    for name, comment, entries in ipsets(cluster):
        if not uses_ipset(cluster, name):
            continue
        lines += ["", f"[IPSET {name}] # {comment}", *entries]
    for role in cluster.roles:
        lines += ["", f"[group {GROUP_NAME[role.role]}] # talospatch: Talos {role.role} nodes"]
        lines += [r.line() for r in role_rules(cluster, role.role)]
    return "\n".join(lines) + "\n"


def vm_fw(cluster: Cluster, role: str) -> str:
    group = GROUP_NAME[role]
    dhcp_v6 = ["ndp: 1"] if cluster.dual_stack else []
    lines = [
        f"# Proxmox VE firewall of one Talos {role} VM, generated by talospatch; regenerate, do not edit.",
        f"# Copy to /etc/pve/firewall/<vmid>.fw for every {role} VM, and turn the firewall on for",
        f"# its NIC: firewall=1 on {IFACE} (qm set <vmid> --{IFACE} <model>=<mac>,bridge=<bridge>,firewall=1;",
        "# in the seed's Terraform VM module, network_device { firewall = true }). Without it,",
        "# nothing below filters anything. If Talos's NIC is not net0, change -i below.",
        f"# Inbound: only what security group {group} (cluster.fw) allows; outbound: everything.",
        "# dhcp: 1 lets DHCP answers in (harmless with static addresses).",
        "",
        "[OPTIONS]",
        "enable: 1",
        "policy_in: DROP",
        "policy_out: ACCEPT",
        "dhcp: 1",
        *dhcp_v6,
        "",
        "[RULES]",
        f"GROUP {group} -i {IFACE} # talospatch: Talos {role} rules",
    ]
    return "\n".join(lines) + "\n"


def render(cluster: Cluster, options: ExportOptions) -> Export:
    """``cluster.fw`` and one ``ROLE.fw`` per role (the target takes no options)."""
    files = {CLUSTER_FILE: cluster_fw(cluster)}
    for role in cluster.roles:
        files[f"{role.role}.fw"] = vm_fw(cluster, role.role)
    return Export(files, cluster.warnings)
