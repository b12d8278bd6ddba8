"""The reference cluster the tests speak about, and the repository's paths.

VLAN 192.168.30.0/24 with control-plane nodes .11-.13, a node .21, an admin workstation
196.45.28.20 outside it, a pod address, and an outsider on the internet (RFC 5737).
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROFILES = ROOT / "profiles"
OUT = ROOT / "out"
CONTROLPLANE_PATCH = OUT / "controlplane.yaml"
WORKER_PATCH = OUT / "worker.yaml"

SUBNET = "192.168.30.0/24"
SUBNET6 = "fd00:30::/64"
CONTROLPLANES = ("192.168.30.11", "192.168.30.12", "192.168.30.13")
NODE = "192.168.30.21"
NODE6 = "fd00:30::21"
ADMIN = "196.45.28.20"
OUTSIDER = "203.0.113.9"
POD = "10.244.1.5"
POD_SUBNET = "10.244.0.0/16"  # Talos's default pod subnet
POD_SUBNET6 = "fd00:244::/56"

# gen's options for a role, and the reference patches' options (without --from, which only
# guards and changes no rule).
WORKER = ["--role", "worker", "--subnet", SUBNET]
CONTROLPLANE = ["--role", "controlplane", "--subnet", SUBNET]
CONTROLPLANE_OPTIONS = [
    *CONTROLPLANE,
    "--cni",
    "cilium",
    "--tunnel",
    "geneve",
    *(word for address in CONTROLPLANES for word in ("--controlplane", address)),
    "--admin",
    f"{ADMIN}/32",
]
WORKER_OPTIONS = [*WORKER, "--cni", "cilium", "--tunnel", "geneve", "--admin", f"{ADMIN}/32"]

# The reference cluster as a spec (``talospatch.yaml``), with the lockout guard's address.
REFERENCE_SPEC = """\
cni: cilium
tunnel: geneve
subnets: [192.168.30.0/24]
controlplane: [192.168.30.11, 192.168.30.12, 192.168.30.13]
admins: [196.45.28.20/32]
from: [196.45.28.20]
"""

# query's arguments for a question every reference patch answers "allowed".
QUERY_OK = ["--from", ADMIN, "--port", "50000/tcp"]

# A spec's nodes: a control plane and a worker of the reference cluster. Keys appended to it
# are the worker's (w1), the last node.
SPEC_NODES = """\
nodes:
    - name: cp1
      role: controlplane
      address: 192.168.30.11
    - name: w1
      role: worker
      address: 192.168.30.21
"""
