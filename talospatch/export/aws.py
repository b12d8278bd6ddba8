"""``aws-terraform``: one AWS security group per role, in Terraform, the seed's own pattern.

One ``aws_security_group`` per role and one ``aws_vpc_security_group_ingress_rule`` per rule,
port range and source (one CIDR or one security-group reference per resource, IPv6 in its
own resources), allow-all ``aws_vpc_security_group_egress_rule`` for IPv4 and IPv6 (Terraform
removes AWS's default egress rule), variables for the VPC id and the admin CIDRs, outputs
for the group ids.

How the source groups map (``GROUP_MAPPING``, also written into the file's header):

- ``controlplane`` -> a reference to the control-plane security group, ``workers`` -> the
  worker security group, ``nodes`` -> both (two resources). Membership of a Talos group is
  what makes an instance a node, so other instances of the VPC (bastions, load balancers,
  databases) are not "nodes"; the Talos patch, which only knows addresses, uses the node
  subnet instead.
- ``admins`` -> the variables ``admin_cidrs_ipv4`` / ``admin_cidrs_ipv6`` (defaults: the
  ``--admin`` CIDRs), one resource per CIDR with ``count``, as the seed does.
- ``pods`` -> the pod subnets as CIDRs, as in the Talos patch. With an overlay (Cilium
  Geneve/VXLAN, Flannel) pod traffic between nodes is encapsulated and the security group
  sees node addresses, which the references allow; the pod-CIDR rules matter for native
  routing or when pods take VPC addresses (then pass ``--pod-subnet`` with those CIDRs).
- ``nodeport-clients`` and ``any`` -> their CIDRs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from talospatch.export.cluster import Cluster, ClusterRule, Export, header_lines
from talospatch.export.hcl import Block, Raw, document, string_list
from talospatch.registry import ExportOptions
from talospatch.talos.documents import PortRange

FILE_NAME = "talos-security-groups.tf"
MAX_INBOUND_RULES = 60  # AWS VPC quota "Inbound or outbound rules per security group", per family
MAX_DESCRIPTION = 255
# EC2's rule-description charset (IpRange / UserIdGroupPair): a-z, A-Z, 0-9, spaces and
# ._-:/()#,@[]+=;{}!$* ("&" is allowed for some rule kinds only, so it is left out).
_DESCRIPTION_BAD = re.compile(r"[^a-zA-Z0-9 ._\-:/()#,@\[\]+=;{}!$*]")

SG_NAME = {"controlplane": "controlplane", "worker": "worker"}
SG_REFERENCES = {"controlplane": ("controlplane",), "workers": ("worker",), "nodes": ("controlplane", "worker")}

GROUP_MAPPING = (
    "controlplane -> the control-plane security group; workers -> the worker security group;",
    "nodes -> both security groups (only instances in a Talos group count as nodes, not the whole VPC);",
    "admins -> var.admin_cidrs_ipv4 / var.admin_cidrs_ipv6, one rule per CIDR (count);",
    "pods -> the pod subnets, as in the Talos patch (overlay traffic between nodes carries node",
    "addresses, which the group references allow; the pod CIDRs matter for native routing);",
    "nodeport-clients and any -> their CIDRs.",
)


def description(text: str) -> str:
    """``text`` within EC2's description rules: the allowed characters, at most 255 of them."""
    cleaned = " ".join(_DESCRIPTION_BAD.sub("", text.replace("'", "").replace('"', "")).split())
    if len(cleaned) <= MAX_DESCRIPTION:
        return cleaned
    cut = cleaned[: MAX_DESCRIPTION - 3].rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:") + "..."


def _ident(text: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_]", "_", text)


@dataclass(frozen=True)
class _Ingress:
    name: str
    rule: ClusterRule
    ports: PortRange
    attrs: tuple[tuple[str, str | int | Raw], ...]  # the source attribute(s), count first
    family: str  # "ipv4", "ipv6" or "both" (a security-group reference)
    label: str  # the source, as the description names it
    key: tuple[str, int, int, str]  # what AWS compares for a duplicate rule


def _ingress(cluster: Cluster, role: str) -> list[_Ingress]:
    out: list[_Ingress] = []
    seen: set[tuple[str, int, int, str]] = set()
    for rule in cluster.role(role).rules:
        for pr in rule.ports:
            port_part = "" if len(rule.ports) == 1 else f"_{pr.lo}" + ("" if pr.lo == pr.hi else f"_{pr.hi}")
            base = f"{SG_NAME[role]}_{_ident(rule.name)}{port_part}"
            candidates: list[tuple[str, tuple[tuple[str, str | int | Raw], ...], str, str, str]] = []
            for group in rule.allowed:
                if group in SG_REFERENCES:
                    for sg in SG_REFERENCES[group]:
                        ref = Raw(f"aws_security_group.{sg}.id")
                        label = f"{group} ({sg} security group)"
                        attrs_sg: tuple[tuple[str, str | int | Raw], ...] = (("referenced_security_group_id", ref),)
                        candidates.append((f"{base}_from_{sg}_sg", attrs_sg, "both", label, f"sg:{sg}"))
                elif group == "admins":
                    for family in ("ipv4", "ipv6"):
                        if family == "ipv6" and not _admin_v6(cluster):
                            continue
                        var = f"var.admin_cidrs_{family}"
                        counted: tuple[tuple[str, str | int | Raw], ...] = (
                            ("count", Raw(f"length({var})")),
                            (f"cidr_{family}", Raw(f"{var}[count.index]")),
                        )
                        label = f"admins ({var})"
                        candidates.append((f"{base}_from_admins_{family}", counted, family, label, f"var:{family}"))
                else:
                    for i, net in enumerate(cluster.group(group)):
                        family = f"ipv{net.version}"
                        candidates.append(
                            (
                                f"{base}_from_{_ident(group)}_{i}",
                                ((f"cidr_{family}", str(net)),),
                                family,
                                f"{group} {net}",
                                str(net),
                            )
                        )
            for name, source_attrs, family, label, source in candidates:
                key = (rule.protocol, pr.lo, pr.hi, source)
                if key in seen:  # e.g. a rule from nodes and controlplane: one reference is enough
                    continue
                seen.add(key)
                out.append(_Ingress(name, rule, pr, source_attrs, family, label, key))
    return out


def _admin_v6(cluster: Cluster) -> bool:
    return cluster.dual_stack or any(n.version == 6 for n in cluster.group("admins"))


def _ingress_block(ingress: _Ingress) -> Block:
    rule, pr = ingress.rule, ingress.ports
    count = [a for a in ingress.attrs if a[0] == "count"]
    source = [a for a in ingress.attrs if a[0] != "count"]
    attrs: list[tuple[str, str | int | Raw]] = [
        *count,
        ("security_group_id", Raw(f"aws_security_group.{ingress.name.split('_', 1)[0]}.id")),
        ("description", description(f"{rule.name} from {ingress.label}: {rule.why}")),
        ("ip_protocol", rule.protocol),
        ("from_port", pr.lo),
        ("to_port", pr.hi),
        *source,
    ]
    return Block("resource", ("aws_vpc_security_group_ingress_rule", ingress.name), tuple(attrs))


def _rule_comment(rule: ClusterRule) -> tuple[str, ...]:
    ports = ", ".join(p.label for p in rule.ports)
    groups = ", ".join(rule.allowed)
    return (f"{rule.name}: {rule.service}, {ports}/{rule.protocol} from {groups} (profile {rule.profile})",)


def _count_warnings(cluster: Cluster, role: str, ingress: list[_Ingress]) -> list[str]:
    admins = cluster.group("admins")
    counts = {"ipv4": 0, "ipv6": 0}
    for item in ingress:
        for family in ("ipv4", "ipv6"):
            if item.family == "both" or item.family == family:
                if item.key[3].startswith("var:"):
                    counts[family] += sum(1 for n in admins if f"ipv{n.version}" == family)
                else:
                    counts[family] += 1
    return [
        f"aws-terraform: security group {SG_NAME[role]} has {n} inbound {family} rules (with the default "
        f"admin CIDRs), over AWS's default quota of {MAX_INBOUND_RULES} per group; request a higher quota "
        "or use fewer admin CIDRs, add-ons or port ranges"
        for family, n in counts.items()
        if n > MAX_INBOUND_RULES
    ]


def render(cluster: Cluster, options: ExportOptions) -> Export:
    """The Terraform file and the quota warnings (the target takes no options)."""
    header = [
        *header_lines(cluster, "AWS security groups for a Talos cluster"),
        "Source groups:",
        *(f"  {line}" for line in GROUP_MAPPING),
        "Attach aws_security_group.controlplane to the control-plane instances and",
        "aws_security_group.worker to the workers, then: terraform init && terraform apply.",
        "Do not add inline ingress/egress blocks or aws_security_group_rule resources to these",
        "groups: they fight over the same rules.",
    ]
    admin_v4 = [str(n) for n in cluster.group("admins") if n.version == 4]
    admin_v6 = [str(n) for n in cluster.group("admins") if n.version == 6]
    uses_admins = any("admins" in r.allowed for role in cluster.roles for r in role.rules)
    blocks: list[Block] = [
        Block("variable", ("vpc_id",), (("description", "The VPC the Talos nodes run in"), ("type", Raw("string")))),
        Block(
            "variable",
            ("name_prefix",),
            (
                ("description", "Prefix of the security group names"),
                ("type", Raw("string")),
                ("default", "talos"),
            ),
        ),
    ]
    if uses_admins:
        blocks.append(
            Block(
                "variable",
                ("admin_cidrs_ipv4",),
                (
                    ("description", "IPv4 CIDRs of admin workstations (talosctl, kubectl); empty = nodes only"),
                    ("type", Raw("list(string)")),
                    ("default", string_list(admin_v4)),
                ),
            )
        )
        if _admin_v6(cluster):
            blocks.append(
                Block(
                    "variable",
                    ("admin_cidrs_ipv6",),
                    (
                        ("description", "IPv6 CIDRs of admin workstations (talosctl, kubectl)"),
                        ("type", Raw("list(string)")),
                        ("default", string_list(admin_v6)),
                    ),
                )
            )
    # gen's "no --controlplane" warning is about CIDRs; here controlplane is a security group.
    warnings = [w for w in cluster.warnings if f"no {cluster.labels('controlplane')}:" not in w]
    for role in cluster.roles:
        sg = SG_NAME[role.role]
        blocks.append(
            Block(
                "resource",
                ("aws_security_group", sg),
                (
                    ("name", Raw(f'"${{var.name_prefix}}-{sg}"')),
                    ("description", f"Talos {role.role} nodes, rules generated by talospatch"),
                    ("vpc_id", Raw("var.vpc_id")),
                    ("tags", Raw(f'{{ Name = "${{var.name_prefix}}-{sg}", NodeType = "{role.role}" }}')),
                ),
                comments=(f"Talos {role.role} nodes",),
            )
        )
        ingress = _ingress(cluster, role.role)
        warnings += _count_warnings(cluster, role.role, ingress)
        last_rule = None
        for item in ingress:
            block = _ingress_block(item)
            if item.rule is not last_rule:
                block = Block(block.kind, block.labels, block.attributes, comments=_rule_comment(item.rule))
                last_rule = item.rule
            blocks.append(block)
        egress_why = "All outbound; the nodes need " + ", ".join(
            f"{e.port}/{e.protocol} ({e.why})" for e in cluster.egress
        )
        for family, cidr in (("ipv4", "0.0.0.0/0"), ("ipv6", "::/0")):
            blocks.append(
                Block(
                    "resource",
                    ("aws_vpc_security_group_egress_rule", f"{sg}_all_{family}"),
                    (
                        ("security_group_id", Raw(f"aws_security_group.{sg}.id")),
                        ("description", description(egress_why)),
                        ("ip_protocol", "-1"),
                        (f"cidr_{family}", cidr),
                    ),
                    comments=("Egress: allow all, as the seed does (Terraform removes AWS's default rule)",)
                    if family == "ipv4"
                    else (),
                )
            )
    for role in cluster.roles:
        sg = SG_NAME[role.role]
        blocks.append(
            Block(
                "output",
                (f"{sg}_security_group_id",),
                (
                    ("description", f"Attach to the Talos {role.role} instances"),
                    ("value", Raw(f"aws_security_group.{sg}.id")),
                ),
            )
        )
    return Export({FILE_NAME: document(header, blocks)}, tuple(warnings))
