"""What a lint rule reports: a ``Finding``, the ``Collector`` of one file's (or node's)
findings that every check writes to, and the exit code they make.

Each finding is one line, ``FILE: DOCUMENT: message; fix``. A finding of severity
``error`` is a document Talos rejects (or a file that cannot be read); the others are
``hazard``: Talos applies them, and they do not do what their author meant.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from talospatch.checks.lint.options import LintOptions
from talospatch.talos.context import ConfigContext
from talospatch.talos.documents import Network, RuleConfig

Severity = Literal["error", "hazard"]


@dataclass(frozen=True)
class Finding:
    file: str
    document: str
    code: str
    message: str
    fix: str
    severity: Severity = "hazard"

    def __str__(self) -> str:
        return f"{self.file}: {self.document}: {self.message}; {self.fix}"

    def to_json(self) -> dict[str, str]:
        return dataclasses.asdict(self)


@dataclass
class Collector:
    """One file (or the node that files make together) as the checks go through it."""

    path: str
    options: LintOptions
    findings: list[Finding] = field(default_factory=list)
    # Documents that passed, repaired where a finding says how (a quoted port).
    documents: list[Mapping[str, Any]] = field(default_factory=list)
    names: Counter[str] = field(default_factory=Counter)
    placeholders: int = 0
    machine_type: str | None = None
    # Where the config turns DHCPv6 on (``documents.dhcpv6_links``).
    dhcpv6: tuple[str, ...] = ()
    # What the node's config says beside the firewall (pod subnets, kube-proxy, scheduling).
    config: ConfigContext = field(default_factory=ConfigContext)

    def add(self, document: str, code: str, message: str, fix: str, severity: Severity = "hazard") -> None:
        self.findings.append(Finding(self.path, document, code, message, fix, severity))


def exit_code(findings: list[Finding]) -> int:
    """3 when Talos would reject something, 1 for hazards, 0 when clean."""
    if any(f.severity == "error" for f in findings):
        return 3
    return 1 if findings else 0


def ports_text(rule: RuleConfig) -> str:
    ports = ", ".join(p.label for p in rule.ports)
    return f"{ports}/{rule.portSelector.protocol}" if rule.portSelector.protocol else ports


def nets(networks: list[Network] | tuple[Network, ...]) -> str:
    return ", ".join(str(n) for n in networks)
