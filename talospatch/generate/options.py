"""What a user asks ``gen`` for, as strings: the input of every pipeline.

``GenOptions`` is plain data with no parsing, so the command line, a cluster spec or a test
can build one cheaply. ``None``, an empty tuple or ``False`` means "not given": ``expand``
fills in the defaults and, where a default widens who is allowed, says so in a warning.

Messages name an option through ``Labels``: the command line maps each field to its flag
(``subnets`` -> ``--subnet``), a spec file to its key; the core never spells a flag itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

DEFAULT_CNI = "cilium"
DEFAULT_POD_SUBNET = "10.244.0.0/16"  # Talos's default cluster.network.podSubnets
DEFAULT_SERVICE_SUBNET = "10.96.0.0/12"  # Talos's default cluster.network.serviceSubnets
ALL_TUNNELS = "both"

# The Talos releases ``--talos-version`` takes (``talospatch.talos.versions`` models each): the newest
# patch release known on each release line (minor version of Talos 1.x), and ``main``.
NEWEST_PATCH: dict[int, int] = {8: 4, 9: 6, 10: 9, 11: 6, 12: 11, 13: 9, 14: 0}
OLDEST_MINOR = min(NEWEST_PATCH)
NEWEST_MINOR = max(NEWEST_PATCH)
MAIN_NAME = "main"
_DEFAULT_RELEASE = f"v1.{NEWEST_MINOR}.{NEWEST_PATCH[NEWEST_MINOR]}"
TALOS_VERSION_HELP = (
    f"Talos release to model: X.Y or X.Y.Z (v1.{OLDEST_MINOR}.0 to {_DEFAULT_RELEASE}; X.Y is the newest "
    f"patch of that line) or main. Default: {_DEFAULT_RELEASE}."
)


class GenOptions(NamedTuple):
    """One node role's firewall request. The field order is the order of the header's command.

    A command that builds every role at once (``export``) leaves ``role`` empty. A NamedTuple
    rather than a dataclass: every command loads it, ``--help`` and completion too, and a
    class of 21 dataclass fields takes longer to create than the rest of their start-up.
    Copy one with changes through ``opts._replace(...)``.
    """

    role: str = ""
    cni: str | None = None
    tunnel: str | None = None
    subnets: tuple[str, ...] = ()
    controlplane: tuple[str, ...] = ()
    workers: tuple[str, ...] = ()
    admins: tuple[str, ...] = ()
    pod_subnets: tuple[str, ...] = ()
    nodeport_from: tuple[str, ...] = ()
    # Routers that open BGP sessions to the nodes, and external load balancers' health checks.
    bgp_peers: tuple[str, ...] = ()
    load_balancers: tuple[str, ...] = ()
    # KubeSpan peers outside the node subnets (their NAT's public address): 51820/udp only.
    kubespan_peers: tuple[str, ...] = ()
    nodeport: bool = False
    # A control plane that runs workloads (cluster.allowSchedulingOnControlPlanes): worker-only
    # add-ons apply to it and NodePorts are opened.
    converged: bool = False
    addons: tuple[str, ...] = ()
    # One document per protocol and set of sources instead of one per service.
    compact: bool = False
    # The nodes resolve with DNS over TLS (ResolverConfig nameservers, protocol: DoT): the exports'
    # egress allows 853/tcp. The Talos patch is unchanged (egress is no NetworkRuleConfig).
    dns_over_tls: bool = False
    profiles_dir: str | None = None
    # The Talos release the node runs (X.Y, X.Y.Z or main); None: the newest one known.
    talos_version: str | None = None
    # The node's current machine config: the patch also deletes the rules there not generated now.
    prune_from: str | None = None
    # Addresses that must keep reaching the role's management ports (the lockout guard).
    guard_from: tuple[str, ...] = ()


GEN_FIELDS: tuple[str, ...] = GenOptions._fields


class Labels:
    """How the user spelled each option: field name -> label, for messages.

    A field without a label is named by itself (``admins``), as a spec file spells it.
    (A plain class: every command loads this module, and a dataclass costs start-up time.)
    """

    __slots__ = ("names",)

    def __init__(self, names: Mapping[str, str] | None = None) -> None:
        self.names: Mapping[str, str] = names or {}

    def __call__(self, field: str) -> str:
        return self.names.get(field, field)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Labels) and self.names == other.names

    def __hash__(self) -> int:
        return hash(tuple(sorted(self.names.items())))

    def __repr__(self) -> str:
        return f"Labels({dict(self.names)!r})"


FIELD_NAMES = Labels()
