"""One role's options from the cluster's (``talospatch.generate.roles``): the spec and export both use it."""

from __future__ import annotations

import pytest

from talospatch.errors import BadInput
from talospatch.generate.expand import expand
from talospatch.generate.options import GenOptions
from talospatch.generate.profiles import Catalog
from talospatch.generate.roles import addon_applies, role_options

CATALOG = Catalog.load()
CLUSTER = GenOptions(
    subnets=("192.168.30.0/24",),
    controlplane=("192.168.30.11",),
    admins=("196.45.28.20/32",),
    addons=("etcd-metrics", "hubble", "metallb"),
    nodeport=True,
    nodeport_from=("203.0.113.0/24",),
    bgp_peers=("192.168.30.1",),
)


def test_cluster_settings_apply_where_they_mean_something() -> None:
    cp = role_options("controlplane", CLUSTER, CATALOG)
    worker = role_options("worker", CLUSTER, CATALOG)
    assert (cp.role, worker.role) == ("controlplane", "worker")
    assert cp.addons == ("etcd-metrics", "hubble", "metallb")
    assert worker.addons == ("hubble", "metallb")
    assert (cp.nodeport, cp.nodeport_from) == (False, ())
    assert (worker.nodeport, worker.nodeport_from) == (True, ("203.0.113.0/24",))
    assert cp.controlplane == ("192.168.30.11",)
    assert worker.controlplane == ()  # no worker rule takes the controlplane group
    assert cp.bgp_peers == worker.bgp_peers == ()  # no bgp add-on: no rule takes the group
    for options in (cp, worker):
        expand(options, CATALOG)


def test_a_tunnel_applies_where_the_cni_has_one() -> None:
    cluster = GenOptions(subnets=("192.168.30.0/24",), cni="flannel", tunnel="vxlan")
    assert role_options("worker", cluster, CATALOG).tunnel is None
    assert role_options("worker", cluster._replace(cni="cilium"), CATALOG).tunnel == "vxlan"


def test_converged_goes_to_the_control_plane_with_the_workers_addons() -> None:
    cluster = GenOptions(subnets=("192.168.30.0/24",), converged=True, nodeport=True, addons=("metallb",))
    cp = role_options("controlplane", cluster, CATALOG)
    worker = role_options("worker", cluster, CATALOG)
    assert (cp.converged, cp.nodeport, cp.addons) == (True, True, ("metallb",))
    assert (worker.converged, worker.nodeport) == (False, True)
    assert any(r.document.name.startswith("nodeport-ingress") for r in expand(cp, CATALOG).rules)


def test_a_roles_own_settings_replace_the_clusters_and_always_apply() -> None:
    own = {"addons": ("node-exporter",), "cni": "flannel", "admins": ()}
    worker = role_options("worker", CLUSTER._replace(tunnel="vxlan"), CATALOG, own=own)
    assert (worker.addons, worker.cni, worker.tunnel, worker.admins) == (("node-exporter",), "flannel", None, ())
    with pytest.raises(BadInput, match=r"^tunnel does not apply to CNI flannel"):
        role_options("worker", CLUSTER, CATALOG, own={**own, "tunnel": "vxlan"})
    with pytest.raises(BadInput, match="add-on nodeport applies to role worker only"):
        role_options("controlplane", CLUSTER, CATALOG, own={"nodeport": True})


def test_extra_addons_always_apply() -> None:
    options = role_options("worker", CLUSTER, CATALOG, extra_addons=("spegel",))
    assert options.addons == ("hubble", "metallb", "spegel")


def test_an_addon_for_other_roles() -> None:
    etcd = CATALOG.get("etcd-metrics", "addon")
    nodeport = CATALOG.get("nodeport", "addon")
    assert addon_applies(etcd, "controlplane", converged=False)
    assert not addon_applies(etcd, "worker", converged=False)
    assert not addon_applies(nodeport, "controlplane", converged=False)
    assert addon_applies(nodeport, "controlplane", converged=True)
    assert addon_applies(CATALOG.get("hubble", "addon"), "worker", converged=False)
