"""A spec's ``nodes``: each node's role and address, and the settings it adds to its role's.

A node names one of the spec's roles and its address (what ``talosctl -n`` takes, and its
``--node-ip``). Its own keys (``admins``, ``bgpPeers``, ``loadBalancers``, ``nodeportFrom``,
``addons``, ``extraRules``, ``from``) are added to the role's for that node only: ``node_request``
is the role's request with them added. A top-level group setting the role left out because
none of its rules took it (``bgpPeers`` on a worker without a BGP add-on) applies to a node
whose own add-ons take it. When any node's request differs from its role's, ``build`` writes a
patch per node into ``out/nodes/NAME.yaml`` beside the role patches
(``talospatch.workflows.build``); otherwise each node gets its role's patch.

Errors name the spec's line and key: ``talospatch.yaml:31: nodes[2].role: unknown role ...``.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from talospatch.errors import BadInput
from talospatch.generate.expand import CONVERGED_ROLE, GROUP_FIELDS, used_groups
from talospatch.generate.options import Labels
from talospatch.generate.profiles import LoadedProfile, Profile
from talospatch.generate.roles import addon_applies
from talospatch.registry import NODES_FOLDER
from talospatch.spec.load import LoadedSpec, _inside
from talospatch.spec.model import EXTRA_RULES, KEYS, NodeSpec, Settings
from talospatch.spec.roles import RoleRequest
from talospatch.talos.addresses import parse_network

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
# The address lists a node adds to its role's (GenOptions fields; guard_from is the spec's ``from``).
ADDED_LISTS = ("admins", "bgp_peers", "load_balancers", "nodeport_from", "guard_from")


def check_node_name(value: str) -> str:
    """A node's name names its patch file: a plain file name, no folders, no leading dot."""
    if not _NAME.fullmatch(value):
        raise ValueError(
            f"node name {value!r}: use letters, digits, '.', '-' and '_' (at most 63, not starting with '.', "
            "'-' or '_'; it names out/nodes/NAME.yaml), e.g. cp1"
        )
    return value


@dataclass(frozen=True)
class Node:
    index: int  # in the spec's nodes
    spec: NodeSpec

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def role(self) -> str:
        return self.spec.role

    @property
    def address(self) -> str:
        return str(ipaddress.ip_address(self.spec.address))

    @property
    def key(self) -> str:
        return f"nodes[{self.index}]"


@dataclass(frozen=True)
class NodeRequest:
    """A node's gen request, and whether it differs from its role's."""

    node: Node
    request: RoleRequest
    differs: bool


def spec_nodes(loaded: LoadedSpec) -> list[Node]:
    return [Node(index, spec) for index, spec in enumerate(loaded.spec.nodes or ())]


def nodes_folder(loaded: LoadedSpec) -> Path:
    return loaded.output_dir / NODES_FOLDER


def find_node(loaded: LoadedSpec, name: str, label: str = "--node") -> Node:
    """The node named ``name``; an error lists the names the spec has."""
    nodes = spec_nodes(loaded)
    for node in nodes:
        if node.name == name:
            return node
    if not nodes:
        raise BadInput(f"{label} {name}: {loaded.path} names no node (give it nodes: with name, role and address)")
    raise BadInput(f"{label} {name}: no such node in {loaded.path}; valid: {', '.join(n.name for n in nodes)}")


def node_request(loaded: LoadedSpec, node: Node) -> NodeRequest:
    """The node's request: its role's, with the node's own settings added."""
    base = loaded.request(node.role)
    own = node.spec
    role_settings = (loaded.spec.roles or {}).get(node.role) or Settings()
    names: dict[str, str] = {}
    catalog = base.catalog
    addons = list(base.options.addons)
    addons += [name for name in own.addons or () if name not in addons]
    if own.extra_rules:
        inherited = role_settings.extra_rules if role_settings.extra_rules is not None else loaded.spec.extra_rules
        names["extra_rules"] = f"{node.key}.extraRules"
        # One inline add-on holds the role's extra rules and the node's.
        catalog = loaded.catalog.with_profile(
            LoadedProfile(
                EXTRA_RULES,
                f"{loaded.path}: {names['extra_rules']}",
                Profile(
                    kind="addon",
                    description=f"extra rules of {loaded.path}, node {node.name}",
                    rules=(*(inherited or ()), *own.extra_rules),
                ),
            )
        )
        if EXTRA_RULES not in addons:
            addons.append(EXTRA_RULES)
    options = base.options._replace(addons=tuple(addons))
    labels = Labels({**base.labels.names, **names})
    used = used_groups(options, catalog, labels)
    values: dict[str, Any] = {}
    for group, field in GROUP_FIELDS.items():
        value = getattr(options, field)
        if not value and getattr(role_settings, field) is None and group in used:
            # The node's add-ons take a group its role does not: the top-level value applies.
            value = tuple(getattr(loaded.spec, field) or ())
        values[field] = value
    values["guard_from"] = options.guard_from
    for field in ADDED_LISTS:
        added = getattr(own, field)
        if added:
            values[field] = tuple(dict.fromkeys((*values[field], *added)))
            names[field] = f"{node.key}.{KEYS[field]}"
    if own.guard_from:
        # A lockout of the node's own from: is fixed with the node's own admins.
        names["admins"] = f"{node.key}.{KEYS['admins']}"
    options = options._replace(**values)
    request = RoleRequest(node.role, options, Labels({**base.labels.names, **names}), catalog, base.prune_from)
    return NodeRequest(node, request, options != base.options or bool(own.extra_rules))


def node_requests(loaded: LoadedSpec) -> list[NodeRequest]:
    return [node_request(loaded, node) for node in spec_nodes(loaded)]


def own_patches(requests: list[NodeRequest]) -> list[NodeRequest]:
    """The nodes ``build`` writes a patch for: every node when any node's request differs from
    its role's, else none (each node takes its role's patch)."""
    return requests if any(item.differs for item in requests) else []


def node_patches(loaded: LoadedSpec) -> list[Path]:
    """The node patches ``build`` writes: ``out/nodes/NAME.yaml`` for each of ``own_patches``."""
    return [nodes_folder(loaded) / f"{item.node.name}.yaml" for item in own_patches(node_requests(loaded))]


def _outside(address: str, values: tuple[str, ...], key: str) -> list[str]:
    """``values`` (CIDRs or addresses) when none holds ``address``, else nothing."""
    ip = ipaddress.ip_address(address)
    nets = [parse_network(v, key, allow_address=True) for v in values]
    return [] if any(ip in net for net in nets) else [str(n) for n in nets]


def node_warnings(loaded: LoadedSpec, requests: list[NodeRequest]) -> list[str]:
    """Nodes the rules between nodes do not admit: outside every subnet, or a control plane not listed."""
    warnings: list[str] = []
    for item in requests:
        node, options = item.node, item.request.options
        where = f"{loaded.path}: {node.key}.address {node.address} ({node.name})"
        missing = _outside(node.address, options.subnets, "subnets")
        if missing:
            warnings.append(f"{where} is outside subnets ({', '.join(missing)}): the rules between nodes miss it")
        elif node.role == CONVERGED_ROLE and options.controlplane:
            missing = _outside(node.address, options.controlplane, "controlplane")
            if missing:
                warnings.append(
                    f"{where} is not in controlplane ({', '.join(missing)}): the rules between control planes "
                    "(etcd) miss it"
                )
    return warnings


def check_nodes(loaded: LoadedSpec) -> None:
    """Unique names and addresses, roles the spec builds, add-ons that apply; errors at their line."""
    spec = loaded.spec
    # The folder is the node patches' even while no node differs: build --check finds stale ones there.
    folder = nodes_folder(loaded).resolve()
    for index, entry in enumerate(spec.exports or ()):
        if _inside((loaded.folder / entry.output).resolve(), folder):
            raise BadInput(
                f"{loaded.at(('exports', index, 'output'))}: {entry.output} is the folder of the node patches "
                f"({spec.output}/{NODES_FOLDER}); give the export another folder"
            )
    if spec.nodes is None:
        return
    if not spec.nodes:
        raise BadInput(f"{loaded.at(('nodes',))}: names no node; leave it out, or give each node's name, role, address")
    names: dict[str, Node] = {}
    addresses: dict[ipaddress.IPv4Address | ipaddress.IPv6Address, Node] = {}
    for node in spec_nodes(loaded):
        if node.role not in loaded.roles:
            raise BadInput(
                f"{loaded.at(('nodes', node.index, 'role'))}: unknown role {node.role!r}; the spec builds "
                f"{', '.join(loaded.roles)}"
            )
        # Case-insensitive: the names are file names, and some filesystems fold case.
        other = names.setdefault(node.name.casefold(), node)
        if other is not node:
            raise BadInput(
                f"{loaded.at(('nodes', node.index, 'name'))}: node name {node.name!r} is taken by {other.key}"
            )
        address = ipaddress.ip_address(node.spec.address)
        other = addresses.setdefault(address, node)
        if other is not node:
            raise BadInput(
                f"{loaded.at(('nodes', node.index, 'address'))}: {address} is the address of {other.key} "
                f"({other.name}) too"
            )
        role_settings = (spec.roles or {}).get(node.role) or Settings()
        converged = role_settings.converged if role_settings.converged is not None else bool(spec.converged)
        for index, name in enumerate(node.spec.addons or ()):
            where = loaded.at(("nodes", node.index, "addons", index))
            try:
                addon = loaded.catalog.get(name, "addon")
            except BadInput as exc:
                raise BadInput(f"{where}: {exc}") from None
            if not addon_applies(addon, node.role, converged):
                raise BadInput(
                    f"{where}: add-on {name} applies to role {', '.join(addon.profile.roles)} only, not {node.role}"
                )
        if node.spec.extra_rules and EXTRA_RULES in loaded.catalog.names("addon"):
            raise BadInput(
                f"{loaded.at(('nodes', node.index, 'extraRules'))}: a profile named {EXTRA_RULES} exists already"
            )
