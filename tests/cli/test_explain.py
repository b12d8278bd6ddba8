"""``talospatch explain``."""

from __future__ import annotations

import re

import pytest

from testing.cluster import CONTROLPLANE, WORKER
from testing.documents import rule_docs
from testing.runner import WARNING, Cli, ok


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(WORKER, id="worker"),
        pytest.param(
            [*CONTROLPLANE, "--admin", "10.0.0.5", "--with", "metallb", "--with", "etcd-metrics"],
            id="controlplane-multi-protocol",
        ),
    ],
)
def test_explain_piped_is_a_plain_table(cli: Cli, args: list[str]) -> None:
    table = ok(cli("explain", *args))
    patch = ok(cli("gen", *args))
    lines = table.out.splitlines()
    header = lines[0]
    assert re.split(r" {2,}", header) == ["rule", "ports", "protocol", "allowed sources", "why"]
    # Columns are padded: each cell of every row starts where its header starts.
    starts = [header.index(title) for title in ("ports", "protocol", "allowed sources", "why")]
    docs = rule_docs(patch.out)
    assert len(lines) - 1 == len(docs)
    for line, doc in zip(lines[1:], docs, strict=True):
        assert line.startswith(doc["name"] + " ")
        for start in starts:
            assert line[start - 2 : start] == "  ", line
            assert line[start] != " ", line
        ports = ", ".join(str(p) for p in doc["portSelector"]["ports"])
        assert line[starts[0] :].startswith(ports + " ")
        assert line[starts[1] :].startswith(doc["portSelector"]["protocol"] + " ")
        for entry in doc["ingress"]:
            assert entry["subnet"] in line[starts[2] : starts[3]]
    assert "\x1b[" not in table.out  # no colours or box drawing when piped
    assert all(line.startswith(WARNING) for line in table.err_lines)


def test_explain_warnings_go_to_stderr(cli: Cli) -> None:
    result = ok(cli("explain", *CONTROLPLANE))
    assert any(w.startswith("no --controlplane") for w in result.warnings)
    assert "warning" not in result.out
