"""The rule registry: every rule is reported by some case (no dead rules), every finding
names a registered rule with its severity, and docs/check-rules.md is the registry's table."""

from __future__ import annotations

from pathlib import Path

import pytest

from talospatch.checks.lint.engine import Finding, check_merged, check_text, lint_options
from talospatch.checks.lint.registry import BY_CODE, RULES, OnRule, ignorable
from talospatch.errors import BadInput
from testing.runner import ok, run

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "check"
PER_RULE = sorted(FIXTURES.glob("community/per-rule/*.yaml"))
CP = ("192.168.30.11", "192.168.30.12", "192.168.30.13")

# (fixture names, lint_options arguments, merged): together they report every rule.
CASES: list[tuple[list[str], dict[str, object], bool]] = [
    (
        ["unreadable", "invalid", "no-protocol", "icmp-rule", "empty-ingress", "except-outside", "quoted-port"],
        {},
        False,
    ),
    (["open-to-everyone", "one-family", "no-apid", "duplicate-name", "redundant"], {}, False),
    (["community/placeholders"], {}, False),
    (["beyond-controlplane"], {"controlplane": CP}, False),
    (["lockout"], {"guard_from": ("196.45.28.20",)}, False),
    (["missing-port"], {"cni": "flannel"}, False),
    (["too-many-rules"], {"subnets": ("192.168.30.0/24",)}, False),
    (["range-end"], {"talos_version": "1.12.0"}, False),
    (["dhcpv6-blocked"], {}, False),
    (["nodeport-bypass", "converged-missing"], {}, False),
    ([str(PER_RULE[1].relative_to(FIXTURES).with_suffix(""))], {"guard_from": ("196.45.28.20",)}, False),
    ([str(p.relative_to(FIXTURES).with_suffix("")) for p in PER_RULE], {}, False),
    ([str(p.relative_to(FIXTURES).with_suffix("")) for p in PER_RULE], {"subnets": ("10.0.0.0/16", "fd00::/64")}, True),
]


def _findings(names: list[str], options: dict[str, object], merged: bool) -> list[Finding]:
    opts = lint_options(**options)  # type: ignore[arg-type]
    files = [(name, (FIXTURES / f"{name}.yaml").read_text(encoding="utf-8")) for name in names]
    if merged:
        return check_merged(files, opts)
    return [f for name, text in files for f in check_text(text, name, opts)]


ALL = [f for case in CASES for f in _findings(*case)]


def test_every_rule_is_reported_by_a_case() -> None:
    assert sorted({f.code for f in ALL}) == sorted(BY_CODE)


def test_every_finding_has_its_rules_severity() -> None:
    assert {(f.code, f.severity) for f in ALL} == {(r.code, r.severity) for r in RULES}


def test_codes_are_unique_and_each_rule_but_unreadable_has_a_check() -> None:
    assert len(BY_CODE) == len(RULES)
    assert [r.code for r in RULES if not r.checks] == ["unreadable"]


def test_a_dropping_check_leaves_the_rule_out_of_the_firewall() -> None:
    """no-protocol drops its rule: the kubelet rule is not counted as allowing 10250 (no redundant, one finding)."""
    assert [c.run.__name__ for r in RULES for c in r.checks if isinstance(c, OnRule) and c.drops] == ["check_protocol"]
    assert [f.code for f in _findings(["no-protocol"], {}, False)] == ["no-protocol"]


def test_ignored_findings_are_not_reported() -> None:
    text = (FIXTURES / "redundant.yaml").read_text(encoding="utf-8")
    assert [f.code for f in check_text(text, "r.yaml", lint_options())] == ["redundant"]
    assert check_text(text, "r.yaml", lint_options(ignore=frozenset({"redundant"}))) == []


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("nope", "--ignore 'nope' is not a rule; valid: unreadable, placeholder,"),
        ("invalid", "--ignore 'invalid' cannot be ignored: Talos rejects what it finds"),
        ("unreadable", "--ignore 'unreadable' cannot be ignored"),
    ],
)
def test_only_hazards_can_be_ignored(code: str, message: str) -> None:
    with pytest.raises(BadInput) as exc:
        ignorable([code], "--ignore")
    assert str(exc.value).startswith(message)
    assert ignorable(["redundant", "lockout"], "--ignore") == {"redundant", "lockout"}


def test_docs_table_is_the_registry(capsys: pytest.CaptureFixture[str]) -> None:
    """Regenerate with: talospatch check --list-rules --format markdown > docs/check-rules.md"""
    generated = ok(run(capsys, "check", "--list-rules", "--format", "markdown")).out
    assert (ROOT / "docs" / "check-rules.md").read_text(encoding="utf-8") == generated
    assert [line.split(" | ")[0].strip("| `") for line in generated.splitlines() if line.startswith("| `")] == [
        r.code for r in RULES
    ]
