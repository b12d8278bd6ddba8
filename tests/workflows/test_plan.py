"""The apply plan (talospatch.workflows.plan): its steps, durations, and running it with a fake runner and clock."""

from __future__ import annotations

from pathlib import Path

import pytest

from talospatch.errors import BadInput, CheckFailed
from talospatch.workflows.plan import Plan, Ran, Step, make_plan, parse_duration, plan_dict, run_plan
from testing.cluster import SPEC_NODES
from testing.runner import ok, run
from tests.workflows.test_build import SPEC, write_spec

NODES = SPEC_NODES + "      admins: [203.0.113.7]\n      from: [203.0.113.7]\n"


@pytest.fixture
def spec(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> str:
    path = write_spec(tmp_path, SPEC + NODES)
    ok(run(capsys, "build", str(path)))
    return str(path)


def test_each_node_gets_try_checks_confirm(spec: str, tmp_path: Path) -> None:
    plan = make_plan(spec)
    cp1, w1 = plan.nodes
    patch = tmp_path / "out" / "nodes" / "w1.yaml"
    assert (w1.name, w1.role, w1.address, w1.patch) == ("w1", "worker", "192.168.30.21", str(patch))
    assert [step.command for step in w1.steps] == [
        f"talosctl patch mc -n 192.168.30.21 --patch @{patch} --mode=try --timeout=1m",
        f"talospatch query {spec} --node w1 --from 196.45.28.20 --port 50000/tcp",
        f"talospatch query {spec} --node w1 --from 203.0.113.7 --port 50000/tcp",
        f"talosctl get nftableschains -o yaml -n 192.168.30.21 | talospatch verify {spec} --node w1 --live -",
        f"talosctl patch mc -n 192.168.30.21 --patch @{patch} --mode=auto",
    ]
    assert [step.kind for step in w1.steps] == ["try", "check", "check", "check", "confirm"]
    # A control plane's lockout ports are apid and the Kubernetes API.
    assert cp1.steps[1].pipeline == (
        (
            "talospatch",
            "query",
            spec,
            "--node",
            "cp1",
            "--from",
            "196.45.28.20",
            "--port",
            "50000/tcp",
            "--port",
            "6443/tcp",
        ),
    )
    assert plan_dict(plan)["nodes"][1]["steps"][3]["pipeline"] == [
        ["talosctl", "get", "nftableschains", "-o", "yaml", "-n", "192.168.30.21"],
        ["talospatch", "verify", spec, "--node", "w1", "--live", "-"],
    ]
    assert [node.name for node in make_plan(spec, ["w1", "cp1", "w1"], "90s").nodes] == ["w1", "cp1"]
    assert make_plan(spec, ["w1"], "90s").nodes[0].steps[0].pipeline[0][-1] == "--timeout=90s"


def test_a_stale_patch_stops_the_plan(spec: str, tmp_path: Path) -> None:
    patch = tmp_path / "out" / "nodes" / "w1.yaml"
    patch.write_text(patch.read_text(encoding="utf-8").replace("203.0.113.7/32", "203.0.113.0/24"), encoding="utf-8")
    with pytest.raises(CheckFailed) as exc:
        make_plan(spec)
    assert str(exc.value) == f"{patch}: stale\nrun talospatch build {spec}: the plan applies the built files"
    assert make_plan(spec, ["cp1"]).nodes[0].name == "cp1"  # its own file is fresh


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1m", 60.0), ("90s", 90.0), ("1m30s", 90.0), ("1.5h", 5400.0), ("500ms", 0.5), ("2m0.5s", 120.5)],
)
def test_durations_as_talosctl_takes_them(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "60", "1 m", "1min", "0s", "-1m", "m", "1m30"])
def test_durations_talosctl_refuses(text: str) -> None:
    with pytest.raises(BadInput) as exc:
        parse_duration(text)
    assert str(exc.value) == f"--timeout {text!r} is not a duration talosctl takes; give e.g. 1m, 90s or 2m30s"


class Fake:
    """A runner that records the steps and fails the one whose command holds ``fail``; a clock that
    each step moves on by ``tick`` seconds."""

    def __init__(self, fail: str = "", tick: float = 0.0) -> None:
        self.ran: list[str] = []
        self.fail = fail
        self.tick = tick
        self.now = 0.0
        self.lines: list[str] = []

    def run(self, step: Step) -> Ran:
        self.ran.append(step.command)
        self.now += self.tick
        if self.fail and self.fail in step.command:
            return Ran(1, step.pipeline[-1][0] + " ...", "dropped\n")
        return Ran(0, "", "")

    def clock(self) -> float:
        return self.now


def _run(plan: Plan, fake: Fake) -> None:
    run_plan(plan, fake.lines.append, fake.run, fake.clock)


def test_run_goes_node_after_node(spec: str) -> None:
    plan = make_plan(spec)
    fake = Fake()
    _run(plan, fake)
    assert fake.ran == [step.command for node in plan.nodes for step in node.steps]
    assert fake.lines[0] == f"+ {plan.nodes[0].steps[0].command}\n"
    assert [line for line in fake.lines if line.endswith("confirmed\n")] == ["cp1: confirmed\n", "w1: confirmed\n"]


@pytest.mark.parametrize(
    ("fail", "ran", "message"),
    [
        pytest.param(
            "--mode=try",
            1,
            "node cp1: the try apply failed (talosctl ... exited 1); nothing more was run",
            id="try",
        ),
        pytest.param(
            "verify",
            3,
            "node cp1: a check failed (talospatch ... exited 1); not confirmed: the node reverts to its previous "
            "config within 1m; nothing more was run",
            id="check",
        ),
        pytest.param(
            "--mode=auto",
            4,
            "node cp1: the confirm failed (talosctl ... exited 1); the node reverts within 1m unless confirmed: "
            "talosctl patch mc -n 192.168.30.11 --patch @",
            id="confirm",
        ),
    ],
)
def test_run_stops_at_the_first_failure(spec: str, fail: str, ran: int, message: str) -> None:
    fake = Fake(fail)
    with pytest.raises(CheckFailed) as exc:
        _run(make_plan(spec), fake)
    assert str(exc.value).startswith(message)
    assert len(fake.ran) == ran  # nothing after the failed step, nothing of the next node
    assert not any("confirmed" in line for line in fake.lines)


def test_no_confirm_once_the_try_window_may_have_closed(spec: str) -> None:
    """Each step takes 20 s: cp1's try and two checks end as its 60 s window closes."""
    fake = Fake(tick=20.0)
    with pytest.raises(CheckFailed) as exc:
        _run(make_plan(spec), fake)
    assert str(exc.value) == (
        "node cp1: the checks took longer than the try window (1m): the node has reverted, and is not confirmed; "
        "run the plan again with a longer --timeout"
    )
    assert not any("--mode=auto" in command for command in fake.ran)
    fake = Fake(tick=20.0)
    _run(make_plan(spec, timeout="2m"), fake)
    assert sum("--mode=auto" in command for command in fake.ran) == 2
