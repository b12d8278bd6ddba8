"""Profile coverage: each port the role, CNI and add-on profiles named in ``LintOptions``
need that no rule allows (in block mode; accept mode allows them all)."""

from __future__ import annotations

from talospatch.checks.lint.findings import Collector
from talospatch.checks.lint.firewall import covered
from talospatch.generate.options import ALL_TUNNELS
from talospatch.generate.profiles import LoadedProfile, ProfileRule
from talospatch.talos.documents import L4, Firewall, PortRange


def _required(entry: ProfileRule) -> list[tuple[PortRange, L4]]:
    return [(p, proto) for proto in entry.protocol for p in entry.ports]


def check_profiles(fw: Firewall, out: Collector) -> None:
    """Each port the named profiles need that no rule allows."""
    opts = out.options
    if fw.default_action != "block":
        return
    for loaded in opts.profiles:
        plain = [e for e in loaded.profile.rules if e.tunnel is None]
        # Without a tunnel named, one of the overlays that open a port must be allowed ("native"
        # routing needs none, so it is taken only when named).
        carrying = [t for t in loaded.profile.tunnels if any(e.tunnel == t for e in loaded.profile.rules)]
        tunnels = [opts.tunnel] if opts.tunnel in loaded.profile.tunnels else carrying
        for entry in plain:
            _missing(fw, out, loaded, entry)
        if not tunnels:
            continue
        by_tunnel = {t: [e for e in loaded.profile.rules if e.tunnel == t] for t in tunnels}
        if len(tunnels) == 1 or opts.tunnel == ALL_TUNNELS:
            for entry in (e for t in tunnels for e in by_tunnel[t]):
                _missing(fw, out, loaded, entry)
            continue
        if any(
            all(covered(fw, proto, p) for e in entries for p, proto in _required(e)) for entries in by_tunnel.values()
        ):
            continue
        choices = " or ".join(
            f"{t} ({', '.join(f'{p.label}/{proto}' for e in by_tunnel[t] for p, proto in _required(e))})"
            for t in tunnels
        )
        out.add(
            "firewall",
            "missing-port",
            f"{loaded.name}: no rule allows its tunnel, {choices}",
            f"add the rule of your tunnel ({opts.labels('tunnel')} names it)",
        )


def _missing(fw: Firewall, out: Collector, loaded: LoadedProfile, entry: ProfileRule) -> None:
    lacking = [f"{p.label}/{proto}" for p, proto in _required(entry) if not covered(fw, proto, p)]
    if lacking:
        out.add(
            "firewall",
            "missing-port",
            f"{loaded.name}: {entry.name} ({entry.service}) needs {', '.join(lacking)} and no rule allows it",
            f"add a rule from {', '.join(entry.from_)}: {entry.why}",
        )
