"""``build``: a cluster spec -> one patch per role in its output folder, and the drift check.

``build_spec`` runs gen's pipeline (``talospatch.workflows.patch.make_patch``) once per role of a spec,
each over the file it replaces (so removed rules keep a ``$patch: delete`` document, see
``talospatch.generate.removal``). Nothing is written here: ``write_build`` writes a spec's files
(all of them or none: staged beside their targets, then renamed into place) and ``check_build`` compares them with
what is on disk: missing, stale or extra files, a traffic summary and a unified diff per file.

A spec's ``exports`` (other firewalls' files, ``talospatch.export.fromspec``) are built the
same way, each into its own folder, where any file the export does not produce is extra.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import os
from dataclasses import dataclass, field
from pathlib import Path

from talospatch import output
from talospatch.checks.diff import traffic_diff
from talospatch.errors import BadInput
from talospatch.export.fromspec import SpecExport, spec_exports
from talospatch.generate.removal import Previous, parse_previous
from talospatch.nft.compile import NodeContext
from talospatch.spec.load import LoadedSpec, load_spec
from talospatch.spec.nodes import node_requests, node_warnings, nodes_folder, own_patches
from talospatch.spec.roles import RoleRequest
from talospatch.talhelper import readable, talconfig_path
from talospatch.talos.addresses import parse_network
from talospatch.talos.documents import Firewall, apply_patches
from talospatch.workflows.patch import Patch, make_patch
from talospatch.yamlio import load_all


@dataclass(frozen=True)
class RoleFile:
    """One role's patch: where it goes, the new text and what the file holds now."""

    role: str
    path: Path
    patch: Patch
    old: str | None  # None: the file does not exist
    node: str | None = None  # a node's own patch (out/nodes/NAME.yaml), of role ``role``

    @property
    def text(self) -> str:
        return self.patch.text

    @property
    def fresh(self) -> bool:
        return self.old == self.text


@dataclass(frozen=True)
class ExportFile:
    """One file of an export: where it goes, the new text and what the file holds now."""

    path: Path
    text: str
    old: str | None  # None: the file does not exist

    @property
    def fresh(self) -> bool:
        return self.old == self.text


@dataclass(frozen=True)
class ExportBuild:
    """One entry of the spec's ``exports``: its folder, files, and the files there it does not produce."""

    index: int  # in the spec's exports
    target: str
    folder: Path
    files: list[ExportFile]
    extra: list[Path]

    @property
    def key(self) -> str:
        return f"exports[{self.index}]"


@dataclass(frozen=True)
class SpecBuild:
    spec: LoadedSpec
    files: list[RoleFile]
    extra: list[Path]  # .yaml files in the output folder that no role produces
    warnings: list[str] = field(default_factory=list)
    lockouts: list[str] = field(default_factory=list)
    exports: list[ExportBuild] = field(default_factory=list)
    node_extra: list[Path] = field(default_factory=list)  # .yaml files in out/nodes/ that no node produces
    # Where each patch's node context came from (``pruneFrom``'s config, or a key over it), for stderr.
    notes: list[str] = field(default_factory=list)


NOTHING = Previous("", 0, {}, {})  # the previous file of a file not built yet


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):  # not built yet (a missing folder is made on write)
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"{path}: cannot read: {exc}") from None


def build_spec(path: str) -> SpecBuild:
    """Every role's patch of the spec at ``path``; errors name the spec (and role)."""
    spec = load_spec(path)
    folder = spec.output_dir
    if folder.exists() and not folder.is_dir():
        raise BadInput(f"{spec.at(('output',))}: {folder} is not a folder")
    command = f"talospatch build {Path(path).name}"
    files: list[RoleFile] = []
    warnings: list[str] = []
    lockouts: list[str] = []
    for role in spec.roles:
        try:
            role_file = _patch_file(spec, folder / f"{role}.yaml", spec.request(role), command, role)
        except BadInput as exc:
            raise BadInput(f"{path}: role {role}: {exc}") from None
        files.append(role_file)
    role_files = {f.role: f for f in files}
    try:
        requests = node_requests(spec)
    except BadInput as exc:
        raise BadInput(f"{path}: {exc}") from None
    for item in own_patches(requests):
        name = item.node.name
        try:
            target = nodes_folder(spec) / f"{name}.yaml"
            node_file = _patch_file(spec, target, item.request, command, item.node.role, name)
        except BadInput as exc:
            raise BadInput(f"{path}: node {name}: {exc}") from None
        files.append(node_file)
    notes: list[str] = []
    for built_file in files:
        what = f"role {built_file.role}" if built_file.node is None else f"node {built_file.node}"
        # A node's patch repeats its role's warnings and notes: each is said once, for the role.
        role_patch = role_files[built_file.role].patch
        patch = built_file.patch
        said = {*role_patch.generated.warnings, *role_patch.warnings} if built_file.node is not None else set()
        warnings += [f"{path}: {what}: {m}" for m in (*patch.generated.warnings, *patch.warnings) if m not in said]
        noted = set(role_patch.notes) if built_file.node is not None else set()
        notes += [f"{path}: {what}: {n}" for n in patch.notes if n not in noted]
        lockouts += [f"{path}: {what}: {problem}" for problem in built_file.patch.lockouts]
    warnings += node_warnings(spec, requests)
    produced = {f.path for f in files}
    extra = sorted(p for p in folder.glob("*.yaml") if p not in produced) if folder.is_dir() else []
    node_folder = nodes_folder(spec)
    node_extra = sorted(p for p in node_folder.glob("*.yaml") if p not in produced) if node_folder.is_dir() else []
    seen = {f"{f.role}: {message}" for f in role_files.values() for message in f.patch.generated.warnings}
    exports: list[ExportBuild] = []
    for rendered in spec_exports(spec):
        built = _export_build(spec, rendered)
        exports.append(built)
        warnings += [
            f"{path}: {built.key} ({built.target}): {message}"
            for message in rendered.export.warnings
            if message not in seen
        ]
    return SpecBuild(spec, files, extra, warnings, lockouts, exports, node_extra, notes)


def _patch_file(
    spec: LoadedSpec, target: Path, request: RoleRequest, command: str, role: str, node: str | None = None
) -> RoleFile:
    """One patch of the spec over the file it replaces, so removed rules keep their delete documents."""
    old = _read(target)
    # A file for talhelper is compared, and its tombstones kept, as talosctl reads it.
    previous = parse_previous(readable(old, str(target)), str(target)) if old is not None else NOTHING
    patch = make_patch(
        request.options,
        lambda opts: f"{command} (Talos {opts.talos_version})" + (f", node {node}" if node is not None else ""),
        labels=request.labels,
        catalog=request.catalog,
        previous=previous,
        keep_tombstones=spec.spec.keep_tombstones,
        prune_label=request.prune_from,
        tool=spec.tool,
        path=talconfig_path(os.path.relpath(target, spec.folder)),
    )
    return RoleFile(role, target, patch, old, node)


def _export_build(spec: LoadedSpec, rendered: SpecExport) -> ExportBuild:
    """An export's files beside what its folder holds now."""
    folder = rendered.folder
    if folder.exists() and not folder.is_dir():
        raise BadInput(f"{spec.at(('exports', rendered.index, 'output'))}: {folder} is not a folder")
    files = [ExportFile(folder / name, text, _read(folder / name)) for name, text in rendered.export.files.items()]
    produced = {f.path for f in files}
    extra = sorted(p for p in folder.rglob("*") if not p.is_dir() and p not in produced) if folder.is_dir() else []
    return ExportBuild(rendered.index, rendered.entry.target, folder, files, extra)


def write_build(result: SpecBuild) -> list[str]:
    """Write the spec's changed files (the folders are created); one line per file: what happened.

    All or nothing: every changed file is staged beside its target first, and renamed into
    place only when all are staged (``output.Staging``); a file that is already as built is
    not written at all.
    """
    if result.lockouts:
        raise BadInput("a spec with lockouts is not written")
    spec = result.spec
    # Messages name the spec key that gave a path; a key's line parses the spec again, so it
    # is looked up only for a message (``functools.partial``).
    patches_key = functools.partial(spec.at, ("output",))
    export_keys = {
        built.index: functools.partial(spec.at, ("exports", built.index, "output")) for built in result.exports
    }
    lines = []
    with output.Staging() as staging:
        staging.make_folder(str(spec.output_dir), patches_key)
        if any(f.node is not None for f in result.files):
            staging.make_folder(str(nodes_folder(spec)), patches_key)
        for built in result.exports:
            staging.make_folder(str(built.folder), export_keys[built.index])
        for role_file in result.files:
            if role_file.fresh:
                lines.append(f"{role_file.path}: unchanged")
                continue
            staging.add(str(role_file.path), role_file.text, patches_key)
            state = "written" if role_file.old is None else f"updated (generation {role_file.patch.generation})"
            lines.append(f"{role_file.path}: {state}")
        for built in result.exports:
            for export_file in built.files:
                if export_file.fresh:
                    lines.append(f"{export_file.path}: unchanged")
                    continue
                staging.make_folder(str(export_file.path.parent), export_keys[built.index])
                staging.add(str(export_file.path), export_file.text, export_keys[built.index])
                lines.append(f"{export_file.path}: {'written' if export_file.old is None else 'updated'}")
        staging.commit()
    return lines


@dataclass(frozen=True)
class CheckReport:
    problems: list[str]  # one line per missing, stale or extra file
    summary: list[str]  # traffic changes, per file
    diffs: list[str]  # unified diffs

    @property
    def fresh(self) -> bool:
        return not self.problems

    def text(self) -> str:
        parts = [*self.summary, *self.diffs]
        return "".join(line if line.endswith("\n") else f"{line}\n" for line in parts)


def node_extra_reason(result: SpecBuild) -> str:
    """Why a file in out/nodes/ is extra: the node is gone, or no node differs from its role now."""
    if any(f.node is not None for f in result.files):
        return f"no node of {result.spec.path} has that name"
    return f"no node of {result.spec.path} differs from its role, so each takes its role's patch"


def _firewall(text: str, where: str) -> Firewall:
    documents = load_all(readable(text, where), where)
    return apply_patches([(where, [d for d in documents if isinstance(d, dict)])])


def _context(spec: LoadedSpec, patch: Patch) -> NodeContext:
    """The node around the documents, for the traffic summary: the role's pod subnets, the spec's services."""
    context = NodeContext(pod_subnets=patch.generated.pod_subnets)
    services = spec.spec.service_subnets
    if services:
        nets = tuple(parse_network(s, "serviceSubnets", allow_address=False) for s in services)
        context = dataclasses.replace(context, service_subnets=nets)
    return context


def _file_diff(name: str, old: str | None, new: str) -> list[str]:
    """A unified diff of one output file, from what is on disk (or nothing) to what build writes."""
    return list(
        difflib.unified_diff(
            (old or "").splitlines(keepends=True),
            new.splitlines(keepends=True),
            fromfile=f"{name} (on disk)" if old is not None else "/dev/null",
            tofile=f"{name} (built)",
        )
    )


def check_build(result: SpecBuild) -> CheckReport:
    """Compare the spec's files with the disk; nothing is written."""
    problems: list[str] = []
    summary: list[str] = []
    diffs: list[str] = []
    for role_file in result.files:
        if role_file.fresh:
            continue
        name = str(role_file.path)
        new = role_file.patch.generated.firewall
        if role_file.old is None:
            problems.append(f"{name}: missing")
            summary.append(f"{name}: missing; it would hold {len(new.rules)} rules")
        else:
            problems.append(f"{name}: stale")
            context = _context(result.spec, role_file.patch)
            try:
                changes = [str(c) for c in traffic_diff(_firewall(role_file.old, name), new, context)]
            except BadInput as exc:
                changes = [f"(the file on disk does not read as a patch: {exc})"]
            summary.append(f"{name}: stale; traffic changes:" if changes else f"{name}: stale; no traffic change")
            summary += [f"  {line}" for line in changes]
        diffs += _file_diff(name, role_file.old, role_file.text)
    for path in result.extra:
        problems.append(f"{path}: extra: no role of {result.spec.path} produces it")
        summary.append(f"{path}: extra: no role of {result.spec.path} produces it; delete it or add the role")
    for path in result.node_extra:
        problems.append(f"{path}: extra: {node_extra_reason(result)}")
        summary.append(f"{path}: extra: {node_extra_reason(result)}; delete it")
    for built in result.exports:
        what = f"{built.key} ({built.target}) of {result.spec.path}"
        for export_file in built.files:
            if export_file.fresh:
                continue
            name = str(export_file.path)
            state = "missing" if export_file.old is None else "stale"
            problems.append(f"{name}: {state}")
            summary.append(f"{name}: {state}; {what} builds it")
            diffs += _file_diff(name, export_file.old, export_file.text)
        for path in built.extra:
            problems.append(f"{path}: extra: {what} does not produce it")
            summary.append(f"{path}: extra: {what} does not produce it; delete it (the folder is the export's own)")
    return CheckReport(problems, summary, diffs)
