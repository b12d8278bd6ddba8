"""The ``talospatch`` command line: a thin layer over the library.

One module per command (or command group) declares its parameters, turns strings into the
core's inputs, calls one core function and prints. gen's shared options are declared once,
in ``params``. Only the command line prints; errors are caught once, in ``main``: a
``TalospatchError`` becomes its message on stderr and its exit code; anything else is a bug
(exit 4, with a traceback).

Start-up: ``--help``, ``--version`` and shell completion must not pay for ruamel.yaml or
the core. So the root loads a command's module only when that command is used (``app``),
the modules of this package import only typer, the standard library and the light
``talospatch.generate.options``/``talospatch.errors`` at the top, and each command imports the core
it calls in its body, as its first statement. Tests hold every command's ``--help`` and
completion to that.
"""

from __future__ import annotations

import contextlib
import gc
import sys
from collections.abc import Iterator
from typing import NoReturn

from talospatch.cli.app import app
from talospatch.errors import BadInput, TalospatchError

__all__ = ["app", "main"]


@contextlib.contextmanager
def _fewer_collections() -> Iterator[None]:
    """A command builds large trees of objects without cycles (networks, YAML nodes,
    documents), and CPython's default collector thresholds (every 700 new objects) re-scan
    them over and over: half the time of a gen with 10,000 CIDRs. Collect cycles less often
    while the command runs; the collector still runs, so memory stays flat over many clusters.
    """
    before = gc.get_threshold()
    gc.set_threshold(10_000, *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)


def main(argv: list[str] | None = None) -> NoReturn:
    """Run the CLI; the one place that turns errors into exit codes."""
    try:
        with _fewer_collections():
            app(args=argv, prog_name="talospatch")
    except TalospatchError as exc:
        if isinstance(exc, BadInput) or exc.exit_code != 4:
            for line in str(exc).splitlines():
                sys.stderr.write(f"talospatch: error: {line}\n")
        else:
            import traceback  # the error paths only: start-up does not pay for it

            traceback.print_exc()
            sys.stderr.write(f"talospatch: internal error: {exc}; please report this as a bug\n")
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception:
        import traceback

        traceback.print_exc()
        sys.stderr.write("talospatch: internal error; please report this as a bug\n")
        sys.exit(4)
    sys.exit(0)
