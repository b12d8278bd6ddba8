"""``talospatch profiles list|show``: the profiles and what each opens."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from talospatch.cli.app import command_app
from talospatch.cli.params import LABELS
from talospatch.errors import CheckFailed

ProfilesDir = Annotated[
    str | None,
    typer.Option(
        "--profiles-dir", metavar="DIR", help="Folder of profile YAML files that add to or replace the built-in ones."
    ),
]

app = command_app("profiles")


@app.command("list")
def profiles_list(profiles_dir: ProfilesDir = None) -> None:
    """List the profiles: name, kind and what each covers."""
    from talospatch.checks.explain import table_text
    from talospatch.generate.profiles import Catalog

    catalog = Catalog.load(profiles_dir, LABELS("profiles_dir"))
    rows = [[p.name, p.kind, p.profile.description] for p in catalog.all()]
    sys.stdout.write(table_text(["name", "kind", "description"], rows))


@app.command("show")
def profiles_show(
    name: Annotated[str, typer.Argument(metavar="NAME", help="Profile name, e.g. controlplane or cilium.")],
    profiles_dir: ProfilesDir = None,
) -> None:
    """Show one profile's rules: ports, protocol, source groups, why and source."""
    from talospatch.checks.explain import profile_rows, table_text
    from talospatch.generate.profiles import Catalog

    loaded = Catalog.load(profiles_dir, LABELS("profiles_dir")).find(name)
    since = f", Talos {loaded.profile.since.name} or newer" if loaded.profile.since else ""
    sys.stdout.write(f"{loaded.name} ({loaded.kind}, {loaded.path}{since}): {loaded.profile.description}\n")
    header = ["rule", "ports", "protocol", "from", "why", "source"]
    sys.stdout.write(table_text(header, profile_rows(loaded)))


@app.command("which")
def profiles_which(
    port: Annotated[str, typer.Argument(metavar="PORT[/PROTO]", help="e.g. 9962/tcp; a bare port means tcp and udp.")],
    profiles_dir: ProfilesDir = None,
) -> None:
    """Which profile opens this port, and why: the add-on to enable for a listener or a dropped packet."""
    from talospatch.checks.explain import table_text
    from talospatch.generate.profiles import Catalog, parse_port_query

    number, protocols = parse_port_query(port)
    openers = Catalog.load(profiles_dir, LABELS("profiles_dir")).which(number, protocols)
    if not openers:
        raise CheckFailed(f"no profile opens {port}")
    rows = []
    for o in openers:
        limits = [f"--tunnel {o.tunnel}"] if o.tunnel else []
        limits += [f"roles: {', '.join(o.roles)}"] if o.roles else []
        name = f"{o.name} ({'; '.join(limits)})" if limits else o.name
        ports = ", ".join(p.label for p in o.ports)
        rows.append([name, f"{o.profile} ({o.kind})", ports, o.protocol, ", ".join(o.from_), o.why, o.source])
    header = ["rule", "profile", "ports", "protocol", "from", "why", "source"]
    sys.stdout.write(table_text(header, rows))
