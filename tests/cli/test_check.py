"""``talospatch check --list-rules`` and ``--ignore`` (the findings themselves: tests/checks/test_lint.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from talospatch.checks.lint.registry import RULES
from testing.runner import Cli, error_message, ok

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "check"
REDUNDANT, NO_APID = str(FIXTURES / "redundant.yaml"), str(FIXTURES / "no-apid.yaml")


def test_list_rules_prints_one_line_a_rule(cli: Cli) -> None:
    lines = ok(cli("check", "--list-rules")).out_lines
    assert [line.split()[:2] for line in lines] == [[r.code, r.severity] for r in RULES]
    assert lines[0].endswith(f"{RULES[0].summary}  {RULES[0].fix}")


def test_list_rules_as_json(cli: Cli) -> None:
    rules = json.loads(ok(cli("check", "--list-rules", "--format", "json")).out)["rules"]
    assert rules[0] == {"code": "unreadable", "severity": "error", "summary": RULES[0].summary, "fix": RULES[0].fix}
    assert [r["code"] for r in rules] == [r.code for r in RULES]


def test_markdown_is_a_format_of_the_rules_only(cli: Cli) -> None:
    assert error_message(cli("check", REDUNDANT, "--format", "markdown")) == (
        "--format 'markdown' is not a format; valid: text, json (markdown is for --list-rules)"
    )
    assert error_message(cli("check", "--list-rules", "--format", "xml")) == (
        "--format 'xml' is not a format; valid: text, json, markdown"
    )


def test_files_are_required_without_list_rules(cli: Cli) -> None:
    result = cli("check", "--role", "worker")
    assert result.code == 2
    assert result.out == ""
    assert "Missing argument 'FILE...'" in result.err


def test_ignore_silences_a_rule_and_its_exit_code(cli: Cli) -> None:
    assert cli("check", REDUNDANT).code == 1
    assert ok(cli("check", REDUNDANT, "--ignore", "redundant")).out == ""
    both = cli("check", REDUNDANT, NO_APID, "--ignore", "redundant")
    assert both.code == 1
    assert [line.split(": ")[1] for line in both.out_lines] == ["NetworkDefaultActionConfig"]
    assert ok(cli("check", REDUNDANT, NO_APID, "--ignore", "redundant", "--ignore", "no-apid")).out == ""


def test_ignored_findings_leave_the_json_report(cli: Cli) -> None:
    result = cli("check", "--format", "json", REDUNDANT, NO_APID, "--ignore", "no-apid")
    assert result.code == 1
    assert [f["code"] for f in json.loads(result.out)["findings"]] == ["redundant"]


def test_environment_adds_codes_to_ignore(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TALOSPATCH_CHECK_IGNORE", " redundant,, no-apid ")
    assert ok(cli("check", REDUNDANT, NO_APID)).out == ""
    monkeypatch.setenv("TALOSPATCH_CHECK_IGNORE", "redundant")
    assert cli("check", REDUNDANT, NO_APID).code == 1


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--ignore", "nope"], "", "--ignore 'nope' is not a rule; valid: unreadable, placeholder, quoted-port,"),
        ([], "redundant,nope", "TALOSPATCH_CHECK_IGNORE 'nope' is not a rule; valid: unreadable,"),
        (["--ignore", "invalid"], "", "--ignore 'invalid' cannot be ignored: Talos rejects what it finds"),
    ],
    ids=["unknown", "unknown-in-environment", "error"],
)
def test_bad_codes_are_exit_3(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, args: list[str], env: str, message: str
) -> None:
    monkeypatch.setenv("TALOSPATCH_CHECK_IGNORE", env)
    assert error_message(cli("check", REDUNDANT, *args)).startswith(message)


def test_errors_stay_errors_whatever_is_ignored(cli: Cli) -> None:
    result = cli("check", str(FIXTURES / "invalid.yaml"), REDUNDANT, "--ignore", "redundant")
    assert result.code == 3
    assert [line.split(": ")[0] for line in result.out_lines] == [str(FIXTURES / "invalid.yaml")] * 2
