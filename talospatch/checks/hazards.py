"""What would go wrong on a given Talos release, and how talospatch avoids it.

Pure functions for ``gen``, ``build`` and ``check`` to call (they print; nothing here does):

- ``avoid_range_end``: before v1.12.5 / v1.13.0 a set element ending at port 65535
  crash-loops the firewall controller with EINVAL and no rule is applied at all (#12890).
  A port range ending at 65535 (the built-in ``trust-nodes`` profile's ``1-65535``) is
  rewritten to end at 65534, which leaves only port 65535 closed; a single port 65535
  cannot be kept and is refused (``BadInput``).
- ``range_end_hazards``: every set in the compiled ruleset that still ends at port 65535 or
  at the last address (255.255.255.255, ``ffff:...``, e.g. ``0.0.0.0/0`` minus an except),
  for the caller to refuse; ``refuse_range_end`` does that.
- ``enobufs_hazard``: before v1.13.9 / v1.14.0 a ruleset above ``ENOBUFS_RULE_LIMIT`` nft rules
  can fail with ENOBUFS on every reconcile (#14001): a warning with the count.
- ``repeated_documents``: before v1.14.0 one patch file may not name a document twice.
- ``apply_version``: all of these at once, as a command runs them (``fit_generated`` for
  ``gen``'s ``Generated``, whose documents it rewrites in place of the firewall's).

``$patch: delete`` before v1.8 needs no check: ``versions.parse_talos_version`` refuses
every release older than v1.8.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from talospatch.errors import BadInput
from talospatch.generate.expand import Generated
from talospatch.nft.compile import NodeContext, Ruleset, compile_firewall
from talospatch.nft.sets import AddressSet
from talospatch.talos.documents import Firewall, PortRange, RuleConfig
from talospatch.talos.versions import TalosVersion, resolve

MAX_PORT = 65535
_RANGE_END_WHY = (
    "crash-loops the firewall controller with EINVAL, so no rule is applied (#12890, fixed in v1.12.5 / v1.13.0)"
)


@dataclass(frozen=True)
class Hazard:
    """One problem a release would have with this ruleset: a one-line ``message`` naming
    ``origin`` (``NetworkRuleConfig/<name>`` or a built-in rule) and the reason."""

    kind: str  # "range-end" | "enobufs" | "repeated-document"
    origin: str
    message: str


@dataclass(frozen=True)
class RangeEndFix:
    """``firewall`` with every port range ending at 65535 ending at 65534 instead, and one
    line per rewritten document (empty when nothing changed)."""

    firewall: Firewall
    changes: tuple[str, ...] = ()


def _labels(ports: Iterable[PortRange]) -> str:
    return ", ".join(p.label for p in ports)


def avoid_range_end(fw: Firewall, version: TalosVersion | str | None = None) -> RangeEndFix:
    """Rewrite port ranges ending at 65535 for a release that crash-loops on them.

    Unchanged from v1.12.5 / v1.13.0 on. ``BadInput`` for a single port 65535, which no
    rewrite can keep open.
    """
    release = resolve(version)
    if not release.range_end_crash:
        return RangeEndFix(fw)
    rules: list[RuleConfig] = []
    changes: list[str] = []
    for rule in fw.rules:
        if not any(p.hi == MAX_PORT for p in rule.ports):
            rules.append(rule)
            continue
        if any(p.lo == MAX_PORT for p in rule.ports):
            raise BadInput(
                f"{rule.doc_id}: port {MAX_PORT} cannot be opened on Talos {release.display}: a set ending at "
                f"port {MAX_PORT} {_RANGE_END_WHY}; drop the port or target v1.12.5 or newer"
            )
        ports = tuple(PortRange(p.lo, min(p.hi, MAX_PORT - 1)) for p in rule.ports)
        selector = dataclasses.replace(rule.portSelector, ports=ports)
        rules.append(dataclasses.replace(rule, portSelector=selector))
        changes.append(
            f"{rule.doc_id}: ports {_labels(rule.ports)} emitted as {_labels(ports)}: on Talos {release.display} a "
            f"set ending at port {MAX_PORT} {_RANGE_END_WHY}; port {MAX_PORT} stays closed"
        )
    return RangeEndFix(Firewall(fw.default_action, tuple(rules), fw.has_default_doc), tuple(changes))


def _last_address(aset: AddressSet) -> str | None:
    """The set's last element when it ends at the family's last address, else ``None``."""
    if not aset.ranges:
        return None
    bits = 32 if aset.family == "ipv4" else 128
    if aset.ranges[-1][1] != (1 << bits) - 1:
        return None
    return aset.elements()[-1]


def range_end_hazards(ruleset: Ruleset) -> list[Hazard]:
    """Sets of the compiled ruleset that end at port 65535 or at the last address, when the
    ruleset's release crash-loops on them (none from v1.12.5 / v1.13.0 on)."""
    release = ruleset.version
    if not release.range_end_crash:
        return []
    found: list[Hazard] = []
    seen: set[tuple[str, str]] = set()
    for chain in ruleset.chains:
        for rule in chain.rules:
            what: list[str] = []
            if any(p.hi == MAX_PORT for p in rule.dports):
                what.append(f"ports {_labels(rule.dports)}")
            for key, aset in (("source", rule.saddr), ("destination", rule.daddr)):
                last = None if aset is None else _last_address(aset)
                if last is not None:
                    what.append(f"{key} addresses ending with {last}")
            for item in what:
                if (rule.origin, item) in seen:
                    continue
                seen.add((rule.origin, item))
                found.append(
                    Hazard(
                        "range-end",
                        rule.origin,
                        f"{rule.origin}: {item}: on Talos {release.display} a set ending at the last port or "
                        f"address {_RANGE_END_WHY}",
                    )
                )
    return found


def refuse_range_end(ruleset: Ruleset) -> None:
    """``BadInput`` with the first range-end hazard (the node would apply no rule at all)."""
    hazards = range_end_hazards(ruleset)
    if hazards:
        more = f" (and {len(hazards) - 1} more)" if len(hazards) > 1 else ""
        raise BadInput(f"{hazards[0].message}{more}; narrow the subnets/excepts or target v1.12.5 / v1.13.0 or newer")


def rule_count(ruleset: Ruleset) -> int:
    """The nft rules Talos sends in its one netlink batch: every chain's rules."""
    return sum(len(chain.rules) for chain in ruleset.chains)


def enobufs_hazard(ruleset: Ruleset) -> Hazard | None:
    """A warning when the ruleset has more nft rules than a release before v1.13.9 / v1.14.0
    can flush without ENOBUFS (#14001); ``None`` otherwise."""
    release = ruleset.version
    limit = release.enobufs_rule_limit
    count = rule_count(ruleset)
    if limit is None or count <= limit:
        return None
    return Hazard(
        "enobufs",
        "ruleset",
        f"the ruleset has {count} nft rules: Talos {release.display} can fail with ENOBUFS above {limit} "
        "(#14001, fixed in v1.13.9 / v1.14.0): the kernel keeps the rules but the controller retries forever and "
        "counters reset; merge documents with the same protocol and sources into one (several ports each)",
    )


def consolidation_groups(fw: Firewall) -> list[tuple[str, ...]]:
    """Names of documents that could be one (same protocol, same ingress), two or more per
    group, in document order: what to merge to shrink the ruleset."""
    groups: dict[tuple[Any, ...], list[str]] = {}
    for rule in fw.rules:
        key = (rule.portSelector.protocol, rule.ingress)
        groups.setdefault(key, []).append(rule.name)
    return [tuple(names) for names in groups.values() if len(names) > 1]


def repeated_documents(
    documents: Iterable[Mapping[str, Any]], version: TalosVersion | str | None = None
) -> list[Hazard]:
    """Documents named twice in one patch file, which Talos before v1.14.0 rejects
    (``duplicate document ... is not allowed``); none from v1.14.0 on."""
    release = resolve(version)
    if release.duplicate_documents_in_patch:
        return []
    seen: set[str] = set()
    found: list[Hazard] = []
    for doc in documents:
        kind, name = doc.get("kind"), doc.get("name")
        if kind not in ("NetworkRuleConfig", "NetworkDefaultActionConfig"):
            continue
        doc_id = f"{kind}/{name or ''}"
        if doc_id in seen:
            found.append(
                Hazard(
                    "repeated-document",
                    doc_id,
                    f"{doc_id} appears twice in one patch: Talos {release.display} rejects it (allowed from v1.14.0); "
                    "merge the two or split them into separate patch files",
                )
            )
        seen.add(doc_id)
    return found


@dataclass(frozen=True)
class VersionFit:
    """``apply_version``'s result: the firewall to emit for the release, the ruleset it
    compiles to, the rewrites made (``changes``) and the warnings to print."""

    firewall: Firewall
    ruleset: Ruleset
    changes: tuple[str, ...]
    warnings: tuple[str, ...]


def apply_version(
    fw: Firewall, ctx: NodeContext | None = None, version: TalosVersion | str | None = None
) -> VersionFit:
    """Fit ``fw`` to a release: rewrite port ranges ending at 65535, refuse what cannot be
    fixed (``BadInput``), and warn about the ENOBUFS rule count."""
    release = resolve(version)
    fix = avoid_range_end(fw, release)
    ruleset = compile_firewall(fix.firewall, ctx, release)
    refuse_range_end(ruleset)
    warnings: list[str] = []
    enobufs = enobufs_hazard(ruleset)
    if enobufs is not None:
        groups = consolidation_groups(fix.firewall)
        hint = "; could merge: " + "; ".join(" + ".join(g) for g in groups) if groups else ""
        warnings.append(enobufs.message + hint)
    return VersionFit(fix.firewall, ruleset, fix.changes, tuple(warnings))


@dataclass(frozen=True)
class GeneratedFit:
    """``fit_generated``'s result: ``generated`` with its documents fitted to the release
    (warnings appended to ``generated.warnings``), the rewrites made, and the ruleset the
    fitted documents compile to on the node (for the lockout guard, which queries it)."""

    generated: Generated
    changes: tuple[str, ...]
    ruleset: Ruleset


def fit_generated(
    generated: Generated, ctx: NodeContext | None = None, version: TalosVersion | str | None = None
) -> GeneratedFit:
    """``apply_version`` for ``gen``: rewrite the generated documents (e.g. ``trust-nodes``'s
    ``1-65535`` to ``1-65534`` before v1.12.5), refuse what cannot be fixed (``BadInput``),
    and add the rewrites and the ENOBUFS warning to ``warnings``."""
    context = NodeContext(pod_subnets=generated.pod_subnets) if ctx is None else ctx
    fit = apply_version(generated.firewall, context, version)
    fitted = {rule.name: rule for rule in fit.firewall.rules}
    documents = [dataclasses.replace(d, document=fitted[d.document.name]) for d in generated.documents]
    warnings = [*generated.warnings, *fit.changes, *fit.warnings]
    fitted_generated = dataclasses.replace(generated, documents=documents, warnings=warnings)
    return GeneratedFit(fitted_generated, fit.changes, fit.ruleset)
