"""The cluster spec, ``talospatch.yaml``: a cluster's firewall settings as data.

A spec holds what ``gen`` takes on its command line, once for the whole cluster, with
per-role overrides under ``roles``. Keys are camelCase like Talos's own documents. Each role
becomes one ``GenOptions`` (``LoadedSpec.request``), so ``build`` runs exactly gen's pipeline;
messages name the spec's keys (``podSubnets``, ``roles.worker.addons``), and errors in the file
itself name its line: ``talospatch.yaml:12: addons[1]: unknown add-on 'hubbel'; valid: ...``.

A setting at the top applies to every role where it means something: an add-on restricted to
other roles, ``nodeport`` on a control plane, or addresses for a source group none of the role's
rules uses (``controlplane`` on a worker) are left out for that role. A setting under
``roles.<role>`` replaces the top-level one for that role and always applies (an error when it
cannot). Paths (``profilesDir``, ``pruneFrom``, ``output``) are relative to the spec's folder.

``exports`` lists other firewalls' files (``talospatch.export``) that ``build`` writes from the
same spec, each into a folder of its own (``talospatch.export.fromspec``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainValidator, ValidationError, WithJsonSchema
from pydantic.alias_generators import to_camel

from talospatch.decode import DecodeError
from talospatch.errors import BadInput
from talospatch.generate.expand import CONVERGED_ROLE, CONVERGED_TAKES, GROUP_FIELDS, used_groups
from talospatch.generate.options import DEFAULT_CNI, GEN_FIELDS, TALOS_VERSION_HELP, GenOptions, Labels
from talospatch.generate.profiles import RULE_KEYS, RULE_SCHEMA, Catalog, LoadedProfile, Profile, ProfileRule
from talospatch.talhelper import TALOSCTL, TOOLS, check_tool
from talospatch.talos.addresses import parse_address, parse_network
from talospatch.talos.versions import parse_talos_version
from talospatch.yamlio import Marked, dump, load_marked

SPEC_FILE = "talospatch.yaml"
DEFAULT_OUTPUT = "out"
DEFAULT_ROLES = ("controlplane", "worker")
# The inline add-on that carries a spec's ``extraRules``.
EXTRA_RULES = "extra-rules"


def _checked(check: Any) -> Any:
    """Run an address parser as a pydantic check: its ``BadInput`` becomes a ``ValueError``."""

    def validate(value: str) -> str:
        try:
            check(value)
        except BadInput as exc:
            raise ValueError(str(exc).strip()) from None
        return value

    return AfterValidator(validate)


Subnet = Annotated[
    str,
    _checked(lambda v: parse_network(v, "", allow_address=False)),
    WithJsonSchema({"type": "string", "description": "A CIDR, e.g. 192.168.30.0/24 or fd00:30::/64."}),
]
HostOrSubnet = Annotated[
    str,
    _checked(lambda v: parse_network(v, "", allow_address=True)),
    WithJsonSchema({"type": "string", "description": "An IP address or a CIDR."}),
]
Address = Annotated[
    str,
    _checked(lambda v: parse_address(v, "")),
    WithJsonSchema({"type": "string", "description": "An IP address."}),
]


# A rule in the profile format, checked as a profile file's rules are.
Rule = Annotated[ProfileRule, PlainValidator(ProfileRule.from_data), WithJsonSchema(RULE_SCHEMA)]


Tool = Annotated[
    str,
    _checked(lambda v: check_tool(v, "")),
    WithJsonSchema({"type": "string", "enum": list(TOOLS)}),
]


TalosRelease = Annotated[
    str,
    _checked(parse_talos_version),
    WithJsonSchema({"type": "string", "description": "X.Y, X.Y.Z or main."}),
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True)


class Settings(_Model):
    """gen's options; at the top of a spec for every role, under ``roles.<role>`` for one.

    A key left out means "not set": the role takes the top-level value, then gen's default.
    """

    cni: str | None = Field(None, description="CNI profile: cilium (default), flannel, calico or none.")
    tunnel: str | None = Field(None, description="The CNI's overlay: vxlan, geneve or both (Cilium; default both).")
    subnets: tuple[Subnet, ...] | None = Field(None, description="Node subnets (IPv4 and/or IPv6). Required.")
    controlplane: tuple[HostOrSubnet, ...] | None = Field(
        None, description="Control-plane node addresses or CIDRs (default: the node subnets)."
    )
    workers: tuple[HostOrSubnet, ...] | None = Field(None, description="Worker node CIDRs (default: the node subnets).")
    admins: tuple[HostOrSubnet, ...] | None = Field(
        None, description="Admin workstations allowed to apid and the Kubernetes API."
    )
    pod_subnets: tuple[Subnet, ...] | None = Field(None, description="Pod subnets (default 10.244.0.0/16).")
    nodeport_from: tuple[HostOrSubnet, ...] | None = Field(None, description="Extra NodePort clients.")
    bgp_peers: tuple[HostOrSubnet, ...] | None = Field(None, description="Routers that open BGP sessions to the nodes.")
    load_balancers: tuple[HostOrSubnet, ...] | None = Field(
        None, description="External load balancers that probe the nodes."
    )
    nodeport: bool | None = Field(None, description="Open NodePorts 30000-32767 tcp+udp (workers).")
    converged: bool | None = Field(
        None, description="Control planes run workloads: NodePorts and worker add-ons on them too."
    )
    addons: tuple[str, ...] | None = Field(None, description="Add-on profiles.")
    compact: bool | None = Field(
        None,
        description="One NetworkRuleConfig per protocol and set of sources (fewer nftables rules on the node); "
        "switching layouts deletes the other layout's documents.",
    )
    extra_rules: tuple[Rule, ...] | None = Field(
        None, description=f"Rules in the profile format: an add-on defined inline (named {EXTRA_RULES})."
    )
    guard_from: tuple[Address, ...] | None = Field(
        None,
        alias="from",
        description="Addresses where talosctl/kubectl run: the build fails when a patch cuts one off "
        "from apid 50000/tcp (and 6443/tcp on control planes).",
    )
    prune_from: str | None = Field(
        None,
        description="The node's current machine config (or `talosctl get machineconfig -o yaml`), relative to "
        "the spec: the patch also deletes every NetworkRuleConfig there that is not generated now.",
    )


def _interface(value: str) -> None:
    from talospatch.export.routed import check_interface

    check_interface(value, "")


Interface = Annotated[
    str,
    _checked(_interface),
    WithJsonSchema({"type": "string", "description": "A pfSense/OPNsense interface key: lan, wan, opt1, ..."}),
]
# talospatch.export.TARGETS, for the schema without importing every target (a test keeps them equal).
EXPORT_TARGETS = ("aws-terraform", "proxmox", "proxmox-terraform", "pfsense", "opnsense")
# The export targets that take a router's options.
ROUTED_TARGETS = ("pfsense", "opnsense")
ROUTER_FIELDS = ("cluster_interface", "from_interfaces", "ntp_servers")


class ExportSpec(_Model):
    """One export that ``build`` writes beside the Talos patches and ``build --check`` compares."""

    target: Annotated[
        str,
        WithJsonSchema({"type": "string", "enum": list(EXPORT_TARGETS)}),
    ] = Field(description="aws-terraform, proxmox, proxmox-terraform, pfsense or opnsense (see `talospatch export`).")
    output: str = Field(
        description="Folder of the target's files, relative to the spec; only those files may be in it."
    )
    cluster_interface: Interface | None = Field(
        None, description="pfsense/opnsense: the node VLAN's interface (default opt1)."
    )
    from_interfaces: tuple[Interface, ...] | None = Field(
        None,
        min_length=1,
        description="pfsense/opnsense: where admins and other outside sources arrive (default [lan]).",
    )
    ntp_servers: tuple[HostOrSubnet, ...] | None = Field(
        None, description="pfsense/opnsense: the NTP servers egress may reach (default: any)."
    )


class ClusterSpec(Settings):
    """A cluster's firewall: gen's options for every role, overrides per role, where to write."""

    model_config = ConfigDict(title="talospatch cluster spec")

    service_subnets: tuple[Subnet, ...] | None = Field(
        None,
        description="Service subnets (default 10.96.0.0/12). No rule takes them (Talos accepts traffic between "
        "pod and service subnets); the drift check's traffic summary does.",
    )
    profiles_dir: str | None = Field(
        None, description="Folder of profile files that add to or replace the built-in ones, relative to the spec."
    )
    output: str = Field(
        DEFAULT_OUTPUT, description="Folder of the patches (one ROLE.yaml per role), relative to the spec."
    )
    tool: Tool | None = Field(
        None,
        alias="for",
        description="The tool that reads the patches: talosctl (default) or talhelper (every $ doubled for its "
        "envsubst; each header shows the talconfig.yaml lines).",
    )
    talos_version: TalosRelease | None = Field(
        None, description=f"The Talos release the nodes run: {TALOS_VERSION_HELP}"
    )
    keep_tombstones: int | None = Field(
        None,
        ge=1,
        description="Drop a removed rule's `$patch: delete` document after this many generations of its file "
        "(default: keep it until the rule returns).",
    )
    roles: dict[str, Settings | None] | None = Field(
        None,
        description="The roles to build, each with settings that replace the top-level ones "
        "(default: controlplane and worker).",
    )
    exports: tuple[ExportSpec, ...] | None = Field(
        None,
        description="Other firewalls' files (AWS, Proxmox, pfSense, OPNsense) that build writes from the same "
        "rules, each into its own folder, and build --check compares.",
    )


# GenOptions field -> spec key; the fields a spec sets per role.
SETTINGS = tuple(name for name in Settings.model_fields)
KEYS: dict[str, str] = {name: Settings.model_fields[name].alias or name for name in SETTINGS}
KEYS["profiles_dir"] = "profilesDir"
KEYS["talos_version"] = "talosVersion"
KEYS["ntp_servers"] = "ntpServers"  # an export's router option, in messages
# Every top-level key a spec may hold (a patch or machine config holds others).
SPEC_KEYS = frozenset(f.alias or n for n, f in ClusterSpec.model_fields.items()) | frozenset(ClusterSpec.model_fields)
# The options that feed a source group, so a top-level value applies only where the group is used.
GROUP_OF = {name: group for group, name in GROUP_FIELDS.items()}
assert set(SETTINGS) - {"extra_rules"} <= set(GEN_FIELDS), "every setting is a gen option"


def schema() -> dict[str, Any]:
    """The spec's JSON schema, as committed in ``talospatch/schemas/``."""
    data = ClusterSpec.model_json_schema(by_alias=True, mode="validation")
    data["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return data


SCHEMA_PATH = "talospatch/schemas/talospatch.schema.json"  # in the repository and the wheel


def schema_text() -> str:
    """The committed schema file's text. Regenerate it with::

        python -c "from talospatch.spec.model import schema_text; print(schema_text(), end='')" \\
            > talospatch/schemas/talospatch.schema.json
    """
    return json.dumps(schema(), indent=2) + "\n"


def key_path(loc: tuple[str | int, ...]) -> str:
    """``("roles", "worker", "addons", 1)`` -> ``roles.worker.addons[1]``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


@dataclass(frozen=True)
class RoleRequest:
    """One role's gen request, with how to name its options and the profiles it may use."""

    role: str
    options: GenOptions
    labels: Labels
    catalog: Catalog
    # ``pruneFrom`` as the spec spells it (relative to the spec), for the patch's comments.
    prune_from: str | None = None


@dataclass(frozen=True)
class LoadedSpec:
    path: str  # as the user gave it, for messages
    spec: ClusterSpec
    marked: Marked
    catalog: Catalog

    @property
    def folder(self) -> Path:
        return Path(self.path).parent

    @property
    def output_dir(self) -> Path:
        return self.folder / self.spec.output

    @property
    def tool(self) -> str:
        return self.spec.tool or TALOSCTL

    @property
    def roles(self) -> list[str]:
        return list(self.spec.roles) if self.spec.roles is not None else list(DEFAULT_ROLES)

    def at(self, loc: tuple[str | int, ...]) -> str:
        """``file:line: key`` of a place in the spec, for messages."""
        return f"{self.path}:{self.marked.line(loc)}: {key_path(loc)}"

    def relative(self, path: str) -> str:
        return str(self.folder / path)

    def request(self, role: str) -> RoleRequest:
        """The role's GenOptions: its own settings, else the top-level ones that apply to it."""
        own = (self.spec.roles or {}).get(role) or Settings()
        catalog = self.catalog
        names: dict[str, str] = {}

        def take(name: str, applies: bool = True) -> Any:
            value = getattr(own, name)
            if value is not None:
                names[name] = f"roles.{role}.{KEYS[name]}"
                return value
            return getattr(self.spec, name) if applies else None

        cni = take("cni")
        tunnel = take("tunnel", bool(catalog.get(cni or DEFAULT_CNI, "cni").profile.tunnels))
        converged = bool(take("converged", role == CONVERGED_ROLE))
        if own.addons is not None:
            addons = list(take("addons"))
        else:
            addons = [a for a in self.spec.addons or () if _applies(catalog.get(a, "addon"), role, converged)]
        nodeport = bool(take("nodeport", _applies(catalog.get("nodeport", "addon"), role, converged)))
        extra = take("extra_rules")
        if extra:
            catalog = catalog.with_profile(
                LoadedProfile(
                    EXTRA_RULES,
                    f"{self.path}: {names.get('extra_rules', 'extraRules')}",
                    Profile(kind="addon", description=f"extra rules of {self.path}", rules=extra),
                )
            )
            addons.append(EXTRA_RULES)
        prune = take("prune_from")
        options = GenOptions(
            role=role,
            cni=cni,
            tunnel=tunnel,
            subnets=tuple(take("subnets") or ()),
            addons=tuple(addons),
            nodeport=nodeport,
            converged=converged,
            compact=bool(take("compact")),
            profiles_dir=self.relative(self.spec.profiles_dir) if self.spec.profiles_dir is not None else None,
            guard_from=tuple(take("guard_from") or ()),
            prune_from=self.relative(prune) if prune is not None else None,
            talos_version=self.spec.talos_version,
        )
        labels = Labels({**KEYS, **names})
        used = used_groups(options, catalog, labels)
        values: dict[str, Any] = {name: tuple(take(name, group in used) or ()) for name, group in GROUP_OF.items()}
        options = options._replace(**values)
        labels = Labels({**KEYS, **names})
        return RoleRequest(role, options, labels, catalog, prune)


def _applies(loaded: LoadedProfile, role: str, converged: bool) -> bool:
    """Whether an add-on applies to the role (a converged control plane takes the workers' too)."""
    roles = {role, CONVERGED_TAKES} if converged else {role}
    return not loaded.profile.roles or bool(roles & set(loaded.profile.roles))


def _error_line(exc: ValidationError, path: str, marked: Marked) -> str:
    err = exc.errors()[0]
    loc = tuple(err["loc"])
    msg = str(err["msg"]).removeprefix("Value error, ")
    decoded = (err.get("ctx") or {}).get("error")
    if isinstance(decoded, DecodeError):  # an extra rule, checked as profiles are: name its own key
        loc += decoded.path
        if decoded.unknown_key:
            return f"{path}:{marked.line(loc)}: {key_path(loc)}: unknown key; valid: {', '.join(RULE_KEYS)}"
        msg = decoded.message
    line = marked.line(loc)
    where = key_path(loc)
    if err["type"] == "extra_forbidden":
        parent = loc[:-1]
        model: type[BaseModel] = ClusterSpec if not parent else Settings
        if len(parent) == 2 and parent[0] == "exports":
            if loc[-1] == "mergeInto":
                return (
                    f"{path}:{line}: {where}: a build writes the pfSense sections whole; merge them into "
                    "a config.xml with talospatch export pfsense --merge-into BACKUP.xml"
                )
            model = ExportSpec
        valid = ", ".join(f.alias or n for n, f in model.model_fields.items())
        return f"{path}:{line}: {where}: unknown key; valid: {valid}"
    if err["type"] == "missing":
        return f"{path}:{line}: {where}: missing"
    if err["type"] in ("tuple_type", "list_type"):
        msg = "must be a list, e.g. [a, b]"
    elif err["type"] in ("dict_type", "model_type", "model_attributes_type"):
        msg = "must be a mapping of keys to values"
    return f"{path}:{line}: {where}: {msg}" if where else f"{path}:{line}: {msg}"


def parse_spec(text: str, path: str) -> LoadedSpec:
    """Check a spec's text; ``path`` locates its relative paths and names it in messages."""
    marked = load_marked(text, path)
    if not isinstance(marked.data, dict):
        raise BadInput(f"{path}:1: a cluster spec is a mapping of settings (subnets, controlplane, admins, ...)")
    try:
        spec = ClusterSpec.model_validate(marked.data)
    except ValidationError as exc:
        raise BadInput(_error_line(exc, path, marked)) from None
    folder = Path(path).parent
    profiles_dir = str(folder / spec.profiles_dir) if spec.profiles_dir is not None else None
    # The line is looked up only when there is a folder to name (it parses the spec again).
    label = f"{path}:{marked.line(('profilesDir',))}: profilesDir" if profiles_dir is not None else "profilesDir"
    catalog = Catalog.load(profiles_dir, label)
    loaded = LoadedSpec(path, spec, marked, catalog)
    _check_names(loaded)
    _check_exports(loaded)
    return loaded


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _check_exports(loaded: LoadedSpec) -> None:
    """Export targets, the router options only where they apply, and one folder of its own per export."""
    from talospatch.export import TARGETS

    patches = loaded.output_dir.resolve()
    folders: list[tuple[str, Path]] = [("output", patches)]
    for index, entry in enumerate(loaded.spec.exports or ()):
        if entry.target not in TARGETS:
            raise BadInput(
                f"{loaded.at(('exports', index, 'target'))}: unknown export target {entry.target!r}; "
                f"valid: {', '.join(sorted(TARGETS))}"
            )
        if entry.target not in ROUTED_TARGETS:
            for name in ROUTER_FIELDS:
                if getattr(entry, name) is not None:
                    key = ExportSpec.model_fields[name].alias or name
                    raise BadInput(
                        f"{loaded.at(('exports', index, key))}: applies to the pfsense and opnsense targets only"
                    )
        here = (loaded.folder / entry.output).resolve()
        where = loaded.at(("exports", index, "output"))
        if _inside(Path(loaded.path).resolve(), here):
            raise BadInput(f"{where}: {entry.output} holds the spec itself; give the export a folder of its own")
        for key, folder in folders:
            if here == folder or _inside(folder, here):
                raise BadInput(
                    f"{where}: {entry.output} holds the files of {key}; give each export a folder of its own"
                )
            if key != "output" and _inside(here, folder):
                raise BadInput(f"{where}: {entry.output} is inside the folder of {key}")
        folders.append((f"exports[{index}].output", here))


def _check_names(loaded: LoadedSpec) -> None:
    """Role, CNI and add-on names against the profiles, each error at its line."""
    spec = loaded.spec
    catalog = loaded.catalog

    def check(loc: tuple[str | int, ...], name: str, kind: Any) -> LoadedProfile:
        try:
            return catalog.get(name, kind)
        except BadInput as exc:
            raise BadInput(f"{loaded.at(loc)}: {exc}") from None

    levels: list[tuple[tuple[str, ...], Settings]] = [((), spec)]
    for role, settings in (spec.roles or {}).items():
        check(("roles", role), role, "role")
        levels.append((("roles", role), settings or Settings()))
    if spec.nodeport_from and not (spec.nodeport or spec.converged):
        raise BadInput(f"{loaded.at(('nodeportFrom',))}: needs nodeport: true (or converged: true)")
    if spec.roles == {}:
        raise BadInput(f"{loaded.at(('roles',))}: names no role; leave it out to build controlplane and worker")
    for prefix, settings in levels:
        if settings.cni is not None:
            check((*prefix, "cni"), settings.cni, "cni")
        converged = settings.converged if settings.converged is not None else bool(spec.converged)
        for index, name in enumerate(settings.addons or ()):
            addon = check((*prefix, "addons", index), name, "addon")
            if prefix and not _applies(addon, prefix[1], converged):
                raise BadInput(
                    f"{loaded.at((*prefix, 'addons', index))}: add-on {name} applies to role "
                    f"{', '.join(addon.profile.roles)} only, not {prefix[1]}"
                )
        if settings.extra_rules and EXTRA_RULES in catalog.names("addon"):
            raise BadInput(f"{loaded.at((*prefix, 'extraRules'))}: a profile named {EXTRA_RULES} exists already")


def load_spec(path: str) -> LoadedSpec:
    """Read and check a spec file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BadInput(f"{path}: no such file (a cluster spec; talospatch init writes one)") from None
    except IsADirectoryError:
        raise BadInput(f"{path}: is a directory, not a cluster spec") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"{path}: cannot read: {exc}") from None
    return parse_spec(text, path)


def spec_data(opts: GenOptions, folder: str) -> dict[str, Any]:
    """The spec that says what ``opts`` say (``init``): keys in gen's order, paths relative to ``folder``.

    ``opts.role`` empty means every default role; a role makes the spec build that one only.
    """
    data: dict[str, Any] = {}
    for name in GEN_FIELDS[1:]:
        value = getattr(opts, name)
        if value in (None, (), False):
            continue
        if name in ("profiles_dir", "prune_from"):
            value = os.path.relpath(value, folder)
        data[KEYS[name]] = list(value) if isinstance(value, tuple) else value
    if opts.role:
        data["roles"] = {opts.role: {}}
    return data


def spec_text(opts: GenOptions, folder: str) -> str:
    """``spec_data`` as the text of a spec file in ``folder``, checked by building every role's documents."""
    from talospatch.generate.expand import expand

    text = "# talospatch cluster spec: `talospatch build` writes one patch per role into out/.\n"
    text += dump(spec_data(opts, folder))
    loaded = parse_spec(text, os.path.join(folder, SPEC_FILE))
    for role in loaded.roles:
        request = loaded.request(role)
        try:
            expand(request.options, request.catalog, request.labels)
        except BadInput as exc:
            raise BadInput(f"role {role}: {exc}") from None
    return text
