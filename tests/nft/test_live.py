"""talospatch.nft.live: reading talosctl get nftableschains output (-o yaml and -o json).

The fixtures under tests/fixtures/live/ are built to the formats in
shared/reference/talos-live.md (read from the Talos sources): ``note-example.yaml`` is the
note's own example chain, verbatim; ``cp1-chains.yaml`` is a control-plane node of the
reference cluster (out/controlplane.yaml, node 192.168.30.11); ``cluster-chains.json`` is
``-o json`` for two nodes with KubeSpan's chains; ``kubespan-chains.yaml`` holds only those.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from talospatch.errors import BadInput
from talospatch.nft.live import parse_live, parse_priority

LIVE = Path(__file__).resolve().parents[1] / "fixtures" / "live"


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
    assert parse_priority(printed) == value


def test_unknown_priority_name_is_bad_input() -> None:
    with pytest.raises(
        BadInput,
        match=r"^f: chain ingress: spec.priority: must be a number, NfTablesChainPriority\(N\) or one of first, .*, not 'medium'$",
    ):
        parse_live(read("note-example.yaml").replace("NfTablesChainPriority(-140)", "medium"), "f")


@pytest.mark.parametrize(
    "spelling",
    ["NfTablesChainPriority(-140)", "-140", "'-140'"],
    ids=["stringer", "plain-number", "quoted-number"],
)
def test_ingress_priority_spellings_in_a_file(spelling: str) -> None:
    text = read("cp1-chains.yaml").replace("priority: NfTablesChainPriority(-140)", f"priority: {spelling}")
    assert parse_live(text, "f").of_node("192.168.30.11")[0].priority == -140


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
            "live.yaml: resource 1: metadata.type: must be NfTablesChains.net.talos.dev, not 'AddressStatuses.net.talos.dev'",
            id="other-resource-type",
        ),
        pytest.param(
            ("verdict: accept", "verdict: allow"),
            "live.yaml: chain ingress: spec.rules[0].verdict: must be accept or drop, not 'allow'",
            id="bad-verdict",
        ),
        pytest.param(
            ("- 192.168.30.0/24", "- 192.168.30.0/33"),
            "live.yaml: chain ingress: spec.rules[9].matchSourceAddress.includeSubnets[0]: must be a CIDR prefix"
            " such as 10.0.0.0/8, not '192.168.30.0/33'",
            id="bad-cidr",
        ),
        pytest.param(
            ("protocol: udp", "protocol: sctp"),
            "live.yaml: chain ingress: spec.rules[6].matchLayer4.protocol: must be tcp, udp, icmp or icmpv6, not 'sctp'",
            id="bad-protocol",
        ),
        pytest.param(
            ("  anonymousCounter: true\n          verdict: accept", "  matchFoo: 1\n          verdict: accept"),
            "live.yaml: chain ingress: unknown key 'spec.rules[0].matchFoo'",
            id="unknown-key",
        ),
        pytest.param(
            ("- lo: 50000", "- lo: 70000"),
            "live.yaml: chain ingress: spec.rules[9].matchLayer4.matchDestinationPort.ranges[0].lo:"
            " must be an integer 0-65535, not 70000",
            id="bad-port",
        ),
        pytest.param(
            ("    hook: input", "    hook: sideways"),
            "live.yaml: chain ingress: spec.hook: must be prerouting, input, forward, output or postrouting,"
            " not 'sideways'",
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
