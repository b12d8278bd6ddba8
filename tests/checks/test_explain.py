"""``talospatch explain --format markdown|text``: the reachability matrix and the plain table."""

from __future__ import annotations

import pytest

from testing.runner import error_message, ok, run

CP = ["--controlplane", "192.168.30.11", "--controlplane", "192.168.30.12", "--controlplane", "192.168.30.13"]
ARGS = ["--role", "controlplane", "--cni", "cilium", "--tunnel", "geneve", "--subnet", "192.168.30.0/24", *CP]


def test_markdown_matrix(capsys: pytest.CaptureFixture[str]) -> None:
    result = ok(run(capsys, "explain", *ARGS, "--admin", "196.45.28.20/32", "--format", "markdown"))
    lines = result.out_lines
    assert lines[0].startswith("Who reaches what on `talospatch gen --role controlplane")
    assert lines[2] == (
        "| rule | ports | nodes (192.168.30.0/24) | controlplane (192.168.30.11/32, 192.168.30.12/32, "
        "192.168.30.13/32) | workers (192.168.30.0/24) | admins (196.45.28.20/32) | pods (10.244.0.0/16) "
        "| any (0.0.0.0/0, ::/0) |"
    )
    assert lines[3] == "|---|---|---|---|---|---|---|---|"
    rows = {line.split(" | ")[0].removeprefix("| "): line for line in lines[4:]}
    assert rows["apid-ingress"] == "| apid-ingress | 50000/tcp | ✅ | ✅ | ✅ | ✅ | — | partly |"
    assert rows["etcd-ingress"] == "| etcd-ingress | 2379-2380/tcp | partly | ✅ | partly | — | — | partly |"
    assert rows["kubelet-ingress"] == "| kubelet-ingress | 10250/tcp | ✅ | ✅ | ✅ | — | ✅ | partly |"
    assert len(rows) == 9


def test_text_is_the_plain_table(capsys: pytest.CaptureFixture[str]) -> None:
    result = ok(run(capsys, "explain", *ARGS, "--format", "text"))
    assert result.out_lines[0].split() == ["rule", "ports", "protocol", "allowed", "sources", "why"]
    assert result.out == ok(run(capsys, "explain", *ARGS)).out


def test_unknown_format_is_exit_3(capsys: pytest.CaptureFixture[str]) -> None:
    message = error_message(run(capsys, "explain", *ARGS, "--format", "html"))
    assert message == "--format 'html' is not a format; valid: text, markdown"
