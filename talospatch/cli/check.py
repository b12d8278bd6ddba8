"""``talospatch check FILE...``: the linter, one line per finding; ``--list-rules``: its rules."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from talospatch.cli.app import command_app, note
from talospatch.cli.node import NoHostDns, NoKubeProxy, ServiceSubnet
from talospatch.cli.params import gen_flag
from talospatch.errors import BadInput

FORMATS = ("text", "json")
RULE_FORMATS = (*FORMATS, "markdown")
IGNORE_ENV = "TALOSPATCH_CHECK_IGNORE"

FILES_METAVAR = "FILE..."
Files = Annotated[
    list[str] | None,
    typer.Argument(
        metavar=FILES_METAVAR,
        help="Patch files, machine configs or talosctl get machineconfig -o yaml output ('-' reads stdin); "
        "required unless --list-rules.",
        show_default=False,
    ),
]
Repeated = list[str] | None


app = command_app("check")


@app.command()
def check(
    ctx: typer.Context,
    files: Files = None,
    output_format: Annotated[
        str,
        typer.Option("--format", metavar="FORMAT", help="text (default) or json; with --list-rules also markdown."),
    ] = "text",
    role: Annotated[
        str | None, typer.Option("--role", metavar="NAME", help="Check that the role profile's ports are allowed.")
    ] = None,
    cni: Annotated[str | None, gen_flag("cni", "Check that the CNI profile's ports are allowed.")] = None,
    tunnel: Annotated[str | None, gen_flag("tunnel", "The CNI's tunnel (cilium).")] = None,
    addons: Annotated[Repeated, gen_flag("addons", "Add-on profile whose ports must be allowed (repeatable).")] = None,
    subnets: Annotated[Repeated, gen_flag("subnets", "Node subnet (repeatable); both families = dual-stack.")] = None,
    controlplane: Annotated[
        Repeated, gen_flag("controlplane", "Control-plane address: etcd must be open to these only.")
    ] = None,
    guard_from: Annotated[
        Repeated,
        typer.Option("--from", metavar="ADDRESS", help="Address that must keep apid (and 6443 on control planes)."),
    ] = None,
    merge: Annotated[
        bool,
        typer.Option(
            "--merge",
            help="The files are patches of one node, applied in order as talosctl does: check the firewall "
            "they make together (default: each file is a node of its own).",
        ),
    ] = False,
    pod_subnets: Annotated[
        Repeated,
        gen_flag(
            "pod_subnets", "Pod subnet, CIDR (repeatable; default: what a machine config says, else 10.244.0.0/16)."
        ),
    ] = None,
    service_subnet: ServiceSubnet = None,
    no_host_dns: NoHostDns = False,
    no_kube_proxy: NoKubeProxy = False,
    converged: Annotated[
        bool,
        gen_flag(
            "converged",
            "The node is a control plane that runs workloads, whatever its config says: NodePorts must be allowed.",
        ),
    ] = False,
    profiles_dir: Annotated[str | None, gen_flag("profiles_dir")] = None,
    talos_version: Annotated[
        str | None,
        gen_flag(
            "talos_version",
            "The Talos release the nodes run: only its hazards are reported (default: every release's).",
        ),
    ] = None,
    ignore: Annotated[
        Repeated,
        typer.Option(
            "--ignore",
            metavar="CODE",
            help=f"Do not report this rule's findings (repeatable; also {IGNORE_ENV}=CODE,CODE). "
            "Errors cannot be ignored.",
        ),
    ] = None,
    list_rules: Annotated[
        bool, typer.Option("--list-rules", help="Print the rules: code, severity, what it finds, fix.")
    ] = False,
) -> None:
    """Lint firewall documents. Exit 0 clean, 1 hazards found, 3 a file or document Talos rejects."""
    import json
    import os

    from talospatch.checks.lint import registry
    from talospatch.checks.lint.engine import check_each, check_merged, exit_code, lint_options
    from talospatch.cli.params import LABELS
    from talospatch.talos.patchfiles import read_patch, source_name

    if list_rules:
        if output_format not in RULE_FORMATS:
            raise BadInput(f"--format {output_format!r} is not a format; valid: {', '.join(RULE_FORMATS)}")
        sys.stdout.write(_rules(output_format))
        return
    if output_format not in FORMATS:
        also = " (markdown is for --list-rules)" if output_format in RULE_FORMATS else ""
        raise BadInput(f"--format {output_format!r} is not a format; valid: {', '.join(FORMATS)}{also}")
    if not files:
        # The usage error typer gives a missing required argument (exit 2, usage on stderr).
        ctx.fail(f"Missing argument '{FILES_METAVAR}'.")
    if files.count("-") > 1:
        raise BadInput("'-' (standard input) can be given once")
    from_env = [code.strip() for code in os.environ.get(IGNORE_ENV, "").split(",") if code.strip()]
    ignored = registry.ignorable(from_env, IGNORE_ENV) | registry.ignorable(ignore or [], "--ignore")
    options = lint_options(
        role=role,
        cni=cni,
        tunnel=tunnel,
        addons=tuple(addons or ()),
        subnets=tuple(subnets or ()),
        controlplane=tuple(controlplane or ()),
        guard_from=tuple(guard_from or ()),
        profiles_dir=profiles_dir,
        talos_version=talos_version,
        labels=LABELS,
        ignore=ignored,
        pod_subnets=tuple(pod_subnets or ()),
        service_subnets=tuple(service_subnet or ()),
        no_host_dns=no_host_dns,
        no_kube_proxy=no_kube_proxy,
        converged=converged,
    )
    texts = [(path, read_patch(path)) for path in files]
    named = [(source_name(path), text) for path, text in texts]
    notes: list[str] = []
    findings = check_merged(named, options, notes) if merge else check_each(named, options, notes)
    for message in notes:
        note(message)
    if output_format == "json":
        document = {"files": len(files), "findings": [f.to_json() for f in findings]}
        sys.stdout.write(json.dumps(document, indent=2) + "\n")
    else:
        sys.stdout.write("".join(f"{f}\n" for f in findings))
    code = exit_code(findings)
    if code == 3:
        errors = sum(f.severity == "error" for f in findings)
        raise BadInput(f"{errors} document(s) or file(s) that Talos would reject; see the findings above")
    if code:
        raise typer.Exit(code)


def _rules(output_format: str) -> str:
    """The registry's rules: a line each, a JSON document, or ``docs/check-rules.md``."""
    import json

    from talospatch.checks.lint.registry import RULES

    if output_format == "json":
        rows = [{"code": r.code, "severity": r.severity, "summary": r.summary, "fix": r.fix} for r in RULES]
        return json.dumps({"rules": rows}, indent=2) + "\n"
    if output_format == "markdown":
        return MARKDOWN_INTRO + "".join(
            f"| `{r.code}` | {r.severity} | {_cell(r.summary)} | {_cell(r.fix)} |\n" for r in RULES
        )
    width = max(len(r.code) for r in RULES)
    return "".join(f"{r.code:<{width}}  {r.severity:<6}  {r.summary}  {r.fix}\n" for r in RULES)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


MARKDOWN_INTRO = """\
# talospatch check: the rules

Every finding of `talospatch check` names one of these rules by its code. An `error` is something
Talos rejects (exit 3); a `hazard` is something Talos applies that does not do what it seems to
(exit 1), and `--ignore CODE` (or `TALOSPATCH_CHECK_IGNORE=CODE,CODE`) silences it. This page is
generated: `talospatch check --list-rules --format markdown > docs/check-rules.md`. How `check`
fits into review: [review.md](review.md).

| code | severity | what it finds | fix |
|---|---|---|---|
"""
