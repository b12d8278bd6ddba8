"""A spec's nodes (talospatch.spec.nodes): checks at their line, and each node's request."""

from __future__ import annotations

import textwrap

import pytest

from talospatch.errors import BadInput
from talospatch.generate.expand import expand
from talospatch.spec.load import LoadedSpec, parse_spec
from talospatch.spec.model import EXTRA_RULES
from talospatch.spec.nodes import find_node, node_request, node_requests, node_warnings, spec_nodes
from testing.cluster import SPEC_NODES

BASE = """\
cni: cilium
subnets: [192.168.30.0/24]
controlplane: [192.168.30.11, 192.168.30.12]
admins: [196.45.28.20/32]
"""
NODES = SPEC_NODES
RULE = "{name: spegel, service: Spegel, ports: [30020], protocol: tcp, from: [nodes], why: peers pull, source: s}"


def spec(text: str) -> LoadedSpec:
    return parse_spec(textwrap.dedent(text), "talospatch.yaml")


def error(text: str) -> str:
    with pytest.raises(BadInput) as exc:
        spec(text)
    message = str(exc.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        pytest.param(
            ("role: worker", "role: bastion"),
            "talospatch.yaml:10: nodes[1].role: unknown role 'bastion'; the spec builds controlplane, worker",
            id="unknown-role",
        ),
        pytest.param(
            ("name: w1", "name: cp1"),
            "talospatch.yaml:9: nodes[1].name: node name 'cp1' is taken by nodes[0]",
            id="duplicate-name",
        ),
        pytest.param(
            ("name: w1", "name: CP1"),
            "talospatch.yaml:9: nodes[1].name: node name 'CP1' is taken by nodes[0]",
            id="duplicate-name-other-case",
        ),
        pytest.param(
            ("address: 192.168.30.21", "address: 192.168.30.11"),
            "talospatch.yaml:11: nodes[1].address: 192.168.30.11 is the address of nodes[0] (cp1) too",
            id="duplicate-address",
        ),
        pytest.param(
            ("address: 192.168.30.21", "address: 192.168.30.256"),
            "talospatch.yaml:11: nodes[1].address: '192.168.30.256' is not an IP address (want e.g. 196.45.28.20)",
            id="bad-address",
        ),
        pytest.param(
            ("address: 192.168.30.21", "address: 192.168.30.0/24"),
            "talospatch.yaml:11: nodes[1].address: '192.168.30.0/24' is not an IP address",
            id="cidr-address",
        ),
        pytest.param(
            ("name: w1", "name: ../w1"),
            "talospatch.yaml:9: nodes[1].name: node name '../w1': use letters, digits, '.', '-' and '_'",
            id="bad-name",
        ),
        pytest.param(
            ("address: 192.168.30.21", "address: 192.168.30.21\n      subnets: [10.0.0.0/8]"),
            "talospatch.yaml:12: nodes[1].subnets: unknown key; valid: name, role, address, admins, bgpPeers, ",
            id="unknown-key",
        ),
        pytest.param(
            ("      address: 192.168.30.21\n", ""), "talospatch.yaml:9: nodes[1].address: missing", id="no-address"
        ),
        pytest.param(
            ("address: 192.168.30.21", "address: 192.168.30.21\n      addons: [etcd-metrics]"),
            "talospatch.yaml:12: nodes[1].addons[0]: add-on etcd-metrics applies to role controlplane only, not worker",
            id="addon-for-other-role",
        ),
        pytest.param(
            ("address: 192.168.30.21", "address: 192.168.30.21\n      addons: [hubbel]"),
            "talospatch.yaml:12: nodes[1].addons[0]: unknown add-on 'hubbel'; valid: ",
            id="unknown-addon",
        ),
        pytest.param(
            ("address: 192.168.30.21", "address: 192.168.30.21\n      admins: [196.45.28.0/33]"),
            "talospatch.yaml:12: nodes[1].admins[0]: ",
            id="bad-admin",
        ),
    ],
)
def test_node_errors_name_the_line_and_key(edit: tuple[str, str], expected: str) -> None:
    message = error(BASE + NODES.replace(*edit))
    assert message.startswith(expected), message


def test_an_empty_node_list_and_a_node_folder_export_are_refused() -> None:
    assert error(BASE + "nodes: []\n") == (
        "talospatch.yaml:5: nodes: names no node; leave it out, or give each node's name, role, address"
    )
    # out/nodes/ is the node patches' folder, whether or not the spec has nodes.
    assert error(BASE + "exports:\n  - {target: proxmox, output: out/nodes}\n") == (
        "talospatch.yaml:6: exports[0].output: out/nodes is the folder of the node patches (out/nodes); "
        "give the export another folder"
    )


def test_a_node_without_keys_takes_its_roles_request() -> None:
    loaded = spec(BASE + NODES)
    for item in node_requests(loaded):
        assert not item.differs
        assert item.request == loaded.request(item.node.role)
    assert [(n.name, n.role, n.address) for n in spec_nodes(loaded)] == [
        ("cp1", "controlplane", "192.168.30.11"),
        ("w1", "worker", "192.168.30.21"),
    ]


def test_a_nodes_keys_add_to_its_roles() -> None:
    loaded = spec(
        BASE
        + "addons: [hubble]\nfrom: [196.45.28.20]\n"
        + NODES.replace(
            "address: 192.168.30.21",
            "address: 192.168.30.21\n      admins: [203.0.113.7]\n      from: [203.0.113.7]\n      addons: [hubble, spegel]",
        )
    )
    item = node_request(loaded, find_node(loaded, "w1"))
    base = loaded.request("worker").options
    assert item.differs
    assert item.request.options.admins == ("196.45.28.20/32", "203.0.113.7")
    assert item.request.options.guard_from == ("196.45.28.20", "203.0.113.7")
    assert item.request.options.addons == ("hubble", "spegel")
    assert item.request.options._replace(admins=base.admins, guard_from=base.guard_from, addons=base.addons) == base
    assert item.request.labels("admins") == "nodes[1].admins"
    generated = expand(item.request.options, item.request.catalog, item.request.labels)
    assert any(r.profile == "spegel" for r in generated.rules)


def test_an_addon_already_in_the_role_does_not_make_the_node_differ() -> None:
    loaded = spec(
        BASE
        + "addons: [hubble]\n"
        + NODES.replace("address: 192.168.30.21", "address: 192.168.30.21\n      addons: [hubble]")
    )
    assert not node_request(loaded, find_node(loaded, "w1")).differs


def test_a_top_level_group_the_node_takes_applies_to_the_node_only() -> None:
    """bgpPeers at the top: no worker rule takes it, a worker with the bgp add-on does."""
    loaded = spec(
        BASE
        + "bgpPeers: [192.168.30.1]\nroles:\n  worker: {}\n"
        + NODES.replace("role: controlplane", "role: worker").replace(
            "address: 192.168.30.21", "address: 192.168.30.21\n      addons: [bgp]"
        )
    )
    assert loaded.request("worker").options.bgp_peers == ()
    plain, edge = node_requests(loaded)
    assert not plain.differs
    assert edge.differs
    assert edge.request.options.bgp_peers == ("192.168.30.1",)
    generated = expand(edge.request.options, edge.request.catalog, edge.request.labels)
    (bgp,) = [r for r in generated.rules if r.profile == "bgp"]
    assert [str(n) for n in bgp.document.subnets] == ["192.168.30.1/32"]


def test_a_nodes_key_that_no_rule_takes_is_named_in_the_error() -> None:
    loaded = spec(
        BASE + NODES.replace("address: 192.168.30.21", "address: 192.168.30.21\n      bgpPeers: [192.168.30.1]")
    )
    request = node_request(loaded, find_node(loaded, "w1")).request
    with pytest.raises(BadInput) as exc:
        expand(request.options, request.catalog, request.labels)
    assert str(exc.value).startswith("nodes[1].bgpPeers does not apply to role worker")


def test_a_nodes_extra_rules_join_the_roles() -> None:
    role_rule = RULE.replace("spegel", "role-rule")
    loaded = spec(
        BASE
        + f"extraRules: [{role_rule}]\n"
        + NODES.replace("address: 192.168.30.21", f"address: 192.168.30.21\n      extraRules: [{RULE}]")
    )
    item = node_request(loaded, find_node(loaded, "w1"))
    assert item.differs
    assert item.request.options.addons == (EXTRA_RULES,)
    generated = expand(item.request.options, item.request.catalog, item.request.labels)
    assert {"role-rule", "spegel"} <= {r.document.name for r in generated.rules}
    role = loaded.request("worker")
    assert "spegel" not in {r.document.name for r in expand(role.options, role.catalog, role.labels).rules}


def test_find_node_lists_the_names() -> None:
    loaded = spec(BASE + NODES)
    with pytest.raises(BadInput) as exc:
        find_node(loaded, "w2")
    assert str(exc.value) == "--node w2: no such node in talospatch.yaml; valid: cp1, w1"
    with pytest.raises(BadInput) as exc:
        find_node(spec(BASE), "w1")
    assert str(exc.value) == "--node w1: talospatch.yaml names no node (give it nodes: with name, role and address)"


def test_nodes_the_rules_between_nodes_miss_are_warned_about() -> None:
    loaded = spec(BASE + NODES.replace("192.168.30.11", "192.168.30.13").replace("192.168.30.21", "10.0.0.21"))
    assert node_warnings(loaded, node_requests(loaded)) == [
        (
            "talospatch.yaml: nodes[0].address 192.168.30.13 (cp1) is not in controlplane (192.168.30.11/32, "
            "192.168.30.12/32): the rules between control planes (etcd) miss it"
        ),
        (
            "talospatch.yaml: nodes[1].address 10.0.0.21 (w1) is outside subnets (192.168.30.0/24): the rules between "
            "nodes miss it"
        ),
    ]
