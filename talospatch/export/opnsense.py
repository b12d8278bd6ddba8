"""OPNsense: the rules CSV of ``/api/firewall/filter/upload_rules`` and the alias import file.

Both follow OPNsense's MVC models (opnsense/core ``models/OPNsense/Firewall/Filter.xml``
and ``Alias.xml``). The CSV's header names ``Filter.xml`` fields; its ``@uuid`` column is the
key ``upload_rules`` matches on: a row whose UUID exists updates that rule, any other row
adds one with that UUID. talospatch derives each rule's UUID from the rule (role, Talos
rule name, source group, port), so uploading a new export updates its rules in place and
leaves every other rule alone. Fields left out of the CSV keep their model default on a
new rule and their current value on an updated one (a log flag set by hand survives).

The aliases file is the format of Firewall > Aliases > export/import
(``/api/firewall/alias/import``): ``{"aliases": {"alias": {UUID: {...}}}}``; import matches
aliases by name, so it updates talospatch's aliases in place too.
"""

from __future__ import annotations

import csv
import io
import json

from talospatch.errors import BadInput
from talospatch.export.cluster import Cluster, Export
from talospatch.export.routed import (
    TAG,
    address_text,
    family_name,
    not_enforced_lines,
    plan,
    stable_uuid,
)
from talospatch.registry import ExportOptions, interfaces

RULES_FILE = "opnsense-rules.csv"
ALIASES_FILE = "opnsense-aliases.json"
NOTES_FILE = "opnsense-not-enforced.txt"
STALE_FILE = "opnsense-stale-rules.txt"
CATEGORY = "talospatch"
SEQUENCE_MAX = 999_999  # Filter.xml: sequence 1-999999
FIRST_SEQUENCE = 10_000

# The CSV columns: ``@uuid`` and fields of Filter.xml's ``rules.rule``, in the model's order.
RULE_FIELDS = (
    "@uuid",
    "enabled",
    "sequence",
    "action",
    "quick",
    "interface",
    "direction",
    "ipprotocol",
    "protocol",
    "source_net",
    "destination_net",
    "destination_port",
    "log",
    "categories",
    "description",
)


def render(cluster: Cluster, options: ExportOptions, *, first_sequence: int = FIRST_SEQUENCE) -> Export:
    """``opnsense-aliases.json``, ``opnsense-rules.csv`` and ``opnsense-not-enforced.txt``.

    Rules get sequence numbers from ``first_sequence`` up, in steps of one.

    ``options.current_rules`` is the firewall's own rules CSV (Firewall > Rules, Export as csv,
    or ``/api/firewall/filter/download_rules``): talospatch rules in it that this export no
    longer has are listed in ``opnsense-stale-rules.txt`` with the call that deletes each,
    since an upload never deletes.
    """
    cluster_interface, sources = interfaces(options)
    routed = plan(cluster, options.ntp_servers)
    last = first_sequence + len(routed.rules) - 1
    if first_sequence < 1 or last > SEQUENCE_MAX:
        raise BadInput(
            f"--first-sequence {first_sequence}: the {len(routed.rules)} rules need sequence numbers "
            f"within 1-{SEQUENCE_MAX}"
        )

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(RULE_FIELDS)
    for index, rule in enumerate(routed.rules):
        on = sources if rule.placement == "inbound" else (cluster_interface,)
        port = str(rule.port.lo) if rule.port.lo == rule.port.hi else f"{rule.port.lo}-{rule.port.hi}"
        writer.writerow(
            (
                stable_uuid(f"opnsense/rule/{rule.key}"),
                "1",
                str(first_sequence + index),
                "pass",
                "1",
                ",".join(on),
                "in",
                family_name(rule.families),
                rule.protocol.upper(),
                rule.source or "any",
                rule.destination or "any",
                port,
                "0",
                CATEGORY,
                rule.description,
            )
        )

    aliases = {
        stable_uuid(f"opnsense/alias/{alias.name}"): {
            "enabled": "1",
            "name": alias.name,
            "type": "host" if alias.hosts_only else "network",
            "content": "\n".join(address_text(n) for n in alias.networks),
            "description": alias.description,
        }
        for alias in routed.aliases
    }
    notes = [
        (
            f"{TAG} OPNsense rules for the Talos node VLAN (interface {cluster_interface}); admin and other routed "
            f"sources arrive on {', '.join(sources)}."
        ),
        (
            f"Import {ALIASES_FILE} first (Firewall > Aliases, Import), then {RULES_FILE} (Firewall > Rules, "
            "Import csv; or POST it as payload to /api/firewall/filter/upload_rules), then Apply."
        ),
        (
            "Upload adds or updates rules by @uuid and never deletes: a rule an earlier export had and this "
            f"one lacks stays until you delete it (filter the rules by category {CATEGORY}; the category "
            "must exist before the upload, or the column is ignored)."
        ),
        "",
        *not_enforced_lines(routed),
    ]
    files = {
        ALIASES_FILE: json.dumps({"aliases": {"alias": aliases}}, indent=2) + "\n",
        RULES_FILE: out.getvalue(),
        NOTES_FILE: "\n".join(notes) + "\n",
    }
    warnings = list(routed.warnings)
    current_rules, current_name = options.current_rules, options.current_name
    if current_rules is not None:
        exported = {row[0] for row in csv.reader(io.StringIO(out.getvalue()))}
        stale = [
            (uuid, description)
            for uuid, description in _current(current_rules, current_name)
            if description.startswith(TAG) and uuid not in exported
        ]
        lines = [
            (
                f"{TAG} rules in {current_name} that this export no longer has. Upload never deletes; "
                "delete each (Firewall > Rules) or call the API, then Apply:"
            ),
            *(f"POST /api/firewall/filter/del_rule/{uuid}  # {description}" for uuid, description in stale),
        ]
        files[STALE_FILE] = "\n".join(lines) + "\n"
        if stale:
            warnings.append(
                f"{current_name}: {len(stale)} talospatch rules are no longer exported; delete them (see {STALE_FILE})"
            )
    return Export(files, tuple(warnings))


def _current(text: str, where: str) -> list[tuple[str, str]]:
    """``(@uuid, description)`` of each rule of a download_rules CSV, read as OPNsense reads it."""
    comma, semicolon = text.find(","), text.find(";")
    separator = "," if comma != -1 and (semicolon == -1 or comma < semicolon) else ";"
    try:
        rows = list(csv.reader(io.StringIO(text), delimiter=separator, strict=True))
    except csv.Error as exc:
        raise BadInput(f"{where}: not a CSV file: {exc}") from None
    if not rows or "@uuid" not in rows[0] or "description" not in rows[0]:
        raise BadInput(
            f"{where}: no @uuid and description columns; give the rules CSV of Firewall > Rules, Export as csv"
        )
    uuid_at, description_at = rows[0].index("@uuid"), rows[0].index("description")
    return [(row[uuid_at], row[description_at]) for row in rows[1:] if len(row) > max(uuid_at, description_at)]
