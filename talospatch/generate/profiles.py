"""Role, CNI and add-on profiles: YAML data files describing which ports a node must open.

A profile is one file ``<name>.yaml``. The built-in profiles are the repository's top-level
``profiles/`` folder: the wheel carries it inside the package (``talospatch/profiles``), and a
source checkout or an editable install reads it where it is, beside the package. A folder of
the user's adds profiles or replaces built-in ones of the same name. Python here only describes the
shape of the files and checks them; the ports live in the YAML.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, Literal

from talospatch.decode import DecodeError, Fields
from talospatch.decode import Path as KeyPath
from talospatch.errors import BadInput
from talospatch.talos.documents import L4, L4_PROTOCOLS, PortRange, parse_port_protocol, validate_port_ranges
from talospatch.talos.versions import TalosVersion
from talospatch.yamlio import load_one

Kind = Literal["role", "cni", "addon"]
KINDS: tuple[Kind, ...] = ("role", "cni", "addon")
_KIND_LABEL: dict[Kind, str] = {"role": "role", "cni": "CNI", "addon": "add-on"}

# Source groups a profile entry may name in ``from``; the CLI resolves them to CIDRs.
GROUPS = (
    "nodes",
    "controlplane",
    "workers",
    "admins",
    "pods",
    "any",
    "nodeport-clients",
    "bgp-peers",
    "load-balancers",
    "kubespan-peers",
    "link-local",
)


# The JSON schema of one rule as written in a file (the cluster spec's schema embeds it for
# ``extraRules``); ``ProfileRule.from_data`` checks the same, with messages that name the key.
RULE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "ProfileRule",
    "description": "One allowed service: becomes one NetworkRuleConfig per protocol.",
    "additionalProperties": False,
    "required": ["name", "service", "ports", "protocol", "from", "why", "source"],
    "properties": {
        "name": {"type": "string", "minLength": 1, "description": "The NetworkRuleConfig name."},
        "service": {"type": "string", "minLength": 1, "description": "What listens on the ports."},
        "ports": {
            "type": "array",
            "minItems": 1,
            "items": {
                "anyOf": [
                    {"type": "integer", "minimum": 0, "maximum": 65535},
                    {"type": "string", "pattern": "^[0-9]+-[0-9]+$"},
                ]
            },
            "description": 'Ports: integers, and ranges as "lo-hi" strings.',
        },
        "protocol": {
            "anyOf": [
                {"enum": ["tcp", "udp"]},
                {"type": "array", "minItems": 1, "uniqueItems": True, "items": {"enum": ["tcp", "udp"]}},
            ],
            "description": "tcp, udp, or a list of both (one NetworkRuleConfig per protocol).",
        },
        "from": {"type": "array", "minItems": 1, "items": {"enum": list(GROUPS)}, "description": "Source groups."},
        "why": {"type": "string", "minLength": 1, "description": "Why the node needs it open."},
        "source": {"type": "string", "minLength": 1, "description": "Where the port is documented."},
        "tunnel": {"type": ["string", "null"], "description": "CNI profiles: the tunnel the rule belongs to."},
    },
}
RULE_KEYS: tuple[str, ...] = tuple(RULE_SCHEMA["properties"])
PROFILE_KEYS = ("kind", "description", "since", "roles", "tunnels", "lockout", "warn_with", "tunnel_notes", "rules")
_RELEASE = re.compile(r"v1\.(\d+)\.(\d+)")


@dataclass(frozen=True)
class ProfileRule:
    """One allowed service: becomes one NetworkRuleConfig per protocol."""

    name: str
    service: str
    ports: tuple[PortRange, ...]
    protocol: tuple[L4, ...]
    from_: tuple[str, ...]
    why: str
    source: str
    # For CNI profiles with a choice of overlay: the tunnel this rule belongs to.
    tunnel: str | None = None

    @classmethod
    def from_data(cls, data: object, path: KeyPath = ()) -> ProfileRule:
        """Check one rule as written; raises ``DecodeError`` naming the key."""
        fields = Fields(data, path, RULE_KEYS)
        return cls(
            name=fields.text("name"),
            service=fields.text("service"),
            ports=_ports(fields),
            protocol=_protocols(fields),
            from_=_groups(fields),
            why=fields.text("why"),
            source=fields.text("source"),
            tunnel=fields.text("tunnel") if fields.get("tunnel") is not None else None,
        )

    def document_names(self) -> list[tuple[str, L4]]:
        """The Talos rule name per protocol: ``<name>-<protocol>`` when there are several."""
        if len(self.protocol) == 1:
            return [(self.name, self.protocol[0])]
        return [(f"{self.name}-{proto}", proto) for proto in self.protocol]


def _ports(fields: Fields) -> tuple[PortRange, ...]:
    values = fields.items("ports", required=True)
    try:
        ports = tuple(PortRange.parse(v) for v in values)
        validate_port_ranges(ports)
    except ValueError as exc:
        raise fields.error("ports", str(exc)) from None
    return ports


def _protocols(fields: Fields) -> tuple[L4, ...]:
    value = fields.required("protocol")
    items = value if isinstance(value, list) else [value]
    if not items:
        raise fields.error("protocol", "must name tcp, udp or both")
    protocols = tuple(fields.choice("protocol", L4_PROTOCOLS, item) for item in items)
    if len(set(protocols)) != len(protocols):
        raise fields.error("protocol", "a protocol is listed twice")
    return protocols


def _groups(fields: Fields) -> tuple[str, ...]:
    groups = fields.texts("from", required=True)
    for group in groups:
        if group not in GROUPS:
            raise fields.error("from", f"unknown source group {group!r}; valid: {', '.join(GROUPS)}")
    return groups


@dataclass(frozen=True)
class Profile:
    kind: Kind
    description: str
    # The first Talos release with the service (``since: v1.14.0``); ``None``: every release.
    since: TalosVersion | None = None
    # Roles this profile may be combined with (add-ons such as etcd-metrics); empty = all.
    roles: tuple[str, ...] = ()
    # Overlay choices for ``--tunnel`` (CNI profiles); rules carry the matching ``tunnel``.
    tunnels: tuple[str, ...] = ()
    # Role profiles: ports (``PORT/tcp`` or ``PORT/udp``) every ``gen --from`` address must
    # still reach; parsed to ``(port, protocol)`` pairs.
    lockout: tuple[tuple[int, L4], ...] = ()
    # Warnings printed when another named profile is selected too.
    warn_with: Mapping[str, str] = field(default_factory=dict)
    # CNI profiles: a note for the patch header when one tunnel is chosen (why it opens nothing).
    tunnel_notes: Mapping[str, str] = field(default_factory=dict)
    rules: tuple[ProfileRule, ...] = ()

    @classmethod
    def from_data(cls, data: object) -> Profile:
        """Check a profile file's data; raises ``DecodeError`` naming the key."""
        fields = Fields(data, (), PROFILE_KEYS)
        kind = fields.choice("kind", KINDS, fields.required("kind"))
        lockout = []
        for spec in fields.items("lockout"):
            try:
                lockout.append(parse_port_protocol(str(spec)))
            except ValueError:
                raise fields.error("lockout", f"{spec!r} is not PORT/tcp or PORT/udp") from None
        return cls(
            kind=kind,
            description=fields.text("description"),
            since=_release(fields),
            roles=fields.texts("roles"),
            tunnels=fields.texts("tunnels"),
            lockout=tuple(lockout),
            warn_with=fields.text_map("warn_with"),
            tunnel_notes=fields.text_map("tunnel_notes"),
            rules=tuple(
                ProfileRule.from_data(entry, ("rules", index)) for index, entry in enumerate(fields.items("rules"))
            ),
        )


def _release(fields: Fields) -> TalosVersion | None:
    value = fields.get("since")
    if value is None:
        return None
    match = _RELEASE.fullmatch(str(value))
    if match is None:
        raise fields.error("since", f"{value!r} is not a Talos release vX.Y.Z (e.g. v1.14.0)")
    return TalosVersion(int(match.group(1)), int(match.group(2)))


@dataclass(frozen=True)
class LoadedProfile:
    name: str
    path: str
    profile: Profile

    @property
    def kind(self) -> Kind:
        return self.profile.kind

    def require_release(self, version: TalosVersion, label: str) -> None:
        """``BadInput`` when the profile's service does not exist on ``version`` (``label``
        names the option that chose it)."""
        since = self.profile.since
        if since is not None and version < since:
            raise BadInput(
                f"{_KIND_LABEL[self.kind]} {self.name} is for Talos {since.name} and newer, and {label} is "
                f"{version.display}: what it opens does not exist before {since.name}; target {since.name} or newer, "
                "or leave it out"
            )


def _builtin_folder() -> Traversable:
    """The built-in profiles: inside the installed wheel, else the checkout's ``profiles/``."""
    package = resources.files("talospatch")
    packaged = package / "profiles"
    return packaged if packaged.is_dir() else package / ".." / "profiles"


@functools.cache
def _builtin_files() -> list[tuple[str, str]]:
    """``(file name, text)`` of every built-in profile."""
    folder = _builtin_folder()
    return sorted(
        (entry.name, entry.read_text(encoding="utf-8")) for entry in folder.iterdir() if entry.name.endswith(".yaml")
    )


def _check_profile(profile: Profile, where: str) -> None:
    if profile.tunnels and profile.kind != "cni":
        raise BadInput(f"{where}: tunnels: only a cni profile has tunnels")
    for tunnel in profile.tunnel_notes:
        if tunnel not in profile.tunnels:
            valid = ", ".join(profile.tunnels) or "none declared"
            raise BadInput(f"{where}: tunnel_notes: {tunnel!r} is not in tunnels ({valid})")
    if profile.lockout and profile.kind != "role":
        raise BadInput(f"{where}: lockout: only a role profile has lockout ports")
    for rule in profile.rules:
        if rule.tunnel is not None and rule.tunnel not in profile.tunnels:
            valid = ", ".join(profile.tunnels) or "none declared"
            raise BadInput(f"{where}: rule {rule.name}: tunnel {rule.tunnel!r} is not in tunnels ({valid})")
    seen: set[str] = set()
    for rule in profile.rules:
        for name, _ in rule.document_names():
            if name in seen:
                raise BadInput(f"{where}: rule {name}: the name is used twice")
            seen.add(name)


def _error_line(exc: DecodeError, data: object) -> str:
    """The message, naming a rule by its name (``rule kubelet-ingress: ports: ...``)."""
    path = exc.path
    if len(path) >= 2 and path[0] == "rules" and isinstance(path[1], int):
        rules = data.get("rules") if isinstance(data, dict) else None
        entry = rules[path[1]] if isinstance(rules, list) and path[1] < len(rules) else None
        name = entry.get("name") if isinstance(entry, dict) else None
        where = f"rule {name}: " if name and isinstance(name, str) else f"rules[{path[1]}]: "
        return where + exc.describe(skip=2)
    return exc.describe()


@functools.lru_cache(maxsize=256)
def parse_profile(name: str, text: str, where: str) -> LoadedProfile:
    """Check one profile file; errors name the file and the entry.

    Parsed profiles are immutable, so one process (``build`` of many specs) parses each file once.
    """
    data = load_one(text, where)
    if not isinstance(data, dict):
        raise BadInput(f"{where}: a profile is a mapping with kind, description and rules")
    try:
        profile = Profile.from_data(data)
    except DecodeError as exc:
        raise BadInput(f"{where}: {_error_line(exc, data)}") from None
    _check_profile(profile, where)
    return LoadedProfile(name, where, profile)


@dataclass(frozen=True)
class Opener:
    """One profile entry that opens a port: the answer to ``profiles which PORT/PROTO``."""

    name: str  # the NetworkRuleConfig name for this protocol
    profile: str
    kind: Kind
    ports: tuple[PortRange, ...]
    protocol: L4
    from_: tuple[str, ...]
    why: str
    source: str
    tunnel: str | None  # only with this tunnel (CNI profiles)
    roles: tuple[str, ...]  # add-ons limited to these roles; empty = all


def parse_port_query(text: str) -> tuple[int, tuple[L4, ...]]:
    """``PORT/tcp``, ``PORT/udp`` or a bare ``PORT`` (both protocols), PORT 1-65535."""
    try:
        port, protocol = parse_port_protocol(text, default="tcp")
    except ValueError:
        port, protocol = 0, "tcp"
    if port < 1:
        raise BadInput(f"port {text!r} is not PORT/tcp, PORT/udp or PORT, with PORT 1-65535 (e.g. 9962/tcp)")
    return port, (protocol,) if "/" in text else ("tcp", "udp")


class Catalog:
    """All profiles by name: the built-in ones, then those of the user's profiles folder.

    Built-in profiles are parsed when first asked for (parsing YAML is most of the time a
    ``gen`` takes); the user's own files are all checked at once, so a broken one is
    reported even when it is not selected.
    """

    def __init__(self, sources: dict[str, tuple[str, str]], parsed: dict[str, LoadedProfile]) -> None:
        self._sources = sources  # name -> (where, text), not parsed yet
        self._parsed = parsed

    @classmethod
    def load(cls, profiles_dir: str | None = None, label: str = "profiles folder") -> Catalog:
        """The catalog; ``label`` names the folder option in messages."""
        sources = {file.removesuffix(".yaml"): (f"profiles/{file}", text) for file, text in _builtin_files()}
        parsed: dict[str, LoadedProfile] = {}
        if profiles_dir is not None:
            folder = Path(profiles_dir)
            if not folder.is_dir():
                raise BadInput(f"{label} {profiles_dir}: not a directory")
            for path in sorted(folder.glob("*.yaml")):
                try:
                    text = path.read_text(encoding="utf-8")
                except (OSError, UnicodeDecodeError) as exc:
                    raise BadInput(f"{path}: cannot read: {exc}") from None
                sources.pop(path.stem, None)
                parsed[path.stem] = parse_profile(path.stem, text, str(path))
        return cls(sources, parsed)

    def _lookup(self, name: str) -> LoadedProfile | None:
        if name not in self._parsed and name in self._sources:
            where, text = self._sources.pop(name)
            self._parsed[name] = parse_profile(name, text, where)
        return self._parsed.get(name)

    def _every(self) -> dict[str, LoadedProfile]:
        for name in list(self._sources):
            self._lookup(name)
        return self._parsed

    def names(self, kind: Kind) -> list[str]:
        return sorted(n for n, p in self._every().items() if p.kind == kind)

    def all(self) -> list[LoadedProfile]:
        every = self._every()
        return [every[n] for kind in KINDS for n in self.names(kind)]

    def get(self, name: str, kind: Kind) -> LoadedProfile:
        loaded = self._lookup(name)
        if loaded is None or loaded.kind != kind:
            label = _KIND_LABEL[kind]
            raise BadInput(f"unknown {label} {name!r}; valid: {', '.join(self.names(kind))}")
        return loaded

    def which(self, port: int, protocols: tuple[L4, ...] = ("tcp", "udp")) -> list[Opener]:
        """Every profile entry that opens ``port`` over one of ``protocols``: the reverse of show.

        In ``all()`` order (roles, CNIs, add-ons, each by name), then entry order.
        """
        found = []
        for loaded in self.all():
            for entry in loaded.profile.rules:
                if not any(port in r for r in entry.ports):
                    continue
                for name, proto in entry.document_names():
                    if proto in protocols:
                        found.append(
                            Opener(
                                name,
                                loaded.name,
                                loaded.kind,
                                entry.ports,
                                proto,
                                entry.from_,
                                entry.why,
                                entry.source,
                                entry.tunnel,
                                loaded.profile.roles,
                            )
                        )
        return found

    def find(self, name: str) -> LoadedProfile:
        loaded = self._lookup(name)
        if loaded is None:
            raise BadInput(f"unknown profile {name!r}; valid: {', '.join(sorted(self._every()))}")
        return loaded

    def with_profile(self, loaded: LoadedProfile) -> Catalog:
        """A copy of the catalog with one more profile (an inline one, such as a spec's extra rules)."""
        if self._lookup(loaded.name) is not None:
            raise BadInput(f"{loaded.path}: the profile name {loaded.name!r} is taken by {self.find(loaded.name).path}")
        return Catalog(dict(self._sources), {**self._parsed, loaded.name: loaded})
