"""Tables for people: what each generated rule allows and why, and what a profile holds."""

from __future__ import annotations

import ipaddress

from talospatch.checks.diff import share
from talospatch.generate.expand import Generated
from talospatch.generate.profiles import GROUPS, LoadedProfile
from talospatch.nft.compile import NodeContext
from talospatch.nft.reach import Reach
from talospatch.talos.documents import Network


def rows(generated: Generated) -> list[list[str]]:
    """One row per rule: rule, ports, protocol, allowed sources (groups and CIDRs), why.

    A service that shares its document (``compact``) is named ``document (service rule)``.
    """
    out = []
    for document in generated.documents:
        for rule in document.rules:
            doc = rule.document
            sources = "; ".join(f"{group}: {', '.join(str(n) for n in nets)}" for group, nets in rule.sources)
            ports = ", ".join(p.label for p in doc.ports)
            name = f"{document.document.name} ({doc.name})" if document.shared else doc.name
            out.append([name, ports, doc.protocol, sources, rule.entry.why])
    return out


def profile_rows(loaded: LoadedProfile) -> list[list[str]]:
    out = []
    for entry in loaded.profile.rules:
        name = entry.name if entry.tunnel is None else f"{entry.name} (--tunnel {entry.tunnel})"
        out.append(
            [
                name,
                ", ".join(p.label for p in entry.ports),
                "+".join(entry.protocol),
                ", ".join(entry.from_),
                entry.why,
                entry.source,
            ]
        )
    return out


def table_text(header: list[str], body: list[list[str]]) -> str:
    """A plain table for pipes and files: columns padded with spaces, the last one free."""
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header) - 1)]
    lines = []
    for row in [header, *body]:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines) + "\n"


_MARKS = {"all": "✅", "some": "partly", "none": "—"}


def matrix(generated: Generated) -> tuple[list[str], list[list[str]]]:
    """Who reaches what: one row per rule (its ports), one column per source group, from the compiled ruleset.

    A cell says whether every address of the group reaches every port of the row
    (``✅``), only some do (``partly``), or none (``—``); exact, as ``diff`` computes it.
    """
    reach = Reach(generated.firewall, NodeContext(pod_subnets=generated.pod_subnets))
    groups: dict[str, list[Network]] = {}
    for rule in generated.rules:
        for group, nets in rule.sources:
            groups.setdefault(group, nets)
    groups.setdefault("any", [ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0")])
    groups = {g: groups[g] for g in GROUPS if g in groups}
    header = ["rule", "ports", *(f"{g} ({', '.join(str(n) for n in nets)})" for g, nets in groups.items())]
    body = []
    for rule in generated.rules:
        doc = rule.document
        cells = [_MARKS[share(reach, nets, doc.protocol, doc.ports)] for nets in groups.values()]  # type: ignore[arg-type]
        body.append([doc.name, f"{', '.join(p.label for p in doc.ports)}/{doc.protocol}", *cells])
    return header, body


def table_markdown(header: list[str], body: list[list[str]]) -> str:
    """A GitHub-flavoured markdown table."""

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    return "\n".join([line(header), "|" + "---|" * len(header), *(line(row) for row in body)]) + "\n"
