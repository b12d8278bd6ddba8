"""Errors that carry their exit code; the CLI catches them once.

| code | meaning |
|---|---|
| 0 | ok |
| 1 | a check found a problem (lockout, stale file, a query answered "dropped") |
| 2 | usage error (typer's own: unknown option, missing value) |
| 3 | bad input: a CIDR, port, role, profile or YAML file that is not valid |
| 4 | internal bug |
"""

from __future__ import annotations


class TalospatchError(Exception):
    """Base class: one line for stderr and the exit code that goes with it."""

    exit_code = 4


class CheckFailed(TalospatchError):
    """A check ran and found a problem (for example a lockout)."""

    exit_code = 1


class BadInput(TalospatchError):
    """The user's input (options, profile files, patch files) is not valid."""

    exit_code = 3
