"""The ``talospatch`` command line: a thin layer over the library.

Only this module prints. It imports typer and the standard library at start-up; pydantic
and ruamel.yaml are imported by the commands that need them, so ``--help`` and shell
completion stay fast. Errors are caught once, in ``main``: a ``TalospatchError`` becomes
one line on stderr and its exit code; anything else is a bug (exit 4, with a traceback).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import sys
import traceback
import typing
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from talospatch import __version__
from talospatch.errors import BadInput, CheckFailed, TalospatchError

if TYPE_CHECKING:
    from talospatch.expand import Generated, GenOptions
    from talospatch.nft import NodeContext
    from talospatch.talosdocs import Firewall

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
Role = Annotated[str, typer.Option("--role", metavar="NAME", help="Node role profile: controlplane or worker.")]
Subnet = Annotated[
    list[str],
    typer.Option("--subnet", metavar="CIDR", help="Node subnet, CIDR (repeatable; IPv4 and/or IPv6). Required."),
]
Cni = Annotated[str, typer.Option("--cni", metavar="NAME", help="CNI profile: cilium, flannel, calico or none.")]
Tunnel = Annotated[
    str | None,
    typer.Option("--tunnel", metavar="NAME", help="Cilium overlay: vxlan, geneve or both (default both)."),
]
ControlPlane = Annotated[
    list[str],
    typer.Option(
        "--controlplane", metavar="IP|CIDR", help="Control-plane node IP or CIDR (repeatable; default: --subnet)."
    ),
]
Workers = Annotated[
    list[str], typer.Option("--workers", metavar="IP|CIDR", help="Worker node CIDR (repeatable; default: --subnet).")
]
Admin = Annotated[
    list[str],
    typer.Option(
        "--admin", metavar="IP|CIDR", help="Admin workstation IP or CIDR allowed to apid and the API (repeatable)."
    ),
]
PodSubnet = Annotated[
    list[str],
    typer.Option("--pod-subnet", metavar="CIDR", help="Pod subnet, CIDR (repeatable; default 10.244.0.0/16)."),
]
With = Annotated[list[str], typer.Option("--with", metavar="ADDON", help="Add-on profile (repeatable).")]
NodePort = Annotated[bool, typer.Option("--nodeport", help="Open NodePorts 30000-32767 tcp+udp (workers).")]
NodePortFrom = Annotated[
    list[str],
    typer.Option("--nodeport-from", metavar="IP|CIDR", help="Extra NodePort client IP or CIDR (repeatable)."),
]
ProfilesDir = Annotated[
    str | None,
    typer.Option(
        "--profiles-dir", metavar="DIR", help="Folder of profile YAML files that add to or replace the built-in ones."
    ),
]


# gen's options, shared by gen, explain, nft and query: (name, annotation, default).
_GEN_OPTIONS: tuple[tuple[str, Any, Any], ...] = (
    ("subnet", Subnet, []),
    ("cni", Cni, "cilium"),
    ("tunnel", Tunnel, None),
    ("controlplane", ControlPlane, []),
    ("workers", Workers, []),
    ("admin", Admin, []),
    ("pod_subnet", PodSubnet, []),
    ("addons", With, []),
    ("nodeport", NodePort, False),
    ("nodeport_from", NodePortFrom, []),
    ("profiles_dir", ProfilesDir, None),
)
OptionalRole = Annotated[
    str | None, typer.Option("--role", metavar="NAME", help="Instead of patch files: the role profile, as for gen.")
]


def with_gen_options(*, role_required: bool) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Give a command gen's options; it receives them as one ``GenOptions`` named ``opts``.

    ``--role`` and the shared options come first in ``--help``, then the command's own;
    ``--role`` is required or optional (then ``opts.role`` is ``""`` when not given).
    """

    def decorate(func: Callable[..., None]) -> Callable[..., None]:
        hints = typing.get_type_hints(func, localns={"GenOptions": object}, include_extras=True)
        own = [
            p.replace(annotation=hints[p.name]) for p in inspect.signature(func).parameters.values() if p.name != "opts"
        ]
        keyword = inspect.Parameter.POSITIONAL_OR_KEYWORD
        role = inspect.Parameter(
            "role",
            keyword,
            annotation=Role if role_required else OptionalRole,
            default=inspect.Parameter.empty if role_required else None,
        )
        shared = [inspect.Parameter(n, keyword, annotation=a, default=d) for n, a, d in _GEN_OPTIONS]
        parameters = [role, *shared, *own]

        @functools.wraps(func)
        def command(**kwargs: Any) -> None:
            from talospatch.expand import GenOptions

            values = {name: kwargs.pop(name) for name in ("role", *(n for n, _, _ in _GEN_OPTIONS))}
            opts = GenOptions(
                role=values["role"] or "",
                subnets=tuple(values["subnet"]),
                cni=values["cni"],
                tunnel=values["tunnel"],
                controlplane=tuple(values["controlplane"]),
                workers=tuple(values["workers"]),
                admins=tuple(values["admin"]),
                pod_subnets=tuple(values["pod_subnet"]),
                addons=tuple(values["addons"]),
                nodeport=values["nodeport"],
                nodeport_from=tuple(values["nodeport_from"]),
                profiles_dir=values["profiles_dir"],
            )
            func(opts=opts, **kwargs)

        command.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in parameters}
        return command

    return decorate


def _generate(opts: GenOptions) -> Generated:
    from talospatch.expand import expand

    generated = expand(opts)
    for message in generated.warnings:
        warn(message)
    return generated


@app.command()
@with_gen_options(role_required=True)
def gen(
    opts: GenOptions,
    output: Annotated[
        str | None,
        typer.Option("--output", "-o", metavar="FILE", help="Write the patch to FILE (atomically) instead of stdout."),
    ] = None,
    guard_from: Annotated[
        list[str],
        typer.Option(
            "--from",
            metavar="ADDRESS",
            help="Address where talosctl/kubectl run (repeatable): refuse a patch that cuts it off "
            "from apid 50000/tcp (and 6443/tcp on control planes).",
        ),
    ] = [],  # noqa: B006 (typer reads the default, never mutates it)
) -> None:
    """Write the firewall patch: default deny plus one allow rule per service."""
    from talospatch.render import render
    from talospatch.talosdocs import apply_patches
    from talospatch.yamlio import load_all

    if output is not None:
        from talospatch.output import check_target

        check_target(output)
    if guard_from:
        opts = dataclasses.replace(opts, guard_from=tuple(guard_from))
    generated = _generate(opts)
    if generated.guard_addresses:
        from talospatch.guard import lockouts
        from talospatch.nft import NodeContext

        problems = lockouts(generated, NodeContext(pod_subnets=generated.pod_subnets))
        if problems:
            raise CheckFailed("\n".join(problems))
    text = render(generated)
    # Validate what will be written, as Talos will read it.
    if apply_patches([("output", load_all(text, "output"))]) != generated.firewall:
        raise TalospatchError("the rendered patch does not read back as the generated rules")
    if output is None:
        sys.stdout.write(text)
    else:
        from talospatch.output import write_atomic

        write_atomic(output, text)
    if not generated.guard_addresses:
        warn(
            "apply with talosctl ... --mode=try, so a mistake reverts after a minute "
            "instead of locking you out (gen --from ADDR checks that ADDR keeps access)"
        )


@app.command()
@with_gen_options(role_required=True)
def explain(opts: GenOptions) -> None:
    """Show, per rule, the ports, protocol, who is allowed and why."""
    from talospatch.explain import rows, table_text

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


Patches = Annotated[
    list[str] | None,
    typer.Argument(metavar="[PATCH]...", help="Patch files applied in order, as talosctl would ('-' reads stdin)."),
]
NodeIp = Annotated[
    list[str],
    typer.Option(
        "--node-ip", metavar="IP", help="The node's address (repeatable); without one Talos builds no prerouting chain."
    ),
]
ServiceSubnet = Annotated[
    list[str],
    typer.Option("--service-subnet", metavar="CIDR", help="Service subnet, CIDR (repeatable; default 10.96.0.0/12)."),
]
NoHostDns = Annotated[
    bool,
    typer.Option("--no-host-dns", help="The cluster has forwardKubeDNSToHost off (Talos default: on)."),
]


def _node_firewall(
    patches: list[str] | None,
    opts: GenOptions,
    node_ip: list[str],
    service_subnet: list[str],
    no_host_dns: bool,
) -> tuple[Firewall, NodeContext]:
    """The firewall from patch files or from gen's options, and the node around it."""
    from talospatch.expand import parse_address, parse_network
    from talospatch.nft import NodeContext

    if patches and opts.role:
        raise BadInput("give patch files or --role with gen's options, not both")
    services = tuple(parse_network(s, "--service-subnet", allow_address=False) for s in service_subnet)
    context_args: dict[str, Any] = {
        "node_ips": tuple(parse_address(a, "--node-ip") for a in node_ip),
        "host_dns": not no_host_dns,
    }
    if services:
        context_args["service_subnets"] = services
    if patches:
        from talospatch.patchfiles import load_firewall

        given = [
            name
            for name, value in (
                ("--subnet", opts.subnets),
                ("--controlplane", opts.controlplane),
                ("--workers", opts.workers),
                ("--admin", opts.admins),
                ("--with", opts.addons),
                ("--nodeport", opts.nodeport),
                ("--nodeport-from", opts.nodeport_from),
                ("--tunnel", opts.tunnel),
                ("--profiles-dir", opts.profiles_dir),
            )
            if value
        ]
        if given:
            raise BadInput(f"{given[0]} is an option of gen's profiles; with patch files it does not apply")
        firewall = load_firewall(patches)
        if opts.pod_subnets:
            context_args["pod_subnets"] = tuple(
                parse_network(p, "--pod-subnet", allow_address=False) for p in opts.pod_subnets
            )
        return firewall, NodeContext(**context_args)
    if not opts.role:
        raise BadInput("give patch files (or - for stdin), or --role and --subnet as for gen")
    generated = _generate(opts)
    context_args["pod_subnets"] = generated.pod_subnets
    return generated.firewall, NodeContext(**context_args)


@app.command()
@with_gen_options(role_required=False)
def nft(
    opts: GenOptions,
    patches: Patches = None,
    node_ip: NodeIp = [],  # noqa: B006
    service_subnet: ServiceSubnet = [],  # noqa: B006
    no_host_dns: NoHostDns = False,
    comments: Annotated[bool, typer.Option("--comments", help="Name each rule's origin in an nft comment.")] = False,
) -> None:
    """Print the nftables ruleset Talos builds from the documents (load it with nft -f)."""
    from talospatch.nft import compile_firewall, render

    firewall, context = _node_firewall(patches, opts, node_ip, service_subnet, no_host_dns)
    sys.stdout.write(render(compile_firewall(firewall, context), comments=comments))


@app.command()
@with_gen_options(role_required=False)
def query(
    opts: GenOptions,
    patches: Patches = None,
    sources: Annotated[
        list[str], typer.Option("--from", metavar="ADDRESS", help="Source address to ask about (repeatable).")
    ] = [],  # noqa: B006
    ports: Annotated[
        list[str], typer.Option("--port", metavar="PORT/PROTO", help="PORT/tcp or PORT/udp to ask about (repeatable).")
    ] = [],  # noqa: B006
    node_ip: NodeIp = [],  # noqa: B006
    service_subnet: ServiceSubnet = [],  # noqa: B006
    no_host_dns: NoHostDns = False,
) -> None:
    """Can this source reach this port? Exit 0 when every answer is allowed, 1 otherwise."""
    from talospatch.expand import parse_address
    from talospatch.reach import Reach, parse_port_spec

    if not sources or not ports:
        raise BadInput("query needs --from ADDRESS and --port PORT/PROTOCOL")
    # Each address and port once, in the order given.
    addresses = list(dict.fromkeys(parse_address(a, "--from") for a in sources))
    specs = list(dict.fromkeys(parse_port_spec(p, "--port") for p in ports))
    firewall, context = _node_firewall(patches, opts, node_ip, service_subnet, no_host_dns)
    reach = Reach(firewall, context)
    answers = {(a, spec): reach.query(a, spec[0], spec[1]) for a in addresses for spec in specs}
    if len(answers) == 1:
        sys.stdout.write(f"{next(iter(answers.values())).reason}\n")
    else:
        from talospatch.explain import table_text

        labels = [f"{port}/{proto}" for port, proto in specs]
        grid = [
            [str(a), *("allowed" if answers[(a, spec)].allowed else "dropped" for spec in specs)] for a in addresses
        ]
        sys.stdout.write(table_text(["from", *labels], grid) + "\n")
        for (address, (port, proto)), answer in answers.items():
            sys.stdout.write(f"{address} {port}/{proto}: {answer.reason}\n")
    if not all(answer.allowed for answer in answers.values()):
        raise typer.Exit(1)


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
    name: Annotated[str, typer.Argument(metavar="NAME", help="Profile name, e.g. controlplane or cilium.")],
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
            for line in str(exc).splitlines():
                sys.stderr.write(f"talospatch: error: {line}\n")
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
