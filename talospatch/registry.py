"""The export targets, one line each, and the options they take; the cluster spec's file name.

The spec (its ``exports:`` entries and schema), ``build`` (through the spec's exports) and
``talospatch export`` all read the targets from here. Nothing here imports a target,
pydantic or ruamel.yaml: ``--help`` and shell completion read this module, and a target's
module is imported only when it renders (``talospatch.export.render``).

Adding an export target
-----------------------
1. Write ``talospatch/export/NAME.py`` with one function::

       def render(cluster: Cluster, options: ExportOptions) -> Export: ...

   ``cluster`` (``talospatch.export.cluster.Cluster``) is every role expanded once, from
   gen's options or from a spec: per role, each Talos rule with its protocol, ports, ``why``
   and its sources *by group* (``nodes``, ``controlplane``, ``admins``, ``pods``, ``any``, ...,
   each with its parsed networks), the node subnets, the addresses each option gave, the
   seed's egress, gen's warnings (role-prefixed) and the labels that name an option in
   messages (``--admin`` or ``admins``). ``options`` are the ``ExportOptions`` below; a target
   reads only those its line names. It returns an ``Export``: the files it writes (name
   relative to the output folder -> text) and the warnings a user should see. Pure: no
   printing, no files; bad input raises ``talospatch.errors.BadInput`` with one line. A
   target that filters routed traffic (a router in front of the node VLAN) derives its
   view from the same cluster with ``talospatch.export.routed.plan``.
2. Add its line to ``TARGETS``: the name users type, the module, the ``ExportOptions``
   fields it takes, and ``single_file`` when it always writes one file (``export`` then
   prints it to stdout unless ``--output-dir`` is given).
3. Regenerate the spec's schema (its ``exports[].target`` enum lists the names; the
   command is in ``talospatch.spec.model.schema_text``).
4. Tests: ``tests/export/test_NAME.py`` reads the files back as the other firewall would, with
   a snapshot of the reference cluster's (``tests/export/test_snapshots.py`` fails until every
   file of every target has one); ``tests/test_registry.py`` pins the list of targets.

The spec's schema, ``export``'s help, its checks of which option applies to which target,
and ``build`` take the new target from its line; no other module names a target.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from talospatch.errors import BadInput

SPEC_FILE = "talospatch.yaml"
# The folder of a spec's per-node patches, inside its output folder (out/nodes/NAME.yaml).
NODES_FOLDER = "nodes"


class ExportOptions(NamedTuple):
    """What a target may take besides the cluster. Defaults are what "not given" means."""

    # Routers in front of the node VLAN (pfsense, opnsense): the VLAN's interface, where admins
    # and other outside sources arrive, and the NTP servers the nodes' egress may reach.
    cluster_interface: str = "opt1"
    from_interfaces: tuple[str, ...] = ("lan",)
    ntp_servers: tuple[str, ...] = ()
    # A file to merge the target's rules into (its bytes and name): the export is that one file.
    merge_into: bytes | None = None
    merge_name: str = "BACKUP.xml"
    # The firewall's current rules (its text and name), to list the target's rules it no longer makes.
    current_rules: str | None = None
    current_name: str = "CURRENT.csv"
    # The folder of the built Talos patches, as a Terraform file in the export's folder reads them.
    patches_dir: str = "out"
    # The nodes whose own patch build writes (out/nodes/NAME.yaml), from a spec's ``nodes``.
    node_patches: tuple[str, ...] = ()
    # Omni: the patches' documents inline in the template (else files beside it), and the
    # default action as one patch of the Cluster document (else in each machine set's).
    inline: bool = False
    cluster_default_action: bool = False


ROUTER = ("cluster_interface", "from_interfaces", "ntp_servers")


class Target(NamedTuple):
    name: str
    module: str  # talospatch.export.<module>, whose render(cluster, options) writes the files
    options: tuple[str, ...] = ()  # the ExportOptions fields it reads
    single_file: bool = False  # always one file, which export prints without --output-dir


TARGETS: tuple[Target, ...] = (
    Target("aws-terraform", "aws", single_file=True),
    Target("proxmox", "proxmox"),
    Target("proxmox-terraform", "proxmox_terraform", single_file=True),
    Target("pfsense", "pfsense", (*ROUTER, "merge_into")),
    Target("opnsense", "opnsense", (*ROUTER, "current_rules")),
    Target("talos-terraform", "talos_terraform", ("patches_dir", "node_patches"), single_file=True),
    Target("omni", "omni", ("merge_into", "inline", "cluster_default_action")),
)
NAMES = tuple(t.name for t in TARGETS)
_BY_NAME = {t.name: t for t in TARGETS}


def target(name: str) -> Target:
    """The target called ``name``; ``BadInput`` naming the valid ones."""
    if name not in _BY_NAME:
        raise BadInput(f"unknown export target {name!r}; valid: {', '.join(sorted(_BY_NAME))}")
    return _BY_NAME[name]


def takes(name: str, option: str) -> bool:
    """Whether the target ``name`` (known or not) takes the ``ExportOptions`` field ``option``."""
    return name in _BY_NAME and option in _BY_NAME[name].options


def only(option: str) -> str:
    """Where ``option`` applies, for "X applies to ..." messages: ``the pfsense target only``."""
    names = [t.name for t in TARGETS if option in t.options]
    return f"the {' and '.join(names)} target{'s' if len(names) > 1 else ''} only"


def names_text() -> str:
    """The target names as a sentence: ``a, b or c``."""
    return f"{', '.join(NAMES[:-1])} or {NAMES[-1]}"


def interfaces(options: ExportOptions) -> tuple[str, tuple[str, ...]]:
    """The node VLAN's interface and, once each, the interfaces routed sources arrive on; ``BadInput``
    for a name that is no interface key. ``export`` checks them before it expands the cluster."""
    cluster = check_interface(options.cluster_interface, "--cluster-interface")
    sources = tuple(dict.fromkeys(check_interface(i, "--from-interface") for i in options.from_interfaces))
    if not sources:
        raise BadInput("--from-interface: give at least one interface the admins' traffic arrives on")
    return cluster, sources


def check_interface(name: str, option: str) -> str:
    """A router's interface key (``wan``, ``lan``, ``opt1``, a group name), as pfSense and OPNsense name them."""
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,31}", name):
        raise BadInput(f"{option} {name!r} is not an interface name (want the interface's key, e.g. lan, wan, opt1)")
    return name
