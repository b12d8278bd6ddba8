"""``talospatch query``: can this source reach this port on the node?"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from talospatch.cli.app import command_app
from talospatch.cli.node import NodeIp, NodeName, NoHostDns, NoKubeProxy, Patches, ServiceSubnet, node_firewall
from talospatch.cli.params import gen_options
from talospatch.errors import BadInput
from talospatch.generate.options import GenOptions

Sources = Annotated[
    list[str] | None, typer.Option("--from", metavar="ADDRESS", help="Source address to ask about (repeatable).")
]
To = Annotated[
    str | None,
    typer.Option(
        "--to",
        metavar="ADDRESS",
        help="Destination address (default: the first --node-ip of the source's family, else a documentation "
        "address), e.g. a pod address or the host DNS address 169.254.116.108.",
    ),
]
Ports = Annotated[
    list[str] | None,
    typer.Option("--port", metavar="PORT/PROTO", help="PORT/tcp or PORT/udp to ask about (repeatable)."),
]


app = command_app("query")


@app.command()
@gen_options(role_required=False)
def query(
    opts: GenOptions,
    patches: Patches = None,
    sources: Sources = None,
    ports: Ports = None,
    to: To = None,
    node_ip: NodeIp = None,
    node_name: NodeName = None,
    service_subnet: ServiceSubnet = None,
    no_host_dns: NoHostDns = False,
    no_kube_proxy: NoKubeProxy = False,
) -> None:
    """Can this source reach this port? Exit 0 when every answer is allowed, 1 otherwise."""
    from talospatch.checks.explain import table_text
    from talospatch.nft.reach import Reach, parse_port_spec
    from talospatch.talos.addresses import parse_address

    if not sources or not ports:
        raise BadInput("query needs --from ADDRESS and --port PORT/PROTOCOL")
    # Each address and port once, in the order given.
    addresses = list(dict.fromkeys(parse_address(a, "--from") for a in sources))
    specs = list(dict.fromkeys(parse_port_spec(p, "--port") for p in ports))
    destination = None if to is None else parse_address(to, "--to")
    node = node_firewall(patches, opts, node_ip, service_subnet, no_host_dns, node_name, no_kube_proxy)
    reach = Reach(node.firewall, node.context, node.version)
    answers = {(a, spec): reach.query(a, *spec, destination) for a in addresses for spec in specs}
    if len(answers) == 1:
        sys.stdout.write(f"{next(iter(answers.values())).reason}\n")
    else:
        labels = [f"{port}/{proto}" for port, proto in specs]
        grid = [
            [str(a), *("allowed" if answers[(a, spec)].allowed else "dropped" for spec in specs)] for a in addresses
        ]
        sys.stdout.write(table_text(["from", *labels], grid) + "\n")
        for (address, (port, proto)), answer in answers.items():
            sys.stdout.write(f"{address} {port}/{proto}: {answer.reason}\n")
    if not all(answer.allowed for answer in answers.values()):
        raise typer.Exit(1)
