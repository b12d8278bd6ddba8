"""pfSense export: the two restore areas, read back with xml.etree and checked against the
structure pfSense's own parser (``src/etc/inc/xmlparse.inc``) and restore code
(``restore_config_section``) expect."""

from __future__ import annotations

import html
import xml.etree.ElementTree as ET
from typing import Any

import pytest

from talospatch.errors import BadInput
from talospatch.export.cluster import Export, build_cluster
from talospatch.export.pfsense import ALIASES_FILE, FILTER_FILE, render
from talospatch.generate.expand import GenOptions
from talospatch.generate.profiles import Catalog
from talospatch.registry import ExportOptions
from testing.exportnft import reference
from testing.pfsensexml import check_aliases, check_filter, check_unique_children, summary

CATALOG = Catalog.load()


def pfsense(options: GenOptions, **export: Any) -> Export:
    """The target's files for gen's options, with ``export``'s router options."""
    return render(build_cluster(options, CATALOG), ExportOptions(**export))


def test_reference_cluster_sections_parse_and_hold_the_seed_rules() -> None:
    files = pfsense(reference()).files
    assert set(files) == {ALIASES_FILE, FILTER_FILE}
    # restore_config_section() looks for the literal tag before parsing.
    assert "<filter>" in files[FILTER_FILE]
    assert "<aliases>" in files[ALIASES_FILE]
    alias_root = ET.fromstring(files[ALIASES_FILE])
    filter_root = ET.fromstring(files[FILTER_FILE])
    check_unique_children(alias_root)
    check_unique_children(filter_root)
    aliases = check_aliases(alias_root)
    ours = check_filter(filter_root, aliases, {"lan", "opt1"})
    assert len(ours) == len(filter_root.findall("rule"))
    # The seed's pfSense table: admin to the cluster on 6443 and 50000, egress 443/tcp and 123/udp,
    # and 4460/tcp (NTS key exchange) for v1.14, the default release.
    assert sorted(map(summary, ours), key=str) == sorted(
        [
            ("lan", "tcp", "50000", "talospatch_admins", "talospatch_controlplane", "inet"),
            ("lan", "tcp", "6443", "talospatch_admins", "talospatch_controlplane", "inet"),
            ("lan", "tcp", "50000", "talospatch_admins", "talospatch_nodes", "inet"),
            ("opt1", "tcp", "443", "talospatch_nodes", "any", "inet"),
            ("opt1", "udp", "123", "talospatch_nodes", "any", "inet"),
            ("opt1", "tcp", "4460", "talospatch_nodes", "any", "inet"),
        ],
        key=str,
    )


def test_the_filter_comment_names_what_the_router_cannot_enforce() -> None:
    text = pfsense(reference()).files[FILTER_FILE]
    parser = ET.XMLParser(target=ET.TreeBuilder(insert_comments=True))
    root = ET.fromstring(text, parser=parser)
    comments = [c.text or "" for c in root if c.tag is ET.Comment]  # type: ignore[comparison-overlap]
    assert len(comments) == 1
    assert comments[0].strip().startswith("talospatch:")
    for line in (
        "controlplane etcd-ingress (2379-2380/tcp) from controlplane",
        "worker kubelet-ingress (10250/tcp) from pods",
        "controlplane cni-geneve (6081/udp) from nodes",
        "intra-cluster row (192.168.30.0/24 to 192.168.30.0/24, any port)",
    ):
        assert line in comments[0]


def test_descriptions_are_the_rules_why_escaped_as_pfsense_writes_them() -> None:
    text = pfsense(reference()).files[FILTER_FILE]
    assert (
        "<descr><![CDATA[talospatch: worker apid-ingress from admins: talosctl reaches workers through the "
        "control-plane nodes, which proxy to the worker&apos;s apid" in text
    )
    root = ET.fromstring(text)
    descr = [html.unescape(r.findtext("descr", "")) for r in root.findall("rule")]
    assert (
        "talospatch: controlplane kubernetes-api-ingress from admins: kubelets and kubectl connect here; "
        "in-cluster clients arrive with pod addresses, which Talos does not pre-accept towards node addresses" in descr
    )


def test_several_source_interfaces_and_dual_stack() -> None:
    options = reference(
        subnets=("192.168.30.0/24", "fd00:30::/64"),
        controlplane=("192.168.30.11", "fd00:30::11"),
        admins=("196.45.28.20/32", "2001:db8:45::/48"),
        addons=("ingress-http",),
    )
    files = pfsense(options, from_interfaces=("lan", "wan"), cluster_interface="opt2").files
    aliases = check_aliases(ET.fromstring(files[ALIASES_FILE]))
    ours = check_filter(ET.fromstring(files[FILTER_FILE]), aliases, {"lan", "wan", "opt2"})
    got = {summary(r) for r in ours}
    assert ("wan", "tcp", "6443", "talospatch_admins", "talospatch_controlplane", "inet46") in got
    assert ("lan", "tcp", "443", "any", "talospatch_controlplane", "inet46") in got
    assert ("opt2", "tcp", "443", "talospatch_nodes", "any", "inet46") in got
    assert aliases["talospatch_admins"].findtext("type") == "network"


@pytest.mark.parametrize("name", [ALIASES_FILE, FILTER_FILE])
def test_reference_cluster_snapshot(snapshot_xml, name: str) -> None:  # type: ignore[no-untyped-def]
    assert pfsense(reference()).files[name] == snapshot_xml


@pytest.mark.parametrize(("option", "value"), [("cluster_interface", "opt 1"), ("from_interfaces", ("lan", "w@n"))])
def test_interface_names_are_checked(option: str, value: object) -> None:
    with pytest.raises(BadInput, match="not an interface name"):
        pfsense(reference(), **{option: value})


def test_merge_into_makes_the_export_the_one_merged_file() -> None:
    backup = b'<?xml version="1.0"?>\n<pfsense>\n\t<filter>\n\t</filter>\n</pfsense>\n'
    result = pfsense(reference(), merge_into=backup, merge_name="mine.xml")
    assert list(result.files) == ["config.xml"]
    with pytest.raises(BadInput, match=r"^mine\.xml: has no <filter> section$"):
        pfsense(reference(), merge_into=b"<pfsense/>", merge_name="mine.xml")
