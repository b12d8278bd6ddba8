"""pfSense's ``config.xml`` as its own code reads it, for the tests of the pfsense target and merge.

The checks mirror pfSense's parser (``src/etc/inc/xmlparse.inc``: which elements may repeat)
and its alias and rule forms (``util.inc``, ``firewall_rules_edit.php``): an element that
breaks them is one pfSense would throw on or silently mangle.
"""

from __future__ import annotations

import html
import ipaddress
import re
import xml.etree.ElementTree as ET

from talospatch.export.pfsense_xml import TRACKER_SPAN, TRACKER_START

# pfSense's listtags() (xmlparse.inc): only these may repeat under one parent; any other
# element twice under the same parent makes pfSense's parser throw "cannot occur more than once".
PFSENSE_LISTTAGS = frozenset(
    [
        "#",
        "noqa:",
        "SIM905",
        "acls",
        "alias",
        "aliasurl",
        "allowedip",
        "allowedhostname",
        "authserver",
        "bridged",
        "build_port_path",
        "ca",
        "cacert",
        "cert",
        "crl",
        "clone",
        "config",
        "container",
        "columnitem",
        "checkipservice",
        "depends_on_package",
        "disk",
        "dnsserver",
        "dnsupdate",
        "domainoverrides",
        "dyndns",
        "earlyshellcmd",
        "element",
        "encryption-algorithm-option",
        "field",
        "fieldname",
        "gateway_item",
        "gateway_group",
        "gif",
        "gre",
        "group",
        "hash-algorithm-option",
        "hosts",
        "ifgroupentry",
        "igmpentry",
        "interface_array",
        "item",
        "key",
        "lagg",
        "laggroup",
        "lbaction",
        "lbpool",
        "l7rules",
        "lbprotocol",
        "member",
        "menu",
        "tab",
        "mobilekey",
        "mobilegroup",
        "monitor_type",
        "mount",
        "npt",
        "ntpserver",
        "onetoone",
        "openvpn-server",
        "openvpn-client",
        "openvpn-csc",
        "option",
        "package",
        "passthrumac",
        "phase1",
        "phase2",
        "ppp",
        "pppoe",
        "priv",
        "proxyarpnet",
        "pool",
        "qinqentry",
        "queue",
        "pages",
        "pipe",
        "radnsserver",
        "roll",
        "route",
        "row",
        "rrddatafile",
        "rule",
        "schedule",
        "service",
        "servernat",
        "servers",
        "sshkeyfile",
        "serversdisabled",
        "shellcmd",
        "staticmap",
        "subqueue",
        "switch",
        "swport",
        "timerange",
        "tunnel",
        "user",
        "vip",
        "virtual_server",
        "vlan",
        "vlangroup",
        "voucherdbfile",
        "vxlan",
        "wgpeer",
        "winsserver",
        "wolentry",
        "widget",
        "xmldatafile",
    ]
)
# is_validaliasname() (util.inc), without the getservbyname/getprotobyname lookups.
ALIAS_NAME = re.compile(r"(?!_*$)(?!\d*$)[A-Za-z0-9_]{1,31}")


def check_unique_children(element: ET.Element) -> None:
    tags = [child.tag for child in element]
    for tag in set(tags):
        assert tag in PFSENSE_LISTTAGS or tags.count(tag) == 1, f"<{tag}> twice under <{element.tag}>"
    for child in element:
        check_unique_children(child)


def check_aliases(root: ET.Element) -> dict[str, ET.Element]:
    assert root.tag == "aliases"
    aliases: dict[str, ET.Element] = {}
    for alias in root:
        assert alias.tag == "alias"
        name = alias.findtext("name", "")
        assert ALIAS_NAME.fullmatch(name), name
        assert name not in ("port", "pass"), name
        aliases[name] = alias
        if not name.startswith("talospatch_"):
            continue
        kind = alias.findtext("type")
        addresses = alias.findtext("address", "").split(" ")
        details = alias.findtext("detail", "").split("||")
        assert len(details) == len(addresses)
        for address in addresses:
            if kind == "host":
                ipaddress.ip_address(address)
            else:
                assert kind == "network"
                ipaddress.ip_network(address)
    return aliases


def check_endpoint(element: ET.Element | None, aliases: dict[str, ET.Element]) -> str:
    assert element is not None
    kinds = [child.tag for child in element if child.tag != "port"]
    assert kinds in (["any"], ["address"], ["network"])
    if kinds == ["address"]:
        address = element.findtext("address", "")
        if address not in aliases:
            assert "/" not in address or not address.endswith(("/32", "/128")), address
            ipaddress.ip_network(address)
    port = element.findtext("port")
    if port is not None:
        lo, _, hi = port.partition("-")
        assert re.fullmatch(r"\d+(-\d+)?", port)
        assert int(lo) <= int(hi or lo) <= 65535
    return ET.tostring(element, encoding="unicode")


def check_filter(root: ET.Element, aliases: dict[str, ET.Element], interfaces: set[str]) -> list[ET.Element]:
    assert root.tag == "filter"
    ours = [
        rule for rule in root.findall("rule") if html.unescape(rule.findtext("descr", "")).startswith("talospatch:")
    ]
    trackers = [int(rule.findtext("tracker", "x")) for rule in ours]
    assert len(set(trackers)) == len(trackers)
    assert all(TRACKER_START <= t < TRACKER_START + TRACKER_SPAN for t in trackers)
    for rule in ours:
        assert rule.findtext("type") == "pass"
        assert rule.findtext("interface") in interfaces
        assert rule.findtext("ipprotocol") in ("inet", "inet6", "inet46")
        assert rule.findtext("protocol") in ("tcp", "udp", "tcp/udp", "icmp")
        check_endpoint(rule.find("source"), aliases)
        check_endpoint(rule.find("destination"), aliases)
        for endpoint in ("source", "destination"):
            address = rule.findtext(f"{endpoint}/address")
            if address is not None and address.startswith("talospatch_"):
                assert address in aliases, f"{address} is not defined"
    return ours


def canon(element: ET.Element) -> tuple[object, ...]:
    """An element without the whitespace between tags (indentation depends on where it sits)."""
    return (element.tag, (element.text or "").strip(), tuple(canon(child) for child in element))


def summary(rule: ET.Element) -> tuple[str | None, ...]:
    return (
        rule.findtext("interface"),
        rule.findtext("protocol"),
        rule.findtext("destination/port"),
        rule.findtext("source/address") or "any",
        rule.findtext("destination/address") or "any",
        rule.findtext("ipprotocol"),
    )
