"""``talospatch export TARGET``: the same requirements for another firewall in the cluster's path."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from talospatch.cli.app import app, warn
from talospatch.cli.params import LABELS, command_line, gen_options
from talospatch.errors import BadInput
from talospatch.options import GenOptions

ROUTED = ("pfsense", "opnsense")

Target = Annotated[
    str,
    typer.Argument(
        metavar="TARGET", help="aws-terraform, proxmox, proxmox-terraform, pfsense or opnsense (see the README)."
    ),
]
OutputDir = Annotated[
    str | None,
    typer.Option("--output-dir", metavar="DIR", help="Write the target's files into DIR (created if missing)."),
]
ClusterInterface = Annotated[
    str | None,
    typer.Option("--cluster-interface", metavar="IFACE", help="pfsense/opnsense: the node VLAN's interface (opt1)."),
]
FromInterfaces = Annotated[
    list[str] | None,
    typer.Option(
        "--from-interface",
        metavar="IFACE",
        help="pfsense/opnsense: where admins and other outside sources arrive (repeatable; default lan).",
    ),
]
NtpServers = Annotated[
    list[str] | None,
    typer.Option(
        "--ntp-server", metavar="ADDR", help="pfsense/opnsense: the NTP servers egress may reach (repeatable)."
    ),
]
MergeInto = Annotated[
    str | None,
    typer.Option(
        "--merge-into",
        metavar="BACKUP.xml",
        help="pfsense: rewrite only talospatch's rules and aliases in this exported config.xml; prints the result.",
    ),
]
CurrentRules = Annotated[
    str | None,
    typer.Option(
        "--current-rules",
        metavar="FILE.csv",
        help="opnsense: the firewall's rules CSV, to list talospatch rules the export no longer makes.",
    ),
]


@app.command()
@gen_options(role_required=False, with_role=False)
def export(
    opts: GenOptions,
    target: Target,
    output_dir: OutputDir = None,
    cluster_interface: ClusterInterface = None,
    from_interface: FromInterfaces = None,
    ntp_server: NtpServers = None,
    merge_into: MergeInto = None,
    current_rules: CurrentRules = None,
) -> None:
    """Write another firewall (AWS security groups, Proxmox, pfSense, OPNsense) from the same profiles."""
    from talospatch import output
    from talospatch.export import TARGETS, build_cluster
    from talospatch.export import export as render_target
    from talospatch.patchfiles import read_text

    routed_given = [
        flag
        for flag, value in (
            ("--cluster-interface", cluster_interface),
            ("--from-interface", from_interface),
            ("--ntp-server", ntp_server),
        )
        if value
    ]
    if routed_given and target not in ROUTED:
        raise BadInput(f"{routed_given[0]} applies to the pfsense and opnsense targets only")
    if merge_into is not None and target != "pfsense":
        raise BadInput("--merge-into applies to the pfsense target only")
    if current_rules is not None and target != "opnsense":
        raise BadInput("--current-rules applies to the opnsense target only")
    single = merge_into is not None or (target in TARGETS and TARGETS[target].single_file)
    if target in TARGETS and output_dir is None and not single:
        raise typer.BadParameter(f"{target} writes several files: give --output-dir DIR", param_hint="--output-dir")

    if target in ROUTED:
        interface = cluster_interface or "opt1"
        sources = tuple(from_interface or ("lan",))
        ntp = tuple(ntp_server or ())
        if target == "pfsense":
            from talospatch.export import pfsense

            if merge_into is not None:
                backup = Path(merge_into)
                try:
                    data = backup.read_bytes()
                except OSError as exc:
                    raise BadInput(f"--merge-into {merge_into}: cannot read: {exc.strerror}") from None
                result = pfsense.merge(
                    data,
                    opts,
                    backup_name=merge_into,
                    cluster_interface=interface,
                    from_interfaces=sources,
                    ntp_servers=ntp,
                    labels=LABELS,
                )
            else:
                result = pfsense.pfsense(
                    opts, cluster_interface=interface, from_interfaces=sources, ntp_servers=ntp, labels=LABELS
                )
        else:
            from talospatch.export import opnsense

            current = None if current_rules is None else read_text(current_rules)
            result = opnsense.opnsense(
                opts,
                cluster_interface=interface,
                from_interfaces=sources,
                ntp_servers=ntp,
                current_rules=current,
                current_name=current_rules or "",
                labels=LABELS,
            )
    else:
        result = render_target(target, build_cluster(opts, labels=LABELS, command=command_line))
    for message in result.warnings:
        warn(message)
    if output_dir is None:
        (text,) = result.files.values()
        # A merged config.xml keeps its own line endings: write bytes, untranslated.
        sys.stdout.buffer.write(text.encode("utf-8"))
        sys.stdout.flush()
        return
    folder = Path(output_dir)
    if folder.exists() and not folder.is_dir():
        raise BadInput(f"--output-dir {output_dir}: not a directory")
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in result.files.items():
        output.write_atomic(str(folder / name), text, "--output-dir")
