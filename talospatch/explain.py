"""Tables for people: what each generated rule allows and why, and what a profile holds."""

from __future__ import annotations

from talospatch.expand import Generated
from talospatch.profiles import LoadedProfile


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
