"""One role's gen request from a cluster spec: its own settings, else the top-level ones that apply.

What a setting means per role is decided in ``talospatch.generate.roles``; here the spec's
settings become its input: the top level as the cluster's options, ``roles.<role>`` as the
role's own, paths relative to the spec, ``extraRules`` as an inline add-on, and labels that
name each option by the spec key that set it (``roles.worker.addons`` or ``addons``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from talospatch.generate.options import GenOptions, Labels
from talospatch.generate.profiles import Catalog, LoadedProfile, Profile
from talospatch.generate.roles import role_options
from talospatch.spec.model import EXTRA_RULES, KEYS, SETTINGS, Settings

if TYPE_CHECKING:
    from talospatch.spec.load import LoadedSpec

# The settings that are gen options (``extraRules`` becomes an add-on instead).
_OPTIONS = tuple(name for name in SETTINGS if name != "extra_rules")


@dataclass(frozen=True)
class RoleRequest:
    """One role's gen request, with how to name its options and the profiles it may use."""

    role: str
    options: GenOptions
    labels: Labels
    catalog: Catalog
    # ``pruneFrom`` as the spec spells it (relative to the spec), for the patch's comments.
    prune_from: str | None = None


def _paths(loaded: LoadedSpec, values: dict[str, Any]) -> dict[str, Any]:
    if values.get("prune_from") is not None:
        values["prune_from"] = loaded.relative(values["prune_from"])
    return values


def cluster_options(loaded: LoadedSpec) -> GenOptions:
    """The spec's top-level settings as gen's options for the whole cluster (no role)."""
    spec = loaded.spec
    values = {name: getattr(spec, name) for name in _OPTIONS if getattr(spec, name) is not None}
    if spec.profiles_dir is not None:
        values["profiles_dir"] = loaded.relative(spec.profiles_dir)
    return GenOptions(**_paths(loaded, values), talos_version=spec.talos_version, dns_over_tls=bool(spec.dns_over_tls))


def role_request(loaded: LoadedSpec, role: str) -> RoleRequest:
    """The role's GenOptions: its own settings, else the top-level ones that apply to it."""
    settings = (loaded.spec.roles or {}).get(role) or Settings()
    names = {name: f"roles.{role}.{KEYS[name]}" for name in SETTINGS if getattr(settings, name) is not None}
    labels = Labels({**KEYS, **names})
    own = _paths(loaded, {name: getattr(settings, name) for name in _OPTIONS if name in names})
    catalog = loaded.catalog
    extra = settings.extra_rules if settings.extra_rules is not None else loaded.spec.extra_rules
    if extra:
        catalog = catalog.with_profile(
            LoadedProfile(
                EXTRA_RULES,
                f"{loaded.path}: {names.get('extra_rules', 'extraRules')}",
                Profile(kind="addon", description=f"extra rules of {loaded.path}", rules=extra),
            )
        )
    options = role_options(
        role,
        cluster_options(loaded),
        catalog,
        own=own,
        labels=labels,
        extra_addons=(EXTRA_RULES,) if extra else (),
    )
    prune = settings.prune_from if settings.prune_from is not None else loaded.spec.prune_from
    return RoleRequest(role, options, labels, catalog, prune)
