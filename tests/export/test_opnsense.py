"""OPNsense export: the rules CSV read back with ``csv`` against the field list of OPNsense's
``Filter.xml`` model, and the alias file against ``Alias.xml``'s rules for names and types."""

from __future__ import annotations

import csv
import io
import ipaddress
import json
import re
from pathlib import Path
from typing import Any

import pytest

from talospatch.errors import BadInput
from talospatch.export.cluster import Export, build_cluster
from talospatch.export.opnsense import ALIASES_FILE, FIRST_SEQUENCE, NOTES_FILE, RULES_FILE, STALE_FILE, render
from talospatch.generate.expand import GenOptions
from talospatch.registry import ExportOptions
from testing.exportnft import reference
from testing.snapshots import text_snapshot

# opnsense/core models/OPNsense/Firewall/Filter.xml, rules.rule, at f95e81516ee0 (2026-08):
# every field in the model's order. sort_order and prio_group are volatile and dropped on upload.
FILTER_FIELDS = (
    "enabled",
    "statetype",
    "state-policy",
    "sequence",
    "sort_order",
    "prio_group",
    "action",
    "quick",
    "interfacenot",
    "interface",
    "direction",
    "ipprotocol",
    "protocol",
    "icmptype",
    "icmp6type",
    "source_net",
    "source_not",
    "source_port",
    "destination_net",
    "destination_not",
    "destination_port",
    "divert-to",
    "gateway",
    "replyto",
    "disablereplyto",
    "log",
    "allowopts",
    "nosync",
    "nopfsync",
    "statetimeout",
    "udp-first",
    "udp-multiple",
    "udp-single",
    "max-src-nodes",
    "max-src-states",
    "max-src-conn",
    "max",
    "max-src-conn-rate",
    "max-src-conn-rates",
    "max-pkt-rate-number",
    "max-pkt-rate-seconds",
    "overload",
    "adaptivestart",
    "adaptiveend",
    "prio",
    "set-prio",
    "set-prio-low",
    "tag",
    "tagged",
    "tcpflags1",
    "tcpflags2",
    "tcpflags_any",
    "categories",
    "sched",
    "tos",
    "shaper1",
    "shaper2",
    "description",
)
# ArrayField::importRecordSet: an offered @uuid must look like this, or the row is rejected.
OPNSENSE_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
# AliasNameField.
ALIAS_NAME = re.compile(r"^([a-zA-Z]|(([_a-zA-Z][a-zA-Z0-9]|[a-zA-Z][_a-zA-Z0-9])[_a-zA-Z0-9]{0,29}))$")
BOOLEAN = {"0", "1"}


EXTENSIONS = {suffix: text_snapshot(suffix) for suffix in ("csv", "json", "txt")}


def opnsense(options: GenOptions, *, first_sequence: int = FIRST_SEQUENCE, **export: Any) -> Export:
    """The target's files for gen's options, with ``export``'s options."""
    return render(build_cluster(options), ExportOptions(**export), first_sequence=first_sequence)


def read_rules(text: str) -> list[dict[str, str]]:
    """Read the CSV as OPNsense's importCsv does: separator from the first ',' or ';', a header row."""
    comma, semicolon = text.find(","), text.find(";")
    separator = "," if comma != -1 and (semicolon == -1 or comma < semicolon) else ";"
    reader = csv.reader(io.StringIO(text), delimiter=separator, quotechar='"')
    header = next(reader)
    assert header[0] == "@uuid"
    fields = [f for f in FILTER_FIELDS if f not in ("sort_order", "prio_group")]
    assert all(name in fields for name in header[1:]), set(header[1:]) - set(fields)
    assert header[1:] == sorted(header[1:], key=fields.index), "columns in the model's order"
    rows = []
    for line in reader:
        assert len(line) == len(header)
        rows.append(dict(zip(header, line, strict=True)))
    return rows


def read_aliases(text: str) -> dict[str, dict[str, str]]:
    data = json.loads(text)
    aliases: dict[str, dict[str, str]] = {}
    for key, alias in data["aliases"]["alias"].items():
        assert OPNSENSE_UUID.match(key)
        assert ALIAS_NAME.match(alias["name"])
        assert alias["enabled"] == "1"
        assert alias["type"] in ("host", "network")
        for item in alias["content"].split("\n"):
            if alias["type"] == "host":
                ipaddress.ip_address(item)
            else:
                ipaddress.ip_network(item)
        assert 1 <= len(alias["description"].encode()) <= 255
        aliases[alias["name"]] = alias
    return aliases


def check_rules(rows: list[dict[str, str]], aliases: dict[str, dict[str, str]], interfaces: set[str]) -> None:
    uuids = [row["@uuid"] for row in rows]
    assert len(set(uuids)) == len(uuids)
    assert all(OPNSENSE_UUID.match(u) for u in uuids)
    for row in rows:
        assert row["enabled"] in BOOLEAN
        assert row["quick"] in BOOLEAN
        assert row["log"] in BOOLEAN
        assert 1 <= int(row["sequence"]) <= 999_999
        assert row["action"] == "pass"
        assert row["direction"] == "in"
        assert set(row["interface"].split(",")) <= interfaces
        assert row["ipprotocol"] in ("inet", "inet6", "inet46")
        assert row["protocol"] in ("TCP", "UDP", "TCP/UDP", "ICMP")
        for net in (row["source_net"], row["destination_net"]):
            assert net == "any" or net in aliases, net
        assert re.fullmatch(r"\d+(-\d+)?", row["destination_port"])
        # DescriptionField: /^(.){1,255}$/ without /u, so bytes.
        assert re.fullmatch(rb"(.){1,255}", row["description"].encode())
        assert row["description"].startswith("talospatch: ")


def test_reference_cluster_reads_back_with_the_model_fields() -> None:
    files = opnsense(reference()).files
    assert set(files) == {ALIASES_FILE, RULES_FILE, NOTES_FILE}
    aliases = read_aliases(files[ALIASES_FILE])
    rows = read_rules(files[RULES_FILE])
    check_rules(rows, aliases, {"lan", "opt1"})
    got = sorted(
        (r["interface"], r["protocol"], r["destination_port"], r["source_net"], r["destination_net"]) for r in rows
    )
    assert got == sorted(
        [
            ("lan", "TCP", "50000", "talospatch_admins", "talospatch_controlplane"),
            ("lan", "TCP", "6443", "talospatch_admins", "talospatch_controlplane"),
            ("lan", "TCP", "50000", "talospatch_admins", "talospatch_nodes"),
            ("opt1", "TCP", "443", "talospatch_nodes", "any"),
            ("opt1", "UDP", "123", "talospatch_nodes", "any"),
            ("opt1", "TCP", "4460", "talospatch_nodes", "any"),
        ]
    )
    assert aliases["talospatch_controlplane"]["content"] == "192.168.30.11\n192.168.30.12\n192.168.30.13"


def test_a_wide_cluster_reads_back() -> None:
    options = reference(
        subnets=("192.168.30.0/24", "fd00:30::/64"),
        controlplane=("192.168.30.11", "fd00:30::11"),
        admins=("196.45.28.20/32", "2001:db8:45::/48"),
        nodeport=True,
        nodeport_from=("10.50.0.0/24",),
        addons=("ingress-http", "hubble"),
    )
    files = opnsense(options, from_interfaces=("lan", "wan"), ntp_servers=("192.168.1.1",)).files
    aliases = read_aliases(files[ALIASES_FILE])
    rows = read_rules(files[RULES_FILE])
    check_rules(rows, aliases, {"lan", "wan", "opt1"})
    by_port = {(r["destination_port"], r["protocol"], r["source_net"]): r for r in rows}
    assert by_port[("30000-32767", "UDP", "talospatch_nodeport_clients")]["interface"] == "lan,wan"
    assert by_port[("123", "UDP", "talospatch_nodes")]["destination_net"] == "talospatch_ntp"
    assert by_port[("443", "TCP", "talospatch_nodes")]["ipprotocol"] == "inet46"
    assert by_port[("123", "UDP", "talospatch_nodes")]["ipprotocol"] == "inet"
    # NTS key exchange goes to the same NTP servers (v1.14 default time sync).
    assert by_port[("4460", "TCP", "talospatch_nodes")]["destination_net"] == "talospatch_ntp"
    assert by_port[("4460", "TCP", "talospatch_nodes")]["ipprotocol"] == "inet"


def test_uuids_are_stable_so_an_upload_updates_in_place() -> None:
    first = read_rules(opnsense(reference()).files[RULES_FILE])
    again = read_rules(opnsense(reference(nodeport=True), first_sequence=500).files[RULES_FILE])
    assert {r["@uuid"] for r in first} <= {r["@uuid"] for r in again}
    assert [r["sequence"] for r in again][:2] == ["500", "501"]


def test_the_notes_name_what_the_router_cannot_enforce() -> None:
    notes = opnsense(reference()).files[NOTES_FILE]
    assert "controlplane etcd-ingress (2379-2380/tcp) from controlplane" in notes
    assert "never deletes" in notes
    assert "Import csv" in notes


def test_sequence_range_is_checked() -> None:
    with pytest.raises(BadInput, match="within 1-999999"):
        opnsense(reference(), first_sequence=999_998)


@pytest.mark.parametrize("name", [ALIASES_FILE, RULES_FILE, NOTES_FILE])
def test_reference_cluster_snapshot(snapshot, name: str) -> None:  # type: ignore[no-untyped-def]
    extension = EXTENSIONS[name.rsplit(".", 1)[1]]
    assert opnsense(reference()).files[name] == snapshot.use_extension(extension)


DOWNLOAD = Path(__file__).parents[1] / "fixtures" / "opnsense" / "rules-download.csv"


def test_stale_talospatch_rules_in_the_firewalls_csv_are_listed_for_deletion() -> None:
    current = DOWNLOAD.read_text()
    header = next(csv.reader(io.StringIO(current)))
    assert header == ["@uuid", *(f for f in FILTER_FIELDS if f not in ("sort_order", "prio_group"))]
    result = opnsense(reference(), current_rules=current, current_name="rules.csv")
    stale = result.files[STALE_FILE].splitlines()
    assert stale[1:] == [
        (
            "POST /api/firewall/filter/del_rule/5f2b9c1d-7e3a-4c6b-8d2e-9a1f0b3c4d5e  # talospatch: worker "
            "nodeport-ingress-tcp from admins: clients of NodePort services"
        ),
    ]
    assert (
        "rules.csv: 1 talospatch rules are no longer exported; delete them (see opnsense-stale-rules.txt)"
        in result.warnings
    )


def test_nothing_stale_after_an_upload_of_this_export() -> None:
    files = opnsense(reference()).files
    result = opnsense(reference(), current_rules=files[RULES_FILE])
    assert result.files[STALE_FILE].count("\n") == 1
    assert not [w for w in result.warnings if "no longer exported" in w]


@pytest.mark.parametrize(
    "current",
    [
        pytest.param("", id="empty"),
        pytest.param("a;b\n1;2\n", id="no-uuid-column"),
        pytest.param('@uuid,description\n"x,y\n', id="unterminated-quote"),
    ],
)
def test_a_current_rules_file_that_is_not_opnsenses_is_bad_input(current: str) -> None:
    with pytest.raises(BadInput) as info:
        opnsense(reference(), current_rules=current, current_name="rules.csv")
    assert str(info.value).startswith("rules.csv: ")
    assert "\n" not in str(info.value)
