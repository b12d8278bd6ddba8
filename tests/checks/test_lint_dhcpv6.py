"""``check``'s ``dhcpv6-blocked`` rule (DHCPv6 on, and the server's link-local reply cannot
reach 546/udp) and the link-local exception of ``one-family``. The verdicts the rule
reproduces were measured with real packets: tests/nft/test_dhcp_realpackets.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from talospatch.checks.lint.documents import dhcpv6_links
from talospatch.checks.lint.engine import Finding, check_merged, check_text, lint_options
from talospatch.talos.machineconfig import config_documents
from testing.documents import ACCEPT_DOC, BLOCK_DOC, rule_doc
from testing.runner import Cli

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "check"
DHCPV6_V1ALPHA1 = (
    "version: v1alpha1\nmachine:\n  type: worker\n  network:\n    interfaces:\n"
    "      - interface: eth0\n        dhcp: true\n        dhcpOptions: {ipv6: true}\n"
)
DHCPV6_CONFIG = "apiVersion: v1alpha1\nkind: DHCPv6Config\nname: enp1s0\n"
APID = rule_doc("apid-ingress", "[50000]", "tcp", ["192.168.30.0/24", "fd00:30::/64"])


def _codes(text: str) -> list[str]:
    return [f.code for f in check_text(text, "node.yaml", lint_options())]


def _join(*documents: str) -> str:
    return "---\n".join(documents)


@pytest.mark.parametrize(
    ("text", "found"),
    [
        pytest.param(DHCPV6_V1ALPHA1, ["machine.network.interfaces[0] (eth0)"], id="interface"),
        pytest.param(DHCPV6_CONFIG, ["DHCPv6Config/enp1s0"], id="dhcpv6config"),
        pytest.param(
            "version: v1alpha1\nmachine:\n  network:\n    interfaces:\n      - deviceSelector: {busPath: '0*'}\n"
            "        vlans:\n          - {vlanId: 10, dhcp: true}\n          - {vlanId: 20, dhcp: true, "
            "dhcpOptions: {ipv6: true}}\n",
            ["machine.network.interfaces[0].vlans[1]"],
            id="vlan",
        ),
        pytest.param(DHCPV6_V1ALPHA1.replace("ipv6: true", "ipv4: true"), [], id="dhcpv4-only"),
        pytest.param(DHCPV6_V1ALPHA1.replace("dhcp: true", "dhcp: false"), [], id="dhcp-off"),
        pytest.param(DHCPV6_CONFIG + "$patch: delete\n", [], id="deleted"),
        pytest.param("apiVersion: v1alpha1\nkind: DHCPv4Config\nname: enp1s0\n", [], id="dhcpv4config"),
    ],
)
def test_where_dhcpv6_is_on(text: str, found: list[str]) -> None:
    assert dhcpv6_links(config_documents(text, "f")) == found


@pytest.mark.parametrize(
    ("documents", "hazard"),
    [
        pytest.param([BLOCK_DOC, APID], True, id="block-no-rule"),
        pytest.param(
            [BLOCK_DOC, APID, rule_doc("dhcpv6-client-ingress", "[546]", "udp", ["fe80::/10"])], False, id="block-dhcp"
        ),
        pytest.param([BLOCK_DOC, APID, rule_doc("r", "[546]", "udp", ["fe80::1/128"])], False, id="one-server"),
        pytest.param([BLOCK_DOC, APID, rule_doc("r", "[546]", "udp", ["fd00:30::/64"])], True, id="not-link-local"),
        pytest.param([BLOCK_DOC, APID, rule_doc("r", "[546]", "tcp", ["fe80::/10"])], True, id="tcp-rule"),
        pytest.param([BLOCK_DOC, APID, rule_doc("r", "[546]", "udp", ["::/0"])], False, id="everyone"),
        pytest.param([ACCEPT_DOC, APID], False, id="accept-no-rule-on-546"),
        pytest.param(
            [ACCEPT_DOC, rule_doc("trust-nodes-udp", '["1-65534"]', "udp", ["192.168.30.0/24", "fd00:30::/64"])],
            True,
            id="accept-rule-drops-546",
        ),
        pytest.param([APID], False, id="rules-only-patch"),
    ],
)
def test_dhcpv6_blocked(documents: list[str], hazard: bool) -> None:
    for config in (DHCPV6_V1ALPHA1, DHCPV6_CONFIG):
        assert ("dhcpv6-blocked" in _codes(_join(config, *documents))) is hazard
    # Without DHCPv6 (DHCPv4 needs no rule) nothing is reported.
    assert "dhcpv6-blocked" not in _codes(_join(DHCPV6_V1ALPHA1.replace("ipv6", "ipv4"), *documents))


def test_the_finding_names_where_and_the_fix() -> None:
    text = (FIXTURES / "dhcpv6-blocked.yaml").read_text(encoding="utf-8")
    (finding,) = check_text(text, "node.yaml", lint_options())
    assert finding == Finding(
        "node.yaml",
        "firewall",
        "dhcpv6-blocked",
        "DHCPv6 is on (machine.network.interfaces[0] (eth0)) and the firewall drops its replies: the server "
        "answers the multicast Solicit from a link-local address to 546/udp, a new flow for conntrack, so the node "
        "gets no DHCPv6 address",
        "allow 546/udp from fe80::/10 (talospatch gen --with dhcp); DHCPv4 needs no rule",
    )


def test_merged_the_config_and_a_patch_with_the_rule(tmp_path: Path) -> None:
    machine = _join(DHCPV6_V1ALPHA1, BLOCK_DOC, APID)
    patch = rule_doc("dhcpv6-client-ingress", "[546]", "udp", ["fe80::/10"])
    assert [f.code for f in check_merged([("mc.yaml", machine)], lint_options())] == ["dhcpv6-blocked"]
    assert check_merged([("mc.yaml", machine), ("patch.yaml", patch)], lint_options()) == []


def test_link_local_rules_are_not_one_family() -> None:
    """A rule from fe80::/10 only has no IPv4 side; nor does it make an IPv4 node dual-stack."""
    dual = _join(BLOCK_DOC, APID, rule_doc("dhcpv6-client-ingress", "[546]", "udp", ["fe80::/10"]))
    assert _codes(dual) == []
    v4 = _join(
        BLOCK_DOC,
        rule_doc("apid-ingress", "[50000]", "tcp", ["192.168.30.0/24"]),
        rule_doc("talos-bgp-unnumbered-ingress", "[179]", "tcp", ["fe80::/10"]),
    )
    assert _codes(v4) == []
    mixed = _join(BLOCK_DOC, APID, rule_doc("r", "[179]", "tcp", ["fe80::/10", "192.168.30.1/32"]))
    assert _codes(mixed) == []  # both families
    assert _codes(_join(BLOCK_DOC, APID, rule_doc("r", "[179]", "tcp", ["192.168.30.1/32"]))) == ["one-family"]


def test_generated_dhcp_and_unnumbered_patches_pass_check(cli: Cli, tmp_path: Path) -> None:
    patch = tmp_path / "worker.yaml"
    subnets = ["--subnet", "192.168.30.0/24", "--subnet", "fd00:30::/64"]
    addons = ["--with", "dhcp", "--with", "talos-bgp-unnumbered"]
    assert cli("gen", "--role", "worker", *subnets, *addons, "-o", str(patch)).code == 0
    config = tmp_path / "machine.yaml"
    config.write_text(DHCPV6_V1ALPHA1, encoding="utf-8")
    result = cli("check", "--merge", str(config), str(patch), "--role", "worker", *subnets[:2], *addons)
    assert (result.code, result.out) == (0, "")
