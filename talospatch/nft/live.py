"""A node's ``NfTablesChain`` resources, read from ``talosctl get nftableschains`` output.

``parse_live`` reads ``-o yaml`` (``---``-separated) or ``-o json`` output of one or several
nodes into the ``ResourceChain``s of ``talospatch.nft.resources``, to compare with the
expected ones. It reads with ``talospatch.decode``, so a bad file gets one line naming the
resource, the key path (``spec.rules[0].verdict``) and the value.

Formats read from the Talos sources (``pkg/machinery/resources/network/nftables_chain.go``,
``cmd/talosctl/cmd/talos/output/{yaml,json}.go``, ``nethelpers`` enumer names). Pure: no
printing, no files.
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from talospatch.decode import DecodeError, Fields, Path
from talospatch.errors import BadInput
from talospatch.nft.resources import (
    PRIORITY_NAMES,
    RESOURCE_TYPE,
    AddressMatch,
    ResourceChain,
    ResourceRule,
)
from talospatch.talos.documents import Network, PortRange
from talospatch.yamlio import load_all

KUBESPAN_CHAINS = ("kubespan_prerouting", "kubespan_outgoing")
PROTOCOLS = ("tcp", "udp", "icmp", "icmpv6")
VERDICTS = ("accept", "drop")
CT_STATES = ("new", "related", "established", "invalid")
HOOKS = ("prerouting", "input", "forward", "output", "postrouting")
CHAIN_TYPES = ("filter", "route", "nat")
IIF_OPERATORS = ("==", "!=")

_PRIORITY_VALUES = {name: value for value, name in PRIORITY_NAMES.items()}
_PRIORITY_RE = re.compile(r"^NfTablesChainPriority\((-?\d+)\)$")

# The keys of an NfTablesRule; talospatch does not model the last four (kept as JSON).
_RULE_KEYS = (
    "matchIIfName",
    "matchConntrackState",
    "matchSourceAddress",
    "matchDestinationAddress",
    "matchLayer4",
    "matchLimit",
    "anonymousCounter",
    "verdict",
)
_UNMODELLED_KEYS = ("matchOIfName", "matchMark", "setMark", "clampMSS")
_LAYER4_KEYS = ("protocol", "matchDestinationPort", "matchICMPType", "matchSourcePort")
_ADDRESS_KEYS = ("includeSubnets", "excludeSubnets", "invert")


@dataclass(frozen=True)
class LiveChains:
    """What a file of ``talosctl get nftableschains`` output holds.

    ``chains``: the firewall chains (``ingress``, ``prerouting``, ...) of every node, in file
    order. ``ignored``: KubeSpan's chains, which KubeSpan owns (not compared).
    ``notes``: remarks on the file as a whole.
    """

    where: str
    chains: tuple[ResourceChain, ...]
    ignored: tuple[ResourceChain, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def nodes(self) -> list[str | None]:
        """The nodes in file order (``None`` for resources printed without ``node:``)."""
        return list(dict.fromkeys(chain.node for chain in self.chains + self.ignored))

    def of_node(self, node: str | None) -> tuple[ResourceChain, ...]:
        return tuple(chain for chain in self.chains if chain.node == node)

    def notes_of(self, node: str | None) -> tuple[str, ...]:
        """The file's notes and the ignored chains of ``node``."""
        ignored = tuple(
            f"KubeSpan chain {chain.id} ignored: KubeSpan owns it, not the ingress firewall"
            for chain in self.ignored
            if chain.node == node
        )
        return self.notes + ignored


def parse_priority(value: object) -> int:
    """A priority printed by name (any case), as ``NfTablesChainPriority(-140)`` or as a number.

    Raises ``ValueError`` saying what is allowed.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip()
        if text.lower() in _PRIORITY_VALUES:
            return _PRIORITY_VALUES[text.lower()]
        match = _PRIORITY_RE.match(text)
        if match:
            return int(match.group(1))
        if re.fullmatch(r"-?\d+", text):
            return int(text)
    names = ", ".join(PRIORITY_NAMES.values())
    raise ValueError(f"must be a number, NfTablesChainPriority(N) or one of {names}, not {value!r}")


def _json_documents(text: str, where: str) -> list[Any]:
    """Concatenated JSON values (talosctl -o json prints one object per resource)."""
    decoder = json.JSONDecoder()
    docs: list[Any] = []
    index = 0
    while True:
        while index < len(text) and text[index].isspace():
            index += 1
        if index >= len(text):
            return docs
        try:
            value, index = decoder.raw_decode(text, index)
        except json.JSONDecodeError as exc:
            raise BadInput(f"{where}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
        docs.append(value)


def _json(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def _networks(match: Fields, key: str) -> tuple[Network, ...]:
    out: list[Network] = []
    for index, item in enumerate(match.items(key)):
        try:
            out.append(ipaddress.ip_network(str(item), strict=False))
        except ValueError:
            raise DecodeError(
                (*match.path, key, index), f"must be a CIDR prefix such as 10.0.0.0/8, not {item!r}"
            ) from None
    return tuple(out)


def _address_match(rule: Fields, key: str) -> AddressMatch:
    match = rule.mapping(key, _ADDRESS_KEYS)
    return AddressMatch(_networks(match, "includeSubnets"), _networks(match, "excludeSubnets"), match.flag("invert"))


def _ports(layer4: Fields) -> tuple[PortRange, ...]:
    ports = layer4.mapping("matchDestinationPort", None)
    out: list[PortRange] = []
    for index, item in enumerate(ports.items("ranges")):
        entry = Fields(item, (*ports.path, "ranges", index), None)
        lo, hi = entry.integer("lo", 0, 65535, from_text=True), entry.integer("hi", 0, 65535, from_text=True)
        if lo > hi:
            raise DecodeError(entry.path, f"port range {lo}-{hi} ends before it starts")
        out.append(PortRange(lo, hi))
    return tuple(out)


def _layer4(rule: Fields, fields: dict[str, Any], other: list[tuple[str, str]]) -> None:
    layer4 = rule.mapping("matchLayer4", _LAYER4_KEYS)
    fields["protocol"] = layer4.choice("protocol", PROTOCOLS, fold_case=True)
    for name in layer4.data:
        if name == "matchDestinationPort":
            fields["dports"] = _ports(layer4)
        elif name == "matchICMPType":
            types = layer4.mapping("matchICMPType", None)
            fields["icmp_types"] = types.integers("types", 0, 255, from_text=True)
        elif name == "matchSourcePort":
            other.append(("matchSourcePort", json.dumps(layer4.data[name], sort_keys=True, separators=(",", ":"))))


def _rule(data: object, path: Path) -> ResourceRule:
    """One ``NfTablesRule``; the matches talospatch does not model are kept as JSON, in order."""
    rule = Fields(data, path, _RULE_KEYS + _UNMODELLED_KEYS)
    fields: dict[str, Any] = {}
    other: list[tuple[str, str]] = []
    for name in rule.data:
        if name == "matchIIfName":
            match = rule.mapping(name, None)
            fields["iifnames"] = tuple(str(n) for n in match.items("interfaceName"))
            fields["iif_operator"] = match.choice(
                "operator", IIF_OPERATORS, match.get("operator", "=="), fold_case=True
            )
        elif name == "matchConntrackState":
            fields["ct_states"] = rule.mapping(name, None).choices("states", CT_STATES, fold_case=True)
        elif name == "matchSourceAddress":
            fields["source"] = _address_match(rule, name)
        elif name == "matchDestinationAddress":
            fields["destination"] = _address_match(rule, name)
        elif name == "matchLayer4":
            _layer4(rule, fields, other)
        elif name == "matchLimit":
            limit = rule.mapping(name, None)
            fields["limit"] = limit.integer("packetRatePerSecond", 0, 2**64 - 1, from_text=True)
        elif name == "anonymousCounter":
            fields["counter"] = bool(rule.data[name])
        elif name == "verdict":
            fields["verdict"] = rule.choice("verdict", VERDICTS, fold_case=True)
        else:
            other.append((name, _json(rule.data[name])))
    return ResourceRule(other=tuple(other), **fields)


def _chain(doc: object, where: str, index: int) -> ResourceChain:
    """One resource; errors name it by its chain id once that is known."""
    at = f"{where}: resource {index}"
    try:
        resource = Fields(doc, (), None)
        metadata = resource.mapping("metadata", None, required=True)
        rtype = metadata.get("type")
        if rtype != RESOURCE_TYPE:
            hint = "(run talosctl get nftableschains -o yaml)"
            raise metadata.error("type", f"must be {RESOURCE_TYPE}, not {rtype!r} {hint}")
        chain_id = metadata.text("id")
        at = f"{where}: chain {chain_id}"
        spec = resource.mapping("spec", None, required=True)
        chain_type = spec.choice("type", CHAIN_TYPES, fold_case=True)
        hook = spec.choice("hook", HOOKS, fold_case=True)
        try:
            priority = parse_priority(spec.get("priority"))
        except ValueError as exc:
            raise spec.error("priority", str(exc)) from None
        policy = spec.choice("policy", VERDICTS, fold_case=True)
        rules = tuple(_rule(rule, (*spec.path, "rules", i)) for i, rule in enumerate(spec.items("rules")))
        version = metadata.get("version")
        node = resource.get("node")
        return ResourceChain(
            id=chain_id,
            type=chain_type,
            hook=hook,
            priority=priority,
            policy=policy,
            rules=rules,
            node=None if node is None else str(node),
            version=version if isinstance(version, int) and not isinstance(version, bool) else None,
            created=_time_text(metadata.get("created")),
            updated=_time_text(metadata.get("updated")),
        )
    except DecodeError as exc:
        raise BadInput(f"{at}: {exc.describe(indexes=True)}") from None


def _time_text(value: object) -> str | None:
    """A metadata timestamp as talosctl prints it (the YAML loader makes datetimes of them)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value)


def parse_live(text: str, where: str) -> LiveChains:
    """``talosctl get nftableschains -o yaml`` (``---``-separated) or ``-o json`` output.

    Several nodes in one file are kept apart by their ``node:`` key. KubeSpan's chains are
    left out with a note. An empty file means no chains (a node without a firewall).
    """
    stripped = text.lstrip()
    docs = _json_documents(text, where) if stripped.startswith("{") else load_all(text, where)
    chains: list[ResourceChain] = []
    ignored: list[ResourceChain] = []
    notes: list[str] = []
    for index, doc in enumerate(docs, start=1):
        chain = _chain(doc, where, index)
        (ignored if chain.id in KUBESPAN_CHAINS else chains).append(chain)
    if not docs:
        notes.append(f"{where}: no NfTablesChain resources (a node with no firewall documents has none)")
    seen: set[tuple[str | None, str]] = set()
    for chain in chains:
        if (chain.node, chain.id) in seen:
            on = "" if chain.node is None else f" of node {chain.node}"
            raise BadInput(f"{where}: chain {chain.id}{on} appears twice")
        seen.add((chain.node, chain.id))
    return LiveChains(where, tuple(chains), tuple(ignored), tuple(notes))
