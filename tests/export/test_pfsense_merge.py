"""pfSense ``--merge-into``: merging into a realistic config.xml keeps every byte that is not
talospatch's, and pfSense's parser would read the result."""

from __future__ import annotations

import difflib
import html
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from talospatch.errors import BadInput
from talospatch.export.cluster import Export, build_cluster
from talospatch.export.pfsense import FILTER_FILE, render
from talospatch.export.pfsense_merge import MERGED_FILE
from talospatch.generate.expand import GenOptions
from talospatch.generate.profiles import Catalog
from talospatch.registry import ExportOptions
from testing.exportnft import REFERENCE, reference
from testing.pfsensexml import canon, check_aliases, check_filter, check_unique_children, summary

CATALOG = Catalog.load()


FIXTURES = Path(__file__).parents[1] / "fixtures" / "pfsense"


def merge(backup: bytes, options: GenOptions, **export: Any) -> Export:
    """``export pfsense --merge-into`` for gen's options, with ``export``'s router options."""
    return render(build_cluster(options, CATALOG), ExportOptions(merge_into=backup, **export))


def read(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def user_parts(text: str | bytes) -> tuple[list[str], list[str], list[str]]:
    """The user's own rules and aliases (canonical XML, in order) and every other section."""
    root = ET.fromstring(text)
    filter_el, aliases_el = root.find("filter"), root.find("aliases")
    assert filter_el is not None
    assert aliases_el is not None

    def theirs(elements: list[ET.Element]) -> list[str]:
        return [
            ET.tostring(e, encoding="unicode").strip()
            for e in elements
            if not html.unescape(e.findtext("descr", "")).startswith("talospatch:")
        ]

    others = [ET.tostring(e, encoding="unicode") for e in root if e.tag not in ("filter", "aliases")]
    return theirs(filter_el.findall("rule")), theirs(aliases_el.findall("alias")), others


def rows(text: str | bytes) -> dict[str, list[str]]:
    root = ET.fromstring(text)
    return {iface.tag: [s.findtext("row", "") for s in iface] for iface in root.findall("filter/separator/*")}


def without_talospatch(text: str, *, rows: bool = False) -> list[str]:
    """The lines of a config.xml without talospatch's rules, aliases and comments (a line reader,
    independent of the merge code); with ``rows`` the separator row numbers are blanked."""
    lines = text.splitlines(keepends=True)
    kept: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.strip().startswith("<!-- talospatch"):
            while "-->" not in lines[i]:
                i += 1
            i += 1
            continue
        if line.strip() in ("<rule>", "<alias>"):
            close = line.replace("<", "</", 1)
            end = next(j for j in range(i, len(lines)) if lines[j] == close)
            if any("<descr><![CDATA[talospatch:" in x for x in lines[i:end]):
                i = end + 1
                continue
        kept.append(re.sub(r"<row>fr\d+</row>", "<row>fr?</row>", line) if rows else line)
        i += 1
    return kept


def test_merge_into_a_fresh_config_only_adds_lines() -> None:
    before = read("config-fresh.xml")
    after = merge(before, reference()).files[MERGED_FILE]
    diff = list(difflib.ndiff(before.decode().splitlines(), after.splitlines()))
    assert not [line for line in diff if line.startswith("- ")]
    assert without_talospatch(after) == without_talospatch(before.decode())
    assert user_parts(after) == user_parts(before)
    root = ET.fromstring(after)
    check_unique_children(root)
    aliases = check_aliases(root.find("aliases"))  # type: ignore[arg-type]
    ours = check_filter(root.find("filter"), aliases, {"lan", "opt1"})  # type: ignore[arg-type]
    standalone = ET.fromstring(render(build_cluster(REFERENCE, CATALOG), ExportOptions()).files[FILTER_FILE]).findall(
        "rule"
    )
    assert [canon(r) for r in ours] == [canon(r) for r in standalone]
    assert rows(after) == rows(before)


def test_merge_replaces_an_older_export_and_keeps_the_rest() -> None:
    before = read("config-exported.xml")
    after = merge(before, reference()).files[MERGED_FILE]
    assert user_parts(after) == user_parts(before)
    root = ET.fromstring(after)
    aliases = check_aliases(root.find("aliases"))  # type: ignore[arg-type]
    ours = check_filter(root.find("filter"), aliases, {"lan", "opt1"})  # type: ignore[arg-type]
    assert len(ours) == 6  # 3 admin rules, egress 443/tcp, 123/udp, 4460/tcp
    # The stale NodePort rule and its alias are gone; the old comment is replaced.
    assert "nodeport" not in after
    assert "an older export" not in after
    assert sorted(aliases) == [
        "printers",
        "talospatch_admins",
        "talospatch_controlplane",
        "talospatch_nodes",
        "web_ports",
    ]
    # Our block took the old block's place: after LAN's two default rules, before the printers rule.
    lan = [r.findtext("descr") for r in root.findall("filter/rule") if r.findtext("interface") == "lan"]
    assert lan[:2] == ["Default allow LAN to any rule", "Default allow LAN IPv6 to any rule"]
    assert lan[-1] == "Block printers from the internet"
    # Separators follow their rules: "Printers" stays above the printers rule (now 6th on LAN),
    # "Talos cluster" above our block, "User rules" above the user's opt1 rule (after our three).
    assert rows(after) == {"lan": ["fr0", "fr2", "fr5"], "opt1": ["fr3"]}
    # Every other line is byte for byte what it was, separator row numbers aside.
    assert without_talospatch(after, rows=True) == without_talospatch(before.decode(), rows=True)


@pytest.mark.parametrize("fixture", ["config-fresh.xml", "config-exported.xml"])
def test_merging_twice_gives_the_same_bytes(fixture: str) -> None:
    once = merge(read(fixture), reference()).files[MERGED_FILE]
    assert merge(once.encode(), reference()).files[MERGED_FILE] == once


def test_rules_talospatch_no_longer_emits_disappear() -> None:
    with_nodeport = merge(read("config-fresh.xml"), reference(nodeport=True)).files[MERGED_FILE]
    assert "worker nodeport-ingress-tcp from admins" in with_nodeport
    without = merge(with_nodeport.encode(), reference(admins=())).files[MERGED_FILE]
    root = ET.fromstring(without)
    assert [summary(r) for r in root.findall("filter/rule") if "talospatch" in r.findtext("descr", "")] == [
        ("opt1", "tcp", "443", "talospatch_nodes", "any", "inet"),
        ("opt1", "udp", "123", "talospatch_nodes", "any", "inet"),
        ("opt1", "tcp", "4460", "talospatch_nodes", "any", "inet"),
    ]
    assert "talospatch_admins" not in without
    assert user_parts(without) == user_parts(read("config-fresh.xml"))


def test_merge_keeps_crlf_line_ends() -> None:
    before = read("config-exported.xml").replace(b"\n", b"\r\n")
    after = merge(before, reference()).files[MERGED_FILE]
    assert "\n" not in after.replace("\r\n", "")
    assert user_parts(after) == user_parts(before)
    assert without_talospatch(after, rows=True) == without_talospatch(before.decode(), rows=True)


def test_merge_into_empty_sections_and_missing_aliases() -> None:
    before = b'<?xml version="1.0"?>\n<pfsense>\n\t<version>23.9</version>\n\t<filter></filter>\n</pfsense>\n'
    after = merge(before, reference()).files[MERGED_FILE]
    root = ET.fromstring(after)
    check_unique_children(root)
    aliases = check_aliases(root.find("aliases"))  # type: ignore[arg-type]
    assert len(check_filter(root.find("filter"), aliases, {"lan", "opt1"})) == 6  # type: ignore[arg-type]
    assert merge(after.encode(), reference()).files[MERGED_FILE] == after


def test_merge_warns_about_a_user_rule_naming_a_dropped_alias() -> None:
    once = merge(read("config-fresh.xml"), reference()).files[MERGED_FILE]
    mine = once.replace("<address>printers</address>", "<address>talospatch_admins</address>")
    result = merge(mine.encode(), reference(admins=()))
    assert any("Block printers from the internet" in w and "talospatch_admins" in w for w in result.warnings)


@pytest.mark.parametrize(
    ("backup", "message"),
    [
        pytest.param(b"<pfsense><filter></pfsense>", "BACKUP.xml: not well-formed XML at line 1", id="not-xml"),
        pytest.param(b"\xff\xfe<pfsense/>", "BACKUP.xml: not UTF-8", id="not-utf8"),
        pytest.param(
            b"---- BEGIN config.xml ----\nU2FsdGVkX1+abc=\n---- END config.xml ----\n",
            "BACKUP.xml: an encrypted backup",
            id="encrypted",
        ),
        pytest.param(b"<filter><rule/></filter>", "root element is <filter>, not <pfsense>", id="filter-area-only"),
        pytest.param(b"<pfsense><system/></pfsense>", "has no <filter> section", id="no-filter"),
        pytest.param(
            b'<!DOCTYPE pfsense [<!ENTITY x "y">]><pfsense><filter/></pfsense>', "has a DOCTYPE", id="doctype"
        ),
        pytest.param(
            b"<pfsense><aliases><alias><name>talospatch_admins</name><type>host</type>"
            b"<address>10.0.0.1</address><descr>mine</descr></alias></aliases><filter/></pfsense>",
            "alias talospatch_admins exists and is not talospatch's",
            id="alias-name-taken",
        ),
    ],
)
def test_merge_rejects_bad_backups_in_one_line(backup: bytes, message: str) -> None:
    with pytest.raises(BadInput) as info:
        merge(backup, reference())
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_merge_snapshot(snapshot_xml) -> None:  # type: ignore[no-untyped-def]
    assert merge(read("config-exported.xml"), reference()).files[MERGED_FILE] == snapshot_xml


def test_merge_checks_the_interfaces_against_the_backup() -> None:
    fine = merge(read("config-fresh.xml"), reference())
    assert not [w for w in fine.warnings if "interface" in w]
    wrong = merge(read("config-fresh.xml"), reference(), cluster_interface="lan", from_interfaces=("lan", "opt7"))
    assert any("has no interface 'opt7'" in w for w in wrong.warnings)
    assert any("192.168.30.0/24 is not inside lan's network 192.168.1.0/24" in w for w in wrong.warnings)
    vpn = merge(read("config-fresh.xml"), reference(), from_interfaces=("openvpn",))
    assert not [w for w in vpn.warnings if "interface" in w]


# --- merge on generated configs -----------------------------------------------------------

INTERFACES = ("wan", "lan", "opt1")


@st.composite
def configs(draw: st.DrawFn) -> tuple[bytes, dict[str, list[int]]]:
    """A config.xml with user and talospatch rules interleaved on three interfaces, user and
    talospatch aliases, and separators; returns it with each separator's row per interface."""
    rules = draw(st.lists(st.tuples(st.sampled_from(INTERFACES), st.booleans()), max_size=10))
    aliases = draw(st.lists(st.booleans(), max_size=5))
    per_interface = {i: sum(1 for r, _ in rules if r == i) for i in INTERFACES}
    separators = {i: sorted(draw(st.lists(st.integers(0, n), max_size=3))) for i, n in per_interface.items()}
    t = "\t"
    lines = ['<?xml version="1.0"?>', "<pfsense>", f"{t}<version>23.9</version>", f"{t}<interfaces>"]
    lines += [f"{t}{t}<{i}><if>vtnet{n}</if></{i}>" for n, i in enumerate(INTERFACES)]
    lines += [f"{t}</interfaces>", f"{t}<aliases>"]
    for n, ours in enumerate(aliases):
        name, descr = (f"talospatch_old{n}", "talospatch: old") if ours else (f"user{n}", f"alias {n}")
        lines += [
            f"{t}{t}<alias>",
            f"{t}{t}{t}<name>{name}</name>",
            f"{t}{t}{t}<type>host</type>",
            f"{t}{t}{t}<address>10.0.0.{n + 1}</address>",
            f"{t}{t}{t}<descr><![CDATA[{descr}]]></descr>",
            f"{t}{t}</alias>",
        ]
    lines += [f"{t}</aliases>", f"{t}<filter>"]
    for n, (interface, ours) in enumerate(rules):
        descr = f"talospatch: old rule {n}" if ours else f"user rule {n}"
        lines += [
            f"{t}{t}<rule>",
            f"{t}{t}{t}<tracker>{1700000000 + n}</tracker>",
            f"{t}{t}{t}<type>pass</type>",
            f"{t}{t}{t}<interface>{interface}</interface>",
            f"{t}{t}{t}<source><any></any></source>",
            f"{t}{t}{t}<destination><any></any></destination>",
            f"{t}{t}{t}<descr><![CDATA[{descr}]]></descr>",
            f"{t}{t}</rule>",
        ]
    lines.append(f"{t}{t}<separator>")
    for interface, rows_ in separators.items():
        lines.append(f"{t}{t}{t}<{interface}>")
        for n, row in enumerate(rows_):
            lines += [
                f"{t}{t}{t}{t}<sep{n}>",
                f"{t}{t}{t}{t}{t}<row>fr{row}</row>",
                f"{t}{t}{t}{t}{t}<text>s{n}</text>",
                f"{t}{t}{t}{t}</sep{n}>",
            ]
        lines.append(f"{t}{t}{t}</{interface}>")
    lines += [f"{t}{t}</separator>", f"{t}</filter>", "</pfsense>", ""]
    return "\n".join(lines).encode(), separators


def interface_rules(root: ET.Element, interface: str) -> list[str]:
    return [r.findtext("descr", "") for r in root.findall("filter/rule") if r.findtext("interface") == interface]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(configs())
def test_merge_keeps_user_rules_and_their_separators(config: tuple[bytes, dict[str, list[int]]]) -> None:
    before, _ = config
    after = merge(before, reference()).files[MERGED_FILE]
    root = ET.fromstring(after)
    check_unique_children(root)
    assert user_parts(after) == user_parts(before)
    assert without_talospatch(after, rows=True) == without_talospatch(before.decode(), rows=True)
    assert merge(after.encode(), reference()).files[MERGED_FILE] == after
    old_root, new_rows = ET.fromstring(before), rows(after)
    for interface, old_rows in rows(before).items():
        old_rules, new_rules = interface_rules(old_root, interface), interface_rules(root, interface)
        for old_row, new_row in zip(old_rows, new_rows[interface], strict=True):
            n, m = int(old_row[2:]), int(new_row[2:])
            assert 0 <= m <= len(new_rules)
            if n < len(old_rules) and not old_rules[n].startswith("talospatch:"):
                # A separator above a user rule is still above that rule.
                assert new_rules[m] == old_rules[n]
