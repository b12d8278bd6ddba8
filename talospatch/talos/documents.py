"""The two Talos machine-config documents of the ingress firewall, as frozen dataclasses.

Validation mirrors Talos's Go code (``pkg/machinery/config/types/network``, unchanged
since v1.6): the first error wins and reads as Talos words it, prefixed with the document
ID (``NetworkRuleConfig/<name>: ...``). On top of Talos, a rule must name its protocol:
Talos decodes a missing protocol to 0 and the rule then silently matches nothing.

``Firewall`` is what the node ends up with after a set of patches is applied: the default
action and the rules in document order. Patches merge as ``talosctl`` merges them
(strategic merge by ``kind`` + ``name``; ``ports`` and ``ingress`` replace, ``$patch:
delete`` removes a document).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Final, Literal

from talospatch.decode import DecodeError, Fields, Path
from talospatch.errors import BadInput

API_VERSION: Final = "v1alpha1"
RULE_KIND: Final = "NetworkRuleConfig"
DEFAULT_ACTION_KIND: Final = "NetworkDefaultActionConfig"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Protocol = Literal["tcp", "udp", "icmp", "icmpv6"]
# The protocols a rule can usefully name (an ICMP rule's ports match the checksum).
L4 = Literal["tcp", "udp"]
L4_PROTOCOLS: tuple[L4, ...] = ("tcp", "udp")
Action = Literal["accept", "block"]
PROTOCOLS: tuple[Protocol, ...] = ("tcp", "udp", "icmp", "icmpv6")
ACTIONS: tuple[Action, ...] = ("accept", "block")


@dataclass(frozen=True, order=True)
class PortRange:
    """An inclusive port range; a single port has ``lo == hi``."""

    lo: int
    hi: int

    def __str__(self) -> str:
        return f"{self.lo}-{self.hi}"

    def __contains__(self, port: object) -> bool:
        return isinstance(port, int) and self.lo <= port <= self.hi

    @property
    def label(self) -> str:
        """How a person reads it: ``80`` or ``8000-9000``."""
        return str(self.lo) if self.lo == self.hi else str(self)

    def to_yaml(self) -> int | str:
        """As Talos writes it: an integer for a single port, ``"lo-hi"`` for a range."""
        return self.lo if self.lo == self.hi else str(self)

    @classmethod
    def parse(cls, value: object) -> PortRange:
        """Decode a port as Talos's ``PortRange.UnmarshalYAML`` does.

        An integer 0-65535 is a single port. Otherwise only a ``"lo-hi"`` string is
        accepted: a quoted single port such as ``"80"`` is rejected by Talos too.
        """
        if isinstance(value, bool):
            raise ValueError(f"invalid port range: {value!r}")
        if isinstance(value, int):
            if 0 <= value <= 65535:
                return cls(value, value)
            raise ValueError(f"invalid port range: {value} (ports are 0-65535)")
        if isinstance(value, str):
            lo, sep, hi = value.partition("-")
            if sep and _is_port(lo) and _is_port(hi):
                return cls(int(lo), int(hi))
            hint = " (a single port must be an unquoted integer)" if _is_port(value) else ""
            raise ValueError(f'invalid port range: "{value}"{hint}')
        raise ValueError(f"invalid port range: {value!r}")


def parse_port_protocol(text: str, *, default: L4 | None = None) -> tuple[int, L4]:
    """``PORT/PROTOCOL`` such as ``50000/tcp``; a bare port takes ``default`` when one is given.

    The protocol is case-insensitive, as Talos reads it. Raises ``ValueError`` saying which
    half is wrong: "the port must be 0-65535" or "the protocol must be tcp or udp".
    """
    port_text, slash, proto_text = text.strip().partition("/")
    if not _is_port(port_text):
        raise ValueError("the port must be 0-65535")
    proto = proto_text.lower() if slash else default
    if proto == "tcp":
        return int(port_text), "tcp"
    if proto == "udp":
        return int(port_text), "udp"
    raise ValueError("the protocol must be tcp or udp")


def _is_port(text: str) -> bool:
    return text.isascii() and text.isdigit() and int(text) <= 65535


def validate_port_ranges(ports: Iterable[PortRange]) -> None:
    """Talos's ``PortRanges.Validate``: lo <= hi, no duplicate or overlapping range."""
    prev: PortRange | None = None
    for pr in sorted(ports):
        if pr.lo > pr.hi:
            raise ValueError(f"invalid port range: {pr}")
        if prev is not None and pr.lo <= prev.hi:
            raise ValueError(f"invalid port range: {pr}, overlaps with {prev}")
        prev = pr


def merge_adjacent(ports: Iterable[PortRange]) -> list[PortRange]:
    """Sort and merge touching ranges, as Talos does before compiling (v1.8+, #9009)."""
    merged: list[PortRange] = []
    for pr in sorted(ports):
        if merged and merged[-1].hi + 1 >= pr.lo:
            merged[-1] = PortRange(merged[-1].lo, max(merged[-1].hi, pr.hi))
        else:
            merged.append(pr)
    return merged


# CIDR text -> network, for one read: a patch names the same CIDRs in many rules (the admins
# in apid's and the API's), and networks are immutable, so each text is parsed once. It lives
# as long as the read, so a process reading many patches (``build``) stays flat in memory.
Networks = dict[str, Network]


def parse_prefix(value: object, networks: Networks | None = None) -> Network:
    """A CIDR as Talos's ``netip.ParsePrefix`` takes it: host bits are allowed and masked."""
    if not isinstance(value, str) or "/" not in value:
        raise ValueError(f"invalid prefix: {value!r} (want a CIDR such as 192.168.0.0/16)")
    if networks is not None and value in networks:
        return networks[value]
    try:
        network = ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise ValueError(f"invalid prefix: {value!r} (want a CIDR such as 192.168.0.0/16)") from None
    if networks is not None:
        networks[value] = network
    return network


@dataclass(frozen=True)
class IngressRule:
    subnet: Network
    except_: Network | None = None

    @classmethod
    def from_data(cls, data: object, path: Path, networks: Networks | None = None) -> IngressRule:
        fields = Fields(data, path, ("subnet", "except"))
        subnet = _network(fields, "subnet", fields.required("subnet"), networks)
        excepted = fields.get("except")
        return cls(subnet, None if excepted is None else _network(fields, "except", excepted, networks))


def _network(fields: Fields, key: str, value: object, networks: Networks | None) -> Network:
    try:
        return parse_prefix(value, networks)
    except ValueError as exc:
        raise fields.error(key, str(exc)) from None


@dataclass(frozen=True)
class PortSelector:
    ports: tuple[PortRange, ...] = ()
    protocol: Protocol | None = None

    @classmethod
    def from_data(cls, data: object, path: Path) -> PortSelector:
        fields = Fields(data, path, ("ports", "protocol"))
        ports = []
        for index, value in enumerate(fields.items("ports")):
            try:
                ports.append(PortRange.parse(value))
            except ValueError as exc:
                raise DecodeError((*path, "ports", index), str(exc)) from None
        protocol = fields.get("protocol")
        if protocol is not None:
            # Talos's enumer parses protocols case-insensitively.
            protocol = fields.choice("protocol", PROTOCOLS, protocol.lower() if isinstance(protocol, str) else protocol)
        return cls(tuple(ports), protocol)


@dataclass(frozen=True)
class RuleConfig:
    """``NetworkRuleConfig``: allow ``portSelector`` from the ``ingress`` subnets."""

    apiVersion: ClassVar[str] = API_VERSION
    kind: ClassVar[str] = RULE_KIND
    name: str = ""
    portSelector: PortSelector = PortSelector()
    ingress: tuple[IngressRule, ...] = ()

    @classmethod
    def from_data(cls, data: Mapping[str, Any], networks: Networks | None = None) -> RuleConfig:
        """Decode a document as Talos does; raises ``DecodeError`` naming the key."""
        fields = Fields(data, (), ("apiVersion", "kind", "name", "portSelector", "ingress"))
        return cls(
            name=fields.text("name", required=False),
            portSelector=PortSelector.from_data(fields.get("portSelector", {}), ("portSelector",)),
            ingress=tuple(
                IngressRule.from_data(entry, ("ingress", index), networks)
                for index, entry in enumerate(fields.items("ingress"))
            ),
        )

    def check(self) -> None:
        """Talos's ``RuleConfigV1Alpha1.Validate`` plus a required protocol.

        Raises ``ValueError`` with Talos's message, prefixed with the document ID.
        """
        try:
            if not self.name:
                raise ValueError("name is required")
            if not self.portSelector.ports:
                raise ValueError("portSelector.ports is required")
            validate_port_ranges(self.portSelector.ports)
            if self.portSelector.protocol is None:
                raise ValueError("portSelector.protocol is required (tcp or udp); without it Talos matches nothing")
        except ValueError as exc:
            raise ValueError(f"{self.doc_id}: {exc}") from None

    @property
    def doc_id(self) -> str:
        return f"{RULE_KIND}/{self.name}"

    @property
    def protocol(self) -> Protocol:
        assert self.portSelector.protocol is not None, "check() first"
        return self.portSelector.protocol

    @property
    def ports(self) -> tuple[PortRange, ...]:
        return self.portSelector.ports

    @property
    def subnets(self) -> list[Network]:
        return [r.subnet for r in self.ingress]

    @property
    def excepts(self) -> list[Network]:
        return [r.except_ for r in self.ingress if r.except_ is not None]

    def to_yaml(self) -> dict[str, Any]:
        """Plain data in Talos's key order, ready for the YAML dumper."""
        ingress: list[dict[str, str]] = []
        for rule in self.ingress:
            entry = {"subnet": str(rule.subnet)}
            if rule.except_ is not None:
                entry["except"] = str(rule.except_)
            ingress.append(entry)
        return {
            "apiVersion": self.apiVersion,
            "kind": self.kind,
            "name": self.name,
            "portSelector": {
                "ports": [p.to_yaml() for p in self.ports],
                "protocol": self.portSelector.protocol,
            },
            "ingress": ingress,
        }


@dataclass(frozen=True)
class DefaultActionConfig:
    """``NetworkDefaultActionConfig``: what happens to ingress no rule matches."""

    apiVersion: ClassVar[str] = API_VERSION
    kind: ClassVar[str] = DEFAULT_ACTION_KIND
    # A missing value is Talos's zero value, accept.
    ingress: Action = "accept"

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> DefaultActionConfig:
        fields = Fields(data, (), ("apiVersion", "kind", "ingress"))
        return cls(fields.choice("ingress", ACTIONS, fields.get("ingress", "accept")))

    def to_yaml(self) -> dict[str, Any]:
        return {"apiVersion": self.apiVersion, "kind": self.kind, "ingress": self.ingress}


FirewallDoc = RuleConfig | DefaultActionConfig


@dataclass(frozen=True)
class Firewall:
    """The firewall documents of one node: the default action and the rules, in order."""

    default_action: Action
    rules: tuple[RuleConfig, ...]
    # Whether a NetworkDefaultActionConfig document is present at all.
    has_default_doc: bool = True

    @property
    def active(self) -> bool:
        """Talos builds the firewall chains unless it is accept with no rules."""
        return self.has_default_doc or bool(self.rules)

    def documents(self) -> list[FirewallDoc]:
        docs: list[FirewallDoc] = []
        if self.has_default_doc:
            docs.append(DefaultActionConfig(ingress=self.default_action))
        docs.extend(self.rules)
        return docs

    def check(self) -> None:
        """Every rule valid, every name unique: what Talos checks for a final config."""
        seen: set[str] = set()
        for rule in self.rules:
            rule.check()
            if rule.name in seen:
                raise ValueError(f"duplicate document: {rule.doc_id}")
            seen.add(rule.name)


def parse_document(data: Mapping[str, Any], where: str, networks: Networks | None = None) -> FirewallDoc | None:
    """One YAML document as a firewall document; ``None`` for other kinds.

    ``where`` names the file and document for error messages; ``networks`` is the read's
    parsed CIDRs.
    """
    kind = data.get("kind")
    if kind not in (RULE_KIND, DEFAULT_ACTION_KIND):
        return None
    body = {k: v for k, v in data.items() if k != "$patch"}
    if data.get("apiVersion") != API_VERSION:
        raise BadInput(f"{where}: {kind} apiVersion must be {API_VERSION}")
    try:
        return RuleConfig.from_data(body, networks) if kind == RULE_KIND else DefaultActionConfig.from_data(body)
    except DecodeError as exc:
        name = data.get("name", "")
        raise BadInput(f"{where}: {kind}/{name}: {exc}") from None


def apply_patches(patches: Iterable[tuple[str, Sequence[Mapping[str, Any]]]], *, validate: bool = True) -> Firewall:
    """Merge patch files in order, as ``talosctl --config-patch`` does.

    Each item is ``(file name, YAML documents)``. Documents merge by kind and name:
    ``portSelector.ports`` and ``ingress`` of a later document replace the earlier lists,
    a set protocol overwrites, and ``$patch: delete`` removes the document. A default
    action of ``accept`` cannot override ``block`` (Talos merges only non-zero scalars).
    ``validate=False`` returns the merged rules even when Talos would reject one.
    """
    default: Action = "accept"
    has_default = False
    rules: dict[str, RuleConfig] = {}
    networks: Networks = {}
    for where, documents in patches:
        for index, data in enumerate(documents, start=1):
            if not isinstance(data, Mapping):
                continue
            doc = parse_document(data, f"{where}: document {index}", networks)
            if doc is None:
                continue
            delete = data.get("$patch") == "delete"
            if isinstance(doc, DefaultActionConfig):
                if delete:
                    default, has_default = "accept", False
                else:
                    has_default = True
                    if doc.ingress == "block":
                        default = "block"
                continue
            if delete:
                rules.pop(doc.name, None)
                continue
            old = rules.get(doc.name)
            if old is not None:
                doc = _merge_rule(old, doc, data)
            rules[doc.name] = doc
    firewall = Firewall(default, tuple(rules.values()), has_default)
    if not validate:  # the caller (the linter) checks each merged rule itself
        return firewall
    try:
        firewall.check()
    except ValueError as exc:
        raise BadInput(str(exc)) from None
    return firewall


def _merge_rule(old: RuleConfig, new: RuleConfig, data: Mapping[str, Any]) -> RuleConfig:
    selector = data.get("portSelector") or {}
    ports = new.ports if selector.get("ports") else old.ports
    protocol = new.portSelector.protocol or old.portSelector.protocol
    ingress = new.ingress if data.get("ingress") else old.ingress
    return RuleConfig(
        name=old.name,
        portSelector=PortSelector(ports=ports, protocol=protocol),
        ingress=ingress,
    )
