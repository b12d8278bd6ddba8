"""``talospatch export TARGET``: the same requirements for another firewall in the cluster's path.

The cluster comes from gen's options (``--subnet`` ...) or, when none is given, from a
cluster spec (``--spec FILE``, default ``./talospatch.yaml``), as ``build`` reads it.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from talospatch.cli.app import command_app, warn
from talospatch.cli.params import GEN_OPTIONS, LABELS, command_line, gen_options
from talospatch.errors import BadInput
from talospatch.generate.options import GenOptions

if TYPE_CHECKING:  # not imported at start-up (pydantic)
    pass

ROUTED = ("pfsense", "opnsense")
SPEC_FILE = "talospatch.yaml"  # talospatch.spec.model.SPEC_FILE, without importing pydantic at start-up

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
SpecFile = Annotated[
    str | None,
    typer.Option(
        "--spec",
        metavar="FILE",
        help=f"The cluster spec to export (default ./{SPEC_FILE} when no cluster option such as --subnet is given).",
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


app = command_app("export")


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
    spec: SpecFile = None,
) -> None:
    """Write another firewall (AWS security groups, Proxmox, pfSense, OPNsense) from the same profiles."""
    from talospatch import output
    from talospatch.export import TARGETS
    from talospatch.export.fromspec import ClusterRequest, Router, cluster_request, render
    from talospatch.spec.load import load_spec
    from talospatch.talos.patchfiles import read_text

    given = [option.flag for option in GEN_OPTIONS if getattr(opts, option.field)]
    if spec is not None and given:
        raise BadInput(f"give --spec {spec} or the cluster's options ({given[0]} ...), not both")

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

    where = ""  # the spec, in messages about the cluster
    if given:
        request = ClusterRequest(opts, LABELS, None, None, command_line)
    else:
        path = spec if spec is not None else SPEC_FILE
        if spec is None and not Path(path).exists():
            raise BadInput(
                f"{path}: no such file; give --spec FILE (a cluster spec) or the cluster's options (--subnet CIDR ...)"
            )
        request = cluster_request(load_spec(path))
        where = f"{path}: "

    backup = None
    if merge_into is not None:
        try:
            backup = Path(merge_into).read_bytes()
        except OSError as exc:
            raise BadInput(f"--merge-into {merge_into}: cannot read: {exc.strerror}") from None
    router = Router(
        cluster_interface or "opt1",
        tuple(from_interface or ("lan",)),
        tuple(ntp_server or ()),
        None if current_rules is None else read_text(current_rules),
        current_rules or "",
    )
    try:
        if backup is not None:
            from talospatch.export import pfsense

            result = pfsense.merge(
                backup,
                request.options,
                backup_name=str(merge_into),
                cluster_interface=router.cluster_interface,
                from_interfaces=router.from_interfaces,
                ntp_servers=router.ntp_servers,
                catalog=request.catalog,
                labels=request.labels,
                per_role=request.roles,
            )
        else:
            result = render(request, target, router)
    except BadInput as exc:
        raise BadInput(f"{where}{exc}") from None
    for message in result.warnings:
        warn(f"{where}{message}")
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
