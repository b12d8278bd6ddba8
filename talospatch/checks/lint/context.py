"""What the node's config says beside the firewall (``talospatch.talos.context``), for check.

Pod and service subnets and host DNS change what the firewall checks compute; kube-proxy off
and a control plane that schedules workloads are hazards of their own. Such a control plane
needs the NodePorts, and the add-ons restricted to workers (``roles: [worker]``) that ``gen
--converged`` gives it (``talospatch.generate.roles.addon_applies``). A patch does not say which
add-ons the cluster selected (gen refuses a worker-only add-on on a control plane that is not
converged, so not even its header names one): check knows those given with ``--with``, and
those whose rules stand in a worker's file checked in the same run.
"""

from __future__ import annotations

import dataclasses

from talospatch.checks.lint.findings import Collector
from talospatch.checks.lint.firewall import covered
from talospatch.checks.lint.options import LintOptions
from talospatch.generate.expand import CONVERGED_ROLE
from talospatch.generate.profiles import Catalog, LoadedProfile, ProfileRule
from talospatch.generate.roles import addon_applies
from talospatch.nft.compile import DEFAULT_NODEPORT_RANGE, NodeContext
from talospatch.talos.context import ConfigContext
from talospatch.talos.documents import Firewall

# The add-on a converged control plane's NodePorts come from: reported as the NodePorts.
NODEPORT_ADDON = "nodeport"


def node_context(context: NodeContext, config: ConfigContext) -> NodeContext:
    """``context`` with the config's pod and service subnets, host DNS and kube-proxy."""
    if config.pod_subnets is not None:
        context = dataclasses.replace(context, pod_subnets=config.pod_subnets.value)
    if config.service_subnets is not None:
        context = dataclasses.replace(context, service_subnets=config.service_subnets.value)
    if config.host_dns is not None:
        context = dataclasses.replace(context, host_dns=config.host_dns.value)
    if config.kube_proxy is not None and not config.kube_proxy.value:
        context = dataclasses.replace(context, nodeport_range=None)
    return context


def check_kube_proxy(fw: Firewall, out: Collector) -> None:
    """kube-proxy off: NodePort traffic never reaches the Talos firewall."""
    proxy = out.config.kube_proxy
    if proxy is None or proxy.value:
        return
    out.add(
        "firewall",
        "nodeport-bypass",
        f"kube-proxy is off ({proxy.source}): the CNI's kube-proxy replacement handles NodePort traffic in eBPF "
        "before nftables, so it bypasses the Talos firewall and NodePort rules filter nothing",
        "filter NodePorts in the CNI (Cilium host firewall / network policy), or keep kube-proxy",
    )


def check_converged(fw: Firewall, out: Collector) -> None:
    """A control plane that schedules workloads, and no rule for the NodePorts pods serve."""
    if not out.config.converged or fw.default_action != "block":
        return
    nodeports = DEFAULT_NODEPORT_RANGE
    missing = [proto for proto in ("tcp", "udp") if not covered(fw, proto, nodeports)]
    schedules = out.config.schedules_workloads
    source = schedules.source if schedules else "the config"
    if missing:
        out.add(
            "firewall",
            "converged-missing",
            f"this control plane schedules workloads ({source}) and no rule allows NodePorts "
            f"{nodeports}/{'+'.join(missing)}, so NodePort services and worker add-ons on it are unreachable",
            "generate it with gen --role controlplane --converged (worker add-ons and NodePorts), or taint it",
        )
    for loaded, evidence, entries in _worker_addons(out.options):
        lacking = [
            f"{p.label}/{proto}" for e in entries for proto in e.protocol for p in e.ports if not covered(fw, proto, p)
        ]
        if lacking:
            out.add(
                "firewall",
                "converged-missing",
                f"this control plane schedules workloads ({source}) and lacks the worker add-on {loaded.name} "
                f"({evidence}): no rule allows {', '.join(lacking)}, so its pods on this node are unreachable",
                "generate it with gen --role controlplane --converged (a spec: converged: true), which takes "
                "the workers' add-ons, or taint it",
            )


def _worker_only(loaded: LoadedProfile) -> bool:
    """An add-on for workers that a converged control plane takes (NodePorts are reported as such)."""
    return (
        loaded.kind == "addon"
        and loaded.name != NODEPORT_ADDON
        and not addon_applies(loaded, CONVERGED_ROLE, False)
        and addon_applies(loaded, CONVERGED_ROLE, True)
    )


def _worker_addons(opts: LintOptions) -> list[tuple[LoadedProfile, str, tuple[ProfileRule, ...]]]:
    """The worker-only add-ons the run knows the cluster selected: with why it knows, and the
    entries whose ports the control plane needs."""
    found: list[tuple[LoadedProfile, str, tuple[ProfileRule, ...]]] = []
    for loaded in opts.profiles:
        if _worker_only(loaded):
            entries = tuple(e for e in loaded.profile.rules if e.tunnel is None)
            found.append((loaded, f"{opts.labels('addons')} {loaded.name}", entries))
    if not opts.beside:
        return found
    given = {loaded.name for loaded, _, _ in found}
    catalog = Catalog.load(opts.profiles_dir, opts.labels("profiles_dir"))
    for loaded in catalog.all():
        if loaded.name in given or not _worker_only(loaded):
            continue
        for path, names in opts.beside:
            entries = tuple(e for e in loaded.profile.rules if any(name in names for name, _ in e.document_names()))
            if entries:
                found.append((loaded, f"its rules stand in {path}, checked beside it", entries))
                break
    return found
