"""pfSense ``--merge-into``: talospatch's rules and aliases spliced into a user's ``config.xml``.

``merge`` rewrites only the rules, aliases and comments whose description starts
``talospatch:`` in a whole ``config.xml`` (Diagnostics > Backup & Restore, area All): it
splices bytes rather than re-serialising, so every other byte stays as it was. The elements it
inserts are ``talospatch.export.pfsense_xml``'s, in the file's own indentation and line ends.
"""

from __future__ import annotations

import html
import ipaddress
import re
import xml.parsers.expat
from dataclasses import dataclass, field

from talospatch.errors import BadInput
from talospatch.export.cluster import Export
from talospatch.export.pfsense_xml import PfRule, alias_lines, comment_lines, pf_rules, rule_lines
from talospatch.export.routed import TAG, Alias, RoutedPlan

MERGED_FILE = "config.xml"


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
    routed: RoutedPlan,
    cluster: str,
    sources: tuple[str, ...],
    backup_name: str = "BACKUP.xml",
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
    scan, filter_el = _read(backup, backup_name)
    _check_alias_names(scan, routed, backup_name)
    user_trackers = {int(t) for r in scan.rules if not _ours(r) and (t := r.text.get("tracker", "").strip()).isdigit()}
    rules = pf_rules(routed, cluster, sources, set(user_trackers))
    layout = _Layout.of(backup, scan, filter_el)
    comment = comment_lines(routed, cluster, sources, layout.ind, section=False)
    # (start, end, replacement) on bytes, non-overlapping; insertions at one offset keep this order.
    edits, added = _filter_edits(backup, scan, filter_el, layout, rules, comment)
    edits += _separator_edits(scan, added)
    edits += _alias_edits(backup, scan, filter_el, layout, routed.aliases)
    warnings = [
        *routed.warnings,
        *_interface_warnings(scan, routed, cluster, sources, backup_name),
        *_unresolved_aliases(backup, scan, routed, backup_name),
    ]
    merged = _apply(backup, edits)
    try:  # a merge that breaks the file is a bug here, not bad input
        xml.parsers.expat.ParserCreate().Parse(merged, True)
    except xml.parsers.expat.ExpatError as exc:
        raise AssertionError(f"the merged config.xml is not well-formed: {exc}") from exc
    return Export({MERGED_FILE: merged.decode("utf-8")}, tuple(warnings))


def _read(backup: bytes, where: str) -> tuple[_Scan, _Element]:
    """The backup's structure and its ``<filter>``; ``BadInput`` for what is not a whole, plain config.xml."""
    try:
        backup.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadInput(f"{where}: not UTF-8 text (byte {exc.start})") from None
    if backup.lstrip().startswith(b"---- BEGIN config.xml"):
        raise BadInput(f"{where}: an encrypted backup; export it again without encryption")
    scan = _scan(backup, where)
    if scan.root != "pfsense":
        raise BadInput(
            f"{where}: the root element is <{scan.root}>, not <pfsense>; give the whole "
            "config.xml from Diagnostics > Backup & Restore (Backup area: All)"
        )
    if scan.filter is None:
        raise BadInput(f"{where}: has no <filter> section")
    return scan, scan.filter


def _check_alias_names(scan: _Scan, routed: RoutedPlan, where: str) -> None:
    """An alias of the user's with the name of one of talospatch's is not overwritten."""
    ours_names = {a.name.lower() for a in routed.aliases}
    for item in scan.alias_items:
        name = item.text.get("name", "").strip()
        if name.lower() in ours_names and not _ours(item):
            raise BadInput(
                f"{where}: alias {name} exists and is not talospatch's (its description does not "
                f"start with {TAG!r}); rename or delete it"
            )


@dataclass(frozen=True)
class _Layout:
    """How the file writes its lines: the line end, the filter's indentation, a rule's and one level."""

    nl: str
    filter_indent: str
    ind: str
    unit: str

    @classmethod
    def of(cls, data: bytes, scan: _Scan, filter_el: _Element) -> _Layout:
        filter_indent = _indent(data, filter_el.start)
        ind = _indent(data, scan.rules[0].start) if scan.rules else filter_indent + "\t"
        deeper = ind.startswith(filter_indent) and len(ind) > len(filter_indent)
        unit = ind[len(filter_indent) :] if deeper else "\t"
        return cls("\r\n" if b"\r\n" in data else "\n", filter_indent, ind, unit)


def _key(rule: _Element) -> str:
    """The rules tab a rule is on: its interface, or the floating rules."""
    return "floatingrules" if rule.text.get("floating", "").strip() else rule.text.get("interface", "").lower()


def _filter_edits(
    data: bytes,
    scan: _Scan,
    filter_el: _Element,
    layout: _Layout,
    rules: list[PfRule],
    comment: list[str],
) -> tuple[list[tuple[int, int, str]], dict[str, int]]:
    """Drop talospatch's rules and comments; insert each interface's new rules (and, once, the comment).

    Also returns how many rules each interface gets, for its separators.
    """
    old = [r for r in scan.rules if _ours(r)]
    spans = [_line_span(data, r.start, r.end) for r in old]
    spans += [_line_span(data, s, e) for s, e, text in scan.comments if text.strip().startswith(TAG)]
    edits = [(start, end, "") for start, end in spans]
    anchor, whole_filter = _anchor(data, scan, filter_el, old)
    blocks: dict[str, tuple[int, list[PfRule]]] = {}  # interface -> (offset, rules)
    for pf in rules:
        interface = pf.interface.lower()
        if interface not in blocks:
            blocks[interface] = (_block_offset(data, scan, interface, anchor), [])
        blocks[interface][1].append(pf)
    ordered = sorted(blocks.values(), key=lambda block: block[0])  # stable: rule order breaks ties
    texts = []
    for n, (at, group) in enumerate(ordered):
        lines = list(comment) if n == 0 else []
        for pf in group:
            lines += rule_lines(pf, layout.ind, layout.unit)
        texts.append((at, layout.nl.join(lines) + layout.nl))
    if whole_filter:  # <filter/> or <filter></filter> on one line: write the element out whole
        body = "".join(text for _, text in texts)
        edits.append((filter_el.start, filter_el.end, f"<filter>{layout.nl}{body}{layout.filter_indent}</filter>"))
    else:
        edits += [(at, at, text) for at, text in texts]
    return edits, {interface: len(group) for interface, (_, group) in blocks.items()}


def _anchor(data: bytes, scan: _Scan, filter_el: _Element, old: list[_Element]) -> tuple[int, bool]:
    """Where rules of an interface without rules go: the first old talospatch rule, else after the
    last rule, else the end of ``<filter>``; and whether ``<filter>`` must be written out whole."""
    if old:
        return _line_span(data, old[0].start, old[0].end)[0], False
    if scan.rules:
        return _line_span(data, scan.rules[-1].start, scan.rules[-1].end)[1], False
    close = data.rfind(b"</", filter_el.start, filter_el.end)
    line_start = data.rfind(b"\n", 0, close) + 1
    whole = not (close > filter_el.start and data[line_start:close].strip() == b"")
    return (filter_el.start if whole else line_start), whole


def _block_offset(data: bytes, scan: _Scan, interface: str, anchor: int) -> int:
    """Where an interface's new rules go: its first old talospatch rule, else after its last rule."""
    theirs = [r for r in scan.rules if _key(r) == interface]
    mine = [r for r in theirs if _ours(r)]
    if mine:
        return _line_span(data, mine[0].start, mine[0].end)[0]
    if theirs:
        return _line_span(data, theirs[-1].start, theirs[-1].end)[1]
    return anchor


def _separator_edits(scan: _Scan, added: dict[str, int]) -> list[tuple[int, int, str]]:
    """Separator rows: pfSense numbers them per interface, among that interface's rules. A row
    at or above the interface's first old talospatch rule stays; a lower one moves by the
    difference between the old and the new talospatch rules above it."""
    edits = []
    for interface, start, end, text in scan.rows:
        match = re.fullmatch(r"fr(\d+)", text.strip())
        if not match:
            continue
        row = int(match.group(1))
        theirs = [r for r in scan.rules if _key(r) == interface]
        first_ours = next((i for i, r in enumerate(theirs) if _ours(r)), len(theirs))
        if row > first_ours:
            new_row = sum(1 for r in theirs[:row] if not _ours(r)) + added.get(interface, 0)
            if new_row != row:
                edits.append((start, end, f"fr{new_row}"))
    return edits


def _alias_edits(
    data: bytes, scan: _Scan, filter_el: _Element, layout: _Layout, aliases: tuple[Alias, ...]
) -> list[tuple[int, int, str]]:
    """``<aliases>``: drop talospatch's, insert the new ones (a section before ``<filter>`` when there is none)."""
    nl, unit = layout.nl, layout.unit
    if scan.aliases is None:
        indent = layout.filter_indent
        lines = [line for alias in aliases for line in alias_lines(alias, indent + unit, unit)]
        whole = nl.join([f"{indent}<aliases>", *lines, f"{indent}</aliases>"]) + nl
        at = _line_span(data, filter_el.start, filter_el.end)[0]
        return [(at, at, whole)]
    aliases_el = scan.aliases
    indent = _indent(data, aliases_el.start)
    items = scan.alias_items
    item_indent = _indent(data, items[0].start) if items else indent + unit
    text = nl.join(line for alias in aliases for line in alias_lines(alias, item_indent, unit)) + nl
    old = [a for a in items if _ours(a)]
    edits = [(*_line_span(data, item.start, item.end), "") for item in old]
    open_end = _tag_end(data, aliases_el.start)
    if old:
        at = _line_span(data, old[0].start, old[0].end)[0]
        edits.append((at, at, text))
    elif items:
        at = _line_span(data, items[-1].start, items[-1].end)[1]
        edits.append((at, at, text))
    elif data[open_end - 2 : open_end] == b"/>" or data[open_end : aliases_el.end].strip().startswith(b"</"):
        # <aliases/> or <aliases></aliases>: write the element out whole.
        edits.append((aliases_el.start, aliases_el.end, f"<aliases>{nl}{text}{indent}</aliases>"))
    return edits


def _unresolved_aliases(data: bytes, scan: _Scan, routed: RoutedPlan, where: str) -> list[str]:
    """The user's rules that name a talospatch alias this export no longer defines."""
    defined = {a.name for a in routed.aliases}
    warnings = []
    for item in scan.rules:
        if _ours(item):
            continue
        for name in re.findall(rb"<address>\s*(talospatch_[A-Za-z0-9_]+)\s*</address>", data[item.start : item.end]):
            if name.decode() not in defined:
                warnings.append(
                    f"{where}: the rule {item.text.get('descr', '').strip()!r} names alias "
                    f"{name.decode()}, which this export no longer defines, so pfSense cannot resolve it"
                )
    return warnings


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
