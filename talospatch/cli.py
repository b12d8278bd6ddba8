"""The ``talospatch`` command line: a thin layer over the library.

Only this module prints. It imports typer and the standard library at start-up; pydantic
and ruamel.yaml are imported by the commands that need them, so ``--help`` and shell
completion stay fast. Errors are caught once, in ``main``: a ``TalospatchError`` becomes
one line on stderr and its exit code; anything else is a bug (exit 4, with a traceback).
"""

from __future__ import annotations

import sys
import traceback
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from talospatch import __version__
from talospatch.errors import BadInput, TalospatchError

if TYPE_CHECKING:
    from talospatch.expand import Generated, GenOptions

app = typer.Typer(
    name="talospatch",
    help="Generate Talos Linux host ingress-firewall patches from role profiles.",
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
profiles_app = typer.Typer(help="List the built-in and custom profiles, or show one.", no_args_is_help=True)
app.add_typer(profiles_app, name="profiles")


def warn(message: str) -> None:
    sys.stderr.write(f"talospatch: warning: {message}\n")


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"talospatch {__version__}\n")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """Generate Talos Linux host ingress-firewall patches from role profiles."""


# Options shared by gen, explain, nft and query.
Role = Annotated[str, typer.Option("--role", help="Node role profile: controlplane or worker.")]
Subnet = Annotated[
    list[str],
    typer.Option("--subnet", help="Node subnet, CIDR (repeatable; IPv4 and/or IPv6). Required."),
]
Cni = Annotated[str, typer.Option("--cni", help="CNI profile: cilium, flannel, calico or none.")]
Tunnel = Annotated[
    str | None,
    typer.Option("--tunnel", help="Cilium overlay: vxlan, geneve or both (default both)."),
]
ControlPlane = Annotated[
    list[str],
    typer.Option("--controlplane", help="Control-plane node IP or CIDR (repeatable; default: --subnet)."),
]
Workers = Annotated[
    list[str], typer.Option("--workers", help="Worker node CIDR (repeatable; default: --subnet).")
]
Admin = Annotated[
    list[str],
    typer.Option("--admin", help="Admin workstation IP or CIDR allowed to apid and the API (repeatable)."),
]
PodSubnet = Annotated[
    list[str],
    typer.Option("--pod-subnet", help="Pod subnet, CIDR (repeatable; default 10.244.0.0/16)."),
]
With = Annotated[list[str], typer.Option("--with", help="Add-on profile (repeatable).")]
NodePort = Annotated[
    bool, typer.Option("--nodeport", help="Open NodePorts 30000-32767 tcp+udp (workers).")
]
NodePortFrom = Annotated[
    list[str],
    typer.Option("--nodeport-from", help="Extra NodePort client IP or CIDR (repeatable)."),
]
ProfilesDir = Annotated[
    str | None,
    typer.Option("--profiles-dir", help="Folder of profile YAML files that add to or replace the built-in ones."),
]


def _gen_options(
    role: str,
    subnet: list[str],
    cni: str,
    tunnel: str | None,
    controlplane: list[str],
    workers: list[str],
    admin: list[str],
    pod_subnet: list[str],
    addons: list[str],
    nodeport: bool,
    nodeport_from: list[str],
    profiles_dir: str | None,
) -> GenOptions:
    from talospatch.expand import GenOptions

    return GenOptions(
        role=role,
        subnets=tuple(subnet),
        cni=cni,
        tunnel=tunnel,
        controlplane=tuple(controlplane),
        workers=tuple(workers),
        admins=tuple(admin),
        pod_subnets=tuple(pod_subnet),
        addons=tuple(addons),
        nodeport=nodeport,
        nodeport_from=tuple(nodeport_from),
        profiles_dir=profiles_dir,
    )


def _generate(opts: GenOptions) -> Generated:
    from talospatch.expand import expand

    generated = expand(opts)
    for message in generated.warnings:
        warn(message)
    return generated


@app.command()
def gen(
    role: Role,
    subnet: Subnet = [],  # noqa: B006 (typer reads the default, never mutates it)
    cni: Cni = "cilium",
    tunnel: Tunnel = None,
    controlplane: ControlPlane = [],  # noqa: B006
    workers: Workers = [],  # noqa: B006
    admin: Admin = [],  # noqa: B006
    pod_subnet: PodSubnet = [],  # noqa: B006
    addons: With = [],  # noqa: B006
    nodeport: NodePort = False,
    nodeport_from: NodePortFrom = [],  # noqa: B006
    profiles_dir: ProfilesDir = None,
    output: Annotated[
        str | None,
        typer.Option("--output", "-o", help="Write the patch to FILE (atomically) instead of stdout."),
    ] = None,
) -> None:
    """Write the firewall patch: default deny plus one allow rule per service."""
    from talospatch.render import render
    from talospatch.talosdocs import apply_patches
    from talospatch.yamlio import load_all

    if output is not None:
        from talospatch.output import check_target

        check_target(output)
    opts = _gen_options(
        role, subnet, cni, tunnel, controlplane, workers, admin, pod_subnet, addons,
        nodeport, nodeport_from, profiles_dir,
    )
    generated = _generate(opts)
    text = render(generated)
    # Validate what will be written, as Talos will read it.
    if apply_patches([("output", load_all(text, "output"))]) != generated.firewall:
        raise TalospatchError("the rendered patch does not read back as the generated rules")
    if output is None:
        sys.stdout.write(text)
    else:
        from talospatch.output import write_atomic

        write_atomic(output, text)
    warn(
        "apply with talosctl ... --mode=try, so a mistake reverts after a minute "
        "instead of locking you out"
    )


@app.command()
def explain(
    role: Role,
    subnet: Subnet = [],  # noqa: B006
    cni: Cni = "cilium",
    tunnel: Tunnel = None,
    controlplane: ControlPlane = [],  # noqa: B006
    workers: Workers = [],  # noqa: B006
    admin: Admin = [],  # noqa: B006
    pod_subnet: PodSubnet = [],  # noqa: B006
    addons: With = [],  # noqa: B006
    nodeport: NodePort = False,
    nodeport_from: NodePortFrom = [],  # noqa: B006
    profiles_dir: ProfilesDir = None,
) -> None:
    """Show, per rule, the ports, protocol, who is allowed and why."""
    from talospatch.explain import rows, table_text

    opts = _gen_options(
        role, subnet, cni, tunnel, controlplane, workers, admin, pod_subnet, addons,
        nodeport, nodeport_from, profiles_dir,
    )
    generated = _generate(opts)
    header = ["rule", "ports", "protocol", "allowed sources", "why"]
    body = rows(generated)
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.table import Table

        table = Table(*header, title=generated.command, title_justify="left")
        for row in body:
            table.add_row(*row)
        Console().print(table)
    else:
        sys.stdout.write(table_text(header, body))


@profiles_app.command("list")
def profiles_list(profiles_dir: ProfilesDir = None) -> None:
    """List the profiles: name, kind and what each covers."""
    from talospatch.explain import table_text
    from talospatch.profiles import Catalog

    catalog = Catalog.load(profiles_dir)
    rows = [[p.name, p.kind, p.profile.description] for p in catalog.all()]
    sys.stdout.write(table_text(["name", "kind", "description"], rows))


@profiles_app.command("show")
def profiles_show(
    name: Annotated[str, typer.Argument(help="Profile name, e.g. controlplane or cilium.")],
    profiles_dir: ProfilesDir = None,
) -> None:
    """Show one profile's rules: ports, protocol, source groups, why and source."""
    from talospatch.explain import profile_rows, table_text
    from talospatch.profiles import Catalog

    loaded = Catalog.load(profiles_dir).find(name)
    sys.stdout.write(f"{loaded.name} ({loaded.kind}, {loaded.path}): {loaded.profile.description}\n")
    header = ["rule", "ports", "protocol", "from", "why", "source"]
    sys.stdout.write(table_text(header, profile_rows(loaded)))


def main(argv: list[str] | None = None) -> NoReturn:
    """Run the CLI; the one place that turns errors into exit codes."""
    try:
        app(args=argv, prog_name="talospatch")
    except TalospatchError as exc:
        if isinstance(exc, BadInput) or exc.exit_code != 4:
            sys.stderr.write(f"talospatch: error: {exc}\n")
        else:
            traceback.print_exc()
            sys.stderr.write(f"talospatch: internal error: {exc}; please report this as a bug\n")
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception:  # noqa: BLE001 (the last resort: a bug, reported as such)
        traceback.print_exc()
        sys.stderr.write("talospatch: internal error; please report this as a bug\n")
        sys.exit(4)
    sys.exit(0)
