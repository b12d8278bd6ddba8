"""How fast talospatch starts, how it scales, and how many nft rules a node gets.

Run: python benchmarks/run.py [--rounds N] [--only startup,scale,build,rules]

A benchmark, not a test: the numbers depend on the machine and on what else runs on it.
Start-up figures are paired: every round runs each command once, in a shuffled order, and a
ratio is the median over the rounds of (command / its floor in the same round), so a busy
moment slows both sides of a ratio alike.

- startup: ``gen`` against the floor of its libraries (typer, ruamel.yaml's ``YAML`` and
  pydantic's ``BaseModel``), ``--help`` and shell completion against ``import typer``.
- scale: ``gen --role controlplane`` with 10 to 10,000 ``--admin`` CIDRs (random /32s plus
  networks overlapping some of them, seeded), the time beyond start-up and the size of the
  collapsed CIDR list, checked to be minimal.
- build: patches for 1 to 1,000 clusters (a control plane and a worker each) in one
  process, each size in a fresh process, with its peak RSS.
- rules: the nft rules every built-in role x CNI compiles to, one document per service and
  with ``--compact``.
"""

from __future__ import annotations

import argparse
import ipaddress
import random
import re
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

PY = sys.executable
# The console script users run (pip's wrapper: ``from talospatch.cli import main``), else
# ``python -m talospatch``, which pays for runpy on top.
_SCRIPT = Path(PY).parent / "talospatch"
CLI = [str(_SCRIPT)] if _SCRIPT.is_file() else [PY, "-m", "talospatch"]
FLOOR = "import typer, ruamel.yaml; from ruamel.yaml import YAML; from pydantic import BaseModel"
SUBNET = "192.168.30.0/24"
CONTROLPLANE = ("192.168.30.11", "192.168.30.12", "192.168.30.13")
ADMIN = "196.45.28.20"
COMPLETION_ENV = {"_TALOSPATCH_COMPLETE": "complete_bash", "COMP_WORDS": "talospatch gen --ro", "COMP_CWORD": "2"}


def _run(command: list[str], env: dict[str, str] | None = None) -> float:
    """Wall time of one run in ms; the command must succeed."""
    import os

    start = time.perf_counter()
    subprocess.run(command, capture_output=True, check=True, env={**os.environ, **(env or {})})
    return (time.perf_counter() - start) * 1000


# --------------------------------------------------------------------------------------
# Start-up


STARTUP_CASES: dict[str, tuple[list[str], dict[str, str] | None]] = {
    "floor: typer + YAML + BaseModel": ([PY, "-c", FLOOR], None),
    "talospatch gen --role worker": ([*CLI, "gen", "--role", "worker", "--subnet", SUBNET], None),
    # What building and using one pydantic model adds to the floor: why gen builds none.
    "floor + one pydantic model": ([PY, "-c", FLOOR + "\nclass M(BaseModel):\n    a: int = 0\nM(a=1)"], None),
    "import typer": ([PY, "-c", "import typer"], None),
    "talospatch --help": ([*CLI, "--help"], None),
    "talospatch gen --help": ([*CLI, "gen", "--help"], None),
    "completion (gen --ro<TAB>)": (CLI, COMPLETION_ENV),
}
# Each command and the floor it is measured against.
RATIOS = {
    "talospatch gen --role worker": "floor: typer + YAML + BaseModel",
    "floor + one pydantic model": "floor: typer + YAML + BaseModel",
    "talospatch --help": "import typer",
    "talospatch gen --help": "import typer",
    "completion (gen --ro<TAB>)": "import typer",
}


def _compile_bytecode() -> None:
    """Write talospatch's .pyc files, as ``pip install`` does for a wheel: without them (an
    editable install under ``PYTHONDONTWRITEBYTECODE``) every start compiles the sources."""
    import compileall

    import talospatch

    compileall.compile_dir(Path(talospatch.__file__).parent, quiet=1)


def startup(rounds: int) -> None:
    _compile_bytecode()
    rng = random.Random(10)
    times: dict[str, list[float]] = {name: [] for name in STARTUP_CASES}
    for command, env in STARTUP_CASES.values():  # warm the file cache
        _run(command, env)
    for _ in range(rounds):
        order = list(STARTUP_CASES)
        rng.shuffle(order)
        for name in order:
            command, env = STARTUP_CASES[name]
            times[name].append(_run(command, env))
    print(f"## Start-up ({rounds} paired rounds, Python {sys.version.split()[0]}, talospatch = {' '.join(CLI)})\n")
    print("| command | median ms | ratio to its floor (median of pairs) |")
    print("|---|---:|---|")
    for name, samples in times.items():
        ratio = ""
        if name in RATIOS:
            floor = RATIOS[name]
            pairs = [a / b for a, b in zip(samples, times[floor], strict=True)]
            ratio = f"{statistics.median(pairs):.2f}x `{floor}`"
        print(f"| `{name}` | {statistics.median(samples):.0f} | {ratio} |")
    print()


# --------------------------------------------------------------------------------------
# Scale: many admin CIDRs through gen


def admin_cidrs(count: int, seed: int = 10) -> list[str]:
    """``count`` CIDRs: random /32s in 100.64.0.0/10, and every 20th a network (/20 to /28)
    that overlaps some of them."""
    rng = random.Random(seed)
    out: list[str] = []
    base = int(ipaddress.ip_address("100.64.0.0"))
    for i in range(count):
        address = ipaddress.ip_address(base + rng.randrange(1 << 22))
        if i % 20 == 19:
            out.append(str(ipaddress.ip_network(f"{address}/{rng.randrange(20, 29)}", strict=False)))
        else:
            out.append(f"{address}/32")
    return out


def _gen_command(admins: list[str]) -> list[str]:
    command = [*CLI, "gen", "--role", "controlplane", "--subnet", SUBNET]
    for address in CONTROLPLANE:
        command += ["--controlplane", address]
    for cidr in admins:
        command += ["--admin", cidr]
    return command


def _admin_subnets(patch: str, rule: str = "apid-ingress") -> list[str]:
    """The ingress subnets of one rule of a patch, minus the node subnet."""
    for document in patch.split("\n---\n"):
        if re.search(rf"^name: {rule}$", document, re.M):
            return [s for s in re.findall(r"- subnet: (\S+)", document) if s != SUBNET]
    raise SystemExit(f"no {rule} in the patch")


def scale(rounds: int) -> None:
    """Each size paired with gen without --admin, run alternately: the difference is the
    time the CIDRs add beyond start-up."""
    base_command = _gen_command([])
    print("## Scale: gen --role controlplane with N --admin CIDRs\n")
    print("| N admin CIDRs | median ms | beyond start-up (median of pairs) | CIDRs after collapsing | minimal |")
    print("|---:|---:|---:|---:|---|")
    for size in (10, 100, 1000, 10000):
        admins = admin_cidrs(size)
        command = _gen_command(admins)
        totals, extra = [], []
        for _ in range(max(3, rounds // 4)):
            base = _run(base_command)
            total = _run(command)
            totals.append(total)
            extra.append(total - base)
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        got = _admin_subnets(out)
        minimal = [str(n) for n in ipaddress.collapse_addresses(ipaddress.ip_network(a) for a in admins)]
        print(
            f"| {size:,} | {statistics.median(totals):.0f} | {statistics.median(extra):.0f} | {len(got):,} | "
            f"{'yes' if got == minimal else 'NO'} |"
        )
    print()


# --------------------------------------------------------------------------------------
# Build: many clusters in one process


def _cluster_options(index: int) -> list[object]:
    """A control plane and a worker of cluster ``index``, each on its own /24."""
    from talospatch.generate.options import GenOptions

    third, fourth = divmod(index, 256)
    subnet = f"10.{third}.{fourth}.0/24"
    prefix = f"10.{third}.{fourth}"
    admin = f"198.18.{third}.{fourth}"
    return [
        GenOptions(
            role="controlplane",
            subnets=(subnet,),
            controlplane=tuple(f"{prefix}.{i}" for i in (11, 12, 13)),
            admins=(admin,),
            guard_from=(admin,),
        ),
        GenOptions(role="worker", subnets=(subnet,), admins=(admin,), guard_from=(admin,)),
    ]


def _spec_text(index: int) -> str:
    """Cluster ``index``'s spec: what ``_cluster_options`` says, as ``talospatch build`` reads it."""
    controlplane, _worker = _cluster_options(index)
    return (
        f"subnets: [{controlplane.subnets[0]}]\n"
        f"controlplane: [{', '.join(controlplane.controlplane)}]\n"
        f"admins: [{controlplane.admins[0]}]\n"
        f"from: [{controlplane.guard_from[0]}]\n"
        f"output: out-{index}\n"
    )


def _build_child(count: int) -> None:
    """In a fresh process: ``talospatch build`` of ``count`` specs in one run; print
    'seconds peak_rss_kib output_bytes' (the specs are written before the clock starts)."""
    import contextlib
    import io
    import tempfile

    from talospatch.cli import main

    with tempfile.TemporaryDirectory() as folder:
        specs = []
        for index in range(count):
            path = Path(folder) / f"cluster-{index}.yaml"
            path.write_text(_spec_text(index), encoding="utf-8")
            specs.append(str(path))
        start = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
            main(["build", *specs])
        seconds = time.perf_counter() - start
        size = sum(p.stat().st_size for p in Path(folder).rglob("*.yaml") if p.parent.name.startswith("out-"))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(f"{seconds:.3f} {rss} {size}")


def build_table() -> None:
    print("## Build: `talospatch build` of N cluster specs (a control plane + a worker each) in one process\n")
    print("| clusters | patches | seconds | peak RSS MiB | output MiB |")
    print("|---:|---:|---:|---:|---:|")
    for count in (1, 10, 100, 1000):
        line = subprocess.run(
            [PY, __file__, "--build-child", str(count)], capture_output=True, text=True, check=True
        ).stdout
        seconds, rss, size = line.split()
        print(f"| {count:,} | {2 * count:,} | {float(seconds):.2f} | {int(rss) / 1024:.0f} | {int(size) / 2**20:.1f} |")
    print()


# --------------------------------------------------------------------------------------
# Rules on the node


def count_rules(opts: object, node_ip: str = "192.168.30.11") -> tuple[int, int]:
    """(nft rules from the documents, every rule of the table), prerouting included."""
    from talospatch.generate.expand import expand
    from talospatch.nft.compile import NodeContext, compile_firewall

    generated = expand(opts)  # type: ignore[arg-type]
    context = NodeContext(node_ips=(ipaddress.ip_address(node_ip),), pod_subnets=generated.pod_subnets)
    ruleset = compile_firewall(generated.firewall, context)
    rules = [r for chain in ruleset.chains for r in chain.rules]
    return sum(1 for r in rules if r.rule_name is not None), len(rules)


def rules_table() -> None:
    from talospatch.generate.options import GenOptions
    from talospatch.generate.profiles import Catalog

    catalog = Catalog.load()
    print("## nft rules per node: one document per service vs --compact\n")
    print("Node 192.168.30.11 in 192.168.30.0/24, control planes .11-.13, admin 196.45.28.20,")
    print("Cilium with both tunnels; counted over both chains (ingress and prerouting).\n")
    print("| role | CNI | documents | from documents | --compact | fewer | whole table | --compact | fewer |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for role in catalog.names("role"):
        for cni in catalog.names("cni"):
            tunnels = catalog.get(cni, "cni").profile.tunnels
            base = GenOptions(
                role=role,
                cni=cni,
                tunnel="both" if tunnels else None,
                subnets=(SUBNET,),
                controlplane=CONTROLPLANE if role == "controlplane" else (),
                admins=(ADMIN,),
            )
            from talospatch.generate.expand import expand

            documents = len(expand(base).rules)
            own, total = count_rules(base)
            c_own, c_total = count_rules(base._replace(compact=True))
            cells = f"{c_own} | {_fewer(own, c_own)} | {total} | {c_total} | {_fewer(total, c_total)}"
            print(f"| {role} | {cni} | {documents} | {own} | {cells} |")
    print()


def _fewer(before: int, after: int) -> str:
    return f"{(before - after) / before:.0%}" if before else "-"


SECTIONS: dict[str, Callable[[argparse.Namespace], None]] = {
    "startup": lambda a: startup(a.rounds),
    "scale": lambda a: scale(a.rounds),
    "build": lambda a: build_table(),
    "rules": lambda a: rules_table(),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=21, help="paired start-up rounds (default 21)")
    parser.add_argument("--only", default=",".join(SECTIONS), help="comma-separated: " + ", ".join(SECTIONS))
    parser.add_argument("--build-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build_child is not None:
        _build_child(args.build_child)
        return
    for name in args.only.split(","):
        if name not in SECTIONS:
            parser.error(f"unknown section {name!r}; valid: {', '.join(SECTIONS)}")
        SECTIONS[name](args)


if __name__ == "__main__":
    main()
