"""``talospatch export TARGET``: the same requirements for another firewall in the cluster's path.

The cluster comes from gen's options (``--subnet`` ...) or, when none is given, from a
cluster spec (``--spec FILE``, default ``./talospatch.yaml``), as ``build`` reads it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from talospatch import registry
from talospatch.cli.app import command_app, warn
from talospatch.cli.params import GEN_OPTIONS, LABELS, command_line, gen_options
from talospatch.errors import BadInput
from talospatch.generate.options import GenOptions
from talospatch.registry import SPEC_FILE

if TYPE_CHECKING:  # not imported at start-up (pydantic)
    from talospatch.export.cluster import Cluster
    from talospatch.spec.load import LoadedSpec

Target = Annotated[
    str,
    typer.Argument(metavar="TARGET", help=f"{registry.names_text()} (see the README)."),
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
        help="pfsense: rewrite only talospatch's rules and aliases in this exported config.xml; omni: put "
        "talospatch's patches in this cluster template. Prints the result.",
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
PatchesDir = Annotated[
    str | None,
    typer.Option(
        "--patches-dir",
        metavar="DIR",
        help="talos-terraform: the built patches' folder, relative to the .tf file's (default out).",
    ),
]
Inline = Annotated[
    bool,
    typer.Option("--inline", help="omni: the patches' documents inline in the template, not in files beside it."),
]
ClusterDefaultAction = Annotated[
    bool,
    typer.Option(
        "--cluster-default-action",
        help="omni: the default action as one patch of the Cluster document; the machine sets get their rules only.",
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
    patches_dir: PatchesDir = None,
    inline: Inline = False,
    cluster_default_action: ClusterDefaultAction = False,
    spec: SpecFile = None,
) -> None:
    """Write another firewall (AWS security groups, Proxmox, pfSense, OPNsense) from the same profiles, or
    the patches as terraform-provider-talos config_patches or Omni cluster-template patches."""
    from talospatch import output
    from talospatch.export import target_module
    from talospatch.talos.patchfiles import read_text

    given = [option.flag for option in GEN_OPTIONS if getattr(opts, option.field)]
    if spec is not None and given:
        raise BadInput(f"give --spec {spec} or the cluster's options ({given[0]} ...), not both")
    for field, flag, present in (
        ("cluster_interface", "--cluster-interface", bool(cluster_interface)),
        ("from_interfaces", "--from-interface", bool(from_interface)),
        ("ntp_servers", "--ntp-server", bool(ntp_server)),
        ("merge_into", "--merge-into", merge_into is not None),
        ("current_rules", "--current-rules", current_rules is not None),
        ("patches_dir", "--patches-dir", patches_dir is not None),
        ("inline", "--inline", inline),
        ("cluster_default_action", "--cluster-default-action", cluster_default_action),
    ):
        if present and not registry.takes(target, field):
            raise BadInput(f"{flag} applies to {registry.only(field)}")
    known = target in registry.NAMES
    # A merge's result is the one file it merged into; omni's inline template is one file.
    single = merge_into is not None or inline or (known and registry.target(target).single_file)
    if known and output_dir is None and not single:
        raise typer.BadParameter(f"{target} writes several files: give --output-dir DIR", param_hint="--output-dir")

    cluster, loaded = _cluster_source(opts, spec, bool(given))
    where = "" if given else f"{spec if spec is not None else SPEC_FILE}: "  # the spec, in messages about the cluster
    backup = None
    if merge_into is not None:
        try:
            backup = Path(merge_into).read_bytes()
        except OSError as exc:
            raise BadInput(f"--merge-into {merge_into}: cannot read: {exc.strerror}") from None
    options = registry.ExportOptions(
        cluster_interface=cluster_interface or "opt1",
        from_interfaces=tuple(from_interface or ("lan",)),
        ntp_servers=tuple(ntp_server or ()),
        merge_into=backup,
        merge_name=str(merge_into),
        current_rules=None if current_rules is None else read_text(current_rules),
        current_name=current_rules or "",
        patches_dir=patches_dir if patches_dir is not None else "out",
        inline=inline or merge_into is not None,
        cluster_default_action=cluster_default_action,
    )
    if loaded is not None and registry.takes(target, "node_patches"):
        from talospatch.export.fromspec import node_patches

        options = options._replace(node_patches=node_patches(loaded))
    try:
        module = target_module(target)
        registry.interfaces(options)  # bad option values before the cluster's errors
        result = module.render(cluster(), options)
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


def _cluster_source(opts: GenOptions, spec: str | None, given: bool) -> tuple[Callable[[], Cluster], LoadedSpec | None]:
    """How to build the cluster: from gen's options when any is given, else from the spec (read and
    checked now, so its errors come first; every role is expanded when the target renders); the spec."""
    from talospatch.export.cluster import build_cluster
    from talospatch.export.fromspec import cluster_request, spec_cluster
    from talospatch.spec.load import load_spec

    if given:
        return lambda: build_cluster(opts, labels=LABELS, command=command_line), None
    path = spec if spec is not None else SPEC_FILE
    if spec is None and not Path(path).exists():
        raise BadInput(
            f"{path}: no such file; give --spec FILE (a cluster spec) or the cluster's options (--subnet CIDR ...)"
        )
    loaded = load_spec(path)
    request = cluster_request(loaded)
    return lambda: spec_cluster(request), loaded
