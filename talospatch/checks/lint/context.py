"""What the node's config says beside the firewall (``talospatch.talos.context``), for check.

Pod and service subnets and host DNS change what the firewall checks compute; kube-proxy off
and a control plane that schedules workloads are hazards of their own.
"""

from __future__ import annotations

import dataclasses

from talospatch.checks.lint.findings import Collector
from talospatch.checks.lint.firewall import covered
from talospatch.nft.compile import DEFAULT_NODEPORT_RANGE, NodeContext
from talospatch.talos.context import ConfigContext
from talospatch.talos.documents import Firewall


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
    if not missing:
        return
    schedules = out.config.schedules_workloads
    source = schedules.source if schedules else "the config"
    out.add(
        "firewall",
        "converged-missing",
        f"this control plane schedules workloads ({source}) and no rule allows NodePorts "
        f"{nodeports}/{'+'.join(missing)}, so NodePort services and worker add-ons on it are unreachable",
        "generate it with gen --role controlplane --converged (worker add-ons and NodePorts), or taint it",
    )
