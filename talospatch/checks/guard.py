"""The lockout guard: every guarded address must still reach the node's management ports.

The ports come from the role profile's ``lockout`` list (apid 50000/tcp on every role,
and the Kubernetes API 6443/tcp on control-plane nodes); the verdicts come from the same
evaluator as ``talospatch query``, on the compiled ruleset.
"""

from __future__ import annotations

from collections.abc import Iterable

from talospatch.generate.expand import Generated
from talospatch.generate.options import FIELD_NAMES, Labels
from talospatch.nft.compile import NodeContext, Ruleset
from talospatch.nft.reach import Answer, Reach
from talospatch.talos.addresses import IPAddress
from talospatch.talos.documents import L4


def lost_access(
    reach: Reach, addresses: Iterable[IPAddress], ports: Iterable[tuple[int, L4]]
) -> list[tuple[IPAddress, int, L4, Answer]]:
    """Each (address, port, protocol) that the firewall drops, with the evaluator's answer."""
    wanted = list(ports)
    lost = []
    for address in addresses:
        for port, protocol in wanted:
            answer = reach.query(address, port, protocol)
            if not answer.allowed:
                lost.append((address, port, protocol, answer))
    return lost


def lockouts(
    generated: Generated, context: NodeContext, labels: Labels = FIELD_NAMES, ruleset: Ruleset | None = None
) -> list[str]:
    """One line per (guarded address, port) the patch would cut off, with the fix.

    ``ruleset``: the documents compiled for ``context``, when the caller has them.
    """
    reach = Reach(generated.firewall, context, generated.version, ruleset=ruleset)
    problems = []
    for address, port, protocol, answer in lost_access(reach, generated.guard_addresses, generated.lockout_ports):
        takes_admin = any(
            "admins" in r.entry.from_ and r.document.protocol == protocol and any(port in p for p in r.document.ports)
            for r in generated.rules
        )
        admin = labels("admins")
        fix = f"add {admin} {address}" if takes_admin else f"no rule for this port takes {admin}"
        problems.append(f"lockout: {address} would lose {port}/{protocol} ({answer.reason}); {fix}")
    return problems
