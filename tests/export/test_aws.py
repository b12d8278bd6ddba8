"""``aws-terraform`` read back with python-hcl2: the provider's rules for each resource."""

from __future__ import annotations

import re
from typing import Any

import hcl2
import pytest
from hcl2.utils import SerializationOptions

from talospatch.export import render
from talospatch.export.aws import MAX_DESCRIPTION, description
from talospatch.generate.options import GenOptions
from testing.exportnft import build_cluster_cli, resources, variables

HCL = SerializationOptions(strip_string_quotes=True, explicit_blocks=False, with_comments=False)
FILE = "talos-security-groups.tf"
DESCRIPTION_CHARS = re.compile(r"[a-zA-Z0-9 ._\-:/()#,@\[\]+=;{}!$*]*")
SOURCES = ("cidr_ipv4", "cidr_ipv6", "prefix_list_id", "referenced_security_group_id")

CLUSTERS = {
    "reference": GenOptions(
        subnets=("192.168.30.0/24",),
        tunnel="geneve",
        controlplane=("192.168.30.11", "192.168.30.12", "192.168.30.13"),
        admins=("196.45.28.20/32",),
    ),
    "dualstack-everything": GenOptions(
        subnets=("192.168.30.0/24", "fd00:30::/64"),
        controlplane=("192.168.30.11", "fd00:30::11"),
        workers=("192.168.30.21", "fd00:30::21"),
        admins=("196.45.28.20/32", "2001:db8:45::/48"),
        pod_subnets=("10.244.0.0/16", "fd00:244::/56"),
        addons=("cilium-wireguard", "etcd-metrics", "hubble", "ingress-http", "kubespan", "metallb", "node-exporter"),
        nodeport=True,
        nodeport_from=("203.0.113.0/24", "2001:db8:51::/48"),
    ),
    "no-admin": GenOptions(subnets=("192.168.30.0/24",), cni="flannel"),
}


def _load(options: GenOptions) -> dict[str, Any]:
    text = render("aws-terraform", build_cluster_cli(options)).files[FILE]
    doc: dict[str, Any] = hcl2.loads(text, serialization_options=HCL)
    return doc


@pytest.mark.parametrize("name", list(CLUSTERS))
def test_every_resource_is_what_the_provider_accepts(name: str) -> None:
    doc = _load(CLUSTERS[name])
    groups = resources(doc, "aws_security_group")
    assert sorted(groups) == ["controlplane", "worker"]
    for group in groups.values():
        assert group["vpc_id"] == "${var.vpc_id}"
    ingress = resources(doc, "aws_vpc_security_group_ingress_rule")
    assert ingress
    for rname, attrs in ingress.items():
        assert re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_-]*", rname)
        present = [s for s in SOURCES if s in attrs]
        assert len(present) == 1, f"{rname}: exactly one source, got {present}"  # provider ExactlyOneOf
        assert attrs["ip_protocol"] in ("tcp", "udp")
        assert 0 <= attrs["from_port"] <= attrs["to_port"] <= 65535
        text = attrs["description"]
        assert len(text) <= MAX_DESCRIPTION, f"{rname}: {text!r}"
        assert DESCRIPTION_CHARS.fullmatch(text), f"{rname}: {text!r}"
        source = attrs[present[0]]
        if present[0] == "cidr_ipv4":
            assert ":" not in source
            assert "var.admin_cidrs_ipv4" in source or "/" in source
        if present[0] == "cidr_ipv6":
            assert ":" in source or "var.admin_cidrs_ipv6" in source
        if "var.admin_cidrs" in source:
            assert attrs["count"] == f"${{length({source[2:].split('[')[0]})}}"
    egress = resources(doc, "aws_vpc_security_group_egress_rule")
    assert {(n, a["ip_protocol"], a.get("cidr_ipv4") or a.get("cidr_ipv6")) for n, a in egress.items()} == {
        (f"{sg}_all_{fam}", "-1", cidr)
        for sg in ("controlplane", "worker")
        for fam, cidr in (("ipv4", "0.0.0.0/0"), ("ipv6", "::/0"))
    }
    outputs = {k for block in doc["output"] for k in block}
    assert outputs == {"controlplane_security_group_id", "worker_security_group_id"}
    assert "vpc_id" in variables(doc)


def test_no_two_rules_of_a_group_are_the_same() -> None:
    """AWS refuses a duplicate rule (InvalidPermission.Duplicate)."""
    doc = _load(CLUSTERS["dualstack-everything"])
    seen = set()
    for rname, attrs in resources(doc, "aws_vpc_security_group_ingress_rule").items():
        source = next(attrs[s] for s in SOURCES if s in attrs)
        key = (attrs["security_group_id"], attrs["ip_protocol"], attrs["from_port"], attrs["to_port"], source)
        assert key not in seen, rname
        seen.add(key)


def test_group_mapping_of_the_reference_cluster() -> None:
    ingress = resources(_load(CLUSTERS["reference"]), "aws_vpc_security_group_ingress_rule")
    etcd = ingress["controlplane_etcd_ingress_from_controlplane_sg"]
    assert (etcd["from_port"], etcd["to_port"]) == (2379, 2380)
    assert etcd["referenced_security_group_id"] == "${aws_security_group.controlplane.id}"
    assert ingress["controlplane_trustd_ingress_from_worker_sg"]["referenced_security_group_id"] == (
        "${aws_security_group.worker.id}"
    )
    kubelet = {n for n in ingress if n.startswith("worker_kubelet_ingress")}
    assert kubelet == {
        "worker_kubelet_ingress_from_controlplane_sg",
        "worker_kubelet_ingress_from_worker_sg",
        "worker_kubelet_ingress_from_pods_0",
    }
    assert ingress["worker_kubelet_ingress_from_pods_0"]["cidr_ipv4"] == "10.244.0.0/16"
    variable = variables(_load(CLUSTERS["reference"]))["admin_cidrs_ipv4"]
    assert variable["default"] == ["196.45.28.20/32"]
    assert "admin_cidrs_ipv6" not in variables(_load(CLUSTERS["reference"]))


def test_without_admins_the_variable_is_empty() -> None:
    doc = _load(CLUSTERS["no-admin"])
    assert variables(doc)["admin_cidrs_ipv4"]["default"] == []
    assert "controlplane_apid_ingress_from_admins_ipv4" in resources(doc, "aws_vpc_security_group_ingress_rule")


def test_warns_past_sixty_inbound_rules_per_group() -> None:
    admins = tuple(f"198.51.100.{i}/32" for i in range(1, 30))
    small = render("aws-terraform", build_cluster_cli(CLUSTERS["reference"]))
    assert small.warnings == ()
    big = render("aws-terraform", build_cluster_cli(GenOptions(subnets=("192.168.30.0/24",), admins=admins)))
    assert len(big.warnings) == 1
    # control plane: 6443 and 50000 per admin CIDR (58) + node and pod rules
    assert re.fullmatch(r"aws-terraform: security group controlplane has \d+ inbound ipv4 rules .*", big.warnings[0])
    count = int(big.warnings[0].split(" has ")[1].split()[0])
    assert count > 60


@pytest.mark.parametrize(
    ("text", "want"),
    [
        pytest.param("Cilium's default", "Ciliums default", id="apostrophe"),
        pytest.param('a "quoted" <word> & more', "a quoted word more", id="quotes-angles-ampersand"),
        pytest.param("x " * 200, ("x " * 126).strip() + "...", id="too-long"),
        pytest.param("${var.x} %{ if }", "${var.x} { if }", id="template-markers"),
    ],
)
def test_description_fits_ec2(text: str, want: str) -> None:
    assert description(text) == want
    assert len(description(text)) <= MAX_DESCRIPTION


def test_template_markers_are_escaped_in_hcl() -> None:
    from talospatch.export.hcl import string

    assert string("${var.x}") == '"$${var.x}"'
    assert string("100%{") == '"100% {"'
    assert hcl2.loads(f"a = {string('${var.x} and 100%{')}\n", serialization_options=HCL)["a"] == "$${var.x} and 100% {"
