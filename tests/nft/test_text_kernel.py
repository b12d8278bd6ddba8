"""talospatch.nft.text in the kernel: ``render()`` loaded into a fresh network namespace with
``nft -f`` lists back rule for rule, and byte for byte once the counters' numbers are removed
(root + nft + ip netns needed: skipped without them, failed under ``CI=true``; see
``testing/netlab.py``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from talospatch.generate.expand import GenOptions, expand
from talospatch.generate.profiles import Catalog
from talospatch.nft.compile import NodeContext, compile_firewall
from talospatch.nft.text import render
from talospatch.talos.documents import Firewall
from testing.documents import firewall, ip, net, rule
from testing.netlab import nft_in, scratch_netns
from testing.nftlisting import normalize_listing
from testing.nftreference import APID_2_7, KUBELET_2_7, LISTED_2_7, NODE, REFERENCE_2_7

pytestmark = pytest.mark.kernel


def _without_counter_numbers(listing: str) -> str:
    return re.sub(r"counter packets \d+ bytes \d+", "counter", listing)


def _body(rendered: str) -> str:
    return "".join(line for line in rendered.splitlines(keepends=True) if not line.startswith("#"))


def _assert_round_trip(netns: str, rendered: str, tmp_path: Path) -> None:
    """Load ``rendered`` with ``nft -f`` and check the listing matches it rule for rule."""
    path = tmp_path / "talos.nft"
    path.write_text(rendered)
    nft_in(netns, "-f", str(path))
    listed = nft_in(netns, "list", "ruleset")
    assert normalize_listing(listed) == normalize_listing(rendered)
    # Stronger: byte for byte, once the counters' numbers and our header are removed.
    assert _without_counter_numbers(listed) == _body(rendered)


ROUND_TRIPS = [
    pytest.param(firewall("block", KUBELET_2_7, APID_2_7), NODE, id="reference-2-7-block"),
    pytest.param(firewall("accept", KUBELET_2_7, APID_2_7), NODE, id="reference-2-7-accept"),
    pytest.param(
        firewall(
            "block",
            rule("etcd-ingress", ["2379-2380"], "tcp", "192.168.30.11/32", "192.168.30.12/32"),
            rule("cni-vxlan", [4789, 8472], "udp", "172.20.0.0/24 except 172.20.0.1/32"),
            rule("apid-ingress", [50000, 50001], "tcp", "0.0.0.0/0", "::/0"),
            rule("nodeports", ["30000-32767", 65535], "tcp", "0.0.0.0/0 except 10.1.2.3/32", "::/0 except fe80::1/128"),
        ),
        NodeContext(
            node_ips=(ip("172.20.0.5"), ip("fd00:20::5"), ip("172.20.0.6"), ip("172.20.0.9")),
            pod_subnets=(net("10.244.0.0/16"), net("fd00:10:244::/56")),
            service_subnets=(net("10.96.0.0/12"), net("fd00:10:96::/112")),
        ),
        id="block-dual-stack-excepts-multiport",
    ),
    pytest.param(
        firewall(
            "accept",
            rule("kubelet-ingress", [10250], "tcp", "fd00::/8 except fd00::1/128"),
            rule("closed", [9000, "9001-9100"], "udp"),
            rule("top", [65535], "udp", "255.255.255.0/24 except 255.255.255.0/31"),
            rule("open", [22], "tcp", "0.0.0.0/0", "::/0"),
        ),
        NodeContext(node_ips=(ip("2001:db8::5"),)),
        id="accept-v6-node-empty-ingress-ends",
    ),
    pytest.param(
        firewall("block", rule("ping", ["0-65535"], "icmp", "10.0.0.0/8")),
        NodeContext(),
        id="block-no-prerouting-icmp-rule",
    ),
    pytest.param(
        firewall(
            "block",
            rule("apid-ingress", [50000], "tcp", "192.168.30.0/24"),
            rule("cni-vxlan", [4789, 8472], "udp", "192.168.30.0/24"),
        ),
        NodeContext(
            node_ips=(ip("192.168.30.21"),),
            service_subnets=(net("10.100.0.0/16"), net("fd00:96::/108")),
            host_dns=False,
        ),
        id="block-no-host-dns-v6-services",
    ),
    pytest.param(firewall("accept", default_doc=False), NODE, id="inactive-empty-table"),
]


@pytest.mark.parametrize(("fw", "ctx"), ROUND_TRIPS)
def test_kernel_round_trip(fw: Firewall, ctx: NodeContext, netns: str, tmp_path: Path) -> None:
    _assert_round_trip(netns, render(compile_firewall(fw, ctx)), tmp_path)


def test_kernel_round_trip_with_rule_comments(netns: str, tmp_path: Path) -> None:
    rendered = render(compile_firewall(firewall("accept", KUBELET_2_7), NODE), comments=True)
    assert 'comment "NetworkRuleConfig/kubelet-ingress"' in rendered
    path = tmp_path / "talos.nft"
    path.write_text(rendered)
    nft_in(netns, "-f", str(path))
    assert _without_counter_numbers(nft_in(netns, "list", "ruleset")) == _body(rendered)


def test_kernel_loads_the_reference_text_as_listed(netns: str, tmp_path: Path) -> None:
    # Pins LISTED_2_7 (used above) to what this nft actually prints for REFERENCE_2_7.
    path = tmp_path / "reference.nft"
    path.write_text(REFERENCE_2_7)
    nft_in(netns, "-f", str(path))
    assert _without_counter_numbers(nft_in(netns, "list", "ruleset")) == LISTED_2_7


# A property test: random firewalls, all loaded into one namespace in turn.

_SUBNETS = [
    "10.0.0.0/8",
    "10.3.0.0/16",
    "192.168.1.77/24",
    "0.0.0.0/0",
    "255.255.255.255/32",
    "172.16.0.0/12",
    "::/0",
    "fd00::/8",
    "2001:db8::/32",
    "ffff::/16",
    "fe80::1/128",
]
_EXCEPTS = [None, "10.3.0.0/16", "10.1.2.3/32", "fd00::1/128", "0.0.0.0/1", "ffff::/128"]


@st.composite
def _firewalls(draw: st.DrawFn) -> tuple[Firewall, NodeContext]:
    rules = []
    for index in range(draw(st.integers(0, 4))):
        entries = []
        for _ in range(draw(st.integers(0, 3))):
            subnet = draw(st.sampled_from(_SUBNETS))
            exc = draw(st.sampled_from(_EXCEPTS))
            entries.append(subnet if exc is None else f"{subnet} except {exc}")
        starts = draw(st.lists(st.integers(0, 65535), min_size=1, max_size=4, unique=True))
        ports: list[int | str] = []
        taken: set[int] = set()
        for lo in sorted(starts):
            hi = min(65535, lo + draw(st.integers(0, 3)))
            if any(p in taken for p in range(lo, hi + 1)):
                continue
            taken.update(range(lo, hi + 1))
            ports.append(lo if lo == hi else f"{lo}-{hi}")
        proto = draw(st.sampled_from(["tcp", "udp"]))
        rules.append(rule(f"r{index}", ports, proto, *entries))
    action = draw(st.sampled_from(["accept", "block"]))
    node_ips = draw(st.sampled_from([(), (ip("10.3.4.5"),), (ip("fd00::5"), ip("10.3.4.5"))]))
    pods = draw(st.sampled_from([(net("10.244.0.0/16"),), (net("10.244.0.0/16"), net("fd00:10:244::/56"))]))
    ctx = NodeContext(node_ips=node_ips, pod_subnets=pods, host_dns=draw(st.booleans()))
    return firewall(action, *rules), ctx


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=_firewalls())
def test_kernel_round_trip_random_firewalls(case: tuple[Firewall, NodeContext]) -> None:
    fw, ctx = case
    rendered = render(compile_firewall(fw, ctx))
    # hypothesis runs many examples per test: a namespace of its own for each.
    with scratch_netns() as name:
        nft_in(name, "-f", "-", stdin=rendered)
        listed = nft_in(name, "list", "ruleset")
    assert normalize_listing(listed) == normalize_listing(rendered)
    assert _without_counter_numbers(listed) == _body(rendered)


# -- the capability check itself -----------------------------------------------------------


# Every built-in profile, as gen builds it, loads and lists back rule for rule.


def _profile_cases() -> list[Any]:
    catalog = Catalog.load()
    cases = []
    for role in catalog.names("role"):
        addons = tuple(
            name
            for name in catalog.names("addon")
            if not catalog.get(name, "addon").profile.roles or role in catalog.get(name, "addon").profile.roles
        )
        for cni in catalog.names("cni"):
            for stack, subnets in (("v4", ("192.168.30.0/24",)), ("dual", ("192.168.30.0/24", "fd00:30::/64"))):
                opts = GenOptions(
                    role=role,
                    cni=cni,
                    subnets=subnets,
                    admins=("196.45.28.20",),
                    pod_subnets=("10.244.0.0/16", "fd00:244::/56") if stack == "dual" else (),
                    addons=addons if cni == "cilium" else (),
                )
                cases.append(pytest.param(opts, id=f"{role}-{cni}-{stack}{'-addons' if opts.addons else ''}"))
    return cases


@pytest.mark.parametrize("opts", _profile_cases())
def test_every_builtin_profile_round_trips_in_the_kernel(opts: GenOptions, netns: str, tmp_path: Path) -> None:
    generated = expand(opts)
    node_ips = (ip("192.168.30.21"),) + ((ip("fd00:30::21"),) if len(opts.subnets) > 1 else ())
    ctx = NodeContext(node_ips=node_ips, pod_subnets=generated.pod_subnets)
    _assert_round_trip(netns, render(compile_firewall(generated.firewall, ctx)), tmp_path)
