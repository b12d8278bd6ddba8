"""Talos's own services in the catalog: the native BGP speaker (``BGPInstanceConfig``, v1.14+,
``talos-bgp`` and ``talos-bgp-unnumbered``), KubeSpan peers outside the node subnet
(``--kubespan-peer``) and DHCPv6 (``dhcp``); a profile's ``since`` (the first Talos release
with the service). What the rules let through on the kernel: tests/nft/test_talos_bgp_realpackets.py
and tests/nft/test_dhcp_realpackets.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from talospatch.cli.params import LABELS, command_line
from talospatch.errors import BadInput
from talospatch.generate.expand import Generated, GenOptions, expand
from talospatch.generate.profiles import Catalog
from testing.runner import Cli, error_message, ok

SUBNETS = ("192.168.30.0/24", "fd00:30::/64")

# By hand: name -> {rule name: (protocol, ports, source groups)}.
PROFILES: dict[str, dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]]] = {
    "talos-bgp": {
        "talos-bgp-ingress": ("tcp", ("179",), ("bgp-peers",)),
        "talos-bgp-bfd-ingress": ("udp", ("3784",), ("bgp-peers",)),
    },
    "talos-bgp-unnumbered": {
        "talos-bgp-unnumbered-ingress": ("tcp", ("179",), ("link-local",)),
        "talos-bgp-unnumbered-bfd-ingress": ("udp", ("3784",), ("link-local",)),
    },
    "dhcp": {"dhcpv6-client-ingress": ("udp", ("546",), ("link-local",))},
    "kubespan": {"kubespan-ingress": ("udp", ("51820",), ("nodes", "kubespan-peers"))},
}


def _sources(generated: Generated) -> dict[str, list[str]]:
    return {r.document.name: [str(s) for s in r.document.subnets] for r in generated.rules}


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_profile_holds_the_expected_entries(name: str) -> None:
    loaded = Catalog.load().get(name, "addon")
    got = {e.name: (e.protocol[0], tuple(p.label for p in e.ports), e.from_) for e in loaded.profile.rules}
    assert got == PROFILES[name]
    assert all("https://" in e.source and e.why.strip() for e in loaded.profile.rules)


def test_talos_bgp_opens_bgp_and_bfd_to_the_peers_only() -> None:
    generated = expand(
        GenOptions(role="worker", subnets=SUBNETS, addons=("talos-bgp",), bgp_peers=("192.168.30.1", "fd00:30::1")),
        labels=LABELS,
    )
    sources = _sources(generated)
    peers = ["192.168.30.1/32", "fd00:30::1/128"]
    assert sources["talos-bgp-ingress"] == sources["talos-bgp-bfd-ingress"] == peers
    assert all(not set(peers) & set(v) for k, v in sources.items() if not k.startswith("talos-bgp"))
    assert "--bgp-peer 192.168.30.1/32 --bgp-peer fd00:30::1/128 --with talos-bgp" in command_line(generated.options)


def test_talos_bgp_without_peers_leaves_its_rules_out() -> None:
    generated = expand(GenOptions(role="worker", subnets=SUBNETS, addons=("talos-bgp",)), labels=LABELS)
    assert not {"talos-bgp-ingress", "talos-bgp-bfd-ingress"} & set(_sources(generated))
    assert any(w.startswith("talos-bgp-ingress: no source in bgp-peers") for w in generated.warnings)


@pytest.mark.parametrize("subnets", [SUBNETS[:1], SUBNETS], ids=["ipv4-node", "dual-stack-node"])
def test_unnumbered_bgp_and_dhcp_take_link_local_sources(subnets: tuple[str, ...]) -> None:
    """fe80::/10 needs no option and comes on an IPv4-only node subnet too (DHCPv6, unnumbered
    sessions are IPv6 on the link whatever the node subnet is)."""
    generated = expand(
        GenOptions(role="controlplane", subnets=subnets, addons=("dhcp", "talos-bgp-unnumbered")), labels=LABELS
    )
    sources = _sources(generated)
    for name in ("dhcpv6-client-ingress", "talos-bgp-unnumbered-ingress", "talos-bgp-unnumbered-bfd-ingress"):
        assert sources[name] == ["fe80::/10"]
    assert not any("fe80::/10" in v for k, v in sources.items() if k not in PROFILES["dhcp"] and "unnumbered" not in k)
    assert not [w for w in generated.warnings if "no source" in w]


def test_kubespan_peers_reach_51820_only() -> None:
    generated = expand(
        GenOptions(
            role="controlplane",
            subnets=SUBNETS,
            addons=("kubespan",),
            kubespan_peers=("203.0.113.7", "2001:db8:51::/48"),
        ),
        labels=LABELS,
    )
    sources = _sources(generated)
    assert sources["kubespan-ingress"] == ["192.168.30.0/24", "203.0.113.7/32", "2001:db8:51::/48", "fd00:30::/64"]
    others = [n for k, v in sources.items() if k != "kubespan-ingress" for n in v]
    assert "203.0.113.7/32" not in others
    assert "2001:db8:51::/48" not in others
    line = command_line(generated.options)
    assert "--kubespan-peer 203.0.113.7/32 --kubespan-peer 2001:db8:51::/48 --with kubespan" in line


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(
            ["--kubespan-peer", "203.0.113.7"],
            "--kubespan-peer does not apply to role worker with CNI cilium: no selected rule allows the "
            "kubespan-peers group",
            id="kubespan-peer-without-kubespan",
        ),
        pytest.param(
            ["--with", "kubespan", "--kubespan-peer", "203.0.113.7/8"],
            "--kubespan-peer '203.0.113.7/8' has host bits set; did you mean 203.0.0.0/8?",
            id="kubespan-peer-host-bits",
        ),
        pytest.param(
            ["--with", "kubespan", "--kubespan-peer", "203.0.113.300"],
            "--kubespan-peer '203.0.113.300'",
            id="kubespan-peer-malformed",
        ),
        pytest.param(
            ["--with", "talos-bgp", "--bgp-peer", "192.168.30.1", "--talos-version", "1.13"],
            "add-on talos-bgp is for Talos v1.14.0 and newer, and --talos-version is v1.13.9: what it opens does "
            "not exist before v1.14.0; target v1.14.0 or newer, or leave it out",
            id="talos-bgp-on-v1.13",
        ),
        pytest.param(
            ["--with", "talos-bgp-unnumbered", "--talos-version", "1.8.0"],
            "add-on talos-bgp-unnumbered is for Talos v1.14.0 and newer, and --talos-version is v1.8.0",
            id="unnumbered-on-v1.8",
        ),
    ],
)
def test_bad_input_is_one_line(cli: Cli, tmp_path: Path, args: list[str], message: str) -> None:
    out = tmp_path / "worker.yaml"
    got = error_message(cli("gen", "--role", "worker", "--subnet", SUBNETS[0], *args, "-o", str(out)))
    assert got.startswith(message), got
    assert not out.exists()


@pytest.mark.parametrize("version", [None, "1.14", "v1.14.0", "main", "1.15"])
def test_talos_bgp_from_v1_14(cli: Cli, version: str | None) -> None:
    """The default release (v1.14.0), named ones from v1.14, main and newer lines (modelled as main)."""
    args = ["gen", "--role", "worker", "--subnet", SUBNETS[0], "--with", "talos-bgp", "--bgp-peer", "192.168.30.1"]
    result = ok(cli(*args, *(["--talos-version", version] if version else [])))
    assert "name: talos-bgp-bfd-ingress" in result.out


def test_check_refuses_talos_bgp_profiles_for_an_older_release(cli: Cli, tmp_path: Path) -> None:
    patch = tmp_path / "worker.yaml"
    ok(cli("gen", "--role", "worker", "--subnet", SUBNETS[0], "-o", str(patch)))
    message = error_message(cli("check", str(patch), "--with", "talos-bgp", "--talos-version", "1.13"))
    assert message.startswith("add-on talos-bgp is for Talos v1.14.0 and newer, and --talos-version is v1.13.9")
    found = cli("check", str(patch), "--with", "talos-bgp")  # every release: the missing ports
    assert found.code == 1
    assert "talos-bgp: talos-bgp-bfd-ingress (BFD of Talos BGP neighbors) needs 3784/udp" in found.out


def test_profiles_show_names_the_first_release(cli: Cli) -> None:
    first = ok(cli("profiles", "show", "talos-bgp")).out_lines[0]
    assert first.startswith("talos-bgp (addon, profiles/talos-bgp.yaml, Talos v1.14.0 or newer): ")
    assert ok(cli("profiles", "show", "dhcp")).out_lines[0].startswith("dhcp (addon, profiles/dhcp.yaml): ")


@pytest.mark.parametrize(
    ("since", "message"),
    [
        pytest.param("1.14", "since: '1.14' is not a Talos release vX.Y.Z (e.g. v1.14.0)", id="no-patch"),
        pytest.param("v2.0.0", "since: 'v2.0.0' is not a Talos release vX.Y.Z (e.g. v1.14.0)", id="v2"),
        pytest.param("[1]", "since: '[1]' is not a Talos release vX.Y.Z (e.g. v1.14.0)", id="a-list"),
    ],
)
def test_since_must_be_a_release(cli: Cli, tmp_path: Path, since: str, message: str) -> None:
    (tmp_path / "mine.yaml").write_text(
        f"kind: addon\ndescription: d\nsince: {since!r}\nrules:\n  - name: mine-ingress\n    service: s\n"
        "    ports: [8443]\n    protocol: tcp\n    from: [nodes]\n    why: w\n    source: s\n",
        encoding="utf-8",
    )
    got = error_message(cli("profiles", "list", "--profiles-dir", str(tmp_path)))
    assert got == f"{tmp_path / 'mine.yaml'}: {message}"


def test_a_custom_profile_since_main_is_refused_on_releases(tmp_path: Path) -> None:
    (tmp_path / "future.yaml").write_text(
        "kind: addon\ndescription: d\nsince: v1.15.0\nrules:\n  - name: future-ingress\n    service: s\n"
        "    ports: [8443]\n    protocol: tcp\n    from: [nodes]\n    why: w\n    source: s\n",
        encoding="utf-8",
    )
    opts = GenOptions(role="worker", subnets=SUBNETS[:1], addons=("future",), profiles_dir=str(tmp_path))
    with pytest.raises(
        BadInput, match=r"^add-on future is for Talos v1\.15\.0 and newer, and talos_version is v1\.14\.0"
    ):
        expand(opts)
    assert "future-ingress" in _sources(expand(opts._replace(talos_version="main")))
