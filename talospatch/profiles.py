"""Role, CNI and add-on profiles: YAML data files describing which ports a node must open.

A profile is one file ``<name>.yaml``. The built-in profiles are the repository's top-level
``profiles/`` folder: the wheel carries it inside the package (``talospatch/profiles``), and a
source checkout or an editable install reads it where it is, beside the package. A folder of
the user's adds profiles or replaces built-in ones of the same name. Python here only describes the
shape of the files and checks them; the ports live in the YAML.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, WithJsonSchema, field_validator

from talospatch.errors import BadInput
from talospatch.talosdocs import L4, PortRange, parse_port_protocol, validate_port_ranges
from talospatch.yamlio import load_one

Kind = Literal["role", "cni", "addon"]
KINDS: tuple[Kind, ...] = ("role", "cni", "addon")

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
)


_PORTS_SCHEMA = {
    "type": "array",
    "minItems": 1,
    "items": {
        "anyOf": [
            {"type": "integer", "minimum": 0, "maximum": 65535},
            {"type": "string", "pattern": "^[0-9]+-[0-9]+$"},
        ]
    },
    "description": 'Ports: integers, and ranges as "lo-hi" strings.',
}
_PROTOCOL_SCHEMA = {
    "anyOf": [
        {"enum": ["tcp", "udp"]},
        {"type": "array", "minItems": 1, "uniqueItems": True, "items": {"enum": ["tcp", "udp"]}},
    ],
    "description": "tcp, udp, or a list of both (one NetworkRuleConfig per protocol).",
}
_GROUPS_SCHEMA = {"type": "array", "minItems": 1, "items": {"enum": list(GROUPS)}, "description": "Source groups."}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class ProfileRule(_Strict):
    """One allowed service: becomes one NetworkRuleConfig per protocol."""

    name: str = Field(min_length=1)
    service: str = Field(min_length=1)
    # The JSON schemas describe the files as written (the cluster spec's schema embeds this model).
    ports: Annotated[tuple[PortRange, ...], WithJsonSchema(_PORTS_SCHEMA)] = Field(min_length=1)
    protocol: Annotated[tuple[L4, ...], WithJsonSchema(_PROTOCOL_SCHEMA)] = Field(min_length=1)
    from_: Annotated[tuple[str, ...], WithJsonSchema(_GROUPS_SCHEMA)] = Field(alias="from", min_length=1)
    why: str = Field(min_length=1)
    source: str = Field(min_length=1)
    # For CNI profiles with a choice of overlay: the tunnel this rule belongs to.
    tunnel: str | None = None

    @field_validator("ports", mode="before")
    @classmethod
    def _ports(cls, value: object) -> object:
        if not isinstance(value, list):
            raise ValueError('ports must be a list of ports and "lo-hi" ranges')
        ports = tuple(PortRange.parse(v) for v in value)
        validate_port_ranges(ports)
        return ports

    @field_validator("protocol", mode="before")
    @classmethod
    def _protocol(cls, value: object) -> object:
        items = value if isinstance(value, list) else [value]
        if len(set(map(str, items))) != len(items):
            raise ValueError("a protocol is listed twice")
        return tuple(items)

    @field_validator("from_")
    @classmethod
    def _groups(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for group in value:
            if group not in GROUPS:
                raise ValueError(f"unknown source group {group!r}; valid: {', '.join(GROUPS)}")
        return value

    def document_names(self) -> list[tuple[str, L4]]:
        """The Talos rule name per protocol: ``<name>-<protocol>`` when there are several."""
        if len(self.protocol) == 1:
            return [(self.name, self.protocol[0])]
        return [(f"{self.name}-{proto}", proto) for proto in self.protocol]


class Profile(_Strict):
    kind: Kind
    description: str = Field(min_length=1)
    # Roles this profile may be combined with (add-ons such as etcd-metrics); empty = all.
    roles: tuple[str, ...] = ()
    # Overlay choices for ``--tunnel`` (CNI profiles); rules carry the matching ``tunnel``.
    tunnels: tuple[str, ...] = ()
    # Role profiles: ports (``PORT/tcp`` or ``PORT/udp``) every ``gen --from`` address must
    # still reach; parsed to ``(port, protocol)`` pairs.
    lockout: tuple[tuple[int, L4], ...] = ()
    # Warnings printed when another named profile is selected too.
    warn_with: dict[str, str] = {}
    # CNI profiles: a note for the patch header when one tunnel is chosen (why it opens nothing).
    tunnel_notes: dict[str, str] = {}
    rules: tuple[ProfileRule, ...] = ()

    @field_validator("lockout", mode="before")
    @classmethod
    def _lockout(cls, value: object) -> object:
        if not isinstance(value, list):
            raise ValueError("a list of PORT/tcp or PORT/udp")
        ports = []
        for spec in value:
            try:
                ports.append(parse_port_protocol(str(spec)))
            except ValueError:
                raise ValueError(f"{spec!r} is not PORT/tcp or PORT/udp") from None
        return tuple(ports)


@dataclass(frozen=True)
class LoadedProfile:
    name: str
    path: str
    profile: Profile

    @property
    def kind(self) -> Kind:
        return self.profile.kind


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


def _error_line(exc: ValidationError, data: object) -> str:
    err = exc.errors()[0]
    loc = list(err["loc"])
    where = ""
    if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
        rules = data.get("rules") if isinstance(data, dict) else None
        entry = rules[loc[1]] if isinstance(rules, list) and loc[1] < len(rules) else None
        name = entry.get("name") if isinstance(entry, dict) else None
        where = f"rule {name}: " if name else f"rules[{loc[1]}]: "
        loc = loc[2:]
    field = ".".join(str(p) for p in loc if not isinstance(p, int)).replace("from_", "from")
    msg = str(err["msg"]).removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        return f"{where}unknown key {field!r}"
    if err["type"] == "missing":
        return f"{where}{field}: missing"
    return f"{where}{field}: {msg}" if field else f"{where}{msg}"


@functools.lru_cache(maxsize=256)
def parse_profile(name: str, text: str, where: str) -> LoadedProfile:
    """Check one profile file; errors name the file and the entry.

    Parsed profiles are immutable, so one process (``build`` of many specs) parses each file once.
    """
    data = load_one(text, where)
    if not isinstance(data, dict):
        raise BadInput(f"{where}: a profile is a mapping with kind, description and rules")
    try:
        profile = Profile.model_validate(data)
    except ValidationError as exc:
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
            label = {"role": "role", "cni": "CNI", "addon": "add-on"}[kind]
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
