"""A strict reader of Proxmox VE firewall files, ported from pve-firewall.

Ported from proxmox/pve-firewall ``src/PVE/Firewall.pm``: ``generic_fw_config_parser``
(sections, names), ``parse_clusterfw_option`` / ``parse_vmfw_option``, ``parse_alias``,
``parse_ip_or_cidr``, ``parse_fw_rule`` (the option loop, ``-i`` then stop for groups),
``verify_rule`` (rule types per environment, actions, ``-i`` only where allowed, ``netN`` on
VMs, ``-dport`` needs a protocol with ports, source/dest lists, IP set and alias existence,
mixed families) and ``parse_port_name_number_or_range`` (``N`` / ``N:M``, at most 15
numbers). pve-firewall *skips* a line it cannot parse (with a warning in the syslog) and
keeps a rule with errors out of the ruleset; this reader raises ``PveSyntaxError`` for
every such line instead, so a test fails where the host would silently drop a rule.

Not ported (talospatch never writes them): macros, service names in ports, ICMP types,
address ranges ``a-b``, ``dc/``/``guest/`` scopes beyond accepting them, ``log`` checks.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

NAME = r"[A-Za-z][A-Za-z0-9\-\_]+"  # security_group / ipset / ip_alias _name_pattern
MAX_ALIAS = 64
MAX_IPSET = 64
MAX_GROUP = 18
PROTOCOLS_WITH_PORTS = {"udp", "17", "udplite", "136", "tcp", "6", "dccp", "33", "sctp", "132"}
# A subset of /etc/protocols, enough for what a Talos firewall uses.
PROTOCOLS = {
    "tcp",
    "udp",
    "icmp",
    "icmpv6",
    "ipv6-icmp",
    "sctp",
    "udplite",
    "dccp",
    "gre",
    "esp",
    "ah",
    "6",
    "17",
    "1",
    "58",
    "132",
}
DIRECTIONS = {
    "cluster": ("in", "out", "forward", "group"),
    "vm": ("in", "out", "group"),
    "group": ("in", "out", "forward"),
}
IFACE_ALLOWED = {"cluster": True, "vm": True, "group": False}
SECTIONS = {
    "cluster": ("options", "aliases", "groups", "rules", "ipset"),
    "vm": ("options", "aliases", "rules", "ipset"),
}


class PveSyntaxError(ValueError):
    pass


@dataclass
class Rule:
    type: str
    action: str
    enable: bool = True
    iface: str | None = None
    proto: str | None = None
    dport: str | None = None
    sport: str | None = None
    source: str | None = None
    dest: str | None = None
    log: str | None = None
    icmp_type: str | None = None
    comment: str | None = None


@dataclass
class Config:
    env: str
    options: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, tuple[str, int]] = field(default_factory=dict)  # lower-cased name -> (cidr, version)
    ipsets: dict[str, list[str]] = field(default_factory=dict)
    ipset_comments: dict[str, str] = field(default_factory=dict)
    groups: dict[str, list[Rule]] = field(default_factory=dict)
    group_comments: dict[str, str] = field(default_factory=dict)
    rules: list[Rule] = field(default_factory=list)


def parse_ip_or_cidr(text: str) -> tuple[str, int]:
    """An address or CIDR, /32 and /128 dropped, as pve-firewall stores it."""
    addr, slash, prefix = text.partition("/")
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        raise PveSyntaxError(f"value does not look like a valid IP address or CIDR network: {text!r}") from None
    if slash and not (prefix.isascii() and prefix.isdigit() and int(prefix) <= ip.max_prefixlen):
        raise PveSyntaxError(f"invalid prefix in {text!r}")
    full = "/32" if ip.version == 4 else "/128"
    return (text.removesuffix(full), ip.version)


def _strip_comment(line: str) -> tuple[str, str | None]:
    m = re.search(r"#\s*(.*?)\s*$", line)
    if not m:
        return line, None
    return line[: m.start()], m.group(1)


def parse_alias(line: str) -> tuple[str, str, int]:
    line, _ = (re.sub(r"\s*#\s*(.*?)\s*$", "", line), None)
    m = re.fullmatch(r"(\S+)\s(\S+)", line)
    if not m:
        raise PveSyntaxError(f"alias line is not 'NAME CIDR': {line!r}")
    cidr, version = parse_ip_or_cidr(m.group(2))
    return m.group(1), cidr, version


def parse_option(line: str, env: str) -> tuple[str, str]:
    if env == "cluster":
        patterns = [
            r"(enable):\s*(\d+)\s*",
            r"(ebtables):\s*(0|1)\s*",
            r"(policy_(?:in|out|forward)):\s*(ACCEPT|DROP|REJECT)\s*",
            r"(log_ratelimit):\s*(\S+)\s*",
        ]
    else:
        levels = "emerg|alert|crit|err|warning|notice|info|debug|nolog"
        patterns = [
            r"(enable|dhcp|ndp|radv|macfilter|ipfilter|ips):\s*(0|1)\s*",
            rf"(log_level_in|log_level_out):\s*((?:{levels})\s*)?",
            r"(policy_(?:in|out)):\s*(ACCEPT|DROP|REJECT)\s*",
            r"(ips_queues):\s*(\d+(?::\d+)?)\s*",
        ]
    for pattern in patterns:
        m = re.fullmatch(pattern, line, flags=re.IGNORECASE)
        if m:
            return m.group(1).lower(), (m.group(2) or "").strip().upper() if "policy" in m.group(1).lower() else (
                m.group(2) or ""
            ).strip()
    raise PveSyntaxError(f"can't parse option {line!r}")


def parse_ports(text: str) -> list[tuple[int, int]]:
    """``parse_port_name_number_or_range`` for numbers: ``N`` or ``N:M``, comma lists, <= 15 numbers."""
    items = text.split(",")
    if text != ",".join(i for i in items if i) or "" in items:
        raise PveSyntaxError(f"extraneous commas in list {text!r}")
    count = 0
    out = []
    for item in items:
        if m := re.fullmatch(r"([0-9]+):([0-9]+)", item):
            count += 2
            lo, hi = int(m.group(1)), int(m.group(2))
            if lo > 65535 or hi > 65535:
                raise PveSyntaxError(f"invalid port in {item!r}")
            if lo > hi:
                raise PveSyntaxError(f"backwards range {item!r} not allowed")
            out.append((lo, hi))
        elif re.fullmatch(r"[0-9]+", item):
            count += 1
            if int(item) > 65535:
                raise PveSyntaxError(f"invalid port {item!r}")
            out.append((int(item), int(item)))
        else:
            raise PveSyntaxError(f"invalid port {item!r} (service names are not used by talospatch)")
    if count > 15:
        raise PveSyntaxError(f"too many entries in port list (> 15 numbers): {text!r}")
    return out


def parse_address_list(text: str) -> int | None:
    """The IP version of a literal list; None for an IP set or alias reference."""
    if text.startswith("+"):
        if len(text) > MAX_IPSET + 1:
            raise PveSyntaxError("ipset name too long")
        return None
    if re.fullmatch(rf"(dc/|guest/)?{NAME}", text):
        if len(text) > MAX_ALIAS:
            raise PveSyntaxError("alias name too long")
        return None
    version = None
    elements = text.split(",")
    if "" in elements:
        raise PveSyntaxError(f"extraneous commas in list {text!r}")
    for element in elements:
        if "-" in element:
            raise PveSyntaxError(f"address ranges are not used by talospatch: {element!r}")
        try:
            net = ipaddress.ip_network(element, strict=False)
        except ValueError:
            raise PveSyntaxError(f"invalid IP address: {element!r}") from None
        if version is not None and net.version != version:
            raise PveSyntaxError(f"detected mixed ipv4/ipv6 addresses in address list {text!r}")
        version = net.version
    return version


_OPTION_RE = [
    ("proto", r"(?:-p|--?proto) (\S+)\s*"),
    ("dport", r"--?dport (\S+)\s*"),
    ("sport", r"--?sport (\S+)\s*"),
    ("source", r"--?source (\S+)\s*"),
    ("dest", r"--?dest (\S+)\s*"),
    ("log", r"--?log (emerg|alert|crit|err|warning|notice|info|debug|nolog)\s*"),
    ("icmp_type", r"--?icmp-type (\S+)\s*"),
]


def parse_rule(line: str, env: str, cluster: Config | None, local: Config | None) -> Rule:
    """``parse_fw_rule`` + ``verify_rule``: a rule pve-firewall accepts whole, or an error."""
    line, comment = _strip_comment(line)
    enable = not line.startswith("|")
    line = line.removeprefix("|")
    m = re.match(r"(\S+)\s+(\S+)\s*", line)
    if not m:
        raise PveSyntaxError(f"unable to parse rule: {line!r}")
    rule = Rule(type=m.group(1).lower(), action=m.group(2), enable=enable, comment=comment)
    line = line[m.end() :]
    if rule.type in ("in", "out", "forward") and re.fullmatch(r"\S+\((ACCEPT|DROP|REJECT)\)", rule.action):
        raise PveSyntaxError("macros are not used by talospatch")
    while line:
        if m := re.match(r"-i (\S+)\s*", line):
            rule.iface = m.group(1)
            line = line[m.end() :]
            continue
        if rule.type == "group":
            break
        for attr, pattern in _OPTION_RE:
            if m := re.match(pattern, line):
                setattr(rule, attr, m.group(1))
                line = line[m.end() :]
                break
        else:
            break
    if line:
        raise PveSyntaxError(f"unable to parse rule parameters: {line!r}")
    _verify(rule, env, cluster, local)
    return rule


def _verify(rule: Rule, env: str, cluster: Config | None, local: Config | None) -> None:
    if rule.type not in DIRECTIONS[env]:
        raise PveSyntaxError(f"invalid rule type {rule.type!r} for rule_env {env!r}")
    if rule.type in ("in", "out", "forward"):
        if rule.action not in ("ACCEPT", "DROP", "REJECT"):
            raise PveSyntaxError(f"unknown action {rule.action!r}")
        if rule.type == "forward" and rule.action == "REJECT":
            raise PveSyntaxError("cannot define REJECT rules on forward chain")
    elif not re.fullmatch(NAME, rule.action):
        raise PveSyntaxError(f"invalid characters in security group name {rule.action!r}")
    if rule.iface is not None:
        if not IFACE_ALLOWED[env]:
            raise PveSyntaxError("parameter -i not allowed for this rule type")
        if env == "vm" and not re.fullmatch(r"net\d+", rule.iface):
            raise PveSyntaxError(f"iface {rule.iface!r} does not match 'net\\d+'")
    versions: set[int] = set()
    if rule.proto is not None:
        if rule.proto not in PROTOCOLS:
            raise PveSyntaxError(f"unknown protocol {rule.proto!r}")
        if rule.proto == "icmp":
            versions.add(4)
        if rule.proto in ("icmpv6", "ipv6-icmp"):
            versions.add(6)
    for attr in ("dport", "sport"):
        value = getattr(rule, attr)
        if value is None:
            continue
        parse_ports(value)
        if rule.proto is None:
            raise PveSyntaxError(f"missing property - '{attr}' requires proto")
        if rule.proto not in PROTOCOLS_WITH_PORTS:
            raise PveSyntaxError(f"protocol {rule.proto!r} does not support ports")
    for attr in ("source", "dest"):
        value = getattr(rule, attr)
        if value is None:
            continue
        version = parse_address_list(value)
        if version is not None:
            versions.add(version)
        if value.startswith("+"):
            m = re.fullmatch(rf"\+(guest/|dc/|sdn/)?({NAME})", value)
            if not m:
                raise PveSyntaxError(f"invalid ipset name {value!r}")
            name = m.group(2).lower()
            if not ((cluster and name in cluster.ipsets) or (local and name in local.ipsets)):
                raise PveSyntaxError(f"no such ipset {name!r}")
        elif m := re.fullmatch(rf"(guest/|dc/)?({NAME})", value):
            alias = m.group(2).lower()
            found = (local.aliases.get(alias) if local else None) or (cluster.aliases.get(alias) if cluster else None)
            if not found:
                raise PveSyntaxError(f"no such alias {value!r}")
            versions.add(found[1])
    if len(versions) > 1:
        raise PveSyntaxError("detected mixed ipv4/ipv6 addresses in rule")


def parse_fw(text: str, env: str, cluster: Config | None = None) -> Config:
    """A whole ``cluster.fw`` (env ``cluster``) or ``<vmid>.fw`` (env ``vm``, given the cluster's)."""
    conf = Config(env)
    section: str | None = None
    group: str | None = None
    allowed = SECTIONS[env]
    groups_cluster = conf if env == "cluster" else cluster
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip(" \t")
        if not line or line.startswith("#"):
            continue
        where = f"line {number}: {raw!r}"
        try:
            if "options" in allowed and re.fullmatch(r"\[options\]", line, re.I):
                section = "options"
                continue
            if "aliases" in allowed and re.fullmatch(r"\[aliases\]", line, re.I):
                section = "aliases"
                continue
            if "rules" in allowed and re.fullmatch(r"\[rules\]", line, re.I):
                section = "rules"
                continue
            if "groups" in allowed and (m := re.fullmatch(r"\[group\s+(\S+)\]\s*(?:#\s*(.*?)\s*)?", line, re.I)):
                group = m.group(1).lower()
                if len(group) > MAX_GROUP:
                    raise PveSyntaxError("security group name too long")
                if not re.fullmatch(NAME, group):
                    raise PveSyntaxError(f"invalid security group name {group!r}")
                section = "groups"
                conf.groups[group] = []
                conf.group_comments[group] = m.group(2) or ""
                continue
            if "ipset" in allowed and (m := re.fullmatch(r"\[ipset\s+(\S+)\]\s*(?:#\s*(.*?)\s*)?", line, re.I)):
                group = m.group(1).lower()
                if len(group) > MAX_IPSET:
                    raise PveSyntaxError("ipset name too long")
                if not re.fullmatch(NAME, group):
                    raise PveSyntaxError(f"invalid ipset name {group!r}")
                section = "ipset"
                conf.ipsets[group] = []
                conf.ipset_comments[group] = m.group(2) or ""
                continue
            if section is None:
                raise PveSyntaxError("skip line - no section")
            if section == "options":
                key, value = parse_option(line, env)
                conf.options[key] = value
            elif section == "aliases":
                name, cidr, version = parse_alias(line)
                conf.aliases[name.lower()] = (cidr, version)
            elif section == "rules":
                conf.rules.append(parse_rule(line, env, cluster if env == "vm" else conf, conf))
            elif section == "groups":
                assert group is not None
                conf.groups[group].append(parse_rule(line, "group", groups_cluster, None))
            else:  # ipset entry
                assert group is not None
                entry, _ = _strip_comment(line)
                m = re.fullmatch(r"(\!)?\s*(\S+)\s*", entry)
                if not m:
                    raise PveSyntaxError("bad ipset entry")
                cidr = m.group(2)
                if am := re.fullmatch(rf"(dc/|guest/)?({NAME})", cidr):
                    alias = am.group(2).lower()
                    if alias not in conf.aliases and not (cluster and alias in cluster.aliases):
                        raise PveSyntaxError(f"no such alias {cidr!r}")
                else:
                    cidr, _ = parse_ip_or_cidr(cidr)
                if cidr in conf.ipsets[group]:
                    raise PveSyntaxError(f"duplicate ipset entry for {cidr!r}")
                if re.search(r"/0+$", cidr):
                    raise PveSyntaxError("a zero prefix is not allowed in ipset entries")
                conf.ipsets[group].append(cidr)
        except PveSyntaxError as exc:
            raise PveSyntaxError(f"{where}: {exc}") from None
    return conf


def resolve(
    conf: Config, entry: str, cluster: Config | None = None
) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """The networks an address, alias, ``+ipset`` or comma list stands for."""
    if entry.startswith("+"):
        name = entry[1:].split("/")[-1].lower()
        members = conf.ipsets.get(name) or (cluster.ipsets.get(name) if cluster else None)
        if members is None:
            raise KeyError(name)
        return [n for member in members for n in resolve(conf, member, cluster)]
    if re.fullmatch(rf"(dc/|guest/)?{NAME}", entry):
        alias = entry.split("/")[-1].lower()
        found = conf.aliases.get(alias) or (cluster.aliases.get(alias) if cluster else None)
        if found is None:
            raise KeyError(alias)
        return [ipaddress.ip_network(found[0], strict=False)]
    return [ipaddress.ip_network(e, strict=False) for e in entry.split(",")]
