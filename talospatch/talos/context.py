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

Documents are read in order; a later one wins, as talosctl merges patches.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from talospatch.errors import BadInput
from talospatch.talos.addresses import parse_network
from talospatch.talos.documents import Network

T = TypeVar("T")

CONTROL_PLANE_LABEL = "node-role.kubernetes.io/control-plane"


@dataclass(frozen=True)
class Sourced(Generic[T]):
    """A value and the key that gave it (``cluster.network.podSubnets``) in ``where``."""

    value: T
    key: str
    where: str

    @property
    def source(self) -> str:
        return f"{self.key} ({self.where})"


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


def _v1alpha1(doc: Mapping[str, Any], where: str, found: dict[str, Any]) -> None:
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
    found["schedules_workloads"] = _bool(_get(doc, key), key, where) or found.get("schedules_workloads")
    machine_type = _get(doc, "machine.type")
    if machine_type is not None:
        found["control_plane"] = Sourced(machine_type in ("controlplane", "init"), "machine.type", where)


def _named(doc: Mapping[str, Any], kind: str, where: str, found: dict[str, Any]) -> None:
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
        tainted = str(taints.get(CONTROL_PLANE_LABEL, "")).endswith("NoSchedule")
        key = f"KubeNodeConfig taints ({'' if tainted else 'no '}{CONTROL_PLANE_LABEL}:NoSchedule)"
        found["schedules_workloads"] = Sourced(not tainted, key, where)


def config_context(documents: Iterable[tuple[str, Mapping[str, Any]]]) -> ConfigContext:
    """The settings of ``documents`` (``(where, document)``, in the order talosctl applies them)."""
    found: dict[str, Any] = {}
    for where, doc in documents:
        kind = doc.get("kind")
        if isinstance(kind, str):
            _named(doc, kind, where, found)
        elif "machine" in doc or "cluster" in doc:
            _v1alpha1(doc, where, found)
    return ConfigContext(**found)
