"""Run the command line as a user would, through ``talospatch.cli.main``, the one error handler.

``run`` calls ``main`` inside ``pytest.raises(SystemExit)`` and keeps the exit code, stdout
and stderr apart; ``error_message`` and ``ok`` check the output contract (one error line,
no traceback, nothing on stdout; or exit 0 with only warnings on stderr).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from talospatch.cli import main

ERROR = "talospatch: error: "
WARNING = "talospatch: warning: "


@dataclass(frozen=True)
class Result:
    code: object
    out: str
    err: str

    @property
    def err_lines(self) -> list[str]:
        return self.err.splitlines()

    @property
    def out_lines(self) -> list[str]:
        return self.out.splitlines()

    @property
    def errors(self) -> list[str]:
        """The messages of the ``talospatch: error:`` lines, in order."""
        return [line.removeprefix(ERROR) for line in self.err_lines if line.startswith(ERROR)]

    @property
    def warnings(self) -> list[str]:
        return [line.removeprefix(WARNING) for line in self.err_lines if line.startswith(WARNING)]


def run(capsys: pytest.CaptureFixture[str], *args: str) -> Result:
    """Run ``talospatch ARGS`` through ``main``; it always ends with SystemExit."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        main(list(args))
    out, err = capsys.readouterr()
    return Result(exc.value.code, out, err)


# The ``cli`` fixture: ``run`` bound to pytest's output capture.
Cli = Callable[..., Result]


def error_message(result: Result, code: int = 3) -> str:
    """Check the one-line error contract and return the message after the prefix."""
    assert result.code == code, result.err
    assert result.out == ""
    assert "Traceback" not in result.err
    assert result.err.endswith("\n")
    assert len(result.err_lines) == 1, result.err
    line = result.err_lines[0]
    assert line.startswith(ERROR), line
    return line.removeprefix(ERROR)


def ok(result: Result) -> Result:
    assert result.code == 0, result.err
    assert "Traceback" not in result.err
    # Warnings, and notes on where the node's context came from (``talospatch: ...``): no error.
    assert all(line.startswith("talospatch: ") and not line.startswith(ERROR) for line in result.err_lines), result.err
    return result


def gen_file(cli: Cli, path: Path, *args: str) -> Path:
    """``gen ARGS -o PATH``, which must succeed."""
    ok(cli("gen", *args, "-o", str(path)))
    assert path.is_file()
    return path
