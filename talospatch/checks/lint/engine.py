"""The linter: firewall documents Talos would reject, and hazards Talos accepts silently.

``check_text`` reads one file (a patch, a whole machine config, or ``talosctl get
machineconfig -o yaml`` output), validates every firewall document on its own (so one bad
document does not hide the others), then looks at the firewall the file configures: what
each rule allows, what the whole set allows (with the evaluator, ``talospatch.nft.reach``), and
what the profiles named in ``LintOptions`` require.

Each finding is one line, ``FILE: DOCUMENT: message; fix``. A finding of severity
``error`` is a document Talos rejects (or a file that cannot be read); the others are
``hazard``: Talos applies them, and they do not do what their author meant.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from talospatch.checks.diff import traffic_diff
from talospatch.checks.guard import lost_access
from talospatch.checks.hazards import range_end_hazards
from talospatch.errors import BadInput
from talospatch.generate.expand import tunnel_choices
from talospatch.generate.options import ALL_TUNNELS, FIELD_NAMES, Labels
from talospatch.generate.profiles import Catalog, LoadedProfile, ProfileRule
from talospatch.nft import atoms
from talospatch.nft.compile import NodeContext, compile_firewall
from talospatch.nft.reach import Reach
from talospatch.talos.addresses import IPAddress, parse_address, parse_network
from talospatch.talos.documents import (
    DEFAULT_ACTION_KIND,
    L4,
    RULE_KIND,
    DefaultActionConfig,
    Firewall,
    Network,
    PortRange,
    RuleConfig,
    apply_patches,
    parse_document,
    validate_port_ranges,
)
from talospatch.talos.machineconfig import config_documents
from talospatch.talos.versions import TalosVersion, parse_talos_version

Severity = Literal["error", "hazard"]

# Ports that must never be open to everyone, and those only control planes need.
SENSITIVE: tuple[tuple[str, PortRange, bool], ...] = (
    ("etcd", PortRange(2379, 2380), True),
    ("the kubelet API", PortRange(10250, 10250), False),
    ("kube-controller-manager", PortRange(10257, 10257), True),
    ("kube-scheduler", PortRange(10259, 10259), True),
    ("trustd", PortRange(50001, 50001), False),
)
APID: tuple[int, L4] = (50000, "tcp")
KUBE_API: tuple[int, L4] = (6443, "tcp")

# Compiled nft rules above which Talos before v1.13.9 / v1.14.0-rc.1 risks ENOBUFS (issue
# 14001): the Talos test saw it past ~91 rules, and a control plane hung at boot with 12
# documents (about 60 rules with a node address, dual-stack). Keep under that report.
NFT_RULE_BUDGET = 60

_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_TOKEN = re.compile(r"__talospatch_placeholder_([A-Za-z_][A-Za-z0-9_]*)__")


@dataclass(frozen=True)
class Finding:
    file: str
    document: str
    code: str
    message: str
    fix: str
    severity: Severity = "hazard"

    def __str__(self) -> str:
        return f"{self.file}: {self.document}: {self.message}; {self.fix}"

    def to_json(self) -> dict[str, str]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class LintOptions:
    """What the files do not say: the cluster's addresses and the profiles the nodes need."""

    controlplane: tuple[Network, ...] = ()
    subnets: tuple[Network, ...] = ()
    guard_from: tuple[IPAddress, ...] = ()
    profiles: tuple[LoadedProfile, ...] = ()
    tunnel: str | None = None
    lockout_ports: tuple[tuple[int, L4], ...] = ()
    context: NodeContext = field(default_factory=NodeContext)
    labels: Labels = FIELD_NAMES
    # The Talos release the nodes run; None: unknown, so every release's hazards are reported.
    version: TalosVersion | None = None


def lint_options(
    *,
    role: str | None = None,
    cni: str | None = None,
    tunnel: str | None = None,
    addons: tuple[str, ...] = (),
    subnets: tuple[str, ...] = (),
    controlplane: tuple[str, ...] = (),
    guard_from: tuple[str, ...] = (),
    profiles_dir: str | None = None,
    talos_version: str | None = None,
    labels: Labels = FIELD_NAMES,
) -> LintOptions:
    """Parse the strings; ``BadInput`` names the option of a bad value."""
    nets = tuple(parse_network(s, labels("subnets"), allow_address=False) for s in subnets)
    planes = tuple(parse_network(c, labels("controlplane"), allow_address=True) for c in controlplane)
    addresses = tuple(dict.fromkeys(parse_address(a, labels("guard_from")) for a in guard_from))
    selected: list[LoadedProfile] = []
    lockout: tuple[tuple[int, L4], ...] = ()
    if role or cni or addons or tunnel:
        catalog = Catalog.load(profiles_dir, labels("profiles_dir"))
        if role:
            loaded = catalog.get(role, "role")
            selected.append(loaded)
            lockout = loaded.profile.lockout
        if cni:
            selected.append(catalog.get(cni, "cni"))
        selected += [catalog.get(name, "addon") for name in sorted(set(addons))]
        if tunnel is not None:
            with_tunnels = [p for p in selected if p.profile.tunnels]
            if not with_tunnels:
                raise BadInput(f"{labels('tunnel')} needs {labels('cni')} with a tunnel choice (cilium)")
            valid = tunnel_choices(with_tunnels[0])
            if tunnel not in valid:
                raise BadInput(f"unknown tunnel {tunnel!r}; valid: {', '.join(valid)}")
    version = None if talos_version is None else parse_talos_version(talos_version).version
    return LintOptions(planes, nets, addresses, tuple(selected), tunnel, lockout, labels=labels, version=version)


# --------------------------------------------------------------------------------------
# Reading


def _mark_placeholders(text: str) -> str:
    """``${VAR}`` as a plain token, so YAML (even flow style) reads it and we can name it."""
    return _PLACEHOLDER.sub(lambda m: f"__talospatch_placeholder_{m.group(1)}__", text)


def _placeholders(value: object, path: str = "") -> Iterator[tuple[str, str]]:
    """``(where in the document, VAR)`` for every placeholder inside ``value``."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from _placeholders(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _placeholders(item, f"{path}[{index}]")
    elif isinstance(value, str):
        for match in _TOKEN.finditer(value):
            yield path, match.group(1)


def _label(data: Mapping[str, Any], where: str) -> str:
    kind = str(data.get("kind"))
    name = data.get("name")
    if kind == DEFAULT_ACTION_KIND:
        return kind
    if isinstance(name, str) and name:
        return f"{kind}/{_TOKEN.sub(lambda m: '${' + m.group(1) + '}', name)}"
    return where.rsplit(": ", 1)[-1]


def _ports_text(rule: RuleConfig) -> str:
    ports = ", ".join(p.label for p in rule.ports)
    return f"{ports}/{rule.portSelector.protocol}" if rule.portSelector.protocol else ports


def _nets(networks: list[Network] | tuple[Network, ...]) -> str:
    return ", ".join(str(n) for n in networks)


@dataclass
class _File:
    path: str
    options: LintOptions
    findings: list[Finding] = field(default_factory=list)
    # Documents that passed, repaired where a finding says how (a quoted port).
    documents: list[Mapping[str, Any]] = field(default_factory=list)
    names: Counter[str] = field(default_factory=Counter)
    placeholders: int = 0
    machine_type: str | None = None

    def add(self, document: str, code: str, message: str, fix: str, severity: Severity = "hazard") -> None:
        self.findings.append(Finding(self.path, document, code, message, fix, severity))


def _repair_ports(data: Mapping[str, Any], label: str, out: _File) -> Mapping[str, Any]:
    """A quoted single port (``"80"``) is a finding; read on as the port it means."""
    selector = data.get("portSelector")
    if not isinstance(selector, Mapping) or not isinstance(selector.get("ports"), list):
        return data
    ports = []
    for value in selector["ports"]:
        if isinstance(value, str) and value.strip().isdigit():
            out.add(
                label,
                "quoted-port",
                f'port "{value}" is a quoted single port, which Talos rejects (invalid port range: "{value}")',
                f"write it unquoted: {value.strip()}",
            )
            ports.append(int(value.strip()))
        else:
            ports.append(value)
    return {**data, "portSelector": {**selector, "ports": ports}}


def _check_document(data: Mapping[str, Any], where: str, out: _File) -> None:
    label = _label(data, where)
    holes = list(_placeholders(data))
    if holes:
        out.placeholders += 1
        for path, var in holes:
            out.add(
                label,
                "placeholder",
                f"{path} is the placeholder ${{{var}}}, which Talos reads literally",
                "substitute it before applying (envsubst, talhelper, flux); this document is not checked further",
            )
        return
    if data.get("$patch") == "delete":
        out.documents.append(data)
        return
    data = _repair_ports(data, label, out)
    try:
        doc = parse_document(data, where)
    except BadInput as exc:
        message = str(exc).removeprefix(f"{where}: ").removeprefix(f"{label}: ")
        out.add(label, "invalid", message, "fix the document: Talos rejects it", "error")
        return
    if doc is None:
        return
    if isinstance(doc, DefaultActionConfig):
        out.documents.append(data)
        return
    if not doc.name:
        out.add(label, "invalid", "name is required", "fix the document: Talos rejects it", "error")
        return
    try:
        validate_port_ranges(doc.ports)
    except ValueError as exc:
        out.add(label, "invalid", str(exc), "fix the document: Talos rejects it", "error")
        return
    out.names[doc.name] += 1
    out.documents.append(data)


def _check_merged_rule(rule: RuleConfig, out: _File) -> bool:
    """A rule as the node ends up with it (patches merged); whether it takes part in the firewall."""
    label = f"{RULE_KIND}/{rule.name}"
    if not rule.ports:
        out.add(
            label,
            "invalid",
            "portSelector.ports is required",
            "fix the document: Talos rejects it (a patch of a rule defined elsewhere: check both files with --merge)",
            "error",
        )
        return False
    if rule.portSelector.protocol is None:
        out.add(
            label,
            "no-protocol",
            f"portSelector.protocol is missing: Talos accepts the rule and it matches nothing, so {_ports_text(rule)} "
            "stays closed",
            "add protocol: tcp (or udp)",
        )
        return False
    _check_rule(rule, label, out)
    return True


def _check_rule(doc: RuleConfig, label: str, out: _File) -> None:
    """What one rule gets wrong on its own."""
    opts = out.options
    if doc.protocol in ("icmp", "icmpv6"):
        out.add(
            label,
            "icmp-rule",
            f"protocol {doc.protocol}: Talos matches the ports against the ICMP checksum, so the rule does not "
            "select ICMP messages",
            "delete it: block mode accepts ICMP and ICMPv6 at 5 packets/s and no rule can narrow that",
        )
    if not doc.ingress:
        out.add(
            label,
            "empty-ingress",
            f"ingress is empty or missing, so {_ports_text(doc)} is closed to everyone",
            "list the sources under ingress (- subnet: CIDR), or delete the rule",
        )
    for index, entry in enumerate(doc.ingress):
        exc = entry.except_
        if exc is not None and (exc.version != entry.subnet.version or not exc.subnet_of(entry.subnet)):  # type: ignore[arg-type]
            out.add(
                label,
                "except-outside",
                f"ingress[{index}]: except {exc} is outside its subnet {entry.subnet}",
                "Talos subtracts every except from all the rule's subnets, so it narrows another subnet or "
                "nothing; put it under the subnet it narrows, or delete it",
            )
    if doc.protocol != "tcp":
        return
    for service, ports, controlplane_only in SENSITIVE:
        if not any(p.lo <= ports.hi and ports.lo <= p.hi for p in doc.ports):
            continue
        everyone = [n for n in doc.subnets if n.prefixlen == 0]
        if everyone:
            who = "the control-plane addresses" if controlplane_only else "the node subnet"
            out.add(
                label,
                "open-to-everyone",
                f"{service} {ports.label}/tcp is open to {_nets(everyone)}",
                f"allow only {who}",
            )
        elif controlplane_only and opts.controlplane:
            beyond = [n for n in doc.subnets if not _within(n, opts.controlplane)]
            if beyond:
                flag = opts.labels("controlplane")
                out.add(
                    label,
                    "beyond-controlplane",
                    f"{service} {ports.label}/tcp is open to {_nets(beyond)}, beyond the control-plane addresses",
                    f"allow only {flag} {_nets(opts.controlplane)}",
                )


def _within(net: Network, union: tuple[Network, ...]) -> bool:
    """Whether the union of ``union`` (same family) holds every address of ``net``."""
    spans = atoms.merge((int(n.network_address), int(n.broadcast_address)) for n in union if n.version == net.version)
    lo, hi = int(net.network_address), int(net.broadcast_address)
    return any(s_lo <= lo and hi <= s_hi for s_lo, s_hi in spans)


def _check_names(out: _File) -> None:
    version = out.options.version
    if version is not None and version.duplicate_documents_in_patch:
        return  # merged in order since v1.14
    for name, count in out.names.items():
        if count > 1:
            out.add(
                f"{RULE_KIND}/{name}",
                "duplicate-name",
                f"the name is used by {count} documents in this file",
                "keep one: Talos before v1.14 rejects the file (duplicate document), later versions merge "
                "the documents in order",
            )


# --------------------------------------------------------------------------------------
# The firewall as a whole


def _machine_type(documents: list[tuple[str, Mapping[str, Any]]]) -> str | None:
    for _, data in documents:
        machine = data.get("machine")
        if data.get("version") == "v1alpha1" and isinstance(machine, Mapping):
            value = machine.get("type")
            return str(value) if value else None
    return None


def _covered(fw: Firewall, protocol: str, ports: PortRange) -> bool:
    """Whether rules with sources cover every port of ``ports``."""
    cursor = ports.lo
    spans = sorted(p for r in fw.rules if r.portSelector.protocol == protocol and r.ingress for p in r.ports)
    for span in spans:
        if span.lo > cursor:
            break
        cursor = max(cursor, span.hi + 1)
    return cursor > ports.hi


def _dual_stack(fw: Firewall, opts: LintOptions) -> tuple[bool, str]:
    """Whether the node has both families, and what says so."""
    if opts.subnets:
        versions = {n.version for n in opts.subnets}
        return len(versions) == 2, f"{opts.labels('subnets')} {_nets(opts.subnets)}"
    specific = [n for r in fw.rules for n in r.subnets if n.prefixlen > 0]
    v4 = next((n for n in specific if n.version == 4), None)
    v6 = next((n for n in specific if n.version == 6), None)
    if v4 is None or v6 is None:
        return False, ""
    return True, f"other rules list {v4} and {v6}"


def _check_firewall(fw: Firewall, out: _File) -> None:
    opts = out.options
    _check_families(fw, out)
    _check_budget(fw, out)
    _check_range_ends(fw, out)
    if not fw.has_default_doc:
        # A patch of rules only: the mode, and so what the rules do, comes from the config it patches.
        if opts.guard_from or opts.profiles:
            out.add(
                "firewall",
                "no-default-action",
                "no NetworkDefaultActionConfig, so what the rules allow depends on the config they patch",
                "give that file too, first, with --merge (the lockout and profile checks need it)",
            )
        return
    block = fw.default_action == "block"
    reach = Reach(fw, opts.context, opts.version)
    if block and not _covered(fw, "tcp", PortRange(50000, 50000)):
        out.add(
            DEFAULT_ACTION_KIND,
            "no-apid",
            "block mode, and no rule allows apid 50000/tcp: talosctl cannot reach the node",
            "add an apid-ingress rule for the node subnet and the admin addresses",
        )
    if opts.guard_from:
        ports = list(opts.lockout_ports) or [APID]
        if not opts.lockout_ports and (
            out.machine_type in ("controlplane", "init") or _covered(fw, "tcp", PortRange(6443, 6443))
        ):
            ports.append(KUBE_API)
        for address, port, protocol, answer in lost_access(reach, opts.guard_from, ports):
            out.add(
                "firewall",
                "lockout",
                f"lockout: {address} would lose {port}/{protocol} ({answer.reason})",
                f"add {ipaddress.ip_network(address)} to the rule for {port}/{protocol}",
            )
    if block:
        _check_profiles(fw, out)
    _check_redundant(fw, out)


def _check_families(fw: Firewall, out: _File) -> None:
    dual, evidence = _dual_stack(fw, out.options)
    if dual:
        for rule in fw.rules:
            versions = {n.version for n in rule.subnets}
            if len(versions) == 1:
                have, lack = (4, 6) if 4 in versions else (6, 4)
                out.add(
                    f"{RULE_KIND}/{rule.name}",
                    "one-family",
                    f"lists only IPv{have} sources on a dual-stack node ({evidence}), so {_ports_text(rule)} "
                    f"is closed over IPv{lack}",
                    f"add the IPv{lack} sources too",
                )


def _check_range_ends(fw: Firewall, out: _File) -> None:
    """With a release that crash-loops on a set ending at port 65535 or the last address."""
    version = out.options.version
    if version is None or not version.range_end_crash or not fw.active:
        return
    for hazard in range_end_hazards(compile_firewall(fw, out.options.context, version)):
        out.add(
            hazard.origin,
            "range-end",
            hazard.message.removeprefix(f"{hazard.origin}: "),
            "end the range at 65534 (talospatch gen does), narrow the sources, or run Talos >= v1.12.5",
        )


def _check_budget(fw: Firewall, out: _File) -> None:
    version = out.options.version
    if version is not None and version.enobufs_rule_limit is None:
        return  # fixed in this release
    dual, _ = _dual_stack(fw, out.options)
    node = (ipaddress.ip_address("192.0.2.1"),) + ((ipaddress.ip_address("2001:db8::1"),) if dual else ())
    if not fw.has_default_doc:  # rules only: count them as the block mode they are usually applied in
        fw = dataclasses.replace(fw, default_action="block", has_default_doc=True)
    count = sum(
        len(chain.rules)
        for chain in compile_firewall(fw, dataclasses.replace(out.options.context, node_ips=node)).chains
    )
    if count > NFT_RULE_BUDGET:
        out.add(
            "firewall",
            "too-many-rules",
            f"{len(fw.rules)} rules compile to {count} nft rules on a node with an address; Talos before v1.13.9 "
            f"and v1.14.0-rc.1 can fail with ENOBUFS above about {NFT_RULE_BUDGET} (Talos issue 14001)",
            "merge rules with the same protocol and sources into one rule with several ports, or run Talos >= v1.13.9",
        )


def _required(entry: ProfileRule) -> list[tuple[PortRange, L4]]:
    return [(p, proto) for proto in entry.protocol for p in entry.ports]


def _check_profiles(fw: Firewall, out: _File) -> None:
    """Each port the named profiles need that no rule allows."""
    opts = out.options
    for loaded in opts.profiles:
        plain = [e for e in loaded.profile.rules if e.tunnel is None]
        # Without a tunnel named, one of the overlays that open a port must be allowed ("native"
        # routing needs none, so it is taken only when named).
        carrying = [t for t in loaded.profile.tunnels if any(e.tunnel == t for e in loaded.profile.rules)]
        tunnels = [opts.tunnel] if opts.tunnel in loaded.profile.tunnels else carrying
        for entry in plain:
            _missing(fw, out, loaded, entry)
        if not tunnels:
            continue
        by_tunnel = {t: [e for e in loaded.profile.rules if e.tunnel == t] for t in tunnels}
        if len(tunnels) == 1 or opts.tunnel == ALL_TUNNELS:
            for entry in (e for t in tunnels for e in by_tunnel[t]):
                _missing(fw, out, loaded, entry)
            continue
        if any(
            all(_covered(fw, proto, p) for e in entries for p, proto in _required(e)) for entries in by_tunnel.values()
        ):
            continue
        choices = " or ".join(
            f"{t} ({', '.join(f'{p.label}/{proto}' for e in by_tunnel[t] for p, proto in _required(e))})"
            for t in tunnels
        )
        out.add(
            "firewall",
            "missing-port",
            f"{loaded.name}: no rule allows its tunnel, {choices}",
            f"add the rule of your tunnel ({opts.labels('tunnel')} names it)",
        )


def _missing(fw: Firewall, out: _File, loaded: LoadedProfile, entry: ProfileRule) -> None:
    lacking = [f"{p.label}/{proto}" for p, proto in _required(entry) if not _covered(fw, proto, p)]
    if lacking:
        out.add(
            "firewall",
            "missing-port",
            f"{loaded.name}: {entry.name} ({entry.service}) needs {', '.join(lacking)} and no rule allows it",
            f"add a rule from {', '.join(entry.from_)}: {entry.why}",
        )


def _check_redundant(fw: Firewall, out: _File) -> None:
    """A rule that adds nothing to the others: removing it changes no verdict (last first)."""
    current = fw
    for rule in reversed(fw.rules):
        if rule.protocol not in ("tcp", "udp") or not rule.ingress:
            continue
        others = tuple(r for r in current.rules if r.name != rule.name)
        without = dataclasses.replace(current, rules=others)
        if traffic_diff(current, without, out.options.context, within=(rule.protocol, rule.ports)):
            continue
        overlapping = [
            r.name
            for r in others
            if r.portSelector.protocol == rule.protocol
            and any(p.lo <= q.hi and q.lo <= p.hi for p in r.ports for q in rule.ports)
        ]
        if fw.default_action == "block":
            verb = "allows" if len(overlapping) == 1 else "allow"
            what = "allows nothing the other rules do not" + (
                f" ({', '.join(overlapping)} already {verb} it)" if overlapping else ""
            )
        else:
            what = "changes no verdict: in accept mode it drops nothing that the other rules do not"
        out.add(
            f"{RULE_KIND}/{rule.name}",
            "redundant",
            what,
            "delete it, or merge its ports and sources into one rule",
        )
        current = without


# --------------------------------------------------------------------------------------


def _read(text: str, path: str, options: LintOptions) -> _File:
    """One file's documents, each checked on its own."""
    out = _File(path, options)
    try:
        documents = config_documents(_mark_placeholders(text), path)
    except BadInput as exc:
        out.add("file", "unreadable", str(exc).removeprefix(f"{path}: "), "fix the YAML", "error")
        return out
    out.machine_type = _machine_type(documents)
    kinds = (RULE_KIND, DEFAULT_ACTION_KIND)
    for where, data in documents:
        if data.get("kind") in kinds:
            _check_document(data, where, out)
    _check_names(out)
    return out


def _whole(files: list[_File], label: str, options: LintOptions) -> list[Finding]:
    """The firewall the files configure, applied in order as talosctl applies patches."""
    out = _File(label, options)
    if any(f.severity == "error" for file in files for f in file.findings):
        return []
    placeholders = sum(file.placeholders for file in files)
    if placeholders:
        out.add(
            "firewall",
            "placeholder",
            f"{placeholders} document(s) hold placeholders, so the firewall as a whole is not checked",
            "substitute them and run check again",
        )
        return out.findings
    out.machine_type = next((file.machine_type for file in files if file.machine_type), None)
    merged = apply_patches([(file.path, file.documents) for file in files], validate=False)
    kept = tuple(rule for rule in merged.rules if _check_merged_rule(rule, out))
    if any(f.severity == "error" for f in out.findings):
        return out.findings
    firewall = dataclasses.replace(merged, rules=kept)
    if firewall.active:
        _check_firewall(firewall, out)
    return out.findings


def check_text(text: str, path: str, options: LintOptions | None = None) -> list[Finding]:
    """Every finding for one file's text; ``path`` names it in the findings."""
    opts = LintOptions() if options is None else options
    file = _read(text, path, opts)
    return file.findings + _whole([file], path, opts)


def check_merged(files: list[tuple[str, str]], options: LintOptions | None = None) -> list[Finding]:
    """Files that are patches of one node (``(path, text)`` in apply order): each document
    on its own, then the firewall they make together, named ``A + B + ...``."""
    opts = LintOptions() if options is None else options
    read = [_read(text, path, opts) for path, text in files]
    label = " + ".join(path for path, _ in files)
    return [f for file in read for f in file.findings] + _whole(read, label, opts)


def exit_code(findings: list[Finding]) -> int:
    """3 when Talos would reject something, 1 for hazards, 0 when clean."""
    if any(f.severity == "error" for f in findings):
        return 3
    return 1 if findings else 0
