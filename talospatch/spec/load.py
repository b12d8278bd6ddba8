"""Reading a cluster spec: the file, its checks beyond the schema, and the loaded result.

``load_spec`` reads and validates a spec (``talospatch.spec.model``); errors name the file,
line and key (``talospatch.spec.errors``). Role, CNI and add-on names are checked against
the profiles, and each export against its target and the other outputs' folders.
``LoadedSpec.request`` gives a role's gen request (``talospatch.spec.roles``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from talospatch import registry
from talospatch.errors import BadInput
from talospatch.generate.profiles import Catalog, LoadedProfile
from talospatch.generate.roles import addon_applies
from talospatch.spec.errors import error_line, key_path
from talospatch.spec.model import DEFAULT_ROLES, EXPORT_OPTIONS, EXTRA_RULES, ClusterSpec, ExportSpec, Settings
from talospatch.spec.roles import RoleRequest, role_request
from talospatch.talhelper import TALOSCTL
from talospatch.yamlio import Marked, load_marked


@dataclass(frozen=True)
class LoadedSpec:
    path: str  # as the user gave it, for messages
    spec: ClusterSpec
    marked: Marked
    catalog: Catalog

    @property
    def folder(self) -> Path:
        return Path(self.path).parent

    @property
    def output_dir(self) -> Path:
        return self.folder / self.spec.output

    @property
    def tool(self) -> str:
        return self.spec.tool or TALOSCTL

    @property
    def roles(self) -> list[str]:
        return list(self.spec.roles) if self.spec.roles is not None else list(DEFAULT_ROLES)

    def at(self, loc: tuple[str | int, ...]) -> str:
        """``file:line: key`` of a place in the spec, for messages."""
        return f"{self.path}:{self.marked.line(loc)}: {key_path(loc)}"

    def relative(self, path: str) -> str:
        return str(self.folder / path)

    def request(self, role: str) -> RoleRequest:
        """The role's GenOptions: its own settings, else the top-level ones that apply to it."""
        return role_request(self, role)


def parse_spec(text: str, path: str) -> LoadedSpec:
    """Check a spec's text; ``path`` locates its relative paths and names it in messages."""
    marked = load_marked(text, path)
    if not isinstance(marked.data, dict):
        raise BadInput(f"{path}:1: a cluster spec is a mapping of settings (subnets, controlplane, admins, ...)")
    try:
        spec = ClusterSpec.model_validate(marked.data)
    except ValidationError as exc:
        raise BadInput(error_line(exc, path, marked)) from None
    folder = Path(path).parent
    profiles_dir = str(folder / spec.profiles_dir) if spec.profiles_dir is not None else None
    # The line is looked up only when there is a folder to name (it parses the spec again).
    label = f"{path}:{marked.line(('profilesDir',))}: profilesDir" if profiles_dir is not None else "profilesDir"
    catalog = Catalog.load(profiles_dir, label)
    loaded = LoadedSpec(path, spec, marked, catalog)
    _check_names(loaded)
    _check_exports(loaded)
    from talospatch.spec.nodes import check_nodes

    check_nodes(loaded)
    return loaded


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _check_exports(loaded: LoadedSpec) -> None:
    """Export targets, their options only where they apply, and one folder of its own per export."""
    patches = loaded.output_dir.resolve()
    folders: list[tuple[str, Path]] = [("output", patches)]
    for index, entry in enumerate(loaded.spec.exports or ()):
        try:
            registry.target(entry.target)
        except BadInput as exc:
            raise BadInput(f"{loaded.at(('exports', index, 'target'))}: {exc}") from None
        for name in EXPORT_OPTIONS:
            if getattr(entry, name) is not None and not registry.takes(entry.target, name):
                key = ExportSpec.model_fields[name].alias or name
                raise BadInput(f"{loaded.at(('exports', index, key))}: applies to {registry.only(name)}")
        here = (loaded.folder / entry.output).resolve()
        where = loaded.at(("exports", index, "output"))
        if _inside(Path(loaded.path).resolve(), here):
            raise BadInput(f"{where}: {entry.output} holds the spec itself; give the export a folder of its own")
        for key, folder in folders:
            if here == folder or _inside(folder, here):
                raise BadInput(
                    f"{where}: {entry.output} holds the files of {key}; give each export a folder of its own"
                )
            if key != "output" and _inside(here, folder):
                raise BadInput(f"{where}: {entry.output} is inside the folder of {key}")
        folders.append((f"exports[{index}].output", here))


def _check_names(loaded: LoadedSpec) -> None:
    """Role, CNI and add-on names against the profiles, each error at its line."""
    spec = loaded.spec
    catalog = loaded.catalog

    def check(loc: tuple[str | int, ...], name: str, kind: Any) -> LoadedProfile:
        try:
            return catalog.get(name, kind)
        except BadInput as exc:
            raise BadInput(f"{loaded.at(loc)}: {exc}") from None

    levels: list[tuple[tuple[str, ...], Settings]] = [((), spec)]
    for role, settings in (spec.roles or {}).items():
        check(("roles", role), role, "role")
        levels.append((("roles", role), settings or Settings()))
    if spec.nodeport_from and not (spec.nodeport or spec.converged):
        raise BadInput(f"{loaded.at(('nodeportFrom',))}: needs nodeport: true (or converged: true)")
    if spec.roles == {}:
        raise BadInput(f"{loaded.at(('roles',))}: names no role; leave it out to build controlplane and worker")
    for prefix, settings in levels:
        if settings.cni is not None:
            check((*prefix, "cni"), settings.cni, "cni")
        converged = settings.converged if settings.converged is not None else bool(spec.converged)
        for index, name in enumerate(settings.addons or ()):
            addon = check((*prefix, "addons", index), name, "addon")
            if prefix and not addon_applies(addon, prefix[1], converged):
                raise BadInput(
                    f"{loaded.at((*prefix, 'addons', index))}: add-on {name} applies to role "
                    f"{', '.join(addon.profile.roles)} only, not {prefix[1]}"
                )
        if settings.extra_rules and EXTRA_RULES in catalog.names("addon"):
            raise BadInput(f"{loaded.at((*prefix, 'extraRules'))}: a profile named {EXTRA_RULES} exists already")


def load_spec(path: str) -> LoadedSpec:
    """Read and check a spec file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BadInput(f"{path}: no such file (a cluster spec; talospatch init writes one)") from None
    except IsADirectoryError:
        raise BadInput(f"{path}: is a directory, not a cluster spec") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"{path}: cannot read: {exc}") from None
    return parse_spec(text, path)
