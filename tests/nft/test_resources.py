"""talospatch.nft.resources: NfTablesChain resources as talosctl prints them, both ways.

The fixtures under tests/fixtures/live/ are built to the formats in
shared/reference/talos-live.md (read from the Talos sources): ``note-example.yaml`` is the
note's own example chain, verbatim; ``cp1-chains.yaml`` is a control-plane node of the
reference cluster (out/controlplane.yaml, node 192.168.30.11); ``cluster-chains.json`` is
``-o json`` for two nodes with KubeSpan's chains; ``kubespan-chains.yaml`` holds only those.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from talospatch.errors import BadInput
from talospatch.nft.compile import NodeContext, compile_firewall
from talospatch.nft.resources import (
    AddressMatch,
    expected_chains,
    parse_live,
    parse_priority,
    priority_text,
    render_resources,
    resource_text,
)
from talospatch.talos.documents import Firewall, PortRange
from talospatch.talos.patchfiles import load_firewall
from testing.documents import firewall, ip, rule

ROOT = Path(__file__).resolve().parents[2]
LIVE = Path(__file__).resolve().parents[1] / "fixtures" / "live"
CP1 = NodeContext(node_ips=(ip("192.168.30.11"),))


def reference() -> Firewall:
    return load_firewall([str(ROOT / "out" / "controlplane.yaml")])


def read(name: str) -> str:
    return (LIVE / name).read_text(encoding="utf-8")


# -- priorities ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("printed", "value"),
    [
        pytest.param("mangle", -150, id="name-mangle"),
        pytest.param("nat-dest", -100, id="name-nat-dest"),
        pytest.param("filter", 0, id="name-filter"),
        pytest.param("Filter", 0, id="name-any-case"),
        pytest.param("conntrack-helper", 300, id="name-conntrack-helper"),
        pytest.param("NfTablesChainPriority(-140)", -140, id="stringer-ingress"),
        pytest.param("NfTablesChainPriority(-110)", -110, id="stringer-prerouting"),
        pytest.param(-140, -140, id="plain-number"),
        pytest.param("-110", -110, id="number-as-text"),
    ],
)
def test_priority_spellings(printed: object, value: int) -> None:
    assert parse_priority(printed, "f") == value


@pytest.mark.parametrize(
    ("value", "printed"),
    [
        pytest.param(-140, "NfTablesChainPriority(-140)", id="ingress"),
        pytest.param(-110, "NfTablesChainPriority(-110)", id="prerouting"),
        pytest.param(-150, "mangle", id="mangle"),
        pytest.param(-100, "nat-dest", id="nat-dest"),
        pytest.param(0, "filter", id="filter-before-v1.9.4"),
    ],
)
def test_priority_printed_as_talosctl_does(value: int, printed: str) -> None:
    assert priority_text(value) == printed


def test_unknown_priority_name_is_bad_input() -> None:
    with pytest.raises(BadInput, match=r"^f: chain ingress: priority 'medium' is not a number"):
        parse_live(read("note-example.yaml").replace("NfTablesChainPriority(-140)", "medium"), "f")


@pytest.mark.parametrize(
    "spelling",
    ["NfTablesChainPriority(-140)", "-140", "'-140'"],
    ids=["stringer", "plain-number", "quoted-number"],
)
def test_ingress_priority_spellings_in_a_file(spelling: str) -> None:
    text = read("cp1-chains.yaml").replace("priority: NfTablesChainPriority(-140)", f"priority: {spelling}")
    assert parse_live(text, "f").of_node("192.168.30.11")[0].priority == -140


# -- rendering -----------------------------------------------------------------------------


def test_the_reference_notes_example_renders_back_byte_for_byte() -> None:
    text = read("note-example.yaml")
    live = parse_live(text, "note-example.yaml")
    assert render_resources(live.chains) == text


def test_reference_cluster_renders_as_the_node_prints_it() -> None:
    """out/controlplane.yaml on node .11: the fixture, but for the node-made metadata."""
    ours = resource_text(reference(), CP1, node="192.168.30.11")
    theirs = read("cp1-chains.yaml")
    strip = ("    version:", "    created:", "    updated:")
    assert [ln for ln in ours.splitlines() if not ln.startswith(strip)] == [
        ln for ln in theirs.splitlines() if not ln.startswith(strip)
    ]


def test_rendering_framing() -> None:
    text = resource_text(reference(), CP1)
    docs = text.split("---\n")
    assert len(docs) == 2
    assert docs[0].startswith("node: talospatch\nmetadata:\n    namespace: network\n")
    assert "    id: ingress\n" in docs[0]
    assert "    id: prerouting\n" in docs[1]
    assert "    priority: NfTablesChainPriority(-110)\n    policy: accept\n" in docs[1]
    assert not text.startswith("---")


FIREWALLS: dict[str, tuple[Callable[[], Firewall], NodeContext]] = {
    "reference-controlplane": (lambda: reference(), CP1),
    "reference-worker": (lambda: load_firewall([str(ROOT / "out" / "worker.yaml")]), CP1),
    "accept-mode": (
        lambda: firewall("accept", rule("kubelet-ingress", [10250], "tcp", "10.0.0.0/8 except 10.3.0.0/16")),
        CP1,
    ),
    "dual-stack-no-node-ip": (
        lambda: firewall("block", rule("apid-ingress", [50000, 50001, "6000-6010"], "tcp", "0.0.0.0/0", "::/0")),
        NodeContext(pod_subnets=(ipaddress.ip_network("10.244.0.0/16"), ipaddress.ip_network("fd00:244::/56"))),
    ),
    "dual-stack-node": (
        lambda: firewall("block", rule("kubelet-ingress", [10250], "tcp", "fd00:30::/64")),
        NodeContext(node_ips=(ip("192.168.30.11"), ip("fd00:30::11"))),
    ),
}


@pytest.mark.parametrize("name", list(FIREWALLS))
def test_round_trip_parses_back_to_the_same_chains(name: str) -> None:
    make, ctx = FIREWALLS[name]
    chains = expected_chains(make(), ctx)
    assert parse_live(render_resources(chains), "ours").chains == chains


def test_host_dns_over_ipv6_when_a_pod_subnet_is_ipv6() -> None:
    make, ctx = FIREWALLS["dual-stack-no-node-ip"]
    ingress = expected_chains(make(), ctx)[0]
    dns = [r for r in ingress.rules if r.protocol == "udp" and r.dports == (PortRange(53, 53),)]
    assert len(dns) == 1
    assert dns[0].destination == AddressMatch(
        (ipaddress.ip_network("169.254.116.108/32"), ipaddress.ip_network("fd54:616c:6f73::204f:5320:444e:531/128"))
    )


def test_a_rule_with_no_subnets_is_in_the_resource_though_nft_gets_none() -> None:
    """Talos keeps the spec rule; only the compiled chain drops a rule that matches nothing."""
    fw = firewall("block", rule("closed", [9000], "tcp"))
    assert not [r for r in compile_firewall(fw, CP1).chains[0].rules if r.rule_name == "closed"]
    named = [r for r in expected_chains(fw, CP1)[0].rules if r.rule_name == "closed"]
    assert named
    assert named[0].source == AddressMatch()


def test_ports_are_sorted_not_merged_in_the_resource() -> None:
    fw = firewall("block", rule("web", [443, 80, 81], "tcp", "0.0.0.0/0"))
    (web,) = [r for r in expected_chains(fw)[0].rules if r.rule_name == "web"]
    assert web.dports == (PortRange(80, 80), PortRange(81, 81), PortRange(443, 443))


def test_inactive_firewall_has_no_chains() -> None:
    assert expected_chains(firewall("accept", default_doc=False)) == ()
    assert render_resources(()) == ""


# -- parsing: framing ----------------------------------------------------------------------


def test_json_and_yaml_framing_give_the_same_chains() -> None:
    from_yaml = parse_live(read("cp1-chains.yaml"), "cp1-chains.yaml")
    from_json = parse_live(read("cluster-chains.json"), "cluster-chains.json")
    assert from_json.nodes == ["192.168.30.11", "192.168.30.12"]
    assert from_json.of_node("192.168.30.11") == from_yaml.chains
    assert [c.version for c in from_json.of_node("192.168.30.11")] == [5, 4]


def test_json_objects_with_nothing_between_them() -> None:
    objects = [json.loads(chunk) for chunk in _json_chunks(read("cluster-chains.json"))]
    glued = "".join(json.dumps(o) for o in objects)  # "}{": no newline, no array
    assert parse_live(glued, "glued").chains == parse_live(read("cluster-chains.json"), "f").chains


def _json_chunks(text: str) -> list[str]:
    decoder, index, out = json.JSONDecoder(), 0, []
    while index < len(text.rstrip()):
        _value, end = decoder.raw_decode(text, index)
        out.append(text[index:end])
        index = end + 1
    return out


def test_kubespan_chains_are_ignored_with_a_note() -> None:
    live = parse_live(read("cluster-chains.json"), "cluster-chains.json")
    assert [c.id for c in live.chains] == ["ingress", "prerouting"] * 2
    assert [c.id for c in live.ignored] == ["kubespan_prerouting", "kubespan_outgoing"]
    assert live.notes_of("192.168.30.11") == (
        "KubeSpan chain kubespan_prerouting ignored: KubeSpan owns it, not the ingress firewall",
        "KubeSpan chain kubespan_outgoing ignored: KubeSpan owns it, not the ingress firewall",
    )
    assert live.notes_of("192.168.30.12") == ()


def test_kubespan_matches_talospatch_does_not_model_are_kept() -> None:
    live = parse_live(read("kubespan-chains.yaml"), "kubespan-chains.yaml")
    outgoing = live.ignored[1]
    assert (outgoing.type, outgoing.hook, outgoing.priority) == ("route", "output", 0)
    assert outgoing.rules[0].other == (("matchMark", '{"mask":96,"value":32}'),)
    assert outgoing.rules[2].other == (("clampMSS", '{"mtu":1420}'),)
    assert outgoing.rules[2].verdict is None
    assert live.nodes == ["192.168.30.11"]


def test_rules_carry_no_names_on_the_node() -> None:
    chains = parse_live(read("cp1-chains.yaml"), "f").chains
    assert all(r.rule_name is None and r.origin is None for c in chains for r in c.rules)


def test_empty_output_is_a_node_without_chains() -> None:
    live = parse_live("", "empty.yaml")
    assert live.chains == ()
    assert live.notes == ("empty.yaml: no NfTablesChain resources (a node with no firewall documents has none)",)


# -- parsing: bad input --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        pytest.param(
            ("type: NfTablesChains.net.talos.dev", "type: AddressStatuses.net.talos.dev"),
            "live.yaml: resource 1: is a AddressStatuses.net.talos.dev resource, not NfTablesChains.net.talos.dev",
            id="other-resource-type",
        ),
        pytest.param(
            ("verdict: accept", "verdict: allow"),
            "live.yaml: chain ingress: rules[1].verdict 'allow' is not one of accept, drop",
            id="bad-verdict",
        ),
        pytest.param(
            ("- 192.168.30.0/24", "- 192.168.30.0/33"),
            "live.yaml: chain ingress: rules[10].matchSourceAddress.includeSubnets: '192.168.30.0/33' is not a CIDR",
            id="bad-cidr",
        ),
        pytest.param(
            ("protocol: udp", "protocol: sctp"),
            "live.yaml: chain ingress: rules[7].matchLayer4.protocol 'sctp' is not one of tcp, udp, icmp, icmpv6",
            id="bad-protocol",
        ),
        pytest.param(
            ("  anonymousCounter: true\n          verdict: accept", "  matchFoo: 1\n          verdict: accept"),
            "live.yaml: chain ingress: rules[1]: unknown key 'matchFoo'",
            id="unknown-key",
        ),
        pytest.param(
            ("- lo: 50000", "- lo: 70000"),
            "live.yaml: chain ingress: rules[10].matchDestinationPort.ranges[].lo 70000 is not an integer 0-65535",
            id="bad-port",
        ),
        pytest.param(
            ("    hook: input", "    hook: sideways"),
            "live.yaml: chain ingress: hook 'sideways' is not one of prerouting, input, forward, output, postrouting",
            id="bad-hook",
        ),
    ],
)
def test_bad_input_names_the_file_and_the_problem(edit: tuple[str, str], message: str) -> None:
    text = read("cp1-chains.yaml").replace(*edit, 1)
    with pytest.raises(BadInput) as err:
        parse_live(text, "live.yaml")
    assert str(err.value).startswith(message)
    assert "\n" not in str(err.value)


def test_invalid_json_is_bad_input() -> None:
    with pytest.raises(BadInput, match=r"^live.json: invalid JSON at line 2 column 1"):
        parse_live('{"node": "x",\n}', "live.json")


def test_invalid_yaml_is_bad_input() -> None:
    with pytest.raises(BadInput, match=r"^live.yaml.*invalid YAML"):
        parse_live("node: [\n", "live.yaml")


def test_the_same_chain_twice_for_one_node_is_bad_input() -> None:
    text = read("note-example.yaml")
    with pytest.raises(BadInput, match=r"^twice.yaml: chain ingress of node 10.5.0.2 appears twice$"):
        parse_live(text + "---\n" + text, "twice.yaml")
