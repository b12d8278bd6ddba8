"""Start-up cost of the CLI against the bare import time of its three libraries.

Run: .venv/bin/python benchmarks/startup.py [RUNS]
Prints the median wall time (ms) of each command over RUNS runs (default 15). A
benchmark, not a test: the numbers depend on the machine.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

CASES = {
    "import typer": [sys.executable, "-c", "import typer"],
    "import pydantic": [sys.executable, "-c", "import pydantic"],
    "import ruamel.yaml": [sys.executable, "-c", "import ruamel.yaml"],
    "import all three": [sys.executable, "-c", "import typer, pydantic, ruamel.yaml"],
    "talospatch --help": [sys.executable, "-m", "talospatch", "--help"],
    "talospatch gen --help": [sys.executable, "-m", "talospatch", "gen", "--help"],
    "talospatch gen (worker)": [
        sys.executable,
        "-m",
        "talospatch",
        "gen",
        "--role",
        "worker",
        "--subnet",
        "192.168.30.0/24",
    ],
}


def median_ms(command: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, capture_output=True, check=True)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    baseline = median_ms([sys.executable, "-c", "pass"], runs)
    print(f"{'command':<26}{'median ms':>10}{'minus python':>14}")
    for label, command in CASES.items():
        total = median_ms(command, runs)
        print(f"{label:<26}{total:>10.1f}{total - baseline:>14.1f}")


if __name__ == "__main__":
    main()
