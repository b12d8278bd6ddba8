"""Helpers shared by the test modules: document builders and a CLI runner.

The CLI runner calls ``talospatch.cli.main``, the one error handler, inside
``pytest.raises(SystemExit)`` and keeps the exit code, stdout and stderr apart.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import pytest

from talospatch.cli import main
from talospatch.talosdocs import Firewall, IngressRule, PortRange, PortSelector, RuleConfig

ERROR = "talospatch: error: "
WARNING = "talospatch: warning: "

ip = ipaddress.ip_address
net = ipaddress.ip_network


def rule(name: str, ports: list[int | str], proto: str, *ingress: str) -> RuleConfig:
    """A NetworkRuleConfig; each ingress entry is ``"cidr"`` or ``"cidr except cidr"``."""
    entries = []
    for text in ingress:
        subnet, _, exc = text.partition(" except ")
        data = {"subnet": subnet} | ({"except": exc} if exc else {})
        entries.append(IngressRule.model_validate(data))
    return RuleConfig(
        name=name,
        portSelector=PortSelector(
            ports=tuple(PortRange.parse(p) for p in ports),
            protocol=proto,
        ),
        ingress=tuple(entries),
    )


def firewall(action: str, *rules: RuleConfig, default_doc: bool = True) -> Firewall:
    return Firewall(action, rules, default_doc)  # type: ignore[arg-type]


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
    assert all(line.startswith(WARNING) for line in result.err_lines), result.err
    return result
