"""The pod subnet a machine config names decides a real packet's verdict.

In block mode Talos accepts traffic whose source and destination are both in the pod or
service subnets. ``nft`` on a whole machine config reads ``cluster.network.podSubnets`` (or a
``KubeNetworkConfig`` document) instead of assuming Talos's default 10.244.0.0/16, so a pod of
10.200.0.0/16 reaching a pod address on the node passes with the config's subnet and is
dropped with the default (``--pod-subnet 10.244.0.0/16`` given over the config). The kernel's
verdict and ``Reach.query`` must agree with the prediction. Skipped without root / network
namespaces, failed instead under ``CI=true``.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from talospatch.nft.compile import compile_firewall
from talospatch.nft.reach import Reach
from talospatch.nft.text import render
from talospatch.workflows.node import NodeOptions, node_firewall
from testing.netlab import Lab, ensure_netns

pytestmark = pytest.mark.kernel

NODE4, POD_ON_NODE, POD_CLIENT = "192.168.30.21", "10.200.0.1", "10.200.1.5"
PORT = 8080  # no rule names it: only the pod/service accept rule can let it in
V1ALPHA1 = """\
version: v1alpha1
machine: {type: worker}
cluster:
  network:
    podSubnets: [10.200.0.0/16]
"""
MULTIDOC = """\
apiVersion: v1alpha1
kind: KubeNetworkConfig
podSubnets: [10.200.0.0/16]
serviceSubnets: [10.96.0.0/12]
"""
BLOCK = """\
---
apiVersion: v1alpha1
kind: NetworkDefaultActionConfig
ingress: block
"""


@pytest.fixture(scope="module", autouse=True)
def _netns_available() -> None:
    ensure_netns()


@pytest.mark.parametrize(
    ("config", "pod_flag", "passes"),
    [
        pytest.param(V1ALPHA1, (), True, id="v1alpha1-podSubnets"),
        pytest.param(MULTIDOC, (), True, id="KubeNetworkConfig"),
        pytest.param(V1ALPHA1, ("10.244.0.0/16",), False, id="flag-wins"),
    ],
)
def test_pod_subnet_from_the_config(tmp_path: Path, config: str, pod_flag: tuple[str, ...], passes: bool) -> None:
    path = tmp_path / "node.yaml"
    path.write_text(config + BLOCK)
    node = node_firewall([str(path)], NodeOptions(node_ips=(NODE4,), pod_subnets=pod_flag))
    answer = Reach(node.firewall, node.context).query(POD_CLIENT, PORT, "tcp", POD_ON_NODE).allowed
    with Lab([f"{NODE4}/24", f"{POD_ON_NODE}/32"], [POD_CLIENT], name=f"ctx2{secrets.token_hex(3)}") as lab:
        lab.listen(tcp_ports=[PORT])
        assert lab.probe(POD_CLIENT, POD_ON_NODE, "tcp", PORT)  # the setup itself is sound
        lab.load_nft(render(compile_firewall(node.firewall, node.context)))
        kernel = lab.probe(POD_CLIENT, POD_ON_NODE, "tcp", PORT)
    assert (kernel, answer) == (passes, passes)


# A whole config that lists no subnets: Talos v1.14 has no Kubernetes network without
# cluster.network or a KubeNetworkConfig (no pod/service accept rule); before v1.14, and with a
# cluster.network that lists none, Talos's default 10.244.0.0/16 applies.
DEFAULT_POD_ON_NODE, DEFAULT_POD_CLIENT = "10.244.0.1", "10.244.1.5"
WITHOUT_NETWORK = "version: v1alpha1\nmachine: {type: worker}\n"


@pytest.mark.parametrize(
    ("config", "version", "passes"),
    [
        pytest.param(WITHOUT_NETWORK, None, False, id="v1.14-no-network"),
        pytest.param(WITHOUT_NETWORK, "1.13", True, id="v1.13-default"),
        pytest.param(WITHOUT_NETWORK + "cluster:\n  network: {cni: {name: none}}\n", None, True, id="network-default"),
    ],
)
def test_a_config_without_subnets_follows_talos(tmp_path: Path, config: str, version: str | None, passes: bool) -> None:
    path = tmp_path / "node.yaml"
    path.write_text(config + BLOCK)
    node = node_firewall([str(path)], NodeOptions(node_ips=(NODE4,), talos_version=version))
    answer = (
        Reach(node.firewall, node.context, node.version)
        .query(DEFAULT_POD_CLIENT, PORT, "tcp", DEFAULT_POD_ON_NODE)
        .allowed
    )
    lab_name = f"gaps{secrets.token_hex(3)}"
    with Lab([f"{NODE4}/24", f"{DEFAULT_POD_ON_NODE}/32"], [DEFAULT_POD_CLIENT], name=lab_name) as lab:
        lab.listen(tcp_ports=[PORT])
        assert lab.probe(DEFAULT_POD_CLIENT, DEFAULT_POD_ON_NODE, "tcp", PORT)  # the setup itself is sound
        lab.load_nft(render(compile_firewall(node.firewall, node.context, node.version)))
        kernel = lab.probe(DEFAULT_POD_CLIENT, DEFAULT_POD_ON_NODE, "tcp", PORT)
    assert (kernel, answer) == (passes, passes)
