"""talospatch.live.verify: a node's chains against what talospatch compiles for it.

The node side is a fixture built to the talosctl format (tests/fixtures/live/); the
reference cluster is out/controlplane.yaml on node 192.168.30.11.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import talospatch.nft.resources
from talospatch.errors import BadInput
from talospatch.live.verify import results_dict, verify
from talospatch.nft.compile import NodeContext, Ruleset, compile_firewall
from talospatch.nft.live import LiveChains, parse_live
from talospatch.nft.resources import expected_chains, render_resources
from talospatch.talos.documents import Firewall
from talospatch.talos.patchfiles import load_firewall
from testing.documents import firewall, ip, rule

ROOT = Path(__file__).resolve().parents[2]
LIVE = Path(__file__).resolve().parents[1] / "fixtures" / "live"
CP1 = NodeContext(node_ips=(ip("192.168.30.11"),))


def reference() -> Firewall:
    return load_firewall([str(ROOT / "out" / "controlplane.yaml")])


def live(name: str) -> LiveChains:
    return parse_live((LIVE / name).read_text(encoding="utf-8"), name)


def edited(name: str, old: str, new: str, count: int = 1) -> LiveChains:
    text = (LIVE / name).read_text(encoding="utf-8")
    assert text.count(old) >= count, old
    return parse_live(text.replace(old, new, count), name)


def messages(results: list[Any]) -> list[str]:
    return [line for result in results for line in result.lines()]


def test_node_equal_to_the_reference_patch() -> None:
    (result,) = verify(live("cp1-chains.yaml"), reference(), CP1)
    assert result.equal
    assert result.findings == ()
    assert result.node == "192.168.30.11"


def test_node_addresses_are_read_from_the_prerouting_chain() -> None:
    (result,) = verify(live("cp1-chains.yaml"), reference(), NodeContext())
    assert result.equal
    assert result.notes == ("node addresses taken from the node's prerouting chain: 192.168.30.11",)


def test_every_node_of_a_json_file_with_kubespan() -> None:
    results = verify(live("cluster-chains.json"), reference())
    assert [(r.node, r.equal) for r in results] == [("192.168.30.11", True), ("192.168.30.12", True)]
    assert any("kubespan_outgoing ignored" in note for note in results[0].notes)


DRIFT = [
    pytest.param(
        "node allows 22/tcp from 0.0.0.0/0, which no rule here generates (ingress and prerouting chains)",
        id="extra-rule",
    ),
    pytest.param(
        "etcd-ingress (2379-2380/tcp from 192.168.30.11-13) is missing on the node: the patch was not applied"
        " (ingress and prerouting chains)",
        id="missing-rule",
    ),
    pytest.param(
        "kubelet-ingress: node allows 10250/tcp from 0.0.0.0/0, the patch allows 10.244.0.0/16, 192.168.30.0/24"
        " (ingress and prerouting chains)",
        id="changed-source-list",
    ),
]


@pytest.mark.parametrize("expected", DRIFT)
def test_drift_is_found(expected: str) -> None:
    (result,) = verify(live("cp1-chains-drift.yaml"), reference(), CP1)
    assert not result.equal
    assert expected in result.lines()


def test_drift_finds_exactly_those_three() -> None:
    (result,) = verify(live("cp1-chains-drift.yaml"), reference(), CP1)
    assert sorted(f.kind for f in result.findings) == ["changed-rule", "extra-rule", "missing-rule"]
    assert [f.rule for f in result.findings if f.rule] == ["kubelet-ingress", "etcd-ingress"]


def test_drift_in_one_chain_only_names_that_chain() -> None:
    live_chains = edited(
        "cp1-chains.yaml",
        "                - 192.168.30.0/24\n          matchLayer4:\n            protocol: tcp\n"
        "            matchDestinationPort:\n                ranges:\n                    - lo: 50001",
        "                - 192.168.0.0/16\n          matchLayer4:\n            protocol: tcp\n"
        "            matchDestinationPort:\n                ranges:\n                    - lo: 50001",
    )
    (result,) = verify(live_chains, reference(), CP1)
    assert result.lines() == [
        "trustd-ingress: node allows 50001/tcp from 192.168.0.0/16, the patch allows 192.168.30.0/24 (ingress chain)"
    ]


def test_changed_ports() -> None:
    live_chains = edited(
        "cp1-chains.yaml", "- lo: 6443\n                      hi: 6443", "- lo: 6443\n                      hi: 6444", 2
    )
    (result,) = verify(live_chains, reference(), CP1)
    assert result.lines() == [
        (
            "kubernetes-api-ingress: node allows 6443-6444/tcp from 10.244.0.0/16, 192.168.30.0/24, 196.45.28.20,"
            " the patch allows 6443/tcp (ingress and prerouting chains)"
        )
    ]


def test_same_addresses_spelled_differently_are_equal() -> None:
    """192.168.30.12/31 as two /32s: the same set, so no finding."""
    live_chains = edited(
        "cp1-chains.yaml",
        "                - 192.168.30.12/31\n",
        "                - 192.168.30.13/32\n                - 192.168.30.12/32\n",
        6,
    )
    (result,) = verify(live_chains, reference(), CP1)
    assert result.equal


def test_priority_of_an_older_release() -> None:
    live_chains = edited("cp1-chains.yaml", "priority: NfTablesChainPriority(-140)", "priority: filter")
    (result,) = verify(live_chains, reference(), CP1)
    assert result.lines() == [
        (
            "chain ingress: the node's priority is filter, talospatch builds NfTablesChainPriority(-140)"
            " (Talos before v1.9.4 uses filter)"
        )
    ]


def test_missing_prerouting_chain() -> None:
    text = (LIVE / "cp1-chains.yaml").read_text(encoding="utf-8").split("---\n")[0]
    (result,) = verify(parse_live(text, "f"), reference(), CP1)
    assert result.lines() == [
        "chain prerouting is missing on the node: Talos before v1.10 builds none, nor a node without a routed address"
    ]


def test_node_without_any_chain() -> None:
    (result,) = verify(parse_live("", "empty"), reference(), CP1)
    assert [f.kind for f in result.findings] == ["missing-chain", "missing-chain"]
    assert result.lines()[0] == (
        "chain ingress is missing on the node: the node has no firewall chains (no firewall documents applied)"
    )


def test_rules_in_another_order() -> None:
    ingress = parse_live((LIVE / "cp1-chains.yaml").read_text(encoding="utf-8"), "f").chains[0]
    rules = list(ingress.rules)
    rules[9], rules[10] = rules[10], rules[9]  # trustd-ingress before apid-ingress
    swapped = render_resources([ingress.__class__(**{**ingress.__dict__, "rules": tuple(rules)})])
    (result,) = verify(parse_live(swapped, "f"), reference(), NodeContext())
    assert result.lines() == [
        "rules in another order: on the node trustd-ingress comes before apid-ingress (ingress chain)"
    ]


def test_missing_builtin_rule() -> None:
    icmp = "        - matchLayer4:\n            protocol: icmp\n            matchICMPType:\n                types: [13, 14, 17, 18]\n          anonymousCounter: true\n          verdict: drop\n"
    (result,) = verify(edited("cp1-chains.yaml", icmp, ""), reference(), CP1)
    assert result.lines() == ["the node lacks Talos's built-in rule that drops icmp types 13,14,17,18 (ingress chain)"]


@pytest.mark.parametrize(
    "fw",
    [
        pytest.param(
            firewall("accept", rule("kubelet-ingress", [10250], "tcp", "10.0.0.0/8 except 10.3.0.0/16")),
            id="accept-mode",
        ),
        pytest.param(firewall("block", rule("web", [443, 80], "tcp", "0.0.0.0/0", "::/0")), id="block-dual-stack"),
        pytest.param(firewall("block", rule("closed", [9000], "tcp")), id="rule-without-subnets"),
    ],
)
def test_verify_of_our_own_rendering_is_equal(fw: Firewall) -> None:
    text = render_resources(expected_chains(fw, CP1), node="n1")
    (result,) = verify(parse_live(text, "ours"), fw, CP1)
    assert result.equal, result.lines()


def test_accept_mode_drift_reads_as_drops() -> None:
    fw = firewall("accept", rule("kubelet-ingress", [10250], "tcp", "10.0.0.0/8"))
    other = firewall("accept", rule("kubelet-ingress", [10250], "tcp", "10.0.0.0/16"))
    text = render_resources(expected_chains(other, CP1))
    (result,) = verify(parse_live(text, "f"), fw, CP1)
    assert result.lines() == [
        (
            "kubelet-ingress: node drops 10250/tcp from anyone except 10.0.0.0/16,"
            " the patch drops anyone except 10.0.0.0/8 (ingress and prerouting chains)"
        )
    ]


def test_several_nodes_with_one_node_address_is_bad_input() -> None:
    with pytest.raises(BadInput, match=r"^cluster-chains.json: chains of 2 nodes but one set of node addresses"):
        verify(live("cluster-chains.json"), reference(), CP1)


def test_json_result() -> None:
    results = verify(live("cp1-chains-drift.yaml"), reference(), CP1)
    data = json.loads(json.dumps(results_dict(results)))
    assert data["equal"] is False
    node = data["nodes"][0]
    assert node["node"] == "192.168.30.11"
    assert node["equal"] is False
    assert {
        "kind": "extra-rule",
        "message": "node allows 22/tcp from 0.0.0.0/0, which no rule here generates",
        "chains": ["ingress", "prerouting"],
        "rule": None,
    } in node["findings"]


def test_the_talos_version_is_passed_to_the_compiler(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[object] = []

    def compile_for(fw: Firewall, ctx: NodeContext, version: object = None) -> Ruleset:
        seen.append(version)
        return compile_firewall(fw, ctx)

    monkeypatch.setattr(talospatch.nft.resources, "compile_firewall", compile_for)
    (result,) = verify(live("cp1-chains.yaml"), reference(), CP1, "1.9.4")
    assert result.equal
    assert seen
    assert set(seen) == {"1.9.4"}
