"""The linter: firewall documents Talos would reject, and hazards Talos accepts silently.

``check_text`` reads one file (a patch, a whole machine config, or ``talosctl get
machineconfig -o yaml`` output), runs the registry's document checks on every firewall
document on its own (so one bad document does not hide the others), then looks at the
firewall the file configures: each rule on its own, then the whole set, then what the
profiles named in ``LintOptions`` require. The checks and their order are
``talospatch.checks.lint.registry``'s; this module reads and merges the files and runs them.
"""

from __future__ import annotations

import dataclasses

from talospatch.checks.lint.context import node_context
from talospatch.checks.lint.documents import dhcpv6_links, label, machine_type, mark_placeholders
from talospatch.checks.lint.findings import Collector, Finding, exit_code
from talospatch.checks.lint.firewall import NFT_RULE_BUDGET
from talospatch.checks.lint.options import LintOptions, lint_options
from talospatch.checks.lint.registry import DOCUMENT_CHECKS, FILE_CHECKS, FIREWALL_CHECKS, RULE_CHECKS
from talospatch.errors import BadInput
from talospatch.talos.context import ConfigContext, config_context, overridden
from talospatch.talos.documents import DEFAULT_ACTION_KIND, RULE_KIND, RuleConfig, apply_patches
from talospatch.talos.machineconfig import config_documents

__all__ = [
    "NFT_RULE_BUDGET",
    "Finding",
    "LintOptions",
    "check_each",
    "check_merged",
    "check_text",
    "exit_code",
    "lint_options",
]


def _read(text: str, path: str, options: LintOptions) -> Collector:
    """One file's documents, each checked on its own."""
    out = Collector(path, options)
    try:
        documents = config_documents(mark_placeholders(text), path)
    except BadInput as exc:
        out.add("file", "unreadable", str(exc).removeprefix(f"{path}: "), "fix the YAML", "error")
        return out
    try:
        out.config = config_context(documents, options.version)
    except BadInput as exc:
        out.add("config", "invalid", str(exc).removeprefix(f"{path}: "), "fix the value", "error")
        return out
    out.machine_type = machine_type(documents)
    out.dhcpv6 = tuple(dhcpv6_links(documents))
    kinds = (RULE_KIND, DEFAULT_ACTION_KIND)
    for where, data in documents:
        if data.get("kind") not in kinds:
            continue
        name = label(data, where)
        document = data
        for check in DOCUMENT_CHECKS:
            read = check.run(document, where, name, out)
            if read is None:
                break  # the document goes no further
            document = read
        else:
            out.documents.append(document)
    for file_check in FILE_CHECKS:
        file_check.run(out)
    return out


def _takes_part(rule: RuleConfig, out: Collector) -> bool:
    """The rule checks; whether the rule takes part in the firewall."""
    name = f"{RULE_KIND}/{rule.name}"
    for check in RULE_CHECKS:
        before = len(out.findings)
        check.run(rule, name, out)
        new = out.findings[before:]
        if new and (check.drops or any(f.severity == "error" for f in new)):
            return False
    return True


def _whole(files: list[Collector], path: str, options: LintOptions, notes: list[str] | None = None) -> list[Finding]:
    """The firewall the files configure, applied in order as talosctl applies patches; the
    flags' notes (a flag that wins over the config) go to ``notes``."""
    config, said = overridden(_merged_config(files), options.given, options.labels)
    if notes is not None:
        notes += [n for n in said if " wins over " in n]
    out = Collector(path, dataclasses.replace(options, context=node_context(options.context, config)), config=config)
    if any(f.severity == "error" for file in files for f in file.findings):
        return []
    placeholders = sum(file.placeholders for file in files)
    if placeholders:
        out.add(
            "firewall",
            "placeholder",
            f"{placeholders} document(s) hold placeholders, so the firewall as a whole is not checked",
            "substitute them and run check again",
        )
        return out.findings
    out.machine_type = next((file.machine_type for file in files if file.machine_type), None)
    out.dhcpv6 = tuple(where for file in files for where in file.dhcpv6)
    merged = apply_patches([(file.path, file.documents) for file in files], validate=False)
    kept = tuple(rule for rule in merged.rules if _takes_part(rule, out))
    if any(f.severity == "error" for f in out.findings):
        return out.findings
    firewall = dataclasses.replace(merged, rules=kept)
    if firewall.active:
        for check in FIREWALL_CHECKS:
            if firewall.has_default_doc or not check.needs_mode:
                check.run(firewall, out)
    return out.findings


def _merged_config(files: list[Collector]) -> ConfigContext:
    """What the files' configs say, a later file's value over an earlier one's."""
    merged: dict[str, object] = {}
    for file in files:
        merged.update({k: v for k, v in vars(file.config).items() if v is not None})
    return ConfigContext(**merged)  # type: ignore[arg-type]


def _reported(findings: list[Finding], options: LintOptions) -> list[Finding]:
    return [f for f in findings if f.code not in options.ignore]


def check_text(
    text: str, path: str, options: LintOptions | None = None, notes: list[str] | None = None
) -> list[Finding]:
    """Every finding for one file's text; ``path`` names it in the findings. ``notes``
    collects a line for each flag that wins over the file's config."""
    return check_each([(path, text)], options, notes)


def _rule_names(file: Collector) -> frozenset[str]:
    """The names of the rules a file's firewall holds (its deletions applied)."""
    merged = apply_patches([(file.path, file.documents)], validate=False)
    return frozenset(rule.name for rule in merged.rules)


def check_each(
    files: list[tuple[str, str]], options: LintOptions | None = None, notes: list[str] | None = None
) -> list[Finding]:
    """Files that are nodes of their own (``(path, text)``): each checked as ``check_text``
    does, with the rule names of the others that are no control plane beside it (the workers
    whose add-ons a converged control plane needs too)."""
    opts = LintOptions() if options is None else options
    read = [_read(text, path, opts) for path, text in files]
    workers = [
        (index, (file.path, _rule_names(file)))
        for index, file in enumerate(read)
        if not (file.config.control_plane and file.config.control_plane.value)
        and not any(f.severity == "error" for f in file.findings)
    ]
    findings: list[Finding] = []
    for index, file in enumerate(read):
        beside = tuple(names for other, names in workers if other != index)
        own = dataclasses.replace(opts, beside=beside)
        findings += file.findings + _whole([file], file.path, own, notes)
    return _reported(findings, opts)


def check_merged(
    files: list[tuple[str, str]], options: LintOptions | None = None, notes: list[str] | None = None
) -> list[Finding]:
    """Files that are patches of one node (``(path, text)`` in apply order): each document
    on its own, then the firewall they make together, named ``A + B + ...``."""
    opts = LintOptions() if options is None else options
    read = [_read(text, path, opts) for path, text in files]
    label = " + ".join(path for path, _ in files)
    return _reported([f for file in read for f in file.findings] + _whole(read, label, opts, notes), opts)
