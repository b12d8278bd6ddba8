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

This module holds the spec's models and its JSON schema; ``talospatch.spec.load`` reads a
file, ``talospatch.spec.errors`` words pydantic's errors, ``talospatch.spec.roles`` resolves
a role's request and ``talospatch.spec.init`` writes a new spec.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainValidator, WithJsonSchema
from pydantic.alias_generators import to_camel

from talospatch import registry
from talospatch.errors import BadInput
from talospatch.generate.expand import GROUP_FIELDS
from talospatch.generate.options import GEN_FIELDS, TALOS_VERSION_HELP
from talospatch.generate.profiles import RULE_SCHEMA, ProfileRule
from talospatch.talhelper import TOOLS, check_tool
from talospatch.talos.addresses import parse_address, parse_network
from talospatch.talos.versions import parse_talos_version

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
    kubespan_peers: tuple[HostOrSubnet, ...] | None = Field(
        None, description="KubeSpan peers outside the node subnets (their public endpoints): 51820/udp only."
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


Interface = Annotated[
    str,
    _checked(lambda v: registry.check_interface(v, "")),
    WithJsonSchema({"type": "string", "description": "A pfSense/OPNsense interface key: lan, wan, opt1, ..."}),
]


class ExportSpec(_Model):
    """One export that ``build`` writes beside the Talos patches and ``build --check`` compares."""

    target: Annotated[
        str,
        WithJsonSchema({"type": "string", "enum": list(registry.NAMES)}),
    ] = Field(description=f"{registry.names_text()} (see `talospatch export`).")
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
    inline: bool | None = Field(
        None, description="omni: the patches' documents inline in the template (default: files beside it)."
    )
    cluster_default_action: bool | None = Field(
        None,
        description="omni: the default action as one patch of the Cluster document (default: in each machine set's).",
    )


# The keys of an export entry that are the target's options (``talospatch.registry.ExportOptions``).
EXPORT_OPTIONS = tuple(name for name in ExportSpec.model_fields if name not in ("target", "output"))
assert set(EXPORT_OPTIONS) <= set(registry.ExportOptions._fields), "every export key is an export option"


def _node_name(value: str) -> str:
    from talospatch.spec.nodes import check_node_name

    return check_node_name(value)


NodeName = Annotated[
    str,
    AfterValidator(_node_name),
    WithJsonSchema({"type": "string", "description": "Letters, digits, '.', '-', '_': names out/nodes/NAME.yaml."}),
]


class NodeSpec(_Model):
    """One node: its role, its address, and settings added to its role's (``talospatch.spec.nodes``)."""

    name: NodeName = Field(description="The node's name, unique in the spec: `--node NAME`, out/nodes/NAME.yaml.")
    role: str = Field(description="One of the roles the spec builds.")
    address: Address = Field(description="The node's address: talosctl -n ADDRESS, and its --node-ip.")
    admins: tuple[HostOrSubnet, ...] | None = Field(None, description="Added to the role's admins on this node.")
    bgp_peers: tuple[HostOrSubnet, ...] | None = Field(None, description="Added to the role's bgpPeers on this node.")
    load_balancers: tuple[HostOrSubnet, ...] | None = Field(
        None, description="Added to the role's loadBalancers on this node."
    )
    nodeport_from: tuple[HostOrSubnet, ...] | None = Field(
        None, description="Added to the role's nodeportFrom on this node."
    )
    addons: tuple[str, ...] | None = Field(None, description="Added to the role's add-ons on this node.")
    extra_rules: tuple[Rule, ...] | None = Field(None, description="Added to the role's extraRules on this node.")
    guard_from: tuple[Address, ...] | None = Field(
        None, alias="from", description="Added to the role's from: addresses this node's patch must not cut off."
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
    dns_over_tls: bool | None = Field(
        None,
        alias="dnsOverTls",
        description="The nodes resolve with DNS over TLS (ResolverConfig nameservers with protocol: DoT): the "
        "exports allow 853/tcp out; the Talos patches do not change.",
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
    nodes: tuple[NodeSpec, ...] | None = Field(
        None,
        description="The cluster's nodes (name, role, address), for `--node NAME` and `plan`; a node with settings "
        "of its own gets a patch of its own in out/nodes/.",
    )


# GenOptions field -> spec key; the fields a spec sets per role.
SETTINGS = tuple(name for name in Settings.model_fields)
KEYS: dict[str, str] = {name: Settings.model_fields[name].alias or name for name in SETTINGS}
KEYS["profiles_dir"] = "profilesDir"
KEYS["talos_version"] = "talosVersion"
KEYS["dns_over_tls"] = "dnsOverTls"
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
