"""``plan``: per node of a spec, the steps that apply its patch without risking a lockout.

For each node: apply the built patch in try mode (``talosctl patch mc --mode=try``: Talos
rolls the change back after ``--timeout``, one minute by default, unless a later apply
confirms it), run the checks inside that window (each ``from:`` address still reaches the
role's lockout ports; the chains the node built equal what talospatch compiles for it), then
confirm by applying the same patch again in the default mode, ``auto``. What confirms a try
(siderolabs/talos, ``internal/app/machined/internal/server/v1alpha1/v1alpha1_server.go``):
every ApplyConfiguration request whose mode is not ``try`` cancels the rollback timer, and
``auto`` (applied as ``no-reboot``) also persists the config. ``talosctl patch mc`` sends that
request even when the patched config equals the running one (``cmd/talosctl/cmd/talos/patch.go``),
so the confirming apply prints "Apply was skipped: no changes detected." and still confirms.

``make_plan`` builds the plan from the spec (refusing one whose built files are stale: the
plan applies the files, its checks read the spec); ``run_plan`` runs it step by step and stops
at the first step that fails, leaving the node to revert. Nothing here prints: the caller
passes where the run's lines go.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from talospatch.errors import BadInput, CheckFailed
from talospatch.spec.nodes import find_node, spec_nodes
from talospatch.workflows.build import RoleFile, build_spec

TALOSCTL = "talosctl"
TALOSPATCH = "talospatch"
DEFAULT_TIMEOUT = "1m"  # talosctl's own default (constants.ConfigTryTimeout)
STEPS = ("try", "check", "confirm")

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def parse_duration(text: str, label: str = "--timeout") -> float:
    """A Go duration, as talosctl's ``--timeout`` takes it (``1m``, ``90s``, ``1m30s``), in seconds; above 0."""
    total, position = 0.0, 0
    while position < len(text):
        part = _DURATION_PART.match(text, position)
        if part is None:
            break
        total += float(part[1]) * _UNITS[part[2]]
        position = part.end()
    if not text or position < len(text) or total <= 0:
        raise BadInput(f"{label} {text!r} is not a duration talosctl takes; give e.g. 1m, 90s or 2m30s")
    return total


@dataclass(frozen=True)
class Step:
    kind: str  # one of STEPS
    pipeline: tuple[tuple[str, ...], ...]  # each command's argv; more than one: a shell pipe

    @property
    def command(self) -> str:
        return " | ".join(shlex.join(argv) for argv in self.pipeline)


@dataclass(frozen=True)
class NodePlan:
    name: str
    role: str
    address: str
    patch: str
    steps: tuple[Step, ...]


@dataclass(frozen=True)
class Plan:
    spec: str
    timeout: str
    seconds: float
    nodes: tuple[NodePlan, ...]
    warnings: tuple[str, ...] = ()


def _node_steps(spec: str, name: str, address: str, built: RoleFile, timeout: str) -> tuple[Step, ...]:
    patch = f"@{built.path}"
    apply = (TALOSCTL, "patch", "mc", "-n", address, "--patch", patch)
    ports = tuple(word for port, proto in built.patch.generated.lockout_ports for word in ("--port", f"{port}/{proto}"))
    queries = [
        Step("check", ((TALOSPATCH, "query", spec, "--node", name, "--from", str(guarded), *ports),))
        for guarded in built.patch.generated.guard_addresses
    ]
    chains = (TALOSCTL, "get", "nftableschains", "-o", "yaml", "-n", address)
    verify = (TALOSPATCH, "verify", spec, "--node", name, "--live", "-")
    return (
        Step("try", ((*apply, "--mode=try", f"--timeout={timeout}"),)),
        *queries,
        Step("check", (chains, verify)),
        Step("confirm", ((*apply, "--mode=auto"),)),
    )


def make_plan(spec: str, names: Sequence[str] = (), timeout: str = DEFAULT_TIMEOUT) -> Plan:
    """The plan for the spec's nodes (``names``: these, in this order; default every node)."""
    seconds = parse_duration(timeout)
    result = build_spec(spec)
    if result.lockouts:
        raise CheckFailed("\n".join(result.lockouts))
    loaded = result.spec
    if not loaded.spec.nodes:
        raise BadInput(f"{spec}: names no node; plan needs the spec's nodes: (name, role and address of each)")
    nodes = [find_node(loaded, name) for name in dict.fromkeys(names)] if names else spec_nodes(loaded)
    node_files = {f.node: f for f in result.files if f.node is not None}
    role_files = {f.role: f for f in result.files if f.node is None}
    plans: list[NodePlan] = []
    problems: list[str] = []
    warnings: list[str] = []
    for node in nodes:
        built = node_files.get(node.name) or role_files[node.role]
        if not built.fresh:
            problems.append(f"{built.path}: {'missing' if built.old is None else 'stale'}")
        if not built.patch.generated.guard_addresses:
            warnings.append(
                f"node {node.name}: no from: address, so no query checks (the chains check still reaches apid "
                "from here); give the spec from: with the addresses talosctl runs from"
            )
        steps = _node_steps(spec, node.name, node.address, built, timeout)
        plans.append(NodePlan(node.name, node.role, node.address, str(built.path), steps))
    if problems:
        raise CheckFailed(
            "\n".join([*dict.fromkeys(problems), f"run talospatch build {spec}: the plan applies the built files"])
        )
    return Plan(spec, timeout, seconds, tuple(plans), tuple(warnings))


def plan_text(plan: Plan) -> str:
    """The plan as a shell script: run with sh, it stops at the first failed check (``set -e``)."""
    lines = [
        f"# talospatch plan {plan.spec}: per node, apply its patch in try mode, run the checks within",
        f"# {plan.timeout} (Talos reverts the patch then unless confirmed), then confirm it. As a script it",
        "# stops at the first failed step, and the node reverts by itself.",
        "set -e",
    ]
    for node in plan.nodes:
        lines += ["", f"# {node.name} ({node.role}, {node.address}): {node.patch}"]
        lines += [step.command for step in node.steps]
    return "\n".join(lines) + "\n"


def plan_dict(plan: Plan) -> dict[str, Any]:
    return {
        "spec": plan.spec,
        "timeout": plan.timeout,
        "nodes": [
            {
                "name": node.name,
                "role": node.role,
                "address": node.address,
                "patch": node.patch,
                "steps": [
                    {"step": step.kind, "command": step.command, "pipeline": [list(argv) for argv in step.pipeline]}
                    for step in node.steps
                ],
            }
            for node in plan.nodes
        ],
    }


@dataclass(frozen=True)
class Ran:
    """What one step did: the exit code of the first command that failed (0: none), and the last one's output."""

    code: int
    failed: str  # the command that failed, or ""
    output: str


def _argv(argv: tuple[str, ...]) -> list[str]:
    """talospatch runs as this interpreter's (the same version as the plan); talosctl from PATH."""
    if argv[0] == TALOSPATCH:
        return [sys.executable, "-m", "talospatch", *argv[1:]]
    return list(argv)


def run_step(step: Step) -> Ran:
    """Run the step's commands, each fed the one before's output; stop at the first that fails.

    Their stderr is the caller's. A command that cannot be started is an error (exit 3).
    """
    data: str | None = None
    for argv in step.pipeline:
        try:
            done = subprocess.run(_argv(argv), input=data, stdout=subprocess.PIPE, text=True, check=False)
        except OSError as exc:
            raise BadInput(f"{argv[0]}: cannot run it: {exc.strerror or exc}") from None
        if done.returncode != 0:
            return Ran(done.returncode, shlex.join(argv), done.stdout)
        data = done.stdout
    return Ran(0, "", data or "")


def run_plan(
    plan: Plan,
    report: Callable[[str], None],
    run: Callable[[Step], Ran] = run_step,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Run the plan node after node: each step's command goes to ``report`` before it runs, then its output.

    Stops at the first step that fails (``CheckFailed``): a failed check leaves the node in its
    try window, to revert. A confirm is not sent once the window may have closed: the node has
    reverted then, and an apply in auto mode would make the patch permanent unchecked.
    """
    for node in plan.nodes:
        started = clock()  # before the try: the node's window closes no earlier than started + seconds
        for step in node.steps:
            if step.kind == "confirm" and clock() - started >= plan.seconds:
                raise CheckFailed(
                    f"node {node.name}: the checks took longer than the try window ({plan.timeout}): the node "
                    "has reverted, and is not confirmed; run the plan again with a longer --timeout"
                )
            report(f"+ {step.command}\n")
            ran = run(step)
            report(ran.output if not ran.output or ran.output.endswith("\n") else f"{ran.output}\n")
            if ran.code == 0:
                continue
            failed = f"{ran.failed} exited {ran.code}"
            if step.kind == "try":
                raise CheckFailed(f"node {node.name}: the try apply failed ({failed}); nothing more was run")
            if step.kind == "check":
                raise CheckFailed(
                    f"node {node.name}: a check failed ({failed}); not confirmed: the node reverts to its "
                    f"previous config within {plan.timeout}; nothing more was run"
                )
            raise CheckFailed(
                f"node {node.name}: the confirm failed ({failed}); the node reverts within {plan.timeout} unless "
                f"confirmed: {step.command}"
            )
        report(f"{node.name}: confirmed\n")
