"""``talospatch build``: every cluster spec's patches into its output folder, or the drift check."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from talospatch.cli.app import command_app, warn
from talospatch.errors import CheckFailed, TalospatchError
from talospatch.registry import SPEC_FILE

Specs = Annotated[
    list[str] | None,
    typer.Argument(metavar="[SPEC]...", help=f"Cluster spec files (default ./{SPEC_FILE})."),
]
Check = Annotated[
    bool,
    typer.Option(
        "--check",
        help="Write nothing; exit 1 when an output file is missing, stale or extra, "
        "printing the traffic changes and a diff per file.",
    ),
]


app = command_app("build")


@app.command()
def build(specs: Specs = None, check: Check = False) -> None:
    """Write one patch per role of each cluster spec into its output folder."""
    from talospatch.workflows.build import build_spec, check_build, write_build

    failures: list[TalospatchError] = []
    drift: list[str] = []
    for path in specs or [SPEC_FILE]:
        try:
            result = build_spec(path)
        except TalospatchError as exc:
            if exc.exit_code == 4:
                raise
            failures.append(exc)
            continue
        for note in result.notes:
            sys.stderr.write(f"talospatch: {note}\n")
        for message in result.warnings:
            warn(message)
        if result.lockouts:
            failures.append(CheckFailed("\n".join(result.lockouts)))
            continue
        if check:
            report = check_build(result)
            sys.stdout.write(report.text())
            drift += report.problems
            continue
        for line in write_build(result):
            sys.stdout.write(f"{line}\n")
        for extra in result.extra:
            warn(f"{extra}: no role of {path} produces it; delete it (build --check fails while it is there)")
        if result.node_extra:
            from talospatch.workflows.build import node_extra_reason

            for extra in result.node_extra:
                warn(f"{extra}: {node_extra_reason(result)}; delete it (build --check fails while it is there)")
        for built in result.exports:
            for extra in built.extra:
                warn(
                    f"{extra}: {built.key} ({built.target}) of {path} does not produce it; delete it "
                    "(build --check fails while it is there)"
                )
        if not any(f.patch.generated.guard_addresses for f in result.files):
            warn(
                f"{path}: apply with talosctl ... --mode=try, so a mistake reverts after a minute instead of "
                "locking you out (the spec's from: checks that an address keeps access)"
            )
    if failures:
        worst = max(failures, key=lambda exc: exc.exit_code)
        raise type(worst)("\n".join(str(exc) for exc in failures))
    if drift:
        raise CheckFailed("\n".join([*drift, "run talospatch build and commit the result"]))
