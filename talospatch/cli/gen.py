"""``talospatch gen``: write one role's firewall patch."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from talospatch.cli.app import command_app, warn
from talospatch.cli.params import LABELS, command_line, gen_options
from talospatch.errors import CheckFailed
from talospatch.generate.options import GenOptions

Output = Annotated[
    str | None,
    typer.Option("--output", "-o", metavar="FILE", help="Write the patch to FILE (atomically) instead of stdout."),
]
From = Annotated[
    list[str] | None,
    typer.Option(
        "--from",
        metavar="ADDRESS",
        help="Address where talosctl/kubectl run (repeatable): refuse a patch that cuts it off "
        "from apid 50000/tcp (and 6443/tcp on control planes).",
    ),
]

# talospatch.talhelper.TOOLS, without importing it before gen runs.
For = Annotated[
    str,
    typer.Option(
        "--for",
        metavar="TOOL",
        help="The tool that reads the patch: talosctl (default) or talhelper (every $ doubled for its "
        "envsubst; the header shows the talconfig.yaml lines).",
        show_default=False,
    ),
]


app = command_app("gen")


@app.command()
@gen_options(role_required=True)
def gen(opts: GenOptions, output: Output = None, guard_from: From = None, tool: For = "talosctl") -> None:
    """Write the firewall patch: default deny plus one allow rule per service."""
    import shlex

    from talospatch import output as files
    from talospatch.talhelper import TALOSCTL, check_tool
    from talospatch.workflows.patch import make_patch

    check_tool(tool, "--for")
    if output is not None:
        files.check_target(output, LABELS("output"))
    if guard_from:
        opts = opts._replace(guard_from=tuple(guard_from))

    def header_line(normal: GenOptions) -> str:
        return command_line(normal) + ("" if tool == TALOSCTL else " " + shlex.join(["--for", tool]))

    patch = make_patch(opts, header_line, labels=LABELS, tool=tool, path=output)
    for note in patch.notes:
        sys.stderr.write(f"talospatch: {note}\n")
    for message in (*patch.generated.warnings, *patch.warnings):
        warn(message)
    if patch.lockouts:
        raise CheckFailed("\n".join(patch.lockouts))
    if output is None:
        sys.stdout.write(patch.text)
    else:
        files.write_atomic(output, patch.text, LABELS("output"))
    if not patch.generated.guard_addresses:
        warn(
            "apply with talosctl ... --mode=try, so a mistake reverts after a minute "
            "instead of locking you out (gen --from ADDR checks that ADDR keeps access)"
        )
