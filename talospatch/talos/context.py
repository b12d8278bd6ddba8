"""What a node's machine config says about its surroundings, with where it says it.

The compiled ruleset and the warnings depend on settings outside the firewall documents. Talos
accepts each in two forms (siderolabs/talos ``pkg/machinery/config/types/``, release-1.14):

- pod and service subnets: v1alpha1 ``cluster.network.podSubnets``/``serviceSubnets``
  (``v1alpha1/v1alpha1_types.go``), or the ``KubeNetworkConfig`` document's
  ``podSubnets``/``serviceSubnets`` (``k8s/network.go``);
- host DNS: ``machine.features.hostDNS`` (``enabled``, ``forwardKubeDNSToHost``), or the
  ``ResolverConfig`` document's ``hostDNS`` (``network/resolver.go``);
- kube-proxy: ``cluster.proxy.disabled``, or the ``KubeProxyConfig`` document's ``enabled``
  (``k8s/proxy.go``);
- scheduling on control planes: ``cluster.allowSchedulingOnControlPlanes``; v1.14 has no such
  field in a document of its own: ``KubeNodeConfig`` (``k8s/node.go``) carries the node's
  taints, and ``generate/kubernetes.go`` writes the ``node-role.kubernetes.io/control-plane``
  NoSchedule taint on a control plane unless scheduling is allowed. A control plane's
  ``KubeNodeConfig`` without that taint schedules workloads.

Documents are read in order; a later one wins, as talosctl merges patches. Beyond the shapes:

- a whole machine config (a ``version: v1alpha1`` document) that sets no host DNS has Talos's
  zero value, forwarding off: ``NetworkHostDNSConfig()`` is nil then, and
  ``internal/app/machined/pkg/controllers/network/nftables_chain_config.go`` adds the host DNS
  rules only when ``ForwardKubeDNSToHost()`` is true (a patch that says nothing says nothing);
- pod and service subnets a whole config does not list: with ``cluster.network`` present,
  ``ClusterConfig.PodCIDRs``/``ServiceCIDRs`` (``v1alpha1/v1alpha1_clusterconfig.go``) give
  Talos's defaults ``constants.DefaultIPv4PodCIDR`` 10.244.0.0/16 and
  ``DefaultIPv4ServiceCIDR`` 10.96.0.0/12, IPv4 only whatever the node's family (the IPv6
  defaults ``fc00:db8:10::/56``/``fc00:db8:20::/112`` are only what ``talosctl gen config``
  writes into an IPv6 cluster's config, ``generate/generate.go``). With neither
  ``cluster.network`` nor a ``KubeNetworkConfig``, v1.14's ``Config.K8sNetworkConfig``
  (``v1alpha1/v1alpha1_k8s_bridge.go``, since c3052e845) is nil, and
  ``nftables_chain_config.go`` then adds no pod/service (nor host DNS) accept rule, and
  ``k8s/kubelet_config.go`` no kubelet; before v1.14 the defaults applied there too. A
  ``KubeNetworkConfig`` lists its subnets itself (``PodCIDRs`` has no default). Such values are
  ``Sourced`` with ``default``: the messages name them as Talos's, not the config's;
- a taint keeps workloads off with the effect ``NoSchedule`` or ``NoExecute``, written
  ``effect`` or ``value:effect`` (``pkg/machinery/labels/validate.go``); ``PreferNoSchedule``
  does not. ``machine.nodeTaints`` holds the v1alpha1 node's own taints, and the older
  ``cluster.allowSchedulingOnMasters`` counts when ``allowSchedulingOnControlPlanes`` is unset
  (``v1alpha1/v1alpha1_clusterconfig.go``, ``ScheduleOnControlPlanes``);
- each v1.14 document refuses its v1alpha1 counterpart beside it (``V1Alpha1ConflictValidate``
  in the files above): ``KubeNetworkConfig`` and ``cluster.network``, ``KubeProxyConfig`` and
  ``cluster.proxy``, ``KubeNodeConfig`` and ``cluster.allowSchedulingOnControlPlanes`` (or
  ``machine.nodeTaints``), ``ResolverConfig.hostDNS`` and ``machine.features.hostDNS``. Such a
  config is ``BadInput``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Generic, TypeVar

from talospatch.errors import BadInput
from talospatch.talos.addresses import parse_network
from talospatch.talos.documents import Network
from talospatch.talos.versions import TalosVersion, resolve

T = TypeVar("T")

CONTROL_PLANE_LABEL = "node-role.kubernetes.io/control-plane"
# Taint effects that keep pods off a node (PreferNoSchedule only discourages them).
BLOCKING_EFFECTS = ("NoSchedule", "NoExecute")
# A v1.14 document and the v1alpha1 key Talos refuses beside it.
CONFLICTS = (
    ("KubeNetworkConfig", "cluster.network"),
    ("KubeProxyConfig", "cluster.proxy"),
    ("KubeNodeConfig", "cluster.allowSchedulingOnControlPlanes"),
    ("KubeNodeConfig", "cluster.allowSchedulingOnMasters"),
    ("KubeNodeConfig", "machine.nodeTaints"),
    ("ResolverConfig hostDNS", "machine.features.hostDNS"),
)


# Talos's IPv4 defaults (constants.DefaultIPv4PodCIDR, DefaultIPv4ServiceCIDR).
DEFAULT_SUBNETS = {"pod_subnets": "10.244.0.0/16", "service_subnets": "10.96.0.0/12"}
SUBNET_KEYS = {"pod_subnets": "podSubnets", "service_subnets": "serviceSubnets"}
NO_KUBE_NETWORK = (
    "the config sets neither cluster.network nor a KubeNetworkConfig: Talos {line} then has no Kubernetes "
    "network, so no pod/service accept rule and no kubelet"
)


@dataclass(frozen=True)
class Sourced(Generic[T]):
    """A value and the key that gave it (``cluster.network.podSubnets``) in ``where``;
    ``default``: the config does not set it, ``key`` says what Talos does then."""

    value: T
    key: str
    where: str
    default: bool = False

    @property
    def source(self) -> str:
        return f"{self.key}; {self.where}" if self.default else f"{self.key} ({self.where})"


@dataclass(frozen=True)
class ConfigContext:
    """Each setting the documents give; ``None``: they do not say (Talos's default applies)."""

    pod_subnets: Sourced[tuple[Network, ...]] | None = None
    service_subnets: Sourced[tuple[Network, ...]] | None = None
    host_dns: Sourced[bool] | None = None
    kube_proxy: Sourced[bool] | None = None
    control_plane: Sourced[bool] | None = None
    # Whether a control plane schedules workloads (meaningful where control_plane is True).
    schedules_workloads: Sourced[bool] | None = None

    @property
    def converged(self) -> bool:
        """A control plane that runs workloads."""
        plane, schedules = self.control_plane, self.schedules_workloads
        return bool(plane and plane.value and schedules and schedules.value)


def _get(doc: Mapping[str, Any], path: str) -> Any:
    value: Any = doc
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _bool(value: Any, key: str, where: str) -> Sourced[bool] | None:
    if value is None:
        return None
    if not isinstance(value, bool):
        raise BadInput(f"{where}: {key} must be true or false, not {value!r}")
    return Sourced(value, key, where)


def _subnets(value: Any, key: str, where: str) -> Sourced[tuple[Network, ...]] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise BadInput(f"{where}: {key} must be a list of CIDRs, not {value!r}")
    return Sourced(tuple(parse_network(v, f"{where}: {key}", allow_address=False) for v in value), key, where)


def _blocking_taint(taints: object, key: str, where: str) -> str | None:
    """The effect of the control-plane taint in ``taints`` when it keeps workloads off."""
    if taints is None:
        return None
    if not isinstance(taints, Mapping):
        raise BadInput(f"{where}: {key} must be a mapping")
    value = taints.get(CONTROL_PLANE_LABEL)
    effect = str(value).rpartition(":")[2] if value is not None else ""
    return effect if effect in BLOCKING_EFFECTS else None


def _v1alpha1(doc: Mapping[str, Any], where: str, found: dict[str, Any], seen: dict[str, str]) -> None:
    for key in (k for _, k in CONFLICTS if not k.startswith("Kube")):
        if _get(doc, key) is not None:
            seen.setdefault(key, where)
    for field, key in (("pod_subnets", "podSubnets"), ("service_subnets", "serviceSubnets")):
        value = _subnets(_get(doc, f"cluster.network.{key}"), f"cluster.network.{key}", where)
        found[field] = value or found.get(field)
    enabled = _bool(_get(doc, "machine.features.hostDNS.enabled"), "machine.features.hostDNS.enabled", where)
    key = "machine.features.hostDNS.forwardKubeDNSToHost"
    forward = _bool(_get(doc, key), key, where)
    found["host_dns"] = (enabled if enabled is not None and not enabled.value else forward) or found.get("host_dns")
    disabled = _bool(_get(doc, "cluster.proxy.disabled"), "cluster.proxy.disabled", where)
    if disabled is not None:
        found["kube_proxy"] = Sourced(not disabled.value, disabled.key, where)
    key = "cluster.allowSchedulingOnControlPlanes"
    masters = "cluster.allowSchedulingOnMasters"
    allowed = _bool(_get(doc, key), key, where) or _bool(_get(doc, masters), masters, where)
    found["schedules_workloads"] = allowed or found.get("schedules_workloads")
    effect = _blocking_taint(_get(doc, "machine.nodeTaints"), "machine.nodeTaints", where)
    if effect is not None:
        found["schedules_workloads"] = Sourced(False, f"machine.nodeTaints ({CONTROL_PLANE_LABEL}:{effect})", where)
    machine_type = _get(doc, "machine.type")
    if machine_type is not None:
        found["control_plane"] = Sourced(machine_type in ("controlplane", "init"), "machine.type", where)


def _named(doc: Mapping[str, Any], kind: str, where: str, found: dict[str, Any], seen: dict[str, str]) -> None:
    if kind in ("KubeNetworkConfig", "KubeProxyConfig", "KubeNodeConfig"):
        seen.setdefault(kind, where)
    elif kind == "ResolverConfig" and doc.get("hostDNS"):
        seen.setdefault("ResolverConfig hostDNS", where)
    if kind == "KubeNetworkConfig":
        for field, key in (("pod_subnets", "podSubnets"), ("service_subnets", "serviceSubnets")):
            found[field] = _subnets(doc.get(key), f"KubeNetworkConfig {key}", where) or found.get(field)
    elif kind == "ResolverConfig":
        enabled = _bool(_get(doc, "hostDNS.enabled"), "ResolverConfig hostDNS.enabled", where)
        forward = _bool(_get(doc, "hostDNS.forwardKubeDNSToHost"), "ResolverConfig hostDNS.forwardKubeDNSToHost", where)
        found["host_dns"] = (enabled if enabled is not None and not enabled.value else forward) or found.get("host_dns")
    elif kind == "KubeProxyConfig":
        found["kube_proxy"] = _bool(doc.get("enabled"), "KubeProxyConfig enabled", where) or found.get("kube_proxy")
    elif kind == "KubeNodeConfig":
        labels, taints = doc.get("labels") or {}, doc.get("taints") or {}
        if not isinstance(labels, Mapping) or not isinstance(taints, Mapping):
            raise BadInput(f"{where}: KubeNodeConfig labels and taints must be mappings")
        if CONTROL_PLANE_LABEL in labels:
            found["control_plane"] = Sourced(True, f"KubeNodeConfig labels {CONTROL_PLANE_LABEL}", where)
        effect = _blocking_taint(taints, "KubeNodeConfig taints", where)
        key = (
            f"KubeNodeConfig taints ({CONTROL_PLANE_LABEL}:{effect})"
            if effect
            else (f"KubeNodeConfig taints (no {CONTROL_PLANE_LABEL}:NoSchedule)")
        )
        found["schedules_workloads"] = Sourced(effect is None, key, where)


def config_context(
    documents: Iterable[tuple[str, Mapping[str, Any]]], version: TalosVersion | str | None = None
) -> ConfigContext:
    """The settings of ``documents`` (``(where, document)``, in the order talosctl applies them),
    on the Talos ``version`` (default: the newest release), which decides the subnets of a
    whole config that lists none."""
    found: dict[str, Any] = {}
    seen: dict[str, str] = {}  # where each conflicting section first stands
    whole: str | None = None  # where the v1alpha1 document of a whole config stands
    for where, doc in documents:
        kind = doc.get("kind")
        if isinstance(kind, str):
            _named(doc, kind, where, found, seen)
        elif "machine" in doc or "cluster" in doc or doc.get("version") == "v1alpha1":
            if doc.get("version") == "v1alpha1":
                whole = whole or where
            _v1alpha1(doc, where, found, seen)
    for document, legacy in CONFLICTS:
        if document in seen and legacy in seen:
            raise BadInput(
                f"{seen[document]}: {document} and {legacy} ({seen[legacy]}) are both set, and Talos refuses the "
                f"config; keep the {document.split()[0]} document only"
            )
    if whole is not None and found.get("host_dns") is None:
        found["host_dns"] = Sourced(False, "machine.features.hostDNS (not set: Talos's default)", whole)
    if whole is not None:
        _subnet_defaults(found, seen, whole, resolve(version))
    return ConfigContext(**found)


def _subnet_defaults(found: dict[str, Any], seen: dict[str, str], whole: str, version: TalosVersion) -> None:
    """What Talos uses for the subnets a whole config does not list (see the module's notes)."""
    for field, key in SUBNET_KEYS.items():
        if found.get(field) is not None:
            continue
        if "KubeNetworkConfig" in seen:
            found[field] = Sourced(
                (), f"KubeNetworkConfig lists no {key}, and Talos adds none", seen["KubeNetworkConfig"], True
            )
        elif "cluster.network" in seen:
            default = parse_network(DEFAULT_SUBNETS[field], key, allow_address=False)
            found[field] = Sourced(
                (default,), f"Talos's default: cluster.network sets no {key}", seen["cluster.network"], True
            )
        elif version.kube_network_documents:
            found[field] = Sourced((), NO_KUBE_NETWORK.format(line=version.line), whole, True)
        else:
            default = parse_network(DEFAULT_SUBNETS[field], key, allow_address=False)
            found[field] = Sourced((default,), "Talos's default: the config sets no cluster.network", whole, True)


# ---------------------------------------------------------------------------------------
# The command line over the config

COMMAND_LINE = "command line"


@dataclass(frozen=True)
class Given:
    """What the command line says of the node (parsed); empty or False: nothing."""

    pod_subnets: tuple[Network, ...] = ()
    service_subnets: tuple[Network, ...] = ()
    no_host_dns: bool = False
    no_kube_proxy: bool = False
    converged: bool = False


def _shown(value: object) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return ", ".join(str(n) for n in value) or "none"  # type: ignore[attr-defined]


def _from(found: Sourced[Any]) -> str:
    """``from KEY (WHERE)``, or ``(Talos's default: ...; WHERE)`` for a value the config does not set."""
    return f"({found.source})" if found.default else f"from {found.source}"


def overridden(config: ConfigContext, given: Given, label: Callable[[str], str]) -> tuple[ConfigContext, list[str]]:
    """``config`` with each flag given winning (its source is the command line), and the
    notes: each value from the config, or the flag that wins over it. ``label`` names a
    field's flag (``pod_subnets`` -> ``--pod-subnet``); a flag the config does not contradict
    needs no note."""
    notes: list[str] = []
    changes: dict[str, Any] = {}
    flags: tuple[tuple[str, str, str, object], ...] = (
        ("pod_subnets", "pod subnets", "pod_subnets", given.pod_subnets or None),
        ("service_subnets", "service subnets", "service_subnets", given.service_subnets or None),
        ("host_dns", "host DNS", "host_dns", False if given.no_host_dns else None),
        ("kube_proxy", "kube-proxy", "kube_proxy", False if given.no_kube_proxy else None),
    )
    for field, what, flag, value in flags:
        found: Sourced[Any] | None = getattr(config, field)
        if value is not None:
            changes[field] = Sourced(value, label(flag), COMMAND_LINE)
        if found is None:
            continue
        if value is not None and found.value != value:
            notes.append(f"{label(flag)} wins over {what} {_shown(found.value)} {_from(found)}")
        else:
            notes.append(f"{what} {_shown(found.value)} {_from(found)}")
    if given.converged:
        schedules = config.schedules_workloads
        if schedules is not None and not schedules.value and config.control_plane and config.control_plane.value:
            notes.append(f"{label('converged')} wins over workloads off from {schedules.source}")
        changes["schedules_workloads"] = Sourced(True, label("converged"), COMMAND_LINE)
        if config.control_plane is None:
            changes["control_plane"] = Sourced(True, label("converged"), COMMAND_LINE)
    return (replace(config, **changes) if changes else config), notes
