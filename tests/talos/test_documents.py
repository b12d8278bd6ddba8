"""The document models against every Talos validation rule (reference §1.2-§1.3, §4)."""

from __future__ import annotations

import ipaddress
import re
from typing import Any

import pytest

from talospatch.errors import BadInput
from talospatch.talos.documents import (
    Firewall,
    PortRange,
    RuleConfig,
    apply_patches,
    merge_adjacent,
    parse_document,
)


def rule(
    name: str = "r",
    ports: list[Any] | None = None,
    protocol: str | None = "tcp",
    ingress: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    doc: dict[str, Any] = {"apiVersion": "v1alpha1", "kind": "NetworkRuleConfig", "name": name}
    selector: dict[str, Any] = {"ports": [80] if ports is None else ports}
    if protocol is not None:
        selector["protocol"] = protocol
    doc["portSelector"] = selector
    doc["ingress"] = [{"subnet": "10.0.0.0/8"}] if ingress is None else ingress
    return doc


def check(data: dict[str, Any]) -> RuleConfig:
    doc = parse_document(data, "patch.yaml")
    assert isinstance(doc, RuleConfig)
    doc.check()
    return doc


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(80, PortRange(80, 80), id="int"),
        pytest.param(0, PortRange(0, 0), id="zero-accepted-like-talos"),
        pytest.param(65535, PortRange(65535, 65535), id="max"),
        pytest.param("8000-9000", PortRange(8000, 9000), id="range-string"),
        pytest.param("0-65535", PortRange(0, 65535), id="full-range"),
    ],
)
def test_port_parse_accepts(value: object, expected: PortRange) -> None:
    assert PortRange.parse(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        pytest.param("80", 'invalid port range: "80" (a single port must be an unquoted integer)', id="quoted-single"),
        pytest.param(65536, "invalid port range: 65536 (ports are 0-65535)", id="over-65535"),
        pytest.param(-1, "invalid port range: -1 (ports are 0-65535)", id="negative"),
        pytest.param("80 - 443", 'invalid port range: "80 - 443"', id="spaces"),
        pytest.param("1000-70000", 'invalid port range: "1000-70000"', id="range-over-65535"),
        pytest.param("http", 'invalid port range: "http"', id="name"),
        pytest.param(True, "invalid port range: True", id="bool"),
        pytest.param(8.5, "invalid port range: 8.5", id="float"),
    ],
)
def test_port_parse_rejects(value: object, message: str) -> None:
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(").replace(")", r"\)") + "$"):
        PortRange.parse(value)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param(rule(name=""), "NetworkRuleConfig/: name is required", id="name-required"),
        pytest.param(rule(ports=[]), "NetworkRuleConfig/r: portSelector.ports is required", id="ports-required"),
        pytest.param(rule(ports=["8081-8080"]), "NetworkRuleConfig/r: invalid port range: 8081-8080", id="lo-above-hi"),
        pytest.param(
            rule(ports=["1000-2000", "1500-2500"]),
            "NetworkRuleConfig/r: invalid port range: 1500-2500, overlaps with 1000-2000",
            id="overlap",
        ),
        pytest.param(
            rule(ports=[1000, 1000]),
            "NetworkRuleConfig/r: invalid port range: 1000-1000, overlaps with 1000-1000",
            id="duplicate",
        ),
        pytest.param(
            rule(protocol=None),
            "NetworkRuleConfig/r: portSelector.protocol is required (tcp or udp); without it Talos matches nothing",
            id="protocol-required",
        ),
    ],
)
def test_rule_validation(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)) as excinfo:
        check(data)
    assert str(excinfo.value) == message


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param(
            rule(ingress=[{"subnet": "10.0.0.0/33"}]),
            "ingress.subnet: invalid prefix: '10.0.0.0/33'",
            id="prefix-too-long",
        ),
        pytest.param(rule(ingress=[{"subnet": "10.0.0.300/8"}]), "invalid prefix", id="bad-address"),
        pytest.param(rule(ingress=[{"subnet": "10.0.0.0"}]), "invalid prefix", id="bare-address"),
        pytest.param(rule(ingress=[{"except": "10.0.0.0/8"}]), "ingress.subnet: missing", id="subnet-missing"),
        pytest.param(rule(ingress=[{"subnet": "10.0.0.0/8", "except": "nope"}]), "invalid prefix", id="bad-except"),
        pytest.param(
            rule(protocol="sctp"),
            "portSelector.protocol: must be tcp, udp, icmp or icmpv6, not 'sctp'",
            id="unknown-protocol",
        ),
        pytest.param(
            {**rule(), "ingress": {"subnet": "10.0.0.0/8"}}, "ingress: must be a list", id="ingress-not-a-list"
        ),
        pytest.param(
            {**rule(), "ingress": ["10.0.0.0/8"]}, "ingress: must be a mapping", id="ingress-entry-not-a-mapping"
        ),
        pytest.param({**rule(), "portSelector": [80]}, "portSelector: must be a mapping", id="selector-not-a-mapping"),
        pytest.param({**rule(), "extra": 1}, "unknown key 'extra'", id="unknown-key"),
        pytest.param(
            {**rule(), "portSelector": {"ports": [80], "protocol": "tcp", "x": 1}},
            "unknown key 'portSelector.x'",
            id="unknown-nested-key",
        ),
        pytest.param(rule(ports=[70000]), "invalid port range: 70000", id="port-over-65535"),
        pytest.param(rule(ports=["80"]), 'invalid port range: "80"', id="quoted-single-port"),
    ],
)
def test_document_decode_errors(data: dict[str, Any], message: str) -> None:
    with pytest.raises(BadInput) as excinfo:
        parse_document(data, "patch.yaml: document 1")
    text = str(excinfo.value)
    assert text.startswith("patch.yaml: document 1: NetworkRuleConfig/r: ")
    assert message in text
    assert "\n" not in text


def test_adjacent_ranges_are_valid_and_merged_at_compile_time() -> None:
    doc = check(rule(ports=[80, 81, "82-90", 443]))
    assert merge_adjacent(doc.ports) == [PortRange(80, 90), PortRange(443, 443)]


def test_host_bits_are_masked_like_netipx() -> None:
    doc = check(rule(ingress=[{"subnet": "192.168.1.5/24", "except": "192.168.1.7/32"}]))
    assert doc.subnets == [ipaddress.ip_network("192.168.1.0/24")]
    assert doc.excepts == [ipaddress.ip_network("192.168.1.7/32")]


def test_protocol_is_case_insensitive_like_talos() -> None:
    assert check(rule(protocol="TCP")).protocol == "tcp"


def test_empty_ingress_is_valid() -> None:
    assert check(rule(ingress=[])).ingress == ()


def test_other_kinds_are_ignored() -> None:
    assert parse_document({"version": "v1alpha1", "machine": {}}, "x") is None
    assert parse_document({"apiVersion": "v1alpha1", "kind": "KubeSpanEndpointsConfig"}, "x") is None


def test_wrong_api_version() -> None:
    with pytest.raises(BadInput, match="apiVersion must be v1alpha1"):
        parse_document({**rule(), "apiVersion": "v1"}, "x")


def test_a_name_must_be_a_string() -> None:
    with pytest.raises(BadInput, match=r"^x: NetworkRuleConfig/7: name: must be a string$"):
        parse_document({**rule(), "name": 7}, "x")


def test_default_action_values() -> None:
    doc = {"apiVersion": "v1alpha1", "kind": "NetworkDefaultActionConfig"}
    assert parse_document({**doc, "ingress": "block"}, "x") is not None
    assert parse_document(doc, "x").ingress == "accept"  # type: ignore[union-attr]
    with pytest.raises(BadInput, match="NetworkDefaultActionConfig/: ingress"):
        parse_document({**doc, "ingress": "reject"}, "x")


def block() -> dict[str, str]:
    return {"apiVersion": "v1alpha1", "kind": "NetworkDefaultActionConfig", "ingress": "block"}


def test_duplicate_names_rejected_in_final_config() -> None:
    fw = Firewall("block", (check(rule("a")), check(rule("a"))))
    with pytest.raises(ValueError, match=r"^duplicate document: NetworkRuleConfig/a$"):
        fw.check()


def test_patches_merge_by_name_replacing_ports_and_ingress() -> None:
    first = [block(), rule("a", ports=[80]), rule("b", ports=[22])]
    second = [rule("a", ports=[443], ingress=[{"subnet": "192.168.0.0/16"}], protocol=None)]
    fw = apply_patches([("one.yaml", first), ("two.yaml", second)])
    assert [r.name for r in fw.rules] == ["a", "b"]
    assert fw.rules[0].ports == (PortRange(443, 443),)
    assert fw.rules[0].protocol == "tcp"  # kept: the later document left it unset
    assert fw.rules[0].subnets == [ipaddress.ip_network("192.168.0.0/16")]
    assert fw.default_action == "block"


def test_patch_delete_removes_documents() -> None:
    delete_rule = {"apiVersion": "v1alpha1", "kind": "NetworkRuleConfig", "name": "a", "$patch": "delete"}
    delete_default = {"apiVersion": "v1alpha1", "kind": "NetworkDefaultActionConfig", "$patch": "delete"}
    fw = apply_patches([("one.yaml", [block(), rule("a"), rule("b")]), ("two.yaml", [delete_rule, delete_default])])
    assert [r.name for r in fw.rules] == ["b"]
    assert fw.default_action == "accept"
    assert not fw.has_default_doc


def test_accept_cannot_override_block_in_a_patch() -> None:
    accept = {**block(), "ingress": "accept"}
    fw = apply_patches([("one.yaml", [block()]), ("two.yaml", [accept])])
    assert fw.default_action == "block"


def test_accept_with_no_rules_builds_no_firewall() -> None:
    assert not apply_patches([("x", [])]).active
    assert apply_patches([("x", [block()])]).active


def test_patches_reject_an_invalid_final_rule() -> None:
    with pytest.raises(BadInput, match=r"^NetworkRuleConfig/a: portSelector\.ports is required$"):
        apply_patches([("one.yaml", [rule("a", ports=[])])])
