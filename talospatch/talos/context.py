"""What a node's own machine config says about the cluster around its firewall.

The compiled ruleset and some warnings depend on more than the firewall documents: the pod
and service subnets (the pod/service and host DNS accept rules), whether CoreDNS forwards to
the host DNS resolver (the host DNS rules), whether kube-proxy runs (who serves NodePorts)
and whether a control plane runs workloads (then it needs NodePorts and the workers' add-ons).
A machine config, or ``talosctl get machineconfig -o yaml``, holds each of them in one of two
forms, and ``read_context`` reads both; ``resolve`` then lets a command-line flag win, with a
note, and says where every value came from (``pod subnets 10.200.0.0/16 from
cluster.network.podSubnets (node.yaml: document 1)``).

The shapes, from siderolabs/talos (main at ``ad8823176`` and tag v1.14.0-rc.1, identical for
these files; the multi-document kinds do not exist in v1.13):

- ``pkg/machinery/config/types/v1alpha1/v1alpha1_types.go``: ``cluster.network.podSubnets`` /
  ``serviceSubnets`` (``ClusterNetworkConfig.PodSubnet``/``ServiceSubnet``, ``[]string``),
  ``cluster.proxy.disabled`` (``ProxyConfig.Disabled``), ``cluster.allowSchedulingOnControlPlanes``
  (and the older ``allowSchedulingOnMasters``), ``machine.features.hostDNS`` with ``enabled`` and
  ``forwardKubeDNSToHost`` (``HostDNSConfig``), ``machine.nodeTaints``, ``machine.type``.
- ``v1alpha1/v1alpha1_clusterconfig.go``: empty pod/service subnets mean 10.244.0.0/16 and
  10.96.0.0/12; ``ScheduleOnControlPlanes``. ``v1alpha1/v1alpha1_k8s_bridge.go``: a control
  plane gets the taint ``node-role.kubernetes.io/control-plane: NoSchedule`` unless scheduling is
  allowed. ``v1alpha1/v1alpha1_validation.go``: ``forwardKubeDNSToHost`` needs ``enabled``.
- ``k8s/network.go``: ``KubeNetworkConfig`` (``podSubnets``, ``serviceSubnets``, ``[]meta.Prefix``;
  one or two each, one per family, host bits refused, as many pod as service subnets).
- ``k8s/proxy.go``: ``KubeProxyConfig`` with ``enabled`` (``*bool``, unset is enabled); a
  control-plane-only document.
- ``k8s/node.go``: ``KubeNodeConfig`` has no scheduling switch: it carries the node's ``taints``,
  and ``pkg/machinery/config/generate/kubernetes.go`` writes the control-plane ``NoSchedule``
  taint there unless scheduling on control planes is allowed. So a control plane runs
  workloads when its ``KubeNodeConfig`` has no ``NoSchedule``/``NoExecute`` taint of that key.
- ``network/resolver.go``: ``ResolverConfig.hostDNS`` (``enabled``, ``forwardKubeDNSToHost``);
  forwarding needs ``enabled``.
- Each of those four documents refuses its v1alpha1 counterpart beside it
  (``V1Alpha1ConflictValidate``), and ``pkg/machinery/config/container/container.go`` prefers
  the document (``ResolverConfig`` only when its ``hostDNS.enabled`` is true).
- ``internal/app/machined/pkg/controllers/network/nftables_chain_config.go``: the host DNS rules
  exist only when ``ForwardKubeDNSToHost()`` is true.

A whole machine config (a ``version: v1alpha1`` document) that does not set host DNS or
scheduling has Talos's zero values: forwarding off, control planes tainted. A patch that does
not set them says nothing; the caller's defaults apply. Pure: no printing, no files.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Generic, TypeVar

from talospatch.errors import BadInput
from talospatch.talos.addresses import parse_network
from talospatch.talos.documents import Firewall, Network, parse_prefix

T = TypeVar("T")

API_VERSION = "v1alpha1"
NETWORK_KIND = "KubeNetworkConfig"
PROXY_KIND = "KubeProxyConfig"
NODE_KIND = "KubeNodeConfig"
RESOLVER_KIND = "ResolverConfig"
CONTROL_PLANE_TAINT = "node-role.kubernetes.io/control-plane"
# Taint effects that keep pods off the node (PreferNoSchedule only discourages them).
BLOCKING_EFFECTS = ("NoSchedule", "NoExecute")
CONTROL_PLANE_TYPES = ("controlplane", "init")


@dataclass(frozen=True)
class Found(Generic[T]):
    """One value a config holds: ``key`` as the config spells it, in the document ``where``.

    ``unset``: the key is absent from a whole machine config, so Talos's zero value holds.
    """

    value: T
    key: str
    where: str
    unset: bool = False

    def describe(self, what: str, shown: str) -> str:
        if self.unset:
            return f"{what} {shown}: {self.key} is not set in {self.where} (Talos's default)"
        return f"{what} {shown} from {self.key} ({self.where})"

    @property
    def origin(self) -> str:
        return f"{self.key} in {self.where}"


@dataclass(frozen=True)
class ConfigContext:
    """What the documents say; ``None``: they do not say it."""

    pod_subnets: Found[tuple[Network, ...]] | None = None
    service_subnets: Found[tuple[Network, ...]] | None = None
    host_dns: Found[bool] | None = None  # forwardKubeDNSToHost
    kube_proxy: Found[bool] | None = None  # kube-proxy deployed
    scheduling: Found[bool] | None = None  # workloads on a control plane
    machine_type: str | None = None


@dataclass
class _Reader:
    """The documents read so far, in apply order: a later value replaces an earlier one."""

    legacy: dict[str, Found[Any]] = field(default_factory=dict)
    documents: dict[str, Found[Any]] = field(default_factory=dict)
    # Where each section or document was seen: "cluster.network", "KubeNetworkConfig", ...
    seen: dict[str, str] = field(default_factory=dict)
    machine_type: str | None = None
    whole: str | None = None  # where the v1alpha1 document of a whole machine config is

    def read(self, where: str, data: Mapping[str, Any]) -> None:
        kind = data.get("kind")
        if kind is None:
            self._v1alpha1(where, data)
            return
        if kind not in (NETWORK_KIND, PROXY_KIND, NODE_KIND, RESOLVER_KIND) or data.get("$patch") == "delete":
            return
        if data.get("apiVersion") != API_VERSION:
            raise BadInput(f"{where}: {kind} apiVersion must be {API_VERSION}")
        self.seen[kind] = where
        if kind == NETWORK_KIND:
            for key in ("podSubnets", "serviceSubnets"):
                if key in data:
                    self.documents[key] = Found(_kube_subnets(data[key], where, key), f"{kind}.{key}", where)
        elif kind == PROXY_KIND:
            enabled = _bool(data.get("enabled", True), where, f"{kind}.enabled")
            self.documents["kube_proxy"] = Found(enabled, f"{kind}.enabled", where, unset="enabled" not in data)
        elif kind == NODE_KIND:
            taints = _mapping(data.get("taints"), where, f"{kind}.taints")
            tainted = _tainted(taints, where, f"{kind}.taints")
            self.documents["scheduling"] = Found(not tainted, _taint_key(f"{kind}.taints", tainted), where)
        else:
            host = _mapping(data.get("hostDNS"), where, f"{kind}.hostDNS")
            if host:
                self.seen["ResolverConfig.hostDNS"] = where
            self._host_dns(host, where, f"{kind}.hostDNS", self.documents)

    def _v1alpha1(self, where: str, data: Mapping[str, Any]) -> None:
        """The v1alpha1 document of a whole config, or a patch of it (no ``kind``)."""
        if data.get("version") == API_VERSION:
            self.whole = where
        machine = _mapping(data.get("machine"), where, "machine")
        cluster = _mapping(data.get("cluster"), where, "cluster")
        if isinstance(machine.get("type"), str):
            self.machine_type = machine["type"]
        network = _mapping(cluster.get("network"), where, "cluster.network")
        if "network" in cluster:
            self.seen["cluster.network"] = where
        for key in ("podSubnets", "serviceSubnets"):
            subnets = _legacy_subnets(network.get(key), where, f"cluster.network.{key}")
            if subnets:  # empty or absent: Talos's default
                self.legacy[key] = Found(subnets, f"cluster.network.{key}", where)
        proxy = _mapping(cluster.get("proxy"), where, "cluster.proxy")
        if "proxy" in cluster:
            self.seen["cluster.proxy"] = where
        if "disabled" in proxy:
            disabled = _bool(proxy["disabled"], where, "cluster.proxy.disabled")
            self.legacy["kube_proxy"] = Found(not disabled, "cluster.proxy.disabled", where)
        for key in ("allowSchedulingOnMasters", "allowSchedulingOnControlPlanes"):
            if key in cluster:
                self.seen["cluster.allowScheduling"] = where
                self.legacy[key] = Found(_bool(cluster[key], where, f"cluster.{key}"), f"cluster.{key}", where)
        if "nodeTaints" in machine:
            self.seen["machine.nodeTaints"] = where
            taints = _mapping(machine["nodeTaints"], where, "machine.nodeTaints")
            if _tainted(taints, where, "machine.nodeTaints"):
                self.legacy["tainted"] = Found(False, _taint_key("machine.nodeTaints", True), where)
            else:
                self.legacy.pop("tainted", None)
        features = _mapping(machine.get("features"), where, "machine.features")
        if "hostDNS" in features:
            self.seen["machine.features.hostDNS"] = where
        self._host_dns(
            _mapping(features.get("hostDNS"), where, "machine.features.hostDNS"),
            where,
            "machine.features.hostDNS",
            self.legacy,
        )

    @staticmethod
    def _host_dns(host: Mapping[str, Any], where: str, prefix: str, into: dict[str, Found[Any]]) -> None:
        for key in ("enabled", "forwardKubeDNSToHost"):
            if key in host:
                into[f"dns_{key}"] = Found(_bool(host[key], where, f"{prefix}.{key}"), f"{prefix}.{key}", where)

    def result(self) -> ConfigContext:
        self._conflicts()
        pods = self.documents.get("podSubnets") or self.legacy.get("podSubnets")
        services = self.documents.get("serviceSubnets") or self.legacy.get("serviceSubnets")
        if NETWORK_KIND in self.seen:
            pods, services = self._kube_network()
        return ConfigContext(
            pod_subnets=pods,
            service_subnets=services,
            host_dns=self._resolved_host_dns(),
            kube_proxy=self.documents.get("kube_proxy") or self.legacy.get("kube_proxy"),
            scheduling=self._scheduling(),
            machine_type=self.machine_type,
        )

    def _conflicts(self) -> None:
        """A document beside its v1alpha1 counterpart: Talos refuses the config."""
        for document, legacy in (
            (NETWORK_KIND, "cluster.network"),
            (PROXY_KIND, "cluster.proxy"),
            (NODE_KIND, "cluster.allowScheduling"),
            (NODE_KIND, "machine.nodeTaints"),
            ("ResolverConfig.hostDNS", "machine.features.hostDNS"),
        ):
            if document in self.seen and legacy in self.seen:
                shown = "cluster.allowSchedulingOnControlPlanes" if legacy == "cluster.allowScheduling" else legacy
                raise BadInput(
                    f"{self.seen[document]}: {document} and {shown} ({self.seen[legacy]}) are both set, and Talos "
                    f"refuses the config; keep the {document.split('.')[0]} document only"
                )

    def _kube_network(self) -> tuple[Found[tuple[Network, ...]], Found[tuple[Network, ...]]]:
        where = self.seen[NETWORK_KIND]
        found = []
        for key, what in (("podSubnets", "pod subnets"), ("serviceSubnets", "service subnets")):
            value = self.documents.get(key)
            if value is None or not value.value:
                raise BadInput(f"{where}: {NETWORK_KIND}.{key}: {what}: at least one subnet must be specified")
            found.append(value)
        pods, services = found
        if len(pods.value) != len(services.value):
            raise BadInput(
                f"{where}: {NETWORK_KIND}: the number of pod subnets must match the number of service subnets"
            )
        return pods, services

    def _resolved_host_dns(self) -> Found[bool] | None:
        for into in (self.documents, self.legacy):
            enabled, forward = into.get("dns_enabled"), into.get("dns_forwardKubeDNSToHost")
            if forward is not None and forward.value and enabled is not None and not enabled.value:
                raise BadInput(
                    f"{forward.where}: {forward.key} is true and {enabled.key} false: Talos refuses the config "
                    "(forwarding needs the host DNS resolver); set hostDNS.enabled: true or drop forwarding"
                )
        doc_enabled = self.documents.get("dns_enabled")
        if doc_enabled is not None and doc_enabled.value:  # Talos reads ResolverConfig only when enabled
            forward = self.documents.get("dns_forwardKubeDNSToHost")
            return forward or Found(False, "ResolverConfig.hostDNS.forwardKubeDNSToHost", doc_enabled.where, True)
        if doc_enabled is not None:
            return doc_enabled
        forward = self.legacy.get("dns_forwardKubeDNSToHost")
        if forward is not None:
            return forward
        if self.whole is not None:
            return Found(False, "machine.features.hostDNS.forwardKubeDNSToHost", self.whole, unset=True)
        return None

    def _scheduling(self) -> Found[bool] | None:
        if "scheduling" in self.documents:
            return self.documents["scheduling"]
        tainted = self.legacy.get("tainted")
        if tainted is not None:
            return tainted
        allowed = self.legacy.get("allowSchedulingOnControlPlanes") or self.legacy.get("allowSchedulingOnMasters")
        if allowed is not None:
            return allowed
        if self.whole is not None:
            return Found(False, "cluster.allowSchedulingOnControlPlanes", self.whole, unset=True)
        return None


def _mapping(value: object, where: str, key: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise BadInput(f"{where}: {key} must be a mapping, not {value!r}")
    return value


def _bool(value: object, where: str, key: str) -> bool:
    if not isinstance(value, bool):
        raise BadInput(f"{where}: {key}: {value!r} is not true or false")
    return value


def _items(value: object, where: str, key: str) -> list[object]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise BadInput(f"{where}: {key} must be a list of CIDRs, not {value!r}")
    return value


def _legacy_subnets(value: object, where: str, key: str) -> tuple[Network, ...]:
    """v1alpha1's strings, as Talos's ``netip.ParsePrefix`` takes them (host bits masked)."""
    out: list[Network] = []
    for index, item in enumerate(_items(value, where, key)):
        try:
            out.append(parse_prefix(item))
        except ValueError:
            raise BadInput(f"{where}: {key}[{index}]: {item!r} is not a CIDR (want e.g. 10.244.0.0/16)") from None
    return tuple(dict.fromkeys(out))


def _kube_subnets(value: object, where: str, key: str) -> tuple[Network, ...]:
    """``KubeNetworkConfig``'s prefixes as Talos validates them: one or two, one per family,
    no host bits."""
    what = "pod subnets" if key == "podSubnets" else "service subnets"
    out: list[Network] = []
    for index, item in enumerate(_items(value, where, f"{NETWORK_KIND}.{key}")):
        if not isinstance(item, str):
            raise BadInput(f"{where}: {NETWORK_KIND}.{key}[{index}]: {item!r} is not a CIDR (want e.g. 10.244.0.0/16)")
        out.append(parse_network(item, f"{where}: {NETWORK_KIND}.{key}[{index}]", allow_address=False))
    if len(out) > 2 or len({n.version for n in out}) != len(out):
        raise BadInput(f"{where}: {NETWORK_KIND}.{key}: {what}: at most one IPv4 and one IPv6 subnet can be specified")
    return tuple(out)


def _tainted(taints: Mapping[str, Any], where: str, key: str) -> bool:
    """Whether the control-plane taint keeps pods off (``effect`` or ``value:effect``)."""
    value = taints.get(CONTROL_PLANE_TAINT)
    if value is None:
        return False
    if not isinstance(value, str):
        raise BadInput(f"{where}: {key}.{CONTROL_PLANE_TAINT}: {value!r} is not a taint such as NoSchedule")
    return value.rpartition(":")[2] in BLOCKING_EFFECTS


def _taint_key(key: str, tainted: bool) -> str:
    return f"{key} {'with' if tainted else 'without'} the {CONTROL_PLANE_TAINT} NoSchedule taint"


def read_context(documents: Iterable[tuple[str, Mapping[str, Any]]]) -> ConfigContext:
    """What ``documents`` (``(where, data)`` in apply order) say; ``BadInput`` for a value
    Talos would refuse (a bad CIDR, a document beside its v1alpha1 counterpart)."""
    reader = _Reader()
    for where, data in documents:
        reader.read(where, data)
    return reader.result()


# ---------------------------------------------------------------------------------------
# The command line's values over the config's


@dataclass(frozen=True)
class Given:
    """What the command line says about the node's surroundings (parsed); empty: nothing."""

    pod_subnets: tuple[Network, ...] = ()
    service_subnets: tuple[Network, ...] = ()
    no_host_dns: bool = False
    no_kube_proxy: bool = False
    converged: bool = False


@dataclass(frozen=True)
class Context:
    """The values a command works with; ``None``: neither the config nor a flag says, so the
    caller's default holds. ``notes``: where each value came from, and each flag that won."""

    pod_subnets: tuple[Network, ...] | None = None
    service_subnets: tuple[Network, ...] | None = None
    host_dns: bool | None = None
    kube_proxy: bool | None = None
    # What says kube-proxy is off, or the control plane runs workloads (for messages).
    kube_proxy_off_by: str | None = None
    converged_by: str | None = None
    machine_type: str | None = None
    notes: tuple[str, ...] = ()

    @property
    def converged(self) -> bool:
        return self.converged_by is not None


def _nets(networks: Iterable[Network]) -> str:
    return ", ".join(str(n) for n in networks)


def _on(value: bool) -> str:
    return "on" if value else "off"


def resolve(found: ConfigContext, given: Given, label: Callable[[str], str]) -> Context:
    """The flags over the config: a flag wins, with a note when the config said otherwise.

    ``label`` names a field's flag (``pod_subnets`` -> ``--pod-subnet``).
    """
    notes: list[str] = []

    def subnets(name: str, what: str, flag: tuple[Network, ...], config: Found[tuple[Network, ...]] | None) -> Any:
        if flag:
            if config is not None and set(config.value) != set(flag):
                notes.append(
                    f"{label(name)} {_nets(flag)} wins over {config.key} {_nets(config.value)} ({config.where})"
                )
            return flag
        if config is not None:
            notes.append(config.describe(what, _nets(config.value)))
            return config.value
        return None

    def switch(name: str, what: str, off: bool, config: Found[bool] | None) -> bool | None:
        if off:
            if config is not None and config.value:
                notes.append(f"{label(name)} wins over {config.origin}, which has {what} {_on(config.value)}")
            return False
        if config is not None:
            notes.append(config.describe(what, _on(config.value)))
            return config.value
        return None

    context = Context(
        pod_subnets=subnets("pod_subnets", "pod subnets", given.pod_subnets, found.pod_subnets),
        service_subnets=subnets("service_subnets", "service subnets", given.service_subnets, found.service_subnets),
        host_dns=switch("host_dns", "host DNS forwarding", given.no_host_dns, found.host_dns),
        kube_proxy=switch("kube_proxy", "kube-proxy", given.no_kube_proxy, found.kube_proxy),
        machine_type=found.machine_type,
    )
    if context.kube_proxy is False:
        by = label("kube_proxy") if given.no_kube_proxy or found.kube_proxy is None else found.kube_proxy.origin
        context = replace(context, kube_proxy_off_by=by)
    converged_by = None
    scheduling = found.scheduling
    if given.converged:
        converged_by = label("converged")
        if scheduling is not None and not scheduling.value and found.machine_type in CONTROL_PLANE_TYPES:
            notes.append(f"{converged_by} wins over {scheduling.origin}: the control plane runs no workloads there")
    elif scheduling is not None and found.machine_type != "worker":
        notes.append(scheduling.describe("workloads on the control plane:", "yes" if scheduling.value else "no"))
        if scheduling.value:
            converged_by = scheduling.origin
    return replace(context, converged_by=converged_by, notes=tuple(notes))


def nodeport_bypass(by: str, firewall: Firewall) -> str:
    """Why NodePorts pass by the Talos firewall when kube-proxy is off (``by`` says so), and
    which of ``firewall``'s rules that leaves without effect."""
    covering = [
        r.name
        for r in firewall.rules
        if r.portSelector.protocol in ("tcp", "udp") and any(p.lo <= 32767 and p.hi >= 30000 for p in r.ports)
    ]
    if covering:
        verb = "does" if len(covering) == 1 else "do"
        what = f"{', '.join(covering)} {verb} not filter them"
    else:
        what = "no rule can close them"
    return (
        f"kube-proxy is off ({by}): NodePorts 30000-32767 are served by its replacement (such as Cilium's eBPF) "
        f"before nftables and bypass the Talos firewall; {what}"
    )


def runs_workloads(context: Context, role: str | None) -> bool:
    """Whether the node is a control plane that runs workloads (``role``: what the command was told)."""
    if not context.converged:
        return False
    kind = context.machine_type
    return kind in CONTROL_PLANE_TYPES or (kind is None and role in (None, "controlplane"))
