"""The lockout guard: every guarded address must still reach the node's management ports.

The ports come from the role profile's ``lockout`` list (apid 50000/tcp on every role,
and the Kubernetes API 6443/tcp on control-plane nodes); the verdicts come from the same
evaluator as ``talospatch query``, on the compiled ruleset.
"""

from __future__ import annotations

from talospatch.expand import Generated
from talospatch.nft import NodeContext
from talospatch.options import FIELD_NAMES, Labels
from talospatch.reach import Reach


def lockouts(generated: Generated, context: NodeContext, labels: Labels = FIELD_NAMES) -> list[str]:
    """One line per (guarded address, port) the patch would cut off, with the fix."""
    reach = Reach(generated.firewall, context)
    problems = []
    for address in generated.guard_addresses:
        for port, protocol in generated.lockout_ports:
            answer = reach.query(address, port, protocol)
            if answer.allowed:
                continue
            takes_admin = any(
                "admins" in r.entry.from_
                and r.document.protocol == protocol
                and any(port in p for p in r.document.ports)
                for r in generated.rules
            )
            admin = labels("admins")
            fix = f"add {admin} {address}" if takes_admin else f"no rule for this port takes {admin}"
            problems.append(f"lockout: {address} would lose {port}/{protocol} ({answer.reason}); {fix}")
    return problems
