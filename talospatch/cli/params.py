"""gen's options, declared once: the table every command that takes them derives from.

Each row names the ``GenOptions`` field, its flag, and whether it still means something
when the firewall comes from patch files (``nft``/``query`` FILE...). From the table come:
the typer parameters of ``gen``, ``explain``, ``nft`` and ``query`` (``gen_options``) and
the flags ``check`` shares (``gen_flag``), the ``GenOptions`` they build, the options
refused beside patch files, the labels that name an option in messages, and the
normalized command line in a patch's header.

Only typer and the standard library are imported here (see ``talospatch.cli``).
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from typing import Annotated, Any, NamedTuple

import typer

from talospatch.errors import BadInput
from talospatch.generate.options import TALOS_VERSION_HELP, GenOptions, Labels


class GenOption(NamedTuple):
    field: str  # the GenOptions field, also the command's parameter name
    flag: str
    metavar: str | None
    help: str
    with_patch_files: bool = False  # meaningful beside patch files

    @property
    def kind(self) -> Any:
        """The typer type: a list for repeatable options, a flag for booleans, else a string."""
        default = GenOptions._field_defaults[self.field]
        if isinstance(default, bool):
            return bool
        if isinstance(default, tuple):
            return list[str]
        return str | None

    def value(self, given: Any) -> Any:
        """What typer passes, as the GenOptions field holds it (a repeatable option as a tuple)."""
        return tuple(given or ()) if self.kind == list[str] else given

    def parameter(self) -> inspect.Parameter:
        option = typer.Option(self.flag, metavar=self.metavar, help=self.help, show_default=False)
        default: object = False if self.kind is bool else None
        return inspect.Parameter(
            self.field, inspect.Parameter.KEYWORD_ONLY, annotation=Annotated[self.kind, option], default=default
        )


# In the order of the header's command line (GenOptions' field order); --role comes first.
GEN_OPTIONS: tuple[GenOption, ...] = (
    GenOption("cni", "--cni", "NAME", "CNI profile: cilium (default), flannel, calico or none."),
    GenOption("tunnel", "--tunnel", "NAME", "Cilium overlay: vxlan, geneve, both (default) or native (no tunnel)."),
    GenOption("subnets", "--subnet", "CIDR", "Node subnet, CIDR (repeatable; IPv4 and/or IPv6). Required."),
    GenOption(
        "controlplane", "--controlplane", "IP|CIDR", "Control-plane node IP or CIDR (repeatable; default: --subnet)."
    ),
    GenOption("workers", "--workers", "IP|CIDR", "Worker node CIDR (repeatable; default: --subnet)."),
    GenOption("admins", "--admin", "IP|CIDR", "Admin workstation IP or CIDR allowed to apid and the API (repeatable)."),
    GenOption(
        "pod_subnets",
        "--pod-subnet",
        "CIDR",
        "Pod subnet, CIDR (repeatable; default 10.244.0.0/16).",
        with_patch_files=True,
    ),
    GenOption("nodeport_from", "--nodeport-from", "IP|CIDR", "Extra NodePort client IP or CIDR (repeatable)."),
    GenOption("bgp_peers", "--bgp-peer", "IP|CIDR", "Router that opens BGP sessions to the nodes (repeatable)."),
    GenOption(
        "load_balancers", "--load-balancer", "IP|CIDR", "External load balancer that probes the nodes (repeatable)."
    ),
    GenOption(
        "kubespan_peers",
        "--kubespan-peer",
        "IP|CIDR",
        "KubeSpan peer outside --subnet (e.g. its NAT's public address): allowed 51820/udp only (repeatable).",
    ),
    GenOption("nodeport", "--nodeport", None, "Open NodePorts 30000-32767 tcp+udp (workers)."),
    GenOption(
        "converged",
        "--converged",
        None,
        "Control plane that runs workloads: NodePorts and worker add-ons too.",
    ),
    GenOption("addons", "--with", "ADDON", "Add-on profile (repeatable)."),
    GenOption(
        "compact",
        "--compact",
        None,
        "One rule per protocol and set of sources instead of one per service: fewer nftables rules on the node.",
    ),
    GenOption(
        "dns_over_tls",
        "--dns-over-tls",
        None,
        "The nodes resolve with DNS over TLS (ResolverConfig nameservers with protocol: DoT): exports allow "
        "853/tcp out; the Talos patch's rules do not change.",
    ),
    GenOption(
        "profiles_dir",
        "--profiles-dir",
        "DIR",
        "Folder of profile YAML files that add to or replace the built-in ones.",
    ),
    GenOption("talos_version", "--talos-version", "X.Y[.Z]", TALOS_VERSION_HELP, with_patch_files=True),
    GenOption(
        "prune_from",
        "--prune-from",
        "FILE",
        "The node's machine config now (a config file or `talosctl get machineconfig -o yaml`): "
        "also delete every NetworkRuleConfig there that is not generated.",
    ),
)

_BY_FIELD = {o.field: o for o in GEN_OPTIONS}


def gen_flag(field: str, help: str | None = None) -> Any:
    """typer's option for gen's ``field`` in another command's own signature: the flag and
    metavar of the table, and gen's help unless the option means something else there."""
    option = _BY_FIELD[field]
    return typer.Option(option.flag, metavar=option.metavar, help=help or option.help, show_default=False)


# Options of the node around the documents (nft, query), and gen's --from.
NODE_FLAGS = {
    "node_ips": "--node-ip",
    "service_subnets": "--service-subnet",
    "host_dns": "--no-host-dns",
    "kube_proxy": "--no-kube-proxy",
}
LABELS = Labels(
    {
        "role": "--role",
        **{o.field: o.flag for o in GEN_OPTIONS},
        **NODE_FLAGS,
        "guard_from": "--from",
        "output": "--output",
        "ntp_servers": "--ntp-server",
    }
)

Role = Annotated[str, typer.Option("--role", metavar="NAME", help="Node role profile: controlplane or worker.")]
OptionalRole = Annotated[
    str | None, typer.Option("--role", metavar="NAME", help="Instead of patch files: the role profile, as for gen.")
]


def gen_options(*, role_required: bool, with_role: bool = True) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Give a command ``--role`` and the table's options; it receives them as ``opts: GenOptions``.

    The command's own parameters follow in ``--help``. Without ``role_required``,
    ``opts.role`` is ``""`` when ``--role`` is not given; without ``with_role`` there is no
    ``--role`` (a command over every role).
    """

    def decorate(func: Callable[..., None]) -> Callable[..., None]:
        hints = typing.get_type_hints(func, include_extras=True)
        own = [
            p.replace(annotation=hints[p.name], kind=inspect.Parameter.KEYWORD_ONLY)
            for p in inspect.signature(func).parameters.values()
            if p.name != "opts"
        ]
        role = inspect.Parameter(
            "role",
            inspect.Parameter.KEYWORD_ONLY,
            annotation=Role if role_required else OptionalRole,
            default=inspect.Parameter.empty if role_required else None,
        )

        def command(**kwargs: Any) -> None:
            fields = {o.field: o.value(kwargs.pop(o.field)) for o in GEN_OPTIONS}
            opts = GenOptions(role=kwargs.pop("role", None) or "", **fields)
            func(opts=opts, **kwargs)

        command.__name__ = func.__name__
        command.__doc__ = func.__doc__
        command.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            [*([role] if with_role else []), *(o.parameter() for o in GEN_OPTIONS), *own]
        )
        return command

    return decorate


def refuse_beside_patch_files(opts: GenOptions, what: str = "patch files") -> None:
    """Patch files (or a spec) carry their own rules: gen's profile options would be silently ignored."""
    if opts.role:
        raise BadInput("give patch files or --role with gen's options, not both")
    for option in GEN_OPTIONS:
        if getattr(opts, option.field) and not option.with_patch_files:
            raise BadInput(f"{option.flag} is an option of gen's profiles; with {what} it does not apply")


def command_line(opts: GenOptions) -> str:
    """The ``gen`` command that reproduces ``opts`` (normalized options give a stable line)."""
    import shlex  # only a command that writes a patch needs it, not --help or completion

    words = ["talospatch", "gen", "--role", opts.role]
    for option in GEN_OPTIONS:
        value = getattr(opts, option.field)
        if isinstance(value, bool):
            words += [option.flag] if value else []
        elif isinstance(value, tuple):
            for item in value:
                words += [option.flag, item]
        elif value is not None:
            words += [option.flag, value]
    for address in opts.guard_from:
        words += ["--from", address]
    return shlex.join(words)
