"""The catalog for the clusters people run: add-on profiles, the bgp-peers and load-balancers
groups, converged control planes, Cilium native routing, WireGuard next to KubeSpan, and the
reverse lookup from a port to the profiles that open it (``Catalog.which``).
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from talospatch.cli.params import LABELS, command_line
from talospatch.errors import BadInput
from talospatch.generate.expand import Generated, GenOptions, expand
from talospatch.generate.profiles import Catalog, parse_port_query
from talospatch.generate.render import render

SUBNET = ("192.168.30.0/24",)
CP = "192.168.30.11"

# The add-ons of this catalog, by hand: name -> {rule name: (protocol, ports, source groups)}.
NEW_ADDONS: dict[str, dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]]] = {
    "cilium-mutual-auth": {"cilium-mutual-auth-ingress": ("tcp", ("4250",), ("nodes",))},
    "cilium-metrics": {"cilium-metrics-ingress": ("tcp", ("9962-9965",), ("nodes", "pods"))},
    "calico-metrics": {"calico-felix-metrics-ingress": ("tcp", ("9091",), ("nodes", "pods"))},
    "bgp": {"bgp-peers-ingress": ("tcp", ("179",), ("bgp-peers",))},
    "metallb-metrics": {"metallb-metrics-ingress": ("tcp", ("7472", "9120"), ("nodes", "pods"))},
    "kube-proxy-health": {"kube-proxy-health-ingress": ("tcp", ("10256",), ("nodes", "load-balancers"))},
    "rook-ceph": {
        "ceph-mon-ingress": ("tcp", ("3300", "6789"), ("nodes", "pods")),
        "ceph-osd-ingress": ("tcp", ("6800-7300",), ("nodes", "pods")),
    },
    "tailscale": {"tailscale-ingress": ("udp", ("41641",), ("any",))},
    "spegel": {"spegel-registry-ingress": ("tcp", ("30020", "30021"), ("nodes", "pods"))},
    "calico-wireguard": {"calico-wireguard-ingress": ("udp", ("51820", "51821"), ("nodes",))},
    "flannel-wireguard": {"flannel-wireguard-ingress": ("udp", ("51820", "51821"), ("nodes",))},
}


def _rules(generated: Generated) -> dict[str, tuple[str, tuple[str, ...], list[str]]]:
    return {
        r.document.name: (
            r.document.protocol,
            tuple(p.label for p in r.document.ports),
            [str(s) for s in r.document.subnets],
        )
        for r in generated.rules
    }


# --------------------------------------------------------------------------------------
# The profiles


@pytest.mark.parametrize("name", sorted(NEW_ADDONS))
def test_new_addon_profile_holds_the_expected_entries(name: str) -> None:
    loaded = Catalog.load().get(name, "addon")
    got = {e.name: (e.protocol[0], tuple(p.label for p in e.ports), e.from_) for e in loaded.profile.rules}
    assert got == NEW_ADDONS[name]
    for entry in loaded.profile.rules:
        assert len(entry.protocol) == 1
        assert entry.why.strip()
        assert "https://" in entry.source, f"{entry.name}: the source must cite an upstream URL"


@pytest.mark.parametrize("name", sorted(set(NEW_ADDONS) - {"bgp"}))
def test_new_addon_generates_its_rules_on_a_worker(name: str) -> None:
    generated = expand(
        labels=LABELS,
        opts=GenOptions(
            role="worker",
            subnets=SUBNET,
            addons=(name,),
            load_balancers=(("203.0.113.10",) if name == "kube-proxy-health" else ()),
        ),
    )
    rules = _rules(generated)
    for rule, (proto, ports, _) in NEW_ADDONS[name].items():
        assert rules[rule][:2] == (proto, ports)


# --------------------------------------------------------------------------------------
# The new source groups


def test_bgp_peers_group_resolves_to_the_routers() -> None:
    generated = expand(
        GenOptions(
            role="worker",
            subnets=("192.168.30.0/24", "fd00:30::/64"),
            addons=("bgp",),
            bgp_peers=("192.168.30.1", "2001:db8:179::/48", "10.0.0.1"),
        )
    )
    [rule] = [r for r in generated.rules if r.document.name == "bgp-peers-ingress"]
    assert [str(s) for s in rule.document.subnets] == ["10.0.0.1/32", "192.168.30.1/32", "2001:db8:179::/48"]
    assert [g for g, _ in rule.sources] == ["bgp-peers"]
    assert "--bgp-peer 10.0.0.1/32 --bgp-peer 192.168.30.1/32 --bgp-peer 2001:db8:179::/48" in command_line(
        generated.options
    )


def test_load_balancers_group_joins_the_nodes() -> None:
    generated = expand(
        GenOptions(role="worker", subnets=SUBNET, addons=("kube-proxy-health",), load_balancers=("203.0.113.0/28",))
    )
    rule = _rules(generated)["kube-proxy-health-ingress"]
    assert rule == ("tcp", ("10256",), ["192.168.30.0/24", "203.0.113.0/28"])
    assert "--load-balancer 203.0.113.0/28" in command_line(generated.options)


def test_bgp_without_peers_leaves_the_rule_out_and_says_so() -> None:
    generated = expand(labels=LABELS, opts=GenOptions(role="worker", subnets=SUBNET, addons=("bgp",)))
    assert "bgp-peers-ingress" not in _rules(generated)
    assert any(w.startswith("bgp-peers-ingress: no source in bgp-peers") for w in generated.warnings)


@pytest.mark.parametrize(
    ("extra", "option", "group"),
    [
        pytest.param({"bgp_peers": ("10.0.0.1",)}, "--bgp-peer", "bgp-peers", id="bgp-peer-without-bgp"),
        pytest.param(
            {"load_balancers": ("10.0.0.1",)}, "--load-balancer", "load-balancers", id="load-balancer-without-health"
        ),
    ],
)
def test_group_option_without_a_rule_that_uses_it_is_an_error(
    extra: dict[str, tuple[str, ...]], option: str, group: str
) -> None:
    with pytest.raises(BadInput) as info:
        expand(labels=LABELS, opts=GenOptions(role="worker", subnets=SUBNET, **extra))  # type: ignore[arg-type]
    assert str(info.value) == (
        f"{option} does not apply to role worker with CNI cilium: no selected rule allows the {group} group"
    )


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        pytest.param({"bgp_peers": ("10.0.0.0/8x",)}, "--bgp-peer '10.0.0.0/8x'", id="bgp-peer-bad-prefix"),
        pytest.param({"load_balancers": ("lb.example",)}, "--load-balancer 'lb.example'", id="load-balancer-name"),
        pytest.param({"bgp_peers": ("10.0.0.1/8",)}, "has host bits set; did you mean 10.0.0.0/8", id="bgp-host-bits"),
    ],
)
def test_group_option_values_are_checked(extra: dict[str, tuple[str, ...]], message: str) -> None:
    opts = GenOptions(role="worker", subnets=SUBNET, addons=("bgp", "kube-proxy-health"), **extra)  # type: ignore[arg-type]
    with pytest.raises(BadInput, match=message.replace("(", r"\(").replace(".", r"\.")):
        expand(opts, labels=LABELS)


# --------------------------------------------------------------------------------------
# Converged control planes


def _controlplane(**extra: object) -> GenOptions:
    return GenOptions(role="controlplane", subnets=SUBNET, controlplane=(CP,), **extra)  # type: ignore[arg-type]


def test_converged_controlplane_is_the_controlplane_plus_nodeports() -> None:
    plain = expand(labels=LABELS, opts=_controlplane(cni="flannel"))
    converged = expand(
        labels=LABELS,
        opts=_controlplane(cni="flannel", converged=True, admins=("196.45.28.20",), nodeport_from=("203.0.113.0/24",)),
    )
    before, after = _rules(plain), _rules(converged)
    assert set(after) - set(before) == {"nodeport-ingress-tcp", "nodeport-ingress-udp"}
    assert {k: after[k] for k in before if k not in ("apid-ingress", "kubernetes-api-ingress")} == {
        k: v for k, v in before.items() if k not in ("apid-ingress", "kubernetes-api-ingress")
    }
    assert after["nodeport-ingress-tcp"] == (
        "tcp",
        ("30000-32767",),
        ["192.168.30.0/24", "196.45.28.20/32", "203.0.113.0/24"],
    )
    assert command_line(converged.options) == (
        "talospatch gen --role controlplane --cni flannel --subnet 192.168.30.0/24 --controlplane 192.168.30.11/32 "
        "--admin 196.45.28.20/32 --nodeport-from 203.0.113.0/24 --converged --talos-version v1.14.0"
    )
    assert "# note: --converged: a control plane that runs workloads" in render(
        converged, command_line(converged.options)
    )
    assert not plain.notes


def test_converged_lets_worker_only_addons_apply_to_a_controlplane() -> None:
    with pytest.raises(
        BadInput, match=r"add-on nodeport applies to role worker only, not controlplane \(or --converged"
    ):
        expand(labels=LABELS, opts=_controlplane(nodeport=True))
    generated = expand(
        labels=LABELS, opts=_controlplane(nodeport=True, converged=True, addons=("nodeport", "etcd-metrics"))
    )
    names = set(_rules(generated))
    assert {"nodeport-ingress-tcp", "nodeport-ingress-udp", "etcd-metrics-ingress", "etcd-ingress"} <= names
    assert command_line(generated.options).endswith("--converged --with etcd-metrics --talos-version v1.14.0")


def test_converged_applies_to_controlplane_only() -> None:
    with pytest.raises(BadInput) as info:
        expand(labels=LABELS, opts=GenOptions(role="worker", subnets=SUBNET, converged=True))
    assert str(info.value) == (
        "--converged applies to role controlplane (control-plane nodes that run workloads), not worker"
    )


def test_converged_with_cilium_keeps_the_kube_proxy_replacement_warning() -> None:
    generated = expand(labels=LABELS, opts=_controlplane(converged=True))
    assert any(w.startswith("cilium with nodeport: with Cilium's kube-proxy replacement") for w in generated.warnings)


def test_single_node_cluster_is_a_converged_cluster_of_one() -> None:
    generated = expand(
        GenOptions(
            role="controlplane",
            subnets=("192.168.1.0/24",),
            controlplane=("192.168.1.10",),
            admins=("192.168.1.0/24",),
            cni="flannel",
            converged=True,
        )
    )
    rules = _rules(generated)
    assert rules["etcd-ingress"] == ("tcp", ("2379-2380",), ["192.168.1.10/32"])
    assert rules["nodeport-ingress-tcp"][2] == ["192.168.1.0/24"]
    assert not [w for w in generated.warnings if w.startswith("no --")]


# --------------------------------------------------------------------------------------
# Native routing


def test_native_routing_selects_no_tunnel_rule_and_says_why() -> None:
    generated = expand(labels=LABELS, opts=GenOptions(role="worker", subnets=SUBNET, tunnel="native"))
    assert sorted(_rules(generated)) == ["apid-ingress", "cilium-health-ingress", "kubelet-ingress"]
    assert (
        command_line(generated.options)
        == "talospatch gen --role worker --cni cilium --tunnel native --subnet 192.168.30.0/24 --talos-version v1.14.0"
    )
    text = render(generated, command_line(generated.options))
    header = text.split("apiVersion")[0]
    assert "# note: --tunnel native: Cilium with routingMode native" in header
    assert "pod or service subnets" in " ".join(line.lstrip("# ") for line in header.splitlines())


@pytest.mark.parametrize("tunnel", ["vxlan", "geneve", "both", None])
def test_tunnels_with_ports_carry_no_note(tunnel: str | None) -> None:
    generated = expand(labels=LABELS, opts=GenOptions(role="worker", subnets=SUBNET, tunnel=tunnel))
    assert generated.notes == []
    assert {"cni-vxlan", "cni-geneve"} & set(_rules(generated))


def test_unknown_tunnel_lists_native_last() -> None:
    with pytest.raises(BadInput) as info:
        expand(labels=LABELS, opts=GenOptions(role="worker", subnets=SUBNET, tunnel="gre"))
    assert str(info.value) == "unknown tunnel 'gre' for cilium; valid: vxlan, geneve, both, native"


def test_flannel_has_no_tunnel_choice_use_cni_none_for_host_gw() -> None:
    with pytest.raises(BadInput, match="--tunnel does not apply to CNI flannel"):
        expand(labels=LABELS, opts=GenOptions(role="worker", subnets=SUBNET, cni="flannel", tunnel="native"))
    assert sorted(_rules(expand(labels=LABELS, opts=GenOptions(role="worker", subnets=SUBNET, cni="none")))) == [
        "apid-ingress",
        "kubelet-ingress",
    ]


def test_tunnel_notes_must_name_a_declared_tunnel(tmp_path: Path) -> None:
    (tmp_path / "mycni.yaml").write_text(
        "kind: cni\ndescription: d\ntunnels: [vxlan]\ntunnel_notes:\n  native: n\nrules: []\n", encoding="utf-8"
    )
    with pytest.raises(BadInput) as info:
        Catalog.load(str(tmp_path))
    assert str(info.value) == f"{tmp_path / 'mycni.yaml'}: tunnel_notes: 'native' is not in tunnels (vxlan)"


# --------------------------------------------------------------------------------------
# WireGuard overlays next to KubeSpan


@pytest.mark.parametrize(
    ("cni", "addon", "fix"),
    [
        pytest.param("calico", "calico-wireguard", "FelixConfiguration wireguardListeningPort", id="calico"),
        pytest.param(
            "none", "flannel-wireguard", "ListenPort (and ListenPortV6) in flannel's net-conf.json", id="flannel"
        ),
    ],
)
def test_wireguard_overlay_with_kubespan_warns_with_the_fix(cni: str, addon: str, fix: str) -> None:
    generated = expand(
        labels=LABELS, opts=GenOptions(role="worker", subnets=SUBNET, cni=cni, addons=(addon, "kubespan"))
    )
    [warning] = [w for w in generated.warnings if w.startswith(f"{addon} with kubespan:")]
    assert "51820/udp" in warning
    assert fix in warning
    alone = expand(labels=LABELS, opts=GenOptions(role="worker", subnets=SUBNET, cni=cni, addons=(addon,)))
    assert not [w for w in alone.warnings if "kubespan" in w]


def test_flannel_wireguard_with_bundled_flannel_points_to_cni_none() -> None:
    generated = expand(
        labels=LABELS, opts=GenOptions(role="worker", subnets=SUBNET, cni="flannel", addons=("flannel-wireguard",))
    )
    assert any(
        w.startswith("flannel-wireguard with flannel:") and "--cni none --with flannel-wireguard" in w
        for w in generated.warnings
    )


# --------------------------------------------------------------------------------------
# which: the profiles that open a port


def _which(query: str, profiles_dir: str | None = None) -> list[tuple[str, str, str, str]]:
    return [(o.name, o.profile, o.kind, o.protocol) for o in Catalog.load(profiles_dir).which(*parse_port_query(query))]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        pytest.param(
            "4250/tcp",
            [
                ("cilium-mutual-auth-ingress", "cilium-mutual-auth", "addon", "tcp"),
                ("trust-nodes-tcp", "trust-nodes", "addon", "tcp"),
            ],
            id="4250-tcp",
        ),
        pytest.param(
            "51820/udp",
            [
                ("calico-wireguard-ingress", "calico-wireguard", "addon", "udp"),
                ("flannel-wireguard-ingress", "flannel-wireguard", "addon", "udp"),
                ("kubespan-ingress", "kubespan", "addon", "udp"),
                ("trust-nodes-udp", "trust-nodes", "addon", "udp"),
            ],
            id="51820-udp",
        ),
        pytest.param(
            "7946",
            [
                ("metallb-memberlist-ingress-tcp", "metallb", "addon", "tcp"),
                ("metallb-memberlist-ingress-udp", "metallb", "addon", "udp"),
                ("trust-nodes-tcp", "trust-nodes", "addon", "tcp"),
                ("trust-nodes-udp", "trust-nodes", "addon", "udp"),
            ],
            id="7946-both",
        ),
        pytest.param(
            "179/tcp",
            [
                ("calico-bgp-ingress", "calico", "cni", "tcp"),
                ("bgp-peers-ingress", "bgp", "addon", "tcp"),
                ("talos-bgp-ingress", "talos-bgp", "addon", "tcp"),
                ("talos-bgp-unnumbered-ingress", "talos-bgp-unnumbered", "addon", "tcp"),
                ("trust-nodes-tcp", "trust-nodes", "addon", "tcp"),
            ],
            id="179-tcp",
        ),
        pytest.param(
            "50000/tcp",
            [
                ("apid-ingress", "controlplane", "role", "tcp"),
                ("apid-ingress", "worker", "role", "tcp"),
                ("trust-nodes-tcp", "trust-nodes", "addon", "tcp"),
            ],
            id="50000-roles",
        ),
        pytest.param(
            "7000/tcp",
            [("ceph-osd-ingress", "rook-ceph", "addon", "tcp"), ("trust-nodes-tcp", "trust-nodes", "addon", "tcp")],
            id="inside-a-range",
        ),
    ],
)
def test_which_lists_every_entry_that_opens_the_port(query: str, expected: list[tuple[str, str, str, str]]) -> None:
    assert _which(query) == expected


def test_which_gives_the_entry_whole() -> None:
    [vxlan] = [o for o in Catalog.load().which(8472, ("udp",)) if o.profile == "cilium"]
    assert (vxlan.name, vxlan.tunnel, vxlan.from_, [p.label for p in vxlan.ports]) == (
        "cni-vxlan",
        "vxlan",
        ("nodes",),
        ["8472"],
    )
    assert vxlan.why.startswith("cross-node pod traffic is encapsulated in VXLAN")
    assert vxlan.source.startswith("https://docs.cilium.io/")
    [nodeport] = [o for o in Catalog.load().which(31000, ("tcp",)) if o.profile == "nodeport"]
    assert nodeport.roles == ("worker",)


def test_which_is_the_reverse_of_show() -> None:
    """Every port end of every entry leads back to that entry, and to nothing that does not open it."""
    catalog = Catalog.load()
    for loaded in catalog.all():
        for entry in loaded.profile.rules:
            for name, proto in entry.document_names():
                for port in {p for r in entry.ports for p in (r.lo, r.hi)}:
                    found = catalog.which(port, (proto,))
                    assert (name, loaded.name) in [(o.name, o.profile) for o in found]
                    assert all(o.protocol == proto and any(port in r for r in o.ports) for o in found)


def test_which_finds_only_trust_nodes_for_an_unlisted_port() -> None:
    assert _which("22/tcp") == [("trust-nodes-tcp", "trust-nodes", "addon", "tcp")]


def test_which_reads_profiles_dir(tmp_path: Path) -> None:
    (tmp_path / "myapp.yaml").write_text(
        "kind: addon\ndescription: my app\nrules:\n  - name: myapp-ingress\n    service: my app\n"
        "    ports: [8443]\n    protocol: tcp\n    from: [any]\n    why: w\n    source: s\n",
        encoding="utf-8",
    )
    assert _which("8443/tcp", str(tmp_path)) == [
        ("myapp-ingress", "myapp", "addon", "tcp"),
        ("trust-nodes-tcp", "trust-nodes", "addon", "tcp"),
    ]


@pytest.mark.parametrize("text", ["x/tcp", "0/tcp", "65536/udp", "80/icmp", "80/", "", "-1", "８０/tcp"])  # noqa: RUF001 (fullwidth digits on purpose)  # noqa: RUF001 (a fullwidth digit on purpose)
def test_which_rejects_what_is_not_a_port(text: str) -> None:
    with pytest.raises(BadInput) as info:
        parse_port_query(text)
    assert str(info.value) == (f"port {text!r} is not PORT/tcp, PORT/udp or PORT, with PORT 1-65535 (e.g. 9962/tcp)")


@pytest.mark.parametrize(
    ("text", "expected"),
    [("9962/tcp", (9962, ("tcp",))), ("41641/udp", (41641, ("udp",))), (" 179 ", (179, ("tcp", "udp")))],
)
def test_which_parses_ports(text: str, expected: tuple[int, tuple[str, ...]]) -> None:
    assert parse_port_query(text) == expected


def test_generated_groups_are_networks() -> None:
    generated = expand(
        labels=LABELS, opts=GenOptions(role="worker", subnets=SUBNET, addons=("bgp",), bgp_peers=("10.1.2.3",))
    )
    [rule] = [r for r in generated.rules if r.document.name == "bgp-peers-ingress"]
    assert rule.sources == [("bgp-peers", [ipaddress.ip_network("10.1.2.3/32")])]
