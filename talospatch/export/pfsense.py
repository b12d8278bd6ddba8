"""pfSense: the ``<aliases>`` and ``<filter>`` sections of ``config.xml`` for the node VLAN.

The format is pfSense's own (``src/etc/inc/xmlparse.inc`` writes it): tab-indented
elements, ``descr`` and ``detail`` as CDATA holding HTML-escaped text, one ``<rule>`` per
pass rule with a unique integer ``tracker``, addresses or alias names in ``<address>``,
``<any></any>`` for any address. Every rule and alias talospatch writes has a description
starting ``talospatch:`` (pfSense's rule and alias forms keep ``descr`` and ``tracker``
when a rule is edited), and its trackers come from 3,000,000,000-3,000,999,999, away from
the ``(int)microtime()`` trackers pfSense gives new rules.

``merge`` rewrites only those rules, aliases and comments in a user's ``config.xml``: it
splices bytes rather than re-serialising, so every other byte stays as it was.
"""

from __future__ import annotations

import html
import ipaddress
import re
import xml.parsers.expat
from collections.abc import Mapping
from dataclasses import dataclass, field

from talospatch.errors import BadInput
from talospatch.export.cluster import Export, RoleInput
from talospatch.export.routed import (
    TAG,
    Alias,
    RoutedPlan,
    RoutedRule,
    address_text,
    check_interface,
    family_name,
    not_enforced_lines,
    plan,
    stable_number,
)
from talospatch.generate.expand import GenOptions
from talospatch.generate.options import FIELD_NAMES, Labels
from talospatch.generate.profiles import Catalog

TRACKER_START = 3_000_000_000
TRACKER_SPAN = 1_000_000
FILTER_FILE = "pfsense-filter.xml"
ALIASES_FILE = "pfsense-aliases.xml"
MERGED_FILE = "config.xml"


@dataclass(frozen=True)
class PfRule:
    tracker: int
    interface: str
    rule: RoutedRule


def _cdata(text: str) -> str:
    """As pfSense writes descr/detail: htmlentities(ENT_QUOTES | ENT_XML1) inside CDATA."""
    escaped = (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&apos;")
    )
    return f"<![CDATA[{escaped}]]>"


def _comment_text(text: str) -> str:
    """Text that is safe inside an XML comment (no ``--``, not ending in ``-``)."""
    while "--" in text:
        text = text.replace("--", "- -")
    return text.rstrip("-")


def _rules(
    routed: RoutedPlan, cluster_interface: str, from_interfaces: tuple[str, ...], taken: set[int]
) -> list[PfRule]:
    rules: list[PfRule] = []
    for rule in routed.rules:
        interfaces = from_interfaces if rule.placement == "inbound" else (cluster_interface,)
        for interface in interfaces:
            tracker = stable_number(f"{rule.key}@{interface}", TRACKER_START, TRACKER_SPAN, taken)
            rules.append(PfRule(tracker, interface, rule))
    return rules


def _endpoint(tag: str, address: str | None, port: str | None, ind: str, unit: str) -> list[str]:
    inner = ind + unit
    lines = [f"{ind}<{tag}>"]
    lines.append(f"{inner}<any></any>" if address is None else f"{inner}<address>{address}</address>")
    if port is not None:
        lines.append(f"{inner}<port>{port}</port>")
    lines.append(f"{ind}</{tag}>")
    return lines


def _rule_lines(pf: PfRule, ind: str, unit: str) -> list[str]:
    rule = pf.rule
    inner = ind + unit
    port = str(rule.port.lo) if rule.port.lo == rule.port.hi else f"{rule.port.lo}-{rule.port.hi}"
    return [
        f"{ind}<rule>",
        f"{inner}<tracker>{pf.tracker}</tracker>",
        f"{inner}<type>pass</type>",
        f"{inner}<interface>{pf.interface}</interface>",
        f"{inner}<ipprotocol>{family_name(rule.families)}</ipprotocol>",
        f"{inner}<protocol>{rule.protocol}</protocol>",
        *_endpoint("source", rule.source, None, inner, unit),
        *_endpoint("destination", rule.destination, port, inner, unit),
        f"{inner}<descr>{_cdata(rule.description)}</descr>",
        f"{ind}</rule>",
    ]


def _alias_lines(alias: Alias, ind: str, unit: str) -> list[str]:
    inner = ind + unit
    kind = "host" if alias.hosts_only else "network"
    addresses = " ".join(address_text(n) if kind == "host" else str(n) for n in alias.networks)
    detail = "||".join("talospatch" for _ in alias.networks)
    return [
        f"{ind}<alias>",
        f"{inner}<name>{alias.name}</name>",
        f"{inner}<type>{kind}</type>",
        f"{inner}<address>{addresses}</address>",
        f"{inner}<descr>{_cdata(alias.description)}</descr>",
        f"{inner}<detail>{_cdata(detail)}</detail>",
        f"{ind}</alias>",
    ]


def _comment_lines(
    routed: RoutedPlan, cluster_interface: str, from_interfaces: tuple[str, ...], ind: str, *, section: bool
) -> list[str]:
    lines = [
        (
            f"{TAG} rules for the Talos node VLAN (interface {cluster_interface}); admin and other routed "
            f"sources arrive on {', '.join(from_interfaces)}."
        ),
    ]
    if section:
        lines.append(
            "Restoring this file as the Firewall Rules area replaces every rule on the firewall: "
            "merge the rules into your own exported config.xml instead (export pfsense with merge-into)."
        )
    lines += not_enforced_lines(routed)
    body = [f"{ind}{_comment_text(line)}" for line in lines]
    return [f"{ind}<!-- {body[0].strip()}", *body[1:], f"{ind}-->"]


def _options(cluster_interface: str, from_interfaces: tuple[str, ...]) -> tuple[str, tuple[str, ...]]:
    cluster = check_interface(cluster_interface, "--cluster-interface")
    sources = tuple(dict.fromkeys(check_interface(i, "--from-interface") for i in from_interfaces))
    if not sources:
        raise BadInput("--from-interface: give at least one interface the admins' traffic arrives on")
    return cluster, sources


def pfsense(
    options: GenOptions,
    *,
    cluster_interface: str = "opt1",
    from_interfaces: tuple[str, ...] = ("lan",),
    ntp_servers: tuple[str, ...] = (),
    catalog: Catalog | None = None,
    labels: Labels = FIELD_NAMES,
    per_role: Mapping[str, RoleInput] | None = None,
) -> Export:
    """``pfsense-aliases.xml`` and ``pfsense-filter.xml``: the two restore areas, whole.

    ``options`` are gen's cluster options (``role`` is ignored: both roles are exported).
    """
    cluster, sources = _options(cluster_interface, from_interfaces)
    routed = plan(options, ntp_servers=ntp_servers, catalog=catalog, labels=labels, per_role=per_role)
    unit, nl = "\t", "\n"
    rules = _rules(routed, cluster, sources, set())
    filter_lines = ['<?xml version="1.0"?>', "<filter>", *_comment_lines(routed, cluster, sources, unit, section=True)]
    for pf in rules:
        filter_lines += _rule_lines(pf, unit, unit)
    filter_lines.append("</filter>")
    alias_lines = [
        '<?xml version="1.0"?>',
        "<aliases>",
        (
            f"{unit}<!-- {TAG} aliases for the rules of {FILTER_FILE}. Restoring this file as the Aliases "
            "area replaces every alias on the firewall: merge it into your own exported config.xml instead. -->"
        ),
    ]
    for alias in routed.aliases:
        alias_lines += _alias_lines(alias, unit, unit)
    alias_lines.append("</aliases>")
    return Export(
        {ALIASES_FILE: nl.join(alias_lines) + nl, FILTER_FILE: nl.join(filter_lines) + nl},
        tuple(routed.warnings),
    )


# --- merge into a user's config.xml -------------------------------------------------


@dataclass
class _Element:
    tag: str
    start: int  # byte offset of '<'
    end: int = -1  # byte offset after the closing '>'
    text: dict[str, str] = field(default_factory=dict)  # direct children's text by tag


@dataclass
class _Scan:
    root: str = ""
    filter: _Element | None = None
    aliases: _Element | None = None
    interfaces: list[_Element] = field(default_factory=list)  # pfsense/interfaces/<key>
    groups: list[_Element] = field(default_factory=list)  # pfsense/ifgroups/ifgroupentry
    rules: list[_Element] = field(default_factory=list)
    alias_items: list[_Element] = field(default_factory=list)
    comments: list[tuple[int, int, str]] = field(default_factory=list)  # in <filter>, direct
    # filter/separator/<if>/<sepN>/row: (interface key, start, end, text) of the row's text
    rows: list[tuple[str, int, int, str]] = field(default_factory=list)


def _tag_end(data: bytes, start: int) -> int:
    """The offset after the '>' of the tag that starts at ``start`` (quotes skipped)."""
    quote = 0
    for i in range(start, len(data)):
        c = data[i]
        if quote:
            if c == quote:
                quote = 0
        elif c in (0x22, 0x27):
            quote = c
        elif c == 0x3E:
            return i + 1
    return len(data)


def _scan(data: bytes, where: str) -> _Scan:
    scan = _Scan()
    parser = xml.parsers.expat.ParserCreate()
    stack: list[_Element] = []
    texts: list[list[str]] = []

    def start(tag: str, attrs: dict[str, str]) -> None:
        element = _Element(tag, parser.CurrentByteIndex)
        depth = len(stack)
        if depth == 0:
            scan.root = tag
        elif depth == 1 and stack[0].tag == "pfsense" and tag == "filter" and scan.filter is None:
            scan.filter = element
        elif depth == 1 and stack[0].tag == "pfsense" and tag == "aliases" and scan.aliases is None:
            scan.aliases = element
        elif depth == 2 and stack[0].tag == "pfsense" and stack[1].tag == "interfaces":
            scan.interfaces.append(element)
        elif depth == 2 and stack[0].tag == "pfsense" and stack[1].tag == "ifgroups" and tag == "ifgroupentry":
            scan.groups.append(element)
        elif depth == 2 and stack[1] is scan.filter and tag == "rule":
            scan.rules.append(element)
        elif depth == 2 and stack[1] is scan.aliases and tag == "alias":
            scan.alias_items.append(element)
        stack.append(element)
        texts.append([])

    def end(tag: str) -> None:
        element = stack.pop()
        text = "".join(texts.pop())
        index = parser.CurrentByteIndex
        element.end = _tag_end(data, index)
        if stack:
            stack[-1].text.setdefault(tag, text)
        if tag == "row" and len(stack) == 5 and stack[1] is scan.filter and stack[2].tag == "separator":
            inner = data[element.start : element.end]
            open_end = _tag_end(data, element.start) - element.start
            close = inner.rfind(b"</")
            if close > open_end:
                scan.rows.append((stack[3].tag.lower(), element.start + open_end, element.start + close, text))

    def chars(text: str) -> None:
        if texts:
            texts[-1].append(text)

    def comment(text: str) -> None:
        if len(stack) == 2 and stack[1] is scan.filter:
            index = parser.CurrentByteIndex
            scan.comments.append((index, data.index(b"-->", index) + 3, text))

    def doctype(*_: object) -> None:
        raise BadInput(f"{where}: has a DOCTYPE; a pfSense config.xml has none")

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars
    parser.CommentHandler = comment
    parser.StartDoctypeDeclHandler = doctype
    try:
        parser.Parse(data, True)
    except xml.parsers.expat.ExpatError as exc:
        raise BadInput(
            f"{where}: not well-formed XML at line {exc.lineno}, column {exc.offset + 1}: "
            f"{xml.parsers.expat.ErrorString(exc.code)}"
        ) from None
    return scan


def _ours(element: _Element) -> bool:
    return html.unescape(element.text.get("descr", "")).strip().startswith(TAG)


def _line_span(data: bytes, start: int, end: int) -> tuple[int, int]:
    """Widen [start, end) to whole lines when the element is alone on its lines."""
    line_start = data.rfind(b"\n", 0, start) + 1
    line_end = data.find(b"\n", end)
    line_end = len(data) if line_end < 0 else line_end + 1
    if data[line_start:start].strip() == b"" and data[end:line_end].strip() == b"":
        return line_start, line_end
    return start, end


def _indent(data: bytes, offset: int) -> str:
    line_start = data.rfind(b"\n", 0, offset) + 1
    prefix = data[line_start:offset]
    return prefix.decode() if prefix.strip() == b"" else ""


def merge(
    backup: bytes,
    options: GenOptions,
    *,
    backup_name: str = "BACKUP.xml",
    cluster_interface: str = "opt1",
    from_interfaces: tuple[str, ...] = ("lan",),
    ntp_servers: tuple[str, ...] = (),
    catalog: Catalog | None = None,
    labels: Labels = FIELD_NAMES,
    per_role: Mapping[str, RoleInput] | None = None,
) -> Export:
    """The user's ``config.xml`` with talospatch's rules, aliases and comment replaced.

    Rules and aliases whose description starts ``talospatch:`` (and comments in ``<filter>``
    starting so) are removed. Each interface's new rules go where its first old talospatch
    rule was, else after its last rule, else where the first talospatch rule of any
    interface was (the end of the rules when there was none); new aliases go where the first
    old one was, else after the last alias. Every other byte is kept, except the ``<row>``
    numbers of rule separators below a changed talospatch block, which move with their rule.
    Inserted lines take the file's indentation and line ends (CRLF stays CRLF).
    """
    cluster, sources = _options(cluster_interface, from_interfaces)
    routed = plan(options, ntp_servers=ntp_servers, catalog=catalog, labels=labels, per_role=per_role)
    try:
        backup.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadInput(f"{backup_name}: not UTF-8 text (byte {exc.start})") from None
    if backup.lstrip().startswith(b"---- BEGIN config.xml"):
        raise BadInput(f"{backup_name}: an encrypted backup; export it again without encryption")
    scan = _scan(backup, backup_name)
    if scan.root != "pfsense":
        raise BadInput(
            f"{backup_name}: the root element is <{scan.root}>, not <pfsense>; give the whole "
            "config.xml from Diagnostics > Backup & Restore (Backup area: All)"
        )
    if scan.filter is None:
        raise BadInput(f"{backup_name}: has no <filter> section")
    data = backup
    nl = "\r\n" if b"\r\n" in data else "\n"

    ours_names = {a.name.lower() for a in routed.aliases}
    for item in scan.alias_items:
        name = item.text.get("name", "").strip()
        if name.lower() in ours_names and not _ours(item):
            raise BadInput(
                f"{backup_name}: alias {name} exists and is not talospatch's (its description does not "
                f"start with {TAG!r}); rename or delete it"
            )

    user_trackers = {int(t) for r in scan.rules if not _ours(r) and (t := r.text.get("tracker", "").strip()).isdigit()}
    pf_rules = _rules(routed, cluster, sources, set(user_trackers))
    edits: list[tuple[int, int, str]] = []  # (start, end, replacement) on bytes, non-overlapping

    # <filter>: drop our rules and comments; each interface's new rules go where its first old
    # talospatch rule was, else after its last rule, else where talospatch's rules were.
    def key(rule: _Element) -> str:
        return "floatingrules" if rule.text.get("floating", "").strip() else rule.text.get("interface", "").lower()

    filter_el = scan.filter
    filter_indent = _indent(data, filter_el.start)
    old = [r for r in scan.rules if _ours(r)]
    first_child = scan.rules[0] if scan.rules else None
    ind = _indent(data, first_child.start) if first_child else filter_indent + "\t"
    unit = ind[len(filter_indent) :] if ind.startswith(filter_indent) and len(ind) > len(filter_indent) else "\t"
    for span in [_line_span(data, r.start, r.end) for r in old] + [
        _line_span(data, s, e) for s, e, text in scan.comments if text.strip().startswith(TAG)
    ]:
        edits.append((span[0], span[1], ""))

    whole_filter = False
    if old:
        anchor = _line_span(data, old[0].start, old[0].end)[0]
    elif scan.rules:
        anchor = _line_span(data, scan.rules[-1].start, scan.rules[-1].end)[1]
    else:
        close = data.rfind(b"</", filter_el.start, filter_el.end)
        line_start = data.rfind(b"\n", 0, close) + 1
        whole_filter = not (close > filter_el.start and data[line_start:close].strip() == b"")
        anchor = filter_el.start if whole_filter else line_start
    blocks: dict[str, tuple[int, list[PfRule]]] = {}  # interface -> (offset, rules)
    for pf in pf_rules:
        interface = pf.interface.lower()
        if interface not in blocks:
            theirs = [r for r in scan.rules if key(r) == interface]
            mine = [r for r in theirs if _ours(r)]
            if mine:
                at = _line_span(data, mine[0].start, mine[0].end)[0]
            elif theirs:
                at = _line_span(data, theirs[-1].start, theirs[-1].end)[1]
            else:
                at = anchor
            blocks[interface] = (at, [])
        blocks[interface][1].append(pf)
    ordered = sorted(blocks.values(), key=lambda block: block[0])  # stable: rule order breaks ties
    texts = []
    for n, (at, group) in enumerate(ordered):
        lines = _comment_lines(routed, cluster, sources, ind, section=False) if n == 0 else []
        for pf in group:
            lines += _rule_lines(pf, ind, unit)
        texts.append((at, nl.join(lines) + nl))
    if whole_filter:  # <filter/> or <filter></filter> on one line: write the element out whole
        body = "".join(text for _, text in texts)
        edits.append((filter_el.start, filter_el.end, f"<filter>{nl}{body}{filter_indent}</filter>"))
    else:
        edits += [(at, at, text) for at, text in texts]

    # Separator rows: pfSense numbers them per interface, among that interface's rules. A row
    # at or above the interface's first old talospatch rule stays; a lower one moves by the
    # difference between the old and the new talospatch rules above it.
    for interface, start, end, text in scan.rows:
        match = re.fullmatch(r"fr(\d+)", text.strip())
        if not match:
            continue
        row = int(match.group(1))
        theirs = [r for r in scan.rules if key(r) == interface]
        first_ours = next((i for i, r in enumerate(theirs) if _ours(r)), len(theirs))
        added = len(blocks.get(interface, (0, []))[1])
        if row > first_ours:
            new_row = sum(1 for r in theirs[:row] if not _ours(r)) + added
            if new_row != row:
                edits.append((start, end, f"fr{new_row}"))

    # <aliases>: drop ours, insert the new ones.
    alias_block_lines: list[str] = []
    if scan.aliases is not None:
        aliases_el = scan.aliases
        aliases_indent = _indent(data, aliases_el.start)
        first_alias = scan.alias_items[0] if scan.alias_items else None
        a_ind = _indent(data, first_alias.start) if first_alias else aliases_indent + unit
        for alias in routed.aliases:
            alias_block_lines += _alias_lines(alias, a_ind, unit)
        old_aliases = [a for a in scan.alias_items if _ours(a)]
        for item in old_aliases:
            span = _line_span(data, item.start, item.end)
            edits.append((span[0], span[1], ""))
        alias_text = nl.join(alias_block_lines) + nl
        open_end = _tag_end(data, aliases_el.start)
        if old_aliases:
            at = _line_span(data, old_aliases[0].start, old_aliases[0].end)[0]
            edits.append((at, at, alias_text))
        elif scan.alias_items:
            at = _line_span(data, scan.alias_items[-1].start, scan.alias_items[-1].end)[1]
            edits.append((at, at, alias_text))
        elif data[open_end - 2 : open_end] == b"/>" or data[open_end : aliases_el.end].strip().startswith(b"</"):
            # <aliases/> or <aliases></aliases>: write the element out whole.
            whole = f"<aliases>{nl}{alias_text}{aliases_indent}</aliases>"
            edits.append((aliases_el.start, aliases_el.end, whole))
    else:
        a_ind = filter_indent + unit
        for alias in routed.aliases:
            alias_block_lines += _alias_lines(alias, a_ind, unit)
        whole = nl.join([f"{filter_indent}<aliases>", *alias_block_lines, f"{filter_indent}</aliases>"]) + nl
        at = _line_span(data, filter_el.start, filter_el.end)[0]
        edits.append((at, at, whole))

    warnings = list(routed.warnings) + _interface_warnings(scan, routed, cluster, sources, backup_name)
    defined = {a.name for a in routed.aliases}
    for item in scan.rules:
        if _ours(item):
            continue
        for name in re.findall(rb"<address>\s*(talospatch_[A-Za-z0-9_]+)\s*</address>", data[item.start : item.end]):
            if name.decode() not in defined:
                warnings.append(
                    f"{backup_name}: the rule {item.text.get('descr', '').strip()!r} names alias "
                    f"{name.decode()}, which this export no longer defines, so pfSense cannot resolve it"
                )
    merged = _apply(data, edits)
    try:  # a merge that breaks the file is a bug here, not bad input
        xml.parsers.expat.ParserCreate().Parse(merged, True)
    except xml.parsers.expat.ExpatError as exc:
        raise AssertionError(f"the merged config.xml is not well-formed: {exc}") from exc
    return Export({MERGED_FILE: merged.decode("utf-8")}, tuple(warnings))


# Interfaces pfSense has rules tabs for without an entry under <interfaces>.
_BUILTIN_INTERFACES = {"openvpn", "ipsec", "enc0", "wireguard", "floatingrules"}


def _interface_warnings(
    scan: _Scan, routed: RoutedPlan, cluster: str, sources: tuple[str, ...], where: str
) -> list[str]:
    """Interfaces the backup does not have, and node subnets outside the cluster interface's."""
    known = {i.tag.lower(): i for i in scan.interfaces}
    names = set(known) | _BUILTIN_INTERFACES | {g.text.get("ifname", "").strip().lower() for g in scan.groups}
    warnings = [
        f"{where}: has no interface {name!r} (interfaces: {', '.join(sorted(known)) or 'none'}); "
        "its talospatch rules will never match"
        for name in dict.fromkeys((cluster, *sources))
        if name.lower() not in names
    ]
    vlan = known.get(cluster.lower())
    if vlan is not None:
        for address_key, prefix_key in (("ipaddr", "subnet"), ("ipaddrv6", "subnetv6")):
            address, prefix = vlan.text.get(address_key, "").strip(), vlan.text.get(prefix_key, "").strip()
            try:
                network = ipaddress.ip_network(f"{address}/{prefix}", strict=False)
            except ValueError:
                continue  # dhcp, track6 or unset: nothing to compare
            for node in routed.nodes:
                if node.version == network.version and not node.subnet_of(network):  # type: ignore[arg-type]
                    warnings.append(
                        f"{where}: the node subnet {node} is not inside {cluster}'s network {network}; "
                        "is the cluster interface right?"
                    )
    return warnings


def _apply(data: bytes, edits: list[tuple[int, int, str]]) -> bytes:
    """Apply byte edits; insertions at the same offset keep the order they were given in."""
    ordered = sorted(enumerate(edits), key=lambda e: (e[1][0], e[1][1], e[0]))
    out: list[bytes] = []
    pos = 0
    for _, (start, end, text) in ordered:
        if start < pos:
            raise AssertionError("overlapping edits")
        out.append(data[pos:start])
        out.append(text.encode("utf-8"))
        pos = end
    out.append(data[pos:])
    return b"".join(out)
